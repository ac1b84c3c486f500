"""The pure rules: ids, the canonical message, proto → the REST model, the dedupe call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.cases import CHANNELS
from socialcare.core.events import derived_id
from socialcare.ingestion.domain import (
    Outcome,
    build_message,
    decide,
    message_id_for,
    payload_from_proto,
    validate_proto,
)
from socialcare.ingestion.models import (
    ACCEPTED_CHANNELS,
    MessageCreate,
    describe,
    field_errors,
    field_path,
)
from socialcare.v1 import message_pb2

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
    [problem] = field_errors(caught.value.errors())
    assert problem.field == field


def test_proto_without_author_id_or_created_at_names_both() -> None:
    message = whatsapp_message()
    message.author.id = ""
    message.ClearField("created_at")
    with pytest.raises(ValidationError) as caught:
        validate_proto(message)
    assert describe(field_errors(caught.value.errors())) == (
        "author.id: Field required; created_at: Field required"
    )


def test_unknown_channel_number_lists_the_allowed_channels() -> None:
    message = whatsapp_message()
    message.channel = 42  # type: ignore[assignment]
    assert payload_from_proto(message)["channel"] == 42
    with pytest.raises(ValidationError) as caught:
        validate_proto(message)
    assert "'whatsapp'" in describe(field_errors(caught.value.errors()))


def test_field_path_drops_the_body_prefix() -> None:
    assert field_path(("body", "author", "id")) == "author.id"
    assert field_path(("body",)) == "body"
    assert field_path(("tags", 0)) == "tags.0"
