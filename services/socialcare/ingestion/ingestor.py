"""The one effectful step both doors (REST and gRPC) share: dedupe, publish, flush, remember.

The promise to a client: an answer of "accepted" (HTTP 202, gRPC OK) means the message is
durable on `social.messages.raw`, because the producer was flushed before answering; an
answer of "duplicate" means an earlier copy was durable. So for one message id, in order:

  1. under that id's lock, ask the seen-set;
  2. publish the `SocialMessage` (key: the author on the channel, event id: the message id);
  3. flush the producer: only now is it durable;
  4. remember the id; release the lock.

The lock makes check-then-publish race-free within the process: two copies of a message
arriving at once are serialised and the second sees the first's id. Locks are striped by
id, so different messages publish and flush in parallel (and their flushes share one
append on the embedded log). If the flush fails the id is not remembered, the caller gets
`BusError` (HTTP 503 / gRPC UNAVAILABLE) and may retry; the record may still reach the
topic with a later flush, in which case the retry publishes a second copy with the same
event id, which consumers de-duplicate (at-least-once, never lost).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from prometheus_client import Counter

from socialcare.core.bus import BusError, Producer
from socialcare.core.clock import Clock, utc_now
from socialcare.core.domain.cases import CHANNELS
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.telemetry import tracer
from socialcare.ingestion.dedupe import SeenMessageIds
from socialcare.ingestion.domain import Outcome, build_message, decide, message_id_for
from socialcare.ingestion.models import MessageCreate

SOURCE = "ingestion"

MESSAGES_INGESTED = Counter(
    "socialcare_messages_ingested_total",
    "Inbound messages by channel and outcome: accepted (published), duplicate (accepted "
    "before, not published again), rejected (invalid, 4xx / INVALID_ARGUMENT), failed "
    "(event bus unavailable, not acknowledged; the client may retry).",
    ["channel", "outcome"],
)

_STRIPES = 64


def channel_label(channel: object) -> str:
    """A bounded label value: a known channel name, otherwise `unknown`."""
    return channel if isinstance(channel, str) and channel in CHANNELS else "unknown"


def count_rejected(channel: object) -> None:
    """Count an invalid message; `channel` is whatever the client sent (maybe garbage)."""
    MESSAGES_INGESTED.labels(channel_label(channel), Outcome.REJECTED.value).inc()


@dataclass(frozen=True, slots=True)
class IngestResult:
    message_id: str
    duplicate: bool


class Ingestor:
    """Accepts validated messages; thread-safe (REST threadpool and gRPC workers share it)."""

    def __init__(
        self,
        producer: Producer,
        seen: SeenMessageIds,
        *,
        clock: Clock = utc_now,
        flush_timeout_s: float = 10.0,
    ) -> None:
        self._producer = producer
        self._seen = seen
        self._clock = clock
        self._flush_timeout_s = flush_timeout_s
        self._stripes = tuple(threading.Lock() for _ in range(_STRIPES))
        self._tracer = tracer("socialcare.ingestion")

    def ingest(self, payload: MessageCreate, *, parent: Context | None = None) -> IngestResult:
        """Publish `payload` durably unless it was accepted before.

        Blocks until the bus has the record (at most about `flush_timeout_s`). Raises
        BusError when the bus cannot take it; nothing is remembered then. `parent` is the
        caller's trace context (from `traceparent`), continued by the producer span.
        """
        message_id = message_id_for(payload.channel, payload.external_id)
        with self._stripes[hash(message_id) % _STRIPES]:
            if decide(message_id, self._seen) is Outcome.DUPLICATE:
                MESSAGES_INGESTED.labels(payload.channel, Outcome.DUPLICATE.value).inc()
                return IngestResult(message_id, duplicate=True)
            message = build_message(payload, message_id=message_id, received_at=self._clock())
            with self._tracer.start_as_current_span(
                f"{Topic.MESSAGES_RAW.value} publish", context=parent, kind=SpanKind.PRODUCER
            ) as span:
                span.set_attribute("messaging.destination.name", Topic.MESSAGES_RAW.value)
                span.set_attribute("messaging.message.id", message_id)
                span.set_attribute("socialcare.channel", payload.channel)
                try:
                    publish_effects(
                        self._producer, [Emit(Topic.MESSAGES_RAW, message)], source=SOURCE
                    )
                    self._producer.flush(self._flush_timeout_s)
                except BusError:
                    MESSAGES_INGESTED.labels(payload.channel, Outcome.FAILED.value).inc()
                    raise
            self._seen.remember(message_id)
        MESSAGES_INGESTED.labels(payload.channel, Outcome.ACCEPTED.value).inc()
        return IngestResult(message_id, duplicate=False)
