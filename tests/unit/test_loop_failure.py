"""A consumer loop whose `prepare()` or `assigned()` raises a non-transient error.

Such a loop cannot go on (its processor's state may be half built), so it ends as FAILED:
its state, its last error (naming the hook) and an ERROR log say why, /healthz and /readyz
answer 503 with that, nothing past the durable point is committed, and its partitions go to
another member of the group. Real `ConsumerLoop`s on `LoopComponent` threads, on the
embedded log.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from socialcare.core.bus import BusError, Record, TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.consumer_loop import ConsumerLoop, LoopState, RecordProcessor
from socialcare.core.effects import Emit
from socialcare.core.runtime import LoopComponent, platform_router

DEADLINE_S = 15.0


class Broken(RecordProcessor):
    """`prepare` and `assigned` raise what the test sets (transient ones first, if given);
    `process` counts the records it saw."""

    def __init__(
        self,
        *,
        prepare_errors: Sequence[Exception] = (),
        assigned_errors: Sequence[Exception] = (),
    ) -> None:
        self.prepare_errors = list(prepare_errors)
        self.assigned_errors = list(assigned_errors)
        self.prepare_calls = 0
        self.processed: list[bytes] = []
        self.seen = threading.Event()

    def prepare(self) -> None:
        self.prepare_calls += 1
        if self.prepare_errors:
            raise self.prepare_errors.pop(0)

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        if self.assigned_errors:
            raise self.assigned_errors.pop(0)

    def process(self, record: Record) -> Sequence[Emit]:
        self.processed.append(record.value)
        self.seen.set()
        return ()


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    opened = EmbeddedBus(tmp_path / "bus", session_timeout_s=3.0, sync="normal")
    yield opened
    opened.close()


def topic_with(bus: EmbeddedBus, records: int) -> str:
    topic = f"failure-{uuid.uuid4().hex[:8]}"
    bus.create_topics([topic], 1)
    producer = bus.producer()
    for i in range(records):
        producer.send(topic, f"r{i}".encode(), key=b"k")
    producer.close()
    return topic


def component(
    bus: EmbeddedBus, processor: RecordProcessor, topic: str, group: str
) -> LoopComponent:
    loop = ConsumerLoop(
        bus,
        group=group,
        topics=[topic],
        processor=processor,
        producer=bus.producer(),
        poll_timeout_s=0.05,
        commit_interval_s=0.05,
        max_backoff_s=0.05,
        lag_interval_s=0.0,
    )
    return LoopComponent(loop)


@pytest.fixture
def started() -> Iterator[list[LoopComponent]]:
    components: list[LoopComponent] = []
    yield components
    for c in components:
        c.stop()
    for c in components:
        c.join(DEADLINE_S)


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def probes(loop: LoopComponent) -> dict[str, tuple[int, dict[str, Any]]]:
    app = FastAPI()
    app.include_router(platform_router([loop]))
    client = TestClient(app)
    answers = {}
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        answers[path] = (response.status_code, response.json()["loops"][loop.name])
    return answers


def failure_logs(caplog: pytest.LogCaptureFixture, group: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR
        and r.name == "socialcare.core.consumer_loop"
        and getattr(r, "group", None) == group
    ]


def test_a_broken_prepare_ends_the_loop_as_failed_and_both_probes_say_why(
    bus: EmbeddedBus, started: list[LoopComponent], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="socialcare.core.consumer_loop")
    # A transient error first: retried as before; then a bug: the loop ends.
    processor = Broken(
        prepare_errors=[BusError("bus not up yet"), FileNotFoundError("models/lexicon.bin")]
    )
    loop = component(bus, processor, topic_with(bus, 2), "failure-prepare")
    started.append(loop)
    loop.start()

    until(lambda: not loop.alive, "the loop's thread to end")

    assert processor.prepare_calls == 2
    assert processor.processed == []
    assert loop.loop.state is LoopState.FAILED
    assert loop.loop.last_error == "prepare() failed: FileNotFoundError: models/lexicon.bin"
    for path, (code, report) in probes(loop).items():
        assert code == 503, path
        assert report["state"] == "failed"
        assert report["last_error"] == loop.loop.last_error
    [logged] = failure_logs(caplog, "failure-prepare")
    assert logged.exc_info is not None and "restart the process" in logged.getMessage()


def test_a_broken_assigned_fails_the_loop_and_its_partitions_go_to_another_member(
    bus: EmbeddedBus, started: list[LoopComponent], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="socialcare.core.consumer_loop")
    topic = topic_with(bus, 3)
    broken = Broken(assigned_errors=[KeyError("changelog entry for case-7")])
    first = component(bus, broken, topic, "failure-assigned")
    started.append(first)
    first.start()

    until(lambda: not first.alive, "the failing member's thread to end")
    assert first.loop.state is LoopState.FAILED
    assert first.loop.last_error == (
        f"assigned({topic}[0]) failed: KeyError: 'changelog entry for case-7'"
    )
    assert broken.processed == []
    [code, report] = probes(first)["/readyz"]
    assert (code, report["state"]) == (503, "failed")
    assert len(failure_logs(caplog, "failure-assigned")) == 1

    # The failed member left the group and committed nothing: a healthy member of the same
    # group gets the partition and reads it from the first record.
    healthy = Broken()
    second = component(bus, healthy, topic, "failure-assigned")
    started.append(second)
    second.start()
    until(lambda: len(healthy.processed) == 3, "the other member to take the partition over")
    assert healthy.processed == [b"r0", b"r1", b"r2"]
    assert second.loop.state is LoopState.RUNNING


def test_a_loop_stopped_on_request_is_stopped_not_failed(
    bus: EmbeddedBus, started: list[LoopComponent]
) -> None:
    processor = Broken()
    loop = component(bus, processor, topic_with(bus, 1), "failure-none")
    started.append(loop)
    loop.start()
    assert processor.seen.wait(DEADLINE_S)
    loop.stop()
    loop.join(DEADLINE_S)
    assert not loop.alive
    assert (loop.loop.state, loop.loop.last_error) == (LoopState.STOPPED, None)
