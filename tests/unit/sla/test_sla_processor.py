"""The sla processor over real records: per-partition books rebuilt from exactly the
partitions assigned (care.cases, then the tail of the same partitions of care.sla), dropped
on revoke, timers only for owned partitions, what a rebuild emits again (same event ids) or
not (on care.sla already), and the gauges read from the live books."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from socialcare.core.bus import BusError, Record, TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.sla.domain import sla_event_id
from socialcare.sla.processor import SlaProcessor, register_sla_gauges
from socialcare.v1 import sla_pb2
from tests.unit.memory_log import MemoryLog
from tests.unit.sla.lives import FR, Life, minutes

PARTITIONS = 4
LATE = minutes(61)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def care() -> CareConfig:
    return load_care_config()


def cases_in(log: MemoryLog, partition: int, count: int) -> list[str]:
    """`count` case ids whose records land in `partition` (as routing chooses them)."""
    ids = (f"case-{n}" for n in itertools.count())
    return list(itertools.islice((i for i in ids if log.partition_of(i) == partition), count))


def cases(partition: int) -> frozenset[TopicPartition]:
    return frozenset({TopicPartition(Topic.CASES, partition)})


def breaches_of(effects: Sequence[Emit]) -> dict[str, str]:
    """case id -> breach event id of the first-response clocks (warnings skipped), checking
    every effect is an SLA event on care.sla keyed by its case."""
    found = {}
    for effect in effects:
        assert effect.topic is Topic.SLA
        assert isinstance(effect.message, sla_pb2.SlaEvent)
        assert effect.key == effect.message.case_id
        if effect.message.type == sla_pb2.SLA_EVENT_TYPE_BREACHED:
            found[effect.message.case_id] = effect.message.event_id
    return found


def sla_type(effect: Emit) -> int:
    assert isinstance(effect.message, sla_pb2.SlaEvent)
    return effect.message.type


def breach_ids(case_ids: Collection[str]) -> dict[str, str]:
    """case id -> the id of the breach of its first first-response clock."""
    return {i: sla_event_id(i, FR, 1, "breached") for i in case_ids}


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog(PARTITIONS)


def open_cases(log: MemoryLog, partitions: Collection[int], count: int = 2) -> dict[int, list[str]]:
    """Open cases (clocks due at 60 minutes) in each partition, on care.cases."""
    opened = {p: cases_in(log, p, count) for p in partitions}
    for ids in opened.values():
        log.append(Emit(Topic.CASES, Life(i).open(minutes(0))) for i in ids)
    return opened


def test_it_handles_care_cases_only(care: CareConfig) -> None:
    assert SlaProcessor(care, MemoryLog(PARTITIONS), Clock(LATE)).topics == (Topic.CASES.value,)


def test_assigned_partitions_rebuild_exactly_their_cases(log: MemoryLog, care: CareConfig) -> None:
    opened = open_cases(log, range(PARTITIONS))
    processor = SlaProcessor(care, log, Clock(minutes(0)))
    processor.assigned(cases(0) | cases(2))
    assert log.replays == [(Topic.CASES.value, (0, 2))]
    assert set(processor.books) == {0, 2}
    for partition in (0, 2):
        book = processor.books[partition]
        assert len(book) == 2 and all(book.version(i) == 1 for i in opened[partition])


def test_a_revoked_partition_is_forgotten_and_timers_only_fire_for_owned_ones(
    log: MemoryLog, care: CareConfig
) -> None:
    opened = open_cases(log, range(PARTITIONS))
    clock = Clock(minutes(0))
    processor = SlaProcessor(care, log, clock)
    processor.assigned(cases(0) | cases(2))
    processor.revoked(cases(0))
    assert set(processor.books) == {2}
    clock.now = LATE
    assert breaches_of(processor.tick()) == breach_ids(opened[2])
    assert processor.tick() == []
    assert len(log.replays) == 1, "a revoke rebuilds nothing"


def test_live_records_emit_their_milestones_once(log: MemoryLog, care: CareConfig) -> None:
    [case_id] = cases_in(log, 1, 1)
    life = Life(case_id)
    opened = log.record(Emit(Topic.CASES, life.open(minutes(0))))
    processor = SlaProcessor(care, log, Clock(minutes(10)))
    processor.assigned(cases(1))
    answered = log.record(Emit(Topic.CASES, life.reply(minutes(10))))
    # The open is in the rebuild and comes again (not committed): its STARTEDs, same ids.
    assert {sla_type(e) for e in processor.process(opened)} == {sla_pb2.SLA_EVENT_TYPE_STARTED}
    effects = processor.process(answered)
    assert [(e.topic, e.key, sla_type(e)) for e in effects] == [
        (Topic.SLA, case_id, sla_pb2.SLA_EVENT_TYPE_MET),
        (Topic.SLA, case_id, sla_pb2.SLA_EVENT_TYPE_PAUSED),
    ]
    assert processor.process(answered) == [], "seen live: a redelivery is stale"
    assert processor.process(opened) == []


def test_after_a_restart_an_unapplied_breach_comes_again_with_its_id_and_an_applied_one_not(
    log: MemoryLog, care: CareConfig
) -> None:
    [case_id] = open_cases(log, [3], count=1)[3]
    first = SlaProcessor(care, log, Clock(LATE))
    first.assigned(cases(3))
    assert breaches_of(first.tick()) == breach_ids([case_id])
    assert first.tick() == []

    restarted = SlaProcessor(care, log, Clock(LATE))
    restarted.assigned(cases(3))
    assert breaches_of(restarted.tick()) == breach_ids([case_id])

    life = Life(case_id)
    life.open(minutes(0))
    life.warned(False, 0.75, minutes(45))
    life.warned(False, 0.9, minutes(54))
    log.append([Emit(Topic.CASES, life.breached(False, minutes(60)))])
    after_routing = SlaProcessor(care, log, Clock(LATE))
    after_routing.assigned(cases(3))
    assert after_routing.tick() == []


def test_discard_rebuilds_the_owned_partitions_so_unflushed_timers_come_again(
    log: MemoryLog, care: CareConfig
) -> None:
    opened = open_cases(log, [0, 1])
    processor = SlaProcessor(care, log, Clock(LATE))
    processor.assigned(cases(0) | cases(1))
    first = processor.tick()
    assert breaches_of(first) == breach_ids(opened[0] + opened[1])
    assert len(first) == 3 * 4, "two warnings and a breach per case"
    processor.discard()
    assert [e.event_id for e in processor.tick()] == [e.event_id for e in first]
    assert log.replays == [(Topic.CASES.value, (0, 1))] * 2


def test_gauges_are_read_from_the_live_books_with_bounded_labels(
    log: MemoryLog, care: CareConfig
) -> None:
    opened = open_cases(log, [0, 2])
    stranger = Life(cases_in(log, 2, 3)[2])
    stranger.case.language = "tlh"
    stranger.case.queue = "gone"
    log.append([Emit(Topic.CASES, stranger.open(minutes(0)))])
    clock = Clock(minutes(1))
    processor = SlaProcessor(care, log, clock)
    processor.assigned(cases(0) | cases(2))
    registry = CollectorRegistry()
    register_sla_gauges(processor, care, registry)

    def value(name: str, partition: int, language: str = "en", queue: str = "care-en") -> float:
        labels = {"language": language, "queue": queue, "partition": str(partition)}
        return registry.get_sample_value(name, labels) or 0.0

    assert value("socialcare_queue_depth", 0) == 2
    assert value("socialcare_queue_depth", 2) == 2
    assert value("socialcare_queue_depth", 2, "other", "other") == 1
    assert value("socialcare_sla_at_risk_cases", 0) == 0
    clock.now = minutes(46)
    processor.tick()
    assert value("socialcare_sla_at_risk_cases", 0) == 2
    processor.revoked(cases(0))
    assert (
        registry.get_sample_value(
            "socialcare_queue_depth", {"language": "en", "queue": "care-en", "partition": "0"}
        )
        is None
    ), "a revoked partition's series disappear"
    assert value("socialcare_sla_at_risk_cases", 2) == 2
    del opened


def test_a_rebuild_reads_the_tail_of_the_assigned_care_sla_partitions_only(
    log: MemoryLog, care: CareConfig
) -> None:
    """What the previous owner published on partitions 0 and 2 is not published again;
    partition 1's care.sla (not assigned) is not read; a tail of 0 reads nothing."""
    opened = open_cases(log, range(PARTITIONS))
    previous = SlaProcessor(care, log, Clock(LATE))
    previous.assigned(cases(0) | cases(1) | cases(2))
    log.append(previous.tick())  # flushed; the process dies before routing applies any
    del log.replays[:]
    restarted = SlaProcessor(care, log, Clock(LATE))
    restarted.assigned(cases(0) | cases(2))
    assert log.replays == [(Topic.CASES.value, (0, 2)), (Topic.SLA.value, (0, 2))]
    assert {p: book.published_ids() for p, book in restarted.books.items()} == {0: 6, 2: 6}
    assert restarted.tick() == []
    untailed = SlaProcessor(care, log, Clock(LATE), tail_records=0)
    untailed.assigned(cases(0) | cases(2))
    assert breaches_of(untailed.tick()) == breach_ids(opened[0] + opened[2])
    with pytest.raises(ValueError, match="tail_records"):
        SlaProcessor(care, log, Clock(LATE), tail_records=-1)


