"""Builders for realistic protobuf inputs, shared by unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.cases import SENTIMENT_LABELS, conversation_key
from socialcare.core.events import derived_id
from socialcare.v1 import message_pb2

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def enriched(
    external_id: str,
    *,
    author: str = "9001",
    language: str = "nl",
    text: str = "Mijn pakket is nog steeds niet bezorgd",
    channel: int = message_pb2.CHANNEL_X,
    thread_id: str = "",
    in_reply_to: str = "",
    followers: int = 100,
    sentiment: str = "negative",
    received: datetime = T0,
) -> message_pb2.EnrichedMessage:
    message = message_pb2.SocialMessage(
        message_id=derived_id(str(channel), external_id),
        channel=channel,  # type: ignore[arg-type]
        external_id=external_id,
        author=message_pb2.Author(id=author, handle=f"@u{author}", followers=followers),
        text=text,
        created_at=to_timestamp(received),
        received_at=to_timestamp(received),
        thread_id=thread_id,
        in_reply_to=in_reply_to,
    )
    score = {"negative": -0.6, "neutral": 0.0, "positive": 0.7}[sentiment]
    return message_pb2.EnrichedMessage(
        message=message,
        language=language,
        language_confidence=0.9,
        sentiment=message_pb2.Sentiment(score=score, label=SENTIMENT_LABELS[sentiment]),
        conversation_key=conversation_key(message),
    )
