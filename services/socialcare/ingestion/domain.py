"""Pure steps of ingestion: validated input → canonical `SocialMessage`, and the dedupe call.

Nothing here touches the bus, a lock or the clock; `Ingestor` (ingestor.py) strings these
steps together with the side effects. That keeps the rules (which id, which fields, what
counts as a duplicate) testable without a backend.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import datetime
from enum import StrEnum
from typing import Any

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.cases import CHANNEL_NAMES, CHANNELS
from socialcare.core.events import derived_id
from socialcare.ingestion.models import MessageCreate
from socialcare.v1 import message_pb2


class Outcome(StrEnum):
    """What happened to one inbound message; also the `outcome` metric label."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    FAILED = "failed"


def message_id_for(channel: str, external_id: str) -> str:
    """The idempotency key: the same (channel, external_id) always yields the same id, so a
    channel re-delivering a webhook, or a client retrying after a timeout, is recognised."""
    return derived_id(channel, external_id)


def decide(message_id: str, seen: Container[str]) -> Outcome:
    """Publish a message only the first time its id is seen."""
    return Outcome.DUPLICATE if message_id in seen else Outcome.ACCEPTED


KINDS: dict[str, message_pb2.MessageKind.ValueType] = {
    "post": message_pb2.MESSAGE_KIND_POST,
    "comment": message_pb2.MESSAGE_KIND_COMMENT,
    "mention": message_pb2.MESSAGE_KIND_MENTION,
    "direct_message": message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
    "review": message_pb2.MESSAGE_KIND_REVIEW,
}
KIND_NAMES: dict[message_pb2.MessageKind.ValueType, str] = {v: k for k, v in KINDS.items()}


def build_message(
    payload: MessageCreate, *, message_id: str, received_at: datetime, payload_id: str = ""
) -> message_pb2.SocialMessage:
    """The canonical event for a validated message (what lands on social.messages.raw);
    `payload_id` names the raw webhook body it was parsed from, if any."""
    author = payload.author
    return message_pb2.SocialMessage(
        message_id=message_id,
        channel=message_pb2.Channel.ValueType(CHANNELS[payload.channel]),
        external_id=payload.external_id,
        author=message_pb2.Author(
            id=author.id,
            handle=author.handle or "",
            name=author.name or "",
            followers=author.followers,
            tier=author.tier or "",
            email=author.email or "",
            phone=author.phone or "",
            crm_id=author.crm_id or "",
            customer_value=author.customer_value,
        ),
        text=payload.text,
        created_at=to_timestamp(payload.created_at),
        thread_id=payload.thread_id or "",
        in_reply_to=payload.in_reply_to or "",
        brand=payload.brand or "",
        received_at=to_timestamp(received_at),
        kind=KINDS[payload.kind] if payload.kind else message_pb2.MESSAGE_KIND_UNSPECIFIED,
        account_id=payload.account_id or "",
        attachments=[
            message_pb2.Attachment(
                type=a.type,
                url=a.url or "",
                mime_type=a.mime_type or "",
                external_id=a.external_id or "",
            )
            for a in payload.attachments
        ],
        language_hint=payload.language_hint or "",
        payload_id=payload_id,
        url=payload.url or "",
    )


def payload_from_proto(message: message_pb2.SocialMessage) -> dict[str, Any]:
    """The proto as the JSON body a REST client would have sent, for `MessageCreate`.

    proto3 cannot tell an unset string from an empty one, so empty required fields are left
    out and validation reports them as "Field required", exactly like a missing JSON key.
    `created_at` stays a protobuf Timestamp: the model converts it, and refuses one outside
    the calendar naming the field. `message_id` and `received_at` are ingestion's to assign
    and are ignored.
    """
    payload: dict[str, Any] = {}
    if message.channel:
        payload["channel"] = CHANNEL_NAMES.get(message.channel, message.channel)
    if message.external_id:
        payload["external_id"] = message.external_id
    if message.HasField("author"):
        author: dict[str, Any] = {
            "followers": message.author.followers,
            "customer_value": message.author.customer_value,
        }
        for name in ("id", "handle", "name", "tier", "email", "phone", "crm_id"):
            value = getattr(message.author, name)
            if value:
                author[name] = value
        payload["author"] = author
    if message.text:
        payload["text"] = message.text
    if message.HasField("created_at"):
        payload["created_at"] = message.created_at
    for name in ("thread_id", "in_reply_to", "brand", "account_id", "language_hint", "url"):
        value = getattr(message, name)
        if value:
            payload[name] = value
    if message.kind:
        payload["kind"] = KIND_NAMES.get(message.kind, message.kind)
    if message.attachments:
        payload["attachments"] = [
            {
                k: v
                for k, v in (
                    ("type", a.type),
                    ("url", a.url),
                    ("mime_type", a.mime_type),
                    ("external_id", a.external_id),
                )
                if v
            }
            for a in message.attachments
        ]
    return payload


def validate_proto(message: message_pb2.SocialMessage) -> MessageCreate:
    """Validate a gRPC message by the REST rules; raises pydantic.ValidationError."""
    return MessageCreate.model_validate(payload_from_proto(message))
