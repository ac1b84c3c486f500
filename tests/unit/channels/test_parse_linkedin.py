"""LinkedIn organization social action notifications as LinkedIn documents them →
messages, and what was skipped."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from socialcare.channels.linkedin import parse_linkedin
from socialcare.channels.parsed import PayloadError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "channels"
BRAND = "energieloket"
ORGANIZATION = "urn:li:organization:96072893"
POST = "urn:li:activity:7394637247890620418"


def fixture() -> dict[str, Any]:
    text = (FIXTURES / "linkedin_social_actions.json").read_text(encoding="utf-8")
    body: dict[str, Any] = json.loads(text)
    return body


def notification(body: dict[str, Any], index: int) -> dict[str, Any]:
    found: dict[str, Any] = body["notifications"][index]
    return found


def test_comments_on_our_posts_and_posts_mentioning_us_become_messages() -> None:
    parsed = parse_linkedin(fixture(), brand=BRAND)

    comment, reply, mention = parsed.messages
    assert (comment.channel, comment.kind, comment.brand, comment.account_id) == (
        "linkedin",
        "comment",
        BRAND,
        ORGANIZATION,
    )
    assert comment.external_id == f"urn:li:comment:({POST},7394977717598625792)"
    assert comment.author.id == "urn:li:person:aB3dE5fG7h"
    assert comment.author.followers == 0
    assert comment.text.startswith("Goed artikel, maar wat betekent dit voor VvE's")
    assert comment.thread_id == POST
    assert comment.in_reply_to is None
    assert comment.created_at == datetime.fromtimestamp(1795005000.123, UTC)
    assert comment.url == f"https://www.linkedin.com/feed/update/{POST}"
    # A reply names its parent comment; its words sit in `message.text`.
    assert reply.in_reply_to == comment.external_id
    assert reply.text == "Same question for housing associations in Rotterdam — who do we contact?"
    assert (mention.kind, mention.external_id, mention.thread_id) == (
        "mention",
        "urn:li:share:7394700011122233344",
        "urn:li:share:7394700011122233344",
    )
    assert mention.author.id == "urn:li:person:Qw2eR4tY6u"


def test_likes_admin_comments_edits_deletes_and_undecorated_comments_are_skipped() -> None:
    parsed = parse_linkedin(fixture(), brand=BRAND)

    assert parsed.skipped == [
        "notifications.3: LIKE",
        "notifications.4: ADMIN_COMMENT",
        "notifications.5: COMMENT_EDIT",
        "notifications.6: COMMENT_DELETE",
        "notifications.7: no decorated comment (text unknown)",
    ]
    assert parsed.deliveries == []


def test_a_comment_by_the_organisation_itself_is_skipped() -> None:
    body = fixture()
    notification(body, 0)["decoratedGeneratedActivity"]["comment"]["owner"] = ORGANIZATION

    parsed = parse_linkedin(body, brand=BRAND)

    assert [m.external_id for m in parsed.messages] == [
        f"urn:li:comment:({POST},7394977717598625900)",
        "urn:li:share:7394700011122233344",
    ]
    assert parsed.skipped[0] == "notifications.0: the organisation's own comment"


def test_another_event_type_is_skipped_not_refused() -> None:
    body = {"type": "LEAD_ACTION", "notifications": [{"leadAction": "CREATED"}]}

    parsed = parse_linkedin(body, brand=BRAND)

    assert parsed.messages == []
    assert parsed.skipped == ["type 'LEAD_ACTION': 1 notification(s)"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.pop("type"), "type"),
        (lambda b: b.pop("notifications"), "notifications"),
        (lambda b: b.update(notifications="COMMENT"), "notifications"),
        (lambda b: notification(b, 0).pop("action"), "notifications.0.action"),
        (
            lambda b: notification(b, 0).update(lastModifiedAt="yesterday"),
            "notifications.0.lastModifiedAt",
        ),
        (
            lambda b: notification(b, 0).pop("organizationalEntity"),
            "notifications.0.organizationalEntity",
        ),
        (
            lambda b: notification(b, 0).pop("sourcePost"),
            "notifications.0.sourcePost",
        ),
        (
            lambda b: notification(b, 0)["decoratedGeneratedActivity"]["comment"].pop("owner"),
            "notifications.0.decoratedGeneratedActivity.comment.owner",
        ),
        (
            lambda b: notification(b, 0)["decoratedGeneratedActivity"]["comment"].pop("text"),
            "notifications.0.decoratedGeneratedActivity.comment.text",
        ),
        (
            lambda b: notification(b, 1)["decoratedGeneratedActivity"]["comment"].update(
                message={"text": 42.5}
            ),
            "notifications.1.decoratedGeneratedActivity.comment.message.text",
        ),
        (
            lambda b: notification(b, 2)["decoratedGeneratedActivity"].update(share=["text"]),
            "notifications.2.decoratedGeneratedActivity.share",
        ),
    ],
)
def test_a_body_not_shaped_as_linkedin_documents_is_refused_naming_the_field(
    change: Callable[[dict[str, Any]], object], field: str
) -> None:
    body = fixture()
    change(body)

    with pytest.raises(PayloadError) as refused:
        parse_linkedin(body, brand=BRAND)

    assert refused.value.field == field
