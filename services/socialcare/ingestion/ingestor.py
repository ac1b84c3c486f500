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

import asyncio
import collections
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import anyio.to_thread
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import Counter

from socialcare.core.bus import BusError, Producer
from socialcare.core.bus.base import Delivery
from socialcare.core.clock import Clock, utc_now
from socialcare.core.domain.cases import CHANNELS
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.telemetry import caller_or_current, tracer
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

_STRIPES = 1024
"""Enough that concurrent requests rarely share a lock: a coroutine that finds its lock
taken goes to the threadpool (`Ingestor.ingest_batch_async`)."""


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
        self._waiter = _Waiter(self)

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
        batch = self._begin(payloads, parent, raw, deliveries, blocking=True)
        assert batch is not None  # a blocking begin always gets its locks
        try:
            for delivery in batch.deliveries:
                delivery.wait(max(0.0, batch.deadline - time.monotonic()))
        except BaseException as exc:
            self._finish(batch, exc)
            raise
        return self._finish(batch, None)

    async def ingest_batch_async(
        self,
        payloads: Sequence[MessageCreate],
        *,
        parent: Context | None = None,
        raw: delivery_pb2.RawPayload | None = None,
        deliveries: Sequence[delivery_pb2.ReplyDelivery] = (),
    ) -> list[IngestResult]:
        """`ingest_batch` for a coroutine on the event loop, with the same promise.

        The records are sent from the loop (a send only appends to the producer's buffer)
        and the ingestor's one waiter thread waits for their deliveries; the coroutine
        awaits its answer. So a request costs no threadpool hop and no thread of its own
        blocked in `Delivery.wait`: with one thread per waiting request, every group commit
        woke all of them and they queued for the GIL. If another request (or a thread)
        holds one of the id locks, waiting for it would block the loop, so that batch runs
        as `ingest_batch` in the threadpool instead. The ingest is not cancelled with the
        coroutine: it still ends (remembered, or failed) as if awaited.
        """
        batch = self._begin(payloads, parent, raw, deliveries, blocking=False)
        if batch is None:
            return await anyio.to_thread.run_sync(
                functools.partial(
                    self.ingest_batch, payloads, parent=parent, raw=raw, deliveries=deliveries
                )
            )
        if not batch.deliveries:
            return self._finish(batch, None)
        return await self._waiter.wait_for(batch)

    def _begin(
        self,
        payloads: Sequence[MessageCreate],
        parent: Context | None,
        raw: delivery_pb2.RawPayload | None,
        deliveries: Sequence[delivery_pb2.ReplyDelivery],
        *,
        blocking: bool,
    ) -> _Batch | None:
        """Take the batch's id locks, decide, and send what is new. None (nothing done) when
        not `blocking` and a lock is held elsewhere. The locks stay held until `_finish`."""
        ids = [message_id_for(p.channel, p.external_id) for p in payloads]
        held: list[threading.Lock] = []
        for stripe in sorted({hash(message_id) % _STRIPES for message_id in ids}):
            lock = self._stripes[stripe]
            if not lock.acquire(blocking):
                for taken in reversed(held):
                    taken.release()
                return None
            held.append(lock)
        batch = _Batch(held, time.monotonic() + self._flush_timeout_s)
        try:
            fresh = batch.fresh
            for payload, message_id in zip(payloads, ids, strict=True):
                if message_id in fresh or decide(message_id, self._seen) is Outcome.DUPLICATE:
                    batch.outcomes[payload.channel, Outcome.DUPLICATE.value] += 1
                    batch.results.append(IngestResult(message_id, duplicate=True))
                else:
                    fresh[message_id] = payload
                    batch.results.append(IngestResult(message_id, duplicate=False))
            extra: list[Emit] = [Emit(Topic.DELIVERIES, d) for d in deliveries]
            # A re-delivered body whose every message was accepted before was kept then
            # (same payload id): only a body that brings something new is kept again.
            if raw is not None and (fresh or deliveries or not payloads):
                raw.message_ids[:] = list(dict.fromkeys(ids))
                raw.delivery_ids[:] = [d.event_id for d in deliveries]
                extra.insert(0, Emit(Topic.PAYLOADS_RAW, raw))
            if fresh or extra:
                payload_id = raw.payload_id if raw is not None else ""
                self._send(batch, self._clock(), parent, extra, payload_id)
        except BaseException as exc:
            self._finish(batch, exc)
            raise
        return batch

    def _send(
        self,
        batch: _Batch,
        received_at: datetime,
        parent: Context | None,
        extra: Sequence[Emit],
        payload_id: str,
    ) -> None:
        """Send a record per fresh message (and the `extra` records) inside one producer
        span, which `_finish` ends once they are durable (or not)."""
        fresh = batch.fresh
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
        span = self._tracer.start_span(
            f"{Topic.MESSAGES_RAW.value} publish",
            context=caller_or_current(parent),
            kind=SpanKind.PRODUCER,
        )
        batch.span = span
        span.set_attribute("messaging.destination.name", Topic.MESSAGES_RAW.value)
        if len(fresh) == 1:
            [(message_id, payload)] = fresh.items()
            span.set_attribute("messaging.message.id", message_id)
            span.set_attribute("socialcare.channel", payload.channel)
        else:
            span.set_attribute("messaging.batch.message_count", len(fresh))
        with trace.use_span(span, record_exception=False, set_status_on_exception=False):
            batch.deliveries = publish_effects(self._producer, emits, source=SOURCE, spans=False)

    def _finish(self, batch: _Batch, error: BaseException | None) -> list[IngestResult]:
        """The end of a batch, from whichever thread saw its deliveries: remember the
        fresh ids if all is durable (else count them failed), end the span, release the
        locks, count the outcomes. Returns the results, or raises `error`."""
        try:
            if error is None:
                for message_id, payload in batch.fresh.items():
                    self._seen.remember(message_id)
                    batch.outcomes[payload.channel, Outcome.ACCEPTED.value] += 1
            elif isinstance(error, BusError):
                failed = collections.Counter(p.channel for p in batch.fresh.values())
                for name, count in failed.items():
                    MESSAGES_INGESTED.labels(name, Outcome.FAILED.value).inc(count)
            if batch.span is not None:
                if error is not None:
                    batch.span.record_exception(error)
                    batch.span.set_status(
                        Status(StatusCode.ERROR, f"{type(error).__name__}: {error}")
                    )
                batch.span.end()
        finally:
            for lock in reversed(batch.held):
                lock.release()
            batch.held.clear()
        if error is not None:
            raise error
        for (channel, outcome), count in batch.outcomes.items():
            MESSAGES_INGESTED.labels(channel, outcome).inc(count)
        return batch.results


