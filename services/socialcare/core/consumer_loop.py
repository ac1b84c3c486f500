"""The one consumer loop every service runs (the arroyo pattern, sized for this project).

Per iteration:
  1. poll a batch; inside the poll the backend may call the loop's `PartitionListener`:
     a revoked partition's pending offsets and retry counts are dropped at once (never
     committed) and the processor forgets its state; an assigned partition is rebuilt by
     the processor (`assigned`) before any of its records is processed;
  2. hand each record to the processor inside a consumer span continuing the record's
     trace, and publish the `Emit`s it returns (key and event id from the topic registry);
     a record whose processing raises `InvalidRecordError` goes to `<topic>.dlq` with the
     reason and its origin in headers, and the loop moves on;
  3. call `processor.tick()` (timers: e.g. SLA deadlines) in the same thread, so
     processors need no locks, and publish what it returns, each effect in the trace of
     the last record this loop handled with the same key (e.g. an SLA breach in the trace
     of the case's latest event), unless the effect names its own;
  4. make the effects durable: `processor.flush()` then `producer.flush()`;
  5. commit the next offsets, at most once per `commit_interval_s` (always on shutdown).
     A commit the group fences (`CommitFencedError`: partitions moved on, or the group is
     mid-rebalance) commits nothing: the offsets of partitions this member no longer owns
     are dropped (their effects are durable and idempotent; the new owner redoes the
     rest), those it still owns are kept for the next commit.

So an offset is committed only after everything the records caused is durable: a crash
anywhere redelivers, and processors are idempotent on event ids.

Failures that are not the record's fault (`BusError`, `SearchError`: a backend is down)
are retried with capped exponential backoff, forever, from the first record whose effect
is not durable (the batch is re-polled; nothing is skipped). Other exceptions are bugs
or surprises: the record is retried `max_attempts` times, then dead-lettered with the
error, so one bad record cannot stall its partition forever.

A store refusing what a record holds is the record's fault, not an outage, though it comes
as a `SearchError`: retried, it would stall its partition forever. From `process`, a
`DocumentRejectedError` dead-letters that record with the store's reason. From `flush`
(a batch written in bulk), only the processor knows which records the refused documents
came from: it raises `RecordsRejectedError` naming them (every other effect being durable),
and the loop dead-letters those, each once with its reason, and commits the batch.

A record whose effect the bus refuses for its size (`RecordTooLargeError`, a `BusError`: on
Kafka, over the producer's 1 MiB `max.request.size`) is the record's fault too: sent again it
fails again, and retried as an outage it would stall its partition forever. The loop
dead-letters that input record with the sizes as the reason and goes on with the batch. Its
effects sent before the refused one stay sent (they are idempotent on event ids), and the
processor's state keeps what `process` did (a later record of the same key may then be
refused the same way, and dead-lettered too). Refused on the ack instead (a broker or topic
configured below the producer's limit), the failure comes from `producer.flush()`, where no
record is named: that batch is retried as an outage.

The DLQ copy of a record near the limit is larger than it (the dlq-* headers): when the
bus refuses it too, the copy is written without the record's value (headers say its size and
SHA-256), so the dead letter still says which record of which topic failed, and why; the
value itself is still in its topic, at the offset the headers name.

A dead letter is written once per record: a batch retried for a transient reason skips a
record whose dead letter is already durable (it is not processed again), and writes it again
only when that write itself is not known to be durable (a copy too many, never one lost).

A failure that is neither transient nor one record's (a bug, or a broken setup: `prepare`
or `assigned` raising, say, a missing model file or an unreadable config) ends the loop as
FAILED: `state` says so, `last_error` names the hook and the error, and an ERROR log carries
the traceback. Nothing is committed past what was durable; the consumer leaves its group, so
another member (or this process, restarted) takes its partitions over. The loop's thread then
ends, so the process's /healthz and /readyz answer 503 with that state and error
(`runtime.LoopHealth`): a supervisor that probes liveness (the Helm chart's livenessProbe)
restarts the process, which rebuilds from what is durable, the path every crash takes.
Why not retry in place: the processor's state may be half built, and a deterministic bug
retried in a loop only hides itself. Why not exit the process from here: in `socialcare run
all` the other services' loops are healthy and should drain and commit on the way out; the
process's owner (`runtime.serve`, the supervisor) decides, with the loop's report in hand.

`stop()` only sets a flag (safe from a signal handler); `run()` then finishes the current
record, flushes, commits and closes the consumer.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from google.protobuf.message import Message
from opentelemetry.trace import SpanKind

from socialcare.core.bus import (
    Bus,
    BusError,
    CommitFencedError,
    Consumer,
    Headers,
    PartitionListener,
    Producer,
    Record,
    RecordTooLargeError,
    TopicPartition,
)
from socialcare.core.bus.base import Delivery
from socialcare.core.domain.topics import REGISTRY, Topic, dlq_of
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.events import InvalidRecordError, decode
from socialcare.core.metrics import (
    BATCH_SECONDS,
    CONSUMER_LAG,
    PROCESSING_RETRIES,
    RECORDS_DEAD_LETTERED,
    RECORDS_PROCESSED,
)
from socialcare.core.search import DocumentRejectedError, SearchError
from socialcare.core.telemetry import extract_context, service_of_module, set_service, tracer

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (BusError, SearchError)
DLQ_DURABLE_WAIT_S = 1.0
"""How long a retried batch waits for an earlier dead letter of one of its records to be
acknowledged before writing it again (the bus was failing: it may never be)."""
DLQ_REASON_CHARS = 4_000
"""At most this much of the reason goes in a dead letter whose value had to be left out."""
TRACES_REMEMBERED = 10_000
"""Keys whose last record's trace context a loop keeps for the effects of `tick`."""


