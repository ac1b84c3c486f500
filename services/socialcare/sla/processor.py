"""The sla consumer-loop plug-in: one `SlaBook` per owned partition of care.cases.

A partition's book is built from that partition of the compacted care.cases changelog when
the partition is assigned (so start-up costs the live cases of the partitions owned, not
the history of care.sla), dropped when it is revoked, and built again when a flush failed
(`discard`). Rebuilding does no I/O in `discard`: the owned partitions are only marked
unbuilt, and the next `process` or `tick` rebuilds them, where a failing replay is retried
by the loop like any transient error. Breaches come from `tick`, for owned partitions only.
See `socialcare.sla.domain` for what is emitted again after a rebuild.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Protocol

from prometheus_client import Counter, Histogram

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.cases import channel_name
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, decode
from socialcare.sla.domain import SlaBook
from socialcare.v1 import case_pb2

log = logging.getLogger(__name__)
GROUP = "sla"

FIRST_RESPONSE_SECONDS = Histogram(
    "socialcare_first_response_seconds",
    "Time from a case's first customer message reaching the platform to the first agent reply.",
    ["language", "channel", "queue"],
    buckets=(30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200),
)
SLA_BREACHES = Counter(
    "socialcare_sla_breaches_total",
    "First-response SLA breaches (cases unanswered past their due time).",
    ["language", "channel", "queue"],
)


class ChangelogReader(Protocol):
    """What the processor needs of the bus: read partitions of a topic from the start
    (`Bus.replay`)."""

    def replay(self, topic: str, partitions: Collection[int] | None = None) -> Iterator[Record]:
        """Every record of these partitions of `topic`, up to their ends at the call."""
        ...


class SlaProcessor(TypedProcessor):
    def __init__(self, changelog: ChangelogReader, clock: Clock) -> None:
        super().__init__()
        self._changelog = changelog
        self._clock = clock
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
        """Breaches and "met"s since the last flush may not be durable: forget every book
        (the next `process` or `tick` rebuilds them, and emits those again)."""
        self._books.clear()

    def tick(self) -> Sequence[Emit]:
        self._build()
        effects: list[Emit] = []
        now = self._clock()
        for book in self._books.values():
            for breach in book.due(now):
                SLA_BREACHES.labels(
                    breach.language, channel_name(breach.channel), breach.queue
                ).inc()
                effects.append(Emit(Topic.SLA, breach))
        return effects

    def _on_case(self, event: case_pb2.CaseEvent, record: Record) -> Sequence[Emit]:
        if record.partition not in self._owned:
            # The loop assigns before it delivers; a record of a partition never assigned
            # still gets a book built from its changelog rather than a partial one.
            self._owned.add(record.partition)
        self._build()
        events, observation = self._books[record.partition].on_case(event, self._clock())
        if observation is not None:
            FIRST_RESPONSE_SECONDS.labels(
                observation.language, observation.channel, observation.queue
            ).observe(observation.seconds)
        return [Emit(Topic.SLA, sla_event) for sla_event in events]

    def _build(self) -> None:
        """Rebuild the owned partitions that have no book, from the changelog. A book is
        installed only when its replay is complete: a failed replay leaves it unbuilt."""
        missing = self._owned - self._books.keys()
        if not missing:
            return
        started = time.perf_counter()
        books = _restore(self._changelog.replay(Topic.CASES, partitions=sorted(missing)), missing)
        self._books.update(books)
        log.info(
            "sla clocks rebuilt",
            extra={
                "partitions": sorted(missing),
                "clocks": sum(len(book.clocks) for book in books.values()),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )


def _restore(records: Iterable[Record], partitions: Collection[int]) -> dict[int, SlaBook]:
    books = {partition: SlaBook() for partition in partitions}
    for record in records:
        book = books.get(record.partition)
        if book is None:
            continue  # a partition not asked for: not ours
        try:
            book.restore(decode(record, case_pb2.CaseEvent))
        except InvalidRecordError as exc:
            log.warning(
                "skipping unreadable case event",
                extra={"partition": record.partition, "offset": record.offset, "error": str(exc)},
            )
    return books


def _case_partitions(partitions: Iterable[TopicPartition]) -> set[int]:
    return {tp.partition for tp in partitions if tp.topic == Topic.CASES}