def test_discard_after_a_flush_that_landed_publishes_nothing_again(
    log: MemoryLog, care: CareConfig
) -> None:
    """A flush failed after its records reached care.sla (the loop cannot tell): the
    rebuilt books read them in the tail and stay silent."""
    open_cases(log, [0, 1])
    processor = SlaProcessor(care, log, Clock(LATE))
    processor.assigned(cases(0) | cases(1))
    log.append(processor.tick())
    processor.discard()
    assert processor.tick() == []


class FailingOnce:
    """A changelog whose first replay fails midway, like a broker going away."""

    def __init__(self, log: MemoryLog) -> None:
        self.log = log
        self.failed = False

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        return self.log.end_offsets(topic, partitions)

    def replay(
        self,
        topic: str,
        partitions: Collection[int] | None = None,
        start: Mapping[int, int] | None = None,
    ) -> Iterator[Record]:
        records = self.log.replay(topic, partitions, start)
        if not self.failed:
            self.failed = True
            yield next(records)
            raise BusError("broker went away")
        yield from records


def test_a_failed_replay_leaves_the_partition_unbuilt_and_the_next_tick_builds_it(
    log: MemoryLog, care: CareConfig
) -> None:
    opened = open_cases(log, [1])
    processor = SlaProcessor(care, FailingOnce(log), Clock(LATE))
    with pytest.raises(BusError):
        processor.assigned(cases(1))
    assert processor.books == {}
    assert breaches_of(processor.tick()) == breach_ids(opened[1])
    assert set(processor.books) == {1}


