"""The sla-metrics processor and its Prometheus collector over real records: counting,
snapshots in sla.metrics-state, restore (snapshot + the tail of care.sla) equal to counting
from scratch, partitions moving between instances, a process dying between commit and
scrape, and the exposition (labels bounded by the config)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.domain.sla_reports import Tally
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.sla.ledger_processor import GROUP, LedgerProcessor
from socialcare.sla.metrics_collector import attainment_targets, register_sla_metrics
from socialcare.v1 import incident_pb2, sla_pb2
from tests.unit.factories import T0
from tests.unit.loop_support import loop_thread, wait_until
from tests.unit.memory_log import MemoryLog
from tests.unit.sla.test_ledger import (
    AT_RISK,
    BREACHED,
    MET,
    NEXT,
    STARTED,
    STOPPED,
    WARNING,
    care,
    random_events,
    sla_event,
)

PARTITIONS = 4


class Log(MemoryLog):
    """The in-memory log with the one more thing the ledger asks of a bus."""

    def partition_count(self, topic: str) -> int:
        return self.partitions

    def records(self, topic: Topic) -> list[Record]:
        return [r for r in self.sent if r.topic == topic.value]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def sla(*partitions: int) -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(Topic.SLA, p) for p in partitions)


def processor(log: Log, clock: Clock | None = None, **options: timedelta) -> LedgerProcessor:
    return LedgerProcessor(care(), changelog=log, clock=clock or Clock(), **options)


def publish(log: Log, events: list[sla_pb2.SlaEvent]) -> list[Record]:
    return log.append(Emit(Topic.SLA, event) for event in events)


def feed(ledgers: LedgerProcessor, log: Log, records: list[Record]) -> None:
    """What the consumer loop does with a batch: process each record, tick, publish."""
    for record in records:
        assert not ledgers.process(record)
    log.append(ledgers.tick())


def exposition(ledgers: LedgerProcessor) -> str:
    registry = CollectorRegistry()
    register_sla_metrics(ledgers, care(), registry)
    return generate_latest(registry).decode()


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample `name{labels}` in an exposition, None when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def total(text: str, name: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def test_counts_and_snapshots_every_batch_that_counted() -> None:
    log = Log(PARTITIONS)
    ledgers = processor(log, snapshot_interval=timedelta(0))
    ledgers.assigned(sla(*range(PARTITIONS)))
    records = publish(
        log,
        [
            sla_event("a", MET, elapsed=45),
            sla_event("b", BREACHED),
            sla_event("b", STOPPED, elapsed=4000),
            sla_event("c", WARNING, threshold=0.75),
        ],
    )
    feed(ledgers, log, records)
    snapshots = log.records(Topic.SLA_METRICS_STATE)
    touched = {r.partition for r in records}
    heads = [r for r in snapshots if r.key and r.key.endswith(b"|head")]
    assert {int(r.key.decode()[1:].split("|")[0]) for r in heads if r.key} == touched
    # Deterministic ids: the same state snapshotted again is the same record.
    decoded = incident_pb2.StateSnapshot()
    decoded.ParseFromString(heads[0].value)
    assert decoded.through_offset >= 0 and len(decoded.snapshot_id) == 32

    feed(ledgers, log, [])  # nothing new: nothing written
    assert len(log.records(Topic.SLA_METRICS_STATE)) == len(snapshots)

    text = exposition(ledgers)
    labels = {"channel": "x", "language": "en", "queue": "care-en", "priority": "normal"}
    met = value(
        text,
        "socialcare_sla_met_total",
        clock="first_response",
        partition=str(records[0].partition),
        **labels,
    )
    assert met == 1 == total(text, "socialcare_sla_met_total")
    assert total(text, "socialcare_sla_breaches_total") == 1
    assert total(text, "socialcare_first_response_seconds_count") == 2


def test_snapshots_at_most_every_interval() -> None:
    log = Log(1)
    clock = Clock()
    ledgers = processor(log, clock, snapshot_interval=timedelta(seconds=10))
    ledgers.assigned(sla(0))
    feed(ledgers, log, publish(log, [sla_event("a", MET)]))
    first = len(log.records(Topic.SLA_METRICS_STATE))
    assert first > 0
    clock.now += timedelta(seconds=5)
    feed(ledgers, log, publish(log, [sla_event("b", MET)]))
    assert len(log.records(Topic.SLA_METRICS_STATE)) == first
    clock.now += timedelta(seconds=5)
    feed(ledgers, log, [])
    assert len(log.records(Topic.SLA_METRICS_STATE)) > first


def test_a_new_owner_restores_snapshot_plus_tail_equal_to_counting_from_scratch() -> None:
    log = Log(PARTITIONS)
    events = random_events(21, 600)
    records = publish(log, events)
    # A processor with no snapshot to start from counts the whole topic while restoring.
    scratch_log = Log(PARTITIONS)
    scratch_log.append(Emit(Topic.SLA, e) for e in events)
    scratch = processor(scratch_log)
    scratch.assigned(sla(*range(PARTITIONS)))

    first = processor(log, snapshot_interval=timedelta(0))
    first.assigned(sla(*range(PARTITIONS)))
    # Counted everything: the first owner saw the records live, 100 at a time, with
    # snapshots; and re-delivered batches on top (counted once).
    first_half = records[:350]
    for start in range(0, len(first_half), 100):
        feed(first, log, first_half[start : start + 100])
    feed(first, log, first_half[:200])
    assert log.replays.count((Topic.SLA_METRICS_STATE.value, None)) == 1

    # The first owner dies. The next reads the snapshots and replays care.sla after them.
    second = processor(log)
    second.assigned(sla(*range(PARTITIONS)))
    assert second.series() == scratch.series()
    assert list(second.hourly(T0, T0 + timedelta(days=60))) == list(
        scratch.hourly(T0, T0 + timedelta(days=60))
    )
    # Live records it already replayed are skipped by offset.
    feed(second, log, records[300:])
    assert second.series() == scratch.series()


def test_a_moved_partition_continues_from_the_same_totals() -> None:
    log = Log(2)
    a = processor(log, snapshot_interval=timedelta(0))
    a.assigned(sla(0, 1))
    records = publish(log, random_events(5, 200))
    feed(a, log, records)
    before = {(p, key): t for p, key, t in a.series()}
    assert {p for p, _ in before} == {0, 1}

    a.revoked(sla(1))
    assert {p for p, _, _ in a.series()} == {0}  # its series vanish here ...
    b = processor(log)
    b.assigned(sla(1))  # ... and appear there, with the same values
    moved = {(p, key): t for p, key, t in b.series()}
    assert moved == {k: t for k, t in before.items() if k[0] == 1}
    assert 'partition="1"' in exposition(b) and 'partition="1"' not in exposition(a)


def test_a_process_dying_between_commit_and_scrape_loses_nothing() -> None:
    """Counted, committed (the loop commits after the batch), never scraped, process gone:
    the next process exposes exactly what the first would have, from the snapshot and the
    tail of care.sla - even when the last batch's snapshot was never written."""
    log = Log(PARTITIONS)
    clock = Clock()
    first = processor(log, clock, snapshot_interval=timedelta(minutes=5))
    first.assigned(sla(*range(PARTITIONS)))
    records = publish(log, random_events(8, 300))
    feed(first, log, records[:150])  # snapshot written
    feed(first, log, records[150:])  # within the interval: no snapshot for these
    expected = exposition(first)
    del first

    second = processor(log, clock)
    second.assigned(sla(*range(PARTITIONS)))
    assert exposition(second) == expected