@dataclass(slots=True)
class _Batch:
    """One ingest between its sends and its answer: the id locks it holds until then."""

    held: list[threading.Lock]
    deadline: float
    results: list[IngestResult] = field(default_factory=list)
    fresh: dict[str, MessageCreate] = field(default_factory=dict)
    outcomes: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    deliveries: list[Delivery] = field(default_factory=list)
    span: Span | None = None


_WAITER_IDLE_S = 5.0


class _Waiter:
    """One thread that waits for the deliveries of the batches coroutines sent, and hands
    each its answer on its event loop.

    It waits for the batches in the order they came, each delivery with what is left of
    its own batch's deadline. Whatever arrived while it waited is taken in one go: the
    group commit that made the first batch durable usually made the others durable too,
    so their waits return at once, and all their answers reach a loop in one wake-up. The
    thread ends after `_WAITER_IDLE_S` without work and starts again on demand.
    """

    def __init__(self, ingestor: Ingestor) -> None:
        self._ingestor = ingestor
        self._queue: queue.SimpleQueue[
            tuple[_Batch, asyncio.AbstractEventLoop, asyncio.Future[list[IngestResult]]]
        ] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False

    async def wait_for(self, batch: _Batch) -> list[IngestResult]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[IngestResult]] = loop.create_future()
        self._queue.put((batch, loop, answer))
        with self._lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="ingestion-waiter", daemon=True).start()
        return await asyncio.shield(answer)

    def _run(self) -> None:
        while True:
            try:
                work = [self._queue.get(timeout=_WAITER_IDLE_S)]
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._running = False
                        return
                continue
            with contextlib.suppress(queue.Empty):
                while True:
                    work.append(self._queue.get_nowait())
            answers: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
            for batch, loop, future in work:
                answers.setdefault(loop, []).append((future, *self._settle(batch)))
            for loop, settled in answers.items():
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(_answer_all, settled)

    def _settle(self, batch: _Batch) -> tuple[list[IngestResult] | None, BaseException | None]:
        error: BaseException | None = None
        try:
            for delivery in batch.deliveries:
                delivery.wait(max(0.0, batch.deadline - time.monotonic()))
        except BaseException as exc:  # whatever it is, the coroutine hears it
            error = exc
        try:
            return self._ingestor._finish(batch, error), None
        except BaseException as exc:
            return None, exc


_Answer = tuple[asyncio.Future[list[IngestResult]], list[IngestResult] | None, BaseException | None]


def _answer_all(settled: list[_Answer]) -> None:
    for future, results, error in settled:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            assert results is not None
            future.set_result(results)
