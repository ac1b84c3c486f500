"""The consumer loop's promises, on the embedded log and on a real Kafka broker:
poison records go to `<topic>.dlq` with the reason while the rest is processed, offsets
are committed only after effects are durable, stop() drains and commits, and partitions
move between loops cleanly: a processor rebuilds a partition (`assigned`) before it sees
its records, forgets it (`revoked`) when it leaves, and the loop never commits an offset
of a partition it lost.

Test processors here handle generic test topics that are not in the topic registry, so
they return no `Emit`s; the forwarding one sends on its own producer instead."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from opentelemetry import trace

from socialcare.core import telemetry
from socialcare.core.bus import (
    Bus,
    BusError,
    CommitFencedError,
    Consumer,
    PartitionListener,
    Producer,
    Record,
    TopicPartition,
)
from socialcare.core.bus.partitioner import partition_for
from socialcare.core.consumer_loop import ConsumerLoop, LoopState, RecordProcessor
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, publish
from socialcare.v1.message_pb2 import Author
from tests.contract.bus_backends import bus_backend


@pytest.fixture(params=["embedded", "kafka"])
def loop_bus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bus]:
    with bus_backend(request, tmp_path) as bus:
        yield bus


class Forwarding(RecordProcessor):
    """Copies each record to an output topic; b"poison" is invalid, b"flaky" fails once."""

    def __init__(self, producer: Producer, output: str) -> None:
        self.producer = producer
        self.output = output
        self.seen: list[bytes] = []
        self.failed_once: set[bytes] = set()

    def process(self, record: Record) -> Sequence[Emit]:
        if record.value == b"poison":
            raise InvalidRecordError("value is poison, cannot be parsed")
        if record.value.startswith(b"flaky") and record.value not in self.failed_once:
            self.failed_once.add(record.value)
            raise RuntimeError("first attempt fails")
        self.seen.append(record.value)
        self.producer.send(self.output, record.value, key=record.key, headers=record.headers)
        return ()


def _drain(bus: Bus, topic: str, expected: int, timeout_s: float = 30.0) -> list[Record]:
    consumer = bus.consumer(f"reader-{uuid.uuid4().hex}", [topic])
    found: list[Record] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < expected and time.monotonic() < deadline:
            found.extend(consumer.poll(100, 0.5))
    finally:
        consumer.close()
    return found


def _run(loop: ConsumerLoop) -> threading.Thread:
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    return thread


def _until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_poison_goes_to_dlq_and_processing_continues(loop_bus: Bus) -> None:
    source, output = f"in-{uuid.uuid4().hex[:8]}", f"out-{uuid.uuid4().hex[:8]}"
    loop_bus.create_topics([source, output, f"{source}.dlq"], 1)
    producer = loop_bus.producer()
    for value in (b"one", b"poison", b"flaky-two", b"three"):
        producer.send(source, value, key=b"k", headers=(("traceparent", b"00-abc"),))
    producer.flush()

    loop_producer = loop_bus.producer()
    processor = Forwarding(loop_producer, output)
    loop = ConsumerLoop(
        loop_bus,
        group=f"g-{uuid.uuid4().hex}",
        topics=[source],
        processor=processor,
        producer=loop_producer,
        commit_interval_s=0.0,
    )
    thread = _run(loop)
    try:
        forwarded = _drain(loop_bus, output, 3)
        assert [r.value for r in forwarded] == [b"one", b"flaky-two", b"three"]
        dead = _drain(loop_bus, f"{source}.dlq", 1)
        assert len(dead) == 1
        assert dead[0].value == b"poison"
        assert dead[0].header("dlq-reason") == b"value is poison, cannot be parsed"
        assert dead[0].header("dlq-original-topic") == source.encode()
        assert dead[0].header("dlq-original-offset") == b"1"
        assert dead[0].header("traceparent") == b"00-abc"
    finally:
        loop.stop()
        thread.join(30)
    assert not thread.is_alive()
    loop_producer.close()
    producer.close()


class FailingFlush(RecordProcessor):
    """Simulates a backend that is down: effects cannot be made durable."""

    def __init__(self) -> None:
        self.processed = 0
        self.down = True

    def process(self, record: Record) -> Sequence[Emit]:
        self.processed += 1
        return ()

    def flush(self) -> None:
        if self.down:
            raise BusError("backend unavailable")


def test_nothing_is_committed_while_effects_are_not_durable(loop_bus: Bus) -> None:
    source = f"in-{uuid.uuid4().hex[:8]}"
    group = f"g-{uuid.uuid4().hex}"
    loop_bus.create_topics([source], 1)
    producer = loop_bus.producer()
    for i in range(5):
        producer.send(source, f"r{i}".encode(), key=b"k")
    producer.flush()

    processor = FailingFlush()
    loop = ConsumerLoop(
        loop_bus,
        group=group,
        topics=[source],
        processor=processor,
        producer=loop_bus.producer(),
        commit_interval_s=0.0,
        max_backoff_s=0.2,
    )
    thread = _run(loop)
    _until(lambda: processor.processed >= 10)  # the batch is retried, not skipped
    loop.stop()
    thread.join(30)

    # Nothing was committed: a new member of the group starts from the first record.
    consumer = loop_bus.consumer(group, [source])
    try:
        records: list[Record] = []
        deadline = time.monotonic() + 30
        while not records and time.monotonic() < deadline:
            records = consumer.poll(10, 0.5)
        assert records and records[0].value == b"r0"
    finally:
        consumer.close()
    producer.close()


def test_stop_drains_and_commits(loop_bus: Bus) -> None:
    source, output = f"in-{uuid.uuid4().hex[:8]}", f"out-{uuid.uuid4().hex[:8]}"
    group = f"g-{uuid.uuid4().hex}"
    loop_bus.create_topics([source, output], 1)
    producer = loop_bus.producer()
    for i in range(20):
        producer.send(source, f"r{i}".encode(), key=b"k")
    producer.flush()

    loop_producer = loop_bus.producer()
    processor = Forwarding(loop_producer, output)
    loop = ConsumerLoop(
        loop_bus,
        group=group,
        topics=[source],
        processor=processor,
        producer=loop_producer,
        commit_interval_s=3600.0,  # only the shutdown commit can commit
    )
    thread = _run(loop)
    _until(lambda: len(processor.seen) == 20)
    loop.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert len(_drain(loop_bus, output, 20)) == 20

    producer.send(source, b"after", key=b"k")
    producer.flush()
    consumer = loop_bus.consumer(group, [source])
    try:
        records: list[Record] = []
        deadline = time.monotonic() + 30
        while not records and time.monotonic() < deadline:
            records = consumer.poll(10, 0.5)
        assert [r.value for r in records] == [b"after"]
    finally:
        consumer.close()
    producer.close()


class TraceCapture(RecordProcessor):
    def __init__(self) -> None:
        self.trace_ids: list[int] = []

    def process(self, record: Record) -> Sequence[Emit]:
        self.trace_ids.append(trace.get_current_span().get_span_context().trace_id)
        return ()


def test_processing_continues_the_producers_trace(loop_bus: Bus) -> None:
    telemetry.configure("contract-tests")
    source = f"in-{uuid.uuid4().hex[:8]}"
    loop_bus.create_topics([source], 1)
    producer = loop_bus.producer()
    with telemetry.tracer("test").start_as_current_span("ingest request") as span:
        publish(producer, source, Author(id="42"), key="k", event_id="e1", source="test")
        producer_trace = span.get_span_context().trace_id
    producer.flush()
    processor = TraceCapture()
    loop = ConsumerLoop(
        loop_bus,
        group=f"g-{uuid.uuid4().hex}",
        topics=[source],
        processor=processor,
        producer=loop_bus.producer(),
    )
    thread = _run(loop)
    try:
        _until(lambda: bool(processor.trace_ids))
    finally:
        loop.stop()
        thread.join(30)
    producer.close()
    assert processor.trace_ids == [producer_trace]
    assert producer_trace != 0


class PartitionAware(RecordProcessor):
    """Keeps state per partition the way services do, and checks the loop's promises as it
    goes: a record arrives only for a partition that was rebuilt (`assigned`) and not since
    revoked. Violations are collected, not raised (the loop would retry them)."""

    def __init__(self, *, failing_rebuilds: int = 0) -> None:
        self.rebuilt: set[TopicPartition] = set()
        self.events: list[tuple[str, frozenset[TopicPartition]]] = []
        self.processed: list[tuple[TopicPartition, int]] = []
        self.violations: list[str] = []
        self.rebuild_attempts = 0
        self._failing_rebuilds = failing_rebuilds

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        self.rebuild_attempts += 1
        if self.rebuild_attempts <= self._failing_rebuilds:
            raise BusError("changelog unavailable (simulated)")
        if partitions & self.rebuilt:
            self.violations.append(f"assigned twice: {sorted(partitions & self.rebuilt)}")
        self.rebuilt |= partitions
        self.events.append(("assigned", partitions))

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        self.rebuilt -= partitions
        self.events.append(("revoked", partitions))

    def process(self, record: Record) -> Sequence[Emit]:
        if record.topic_partition not in self.rebuilt:
            self.violations.append(f"record of {record.topic_partition} before it was rebuilt")
        self.processed.append((record.topic_partition, record.offset))
        return ()

    def partitions_seen(self) -> set[TopicPartition]:
        return {tp for tp, _ in self.processed}


class CommitLog:
    """What a loop committed, seen from the consumer it was given."""

    def __init__(self) -> None:
        self.attempts: list[tuple[dict[TopicPartition, int], frozenset[TopicPartition]]] = []
        self.fenced = 0


class SpiedConsumer(Consumer):
    def __init__(self, inner: Consumer, commits: CommitLog) -> None:
        self._inner = inner
        self._commits = commits

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        return self._inner.poll(max_records, timeout_s)

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._commits.attempts.append((dict(offsets), self._inner.assignment()))
        try:
            self._inner.commit(offsets)
        except CommitFencedError:
            self._commits.fenced += 1
            raise

    def seek(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._inner.seek(offsets)

    def assignment(self) -> frozenset[TopicPartition]:
        return self._inner.assignment()

    def lag(self) -> dict[TopicPartition, int]:
        return self._inner.lag()

    def close(self) -> None:
        self._inner.close()


class SpiedBus(Bus):
    """The test's bus, except that consumers record every commit the loop makes."""

    def __init__(self, inner: Bus, commits: CommitLog) -> None:
        self._inner = inner
        self._commits = commits

    def create_topics(
        self, topics: Sequence[str], partitions: int = 0, *, compacted: bool = False
    ) -> None:
        self._inner.create_topics(topics, partitions, compacted=compacted)

    def partition_count(self, topic: str) -> int:
        return self._inner.partition_count(topic)

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        return self._inner.end_offsets(topic, partitions)

    def offsets_for_time(
        self, topic: str, partitions: Sequence[int], timestamp_ms: int
    ) -> dict[int, int]:
        return self._inner.offsets_for_time(topic, partitions, timestamp_ms)

    def producer(self, client_id: str = "socialcare") -> Producer:
        return self._inner.producer(client_id)

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        client_id: str = "socialcare",
        listener: PartitionListener | None = None,
    ) -> Consumer:
        inner = self._inner.consumer(group, topics, client_id, listener)
        return SpiedConsumer(inner, self._commits)

    def replay(
        self,
        topic: str,
        partitions: Collection[int] | None = None,
        start: Mapping[int, int] | None = None,
    ) -> Iterator[Record]:
        return self._inner.replay(topic, partitions, start)

    def close(self) -> None:
        """The inner bus belongs to the fixture."""


