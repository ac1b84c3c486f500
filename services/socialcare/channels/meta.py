"""Meta webhooks (Facebook Pages, Messenger, Instagram, WhatsApp Cloud API) → messages and
reply deliveries.

One Meta app posts all three products to one URL, told apart by `object`: "page"
(`entry[].changes[]` for the feed, `entry[].messaging[]` for Messenger), "instagram"
(comments as changes, direct messages as messaging) and "whatsapp_business_account"
(`entry[].changes[].value` with `messages[]` from customers and `statuses[]` about our
replies). Meta batches many entries per POST and mixes in what is not a customer
message: our own page's comments and Messenger echoes of our replies (answering them would
loop), reactions, edits, read receipts. Those are skipped with the reason, not refused:
Meta retries a refused webhook and eventually disables the subscription.

A WhatsApp status names only the platform's message id; the reply it belongs to comes
from the `biz_opaque_callback_data` tag the outbound connector sent with it. A status
without our tag (a message some other tool sent from the same number) is skipped.

Author reach is unknown on Meta (no follower counts in webhooks): followers are 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from socialcare.channels.parsed import ParsedWebhook
from socialcare.channels.payload import Obj, attachment, message
from socialcare.core.domain.deliveries import STATUSES, delivery_event, parse_callback_data
from socialcare.v1 import message_pb2

# Placeholders for a message with media but no words: the agent still sees that the
# customer sent something, and what.
_MEDIA_TEXT = {
    "image": "[image]",
    "video": "[video]",
    "audio": "[audio message]",
    "document": "[document]",
    "file": "[file]",
    "sticker": "[sticker]",
}

# Messaging events that are not a customer's message, and how the audit names them.
_NOT_MESSAGES = {
    "reaction": "reaction",
    "message_edit": "message edit",
    "read": "read receipt",
    "delivery": "delivery receipt",
    "postback": "postback (a button tap, not a message)",
}


def parse_meta(body: Mapping[str, Any], *, brand: str) -> ParsedWebhook:
    """Messages and WhatsApp reply deliveries from one Meta webhook body.

    Raises `PayloadError` naming the field when the body is not what Meta documents.
    """
    root = Obj(body, "")
    kind = root.req("object")
    parsed = ParsedWebhook()
    entries = root.objs("entry", required=True)
    if kind not in ("page", "instagram", "whatsapp_business_account"):
        parsed.skipped.append(f"object {kind!r}: not a channel webhook ({len(entries)} entries)")
        return parsed
    for entry in entries:
        if kind == "page":
            parsed.extend(_page_entry(entry, brand))
        elif kind == "instagram":
            parsed.extend(_instagram_entry(entry, brand))
        else:
            parsed.extend(_whatsapp_entry(entry, brand))
    return parsed


# --- Facebook Page -------------------------------------------------------------------


def _page_entry(entry: Obj, brand: str) -> ParsedWebhook:
    page_id = entry.req("id")
    parsed = ParsedWebhook()
    for change in entry.objs("changes"):
        field = change.req("field")
        if field == "feed":
            _feed_change(change.obj("value"), page_id, brand, parsed)
        else:
            parsed.skipped.append(f"{change.path}: page field {field!r} not parsed")
    for event in entry.objs("messaging"):
        _messaging_event(event, page_id, "facebook", brand, parsed)
    for event in entry.objs("standby"):
        parsed.skipped.append(f"{event.path}: standby (another app handles this conversation)")
    return parsed


def _feed_change(value: Obj, page_id: str, brand: str, parsed: ParsedWebhook) -> None:
    item = value.opt("item") or "?"
    verb = value.opt("verb") or "?"
    if item not in ("comment", "status", "post", "photo", "video"):
        parsed.skipped.append(f"{value.path}: feed {item} {verb}")
        return
    if verb != "add":
        # edited / remove / hide / unhide: the case keeps what the customer first wrote.
        parsed.skipped.append(f"{value.path}: feed {item} {verb}")
        return
    author = value.obj("from")
    author_id = author.req("id")
    if author_id == page_id:
        parsed.skipped.append(f"{value.path}: the page's own {item}")
        return
    post_id = value.req("post_id")
    media: list[dict[str, str]] = []
    photo = value.opt("photo") or (value.opt("link") if item == "photo" else None)
    if photo:
        media.append(attachment("image", url=photo))
    video = value.opt("video")
    if video:
        media.append(attachment("video", url=video))
    text = value.opt("message") or ("[image]" if photo else "[video]" if video else "")
    if not text.strip():
        parsed.skipped.append(f"{value.path}: feed {item} without text or media")
        return
    if item == "comment":
        external_id = value.req("comment_id")
        parent = value.opt("parent_id")
        # A top-level comment names the post as its parent; only a reply names a comment.
        in_reply_to = parent if parent and parent != post_id else None
        kind = "comment"
        id_field = value.at("comment_id")
    else:
        external_id, in_reply_to, kind, id_field = post_id, None, "post", value.at("post_id")
    sources = {
        "external_id": id_field,
        "author": author.path,
        "author.id": author.at("id"),
        "author.name": author.at("name"),
        "text": value.at("message"),
        "created_at": value.at("created_time"),
        "thread_id": value.at("post_id"),
        "in_reply_to": value.at("parent_id"),
        "attachments": value.path,
    }
    parsed.messages.append(
        message(
            {
                "channel": "facebook",
                "kind": kind,
                "external_id": external_id,
                "author": {"id": author_id, "name": author.opt("name")},
                "text": text,
                "created_at": value.epoch("created_time", "auto"),
                "thread_id": post_id,
                "in_reply_to": in_reply_to,
                "brand": brand,
                "account_id": page_id,
                "attachments": media,
                "url": f"https://www.facebook.com/{post_id}",
            },
            path=value.path,
            sources=sources,
        )
    )


# --- Messenger and Instagram direct messages -----------------------------------------


def _messaging_event(
    event: Obj, account_id: str, channel: str, brand: str, parsed: ParsedWebhook
) -> None:
    """One `messaging[]` item, the same shape for Messenger and Instagram."""
    if not event.has("message"):
        what = next((name for key, name in _NOT_MESSAGES.items() if event.has(key)), None)
        parsed.skipped.append(f"{event.path}: {what or 'event without a message'}")
        return
    body = event.obj("message")
    sender = event.obj("sender").req("id")
    if body.flag("is_echo") or sender == account_id:
        # Our own reply coming back; answering it would loop.
        parsed.skipped.append(f"{event.path}: echo of our own message")
        return
    if body.flag("is_deleted"):
        parsed.skipped.append(f"{event.path}: message deleted by the customer")
        return
    media = [_messaging_attachment(item) for item in body.objs("attachments")]
    reply_to = body.opt_obj("reply_to")
    in_reply_to = reply_to.opt("mid") if reply_to else None
    story = reply_to.opt_obj("story") if reply_to else None
    if story is not None:
        media.append(attachment("story", url=story.opt("url"), external_id=story.opt("id")))
    text = body.opt("text") or _media_text([item["type"] for item in media])
    if not text:
        parsed.skipped.append(f"{event.path}: message without text or attachments")
        return
    sources = {
        "external_id": body.at("mid"),
        "author": event.at("sender"),
        "author.id": f"{event.at('sender')}.id",
        "text": body.at("text"),
        "created_at": event.at("timestamp"),
        "in_reply_to": body.at("reply_to"),
        "attachments": body.at("attachments"),
    }
    parsed.messages.append(
        message(
            {
                "channel": channel,
                "kind": "direct_message",
                "external_id": body.req("mid"),
                "author": {"id": sender},
                "text": text,
                "created_at": event.epoch("timestamp", "auto"),
                # One conversation per customer and account: the sender is the thread.
                "thread_id": sender,
                "in_reply_to": in_reply_to,
                "brand": brand,
                "account_id": account_id,
                "attachments": media,
            },
            path=event.path,
            sources=sources,
        )
    )


def _messaging_attachment(item: Obj) -> dict[str, str]:
    payload = item.opt_obj("payload")
    url = payload.opt("url") if payload else None
    return attachment(item.req("type"), url=url)


def _media_text(kinds: list[str]) -> str:
    return " ".join(_MEDIA_TEXT.get(kind, f"[{kind}]") for kind in kinds)


# --- Instagram -----------------------------------------------------------------------


def _instagram_entry(entry: Obj, brand: str) -> ParsedWebhook:
    account_id = entry.req("id")
    parsed = ParsedWebhook()
    for change in entry.objs("changes"):
        field = change.req("field")
        if field in ("comments", "live_comments"):
            _instagram_comment(change.obj("value"), entry, account_id, brand, parsed)
        elif field == "mentions":
            # The mention webhook carries only media and comment ids; its text needs a
            # Graph API call, which a webhook parser does not make.
            parsed.skipped.append(f"{change.path}: Instagram mention (ids only, no text)")
        else:
            parsed.skipped.append(f"{change.path}: Instagram field {field!r} not parsed")
    for event in entry.objs("messaging"):
        _messaging_event(event, account_id, "instagram", brand, parsed)
    return parsed


def _instagram_comment(
    value: Obj, entry: Obj, account_id: str, brand: str, parsed: ParsedWebhook
) -> None:
    author = value.obj("from")
    author_id = author.req("id")
    if author_id == account_id:
        parsed.skipped.append(f"{value.path}: the account's own comment")
        return
    media = value.obj("media")
    username = author.opt("username")
    sources = {
        "external_id": value.at("id"),
        "author": author.path,
        "author.id": author.at("id"),
        "author.handle": author.at("username"),
        "text": value.at("text"),
        "thread_id": media.at("id"),
        "in_reply_to": value.at("parent_id"),
        "created_at": entry.at("time"),
    }
    parsed.messages.append(
        message(
            {
                "channel": "instagram",
                "kind": "comment",
                "external_id": value.req("id"),
                "author": {"id": author_id, "handle": f"@{username}" if username else None},
                "text": value.req("text"),
                # The comment carries no time of its own; the entry's is when Meta sent it,
                # seconds after it was written.
                "created_at": entry.epoch("time", "auto"),
                "thread_id": media.req("id"),
                "in_reply_to": value.opt("parent_id"),
                "brand": brand,
                "account_id": account_id,
            },
            path=value.path,
            sources=sources,
        )
    )


# --- WhatsApp ------------------------------------------------------------------------


def _whatsapp_entry(entry: Obj, brand: str) -> ParsedWebhook:
    parsed = ParsedWebhook()
    for change in entry.objs("changes"):
        field = change.opt("field") or "messages"
        if field != "messages":
            parsed.skipped.append(f"{change.path}: WhatsApp field {field!r} not parsed")
            continue
        value = change.obj("value")
        phone_number_id = value.obj("metadata").req("phone_number_id")
        names = {contact.req("wa_id"): _profile_name(contact) for contact in value.objs("contacts")}
        for item in value.objs("messages"):
            _whatsapp_message(item, names, phone_number_id, brand, parsed)
        for status in value.objs("statuses"):
            _whatsapp_status(status, parsed)
        for error in value.objs("errors"):
            parsed.skipped.append(f"{error.path}: WhatsApp error {_error_reason(error)}")
    return parsed


def _profile_name(contact: Obj) -> str | None:
    profile = contact.opt_obj("profile")
    return profile.opt("name") if profile else None


def _whatsapp_message(
    item: Obj,
    names: dict[str, str | None],
    phone_number_id: str,
    brand: str,
    parsed: ParsedWebhook,
) -> None:
    kind = item.req("type")
    sender = item.req("from")
    content = _whatsapp_content(item, kind)
    if content is None:
        parsed.skipped.append(f"{item.path}: WhatsApp {kind} message not parsed")
        return
    text, text_field, media = content
    context = item.opt_obj("context")
    sources = {
        "external_id": item.at("id"),
        "author": item.at("from"),
        "author.id": item.at("from"),
        "text": text_field,
        "created_at": item.at("timestamp"),
        "in_reply_to": context.at("id") if context else item.path,
        "attachments": item.at(kind),
    }
    parsed.messages.append(
        message(
            {
                "channel": "whatsapp",
                "kind": "direct_message",
                "external_id": item.req("id"),
                "author": {"id": sender, "name": names.get(sender)},
                "text": text,
                "created_at": item.epoch("timestamp", "s"),
                "thread_id": sender,
                "in_reply_to": context.opt("id") if context else None,
                "brand": brand,
                "account_id": phone_number_id,
                "attachments": media,
            },
            path=item.path,
            sources=sources,
        )
    )


def _whatsapp_content(item: Obj, kind: str) -> tuple[str, str, list[dict[str, str]]] | None:
    """(text, where the text came from, attachments) of a message type we keep; None for
    reactions, contacts cards, orders, system notices and unsupported messages."""
    if kind == "text":
        words = item.obj("text")
        return words.req("body"), words.at("body"), []
    if kind in ("image", "video", "audio", "document", "sticker"):
        media = item.obj(kind)
        found = attachment(kind, mime_type=media.opt("mime_type"), external_id=media.opt("id"))
        caption = media.opt("caption")
        filename = media.opt("filename")
        media_label = _MEDIA_TEXT[kind] + (f" {filename}" if filename else "")
        return caption or media_label, media.at("caption"), [found]
    if kind == "location":
        place = item.obj("location")
        latitude, longitude = place.number("latitude"), place.number("longitude")
        label = ", ".join(part for part in (place.opt("name"), place.opt("address")) if part)
        found = attachment("location", url=f"geo:{latitude},{longitude}")
        return f"[location] {label or f'{latitude}, {longitude}'}", place.path, [found]
    if kind == "interactive":
        interactive = item.obj("interactive")
        reply_kind = interactive.req("type")
        if reply_kind not in ("button_reply", "list_reply"):
            return None
        reply = interactive.obj(reply_kind)
        parts = (reply.req("title"), reply.opt("description"))
        return " — ".join(part for part in parts if part), reply.at("title"), []
    if kind == "button":
        button = item.obj("button")
        return button.req("text"), button.at("text"), []
    return None


def _whatsapp_status(status: Obj, parsed: ParsedWebhook) -> None:
    name = status.req("status")
    code = STATUSES.get(name)
    if code is None:
        parsed.skipped.append(f"{status.path}: WhatsApp status {name!r} not tracked")
        return
    tag = status.opt("biz_opaque_callback_data")
    ids = parse_callback_data(tag) if tag else None
    if ids is None:
        parsed.skipped.append(f"{status.path}: status of a message we did not send")
        return
    case_id, reply_id = ids
    errors = status.objs("errors")
    reason = _error_reason(errors[0]) if errors else ""
    error_code = (errors[0].opt("code") or "") if errors else ""
    occurred_at: datetime = status.epoch("timestamp", "s")
    parsed.deliveries.append(
        delivery_event(
            reply_id=reply_id,
            case_id=case_id,
            channel=message_pb2.CHANNEL_WHATSAPP,
            status=code,
            occurred_at=occurred_at,
            platform_message_id=status.req("id"),
            reason=reason,
            error_code=error_code,
        )
    )


def _error_reason(error: Obj) -> str:
    """Meta's own words: "(#131047) Re-engagement message: Message failed to send because
    more than 24 hours have passed ..." — what an agent needs to decide what to do."""
    code = error.opt("code")
    title = error.opt("title") or error.opt("message") or "error"
    details_obj = error.opt_obj("error_data")
    details = details_obj.opt("details") if details_obj else None
    reason = f"(#{code}) {title}" if code else title
    if details and details != title:
        reason += f": {details}"
    return reason
