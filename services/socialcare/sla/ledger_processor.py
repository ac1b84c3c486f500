"""The sla-metrics consumer-loop plug-in: a `PartitionLedger` per owned care.sla partition.

Why its figures survive anything: a ledger is a pure function of a prefix of its care.sla
partition (every offset up to `through`), and care.sla is durable before it is read. So
  * on `assigned`, a partition's ledger is restored from its last snapshot in the compacted
    sla.metrics-state and brought up to date by replaying care.sla from the offset after
    the snapshot to the partition's end; live records at or below that end are then
    skipped by offset. Where the group's committed offset lies does not matter: the replay
    starts from the snapshot, not from the commit, so a process that dies after committing
    and before its snapshot (or its next scrape) loses nothing;
  * snapshots therefore need not travel with every commit: `tick` writes the changed cells
    at most every `snapshot_interval` (0 = after every batch that counted something). What
    that trades is restore time (the tail of care.sla to replay, at most one interval) for
    write volume: sla.metrics-state keeps every record for a day before compaction
    (`min.compaction.lag.ms`), and a restore reads all of it;
  * `discard` (the loop's effects were not made durable) keeps the ledgers - they count
    records, not effects - and marks every cell changed, so the next snapshot rewrites
    whatever the failed flush may have lost. The loop's `assigned` that follows restores
    only partitions without a ledger.

Readers on other threads (the Prometheus collector, the gRPC ReportService) take the lock
for a copy; counting takes it per record (uncontended: tens of nanoseconds).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.clock import Clock, to_timestamp, utc_now
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.sla_reports import OutcomeKey, Tally
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, decode, derived_id
from socialcare.core.snapshots import ReplayLog
from socialcare.sla.ledger import (
    Cell,
    Labels,
    PartitionLedger,
    SeriesKey,
    SeriesTotals,
)
from socialcare.v1 import incident_pb2, sla_pb2

log = logging.getLogger(__name__)
GROUP = "sla-metrics"

DEFAULT_RETENTION = timedelta(days=35)
DEFAULT_ID_WINDOW = timedelta(minutes=15)
DEFAULT_SNAPSHOT_INTERVAL = timedelta(seconds=10)

Hourly = tuple[datetime, OutcomeKey, Tally]


class LedgerLog(ReplayLog, Protocol):
    """What the processor needs of the bus (`Bus.replay`, `Bus.partition_count`)."""

    def partition_count(self, topic: str) -> int:
        """How many partitions `topic` has."""
        ...


class LedgerProcessor(TypedProcessor):
    """Counts care.sla into per-partition ledgers; see the module docstring."""

    def __init__(
        self,
        care: CareConfig,
        changelog: LedgerLog,
        clock: Clock = utc_now,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        id_window: timedelta = DEFAULT_ID_WINDOW,
        snapshot_interval: timedelta = DEFAULT_SNAPSHOT_INTERVAL,
    ) -> None:
        super().__init__()
        if retention < timedelta(hours=1) or retention % timedelta(hours=1):
            raise ValueError("the retention of hourly tallies must be whole hours")
        self._labels = Labels.from_care(care)
        self._changelog = changelog
        self._clock = clock
        self._retention_hours = retention // timedelta(hours=1)
        self._id_window_s = int(id_window.total_seconds())
        self._interval = snapshot_interval
        self._lock = threading.Lock()
        self._ledgers: dict[int, PartitionLedger] = {}
        self._partition_count = 0
        self._last_snapshot: datetime | None = None
        self.on(Topic.SLA, sla_pb2.SlaEvent, self._on_sla)

    @property
    def retention(self) -> timedelta:
        """How far back hourly tallies are kept (relative to the newest event counted)."""
        return timedelta(hours=self._retention_hours)

    # -- the loop's hooks ----------------------------------------------------------------
    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        count = self._changelog.partition_count(Topic.SLA)
        with self._lock:
            self._partition_count = count
            missing = _sla_partitions(partitions) - self._ledgers.keys()
        if not missing:
            return
        restored = self._restore(missing)
        with self._lock:
            for partition, ledger in restored.items():
                self._ledgers.setdefault(partition, ledger)

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        with self._lock:
            for partition in _sla_partitions(partitions):
                self._ledgers.pop(partition, None)

    def discard(self) -> None:
        with self._lock:
            for ledger in self._ledgers.values():
                ledger.touch_all()
        self._last_snapshot = None  # rewrite at the next tick what may have been lost

    def tick(self) -> Sequence[Emit]:
        now = self._clock()
        if self._last_snapshot is not None and now - self._last_snapshot < self._interval:
            return ()
        with self._lock:
            cells = [cell for ledger in self._ledgers.values() for cell in ledger.snapshot()]
        if not cells:
            return ()
        self._last_snapshot = now
        taken_at = to_timestamp(now)
        return [
            Emit(
                Topic.SLA_METRICS_STATE,
                incident_pb2.StateSnapshot(
                    key=cell.key,
                    through_offset=cell.through_offset,
                    state=cell.state,
                    snapshot_id=derived_id(GROUP, cell.key, str(cell.through_offset)),
                    taken_at=taken_at,
                ),
            )
            for cell in cells
        ]

    def _on_sla(self, event: sla_pb2.SlaEvent, record: Record) -> Sequence[Emit]:
        with self._lock:
            ledger = self._ledgers.get(record.partition)
        if ledger is None:
            # The loop assigns before it delivers; a record of a partition never assigned
            # still starts from that partition's snapshot, never from zero.
            self.assigned(frozenset({record.topic_partition}))
        with self._lock:
            self._ledgers[record.partition].count(event, record.offset, self._labels)
        return ()

    # -- restoring -----------------------------------------------------------------------
    def _restore(self, partitions: Collection[int]) -> dict[int, PartitionLedger]:
        started = time.perf_counter()
        cells: dict[int, list[Cell]] = {partition: [] for partition in partitions}
        for record in self._changelog.replay(Topic.SLA_METRICS_STATE):
            try:
                snapshot = decode(record, incident_pb2.StateSnapshot)
            except InvalidRecordError as exc:
                log.warning("skipping unreadable ledger snapshot", extra={"error": str(exc)})
                continue
            partition = _partition_of(snapshot.key)
            if partition in cells:
                cells[partition].append(Cell(snapshot.key, snapshot.through_offset, snapshot.state))
        ledgers = {
            partition: self._restore_cells(partition, found) for partition, found in cells.items()
        }
        start = {partition: ledger.through + 1 for partition, ledger in ledgers.items()}
        replayed = _count(
            self._changelog.replay(Topic.SLA, sorted(partitions), start=start),
            ledgers,
            self._labels,
        )
        log.info(
            "sla ledgers restored",
            extra={
                "partitions": sorted(partitions),
                "snapshot_through": {p: start[p] - 1 for p in sorted(start)},
                "replayed_records": replayed,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return ledgers

    def _restore_cells(self, partition: int, cells: Iterable[Cell]) -> PartitionLedger:
        options = {"retention_hours": self._retention_hours, "id_window_s": self._id_window_s}
        try:
            return PartitionLedger.restore(partition, cells, **options)
        except (ValueError, KeyError, TypeError) as exc:
            # A snapshot this version cannot read: count the partition from the beginning
            # of care.sla instead (slower, and as exact).
            log.warning(
                "unreadable ledger snapshot, counting care.sla from the start",
                extra={"partition": partition, "error": str(exc)},
            )
            return PartitionLedger(partition, **options)

    # -- reading (any thread) --------------------------------------------------------------
    @property
    def partitions(self) -> frozenset[int]:
        """The care.sla partitions whose ledgers this instance holds."""
        with self._lock:
            return frozenset(self._ledgers)

    def series(self) -> list[tuple[int, SeriesKey, SeriesTotals]]:
        """Every Prometheus series: (partition, labels, cumulative totals), sorted."""
        with self._lock:
            found = [
                (partition, key, totals)
                for partition, ledger in self._ledgers.items()
                for key, totals in ledger.totals()
            ]
        return sorted(found, key=lambda entry: (entry[0], entry[1]))

    def hourly(self, start: datetime, end: datetime) -> Iterator[Hourly]:
        """The tallies of the hours that start in [start, end), merged over the owned
        partitions, ordered by hour then key. Hours are UTC hour starts."""
        return iter(self.hourly_view(start, end)[2])

    def hourly_view(
        self, start: datetime, end: datetime
    ) -> tuple[frozenset[int], int, list[Hourly]]:
        """(the partitions counted, care.sla's partition count, their hourly tallies as
        `hourly` gives them), taken at one instant: a report can tell which partitions it
        covers even while partitions move."""
        first, last = _hour_number(start, ceil=True), _hour_number(end, ceil=True)
        merged: dict[tuple[int, OutcomeKey], Tally] = {}
        with self._lock:
            partitions = frozenset(self._ledgers)
            count = self._partition_count
            for ledger in self._ledgers.values():
                for hour, key, tally in ledger.hourly(first, last):
                    known = merged.get((hour, key))
                    merged[(hour, key)] = tally if known is None else known.merged(tally)
        rows = [
            (datetime.fromtimestamp(hour * 3600, UTC), key, tally)
            for (hour, key), tally in sorted(merged.items())
        ]
        return partitions, count, rows


def _count(
    records: Iterable[Record], ledgers: Mapping[int, PartitionLedger], labels: Labels
) -> int:
    replayed = 0
    for record in records:
        ledger = ledgers.get(record.partition)
        if ledger is None:
            continue
        try:
            event = decode(record, sla_pb2.SlaEvent)
        except InvalidRecordError as exc:
            log.warning(
                "skipping unreadable sla event",
                extra={"partition": record.partition, "offset": record.offset, "error": str(exc)},
            )
            continue
        ledger.count(event, record.offset, labels)
        replayed += 1
    return replayed


def _hour_number(moment: datetime, *, ceil: bool) -> int:
    seconds = moment.timestamp()
    hour = int(seconds // 3600)
    return hour + 1 if ceil and hour * 3600 < seconds else hour


def _partition_of(key: str) -> int | None:
    head, _, _ = key.partition("|")
    if not head.startswith("p") or not head[1:].isdigit():
        return None
    return int(head[1:])


def _sla_partitions(partitions: Iterable[TopicPartition]) -> set[int]:
    return {tp.partition for tp in partitions if tp.topic == Topic.SLA}
