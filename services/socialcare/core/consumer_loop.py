"""The one consumer loop every service runs (the arroyo pattern, sized for this project).

Per iteration:
  1. poll a batch;
  2. hand each record to the processor inside a consumer span continuing the record's
     trace; a record whose processing raises `InvalidRecordError` goes to `<topic>.dlq`
     with the reason and its origin in headers, and the loop moves on;
  3. call `processor.tick()` (timers: e.g. SLA deadlines) in the same thread, so
     processors need no locks;
  4. make the effects durable: `processor.flush()` then `producer.flush()`;
  5. commit the next offsets, at most once per `commit_interval_s` (always on shutdown).

So an offset is committed only after everything the records caused is durable: a crash
anywhere redelivers, and processors are idempotent on event ids.

Failures that are not the record's fault (`BusError`, `SearchError`: a backend is down)
are retried with capped exponential backoff, forever, from the first record whose effect
is not durable (the batch is re-polled; nothing is skipped). Other exceptions are bugs
or surprises: the record is retried `max_attempts` times, then dead-lettered with the
error, so one bad record cannot stall its partition forever.

`stop()` only sets a flag (safe from a signal handler); `run()` then finishes the current
record, flushes, commits and closes the consumer.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from opentelemetry.trace import SpanKind

from socialcare.core.bus import Bus, BusError, Consumer, Producer, Record, TopicPartition
from socialcare.core.domain.topics import dlq_of
from socialcare.core.events import InvalidRecordError
from socialcare.core.metrics import (
    BATCH_SECONDS,
    CONSUMER_LAG,
    PROCESSING_RETRIES,
    RECORDS_DEAD_LETTERED,
    RECORDS_PROCESSED,
)
from socialcare.core.search import SearchError
from socialcare.core.telemetry import extract_context, tracer

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (BusError, SearchError)


class RecordProcessor(abc.ABC):
    """What a service plugs into the loop. Implement `process`; the rest is optional."""

    def prepare(self) -> None:  # noqa: B027 (optional hook)
        """Called once before the first poll: rebuild state from the topics (may replay)."""

    @abc.abstractmethod
    def process(self, record: Record) -> None:
        """Apply one record's effects (state changes, records sent on the loop's producer).

        Raise InvalidRecordError when the record can never be processed.
        """

    def tick(self) -> None:  # noqa: B027 (optional hook)
        """Called after every poll, even an empty one: time-driven work (timers)."""

    def flush(self) -> None:  # noqa: B027 (optional hook)
        """Make pending effects durable (e.g. a bulk write); raise on failure."""

    def discard(self) -> None:  # noqa: B027 (optional hook)
        """A flush failed: effects since the last durable point are lost and the records
        will be delivered again. Drop pending work and bring in-memory state back to what
        is durable (e.g. rebuild it from the topics)."""


class ConsumerLoop:
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
        self._stopping = threading.Event()
        self._uncommitted: dict[TopicPartition, int] = {}
        self._last_commit = 0.0
        self._last_lag = 0.0
        self._attempts: dict[tuple[TopicPartition, int], int] = {}
        self._tracer = tracer(f"socialcare.consumer.{group}")
        self.ready = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        """Consume until stop(); never raises for a record's or a backend's failure."""
        if not self._prepare():
            return
        consumer = self._connect()
        if consumer is None:
            return
        self.ready.set()
        backoff = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    self._iteration(consumer)
                    backoff = 0.1
                except TRANSIENT_ERRORS as exc:
                    PROCESSING_RETRIES.labels(self.group).inc()
                    log.warning(
                        "transient failure, retrying batch",
                        extra={"group": self.group, "error": str(exc), "backoff_s": backoff},
                    )
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
            self._make_durable_and_commit(consumer, force=True)
        except TRANSIENT_ERRORS as exc:
            log.error(
                "could not commit on shutdown; records will be redelivered",
                extra={"group": self.group, "error": str(exc)},
            )
        finally:
            consumer.close()
            log.info("consumer stopped", extra={"group": self.group})

    def _prepare(self) -> bool:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                self._processor.prepare()
                return True
            except TRANSIENT_ERRORS as exc:
                log.warning(
                    "cannot rebuild state yet", extra={"group": self.group, "error": str(exc)}
                )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
        return False

    def _connect(self) -> Consumer | None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                return self._bus.consumer(self.group, self.topics, client_id=self.group)
            except TRANSIENT_ERRORS as exc:
                log.warning(
                    "cannot join consumer group yet",
                    extra={"group": self.group, "error": str(exc)},
                )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
        return None

    def _iteration(self, consumer: Consumer) -> None:
        records = consumer.poll(self._batch_size, self._poll_timeout_s)
        started = time.perf_counter()
        rewind: dict[TopicPartition, int] = {}
        durable = dict(self._uncommitted)
        try:
            for record in records:
                if self._stopping.is_set() and record.topic_partition not in rewind:
                    rewind[record.topic_partition] = record.offset
                if record.topic_partition in rewind:
                    continue  # a record before it in this partition is not done
                if not self._handle(record):
                    rewind[record.topic_partition] = record.offset
                    continue
                self._uncommitted[record.topic_partition] = record.offset + 1
            self._processor.tick()
            self._make_durable_and_commit(consumer, force=False)
        except TRANSIENT_ERRORS:
            self._processor.discard()
            self._uncommitted = durable
            self._rewind(consumer, records)
            raise
        if rewind:
            consumer.seek(rewind)
            if not self._stopping.is_set():
                self._stopping.wait(0.1)
        if records:
            BATCH_SECONDS.labels(self.group).observe(time.perf_counter() - started)
        self._report_lag(consumer)

    def _handle(self, record: Record) -> bool:
        """Process one record; False means "retry it later" (a bug-like failure)."""
        context = extract_context(record.headers)
        with self._tracer.start_as_current_span(
            f"{record.topic} process", context=context, kind=SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.destination.name", record.topic)
            span.set_attribute("messaging.consumer.group.name", self.group)
            try:
                self._processor.process(record)
            except InvalidRecordError as exc:
                self._dead_letter(record, str(exc))
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
        RECORDS_PROCESSED.labels(self.group, record.topic).inc()
        return True

    def _dead_letter(self, record: Record, reason: str) -> None:
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
        self._producer.send(dlq_of(record.topic), record.value, key=record.key, headers=headers)
        RECORDS_DEAD_LETTERED.labels(self.group, record.topic).inc()

    def _make_durable_and_commit(self, consumer: Consumer, *, force: bool) -> None:
        self._processor.flush()
        self._producer.flush()
        now = time.monotonic()
        if self._uncommitted and (force or now - self._last_commit >= self._commit_interval_s):
            consumer.commit(self._uncommitted)
            self._uncommitted = {}
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
        if now - self._last_lag < 5.0:
            return
        self._last_lag = now
        per_topic: dict[str, int] = {}
        for tp, lag in consumer.lag().items():
            per_topic[tp.topic] = per_topic.get(tp.topic, 0) + lag
        for topic, lag in per_topic.items():
            CONSUMER_LAG.labels(self.group, topic).set(lag)
