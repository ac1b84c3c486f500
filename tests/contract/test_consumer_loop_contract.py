"""The consumer loop's promises, on the embedded log and on a real Kafka broker:
poison records go to `<topic>.dlq` with the reason while the rest is processed, offsets
are committed only after effects are durable, and stop() drains and commits."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry import trace

from socialcare.core import telemetry
from socialcare.core.bus import Bus, BusError, Producer, Record
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.consumer_loop import ConsumerLoop, RecordProcessor
from socialcare.core.events import InvalidRecordError, publish
from socialcare.v1.message_pb2 import Author


@pytest.fixture(params=["embedded", "kafka"])
def loop_bus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bus]:
    if request.param == "embedded":
        bus: Bus = EmbeddedBus(tmp_path, session_timeout_s=3.0, sync="normal")
    else:
        from socialcare.core.bus.kafka import KafkaBus

        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"))
    yield bus
    bus.close()


class Forwarding(RecordProcessor):
    """Copies each record to an output topic; b"poison" is invalid, b"flaky" fails once."""

    def __init__(self, producer: Producer, output: str) -> None:
        self.producer = producer
        self.output = output
        self.seen: list[bytes] = []
        self.failed_once: set[bytes] = set()

    def process(self, record: Record) -> None:
        if record.value == b"poison":
            raise InvalidRecordError("value is poison, cannot be parsed")
        if record.value.startswith(b"flaky") and record.value not in self.failed_once:
            self.failed_once.add(record.value)
            raise RuntimeError("first attempt fails")
        self.seen.append(record.value)
        self.producer.send(self.output, record.value, key=record.key, headers=record.headers)


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

    def process(self, record: Record) -> None:
        self.processed += 1

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

    def process(self, record: Record) -> None:
        self.trace_ids.append(trace.get_current_span().get_span_context().trace_id)


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
