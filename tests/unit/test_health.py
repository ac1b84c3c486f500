"""/healthz (liveness) and /readyz (readiness) over real consumer loops on the embedded log.

Each test runs real `ConsumerLoop`s on their `LoopComponent` threads with processors that
can be held (to stall the loop or a rebuild), fail their flush (a backend that is down)
or crash, and checks both endpoints' status code and the per-loop details they give.
"""

from __future__ import annotations

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
from socialcare.core.config import PlatformSettings
from socialcare.core.consumer_loop import ConsumerLoop, RecordProcessor
from socialcare.core.effects import Emit
from socialcare.core.runtime import Component, LoopComponent, Runtime, platform_router

DEADLINE_S = 15.0


class Controllable(RecordProcessor):
    """A processor the test steers: `hold_record` blocks processing of that record number,
    `hold_rebuild` blocks `assigned`, `down` fails every flush, `crash` fails `tick` with a
    bug (which ends the loop's thread)."""

    def __init__(self) -> None:
        self.processed = 0
        self.hold_record: int | None = None
        self.record_gate = threading.Event()
        self.hold_rebuild = False
        self.rebuild_gate = threading.Event()
        self.rebuilding = threading.Event()
        self.down = False
        self.crash = False

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        if self.hold_rebuild:
            self.rebuilding.set()
            self.rebuild_gate.wait(DEADLINE_S)

    def process(self, record: Record) -> Sequence[Emit]:
        if self.processed == self.hold_record:
            self.record_gate.wait(DEADLINE_S)
        self.processed += 1
        return ()

    def tick(self) -> Sequence[Emit]:
        if self.crash:
            raise RuntimeError("a bug in tick")
        return ()

    def flush(self) -> None:
        if self.down:
            raise BusError("search backend unavailable (simulated)")


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    opened = EmbeddedBus(tmp_path / "bus", session_timeout_s=3.0, sync="normal")
    yield opened
    opened.close()


class Loops:
    """Builds loop components on one bus and stops them all at teardown."""

    def __init__(self, bus: EmbeddedBus) -> None:
        self.bus = bus
        self.started: list[LoopComponent] = []

    def topic_with(self, records: int) -> str:
        topic = f"health-{uuid.uuid4().hex[:8]}"
        self.bus.create_topics([topic], 1)
        producer = self.bus.producer()
        for i in range(records):
            producer.send(topic, f"r{i}".encode(), key=b"k")
        producer.close()
        return topic

    def component(
        self,
        processor: RecordProcessor,
        topic: str,
        *,
        stall_timeout_s: float = 60.0,
        ready_max_lag: int = 10_000,
        batch_size: int = 500,
    ) -> LoopComponent:
        loop = ConsumerLoop(
            self.bus,
            group=f"health-{uuid.uuid4().hex[:8]}",
            topics=[topic],
            processor=processor,
            producer=self.bus.producer(),
            batch_size=batch_size,
            poll_timeout_s=0.05,
            max_backoff_s=0.1,
            lag_interval_s=0.0,
        )
        return LoopComponent(loop, stall_timeout_s=stall_timeout_s, ready_max_lag=ready_max_lag)

    def start(self, component: LoopComponent) -> LoopComponent:
        component.start()
        self.started.append(component)
        return component

    def stop_all(self) -> None:
        for component in self.started:
            component.stop()
        for component in self.started:
            component.join(DEADLINE_S)


@pytest.fixture
def loops(bus: EmbeddedBus) -> Iterator[Loops]:
    made = Loops(bus)
    yield made
    made.stop_all()


def client_for(components: Sequence[Component]) -> TestClient:
    app = FastAPI()
    app.include_router(platform_router(components))
    return TestClient(app)


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def status(client: TestClient, path: str) -> tuple[int, dict[str, Any]]:
    response = client.get(path)
    body: dict[str, Any] = response.json()
    return response.status_code, body


def test_a_loop_not_started_is_neither_live_nor_ready(loops: Loops) -> None:
    component = loops.component(Controllable(), loops.topic_with(0))
    client = client_for([component])

    code, body = status(client, "/healthz")
    assert code == 503
    assert body["status"] == "failing"
    loop = body["loops"][component.name]
    assert loop["live"] is False
    assert loop["thread_alive"] is False
    assert loop["problem"] == "the loop's thread is not running"
    assert status(client, "/readyz")[0] == 503


def test_a_caught_up_loop_is_live_and_ready_with_its_details(loops: Loops) -> None:
    processor = Controllable()
    component = loops.start(loops.component(processor, loops.topic_with(5)))
    client = client_for([component])

    until(lambda: status(client, "/readyz")[0] == 200, "the loop to be ready")

    code, body = status(client, "/readyz")
    assert body["status"] == "ready"
    assert processor.processed == 5
    assert body["loops"][component.name] | {"seconds_since_progress": 0} == {
        "state": "running",
        "live": True,
        "ready": True,
        "problem": None,
        "lag": 0,
        "last_error": None,
        "seconds_since_progress": 0,
        "thread_alive": True,
    }
    code, body = status(client, "/healthz")
    assert (code, body["status"]) == (200, "ok")
    assert "version" in body


