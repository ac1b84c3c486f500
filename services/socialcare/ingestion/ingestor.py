"""The one effectful step both doors (REST and gRPC) share: dedupe, publish, wait, remember.

The promise to a client: an answer of "accepted" (HTTP 202, gRPC OK, a batch item with
`duplicate: false`) means the message is durable on `social.messages.raw`, because its own
record's delivery was acknowledged before answering; an answer of "duplicate" means an
earlier copy was durable. So for each message id, in order:

  1. under that id's lock, ask the seen-set (and, in a batch, the ids earlier in the batch);
  2. publish the `SocialMessage` (key: the author on the channel, event id: the message id);
  3. wait for that record's `Delivery`: only now is it durable;
  4. remember the id; release the lock.

The lock makes check-then-publish race-free within the process: two copies of a message
arriving at once are serialised and the second sees the first's id. Locks are striped by
id, so different messages publish and wait in parallel, and their records share one append
(the embedded log's group commit, one Kafka produce request): a request waits for its own
records, never for a producer-wide flush of everyone's. A batch takes the locks of all its
ids (in stripe order, so two batches cannot deadlock), sends all its records, then waits for
each delivery. If a delivery fails, no id of the request is remembered, the caller gets
`BusError` (HTTP 503 / gRPC UNAVAILABLE) and may retry; a record may still reach the topic
later (or did, in a batch), in which case the retry publishes a second copy with the same
event id, which consumers de-duplicate (at-least-once, never lost).
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

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
from socialcare.v1 import delivery_pb2

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


def count_rejected(*channels: object) -> None:
    """Count invalid messages, one per channel given; a channel is whatever the client
    sent (maybe garbage)."""
    for label, count in collections.Counter(map(channel_label, channels)).items():
        MESSAGES_INGESTED.labels(label, Outcome.REJECTED.value).inc(count)


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

        Blocks until the bus acknowledged its record (at most about `flush_timeout_s`).
        Raises BusError when the bus cannot take it; nothing is remembered then. `parent`
        is the caller's trace context (from `traceparent`), continued by the producer span.
        """
        [result] = self.ingest_batch([payload], parent=parent)
        return result

    def ingest_batch(
        self,
        payloads: Sequence[MessageCreate],
        *,
        parent: Context | None = None,
        raw: delivery_pb2.RawPayload | None = None,
        deliveries: Sequence[delivery_pb2.ReplyDelivery] = (),
    ) -> list[IngestResult]:
        """Publish every payload not accepted before, in one go: one result per payload,
        in order. A payload whose (channel, external_id) came earlier in the same batch is
        a duplicate of that one. All records are sent, then each delivery is waited for
        (together at most about `flush_timeout_s`).

        A channel webhook also hands over its `raw` body (for audit, on
        social.payloads.raw, naming the messages parsed from it) and the reply `deliveries`
        it reported (on care.deliveries): they are published and waited for with the
        messages, so an answer of success means all of it is durable.

        Raises BusError when the bus cannot take one of them; no id of the batch is
        remembered then (see the module docstring).
        """
        ids = [message_id_for(p.channel, p.external_id) for p in payloads]
        outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
        with contextlib.ExitStack() as held:
            for stripe in sorted({hash(message_id) % _STRIPES for message_id in ids}):
                held.enter_context(self._stripes[stripe])
            results: list[IngestResult] = []
            fresh: dict[str, MessageCreate] = {}
            received_at = self._clock()
            for payload, message_id in zip(payloads, ids, strict=True):
                if message_id in fresh or decide(message_id, self._seen) is Outcome.DUPLICATE:
                    outcomes[payload.channel, Outcome.DUPLICATE.value] += 1
                    results.append(IngestResult(message_id, duplicate=True))
                else:
                    fresh[message_id] = payload
                    results.append(IngestResult(message_id, duplicate=False))
            extra: list[Emit] = [Emit(Topic.DELIVERIES, d) for d in deliveries]
            # A re-delivered body whose every message was accepted before was kept then
            # (same payload id): only a body that brings something new is kept again.
            if raw is not None and (fresh or deliveries or not payloads):
                raw.message_ids[:] = list(dict.fromkeys(ids))
                raw.delivery_ids[:] = [d.event_id for d in deliveries]
                extra.insert(0, Emit(Topic.PAYLOADS_RAW, raw))
            if fresh or extra:
                payload_id = raw.payload_id if raw is not None else ""
                self._publish(fresh, received_at, parent, extra, payload_id)
                for message_id, payload in fresh.items():
                    self._seen.remember(message_id)
                    outcomes[payload.channel, Outcome.ACCEPTED.value] += 1
        for (channel, outcome), count in outcomes.items():
            MESSAGES_INGESTED.labels(channel, outcome).inc(count)
        return results

    def _publish(
        self,
        fresh: Mapping[str, MessageCreate],
        received_at: datetime,
        parent: Context | None,
        extra: Sequence[Emit] = (),
        payload_id: str = "",
    ) -> None:
        """Send a record per message (and the `extra` records), then wait for every
        delivery; one producer span for the lot. Counts the messages as failed and raises
        BusError if one is not durable."""
        emits = [
            *extra,
            *(
                Emit(
                    Topic.MESSAGES_RAW,
                    build_message(
                        payload,
                        message_id=message_id,
                        received_at=received_at,
                        payload_id=payload_id,
                    ),
                )
                for message_id, payload in fresh.items()
            ),
        ]
        with self._tracer.start_as_current_span(
            f"{Topic.MESSAGES_RAW.value} publish", context=parent, kind=SpanKind.PRODUCER
        ) as span:
            span.set_attribute("messaging.destination.name", Topic.MESSAGES_RAW.value)
            if len(fresh) == 1:
                [(message_id, payload)] = fresh.items()
                span.set_attribute("messaging.message.id", message_id)
                span.set_attribute("socialcare.channel", payload.channel)
            else:
                span.set_attribute("messaging.batch.message_count", len(fresh))
            deadline = time.monotonic() + self._flush_timeout_s
            try:
                for delivery in publish_effects(self._producer, emits, source=SOURCE):
                    delivery.wait(max(0.0, deadline - time.monotonic()))
            except BusError:
                failed = collections.Counter(payload.channel for payload in fresh.values())
                for channel, count in failed.items():
                    MESSAGES_INGESTED.labels(channel, Outcome.FAILED.value).inc(count)
                raise