class RecordsRejectedError(Exception):
    """Raised by `RecordProcessor.flush()`: a store refused, for what they hold, the effects
    of these records (e.g. search documents in a `DocumentRejectedError`), and everything
    else pending is durable. Writing them again cannot succeed, so the loop dead-letters
    each record with its reason and commits past it; a record named twice goes once."""

    def __init__(self, rejected: Sequence[tuple[Record, str]]) -> None:
        self.rejected = list(rejected)
        super().__init__(
            "; ".join(f"{r.topic}[{r.partition}]@{r.offset}: {why}" for r, why in self.rejected)
        )

    @classmethod
    def of_documents(
        cls, error: DocumentRejectedError, sources: Mapping[str, Record]
    ) -> RecordsRejectedError:
        """The records (`sources`: document id -> the record it came from) of the search
        documents `error` names, each with the store's reason. A refused document of no
        known record cannot be dead-lettered: it is logged as an error and left out."""
        rejected: list[tuple[Record, str]] = []
        for doc_id, reason in error.rejected.items():
            shown = doc_id if len(doc_id) <= 80 else doc_id[:77] + "..."
            why = f"{error.index} document {shown!r} refused by the search store: {reason}"
            source = sources.get(doc_id)
            if source is None:
                log.error("search document refused, from no known record", extra={"reason": why})
            else:
                rejected.append((source, why))
        return cls(rejected)


