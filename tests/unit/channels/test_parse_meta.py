"""Meta webhooks as Meta documents them (Page feed, Messenger, Instagram, WhatsApp Cloud
API) → messages, WhatsApp reply deliveries, and what was skipped and why."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from socialcare.channels.meta import parse_meta
from socialcare.channels.parsed import PayloadError
from socialcare.core.clock import from_timestamp
from socialcare.v1 import delivery_pb2, message_pb2

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "channels"
BRAND = "energieloket"
PAGE = "104729381726354"


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return body


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_a_batched_page_feed_keeps_customer_comments_and_posts_from_every_entry() -> None:
    parsed = parse_meta(fixture("meta_page_feed_batch.json"), brand=BRAND)

    kept = [
        (m.kind, m.external_id, m.thread_id, m.in_reply_to, m.author.id, m.account_id)
        for m in parsed.messages
    ]
    assert kept == [
        (
            "comment",
            "998877665544332_1201938475610293",
            f"{PAGE}_998877665544332",
            None,  # a top-level comment names the post as its parent
            "7265109384712093",
            PAGE,
        ),
        (
            "comment",
            "998877665544332_1201938475610388",
            f"{PAGE}_998877665544332",
            "998877665544332_1201938475610293",  # a reply to Sanne's comment
            "6120938475610294",
            PAGE,
        ),
        (
            "post",
            f"{PAGE}_998877665549999",
            f"{PAGE}_998877665549999",
            None,
            "8837261094857362",
            PAGE,
        ),
        (
            "comment",
            "998877665544332_1201938475610777",
            f"{PAGE}_998877665544332",
            None,
            "4410293847561029",
            PAGE,
        ),
        (
            "comment",
            "887766554433221_3309182736450012",
            "221904837261530_887766554433221",
            None,
            "9912837465019283",
            "221904837261530",  # the second page in the same batch
        ),
    ]
    first = parsed.messages[0]
    assert first.channel == "facebook"
    assert first.brand == BRAND
    assert first.author.name == "Sanne de Vries"
    assert first.author.followers == 0
    assert first.text.startswith("Mijn voorschot is ineens €80 hoger")
    assert first.created_at == at(1795000000)
    assert first.language_hint is None
    assert first.url == f"https://www.facebook.com/{PAGE}_998877665544332"
    photo_only = parsed.messages[3]
    assert photo_only.text == "[image]"
    assert [(a.type, a.url) for a in photo_only.attachments] == [
        ("image", "https://scontent.xx.fbcdn.net/v/t39.30808-6/meterkast_4410.jpg")
    ]
    assert parsed.deliveries == []


def test_edits_removals_reactions_and_the_pages_own_comments_are_skipped_with_a_reason() -> None:
    parsed = parse_meta(fixture("meta_page_feed_batch.json"), brand=BRAND)

    assert parsed.skipped == [
        "entry.0.changes.2.value: feed comment edited",
        "entry.0.changes.3.value: feed comment remove",
        "entry.0.changes.4.value: the page's own comment",
        "entry.0.changes.5.value: feed reaction add",
        "entry.2.changes.1: page field 'mention' not parsed",
    ]


def test_messenger_keeps_customer_messages_and_skips_echoes_receipts_and_reactions() -> None:
    parsed = parse_meta(fixture("meta_messenger.json"), brand=BRAND)

    text, image = parsed.messages
    assert (text.channel, text.kind, text.account_id) == ("facebook", "direct_message", PAGE)
    assert text.author.id == text.thread_id == "27461038572910384"
    assert text.text.startswith("Dzień dobry, od miesiąca czekam na zwrot nadpłaty")
    assert text.created_at == at(1795000998.123)  # Messenger timestamps are milliseconds
    assert image.text == "[image]"
    assert image.in_reply_to == text.external_id
    assert [(a.type, a.url) for a in image.attachments] == [
        ("image", "https://scontent.xx.fbcdn.net/v/t1.15752-9/faktura_listopad.jpg")
    ]
    assert parsed.skipped == [
        "entry.0.messaging.2: echo of our own message",
        "entry.0.messaging.3: reaction",
        "entry.0.messaging.4: message edit",
        "entry.0.messaging.5: read receipt",
        "entry.0.messaging.6: delivery receipt",
        "entry.0.messaging.7: postback (a button tap, not a message)",
        "entry.0.standby.0: standby (another app handles this conversation)",
    ]


def test_instagram_comments_replies_and_direct_messages() -> None:
    parsed = parse_meta(fixture("meta_instagram.json"), brand=BRAND)

    account = "17841405822304914"
    comment, reply, live, dm, story_reply = parsed.messages
    assert (comment.channel, comment.kind, comment.account_id) == ("instagram", "comment", account)
    assert comment.author.handle == "@giulia.rossi_mi"
    assert comment.thread_id == "18031948576201938"  # the media commented on
    assert comment.in_reply_to is None
    assert comment.created_at == at(1795002000)  # the entry's time: the comment has none
    assert reply.in_reply_to == comment.external_id
    assert live.text.startswith("Teklif formu nerede?")
    assert live.thread_id == "18099887766554433"
    assert (dm.kind, dm.author.id, dm.thread_id) == (
        "direct_message",
        "1029384756102938",
        "1029384756102938",
    )
    assert dm.text.startswith("Merhaba, faturamda iki kez")
    assert [(a.type, a.external_id) for a in story_reply.attachments] == [
        ("story", "17900011122233344")
    ]
    assert parsed.skipped == [
        "entry.0.changes.2.value: the account's own comment",
        "entry.0.changes.4: Instagram mention (ids only, no text)",
        "entry.1.messaging.2: echo of our own message",
        "entry.1.messaging.3: message deleted by the customer",
    ]


def test_whatsapp_messages_of_every_kept_type() -> None:
    parsed = parse_meta(fixture("meta_whatsapp_messages.json"), brand=BRAND)

    summary = [(m.author.id, m.author.name, m.text, m.in_reply_to) for m in parsed.messages]
    assert summary == [
        (
            "31612345678",
            "Fatima El Amrani",
            "Goedemiddag, mijn zonnepanelen leveren niets terug volgens de app. "
            "Kunnen jullie kijken?",
            None,
        ),
        ("31612345678", "Fatima El Amrani", "Zo ziet de omvormer eruit", None),
        ("31687654321", "Pieter Visser", "[document] jaarafrekening-2026.pdf", None),
        (
            "31687654321",
            "Pieter Visser",
            "[location] Energieloket Utrecht, Stadsplateau 1, Utrecht",
            None,
        ),
        (
            "31687654321",
            "Pieter Visser",
            "Ja, bel mij",
            "wamid.HBgLMzE2ODc2NTQzMjEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
        ),
        (
            "31612345678",
            "Fatima El Amrani",
            "Slimme meter — Storing of vervanging",
            "wamid.HBgLMzE2ODc2NTQzMjEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTgA",
        ),
        (
            "31612345678",
            "Fatima El Amrani",
            "Afspraak verzetten",
            "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBJBQkNERUYxMjM0NTY3ODkwAA==",
        ),
        (
            "32470123456",
            "Élodie Dubois",
            "Bonjour, est-ce que la prime énergie est aussi valable en Wallonie ?",
            None,
        ),
    ]
    assert {m.channel for m in parsed.messages} == {"whatsapp"}
    assert {m.kind for m in parsed.messages} == {"direct_message"}
    assert all(m.thread_id == m.author.id for m in parsed.messages)
    # Each change's own phone number receives the reply.
    assert [m.account_id for m in parsed.messages] == ["106540352242922"] * 7 + ["109871234500012"]
    assert parsed.messages[0].created_at == at(1795003000)
    image, document, location = (parsed.messages[i].attachments[0] for i in (1, 2, 3))
    assert (image.type, image.external_id, image.mime_type) == (
        "image",
        "1003383421387256",
        "image/jpeg",
    )
    assert (document.type, document.mime_type) == ("document", "application/pdf")
    assert (location.type, location.url) == ("location", "geo:52.0907374,5.1214201")
    assert parsed.skipped == [
        "entry.0.changes.0.value.messages.7: WhatsApp reaction message not parsed",
        "entry.0.changes.0.value.messages.8: WhatsApp unsupported message not parsed",
        "entry.1.changes.1: WhatsApp field 'message_template_status_update' not parsed",
    ]


def test_whatsapp_statuses_with_our_tag_become_reply_deliveries() -> None:
    parsed = parse_meta(fixture("meta_whatsapp_statuses.json"), brand=BRAND)

    wamid = "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
    reports = [
        (d.case_id, d.reply_id, d.status, d.platform_message_id, from_timestamp(d.occurred_at))
        for d in parsed.deliveries
    ]
    assert reports == [
        ("case-3f9c2e", "reply-81b7", delivery_pb2.DELIVERY_STATUS_SENT, wamid, at(1795003200)),
        ("case-3f9c2e", "reply-81b7", delivery_pb2.DELIVERY_STATUS_READ, wamid, at(1795003230)),
        (
            "case-3f9c2e",
            "reply-81b7",
            delivery_pb2.DELIVERY_STATUS_DELIVERED,
            wamid,
            at(1795003205),
        ),
        (
            "case-77d0a1",
            "reply-0c42",
            delivery_pb2.DELIVERY_STATUS_FAILED,
            "wamid.HBgLMzE2ODc2NTQzMjEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTgA",
            at(1795003300),
        ),
    ]
    assert {d.channel for d in parsed.deliveries} == {message_pb2.CHANNEL_WHATSAPP}
    assert {d.attempts for d in parsed.deliveries} == {0}
    failed = parsed.deliveries[3]
    assert failed.error_code == "131047"
    assert failed.reason == (
        "(#131047) Re-engagement message: Message failed to send because more than 24 hours "
        "have passed since the customer last replied to this number."
    )
    assert [d.reason for d in parsed.deliveries[:3]] == ["", "", ""]
    assert parsed.messages == []
    assert parsed.skipped == [
        "entry.0.changes.0.value.statuses.4: status of a message we did not send",
        "entry.0.changes.0.value.statuses.5: status of a message we did not send",
        "entry.0.changes.0.value.statuses.6: WhatsApp status 'deleted' not tracked",
        "entry.0.changes.1.value.errors.0: WhatsApp error (#130429) Rate limit hit: Message "
        "failed to send because there were too many messages sent from this phone number in a "
        "short period of time",
    ]


def test_a_redelivered_status_webhook_yields_the_same_delivery_event_ids() -> None:
    first = parse_meta(fixture("meta_whatsapp_statuses.json"), brand=BRAND)
    again = parse_meta(fixture("meta_whatsapp_statuses.json"), brand=BRAND)

    ids = [d.event_id for d in first.deliveries]
    assert ids == [d.event_id for d in again.deliveries]
    assert len(set(ids)) == len(ids)  # each status of the reply is its own fact


def test_graph_style_iso_times_are_read_as_well_as_unix_seconds() -> None:
    body = fixture("meta_page_feed_batch.json")
    body["entry"][0]["changes"][0]["value"]["created_time"] = "2026-11-18T12:06:40+0100"

    first = parse_meta(body, brand=BRAND).messages[0]

    assert first.created_at == at(1795000000)


def test_an_object_meta_sends_that_is_no_channel_is_skipped_not_refused() -> None:
    body = {"object": "permissions", "entry": [{"id": "1", "time": 1795000000, "changes": []}]}

    parsed = parse_meta(body, brand=BRAND)

    assert (parsed.messages, parsed.deliveries) == ([], [])
    assert parsed.skipped == ["object 'permissions': not a channel webhook (1 entries)"]


def test_fields_meta_adds_later_change_nothing() -> None:
    body = fixture("meta_whatsapp_messages.json")
    plain = parse_meta(copy.deepcopy(body), brand=BRAND)
    body["entry"][0]["changes"][0]["value"]["messages"][0]["user_id"] = "NL.1029384756"
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_tier"] = "TIER_10K"
    body["entry"][0]["something_new"] = {"nested": [1, 2, 3]}

    assert parse_meta(body, brand=BRAND) == plain


Mutation = Callable[[dict[str, Any]], None]
JsonPath = list[str | int]


def _set(path: JsonPath, value: object) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: JsonPath) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


FEED: JsonPath = ["entry", 0, "changes", 0, "value"]
MESSENGER: JsonPath = ["entry", 0, "messaging", 0]
WA: JsonPath = ["entry", 0, "changes", 0, "value"]
WA_TEXT: JsonPath = [*WA, "messages", 0]
WA_LOCATION: JsonPath = [*WA, "messages", 3]


@pytest.mark.parametrize(
    ("name", "mutate", "field"),
    [
        ("meta_page_feed_batch.json", _delete(["object"]), "object"),
        ("meta_page_feed_batch.json", _set(["entry"], {"id": PAGE}), "entry"),
        ("meta_page_feed_batch.json", _delete(["entry"]), "entry"),
        ("meta_page_feed_batch.json", _set(["entry", 1], "104729381726354"), "entry.1"),
        ("meta_page_feed_batch.json", _delete(["entry", 0, "id"]), "entry.0.id"),
        ("meta_page_feed_batch.json", _delete([*FEED, "from"]), "entry.0.changes.0.value.from"),
        (
            "meta_page_feed_batch.json",
            _set([*FEED, "from", "id"], {"id": 1}),
            "entry.0.changes.0.value.from.id",
        ),
        (
            "meta_page_feed_batch.json",
            _set([*FEED, "created_time"], "yesterday"),
            "entry.0.changes.0.value.created_time",
        ),
        (
            "meta_page_feed_batch.json",
            _set([*FEED, "created_time"], 10**20),
            "entry.0.changes.0.value.created_time",
        ),
        (
            "meta_page_feed_batch.json",
            _set([*FEED, "message"], "x" * 10_001),
            "entry.0.changes.0.value.message",
        ),
        (
            "meta_messenger.json",
            _delete([*MESSENGER, "message", "mid"]),
            "entry.0.messaging.0.message.mid",
        ),
        ("meta_messenger.json", _delete([*MESSENGER, "sender"]), "entry.0.messaging.0.sender"),
        (
            "meta_messenger.json",
            _set([*MESSENGER, "message", "is_echo"], "yes"),
            "entry.0.messaging.0.message.is_echo",
        ),
        (
            "meta_messenger.json",
            _set([*MESSENGER, "timestamp"], None),
            "entry.0.messaging.0.timestamp",
        ),
        (
            "meta_instagram.json",
            _delete(["entry", 0, "changes", 0, "value", "media"]),
            "entry.0.changes.0.value.media",
        ),
        (
            "meta_instagram.json",
            _delete(["entry", 0, "changes", 0, "value", "text"]),
            "entry.0.changes.0.value.text",
        ),
        (
            "meta_whatsapp_messages.json",
            _delete([*WA, "metadata"]),
            "entry.0.changes.0.value.metadata",
        ),
        (
            "meta_whatsapp_messages.json",
            _set([*WA, "contacts"], {"wa_id": "1"}),
            "entry.0.changes.0.value.contacts",
        ),
        (
            "meta_whatsapp_messages.json",
            _set([*WA_TEXT, "timestamp"], "soon"),
            "entry.0.changes.0.value.messages.0.timestamp",
        ),
        (
            "meta_whatsapp_messages.json",
            _delete([*WA_TEXT, "text", "body"]),
            "entry.0.changes.0.value.messages.0.text.body",
        ),
        (
            "meta_whatsapp_messages.json",
            _set([*WA_TEXT, "type"], ["text"]),
            "entry.0.changes.0.value.messages.0.type",
        ),
        (
            "meta_whatsapp_messages.json",
            _set([*WA_LOCATION, "location", "latitude"], "north"),
            "entry.0.changes.0.value.messages.3.location.latitude",
        ),
        (
            "meta_whatsapp_statuses.json",
            _delete([*WA, "statuses", 0, "status"]),
            "entry.0.changes.0.value.statuses.0.status",
        ),
        (
            "meta_whatsapp_statuses.json",
            _set([*WA, "statuses", 3, "errors"], {"code": 131047}),
            "entry.0.changes.0.value.statuses.3.errors",
        ),
        (
            "meta_whatsapp_statuses.json",
            _delete([*WA, "statuses", 0, "id"]),
            "entry.0.changes.0.value.statuses.0.id",
        ),
    ],
)
def test_a_body_not_shaped_as_meta_documents_is_refused_naming_the_field(
    name: str, mutate: Mutation, field: str
) -> None:
    body = fixture(name)
    mutate(body)

    with pytest.raises(PayloadError) as refused:
        parse_meta(body, brand=BRAND)

    assert refused.value.field == field


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(PayloadError) as refused:
        parse_meta([{"object": "page"}], brand=BRAND)  # type: ignore[arg-type]

    assert refused.value.field == "body"