def _loop(
    bus: Bus, group: str, topic: str, processor: RecordProcessor, *, commit_interval_s: float
) -> ConsumerLoop:
    return ConsumerLoop(
        bus,
        group=group,
        topics=[topic],
        processor=processor,
        producer=bus.producer(),
        poll_timeout_s=0.1,
        max_backoff_s=0.2,
        commit_interval_s=commit_interval_s,
    )


def test_partitions_move_between_loops_without_committing_what_was_lost(loop_bus: Bus) -> None:
    topic, group = f"in-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex}"
    partitions = 4
    everything = frozenset(TopicPartition(topic, p) for p in range(partitions))
    loop_bus.create_topics([topic], partitions)
    keys = [f"case-{i}".encode() for i in range(80)]
    per_partition = Counter(partition_for(key, partitions) for key in keys)
    producer = loop_bus.producer()
    for i, key in enumerate(keys):
        producer.send(topic, f"r{i}".encode(), key=key)
    producer.flush()

    first_commits = CommitLog()
    first = PartitionAware()
    # Commits only at shutdown: while the second loop joins, every offset the first loop
    # processed is still pending.
    first_loop = _loop(
        SpiedBus(loop_bus, first_commits), group, topic, first, commit_interval_s=3600.0
    )
    first_thread = _run(first_loop)
    second = PartitionAware()
    second_loop = _loop(loop_bus, group, topic, second, commit_interval_s=0.0)
    second_thread: threading.Thread | None = None
    try:
        _until(lambda: len(first.processed) == 80 and first_loop.owned == everything)
        assert first.events == [("assigned", everything)]

        second_thread = _run(second_loop)
        _until(
            lambda: (
                bool(second_loop.owned)
                and not (first_loop.owned & second_loop.owned)
                and (first_loop.owned | second_loop.owned) == everything
            )
        )
        moved = second_loop.owned
        # Nothing of the moved partitions was committed: the second loop processes them
        # from the start (and nothing else).
        expected = sum(per_partition[tp.partition] for tp in moved)
        _until(lambda: len(second.processed) >= expected)
        assert second.partitions_seen() == set(moved)
        assert Counter(second.processed) == Counter(
            (tp, offset) for tp in moved for offset in range(per_partition[tp.partition])
        )
        assert first.events == [("assigned", everything), ("revoked", moved)]
        assert second.events == [("assigned", moved)]
        assert first_loop.owned == everything - moved
    finally:
        first_loop.stop()
        first_thread.join(30)
        second_loop.stop()
        if second_thread is not None:
            second_thread.join(30)

    assert first.violations == [] and second.violations == []
    # The first loop's only commit (at shutdown) named only the partitions it kept: the
    # pending offsets of the moved ones were dropped when they were revoked.
    assert first_commits.fenced == 0
    assert first_commits.attempts, "the shutdown commit happened"
    for offsets, owned in first_commits.attempts:
        assert set(offsets) <= everything - moved, offsets
        assert set(offsets) <= owned
    # Between them the loops committed everything: a new member finds nothing left.
    reader = loop_bus.consumer(group, [topic])
    try:
        deadline = time.monotonic() + 30
        while reader.assignment() != everything and time.monotonic() < deadline:
            assert reader.poll(100, 0.2) == []
        assert reader.lag() == dict.fromkeys(everything, 0)
    finally:
        reader.close()
    producer.close()


def test_a_failed_rebuild_is_retried_and_its_records_wait(loop_bus: Bus) -> None:
    topic, group = f"in-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex}"
    loop_bus.create_topics([topic], 2)
    producer = loop_bus.producer()
    for i in range(30):
        producer.send(topic, f"r{i}".encode(), key=f"k{i}".encode())
    producer.flush()

    processor = PartitionAware(failing_rebuilds=2)
    loop = _loop(loop_bus, group, topic, processor, commit_interval_s=0.0)
    errors: list[str | None] = []
    states: list[LoopState] = []
    thread = _run(loop)
    try:

        def settled() -> bool:
            errors.append(loop.last_error)
            states.append(loop.state)
            return len(processor.processed) >= 30

        _until(settled)
    finally:
        loop.stop()
        thread.join(30)
    producer.close()

    assert processor.rebuild_attempts == 3
    assert processor.violations == []
    assert processor.events == [("assigned", frozenset(TopicPartition(topic, p) for p in (0, 1)))]
    assert len(processor.processed) == 30, "each record once: none went through before"
    assert any(e and "changelog unavailable" in e for e in errors), "the failure was visible"
    assert LoopState.RUNNING in states
    assert loop.last_error is None