class RecordProcessor(abc.ABC):
    """What a service plugs into the loop. Implement `process`; the rest is optional.

    Every hook runs on the loop's thread, so a processor needs no locks against the loop
    (only against other threads that read its state, e.g. a gRPC servicer).
    """

    def prepare(self) -> None:  # noqa: B027 (optional hook)
        """Called once before joining the group: load models, create indices. A transient
        error (`BusError`, `SearchError`) is retried with backoff."""

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:  # noqa: B027
        """These partitions are now this member's: rebuild their state (e.g. replay those
        partitions of a compacted changelog). Called before any of their records is
        processed; a transient error is retried, and their records wait meanwhile."""

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:  # noqa: B027
        """These partitions went to another member: forget their state. Their effects not
        yet made durable are dropped too; the new owner redoes them."""

    @abc.abstractmethod
    def process(self, record: Record) -> Sequence[Emit]:
        """One record's effects: state changes here, records to publish (or tombstones to
        write) returned.

        Raise InvalidRecordError when the record can never be processed.
        """

    def tick(self) -> Sequence[Emit]:
        """Called after every poll, even an empty one: time-driven work (timers)."""
        return ()

    def flush(self) -> None:  # noqa: B027 (optional hook)
        """Make pending effects durable (e.g. a bulk write); raise on failure. Raise
        `RecordsRejectedError` when a store refused some records' effects for what they
        hold and wrote the rest (a bare `DocumentRejectedError` here names no record: the
        loop would retry the batch as an outage)."""

    def discard(self) -> None:  # noqa: B027 (optional hook)
        """Making effects durable failed: those since the last durable point are lost and
        their records will be delivered again. Drop pending work and the in-memory state of
        every partition; the loop then calls `assigned()` again with all owned partitions
        before it processes anything, so state is rebuilt from what is durable. Must not do
        I/O (the backend just failed): rebuild in `assigned()`, where failures are retried."""


M = TypeVar("M", bound=Message)
Handler = Callable[[Any, Record], Sequence[Emit]]


class TypedProcessor(RecordProcessor):
    """A processor that handles each topic with its own function, given the decoded message.

    `on(Topic.CASES, case_pb2.CaseEvent, self._on_case)` registers a handler; the type must
    be the one the topic registry names, so a handler cannot be wired to the wrong topic.
    Records are decoded once, here (a record that does not decode is poison: DLQ).
    A tombstone (`record.tombstone`: the key was deleted, e.g. an erased case) never
    reaches a typed handler: it goes to `tombstone(record)`, which ignores it unless a
    processor overrides it.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[type[Message], Handler]] = {}

    def on(
        self, topic: Topic, message_type: type[M], handler: Callable[[M, Record], Sequence[Emit]]
    ) -> None:
        registered = REGISTRY[topic].message_type
        if message_type is not registered:
            raise TypeError(
                f"{topic.value} carries {registered.DESCRIPTOR.full_name}, "
                f"not {message_type.DESCRIPTOR.full_name}"
            )
        self._handlers[topic.value] = (message_type, handler)

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics this processor handles: what its loop subscribes to."""
        return tuple(self._handlers)

    def process(self, record: Record) -> Sequence[Emit]:
        entry = self._handlers.get(record.topic)
        if entry is None:
            raise InvalidRecordError(f"no handler for topic {record.topic!r} in this processor")
        if record.tombstone:
            return self.tombstone(record)
        message_type, handler = entry
        return handler(decode(record, message_type), record)

    def tombstone(self, record: Record) -> Sequence[Emit]:
        """A tombstone on one of this processor's topics: `record.key` is deleted there.
        Default: ignored (nothing to forget). Override to drop what is kept for the key."""
        return ()


class LoopState(StrEnum):
    """Where a loop is, for /healthz and /readyz."""

    STARTING = "starting"
    REBUILDING = "rebuilding"
    RUNNING = "running"
    RETRYING = "retrying"
    STOPPED = "stopped"
    FAILED = "failed"
    """Ended on an error that is neither transient nor one record's; see the module docstring."""


class HookFailedError(Exception):
    """A processor hook outside `process` raised a non-transient error; the message names the
    hook and the error. Raised inside the loop only; `run()` turns it into FAILED."""


