"""The sla processor over real records: per-partition books rebuilt from exactly the
partitions assigned, dropped on revoke, breaches only for owned partitions, and what a
rebuild emits again (same event ids) or not."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from socialcare.core.bus import BusError, Record, TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.sla.domain import breach_id, met_id
from socialcare.sla.processor import SlaProcessor
from socialcare.v1 import case_pb2, sla_pb2
from tests.unit.factories import T0
from tests.unit.memory_log import MemoryLog
from tests.unit.metrics import sample
from tests.unit.sla.test_sla_book import case_event

PARTITIONS = 4
DUE = T0 + timedelta(minutes=60)
LATE = T0 + timedelta(hours=2)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def cases_in(log: MemoryLog, partition: int, count: int) -> list[str]:
    """`count` case ids whose records land in `partition` (as routing chooses them)."""
    ids = (f"case-{n}" for n in itertools.count())
    return list(itertools.islice((i for i in ids if log.partition_of(i) == partition), count))


def cases(partition: int) -> frozenset[TopicPartition]:
    return frozenset({TopicPartition(Topic.CASES, partition)})


def breaches_of(effects: Sequence[Emit]) -> dict[str, str]:
    """case id -> breach event id, checking every effect is a breach on care.sla."""
    found = {}
    for effect in effects:
        assert effect.topic is Topic.SLA
        assert isinstance(effect.message, sla_pb2.SlaEvent)
        assert effect.message.type == sla_pb2.SLA_EVENT_TYPE_BREACHED
        found[effect.message.case_id] = effect.message.event_id
    return found


def first_responses() -> float:
    return sample(
        "socialcare_first_response_seconds_count",
        language="en",
        channel="facebook",
        queue="care-en",
    )


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog(PARTITIONS)


def open_cases(log: MemoryLog, partitions: Collection[int], count: int = 2) -> dict[int, list[str]]:
    """Running clocks due at DUE for `count` cases in each partition, on care.cases."""
    opened = {p: cases_in(log, p, count) for p in partitions}
    for ids in opened.values():
        log.append(Emit(Topic.CASES, case_event(1, case_id=i)) for i in ids)
    return opened


def test_it_handles_care_cases_only() -> None:
    assert SlaProcessor(MemoryLog(PARTITIONS), Clock(T0)).topics == (Topic.CASES.value,)


def test_assigned_partitions_rebuild_exactly_their_cases_clocks(log: MemoryLog) -> None:
    opened = open_cases(log, range(PARTITIONS))
    processor = SlaProcessor(log, Clock(T0))
    processor.assigned(cases(0) | cases(2))
    assert log.replays == [(Topic.CASES.value, (0, 2))]
    assert set(processor.books) == {0, 2}
    assert set(processor.books[0].clocks) == set(opened[0])
    assert set(processor.books[2].clocks) == set(opened[2])


def test_a_revoked_partition_is_forgotten_and_breaches_only_come_from_owned_ones(
    log: MemoryLog,
) -> None:
    opened = open_cases(log, range(PARTITIONS))
    clock = Clock(T0)
    processor = SlaProcessor(log, clock)
    processor.assigned(cases(0) | cases(2))
    processor.revoked(cases(0))
    assert set(processor.books) == {2}
    clock.now = LATE
    assert breaches_of(processor.tick()) == {i: breach_id(i, DUE) for i in opened[2]}
    assert processor.tick() == []
    assert len(log.replays) == 1, "a revoke rebuilds nothing"


def test_live_records_emit_met_and_observe_the_first_response_once(log: MemoryLog) -> None:
    [case_id] = open_cases(log, [1], count=1)[1]
    processor = SlaProcessor(log, Clock(T0 + timedelta(minutes=10)))
    processor.assigned(cases(1))
    answered = log.record(Emit(Topic.CASES, case_event(2, case_id=case_id, answered_minutes=10)))
    before = first_responses()
    [met] = processor.process(answered)
    assert met.topic is Topic.SLA and met.key == case_id
    assert isinstance(met.message, sla_pb2.SlaEvent)
    assert (met.message.type, met.event_id) == (
        sla_pb2.SLA_EVENT_TYPE_MET,
        met_id(case_id, DUE),
    )
    assert first_responses() == before + 1
    assert processor.process(answered) == []
    assert first_responses() == before + 1


def test_after_a_restart_an_unapplied_breach_comes_again_with_its_id_and_an_applied_one_not(
    log: MemoryLog,
) -> None:
    [case_id] = open_cases(log, [3], count=1)[3]
    first = SlaProcessor(log, Clock(LATE))
    first.assigned(cases(3))
    assert breaches_of(first.tick()) == {case_id: breach_id(case_id, DUE)}
    assert first.tick() == []

    restarted = SlaProcessor(log, Clock(LATE))
    restarted.assigned(cases(3))
    assert breaches_of(restarted.tick()) == {case_id: breach_id(case_id, DUE)}

    applied = case_event(
        2,
        case_id=case_id,
        state=case_pb2.SLA_STATE_BREACHED,
        applied_ids=(breach_id(case_id, DUE),),
    )
    log.append([Emit(Topic.CASES, applied)])
    after_routing = SlaProcessor(log, Clock(LATE))
    after_routing.assigned(cases(3))
    assert after_routing.tick() == []


def test_a_rebuild_observes_nothing_and_the_uncommitted_answer_emits_met_again(
    log: MemoryLog,
) -> None:
    [case_id] = cases_in(log, 2, 1)
    [opened, answered] = log.append(
        [
            Emit(Topic.CASES, case_event(1, case_id=case_id)),
            Emit(Topic.CASES, case_event(2, case_id=case_id, answered_minutes=5)),
        ]
    )
    before = first_responses()
    processor = SlaProcessor(log, Clock(LATE))
    processor.assigned(cases(2))
    assert first_responses() == before
    # Neither record was committed: both come again, in order, after the rebuild.
    assert processor.process(opened) == []
    [met] = processor.process(answered)
    assert met.event_id == met_id(case_id, DUE)
    assert processor.tick() == []
    assert first_responses() == before


def test_discard_rebuilds_the_owned_partitions_so_unflushed_breaches_come_again(
    log: MemoryLog,
) -> None:
    opened = open_cases(log, [0, 1])
    processor = SlaProcessor(log, Clock(LATE))
    processor.assigned(cases(0) | cases(1))
    expected = {i: breach_id(i, DUE) for i in opened[0] + opened[1]}
    assert breaches_of(processor.tick()) == expected
    processor.discard()
    assert breaches_of(processor.tick()) == expected
    assert log.replays == [(Topic.CASES.value, (0, 1))] * 2


class FailingOnce:
    """A changelog whose first replay fails midway, like a broker going away."""

    def __init__(self, log: MemoryLog) -> None:
        self.log = log
        self.failed = False

    def replay(self, topic: str, partitions: Collection[int] | None = None) -> Iterator[Record]:
        records = self.log.replay(topic, partitions)
        if not self.failed:
            self.failed = True
            yield next(records)
            raise BusError("broker went away")
        yield from records


def test_a_failed_replay_leaves_the_partition_unbuilt_and_the_next_tick_builds_it(
    log: MemoryLog,
) -> None:
    opened = open_cases(log, [1])
    processor = SlaProcessor(FailingOnce(log), Clock(LATE))
    with pytest.raises(BusError):
        processor.assigned(cases(1))
    assert processor.books == {}
    assert breaches_of(processor.tick()) == {i: breach_id(i, DUE) for i in opened[1]}
    assert set(processor.books) == {1}


def test_over_the_embedded_log_only_the_assigned_partitions_are_read(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path, default_partitions=PARTITIONS, sync="normal")
    try:
        bus.create_topics([Topic.CASES.value], PARTITIONS, compacted=True)
        layout = MemoryLog(PARTITIONS)  # the same partitioner: where each case lands
        opened = {p: cases_in(layout, p, 2) for p in range(PARTITIONS)}
        producer = bus.producer("routing")
        publish_effects(
            producer,
            [Emit(Topic.CASES, case_event(1, case_id=i)) for ids in opened.values() for i in ids],
            source="routing",
        )
        producer.flush()
        producer.close()
        processor = SlaProcessor(bus, Clock(LATE))
        processor.assigned(cases(0) | cases(2))
        assert {p: set(book.clocks) for p, book in processor.books.items()} == {
            0: set(opened[0]),
            2: set(opened[2]),
        }
        processor.revoked(cases(0))
        assert breaches_of(processor.tick()) == {i: breach_id(i, DUE) for i in opened[2]}
    finally:
        bus.close()