def test_a_loop_whose_backend_is_down_is_live_but_not_ready(loops: Loops) -> None:
    processor = Controllable()
    processor.down = True
    component = loops.start(loops.component(processor, loops.topic_with(3)))
    client = client_for([component])

    until(lambda: component.loop.last_error is not None, "the first failed flush")
    code, body = status(client, "/readyz")
    assert (code, body["status"]) == (503, "not ready")
    loop = body["loops"][component.name]
    assert loop["state"] == "retrying"
    assert "search backend unavailable" in loop["last_error"]
    assert loop["problem"].startswith("the loop is retrying") or loop["problem"].startswith(
        "the last attempt failed"
    )
    # Retrying is progress: the process must not be restarted for a backend outage.
    assert status(client, "/healthz")[0] == 200

    processor.down = False
    until(lambda: status(client, "/readyz")[0] == 200, "readiness once the backend is back")
    assert status(client, "/readyz")[1]["loops"][component.name]["last_error"] is None


def test_a_lagging_loop_is_not_ready_and_a_stuck_one_not_live(loops: Loops) -> None:
    processor = Controllable()
    processor.hold_record = 1  # the second record blocks the loop
    component = loops.start(
        loops.component(
            processor, loops.topic_with(20), stall_timeout_s=0.5, ready_max_lag=5, batch_size=1
        )
    )
    client = client_for([component])

    until(lambda: component.loop.lag is not None, "the first lag measurement")
    code, body = status(client, "/readyz")
    assert code == 503
    loop = body["loops"][component.name]
    assert loop["lag"] == 19
    assert loop["problem"] == "catching up: lag 19 > 5"

    until(lambda: status(client, "/healthz")[0] == 503, "the stuck loop to fail liveness")
    loop = status(client, "/healthz")[1]["loops"][component.name]
    assert loop["live"] is False
    assert loop["thread_alive"] is True
    assert loop["problem"].startswith("no progress for")

    processor.record_gate.set()
    until(lambda: status(client, "/readyz")[0] == 200, "the loop to catch up")
    assert processor.processed == 20
    assert status(client, "/healthz")[0] == 200


def test_a_rebuilding_loop_is_live_however_long_it_takes_but_not_ready(loops: Loops) -> None:
    processor = Controllable()
    processor.hold_rebuild = True
    component = loops.start(loops.component(processor, loops.topic_with(3), stall_timeout_s=0.2))
    client = client_for([component])

    assert processor.rebuilding.wait(DEADLINE_S)
    time.sleep(0.4)  # longer than the stall timeout, on purpose
    code, body = status(client, "/healthz")
    assert code == 200
    assert body["loops"][component.name]["state"] == "rebuilding"
    code, body = status(client, "/readyz")
    assert code == 503
    assert body["loops"][component.name]["problem"] == "the loop is rebuilding"

    processor.rebuild_gate.set()
    until(lambda: status(client, "/readyz")[0] == 200, "readiness after the rebuild")
    assert processor.processed == 3


def test_one_crashed_loop_fails_liveness_of_the_process(loops: Loops) -> None:
    healthy = loops.start(loops.component(Controllable(), loops.topic_with(1)))
    crashing = Controllable()
    crashing.crash = True
    broken = loops.start(loops.component(crashing, loops.topic_with(1)))
    client = client_for([healthy, broken])

    until(lambda: not broken.alive, "the crashing loop's thread to end")
    until(lambda: healthy.health().ready, "the healthy loop to be ready")
    code, body = status(client, "/healthz")
    assert (code, body["status"]) == (503, "failing")
    assert body["loops"][healthy.name]["live"] is True
    assert body["loops"][broken.name]["problem"] == "the loop's thread is not running"
    assert status(client, "/readyz")[0] == 503


def test_a_process_without_loops_is_live_and_ready() -> None:
    client = client_for([])
    assert status(client, "/healthz")[0] == 200
    code, body = status(client, "/readyz")
    assert (code, body["loops"]) == (200, {})


def test_thresholds_come_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCIALCARE_READY_MAX_LAG", "7")
    monkeypatch.setenv("SOCIALCARE_LOOP_STALL_TIMEOUT_S", "12.5")
    settings = PlatformSettings(data_dir=tmp_path)
    runtime = Runtime(settings)
    try:
        component = runtime.consumer_loop("health-settings", Controllable(), ["health-topic"])
        assert (component.ready_max_lag, component.stall_timeout_s) == (7, 12.5)
    finally:
        runtime.close()
    assert PlatformSettings().ready_max_lag == 7
    monkeypatch.delenv("SOCIALCARE_READY_MAX_LAG")
    assert PlatformSettings().ready_max_lag == 10_000