def test_over_the_embedded_log_only_the_assigned_partitions_are_read(
    tmp_path: Path, care: CareConfig
) -> None:
    bus = EmbeddedBus(tmp_path, default_partitions=PARTITIONS, sync="normal")
    try:
        bus.create_topics([Topic.CASES.value], PARTITIONS, compacted=True)
        layout = MemoryLog(PARTITIONS)  # the same partitioner: where each case lands
        opened = {p: cases_in(layout, p, 2) for p in range(PARTITIONS)}
        producer = bus.producer("routing")
        publish_effects(
            producer,
            [Emit(Topic.CASES, Life(i).open(minutes(0))) for ids in opened.values() for i in ids],
            source="routing",
        )
        producer.flush()
        producer.close()
        processor = SlaProcessor(care, bus, Clock(LATE))
        processor.assigned(cases(0) | cases(2))
        assert {p: len(book) for p, book in processor.books.items()} == {0: 2, 2: 2}
        assert all(processor.books[p].version(i) == 1 for p in (0, 2) for i in opened[p])
        processor.revoked(cases(0))
        fired = processor.tick()
        assert breaches_of(fired) == breach_ids(opened[2])
        producer = bus.producer("sla")
        publish_effects(producer, fired, source="sla")
        producer.flush()
        producer.close()
        restarted = SlaProcessor(care, bus, Clock(LATE))
        restarted.assigned(cases(2))
        assert restarted.books[2].published_ids() == len(fired)
        assert restarted.tick() == [], "what is on care.sla is not published again"
    finally:
        bus.close()
