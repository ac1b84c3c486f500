"""Exactly once across restarts: a scripted case life with every kind of milestone, killed
at every step and restarted from every older commit point.

A run is a sequence of loop iterations; each step is either a care.cases record (routing's
snapshot) or a tick at a time. Process A runs steps [0, kill); its offset was committed
after step `commit` - 1, so only what it emitted before `commit` is known durable — plus
whatever routing applied in the snapshots it wrote before the kill (routing read it from
care.sla, so it was published). Everything else A emitted is lost. Process B rebuilds from
the changelog (every snapshot written before the kill), gets the records of [commit, kill)
again, ticks at the last time A ticked, then lives on to the end. The distinct ids of A's
durable events and B's events must be exactly the life's milestones: none lost, none extra.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest

from socialcare.core.bus import TopicPartition
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.sla.processor import SlaProcessor
from socialcare.v1 import case_pb2
from tests.unit.memory_log import MemoryLog
from tests.unit.sla.lives import FR, NR, RES, Life, ids, minutes


@dataclass(frozen=True)
class Step:
    at: datetime
    snapshot: case_pb2.CaseEvent | None = None  # None: a tick
    applies: str = ""  # the SLA event id routing applied in this snapshot


def script() -> list[Step]:
    """Open, warnings and a breach (applied), a late answer, two customer turns (one next
    response warned then met before routing applied the warning, one answered late with no
    tick since it started), pauses, resolution, a reopening whose warnings and breach fire
    in one tick, and the final resolution."""
    life = Life("c1")
    steps: list[Step] = []

    def case(
        at: float, change: Callable[[datetime], case_pb2.CaseEvent], applies: str = ""
    ) -> None:
        steps.append(Step(minutes(at), change(minutes(at)), applies))

    def tick(at: float) -> None:
        steps.append(Step(minutes(at)))

    case(0, life.open)
    case(5, lambda at: life.assign("olivia", at))
    tick(45)
    case(45.5, lambda at: life.warned(False, 0.75, at), life.warning_id(False, 0.75))
    tick(54)
    case(54.5, lambda at: life.warned(False, 0.9, at), life.warning_id(False, 0.9))
    tick(61)
    case(61.5, lambda at: life.breached(False, at), life.breach_id(False))
    case(70, life.reply)
    case(100, life.customer)  # next response 1: warnings at 190 and 208, due at 220
    tick(195)
    case(200, life.reply)  # before routing applied the warning of 195
    case(230, life.customer)  # next response 2: warnings at 320 and 338, due at 350
    case(360, life.reply)  # late, and no tick since 230
    tick(365)
    case(400, life.resolve)
    case(500, life.reopen)
    tick(561)
    case(561.2, lambda at: life.warned(False, 0.75, at), life.warning_id(False, 0.75))
    case(561.4, lambda at: life.warned(False, 0.9, at), life.warning_id(False, 0.9))
    case(561.6, lambda at: life.breached(False, at), life.breach_id(False))
    case(600, life.resolve)
    tick(700)
    return steps


MILESTONES = (
    ids("c1", FR, 1, "started", "warning 0.75", "warning 0.9", "breached", "stopped")
    | ids("c1", RES, 1, "started", "paused 1", "resumed 1", "paused 2", "resumed 2", "paused 3")
    | ids("c1", RES, 1, "met")
    | ids("c1", NR, 1, "started", "warning 0.75", "met")
    | ids("c1", NR, 2, "started", "warning 0.75", "warning 0.9", "breached", "stopped")
    | ids("c1", FR, 2, "started", "warning 0.75", "warning 0.9", "breached", "stopped")
    | ids("c1", RES, 2, "started", "met")
)


PARTITION_0 = frozenset({TopicPartition(Topic.CASES, 0)})


class Clock:
    def __init__(self) -> None:
        self.now = minutes(0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def care() -> CareConfig:
    return load_care_config()


def run(
    care: CareConfig, steps: list[Step], log: MemoryLog, processor: SlaProcessor, clock: Clock
) -> list[list[str]]:
    """Run `steps` live: each step's emitted ids."""
    emitted = []
    for step in steps:
        clock.now = step.at
        if step.snapshot is None:
            effects = processor.tick()
        else:
            effects = processor.process(log.record(Emit(Topic.CASES, step.snapshot)))
        emitted.append([e.event_id for e in effects])
    return emitted


def test_an_uninterrupted_life_emits_each_milestone_once(care: CareConfig) -> None:
    log = MemoryLog(1)
    clock = Clock()
    processor = SlaProcessor(care, log, clock)
    processor.assigned(PARTITION_0)
    emitted = [i for ids_ in run(care, script(), log, processor, clock) for i in ids_]
    assert Counter(emitted) == Counter(MILESTONES)


def kill_points() -> list[tuple[int, int]]:
    count = len(script())
    return [(kill, commit) for kill in range(1, count + 1) for commit in range(kill + 1)]


def test_killed_at_any_step_and_restarted_from_any_commit_no_milestone_is_lost_or_extra(
    care: CareConfig,
) -> None:
    for kill, commit in kill_points():
        steps = script()
        log = MemoryLog(1)
        clock = Clock()
        first = SlaProcessor(care, log, clock)
        first.assigned(PARTITION_0)
        emitted = run(care, steps[:kill], log, first, clock)
        applied = {step.applies for step in steps[:kill] if step.applies}
        durable = {i for ids_ in emitted[:commit] for i in ids_}
        durable |= {i for ids_ in emitted[commit:] for i in ids_ if i in applied}

        second = SlaProcessor(care, log, clock)
        second.assigned(PARTITION_0)
        again: list[str] = []
        redelivered = list(log.replay(Topic.CASES.value, [0]))
        case_steps_before_commit = sum(1 for s in steps[:commit] if s.snapshot is not None)
        for record in redelivered[case_steps_before_commit:]:
            again.extend(e.event_id for e in second.process(record))
        ticks = [s.at for s in steps[:kill] if s.snapshot is None]
        if ticks:
            clock.now = ticks[-1]
            again.extend(e.event_id for e in second.tick())
        for ids_ in run(care, steps[kill:], log, second, clock):
            again.extend(ids_)
        assert durable | set(again) == MILESTONES, f"kill after step {kill}, commit {commit}"


def test_a_rebuild_emits_again_only_what_the_window_may_have_lost(care: CareConfig) -> None:
    """Restarting from the last commit of a quiet case publishes nothing again."""
    steps = script()
    log = MemoryLog(1)
    clock = Clock()
    first = SlaProcessor(care, log, clock)
    first.assigned(PARTITION_0)
    run(care, steps, log, first, clock)
    second = SlaProcessor(care, log, clock)
    second.assigned(PARTITION_0)
    assert second.tick() == []
