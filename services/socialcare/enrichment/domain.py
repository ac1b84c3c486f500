"""Enrichment: a raw SocialMessage in, the same message with language and sentiment out.

Stateless and deterministic, so redelivery just produces the same event again (same
event id), which routing ignores by message id.
"""

from __future__ import annotations

from datetime import datetime

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.cases import SENTIMENT_LABELS, conversation_key
from socialcare.enrichment.language import detect_language
from socialcare.enrichment.sentiment import score_sentiment
from socialcare.v1 import message_pb2


def enrich(message: message_pb2.SocialMessage, now: datetime) -> message_pb2.EnrichedMessage:
    guess = detect_language(message.text)
    sentiment = score_sentiment(message.text, guess.code)
    return message_pb2.EnrichedMessage(
        message=message,
        language=guess.code,
        language_confidence=guess.confidence,
        sentiment=message_pb2.Sentiment(
            score=sentiment.score, label=SENTIMENT_LABELS[sentiment.label]
        ),
        conversation_key=conversation_key(message),
        enriched_at=to_timestamp(now),
    )