def test_a_failed_flush_keeps_the_counts_and_rewrites_every_cell() -> None:
    log = Log(1)
    ledgers = processor(log, snapshot_interval=timedelta(0))
    ledgers.assigned(sla(0))
    records = publish(log, [sla_event("a", MET), sla_event("b", MET, language="nl")])
    for record in records:
        ledgers.process(record)
    lost = ledgers.tick()  # the flush of these fails: the loop discards
    assert lost
    series = ledgers.series()
    ledgers.discard()
    replays = len(log.replays)
    ledgers.assigned(sla(0))  # the loop re-assigns what it owns: no replay needed
    assert len(log.replays) == replays
    assert ledgers.series() == series
    for record in records:  # redelivered: skipped by offset
        ledgers.process(record)
    assert ledgers.series() == series
    rewritten = ledgers.tick()
    assert {e.key for e in rewritten} == {e.key for e in lost}


def test_an_event_published_again_after_a_restart_counts_once() -> None:
    """A re-emission lands after the snapshot was taken and the process restarted: the
    id window travels in the snapshot."""
    log = Log(1)
    first = processor(log, snapshot_interval=timedelta(0))
    first.assigned(sla(0))
    breach = sla_event("a", BREACHED, at=T0)
    feed(first, log, publish(log, [breach, sla_event("b", STARTED, at=T0)]))
    second = processor(log)
    second.assigned(sla(0))
    feed(second, log, publish(log, [sla_event("c", AT_RISK, at=T0), breach]))
    [(_, _, totals)] = second.series()
    assert (totals.tally.breached, totals.tally.at_risk) == (1, 1)


