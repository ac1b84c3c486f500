"""X Account Activity API webhooks → messages.

One POST carries the events of one subscribed account (`for_user_id`, the brand's X
account): `tweet_create_events` (mentions, replies, quotes — and our own tweets and
retweets, which are not customer messages) and `direct_message_events` (received and sent,
with the people involved in a `users` map). Everything else the API delivers (likes,
follows, deletes, typing indicators, read receipts) is skipped with its name, so the audit
shows it arrived.

Tweets come in the v1.1 format: text is HTML-escaped (`&amp;`), a long tweet is truncated
in `text` with the whole of it in `extended_tweet.full_text`, and `lang` uses X's own codes
for "no language" (`und`, `zxx`, `qme`, ...), which must not reach language detection as a
hint.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from socialcare.channels.parsed import ParsedWebhook, PayloadError
from socialcare.channels.payload import Obj, attachment, message

# `created_at` of a v1.1 tweet: "Wed Oct 10 20:19:24 +0000 2018".
_TWEET_TIME = "%a %b %d %H:%M:%S %z %Y"
_NO_LANGUAGE = {"und", "zxx"}
_PARSED_EVENTS = ("tweet_create_events", "direct_message_events")
_MEDIA_TYPES = {"photo": "image", "video": "video", "animated_gif": "video"}


def parse_x(body: Mapping[str, Any], *, brand: str) -> ParsedWebhook:
    """Messages from one Account Activity webhook body.

    Raises `PayloadError` naming the field when the body is not what X documents.
    """
    root = Obj(body, "")
    account_id = root.req("for_user_id")
    parsed = ParsedWebhook()
    for tweet in root.objs("tweet_create_events"):
        _tweet(tweet, account_id, brand, parsed)
    users = root.opt_obj("users")
    for event in root.objs("direct_message_events"):
        _direct_message(event, users, account_id, brand, parsed)
    for key in root.field_names():
        if key.endswith("_events") and key not in _PARSED_EVENTS:
            count = len(root.raw(key)) if isinstance(root.raw(key), list) else 1
            parsed.skipped.append(f"{key}: {count} event(s) not parsed")
        elif key == "user_event":
            parsed.skipped.append("user_event: authorisation revoked")
    return parsed


def _tweet(tweet: Obj, account_id: str, brand: str, parsed: ParsedWebhook) -> None:
    user = tweet.obj("user")
    author_id = user.opt("id_str") or user.req("id")
    tweet_id = tweet.opt("id_str") or tweet.req("id")
    if tweet.has("retweeted_status"):
        parsed.skipped.append(f"{tweet.path}: retweet {tweet_id}")
        return
    if author_id == account_id:
        parsed.skipped.append(f"{tweet.path}: our own tweet {tweet_id}")
        return
    extended = tweet.opt_obj("extended_tweet")
    if extended is not None and extended.has("full_text"):
        text_field = extended.at("full_text")
        text = extended.req("full_text")
    elif tweet.has("full_text"):
        text_field, text = tweet.at("full_text"), tweet.req("full_text")
    else:
        text_field, text = tweet.at("text"), tweet.req("text")
    replied_to = tweet.opt("in_reply_to_status_id_str")
    root = tweet.opt("conversation_id_str") or tweet.opt("conversation_id")
    screen_name = user.opt("screen_name")
    entities = _media_owner(tweet, extended)
    sources = {
        "external_id": tweet.at("id_str"),
        "author": user.path,
        "author.id": user.at("id_str"),
        "author.handle": user.at("screen_name"),
        "author.name": user.at("name"),
        "author.followers": user.at("followers_count"),
        "text": text_field,
        "created_at": tweet.at("timestamp_ms" if tweet.has("timestamp_ms") else "created_at"),
        "in_reply_to": tweet.at("in_reply_to_status_id_str"),
        "thread_id": tweet.at("in_reply_to_status_id_str"),
        "language_hint": tweet.at("lang"),
        "attachments": entities.at("media") if entities else tweet.path,
    }
    parsed.messages.append(
        message(
            {
                "channel": "x",
                # A reply joins a thread; a mention or a quote starts one about us.
                "kind": "comment" if replied_to else "mention",
                "external_id": tweet_id,
                "author": {
                    "id": author_id,
                    "handle": f"@{screen_name}" if screen_name else None,
                    "name": user.opt("name"),
                    "followers": user.raw("followers_count"),
                },
                "text": html.unescape(text),
                "created_at": _tweet_time(tweet),
                "thread_id": root or replied_to or tweet_id,
                "in_reply_to": replied_to,
                "brand": brand,
                "account_id": account_id,
                "attachments": _media(entities),
                "language_hint": _language(tweet.opt("lang")),
                "url": f"https://x.com/{screen_name}/status/{tweet_id}" if screen_name else None,
            },
            path=tweet.path,
            sources=sources,
        )
    )


def _tweet_time(tweet: Obj) -> datetime:
    if tweet.has("timestamp_ms"):
        return tweet.epoch("timestamp_ms", "ms")
    created = tweet.req("created_at")
    try:
        return datetime.strptime(created, _TWEET_TIME)
    except ValueError:
        raise PayloadError(
            tweet.at("created_at"), "must look like 'Wed Oct 10 20:19:24 +0000 2018'"
        ) from None


def _media_owner(tweet: Obj, extended: Obj | None) -> Obj | None:
    """The `extended_entities` that lists the tweet's media (all of it, unlike
    `entities.media`, which shows only the first photo)."""
    for owner in (extended, tweet):
        if owner is not None and owner.has("extended_entities"):
            return owner.obj("extended_entities")
    return None


def _media(entities: Obj | None) -> list[dict[str, str]]:
    if entities is None:
        return []
    return [
        attachment(
            _MEDIA_TYPES.get(item.opt("type") or "", "image"),
            url=item.opt("media_url_https") or item.opt("expanded_url"),
            external_id=item.opt("id_str"),
        )
        for item in entities.objs("media")
    ]


def _language(lang: str | None) -> str | None:
    """X's language code, unless it is one of X's "no language" codes: `und`, `zxx` and
    the `q..` codes for tweets of only media, hashtags, mentions or cashtags."""
    if not lang or lang in _NO_LANGUAGE or (len(lang) == 3 and lang.startswith("q")):
        return None
    return lang


def _direct_message(
    event: Obj, users: Obj | None, account_id: str, brand: str, parsed: ParsedWebhook
) -> None:
    kind = event.req("type")
    if kind != "message_create":
        parsed.skipped.append(f"{event.path}: direct message event {kind!r}")
        return
    create = event.obj("message_create")
    sender_id = create.req("sender_id")
    event_id = event.req("id")
    if sender_id == account_id:
        parsed.skipped.append(f"{event.path}: our own direct message {event_id}")
        return
    data = create.obj("message_data")
    media = []
    found = data.opt_obj("attachment")
    item = found.opt_obj("media") if found else None
    if item is not None:
        media.append(
            attachment(
                _MEDIA_TYPES.get(item.opt("type") or "", "image"),
                url=item.opt("media_url_https"),
                external_id=item.opt("id_str"),
            )
        )
    text = data.opt("text") or ""
    if not text.strip():
        text = "[image]" if media else ""
    if not text:
        parsed.skipped.append(f"{event.path}: direct message without text")
        return
    user = users.opt_obj(sender_id) if users else None
    screen_name = user.opt("screen_name") if user else None
    sources = {
        "external_id": event.at("id"),
        "author": create.at("sender_id"),
        "author.id": create.at("sender_id"),
        "author.name": user.at("name") if user else create.at("sender_id"),
        "author.handle": user.at("screen_name") if user else create.at("sender_id"),
        "author.followers": user.at("followers_count") if user else create.at("sender_id"),
        "text": data.at("text"),
        "created_at": event.at("created_timestamp"),
        "attachments": data.at("attachment"),
    }
    parsed.messages.append(
        message(
            {
                "channel": "x",
                "kind": "direct_message",
                "external_id": event_id,
                "author": {
                    "id": sender_id,
                    "handle": f"@{screen_name}" if screen_name else None,
                    "name": user.opt("name") if user else None,
                    "followers": user.raw("followers_count") if user else 0,
                },
                "text": text,
                "created_at": event.epoch("created_timestamp", "ms"),
                # One conversation per customer and account: the sender is the thread.
                "thread_id": sender_id,
                "brand": brand,
                "account_id": account_id,
                "attachments": media,
            },
            path=event.path,
            sources=sources,
        )
    )
