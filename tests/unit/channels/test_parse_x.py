"""X Account Activity webhooks as X documents them → messages, and what was skipped."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from socialcare.channels.parsed import PayloadError
from socialcare.channels.x import parse_x

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "channels"
BRAND = "energieloket"
ACCOUNT = "1450293847561029632"


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return body


def test_mentions_replies_and_quotes_become_messages_with_reach_and_language() -> None:
    parsed = parse_x(fixture("x_tweet_create_events.json"), brand=BRAND)

    summary = [
        (m.kind, m.external_id, m.author.handle, m.author.followers, m.language_hint)
        for m in parsed.messages
    ]
    assert summary == [
        ("mention", "1990011122233344455", "@carmenruiz_mad", 15230, "es"),
        ("comment", "1990011122233344999", "@bramsmit", 431, "nl"),
        ("mention", "1990011122233345111", "@olivia_chen_nl", 98211, "en"),  # a quote
        ("mention", "1990011122233345444", "@nadia_u", 12, None),  # lang "qme": media only
    ]
    assert {(m.channel, m.brand, m.account_id) for m in parsed.messages} == {("x", BRAND, ACCOUNT)}
    mention, reply, quote, _ = parsed.messages
    assert mention.author.id == "88123456"
    assert mention.author.name == "Carmen Ruiz"
    assert mention.thread_id == mention.external_id  # a new thread about us
    assert mention.url == "https://x.com/carmenruiz_mad/status/1990011122233344455"
    assert reply.in_reply_to == reply.thread_id == "1990011122233344455"
    assert quote.in_reply_to is None


def test_a_truncated_tweet_is_read_whole_and_unescaped() -> None:
    mention, reply, *_ = parse_x(fixture("x_tweet_create_events.json"), brand=BRAND).messages

    assert mention.text == (
        "@Energieloket ¿Por qué mi factura de noviembre es el doble que la de octubre? He "
        "llamado tres veces & nadie sabe explicarlo. Ya he enviado la lectura del contador "
        "dos veces. https://t.co/Qw3rTy7uIo"
    )
    assert reply.text.endswith("voorschot van €95 naar €190 <zonder> bericht.")


def test_tweet_times_from_timestamp_ms_or_the_created_at_text() -> None:
    mention, _, quote, _ = parse_x(fixture("x_tweet_create_events.json"), brand=BRAND).messages

    assert mention.created_at == datetime.fromtimestamp(1795001402, UTC)
    assert quote.created_at == datetime(2026, 11, 18, 11, 40, 0, tzinfo=UTC)  # no timestamp_ms


def test_tweet_media_from_extended_entities() -> None:
    mention, _, _, gif = parse_x(fixture("x_tweet_create_events.json"), brand=BRAND).messages

    assert [(a.type, a.url, a.external_id) for a in mention.attachments] == [
        ("image", "https://pbs.twimg.com/media/GcF1a2bXkAAq9Zs.jpg", "1990011100000000001"),
        ("image", "https://pbs.twimg.com/media/GcF1a2bXkAAr0At.jpg", "1990011100000000002"),
    ]
    assert [a.type for a in gif.attachments] == ["video"]


def test_our_own_tweets_and_retweets_are_skipped() -> None:
    parsed = parse_x(fixture("x_tweet_create_events.json"), brand=BRAND)

    assert parsed.skipped == [
        "tweet_create_events.3: our own tweet 1990011122233345222",
        "tweet_create_events.4: retweet 1990011122233345333",
    ]


def test_the_conversation_root_is_the_thread_when_x_gives_it() -> None:
    body = fixture("x_tweet_create_events.json")
    body["tweet_create_events"][1]["conversation_id_str"] = "1990011100000000000"

    reply = parse_x(body, brand=BRAND).messages[1]

    assert reply.thread_id == "1990011100000000000"
    assert reply.in_reply_to == "1990011122233344455"


def test_direct_messages_with_names_and_reach_from_the_users_map() -> None:
    parsed = parse_x(fixture("x_direct_message_events.json"), brand=BRAND)

    text, image, stranger = parsed.messages
    assert (text.channel, text.kind, text.account_id) == ("x", "direct_message", ACCOUNT)
    assert (text.author.id, text.author.name, text.author.handle, text.author.followers) == (
        "3001969357",
        "Katrin Becker",
        "@k_becker_hh",
        2204,
    )
    assert text.thread_id == "3001969357"  # one conversation per customer
    assert text.text.startswith("Guten Tag, ich habe meinen Zählerstand")
    assert text.created_at == datetime.fromtimestamp(1795004000.123, UTC)
    assert text.external_id == "1990022233344455566"
    assert image.text == "[image]"
    assert [(a.type, a.external_id) for a in image.attachments] == [
        ("image", "1990022200000000001")
    ]
    # A sender the users map does not describe is still a customer, just without a name.
    assert (stranger.author.id, stranger.author.name, stranger.author.followers) == (
        "4337869213",
        None,
        0,
    )
    assert parsed.skipped == [
        "direct_message_events.2: our own direct message 1990022233344455700",
        "direct_message_indicate_typing_events: 1 event(s) not parsed",
    ]


def test_likes_follows_and_deletes_are_skipped_by_name() -> None:
    parsed = parse_x(fixture("x_other_events.json"), brand=BRAND)

    assert parsed.messages == []
    assert parsed.skipped == [
        "favorite_events: 1 event(s) not parsed",
        "follow_events: 1 event(s) not parsed",
        "tweet_delete_events: 1 event(s) not parsed",
    ]


def _tweet(body: dict[str, Any], index: int) -> dict[str, Any]:
    tweet: dict[str, Any] = body["tweet_create_events"][index]
    return tweet


@pytest.mark.parametrize(
    ("name", "change", "field"),
    [
        ("x_tweet_create_events.json", lambda b: b.pop("for_user_id"), "for_user_id"),
        (
            "x_tweet_create_events.json",
            lambda b: b.update(tweet_create_events={"id": 1}),
            "tweet_create_events",
        ),
        (
            "x_tweet_create_events.json",
            lambda b: _tweet(b, 0).pop("user"),
            "tweet_create_events.0.user",
        ),
        (
            "x_tweet_create_events.json",
            lambda b: _tweet(b, 2).update(created_at="18-11-2026 11:40"),
            "tweet_create_events.2.created_at",
        ),
        (
            "x_tweet_create_events.json",
            lambda b: _tweet(b, 0).update(timestamp_ms="soon"),
            "tweet_create_events.0.timestamp_ms",
        ),
        (
            "x_tweet_create_events.json",
            lambda b: _tweet(b, 0)["user"].update(followers_count=-3),
            "tweet_create_events.0.user.followers_count",
        ),
        (
            "x_tweet_create_events.json",
            lambda b: _tweet(b, 0).update(lang="es es"),
            "tweet_create_events.0.lang",
        ),
        (
            "x_tweet_create_events.json",
            lambda b: _tweet(b, 1).update(text=""),
            "tweet_create_events.1.text",
        ),
        (
            "x_direct_message_events.json",
            lambda b: b["direct_message_events"][0].pop("message_create"),
            "direct_message_events.0.message_create",
        ),
        (
            "x_direct_message_events.json",
            lambda b: b["direct_message_events"][0]["message_create"].pop("sender_id"),
            "direct_message_events.0.message_create.sender_id",
        ),
        (
            "x_direct_message_events.json",
            lambda b: b["users"]["3001969357"].update(followers_count="many"),
            "users.3001969357.followers_count",
        ),
    ],
)
def test_a_body_not_shaped_as_x_documents_is_refused_naming_the_field(
    name: str, change: Callable[[dict[str, Any]], object], field: str
) -> None:
    body = fixture(name)
    change(body)

    with pytest.raises(PayloadError) as refused:
        parse_x(body, brand=BRAND)

    assert refused.value.field == field
