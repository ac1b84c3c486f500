"""Tombstones through the real consumer loop on the embedded bus: a tombstone on an input
topic reaches the processor's `tombstone` hook (never a typed handler, never the DLQ), and a
`Tombstone` effect it returns is produced and committed like any other effect."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from socialcare.core.bus import Record
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.consumer_loop import ConsumerLoop, TypedProcessor
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone, publish_effects
from socialcare.v1 import case_pb2

PARTITIONS = 2


class Forgetter(TypedProcessor):
    """Keeps the cases it saw; on a case's tombstone forgets it and tombstones its holding."""

    def __init__(self) -> None:
        super().__init__()
        self.cases: set[str] = set()
        self.tombstones: list[str] = []
        self.on(Topic.CASES, case_pb2.CaseEvent, self._on_case)

    def _on_case(self, event: case_pb2.CaseEvent, record: Record) -> Sequence[Emit]:
        self.cases.add(event.case.id)
        return ()

    def tombstone(self, record: Record) -> Sequence[Emit]:
        assert record.key is not None
        case_id = record.key.decode()
        self.cases.discard(case_id)
        self.tombstones.append(case_id)
        return [Tombstone.of(Topic.ASSIGNMENTS_CHANGELOG, case_id, erasure_id="er-1")]


def wait_until(check: object, timeout_s: float = 20.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_tombstones_flow_through_the_loop(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path, default_partitions=PARTITIONS, sync="normal")
    bus.create_topics([Topic.CASES.value], PARTITIONS, compacted=True)
    bus.create_topics([Topic.ASSIGNMENTS_CHANGELOG.value], 1, compacted=True)
    processor = Forgetter()
    producer = bus.producer("test")
    loop = ConsumerLoop(
        bus,
        group="forgetter",
        topics=processor.topics,
        processor=processor,
        producer=producer,
        commit_interval_s=0.0,
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        assert loop.ready.wait(10)
        routing = bus.producer("routing")
        events = [
            Emit(Topic.CASES, case_pb2.CaseEvent(event_id=f"e-{i}", case=case_pb2.Case(id=i)))
            for i in ("c1", "c2")
        ]
        publish_effects(routing, [*events, Tombstone.of(Topic.CASES, "c1")], source="routing")
        routing.flush()
        routing.close()
        wait_until(lambda: processor.tombstones == ["c1"] and processor.cases == {"c2"})

        def produced() -> list[Record]:
            return list(bus.replay(Topic.ASSIGNMENTS_CHANGELOG.value))

        wait_until(lambda: len(produced()) == 1)
        [record] = produced()
        assert record.tombstone and record.key == b"c1"
        assert record.header("erasure-id") == b"er-1"
        assert list(bus.replay(Topic.CASES.dlq)) == []
    finally:
        loop.stop()
        thread.join(10)
        producer.close()
    # The group committed past the tombstone (at the latest on shutdown): a new member of
    # it is handed nothing.
    consumer = bus.consumer("forgetter", [Topic.CASES.value])
    try:
        again = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            again += consumer.poll(100, 0.2)
        assert again == []
    finally:
        consumer.close()
        bus.close()
