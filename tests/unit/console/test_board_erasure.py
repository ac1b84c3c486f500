"""An erased case leaves the console board (issue 12): at the rebuild (its tombstone after
its events on care.cases) and live, where the browsers that could see it hear `erased`
without the case."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from socialcare.console.board import CaseBoard, CaseFollower
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone, publish_effects
from socialcare.core.runtime import Runtime

from .conftest import NOW, event, make_case


def wait_for(check: object, timeout_s: float = 10.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_an_erased_case_leaves_the_board_at_the_rebuild_and_live(
    tmp_path: Path, care_path: Path
) -> None:
    runtime = Runtime(
        PlatformSettings(data_dir=tmp_path / "data", care_config=care_path, embedded_sync="normal")
    )
    try:
        producer = runtime.producer
        cases = {name: make_case(name, brand="acme") for name in ("gone", "kept", "later")}
        publish_effects(
            producer,
            [Emit(Topic.CASES, event(case)) for case in cases.values()]
            + [Tombstone.of(Topic.CASES, "gone", erasure_id="er-1")],
            source="test",
        )
        producer.flush()
        board = CaseBoard(runtime.care, clock=lambda: NOW)
        follower = CaseFollower(runtime.bus, board)
        follower.start()
        try:
            wait_for(lambda: board.ready)
            assert board.get("gone") is None
            assert {c.id for c in board.cases()} == {"kept", "later"}

            async def erase_live() -> tuple[str, object]:
                acme = board.subscribe(lambda case: case.brand == "acme")
                others = board.subscribe(lambda case: case.brand != "acme")
                publish_effects(
                    producer, [Tombstone.of(Topic.CASES, "later", erasure_id="er-2")], source="t"
                )
                producer.flush()
                received = await asyncio.wait_for(acme.queue.get(), 10)
                assert others.queue.empty()
                return received.type, received.case

            assert asyncio.run(erase_live()) == ("erased", None)
            assert board.get("later") is None
            assert board.get("kept") is not None
            # A tombstone of a case the board never had tells nobody anything.
            assert board.forget("never-seen") is False
        finally:
            follower.stop()
            follower.join(5)
    finally:
        runtime.close()