def test_an_unreadable_snapshot_counts_the_partition_from_the_start() -> None:
    log = Log(1)
    publish(log, [sla_event("a", MET), sla_event("b", MET)])
    log.append(
        [
            Emit(
                Topic.SLA_METRICS_STATE,
                incident_pb2.StateSnapshot(key="p0|head", through_offset=1, state=b"garbage"),
            )
        ]
    )
    ledgers = processor(log)
    ledgers.assigned(sla(0))
    [(_, _, totals)] = ledgers.series()
    assert totals.tally.met == 2


def test_a_record_of_an_unassigned_partition_starts_from_its_snapshot() -> None:
    log = Log(1)
    first = processor(log, snapshot_interval=timedelta(0))
    first.assigned(sla(0))
    feed(first, log, publish(log, [sla_event("a", MET)]))
    second = processor(log)
    [record] = publish(log, [sla_event("b", MET)])
    second.process(record)
    [(_, _, totals)] = second.series()
    assert totals.tally.met == 2


def test_hourly_view_merges_partitions_and_names_them() -> None:
    log = Log(PARTITIONS)
    ledgers = processor(log)
    ledgers.assigned(sla(*range(PARTITIONS)))
    events = [sla_event(f"c{n}", MET, elapsed=60, at=T0 + timedelta(minutes=n)) for n in range(40)]
    records = publish(log, events)
    assert len({r.partition for r in records}) > 1
    feed(ledgers, log, records)
    partitions, count, rows = ledgers.hourly_view(T0, T0 + timedelta(hours=1))
    assert partitions == frozenset(range(PARTITIONS)) and count == PARTITIONS
    [(hour, key, tally)] = rows
    assert hour == T0.replace(tzinfo=UTC) and key.language == "en"
    assert tally.met == 40 and tally.observed == 40
    # Hours that start inside the window: none here.
    assert ledgers.hourly_view(T0 + timedelta(minutes=1), T0 + timedelta(hours=1))[2] == []
    assert list(ledgers.hourly(T0, T0 + timedelta(hours=1))) == rows
    assert ledgers.retention == timedelta(days=35)

    ledgers.revoked(sla(0))
    partitions, _, rows = ledgers.hourly_view(T0, T0 + timedelta(hours=1))
    assert partitions == frozenset(range(1, PARTITIONS))
    assert rows[0][2].met == 40 - sum(1 for r in records if r.partition == 0)


def test_exposition_labels_histograms_and_targets() -> None:
    log = Log(1)
    ledgers = processor(log)
    ledgers.assigned(sla(0))
    feed(
        ledgers,
        log,
        publish(
            log,
            [
                sla_event("a", MET, language="tlh", elapsed=45),  # not a configured language
                sla_event("b", MET, clock=NEXT, elapsed=20000),
                sla_event("c", WARNING, threshold=0.9),
                sla_event("d", AT_RISK, priority="urgent"),
            ],
        ),
    )
    text = exposition(ledgers)
    assert "tlh" not in text
    other = {"channel": "x", "language": "other", "partition": "0", "priority": "normal"}
    other["queue"] = "care-en"
    first = "socialcare_first_response_seconds"
    assert value(text, f"{first}_bucket", le="30.0", **other) == 0
    assert value(text, f"{first}_bucket", le="60.0", **other) == 1
    assert value(text, f"{first}_bucket", le="604800.0", **other) == 1
    assert value(text, f"{first}_bucket", le="+Inf", **other) == 1
    assert value(text, f"{first}_sum", **other) == 45
    assert value(text, f"{first}_count", **other) == 1
    en = {**other, "language": "en"}
    assert value(text, "socialcare_next_response_seconds_bucket", le="14400.0", **en) == 0
    assert value(text, "socialcare_next_response_seconds_bucket", le="28800.0", **en) == 1
    assert value(text, "socialcare_resolution_seconds_count", **en) is None
    warned = {**en, "clock": "first_response", "threshold": "0.9"}
    assert value(text, "socialcare_sla_warnings_total", **warned) == 1
    risky = {**en, "clock": "first_response", "priority": "urgent"}
    assert value(text, "socialcare_sla_at_risk_total", **risky) == 1
    # The strictest policy naming the language; the catch-all's for the others.
    assert value(text, "socialcare_sla_attainment_target", language="en") == 0.99
    assert value(text, "socialcare_sla_attainment_target", language="nl") == 0.9
    assert value(text, "socialcare_sla_attainment_target", language="other") == 0.9
    assert set(attainment_targets(care())) == {"en", "nl", "de", "other"}


