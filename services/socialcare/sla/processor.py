"""The sla consumer-loop plug-in: one `SlaBook` per owned partition of care.cases.

A partition's book is built from that partition of the compacted care.cases changelog when
the partition is assigned (so start-up costs the live cases of the partitions owned, not
the history of care.sla), dropped when it is revoked, and built again when a flush failed
(`discard`). Rebuilding does no I/O in `discard`: the owned partitions are only marked
unbuilt, and the next `process` or `tick` rebuilds them, where a failing replay is retried
by the loop like any transient error.

A rebuild reads two things: the partitions' care.cases changelog (the clocks), then the
last `tail_records` records (TAIL_RECORDS, 50,000, by default) of the same partitions of
care.sla, which is co-partitioned with it (ADR 0005): the ids of what was published lately,
which the rebuilt books never publish again although their restored clocks would fire them
(published, not yet applied by routing) and redelivered versions would re-derive them
(published after the last commit). See `socialcare.sla.domain` for what may still be
emitted again (same ids): an id older than the tail, or a publish not yet visible when the
tail is read.

Timers (WARNING, BREACHED) fire from `tick`, for owned partitions only. The loop calls
`tick` after every poll, and a poll returns after at most `poll_timeout_s` (0.2 s) when
nothing arrives, so a due timer fires within poll_timeout_s + the time to process one
batch (≤ `batch_size` records) + the flush of the previous one: well under a second in
steady state; a rebuild delays the ticks of the partitions being rebuilt by its duration.

This processor exports no SLA counters or histograms: the ledger (group "sla-metrics")
derives every SLA metric from care.sla, exactly once. It does export two gauges read from
the live books at scrape time (`register_sla_gauges`): socialcare_sla_at_risk_cases and
socialcare_queue_depth, per (language, queue, partition); a revoked partition's series
disappear with its book.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain import erasure
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import ERASURE_ID_HEADER, Emit
from socialcare.core.events import InvalidRecordError, decode, header_text, key_text
from socialcare.sla.domain import SlaBook
from socialcare.v1 import case_pb2, sla_pb2

log = logging.getLogger(__name__)
GROUP = "sla"
GAUGE_LABELS = ("language", "queue", "partition")
# How many of the last records of each owned care.sla partition a rebuild reads, so that
# the rebuilt book does not publish again what is on care.sla already. It must cover
# everything published to the partition since the changelog last caught up with it:
# timers whose events routing has not applied yet (routing's consumer lag on care.sla) and
# the effects of records after the group's committed offset (at most `commit_interval_s`,
# 1 s, of output plus a batch). Routing's lag is under a batch in steady state, and the
# alert ConsumerLagHighAndGrowing fires when a group's lag, summed over its partitions, is
# above 1,000 records and growing: 50,000 per partition is 50 times that on each
# partition, so a routing outage pages long before it outgrows the tail, and a burst of
# 50,000 clocks of one partition falling due in one tick, or routing stalled for minutes
# at hundreds of SLA events a second, is still covered. Cost at a rebuild: reading 50,000
# records' headers per partition (about 0.3 s a partition on the embedded bus, see
# bench/sla_timers.py's rebuild line) and 16 bytes per id kept (800 KB per partition).
TAIL_RECORDS = 50_000


class ChangelogReader(Protocol):
    """What the processor needs of the bus: read partitions of a topic from the start or
    from given offsets (`Bus.replay`), and where they end (`Bus.end_offsets`)."""

    def replay(
        self,
        topic: str,
        partitions: Collection[int] | None = None,
        start: Mapping[int, int] | None = None,
    ) -> Iterator[Record]:
        """Every record of these partitions of `topic` (from `start`'s offset, else the
        beginning), up to their ends at the call."""
        ...

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        """The offset the next record of each partition will get, now."""
        ...


class SlaProcessor(TypedProcessor):
    def __init__(
        self,
        care: CareConfig,
        changelog: ChangelogReader,
        clock: Clock,
        *,
        tail_records: int = TAIL_RECORDS,
    ) -> None:
        """`tail_records`: how many of the last records of each care.sla partition a
        rebuild reads (see TAIL_RECORDS); 0 reads none (every re-emission window open)."""
        super().__init__()
        if tail_records < 0:
            raise ValueError(f"tail_records must be >= 0, not {tail_records}")
        self._care = care
        self._changelog = changelog
        self._clock = clock
        self._tail_records = tail_records
        self._owned: set[int] = set()
        self._books: dict[int, SlaBook] = {}
        self.on(Topic.CASES, case_pb2.CaseEvent, self._on_case)

    @property
    def books(self) -> dict[int, SlaBook]:
        """The built book of each partition (read-only use: tests, diagnostics)."""
        return self._books

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        gained = _case_partitions(partitions)
        self._owned |= gained
        for partition in gained:
            self._books.pop(partition, None)  # a partition that came back: its old book is stale
        self._build()

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        for partition in _case_partitions(partitions):
            self._owned.discard(partition)
            self._books.pop(partition, None)

    def discard(self) -> None:
        """Events since the last flush may not be durable: forget every book (the next
        `process` or `tick` rebuilds them from the changelog, and emits those again)."""
        self._books.clear()

    def tick(self) -> Sequence[Emit]:
        self._build()
        now = self._clock()
        return [Emit(Topic.SLA, event) for book in self._books.values() for event in book.due(now)]

    def gauges(self) -> list[tuple[str, str, int, int, int]]:
        """(language, queue, partition, queue depth, at-risk cases) for every label pair a
        live book has seen. Safe from another thread (copies under the GIL)."""
        rows: list[tuple[str, str, int, int, int]] = []
        for partition, book in list(self._books.items()):
            depth, at_risk = dict(book.queue_depth), dict(book.at_risk)
            for language, queue in depth.keys() | at_risk.keys():
                key = (language, queue)
                rows.append((language, queue, partition, depth.get(key, 0), at_risk.get(key, 0)))
        return rows

    def tombstone(self, record: Record) -> Sequence[Emit]:
        """An erased case: its clocks stop for good (`SlaBook.forget`), reported as an
        ErasureStep (store "sla") when the tombstone names its erasure."""
        case_id = key_text(record)
        if case_id is None:
            raise InvalidRecordError("a care.cases tombstone needs a UTF-8 key (the case id)")
        erasure_id = header_text(record, ERASURE_ID_HEADER)
        self._owned.add(record.partition)
        self._build()
        clocks = self._books[record.partition].forget(case_id)
        if erasure_id is None:
            return ()
        return [
            erasure.step(
                erasure_id,
                erasure.SLA,
                service="sla",
                items=clocks,
                case_ids=[case_id],
                now=self._clock(),
                note="the case's SLA clocks stopped for good; its events on care.sla expire "
                "with the topic's retention",
            )
        ]

    def _on_case(self, event: case_pb2.CaseEvent, record: Record) -> Sequence[Emit]:
        if record.partition not in self._owned:
            # The loop assigns before it delivers; a record of a partition never assigned
            # still gets a book built from its changelog rather than a partial one.
            self._owned.add(record.partition)
        self._build()
        return [Emit(Topic.SLA, sla) for sla in self._books[record.partition].on_case(event)]

    def _build(self) -> None:
        """Rebuild the owned partitions that have no book: restore it from the changelog,
        then tell it which event ids the tail of its care.sla partition holds (care.sla is
        co-partitioned with care.cases: a case's SLA events are in the partition number of
        its snapshots). The tail is read after the restore, so it holds every event
        published before the restore ended. A book is installed only when both reads are
        complete: a failed one leaves it unbuilt."""
        missing = self._owned - self._books.keys()
        if not missing:
            return
        started = time.perf_counter()
        partitions = sorted(missing)
        books = _restore(self._changelog.replay(Topic.CASES, partitions=partitions), missing)
        tail = self._published_tail(partitions)
        for partition, book in books.items():
            book.mark_published(tail.get(partition, ()))
        self._books.update(books)
        log.info(
            "sla clocks rebuilt",
            extra={
                "partitions": partitions,
                "cases": sum(len(book) for book in books.values()),
                "published_ids": sum(book.published_ids() for book in books.values()),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )

    def _published_tail(self, partitions: list[int]) -> dict[int, list[str]]:
        """The event ids of the last `tail_records` records of these care.sla partitions."""
        if not self._tail_records:
            return {}
        ends = self._changelog.end_offsets(Topic.SLA, partitions)
        start = {p: max(0, end - self._tail_records) for p, end in ends.items()}
        tail: dict[int, list[str]] = {p: [] for p in partitions}
        wanted = [p for p in partitions if ends.get(p, 0) > start.get(p, 0)]
        if not wanted:
            return tail
        for record in self._changelog.replay(Topic.SLA, partitions=wanted, start=start):
            ids = tail.get(record.partition)
            if ids is not None:
                ids.append(_event_id(record))
        return tail


class GaugeSource(Protocol):
    def gauges(self) -> list[tuple[str, str, int, int, int]]:
        """(language, queue, partition, queue depth, at-risk cases); thread-safe."""
        ...


class SlaGaugeCollector(Collector):
    """socialcare_sla_at_risk_cases and socialcare_queue_depth from the live books, with
    bounded labels (languages and queues the config does not name become "other")."""

    def __init__(self, source: GaugeSource, care: CareConfig) -> None:
        self._source = source
        self._care = care

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        at_risk, depth = self._families()
        totals: dict[tuple[str, str, str], list[int]] = {}
        for language, queue, partition, waiting, risky in self._source.gauges():
            key = (
                self._care.metric_language(language),
                self._care.metric_queue(queue),
                str(partition),
            )
            sums = totals.setdefault(key, [0, 0])
            sums[0] += waiting
            sums[1] += risky
        for key, (waiting, risky) in sorted(totals.items()):
            depth.add_metric(list(key), waiting)
            at_risk.add_metric(list(key), risky)
        yield at_risk
        yield depth

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "socialcare_sla_at_risk_cases",
                "Open cases whose running SLA clock passed its first warning, breached, or "
                "is predicted to breach.",
                labels=GAUGE_LABELS,
            ),
            GaugeMetricFamily(
                "socialcare_queue_depth",
                "Open cases waiting in their queue without an assignee.",
                labels=GAUGE_LABELS,
            ),
        )


def register_sla_gauges(
    source: GaugeSource, care: CareConfig, registry: CollectorRegistry = REGISTRY
) -> SlaGaugeCollector:
    """Register the gauge collector once per process (a second registration raises
    ValueError: duplicated timeseries)."""
    collector = SlaGaugeCollector(source, care)
    registry.register(collector)
    return collector


def _restore(records: Iterable[Record], partitions: Collection[int]) -> dict[int, SlaBook]:
    books = {partition: SlaBook() for partition in partitions}
    for record in records:
        book = books.get(record.partition)
        if book is None:
            continue  # a partition not asked for: not ours
        if record.tombstone:
            if (case_id := key_text(record)) is not None:
                book.forget(case_id)  # an erased case
            continue
        try:
            book.restore(decode(record, case_pb2.CaseEvent))
        except InvalidRecordError as exc:
            log.warning(
                "skipping unreadable case event",
                extra={"partition": record.partition, "offset": record.offset, "error": str(exc)},
            )
    return books


def _event_id(record: Record) -> str:
    """The SLA event id of a care.sla record: its event-id header, else its value's."""
    raw = record.header("event-id")
    if raw:
        return raw.decode(errors="replace")
    try:
        return decode(record, sla_pb2.SlaEvent).event_id
    except InvalidRecordError:
        return ""  # not an SLA event: no id this book could emit


def _case_partitions(partitions: Iterable[TopicPartition]) -> set[int]:
    return {tp.partition for tp in partitions if tp.topic == Topic.CASES}
