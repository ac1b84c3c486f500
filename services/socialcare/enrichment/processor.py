"""The enrichment consumer-loop plug-in: decode inputs, apply the domain, emit effects."""

from __future__ import annotations

from prometheus_client import Counter

from socialcare.core.bus import Producer, Record
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import RecordProcessor
from socialcare.core.domain.cases import SENTIMENT_NAMES, author_key, channel_name
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError, decode, derived_id, publish
from socialcare.enrichment import language, sentiment
from socialcare.enrichment.domain import enrich
from socialcare.v1 import message_pb2

GROUP = "enrichment"

MESSAGES_ENRICHED = Counter(
    "socialcare_messages_enriched_total",
    "Messages enriched, by detected language and sentiment label.",
    ["language", "channel", "sentiment"],
)


class EnrichmentProcessor(RecordProcessor):
    def __init__(self, producer: Producer, clock: Clock) -> None:
        self._producer = producer
        self._clock = clock

    def prepare(self) -> None:
        """Load the language models and lexicons (seconds) before the first message waits."""
        language.warm_up()
        sentiment.warm_up()

    def process(self, record: Record) -> None:
        message = decode(record, message_pb2.SocialMessage)
        if not message.message_id or not message.author.id:
            raise InvalidRecordError("raw message lacks message_id or author.id")
        enriched = enrich(message, self._clock())
        publish(
            self._producer,
            Topic.MESSAGES_ENRICHED,
            enriched,
            key=author_key(message),
            event_id=derived_id("enriched", message.message_id),
            source="enrichment",
        )
        MESSAGES_ENRICHED.labels(
            enriched.language,
            channel_name(message.channel),
            SENTIMENT_NAMES.get(enriched.sentiment.label, "neutral"),
        ).inc()
