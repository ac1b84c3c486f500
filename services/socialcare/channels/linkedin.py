"""LinkedIn organization social action notifications → messages.

The Community Management API pushes `{"type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS",
"notifications": [...]}`, up to ten per POST, one per action on an organisation's page:
LIKE, COMMENT, SHARE, SHARE_MENTION, ADMIN_COMMENT, COMMENT_EDIT, COMMENT_DELETE. A
customer speaks in a COMMENT on one of our posts or in a post mentioning us
(SHARE_MENTION); the rest are reactions, our own admins' comments, or changes to something
already taken in, and are skipped.

LinkedIn re-delivers a notification (every 5 minutes for hours) until it gets a 2xx; the
message id is the comment's (or post's) URN, so a re-delivery is a duplicate for the
ingestor, not a second message. The text is in `decoratedGeneratedActivity`; a
notification without it would need an API call, so it is skipped, not guessed. Authors
are known only by URN (no name, no follower count) in the webhook.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from socialcare.channels.parsed import ParsedWebhook
from socialcare.channels.payload import Obj, message

EVENT_TYPE = "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS"


def parse_linkedin(body: Mapping[str, Any], *, brand: str) -> ParsedWebhook:
    """Messages from one LinkedIn webhook body.

    Raises `PayloadError` naming the field when the body is not what LinkedIn documents.
    """
    root = Obj(body, "")
    event_type = root.req("type")
    parsed = ParsedWebhook()
    notifications = root.objs("notifications", required=True)
    if event_type != EVENT_TYPE:
        parsed.skipped.append(f"type {event_type!r}: {len(notifications)} notification(s)")
        return parsed
    for notification in notifications:
        action = notification.req("action")
        if action == "COMMENT":
            _activity(notification, "comment", brand, parsed)
        elif action == "SHARE_MENTION":
            _activity(notification, "share", brand, parsed)
        else:
            parsed.skipped.append(f"{notification.path}: {action}")
    return parsed


def _activity(notification: Obj, decorated_as: str, brand: str, parsed: ParsedWebhook) -> None:
    """A comment on our post, or a post mentioning us (`decorated_as` "share")."""
    organization = notification.req("organizationalEntity")
    decorated = notification.opt_obj("decoratedGeneratedActivity")
    activity = decorated.opt_obj(decorated_as) if decorated else None
    if activity is None:
        parsed.skipped.append(f"{notification.path}: no decorated {decorated_as} (text unknown)")
        return
    owner = activity.req("owner")
    if owner == organization:
        parsed.skipped.append(f"{notification.path}: the organisation's own {decorated_as}")
        return
    # Comment objects carry `text` directly in some versions, `message.text` in others.
    words = (
        activity.obj("message")
        if activity.has("message") and not activity.has("text")
        else activity
    )
    text = words.req("text")
    entity = activity.opt("entity") or notification.req("generatedActivity")
    if decorated_as == "comment":
        thread = notification.req("sourcePost")
        kind, in_reply_to = "comment", activity.opt("parentComment")
    else:
        thread, kind, in_reply_to = entity, "mention", None
    sources = {
        "external_id": activity.at("entity"),
        "author": activity.at("owner"),
        "author.id": activity.at("owner"),
        "text": words.at("text"),
        "created_at": notification.at("lastModifiedAt"),
        "thread_id": notification.at("sourcePost"),
        "in_reply_to": activity.at("parentComment"),
    }
    parsed.messages.append(
        message(
            {
                "channel": "linkedin",
                "kind": kind,
                "external_id": entity,
                "author": {"id": owner},
                "text": text,
                "created_at": notification.epoch("lastModifiedAt", "ms"),
                "thread_id": thread,
                "in_reply_to": in_reply_to,
                "brand": brand,
                "account_id": organization,
                "url": f"https://www.linkedin.com/feed/update/{thread}",
            },
            path=notification.path,
            sources=sources,
        )
    )
