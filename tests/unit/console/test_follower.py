"""The board's follower on a real embedded bus: it rebuilds from `care.cases` at start and
then follows it, telling subscribers only of changes after the rebuild."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from socialcare.console.board import CaseBoard, CaseFollower
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.runtime import Runtime

from .conftest import NOW, event, make_case


def wait_for(check: object, timeout_s: float = 10.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_follower_rebuilds_then_follows(tmp_path: Path, care_path: Path) -> None:
    runtime = Runtime(
        PlatformSettings(data_dir=tmp_path / "data", care_config=care_path, embedded_sync="normal")
    )
    try:
        producer = runtime.producer
        before = make_case("before", brand="acme")
        publish_effects(producer, [Emit(Topic.CASES, event(before))], source="test")
        producer.flush()
        board = CaseBoard(runtime.care, clock=lambda: NOW)
        follower = CaseFollower(runtime.bus, board)
        follower.start()
        try:
            wait_for(lambda: board.ready)
            assert board.get("before") is not None

            async def receive_one() -> str:
                subscription = board.subscribe(lambda case: True)
                after = make_case("after", brand="acme")
                publish_effects(producer, [Emit(Topic.CASES, event(after))], source="test")
                producer.flush()
                received = await asyncio.wait_for(subscription.queue.get(), 10)
                assert received.case is not None
                return received.case.id

            assert asyncio.run(receive_one()) == "after"
            assert board.get("after") is not None
        finally:
            follower.stop()
            follower.join(5)
    finally:
        runtime.close()