class ConsumerLoop(PartitionListener):
    """Runs one processor for one consumer group member; see the module docstring."""

    def __init__(
        self,
        bus: Bus,
        *,
        group: str,
        topics: Sequence[str],
        processor: RecordProcessor,
        producer: Producer,
        batch_size: int = 500,
        poll_timeout_s: float = 0.2,
        commit_interval_s: float = 1.0,
        max_attempts: int = 5,
        max_backoff_s: float = 5.0,
        lag_interval_s: float = 5.0,
    ) -> None:
        self.group = group
        self.topics = tuple(topics)
        self._bus = bus
        self._processor = processor
        self._producer = producer
        self._batch_size = batch_size
        self._poll_timeout_s = poll_timeout_s
        self._commit_interval_s = commit_interval_s
        self._max_attempts = max_attempts
        self._max_backoff_s = max_backoff_s
        self._lag_interval_s = lag_interval_s
        self._stopping = threading.Event()
        self._uncommitted: dict[TopicPartition, int] = {}
        self._unbuilt: set[TopicPartition] = set()
        self._owned: frozenset[TopicPartition] = frozenset()
        # The first commit comes one interval after start (time.monotonic() is the uptime
        # of the machine, so 0.0 here would make "interval elapsed" depend on the host).
        self._last_commit = time.monotonic()
        self._last_lag = 0.0
        self._attempts: dict[tuple[TopicPartition, int], int] = {}
        # (partition, offset) -> the delivery of that record's dead letter, until the loop
        # commits past it: a retried batch does not dead-letter it again.
        self._dead_letters: dict[tuple[TopicPartition, int], Delivery] = {}
        # The service this loop belongs to (its processor's package): every span it makes
        # says so (`telemetry.SERVICE_ATTRIBUTE`).
        self.service = service_of_module(type(processor).__module__)
        self._tracer = tracer(f"socialcare.{self.service}.consumer")
        # key -> traceparent of the last record handled with that key (newest last), so a
        # timer's effect continues the trace of what it is about.
        self._traces: dict[str, str] = {}
        self._lag_partitions: set[TopicPartition] = set()
        self.ready = threading.Event()
        # For /healthz and /readyz (read from other threads; each is one assignment):
        # `state`; `lag`, records not yet read in the owned partitions (None until first
        # measured); `last_error`, the transient failure of the last attempt (None once one
        # succeeds); `last_iteration`, when the loop last finished an attempt of anything
        # (an iteration, a retry, a wait to prepare or join), in time.monotonic() seconds.
        self.state = LoopState.STARTING
        self.lag: int | None = None
        self.last_error: str | None = None
        self.last_iteration = time.monotonic()

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def owned(self) -> frozenset[TopicPartition]:
        """The partitions this member owns now (as of its last poll)."""
        return self._owned

    # -- PartitionListener (called inside consumer.poll, on this loop's thread) ----------
    def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        for tp in partitions:
            self._uncommitted.pop(tp, None)
        self._attempts = {s: n for s, n in self._attempts.items() if s[0] not in partitions}
        self._dead_letters = {s: d for s, d in self._dead_letters.items() if s[0] not in partitions}
        self._unbuilt -= partitions
        self._owned -= partitions
        self._forget_lag(partitions)
        log.info(
            "partitions revoked",
            extra={"group": self.group, "partitions": _describe(partitions)},
        )
        self._processor.revoked(partitions)

    def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        # Rebuilding may take long and may fail; it runs in the loop proper (`_rebuild`),
        # where failures are retried, not inside the backend's rebalance callback.
        self._unbuilt |= partitions
        self._owned |= partitions
        log.info(
            "partitions assigned",
            extra={"group": self.group, "partitions": _describe(partitions)},
        )

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        """Consume until stop(). Never raises: a record's failure is retried, then
        dead-lettered; a backend's is retried; any other failure ends the loop with state
        FAILED, `last_error` set and an ERROR log (see the module docstring)."""
        set_service(self.service)
        try:
            prepared = self._prepare()
            consumer = self._connect() if prepared else None
        except Exception as exc:
            self._fail(exc)
            return
        if consumer is None:
            self.state = LoopState.STOPPED
            return
        for topic in self.topics:
            # Series exist from the start at 0: a counter first seen at 1 is invisible to
            # Prometheus's increase(), so a new process's first dead letter would be missed.
            RECORDS_PROCESSED.labels(self.group, topic)
            RECORDS_DEAD_LETTERED.labels(self.group, topic)
        self.ready.set()
        self.state = LoopState.RUNNING
        backoff = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    self._iteration(consumer)
                    backoff = 0.1
                    self.last_error = None
                    self.state = LoopState.RUNNING
                except TRANSIENT_ERRORS as exc:
                    self.state = LoopState.RETRYING
                    self.last_error = str(exc)
                    PROCESSING_RETRIES.labels(self.group).inc()
                    log.warning(
                        "transient failure, retrying batch",
                        extra={"group": self.group, "error": str(exc), "backoff_s": backoff},
                    )
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
                self.last_iteration = time.monotonic()
            self._make_durable_and_commit(consumer, force=True)
        except TRANSIENT_ERRORS as exc:
            log.error(
                "could not commit on shutdown; records will be redelivered",
                extra={"group": self.group, "error": str(exc)},
            )
        except Exception as exc:
            self._fail(exc)
        finally:
            if self.state is not LoopState.FAILED:
                self.state = LoopState.STOPPED
            try:
                consumer.close()
            except TRANSIENT_ERRORS as exc:
                log.warning(
                    "could not leave the group cleanly; its partitions move on when the "
                    "session times out",
                    extra={"group": self.group, "error": str(exc)},
                )
            log.info("consumer stopped", extra={"group": self.group})

    def _fail(self, exc: Exception) -> None:
        """End the loop on a non-transient failure: say so in `state`, `last_error` and the
        log; the caller closes the consumer without committing."""
        reason = str(exc) if isinstance(exc, HookFailedError) else f"{type(exc).__name__}: {exc}"
        self.last_error = reason
        self.state = LoopState.FAILED
        log.error(
            "consumer loop failed and stopped; restart the process (liveness now fails)",
            exc_info=exc,
            extra={"group": self.group, "error": reason},
        )

    def _prepare(self) -> bool:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                self._processor.prepare()
                return True
            except TRANSIENT_ERRORS as exc:
                self.last_error = str(exc)
                log.warning("cannot prepare yet", extra={"group": self.group, "error": str(exc)})
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
                self.last_iteration = time.monotonic()
            except Exception as exc:
                raise HookFailedError(f"prepare() failed: {type(exc).__name__}: {exc}") from exc
        return False

    def _connect(self) -> Consumer | None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                return self._bus.consumer(
                    self.group, self.topics, client_id=self.group, listener=self
                )
            except TRANSIENT_ERRORS as exc:
                self.last_error = str(exc)
                log.warning(
                    "cannot join consumer group yet",
                    extra={"group": self.group, "error": str(exc)},
                )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
                self.last_iteration = time.monotonic()
        return None

    def _rebuild(self) -> None:
        """Let the processor rebuild the state of partitions it was given; until it has,
        their records are not processed (the caller rewinds them)."""
        pending = frozenset(self._unbuilt)
        self.state = LoopState.REBUILDING
        started = time.perf_counter()
        try:
            self._processor.assigned(pending)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            raise HookFailedError(
                f"assigned({_describe(pending)}) failed: {type(exc).__name__}: {exc}"
            ) from exc
        self._unbuilt -= pending
        self.state = LoopState.RUNNING
        log.info(
            "partition state rebuilt",
            extra={
                "group": self.group,
                "partitions": _describe(pending),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )

    def _iteration(self, consumer: Consumer) -> None:
        records = consumer.poll(self._batch_size, self._poll_timeout_s)
        started = time.perf_counter()
        rewind: dict[TopicPartition, int] = {}
        durable = dict(self._uncommitted)
        processed: Counter[str] = Counter()
        try:
            if self._unbuilt:
                self._rebuild()
            for record in records:
                if self._stopping.is_set() and record.topic_partition not in rewind:
                    rewind[record.topic_partition] = record.offset
                if record.topic_partition in rewind:
                    continue  # a record before it in this partition is not done
                if not self._handle(record):
                    rewind[record.topic_partition] = record.offset
                    continue
                processed[record.topic] += 1
                self._uncommitted[record.topic_partition] = record.offset + 1
            publish_effects(
                self._producer, self._processor.tick(), source=self.group, traces=self._traces
            )
            self._make_durable_and_commit(consumer, force=False)
        except TRANSIENT_ERRORS:
            self._uncommitted = durable
            self._rewind(consumer, records)
            self._processor.discard()
            self._unbuilt |= self._owned
            raise
        if rewind:
            consumer.seek(rewind)
            if not self._stopping.is_set():
                self._stopping.wait(0.1)
        if records:
            # One metric update per batch and topic, not per record.
            BATCH_SECONDS.labels(self.group).observe(time.perf_counter() - started)
            for topic, count in processed.items():
                RECORDS_PROCESSED.labels(self.group, topic).inc(count)
        self._report_lag(consumer)

    def _handle(self, record: Record) -> bool:
        """Process one record; False means "retry it later" (a bug-like failure)."""
        if self._already_dead_lettered(record):
            return True
        context = extract_context(record.headers)
        self._remember_trace(record)
        with self._tracer.start_as_current_span(
            f"{record.topic} process", context=context, kind=SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.destination.name", record.topic)
            span.set_attribute("messaging.consumer.group.name", self.group)
            try:
                effects = self._processor.process(record)
                publish_effects(self._producer, effects, source=self.group)
            except InvalidRecordError as exc:
                self._dead_letter(record, str(exc))
            except DocumentRejectedError as exc:
                # A SearchError, but the record's fault: retrying cannot help.
                self._dead_letter(record, f"refused by the search store: {exc}")
            except RecordTooLargeError as exc:
                # A BusError, but the record's fault: the same effect is refused every time.
                self._dead_letter(
                    record,
                    f"its effect on {exc.topic} is {exc.size:,} bytes, over the bus's "
                    f"{exc.limit:,}-byte record limit",
                )
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                slot = (record.topic_partition, record.offset)
                attempts = self._attempts.get(slot, 0) + 1
                self._attempts[slot] = attempts
                log.exception(
                    "processing failed",
                    extra={"group": self.group, "topic": record.topic, "attempt": attempts},
                )
                if attempts < self._max_attempts:
                    return False
                del self._attempts[slot]
                self._dead_letter(
                    record, f"processing failed {attempts} times: {type(exc).__name__}: {exc}"
                )
        return True

    def _remember_trace(self, record: Record) -> None:
        traceparent = record.header("traceparent")
        if record.key is None or traceparent is None:
            return
        key = record.key.decode(errors="replace")
        traces = self._traces
        traces.pop(key, None)
        traces[key] = traceparent.decode("ascii", "replace")
        if len(traces) > TRACES_REMEMBERED:
            del traces[next(iter(traces))]

    def _already_dead_lettered(self, record: Record) -> bool:
        """Whether this record's dead letter (from an earlier try of its batch) is durable;
        a dead letter not known to be durable is forgotten, so it is written again."""
        slot = (record.topic_partition, record.offset)
        delivery = self._dead_letters.get(slot)
        if delivery is None:
            return False
        try:
            delivery.wait(DLQ_DURABLE_WAIT_S)
        except BusError:
            del self._dead_letters[slot]
            return False
        return True

    def _dead_letter(self, record: Record, reason: str) -> None:
        if self._already_dead_lettered(record):
            return
        log.warning(
            "record sent to DLQ",
            extra={
                "group": self.group,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "reason": reason,
            },
        )
        headers = (
            *record.headers,
            ("dlq-reason", reason.encode()),
            ("dlq-original-topic", record.topic.encode()),
            ("dlq-original-partition", str(record.partition).encode()),
            ("dlq-original-offset", str(record.offset).encode()),
            ("dlq-consumer-group", self.group.encode()),
            ("dlq-failed-at", datetime.now(UTC).isoformat().encode()),
        )
        dlq = dlq_of(record.topic)
        try:
            delivery = self._producer.send(dlq, record.value, key=record.key, headers=headers)
        except RecordTooLargeError as exc:
            delivery = self._producer.send(
                dlq, b"", key=record.key, headers=_without_value(record, headers, exc)
            )
        self._dead_letters[(record.topic_partition, record.offset)] = delivery
        RECORDS_DEAD_LETTERED.labels(self.group, record.topic).inc()

    def _make_durable_and_commit(self, consumer: Consumer, *, force: bool) -> None:
        try:
            self._processor.flush()
        except RecordsRejectedError as exc:
            # Their offsets are already among the uncommitted: once their dead letters are
            # flushed with the rest below, committing moves past them. One dead letter per
            # record, with every reason given for it (a case and one of its messages, say).
            reasons: dict[tuple[TopicPartition, int], tuple[Record, list[str]]] = {}
            for record, reason in exc.rejected:
                slot = (record.topic_partition, record.offset)
                reasons.setdefault(slot, (record, []))[1].append(reason)
            for record, why in reasons.values():
                self._dead_letter(record, "; ".join(dict.fromkeys(why)))
        self._producer.flush()
        now = time.monotonic()
        if self._uncommitted and (force or now - self._last_commit >= self._commit_interval_s):
            try:
                consumer.commit(self._uncommitted)
                committed, self._uncommitted = self._uncommitted, {}
                self._dead_letters = {
                    slot: delivery
                    for slot, delivery in self._dead_letters.items()
                    if slot[1] >= committed.get(slot[0], 0)
                }
            except CommitFencedError as exc:
                # Nothing was committed. What we did is durable (and idempotent): the new
                # owners of partitions we lost redo their uncommitted part; the offsets of
                # partitions we still own wait for the next commit (the listener drops
                # them if the next poll revokes them).
                owned = consumer.assignment()
                self._uncommitted = {
                    tp: offset for tp, offset in self._uncommitted.items() if tp in owned
                }
                log.warning(
                    "commit fenced; the group is rebalancing or moved partitions on",
                    extra={"group": self.group, "error": str(exc)},
                )
            self._last_commit = now

    @staticmethod
    def _rewind(consumer: Consumer, records: Sequence[Record]) -> None:
        """Re-read this batch: its effects were not made durable."""
        first: dict[TopicPartition, int] = {}
        for record in records:
            first.setdefault(record.topic_partition, record.offset)
        consumer.seek(first)

    def _report_lag(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._last_lag < self._lag_interval_s:
            return
        self._last_lag = now
        lags = consumer.lag()
        for tp, lag in lags.items():
            CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(lag)
        # A partition this member lost (rebalance) is another member's to report now: drop
        # its series here, or two members would each report it (one of them stale).
        self._forget_lag(self._lag_partitions - lags.keys())
        self._lag_partitions = set(lags)
        self.lag = sum(lags.values())

    def _forget_lag(self, partitions: Collection[TopicPartition]) -> None:
        for tp in partitions:
            with contextlib.suppress(KeyError):  # never reported
                CONSUMER_LAG.remove(self.group, tp.topic, str(tp.partition))
        self._lag_partitions -= set(partitions)


def _without_value(record: Record, headers: Headers, refusal: RecordTooLargeError) -> Headers:
    """The headers of a dead letter whose copy of the record the bus refused for its size:
    the loop's dlq-* headers (the record's own are left out with its value, as they count
    toward the limit too), the reason cut to `DLQ_REASON_CHARS`, and what was left out."""
    omitted = (
        f"{len(record.value):,} bytes not copied: the dead letter was {refusal.size:,} bytes, "
        f"over the bus's {refusal.limit:,}-byte record limit; sha256 "
        f"{hashlib.sha256(record.value).hexdigest()}"
    )
    log.warning(
        "record too large to copy to the DLQ; its dead letter carries headers only",
        extra={"topic": record.topic, "offset": record.offset, "omitted": omitted},
    )
    kept = tuple(
        (name, value.decode()[:DLQ_REASON_CHARS].encode() if name == "dlq-reason" else value)
        for name, value in headers[len(record.headers) :]
    )
    return (*kept, ("dlq-value-omitted", omitted.encode()))


def _describe(partitions: frozenset[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(partitions))
