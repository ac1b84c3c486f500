"""Our generic webhook format: one message or `{"messages": [...]}`, each what
`POST /v1/messages` takes minus `channel`; one invalid message refuses the whole body."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from socialcare.channels.generic import parse_generic
from socialcare.channels.parsed import PayloadError
from socialcare.ingestion.models import MAX_BATCH

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "channels"
BRAND = "energieloket"


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return body


def test_one_message_is_filed_under_the_sources_channel_and_brand() -> None:
    parsed = parse_generic(
        fixture("generic_single.json"), brand=BRAND, source="warmtepomp-forum", channel="forum"
    )

    (message,) = parsed.messages
    assert message.channel == "forum"  # not the "x" the sender put in its body
    assert message.brand == BRAND
    assert message.account_id == "warmtepomp-forum"  # replies go back through the source
    assert message.external_id == "forum-thread-88123-post-4"
    assert (message.author.id, message.author.handle, message.author.name) == (
        "u-5521",
        "warmtepomp_wim",
        "Wim Hendriks",
    )
    assert message.created_at == datetime(
        2026, 11, 18, 7, 45, 12, tzinfo=timezone(timedelta(hours=1))
    )
    assert (message.kind, message.thread_id, message.in_reply_to) == (
        "comment",
        "forum-thread-88123",
        "forum-thread-88123-post-1",
    )
    assert [(a.type, a.mime_type) for a in message.attachments] == [("image", "image/png")]
    assert (parsed.deliveries, parsed.skipped) == ([], [])


def test_a_batch_keeps_every_message_in_order_under_the_sources_brand() -> None:
    parsed = parse_generic(
        fixture("generic_batch.json"), brand=BRAND, source="reviews", channel="review"
    )

    assert [(m.external_id, m.channel, m.brand, m.kind) for m in parsed.messages] == [
        ("review-2026-11-18-0012", "review", BRAND, "review"),
        # the item named another brand: a source belongs to one brand
        ("review-2026-11-18-0013", "review", BRAND, "review"),
        ("review-2026-11-18-0014", "review", BRAND, "review"),
    ]
    assert [m.language_hint for m in parsed.messages] == ["nl", "fr-BE", None]
    assert parsed.messages[0].created_at == datetime(2026, 11, 18, 9, 12, tzinfo=UTC)


def test_a_full_batch_is_accepted() -> None:
    item = fixture("generic_batch.json")["messages"][0]
    body = {"messages": [{**item, "external_id": f"r-{n}"} for n in range(MAX_BATCH)]}

    parsed = parse_generic(body, brand=BRAND, source="reviews", channel="review")

    assert len(parsed.messages) == MAX_BATCH


def _batch_item(body: dict[str, Any], index: int) -> dict[str, Any]:
    item: dict[str, Any] = body["messages"][index]
    return item


@pytest.mark.parametrize(
    ("name", "change", "field"),
    [
        (
            "generic_batch.json",
            lambda b: _batch_item(b, 1)["author"].pop("id"),
            "messages.1.author.id",
        ),
        ("generic_batch.json", lambda b: _batch_item(b, 2).pop("text"), "messages.2.text"),
        (
            "generic_batch.json",
            lambda b: _batch_item(b, 0).update(created_at="2026-11-18T09:12:00"),
            "messages.0.created_at",
        ),
        (
            "generic_batch.json",
            lambda b: _batch_item(b, 0).update(kind="tweet"),
            "messages.0.kind",
        ),
        (
            "generic_batch.json",
            lambda b: _batch_item(b, 0).update(attachments=[{"url": "https://x.example/a.png"}]),
            "messages.0.attachments.0.type",
        ),
        ("generic_batch.json", lambda b: b["messages"].append("just text"), "messages.3"),
        ("generic_batch.json", lambda b: b.update(messages={"text": "hi"}), "messages"),
        ("generic_batch.json", lambda b: b.update(messages=[]), "messages"),
        (
            "generic_batch.json",
            lambda b: b.update(messages=b["messages"] * 167),  # 501
            "messages",
        ),
        ("generic_single.json", lambda b: b["author"].pop("id"), "author.id"),
        ("generic_single.json", lambda b: b.update(external_id=""), "external_id"),
    ],
)
def test_one_invalid_message_refuses_the_webhook_naming_its_field(
    name: str, change: Callable[[dict[str, Any]], object], field: str
) -> None:
    body = fixture(name)
    change(body)

    with pytest.raises(PayloadError) as refused:
        parse_generic(body, brand=BRAND, source="reviews", channel="review")

    assert refused.value.field == field


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(PayloadError) as refused:
        parse_generic(["text"], brand=BRAND, source="reviews", channel="review")  # type: ignore[arg-type]

    assert refused.value.field == "body"


def test_a_complaint_form_states_the_customers_email_phone_crm_id_and_value() -> None:
    body = fixture("generic_single.json")
    body["author"].update(
        email="Jan@Example.nl", phone="+31 6 1234 5678", crm_id="KL-4711", customer_value=1200.5
    )

    (message,) = parse_generic(body, brand=BRAND, source="klachten", channel="generic").messages

    author = message.author
    assert (author.email, author.phone, author.crm_id, author.customer_value) == (
        "Jan@Example.nl",  # routing normalises (core.domain.identities); the payload is kept
        "+31 6 1234 5678",
        "KL-4711",
        1200.5,
    )


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("email", "jan@example", "pattern"),  # the shape, checked by the message model
        ("email", "jan@exa_mple.nl", "e-mail address"),  # the shape, but no domain
        ("email", "jan..de.vries@example.nl", "dots may not touch"),
        ("phone", "+31 6 12", "7 to 15 digits"),
        ("phone", "06 1234", "9 to 12 digits"),
        ("phone", "bel me", "pattern"),
        ("crm_id", " ", None),  # blank: no CRM id, not an error
        ("customer_value", -1, "greater than or equal"),
    ],
)
def test_an_author_identity_routing_could_not_read_refuses_the_body(
    field: str, value: object, complaint: str | None
) -> None:
    body = fixture("generic_batch.json")
    _batch_item(body, 1)["author"][field] = value

    if complaint is None:
        parse_generic(body, brand=BRAND, source="klachten", channel="generic")
        return
    with pytest.raises(PayloadError) as refused:
        parse_generic(body, brand=BRAND, source="klachten", channel="generic")

    assert refused.value.field == f"messages.1.author.{field}"
    assert complaint in str(refused.value)
