"""The consumer loop's part in tracing and lag: a record's effects continue its trace, a
timer's effects (`tick`) continue the trace of the last record with their key unless they
name their own, every span names the loop's service; lag is reported per partition and a
partition's series goes when the partition does. Real loops on the embedded log."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.consumer_loop import ConsumerLoop, RecordProcessor
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import decode
from socialcare.core.metrics import CONSUMER_LAG
from socialcare.core.telemetry import SERVICE_ATTRIBUTE
from socialcare.v1 import commands_pb2, sla_pb2
from tests.unit.metrics import sample

DEADLINE_S = 15.0
MESSAGE_TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
LAG = "socialcare_consumer_lag_records"


def traceparent(trace_id: str, span_id: str = "b7ad6b7169203331") -> str:
    return f"00-{trace_id}-{span_id}-01"


class TimerProcessor(RecordProcessor):
    """Remembers each command's case; at the next tick, one SLA event per case (a timer
    firing), and one for case `explicit` naming its own trace. Done once it emitted."""

    def __init__(self) -> None:
        self.cases: list[str] = []
        self.done = threading.Event()

    def process(self, record: Record) -> Sequence[Emit]:
        command = decode(record, commands_pb2.AgentCommand)
        self.cases.append(command.case_id)
        # An effect of the record itself: in the record's trace.
        return [
            Emit(
                Topic.SLA,
                sla_pb2.SlaEvent(event_id=f"now-{command.case_id}", case_id=command.case_id),
            )
        ]

    def tick(self) -> Sequence[Emit]:
        if len(self.cases) < 2 or self.done.is_set():
            return ()
        self.done.set()
        fired = [
            Emit(Topic.SLA, sla_pb2.SlaEvent(event_id=f"timer-{case}", case_id=case))
            for case in self.cases
        ]
        named = Emit(
            Topic.SLA,
            sla_pb2.SlaEvent(event_id="timer-explicit", case_id="case-a"),
            traceparent=traceparent(OTHER_TRACE),
        )
        unknown = Emit(Topic.SLA, sla_pb2.SlaEvent(event_id="timer-unknown", case_id="case-z"))
        return [*fired, named, unknown]


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    opened = EmbeddedBus(tmp_path / "bus", session_timeout_s=3.0, sync="normal")
    opened.create_topics([Topic.COMMANDS.value, Topic.SLA.value], 2)
    yield opened
    opened.close()


def send_command(bus: EmbeddedBus, case_id: str, trace_id: str) -> None:
    producer = bus.producer("test")
    command = commands_pb2.AgentCommand(command_id=uuid.uuid4().hex, case_id=case_id)
    producer.send(
        Topic.COMMANDS.value,
        command.SerializeToString(),
        key=case_id.encode(),
        headers=(
            ("event-type", b"socialcare.v1.AgentCommand"),
            ("traceparent", traceparent(trace_id).encode()),
        ),
    )
    producer.flush()


def sla_records(bus: EmbeddedBus) -> dict[str, Record]:
    consumer = bus.consumer(f"read-{uuid.uuid4().hex[:8]}", [Topic.SLA.value])
    try:
        found: dict[str, Record] = {}
        while batch := consumer.poll(500, timeout_s=0.3):
            for record in batch:
                found[decode(record, sla_pb2.SlaEvent).event_id] = record
        return found
    finally:
        consumer.close()


def trace_of(record: Record) -> str:
    header = record.header("traceparent")
    assert header is not None
    return header.decode().split("-")[1]


def run_until(loop: ConsumerLoop, done: threading.Event) -> None:
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        assert done.wait(DEADLINE_S), "the processor never finished"
    finally:
        loop.stop()
        thread.join(DEADLINE_S)


def test_record_and_timer_effects_continue_the_right_traces(
    bus: EmbeddedBus, spans: InMemorySpanExporter
) -> None:
    own_trace = "5ce0e9a56015fec5aadfa328ae398115"
    send_command(bus, "case-a", MESSAGE_TRACE)
    send_command(bus, "case-b", own_trace)
    processor = TimerProcessor()
    loop = ConsumerLoop(
        bus,
        group=f"timers-{uuid.uuid4().hex[:6]}",
        topics=[Topic.COMMANDS.value],
        processor=processor,
        producer=bus.producer("timers"),
        poll_timeout_s=0.05,
    )
    run_until(loop, processor.done)
    records = sla_records(bus)
    # A record's effects: its trace.
    assert trace_of(records["now-case-a"]) == MESSAGE_TRACE
    assert trace_of(records["now-case-b"]) == own_trace
    # A timer's effects: the trace of the last record with the same key...
    assert trace_of(records["timer-case-a"]) == MESSAGE_TRACE
    assert trace_of(records["timer-case-b"]) == own_trace
    # ... unless the effect names its own; a key never seen starts a trace of its own.
    assert trace_of(records["timer-explicit"]) == OTHER_TRACE
    assert trace_of(records["timer-unknown"]) not in {MESSAGE_TRACE, own_trace, OTHER_TRACE}
    # The loop's spans name the service of its processor (a test module: "other").
    consumer_spans = [s for s in spans.get_finished_spans() if s.kind.name == "CONSUMER"]
    assert len(consumer_spans) == 2
    assert {(s.attributes or {}).get(SERVICE_ATTRIBUTE) for s in consumer_spans} == {"other"}


class FakeLagConsumer:
    """Only what `_report_lag` reads: the lag of the partitions owned now."""

    def __init__(self) -> None:
        self.lags: dict[TopicPartition, int] = {}

    def lag(self) -> dict[TopicPartition, int]:
        return dict(self.lags)


def test_lag_is_reported_per_partition_and_goes_with_the_partition(bus: EmbeddedBus) -> None:
    group = f"lagging-{uuid.uuid4().hex[:6]}"
    loop = ConsumerLoop(
        bus,
        group=group,
        topics=[Topic.COMMANDS.value],
        processor=TimerProcessor(),
        producer=bus.producer("lag"),
        lag_interval_s=0.0,
    )
    topic = Topic.COMMANDS.value
    p0, p1, p2 = (TopicPartition(topic, n) for n in range(3))
    consumer = FakeLagConsumer()
    consumer.lags = {p0: 5, p1: 7}
    loop._report_lag(consumer)  # type: ignore[arg-type]
    assert sample(LAG, group=group, topic=topic, partition="0") == 5
    assert sample(LAG, group=group, topic=topic, partition="1") == 7
    assert loop.lag == 12
    # A rebalance: partition 1 went to another member (its series goes at revocation),
    # partition 2 came here.
    loop.on_revoked(frozenset({p1}))
    assert (group, topic, "1") not in label_sets()
    consumer.lags = {p0: 3, p2: 4}
    loop._report_lag(consumer)  # type: ignore[arg-type]
    assert sample(LAG, group=group, topic=topic, partition="0") == 3
    assert sample(LAG, group=group, topic=topic, partition="2") == 4
    assert (group, topic, "1") not in label_sets()
    # A partition lost without a revocation seen (the consumer's assignment just shrank).
    consumer.lags = {p2: 1}
    loop._report_lag(consumer)  # type: ignore[arg-type]
    assert {labels for labels in label_sets() if labels[0] == group} == {(group, topic, "2")}
    assert loop.lag == 1


def label_sets() -> set[tuple[str, str, str]]:
    return {
        (s.labels["group"], s.labels["topic"], s.labels["partition"])
        for family in CONSUMER_LAG.collect()
        for s in family.samples
    }
