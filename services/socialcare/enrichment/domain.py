"""Enrichment: a raw SocialMessage in, the same message with language, sentiment, intents
(the questions and leads it holds, from the brand's taxonomy) and urgency out.

Stateless and deterministic, so redelivery just produces the same event again (same
event id), which routing ignores by message id.
"""

from __future__ import annotations

from datetime import datetime

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import SENTIMENT_LABELS, conversation_key
from socialcare.enrichment.customer import CustomerLookup, customer_of
from socialcare.enrichment.intents import IntentDetector
from socialcare.enrichment.language_decision import decide_language
from socialcare.enrichment.moments import special_moments
from socialcare.enrichment.pii import pii_matches
from socialcare.enrichment.reach import author_reach
from socialcare.enrichment.sentiment import score_sentiment
from socialcare.v1 import message_pb2


def enrich(
    message: message_pb2.SocialMessage,
    now: datetime,
    intents: IntentDetector | None = None,
    *,
    care: CareConfig | None = None,
    customers: CustomerLookup | None = None,
) -> message_pb2.EnrichedMessage:
    """`message` with its language, sentiment and conversation key; with `intents` (the
    care config's taxonomy) also its intents and urgency, read in the detected language."""
    # First: the CRM's answer may name the language a too-short text is read in.
    customer = customer_of(message, care, customers)
    guess = decide_language(
        message.text,
        care.brand_languages(message.brand) if care is not None else (),
        author_language=customer.language,
        hint=message.language_hint,
    )
    sentiment = score_sentiment(message.text, guess.code)
    found: list[message_pb2.Intent] = []
    urgency = 0.0
    if intents is not None:
        found = intents.detect(message.text, language=guess.code, brand=message.brand)
        urgency = intents.urgency(message.text, found, language=guess.code, brand=message.brand)
    return message_pb2.EnrichedMessage(
        message=message,
        language=guess.code,
        language_confidence=guess.confidence,
        language_source=guess.source,
        sentiment=message_pb2.Sentiment(
            score=sentiment.score,
            label=SENTIMENT_LABELS[sentiment.label],
            confidence=sentiment.confidence,
            model=sentiment.model,
        ),
        conversation_key=conversation_key(message),
        enriched_at=to_timestamp(now),
        intents=found,
        urgency=urgency,
        reach_tier=author_reach(message.author.followers, care),
        customer=customer.profile,
        moments=special_moments(message.text, guess.code),
        pii=pii_matches(message.text),
    )
