"""The pure rules: ids, the canonical message, proto → the REST model, the dedupe call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.cases import CHANNELS
from socialcare.core.errors import FieldProblem, describe, field_path, field_problems
from socialcare.core.events import derived_id
from socialcare.ingestion.domain import (
    Outcome,
    build_message,
    decide,
    message_id_for,
    payload_from_proto,
    validate_proto,
)
from socialcare.ingestion.models import ACCEPTED_CHANNELS, MessageCreate
from socialcare.v1 import message_pb2
from tests.unit.ingestion.ingestion_helpers import message_body

CET = timezone(timedelta(hours=1))
RECEIVED = datetime(2024, 11, 5, 8, 14, 5, tzinfo=UTC)


def whatsapp_message(**overrides: object) -> message_pb2.SocialMessage:
    """Scenario 4: a birth mentioned to the energy supplier on WhatsApp."""
    message = message_pb2.SocialMessage(
        channel=message_pb2.CHANNEL_WHATSAPP,
        external_id="wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzQUVCNTM",
        author=message_pb2.Author(id="31612345678", name="Fatima el Amrani"),
        text="Onze dochter is vorige week geboren! Moet ik ons voorschot aanpassen?",
        created_at=to_timestamp(datetime(2024, 11, 5, 9, 14, 3, tzinfo=CET)),
        thread_id="31612345678",
        brand="stroomwijs",
    )
    for name, value in overrides.items():
        setattr(message, name, value)
    return message


def test_accepted_channels_are_the_platforms_channels() -> None:
    assert set(ACCEPTED_CHANNELS) == set(CHANNELS)


def test_message_id_is_derived_from_channel_and_external_id() -> None:
    assert message_id_for("x", "123") == derived_id("x", "123")
    assert message_id_for("x", "123") != message_id_for("facebook", "123")


def test_decide_publishes_only_unseen_ids() -> None:
    assert decide("a", set()) is Outcome.ACCEPTED
    assert decide("a", {"a"}) is Outcome.DUPLICATE


def test_build_message_fills_every_field() -> None:
    payload = MessageCreate.model_validate(
        {
            "channel": "forum",
            "external_id": "post-991",
            "author": {"id": "u7", "handle": "kees_k"},
            "text": "  Voorschot ineens verdubbeld na de nieuwe app.  ",
            "created_at": "2024-11-05T09:14:03+01:00",
            "thread_id": "topic-12",
        }
    )
    message = build_message(payload, message_id="m1", received_at=RECEIVED)
    assert message.message_id == "m1"
    assert message.channel == message_pb2.CHANNEL_FORUM
    assert message.text == "Voorschot ineens verdubbeld na de nieuwe app."
    assert message.author == message_pb2.Author(id="u7", handle="kees_k", followers=0)
    assert from_timestamp(message.created_at) == datetime(2024, 11, 5, 8, 14, 3, tzinfo=UTC)
    assert from_timestamp(message.received_at) == RECEIVED
    assert (message.thread_id, message.in_reply_to, message.brand) == ("topic-12", "", "")


def test_a_valid_proto_validates_to_the_same_model_as_json() -> None:
    payload = validate_proto(whatsapp_message(message_id="ignored"))
    assert payload.channel == "whatsapp"
    assert payload.author.id == "31612345678"
    assert payload.author.handle is None
    assert payload.created_at == datetime(2024, 11, 5, 8, 14, 3, tzinfo=UTC)
    assert payload.in_reply_to is None
    rebuilt = build_message(payload, message_id="m", received_at=RECEIVED)
    assert rebuilt.text == whatsapp_message().text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": message_pb2.CHANNEL_UNSPECIFIED}, "channel"),
        ({"external_id": ""}, "external_id"),
        ({"text": "  "}, "text"),
    ],
)
def test_empty_proto_fields_are_reported_like_missing_json_keys(
    change: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_proto(whatsapp_message(**change))
    [problem] = field_problems(caught.value.errors())
    assert problem.field == field


def test_proto_without_author_id_or_created_at_names_both() -> None:
    message = whatsapp_message()
    message.author.id = ""
    message.ClearField("created_at")
    with pytest.raises(ValidationError) as caught:
        validate_proto(message)
    assert describe(field_problems(caught.value.errors())) == (
        "author.id: Field required; created_at: Field required"
    )


def test_unknown_channel_number_lists_the_allowed_channels() -> None:
    message = whatsapp_message()
    message.channel = 42  # type: ignore[assignment]
    assert payload_from_proto(message)["channel"] == 42
    with pytest.raises(ValidationError) as caught:
        validate_proto(message)
    assert "'whatsapp'" in describe(field_problems(caught.value.errors()))


def test_field_path_drops_the_request_part() -> None:
    assert field_path(("body", "author", "id")) == "author.id"
    assert field_path(("body",)) == "body"
    assert field_path(("tags", 0)) == "tags.0"
    assert field_path(("query", "offset")) == "offset"


# --- values that validate must also encode (found by fuzzing: each was a 500) -------------


def problems_of(body: dict[str, object]) -> list[FieldProblem]:
    with pytest.raises(ValidationError) as caught:
        MessageCreate.model_validate(body)
    return field_problems(caught.value.errors())


@pytest.mark.parametrize("created_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_created_at_outside_the_calendar_in_utc_is_refused_naming_it(created_at: str) -> None:
    [problem] = problems_of(message_body(created_at=created_at))
    assert problem.field == "created_at"
    assert "0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z" in problem.message


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("0001-01-01T00:59:00+00:59", datetime(1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_created_at_at_the_calendar_edges_is_accepted(created_at: str, expected: datetime) -> None:
    payload = MessageCreate.model_validate(message_body(created_at=created_at))
    message = build_message(payload, message_id="m", received_at=RECEIVED)
    assert from_timestamp(message.created_at) == expected


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(-62_135_596_801, 0), (253_402_300_800, 0), (0, -1), (0, 10**9)]
)
def test_proto_created_at_outside_the_timestamp_range_names_created_at(
    seconds: int, nanos: int
) -> None:
    message = whatsapp_message()
    message.created_at.seconds = seconds
    message.created_at.nanos = nanos
    with pytest.raises(ValidationError) as caught:
        validate_proto(message)
    [problem] = field_problems(caught.value.errors())
    assert problem.field == "created_at"


def test_followers_beyond_int64_are_refused_naming_author_followers() -> None:
    body = message_body()
    body["author"] = {"id": "1", "followers": 2**63}
    [problem] = problems_of(body)
    assert (problem.field, problem.code) == ("author.followers", "less_than_equal")
    body["author"] = {"id": "1", "followers": 2**63 - 1}
    payload = MessageCreate.model_validate(body)
    message = build_message(payload, message_id="m", received_at=RECEIVED)
    assert message.author.followers == 2**63 - 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text": "hallo \ud800"}, "text"),
        ({"external_id": "\udfff"}, "external_id"),
        ({"brand": "x\ud83d"}, "brand"),
        ({"author": {"id": "1", "name": "Kim \udc00"}}, "author.name"),
    ],
)
def test_a_lone_surrogate_in_any_string_is_refused_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    problems = problems_of(message_body(**change))
    assert [problem.field for problem in problems] == [field]
    assert all("\ud800" not in p.message and "\udc00" not in p.message for p in problems)


def test_a_complaint_form_states_how_to_reach_the_customer() -> None:
    """Scenario 6: the complaint form gives an e-mail address, a phone number and the CRM's
    customer id; routing links the customer's contacts across channels through them."""
    payload = MessageCreate.model_validate(
        {
            "channel": "generic",
            "external_id": "form-20261123-0042",
            "author": {
                "id": "form:jan@example.nl",
                "name": "Jan van den Berg",
                "email": "Jan@Example.nl",
                "phone": "+31 6 1234 5678",
                "crm_id": "CUST-88123",
                "tier": "gold",
                "customer_value": 1840.5,
            },
            "text": "Al acht dagen geen antwoord op mijn klacht over de storing.",
            "created_at": "2026-11-23T09:14:03+01:00",
        }
    )
    author = build_message(payload, message_id="m", received_at=RECEIVED).author
    assert (author.email, author.phone, author.crm_id) == (
        "Jan@Example.nl",
        "+31 6 1234 5678",
        "CUST-88123",
    )
    assert (author.tier, author.customer_value) == ("gold", 1840.5)
    rebuilt = validate_proto(build_message(payload, message_id="m", received_at=RECEIVED)).author
    assert rebuilt.email == "Jan@Example.nl" and rebuilt.customer_value == 1840.5


@pytest.mark.parametrize(
    ("author", "field"),
    [
        ({"email": "not an address"}, "author.email"),
        ({"phone": "call me maybe"}, "author.phone"),
        ({"customer_value": -5}, "author.customer_value"),
    ],
)
def test_contact_details_that_are_not_contact_details_are_named(
    author: dict[str, object], field: str
) -> None:
    body = {
        "channel": "generic",
        "external_id": "form-1",
        "author": {"id": "form-1", **author},
        "text": "Klacht",
        "created_at": "2026-11-23T09:14:03+01:00",
    }
    with pytest.raises(ValidationError) as raised:
        MessageCreate.model_validate(body)
    assert [field_path(e["loc"]) for e in raised.value.errors()] == [field]
