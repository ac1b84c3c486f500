"""Wiring for enrichment: one consumer loop from social.messages.raw to .enriched."""

from __future__ import annotations

from prometheus_client import Counter

from socialcare.core.bus import Producer, Record
from socialcare.core.cases import SENTIMENT_NAMES, author_key, channel_name
from socialcare.core.clock import Clock, utc_now
from socialcare.core.consumer_loop import RecordProcessor
from socialcare.core.events import InvalidRecordError, decode, derived_id, publish
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.core.topics import Topic
from socialcare.enrichment import language, sentiment
from socialcare.enrichment.pipeline import enrich
from socialcare.enrichment.settings import EnrichmentSettings
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


def parts(runtime: Runtime) -> ServiceParts:
    settings = EnrichmentSettings.from_platform(runtime.settings)
    language.configure(low_accuracy=settings.language_low_accuracy)
    loop = runtime.consumer_loop(
        GROUP,
        [Topic.MESSAGES_RAW.value],
        lambda producer: EnrichmentProcessor(producer, utc_now),
    )
    return ServiceParts(components=[loop])
