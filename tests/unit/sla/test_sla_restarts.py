"""Exactly once across restarts: a scripted case life with every kind of milestone, killed
at every step, restarted from every older commit point, with every amount of its output
since that commit on care.sla.

A run is a sequence of loop iterations; each step is either a care.cases record (routing's
snapshot) or a tick at a time. Process A runs steps [0, kill); its offset was committed
after step `commit` - 1, and what it emitted in steps [0, flushed) reached care.sla
(commit <= flushed <= kill: a flush may succeed without the commit that follows it) —
plus whatever routing applied in the snapshots it wrote before the kill (routing read it
from care.sla, so it was published). Everything else A emitted is lost. Process B
rebuilds from the changelog (every snapshot written before the kill) and the tail of
care.sla, gets the records of [commit, kill) again, ticks at the last time A ticked, then
lives on to the end. What A published and what B publishes must be exactly the life's
milestones, each once: none lost, none published twice. A tail shorter than what was
published since the changelog caught up lets B publish an older id again (same id; the
documented window).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
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
    steps: list[Step], log: MemoryLog, processor: SlaProcessor, clock: Clock
) -> list[list[Emit]]:
    """Run `steps` live: each step's effects (not published: the caller says what lands)."""
    emitted = []
    for step in steps:
        clock.now = step.at
        if step.snapshot is None:
            effects = processor.tick()
        else:
            effects = processor.process(log.record(Emit(Topic.CASES, step.snapshot)))
        emitted.append(list(effects))
    return emitted


def ids_of(effects: Sequence[Sequence[Emit]]) -> list[str]:
    return [effect.event_id for step in effects for effect in step]


def test_an_uninterrupted_life_emits_each_milestone_once(care: CareConfig) -> None:
    log = MemoryLog(1)
    clock = Clock()
    processor = SlaProcessor(care, log, clock)
    processor.assigned(PARTITION_0)
    assert Counter(ids_of(run(script(), log, processor, clock))) == Counter(MILESTONES)


def kill_points() -> list[tuple[int, int, int]]:
    """(kill, commit, flushed) with commit <= flushed <= kill."""
    count = len(script())
    return [
        (kill, commit, flushed)
        for kill in range(1, count + 1)
        for commit in range(kill + 1)
        for flushed in range(commit, kill + 1)
    ]


def uninterrupted(care: CareConfig, steps: list[Step]) -> list[list[Emit]]:
    """What A emits at each step (a process killed after step k emitted the first k)."""
    log = MemoryLog(1)
    clock = Clock()
    first = SlaProcessor(care, log, clock)
    first.assigned(PARTITION_0)
    return run(steps, log, first, clock)


def restart(
    care: CareConfig,
    steps: list[Step],
    emitted: list[list[Emit]],
    point: tuple[int, int, int],
    tail_records: int = 50_000,
) -> tuple[list[str], list[str]]:
    """A (which emitted `emitted` at each step) dies after step `kill`, committed after
    `commit`, its output of steps before `flushed` (and what routing applied) on care.sla;
    B takes over. (ids on care.sla when A died, in the order A published them; ids B
    publishes, in order)"""
    kill, commit, flushed = point
    log = MemoryLog(1)
    log.append(Emit(Topic.CASES, step.snapshot) for step in steps[:kill] if step.snapshot)
    applied = {step.applies for step in steps[:kill] if step.applies}
    landed = [e for step in emitted[:flushed] for e in step]
    landed += [e for step in emitted[flushed:kill] for e in step if e.event_id in applied]
    log.append(landed)

    clock = Clock()
    clock.now = steps[kill - 1].at
    second = SlaProcessor(care, log, clock, tail_records=tail_records)
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
    again.extend(ids_of(run(steps[kill:], log, second, clock)))
    return [e.event_id for e in landed], again


def test_killed_at_any_step_and_restarted_from_any_commit_none_is_lost_or_published_twice(
    care: CareConfig,
) -> None:
    steps = script()
    emitted = uninterrupted(care, steps)
    points = kill_points()
    assert len(points) > 1000
    for point in points:
        published, again = restart(care, steps, emitted, point)
        assert set(published) | set(again) == MILESTONES, f"kill, commit, flushed: {point}"
        twice = {i for i, n in Counter(published + again).items() if n > 1}
        assert not twice, f"kill, commit, flushed: {point}"


def test_without_a_tail_the_rebuild_publishes_again_what_it_cannot_tell_was_published(
    care: CareConfig,
) -> None:
    """tail_records=0: the windows the tail closes are open (none lost, some twice)."""
    steps = script()
    emitted = uninterrupted(care, steps)
    twice = 0
    for point in kill_points():
        if point[1] == point[2]:  # flushed = commit: what A published since is lost
            published, again = restart(care, steps, emitted, point, tail_records=0)
            assert set(published) | set(again) == MILESTONES, f"kill, commit, flushed: {point}"
            twice += len(set(published) & set(again))
    assert twice > 0


def test_an_id_older_than_the_tail_may_be_published_again(care: CareConfig) -> None:
    """The documented window. A case opened at 0 (two STARTEDs); A's tick at 61 min
    published WARNING 0.75, WARNING 0.9 and BREACHED of its first response, in that order,
    and A died before routing applied any. B reads a tail of two records: the breach and
    the 0.9 warning are in it and stay unpublished; the 0.75 warning is older than the
    tail and is published again, same id. A tail of three covers it."""
    life = Life("c1")
    steps = [Step(minutes(0), life.open(minutes(0))), Step(minutes(61))]
    fired = [
        *ids("c1", FR, 1, "warning 0.75"),
        *ids("c1", FR, 1, "warning 0.9"),
        *ids("c1", FR, 1, "breached"),
    ]
    emitted = uninterrupted(care, steps)
    published, again = restart(care, steps, emitted, (2, 2, 2), tail_records=2)
    assert published[2:] == fired
    assert again == fired[:1]
    published, again = restart(care, steps, emitted, (2, 2, 2), tail_records=3)
    assert again == []


def test_a_rebuild_emits_again_only_what_the_window_may_have_lost(care: CareConfig) -> None:
    """Restarting from the last commit of a quiet case publishes nothing again."""
    steps = script()
    log = MemoryLog(1)
    clock = Clock()
    first = SlaProcessor(care, log, clock)
    first.assigned(PARTITION_0)
    run(steps, log, first, clock)
    second = SlaProcessor(care, log, clock)
    second.assigned(PARTITION_0)
    assert second.tick() == []