def test_the_collector_registers_once_per_registry() -> None:
    ledgers = processor(Log(1))
    registry = CollectorRegistry()
    register_sla_metrics(ledgers, care(), registry)
    with pytest.raises(ValueError, match="Duplicated"):
        register_sla_metrics(ledgers, care(), registry)


def test_tally_shape_for_reports() -> None:
    assert len(Tally().buckets) == 17


class Seen:
    """The bus as the ledger reads it, noting where each care.sla replay starts; with
    `snapshots=False` it hides sla.metrics-state, so a ledger restored through it counts
    care.sla from the beginning (what every figure must equal)."""

    def __init__(self, bus: EmbeddedBus, *, snapshots: bool = True) -> None:
        self._bus = bus
        self._snapshots = snapshots
        self.starts: list[Mapping[int, int]] = []

    def replay(
        self,
        topic: str,
        partitions: Collection[int] | None = None,
        start: Mapping[int, int] | None = None,
    ) -> Iterator[Record]:
        if topic == Topic.SLA_METRICS_STATE and not self._snapshots:
            return iter(())
        if topic == Topic.SLA:
            self.starts.append(dict(start or {}))
        return self._bus.replay(topic, partitions, start)

    def partition_count(self, topic: str) -> int:
        return self._bus.partition_count(topic)


def run_until(bus: EmbeddedBus, ledgers: LedgerProcessor, done: Callable[[], bool]) -> None:
    """Run the real consumer loop (group sla-metrics) until `done()`, then stop it."""
    with loop_thread(bus, ledgers, GROUP, commit_interval_s=0.05):
        wait_until(done, 30)
    assert done()


def publish_on(bus: EmbeddedBus, events: list[sla_pb2.SlaEvent]) -> None:
    producer = bus.producer("sla")
    publish_effects(producer, [Emit(Topic.SLA, e) for e in events], source="sla")
    producer.flush()
    producer.close()


def counted(ledgers: LedgerProcessor) -> int:
    return sum(
        t.tally.met + t.tally.breached + t.tally.warnings + t.tally.at_risk
        for _, _, t in ledgers.series()
    )


def test_over_the_embedded_bus_and_the_real_loop_a_restart_counts_everything_once(
    tmp_path: Path,
) -> None:
    bus = EmbeddedBus(tmp_path, default_partitions=PARTITIONS, sync="normal")
    try:
        bus.create_topics([Topic.SLA.value], PARTITIONS)
        bus.create_topics([Topic.SLA_METRICS_STATE.value], 1, compacted=True)
        events = random_events(31, 400)
        publish_on(bus, events[:250])
        scratch = LedgerProcessor(care(), changelog=Seen(bus, snapshots=False))
        scratch.assigned(sla(*range(PARTITIONS)))
        first_target = counted(scratch)

        first = LedgerProcessor(care(), changelog=bus, snapshot_interval=timedelta(0))
        run_until(bus, first, lambda: counted(first) == first_target)
        assert list(bus.replay(Topic.SLA_METRICS_STATE.value))  # snapshots were written

        # The first process is gone (and its offsets committed); more events come (some
        # published again), and a new process takes over.
        publish_on(bus, events[250:] + events[240:250])
        scratch = LedgerProcessor(care(), changelog=Seen(bus, snapshots=False))
        scratch.assigned(sla(*range(PARTITIONS)))
        seen = Seen(bus)
        second = LedgerProcessor(care(), changelog=seen)
        run_until(bus, second, lambda: second.series() == scratch.series())
        assert exposition(second) == exposition(scratch)
        # It started from the snapshots, not from the beginning of care.sla.
        assert seen.starts and all(start for start in seen.starts[0].values())
    finally:
        bus.close()
