"""The enrichment consumer-loop plug-in: raw messages in, enriched messages out (language,
sentiment, and the intents and urgency of the care config's taxonomy).

Stateless and deterministic per message: a redelivered message is enriched again under the
same event id (derived from the message id), which routing ignores by message id.

Any text a channel delivers is enriched (empty, emoji only, 50,000 characters, control
characters, RTL marks, mixed scripts: tests/unit/enrichment/test_enrichment_bad_input.py).
A record that can never be enriched raises `InvalidRecordError`, so the loop sends it to
social.messages.raw.dlq with the reason in `dlq-reason` and goes on: bytes that do not parse
(the reason names the string field that is not UTF-8, e.g. a lone surrogate a producer
encoded, or says the bytes are not protobuf), a message without message_id, or without
author.id.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

from google.protobuf.message import DecodeError
from prometheus_client import Counter

from socialcare.core.bus import Record
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import SENTIMENT_NAMES, channel_name
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError
from socialcare.core.proto_wire import explain
from socialcare.core.search.schema import MAX_ID_BYTES
from socialcare.enrichment import language, sentiment
from socialcare.enrichment.customer import CustomerLookup
from socialcare.enrichment.domain import enrich
from socialcare.enrichment.intents import IntentDetector
from socialcare.v1 import message_pb2

GROUP = "enrichment"

MESSAGES_ENRICHED = Counter(
    "socialcare_messages_enriched_total",
    "Messages enriched, by detected language and sentiment label.",
    ["language", "channel", "sentiment"],
)
INTENTS_FOUND = Counter(
    "socialcare_intents_found_total",
    "Intents recognised in messages, by intent (a name of the configured taxonomy) and "
    "whether it is a sales lead.",
    ["intent", "sales"],
)


class EnrichmentProcessor(TypedProcessor):
    def __init__(
        self, clock: Clock, care: CareConfig, customers: CustomerLookup | None = None
    ) -> None:
        super().__init__()
        self._clock = clock
        self._intents = IntentDetector(care)
        self._care = care
        # Without a lookup (tests, no CRM): the author's data and the brands' VIP lists.
        self._customers = customers or CustomerLookup(care)
        self.on(Topic.MESSAGES_RAW, message_pb2.SocialMessage, self._on_message)

    def prepare(self) -> None:
        """Load the language models and lexicons and compile the intents (seconds) before
        the first message waits."""
        language.warm_up()
        sentiment.warm_up()
        self._intents.warm_up()
        # The models are millions of long-lived objects: a full collection walking them
        # stalled one message for ~50 ms (bench/enrichment.py). Frozen, the collector skips
        # them (max latency ~9 ms, same throughput).
        gc.freeze()

    def process(self, record: Record) -> Sequence[Emit]:
        """As `TypedProcessor.process`; a record that does not parse goes to the DLQ with
        what is wrong with its bytes (e.g. `field text is not valid UTF-8`), not only
        protobuf's "Error parsing message"."""
        try:
            return super().process(record)
        except InvalidRecordError as exc:
            if isinstance(exc.__cause__, DecodeError):
                detail = explain(record.value, message_pb2.SocialMessage.DESCRIPTOR)
                if detail:
                    raise InvalidRecordError(f"{exc}: {detail}") from exc.__cause__
            raise

    def _on_message(self, message: message_pb2.SocialMessage, record: Record) -> Sequence[Emit]:
        if not message.message_id:
            raise InvalidRecordError(
                "raw message lacks message_id (the enriched event's id is derived from it)"
            )
        if len(message.message_id.encode()) > MAX_ID_BYTES:
            raise InvalidRecordError(
                f"raw message id {message.message_id[:80]!r}... is longer than {MAX_ID_BYTES} "
                "bytes (ingestion makes 32; search could never index its case's messages)"
            )
        if not message.author.id:
            raise InvalidRecordError(
                f"raw message {message.message_id!r} lacks author.id (the customer it is "
                "keyed and threaded by)"
            )
        enriched = enrich(
            message, self._clock(), self._intents, care=self._care, customers=self._customers
        )
        MESSAGES_ENRICHED.labels(
            enriched.language,
            channel_name(message.channel),
            SENTIMENT_NAMES.get(enriched.sentiment.label, "neutral"),
        ).inc()
        for intent in enriched.intents:
            INTENTS_FOUND.labels(intent.name, "true" if intent.sales else "false").inc()
        return [Emit(Topic.MESSAGES_ENRICHED, enriched)]
