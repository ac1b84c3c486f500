"""The SLA ledger: what care.sla says happened to the clocks, counted exactly once.

Every SLA metric (the Prometheus counters and response-time histograms, and the hourly
tallies the reports read) is derived from the events on care.sla, not from what a process
happened to observe: a ledger per care.sla partition holds cumulative totals since the
beginning of the topic, and the offset through which it has counted. Any process restores
it from its last snapshot plus the records of care.sla after it
(`socialcare.sla.ledger_processor`), so a process dying between a commit and a scrape loses
nothing, and a partition moving to another instance continues from the same cumulative
values (Prometheus never sees a counter reset).

This module is pure: no I/O, no clock. The shapes the reports read (`OutcomeKey`, `Tally`,
`BUCKET_BOUNDS`, `CLOCKS`) live in `core.domain.sla_reports`, shared with the gateway; the
processor exposes
`LedgerProcessor.hourly(start, end) -> Iterator[tuple[datetime, OutcomeKey, Tally]]`
(hour starts, UTC, `start <= hour < end`, over the partitions this instance owns).
"""

from __future__ import annotations

import json
import math
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from google.protobuf import timestamp_pb2

from socialcare.core.domain.care_config import OTHER_LABEL, CareConfig
from socialcare.core.domain.sla_reports import BUCKET_BOUNDS, OutcomeKey, Tally
from socialcare.v1 import case_pb2, sla_pb2

OTHER = OTHER_LABEL

_CLOCK_BY_KIND: dict[int, str] = {
    case_pb2.SLA_CLOCK_KIND_UNSPECIFIED: "first_response",
    case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE: "first_response",
    case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE: "next_response",
    case_pb2.SLA_CLOCK_KIND_RESOLUTION: "resolution",
}
_COUNTED = frozenset(
    {
        sla_pb2.SLA_EVENT_TYPE_MET,
        sla_pb2.SLA_EVENT_TYPE_BREACHED,
        sla_pb2.SLA_EVENT_TYPE_WARNING,
        sla_pb2.SLA_EVENT_TYPE_AT_RISK,
        sla_pb2.SLA_EVENT_TYPE_STOPPED,
    }
)


def bucket_index(seconds: float) -> int:
    """The bucket an observation falls in: the first bound >= seconds (Prometheus's `le`),
    or len(BUCKET_BOUNDS) above the last."""
    return bisect_left(BUCKET_BOUNDS, seconds)


def threshold_label(threshold: float) -> str:
    """A warning threshold as a label value: 0.75 -> "0.75", 0.9 -> "0.9" (no float noise)."""
    return format(round(threshold, 4), "g")


@dataclass(frozen=True, slots=True)
class Labels:
    """Bounded label values, from the config: Prometheus keeps one series per label set,
    so a value a customer can choose (a language code the detector guessed, a queue an old
    event names) must never become a label of its own. Anything the config does not name
    reads "other"."""

    languages: frozenset[str]
    queues: frozenset[str]
    teams: frozenset[str]
    brands: frozenset[str]

    @classmethod
    def from_care(cls, care: CareConfig) -> Labels:
        """The config's own vocabulary (`CareConfig.metric_language`, `metric_queue`),
        collected once: teams by their `teams` names (and the teams agents name), brands
        by their names."""
        named = {
            code
            for entries in (care.queues, care.sla_policies, care.agents)
            for entry in entries
            for code in entry.languages
        }
        teams = {team.name for team in care.teams} | {a.team for a in care.agents if a.team}
        return cls(
            languages=frozenset(code for code in named if care.metric_language(code) == code),
            queues=frozenset(q.name for q in care.queues if care.metric_queue(q.name) == q.name),
            teams=frozenset(teams),
            brands=frozenset(brand.name for brand in care.effective_brands),
        )

    def language(self, code: str) -> str:
        return code if code in self.languages else OTHER

    def outcome_key(self, event: sla_pb2.SlaEvent) -> OutcomeKey:
        """The event's dimensions as bounded labels; no priority reads "normal" (as on
        cases)."""
        return OutcomeKey(
            clock=_CLOCK_BY_KIND.get(event.clock, OTHER),
            language=self.language(event.language),
            channel=CareConfig.metric_channel(event.channel),
            queue=event.queue if event.queue in self.queues else OTHER,
            priority=CareConfig.metric_priority(event.priority or "normal"),
            team=event.team if not event.team or event.team in self.teams else OTHER,
            brand=event.brand if event.brand in self.brands else OTHER,
        )


@dataclass(frozen=True, slots=True, order=True)
class SeriesKey:
    """The labels of the Prometheus series (an `OutcomeKey` without team and brand)."""

    clock: str
    language: str
    channel: str
    queue: str
    priority: str

    @classmethod
    def of(cls, key: OutcomeKey) -> SeriesKey:
        return cls(key.clock, key.language, key.channel, key.queue, key.priority)


@dataclass(frozen=True, slots=True)
class SeriesTotals:
    """Cumulative figures of one series since the beginning of care.sla: the tally, and
    the warnings split by threshold label (they add up to `tally.warnings`)."""

    tally: Tally = field(default_factory=Tally)
    warnings_by_threshold: tuple[tuple[str, int], ...] = ()


def _added(tally: Tally, event: sla_pb2.SlaEvent) -> Tally:
    """`tally` with one counted event (MET, BREACHED, WARNING, AT_RISK or STOPPED) more."""
    kind = event.type
    if kind == sla_pb2.SLA_EVENT_TYPE_BREACHED:
        return replace(tally, breached=tally.breached + 1)
    if kind == sla_pb2.SLA_EVENT_TYPE_WARNING:
        return replace(tally, warnings=tally.warnings + 1)
    if kind == sla_pb2.SLA_EVENT_TYPE_AT_RISK:
        return replace(tally, at_risk=tally.at_risk + 1)
    # MET and STOPPED: the clock stopped; its wait is observed (STOPPED: after a breach
    # already counted by its BREACHED event).
    seconds = event.elapsed_seconds if math.isfinite(event.elapsed_seconds) else 0.0
    seconds = max(seconds, 0.0)  # a NaN would poison the sum forever
    buckets = list(tally.buckets)
    buckets[bucket_index(seconds)] += 1
    return replace(
        tally,
        met=tally.met + (1 if kind == sla_pb2.SLA_EVENT_TYPE_MET else 0),
        buckets=tuple(buckets),
        seconds_sum=tally.seconds_sum + seconds,
        observed=tally.observed + 1,
    )


def _added_totals(totals: SeriesTotals, event: sla_pb2.SlaEvent) -> SeriesTotals:
    warnings = totals.warnings_by_threshold
    if event.type == sla_pb2.SLA_EVENT_TYPE_WARNING:
        counts = dict(warnings)
        label = threshold_label(event.threshold)
        counts[label] = counts.get(label, 0) + 1
        warnings = tuple(sorted(counts.items()))
    return SeriesTotals(_added(totals.tally, event), warnings)


# -- the ledger of one partition ---------------------------------------------------------

# The dedupe window is kept in slots of this many seconds of partition time (see
# `PartitionLedger`), so a snapshot rewrites only the slots that changed.
ID_SLOT_SECONDS = 10
_HOUR = 3600


@dataclass(frozen=True, slots=True)
class Cell:
    """One record of a partition's snapshot: `key` (e.g. "p3|head", "p3|t|en",
    "p3|h|0421", "p3|i|17"), the offset through which its content counts care.sla, and
    the content (zlib-compressed JSON)."""

    key: str
    through_offset: int
    state: bytes


@dataclass
class _Hour:
    hour: int  # hours since the epoch (UTC)
    through: int
    tallies: dict[OutcomeKey, Tally] = field(default_factory=dict)


@dataclass
class _Language:
    name: str
    through: int
    series: dict[SeriesKey, SeriesTotals] = field(default_factory=dict)


@dataclass
class _IdSlot:
    slot: int  # ID_SLOT_SECONDS-slots since the epoch
    through: int
    first_offsets: dict[str, int] = field(default_factory=dict)


class PartitionLedger:
    """What one care.sla partition's events add up to, exactly once.

    Counted: MET, BREACHED, WARNING, AT_RISK (counters) and the wall seconds of MET and
    STOPPED (histograms); STARTED, PAUSED and RESUMED count nothing. Twice-delivered
    records are skipped by offset (`through`: every offset up to it is counted); an event
    published again (after a crash, with the same event id, at a later offset) by its id:
    ids stay in a window of `id_window_s` seconds of *partition time* (the newest
    `occurred_at` seen, so counting the same records always gives the same result).

    State is split into cells that are snapshotted separately: the head (through, partition
    time), the totals per language, one cell per hour of tallies (a ring of
    `retention_hours` keys, so the snapshot topic stays bounded however long it runs) and
    the id window per slot (a ring too). A snapshot carries the cells changed since the
    previous one, head last; each cell carries its own through offset, and on restore an
    event is added to a cell only if its offset is past that cell's through. So a snapshot
    of which only some cells were written (the process died in mid-flush) restores exactly:
    no cell counts an event twice or misses one. One bound: the id ring has twice the slots
    the window needs, so a partly written snapshot may overwrite a slot of the last complete
    one only if partition time moved more than a whole id window between the two - it
    cannot, as the loop counts nothing new while its flushes fail.
    """

    def __init__(self, partition: int, *, retention_hours: int, id_window_s: int) -> None:
        if retention_hours < 1 or id_window_s < ID_SLOT_SECONDS:
            raise ValueError("retention must be an hour or more, the id window 10 s or more")
        self.partition = partition
        self.retention_hours = retention_hours
        self.id_slots = id_window_s // ID_SLOT_SECONDS + 1
        self.through = -1
        self.clock: float | None = None  # partition time: the newest occurred_at, epoch s
        self._languages: dict[str, _Language] = {}
        self._hours: dict[int, _Hour] = {}
        self._ids: dict[int, _IdSlot] = {}
        self._first: dict[str, int] = {}  # every id in the window: offset first counted at
        self._expired_for: tuple[int, int] | None = None  # (id slot, hour) last expired at
        self._dirty: set[tuple[str, int | str]] = set()
        self._head_dirty = False

    # -- counting ----------------------------------------------------------------------
    def count(self, event: sla_pb2.SlaEvent, offset: int, labels: Labels) -> bool:
        """Add the event at `offset`; False when it was counted before (by offset or id)
        or counts nothing."""
        if offset <= self.through:
            return False
        self.through = offset
        self._head_dirty = True
        occurred = _epoch(event.occurred_at)
        if occurred is not None and (self.clock is None or occurred > self.clock):
            self.clock = occurred
            self._expire()
        if event.type not in _COUNTED:
            return False
        event_id = event.event_id
        if event_id and self._seen_before(event_id, offset):
            return False
        if event_id and self.clock is not None:
            self._remember(event_id, offset)
        key = labels.outcome_key(event)
        language = self._languages.get(key.language)
        if language is None:
            language = self._languages[key.language] = _Language(key.language, through=-1)
        if offset > language.through:
            series = SeriesKey.of(key)
            language.series[series] = _added_totals(
                language.series.get(series, SeriesTotals()), event
            )
            self._dirty.add(("t", key.language))
        hour = self._hour_of(occurred)
        if hour is not None:
            cell = self._hours.get(hour)
            if cell is None:
                cell = self._hours[hour] = _Hour(hour=hour, through=-1)
            if offset > cell.through:
                cell.tallies[key] = _added(cell.tallies.get(key, Tally()), event)
                self._dirty.add(("h", hour))
        return True

    def _seen_before(self, event_id: str, offset: int) -> bool:
        first = self._first.get(event_id)
        return first is not None and first < offset

    def _remember(self, event_id: str, offset: int) -> None:
        assert self.clock is not None
        number = int(self.clock) // ID_SLOT_SECONDS
        slot = self._ids.get(number)
        if slot is None:
            slot = self._ids[number] = _IdSlot(slot=number, through=-1)
        if offset > slot.through:
            slot.first_offsets.setdefault(event_id, offset)
            self._dirty.add(("i", number))
        self._first.setdefault(event_id, offset)

    def _hour_of(self, occurred: float | None) -> int | None:
        """The hour an event is tallied in: its own, if within the retention."""
        moment = occurred if occurred is not None else self.clock
        if moment is None or self.clock is None:
            return None
        hour = int(moment) // _HOUR
        return hour if self._hour_kept(hour) else None

    def _hour_kept(self, hour: int) -> bool:
        return self.clock is not None and hour > int(self.clock) // _HOUR - self.retention_hours

    def _slot_kept(self, number: int) -> bool:
        return (
            self.clock is not None and number > int(self.clock) // ID_SLOT_SECONDS - self.id_slots
        )

    def _expire(self) -> None:
        """Drop the hours and id slots partition time has left behind (only when it
        entered a new slot or hour: that is when something can fall out)."""
        assert self.clock is not None
        now = (int(self.clock) // ID_SLOT_SECONDS, int(self.clock) // _HOUR)
        if now == self._expired_for:
            return
        self._expired_for = now
        for hour in [h for h in self._hours if not self._hour_kept(h)]:
            del self._hours[hour]
            self._dirty.discard(("h", hour))
        for number in [n for n in self._ids if not self._slot_kept(n)]:
            for event_id, offset in self._ids.pop(number).first_offsets.items():
                if self._first.get(event_id) == offset:
                    del self._first[event_id]
            self._dirty.discard(("i", number))

    # -- reading -----------------------------------------------------------------------
    def totals(self) -> Iterator[tuple[SeriesKey, SeriesTotals]]:
        for language in self._languages.values():
            yield from language.series.items()

    def hourly(self, start_hour: int, end_hour: int) -> Iterator[tuple[int, OutcomeKey, Tally]]:
        """The tallies of the hours `start_hour <= hour < end_hour` (hours since the epoch),
        ordered by hour and key."""
        for hour in sorted(self._hours):
            if start_hour <= hour < end_hour:
                for key, tally in sorted(self._hours[hour].tallies.items()):
                    yield hour, key, tally

    # -- snapshots ---------------------------------------------------------------------
    @property
    def changed(self) -> bool:
        """Whether anything was counted (or the through offset moved) since the last
        `snapshot()`."""
        return self._head_dirty

    def touch_all(self) -> None:
        """Mark every cell changed: the next `snapshot()` rewrites the whole state (after a
        flush that failed, whose cells may or may not have been written)."""
        if self.through < 0:
            return
        self._dirty |= {("t", name) for name in self._languages}
        self._dirty |= {("h", hour) for hour in self._hours}
        self._dirty |= {("i", number) for number in self._ids}
        self._head_dirty = True

    def snapshot(self) -> list[Cell]:
        """The cells changed since the previous call, all at the current through offset,
        the head last (see the class docstring)."""
        if not self._head_dirty:
            return []
        cells: list[Cell] = []
        prefix = f"p{self.partition}"
        for kind, ident in sorted(self._dirty, key=lambda item: (item[0], str(item[1]))):
            if kind == "t":
                language = self._languages[str(ident)]
                language.through = self.through
                cells.append(
                    Cell(f"{prefix}|t|{ident}", self.through, _pack(_encode_language(language)))
                )
            elif kind == "h":
                hour = self._hours[int(ident)]
                hour.through = self.through
                ring = int(ident) % self.retention_hours
                cells.append(Cell(f"{prefix}|h|{ring}", self.through, _pack(_encode_hour(hour))))
            else:
                slot = self._ids[int(ident)]
                slot.through = self.through
                ring = int(ident) % (2 * self.id_slots)
                cells.append(Cell(f"{prefix}|i|{ring}", self.through, _pack(_encode_ids(slot))))
        cells.append(Cell(f"{prefix}|head", self.through, _pack({"v": 1, "clock": self.clock})))
        self._dirty.clear()
        self._head_dirty = False
        return cells

    @classmethod
    def restore(
        cls, partition: int, cells: Iterable[Cell], *, retention_hours: int, id_window_s: int
    ) -> PartitionLedger:
        """The ledger the cells describe (the latest of each key, as a compacted topic
        keeps them); an empty one without a head. Raises ValueError for a cell it cannot
        read."""
        ledger = cls(partition, retention_hours=retention_hours, id_window_s=id_window_s)
        latest: dict[str, Cell] = {}
        for cell in cells:
            known = latest.get(cell.key)
            if known is None or cell.through_offset >= known.through_offset:
                latest[cell.key] = cell
        head = latest.pop(f"p{partition}|head", None)
        if head is None:
            return ledger
        head_state = _unpack(head.state)
        ledger.through = head.through_offset
        clock = head_state.get("clock")
        ledger.clock = float(clock) if clock is not None else None
        for cell in latest.values():
            kind = cell.key.split("|")[1]
            state = _unpack(cell.state)
            if kind == "t":
                language = _decode_language(state, cell.through_offset)
                ledger._languages[language.name] = language
            elif kind == "h":
                hour = _decode_hour(state, cell.through_offset)
                if ledger._hour_kept(hour.hour):
                    ledger._hours[hour.hour] = hour
            elif kind == "i":
                slot = _decode_ids(state, cell.through_offset)
                if ledger._slot_kept(slot.slot):
                    ledger._ids[slot.slot] = slot
            else:
                raise ValueError(f"unknown snapshot cell {cell.key!r}")
        for slot in ledger._ids.values():
            for event_id, offset in slot.first_offsets.items():
                seen = ledger._first.get(event_id)
                if seen is None or offset < seen:
                    ledger._first[event_id] = offset
        return ledger


def _epoch(stamp: timestamp_pb2.Timestamp) -> float | None:
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    return stamp.seconds + stamp.nanos / 1e9


# -- cell encoding: JSON (sparse buckets), zlib-compressed ---------------------------------
Json = dict[str, Any]


def _pack(content: Json) -> bytes:
    return zlib.compress(json.dumps(content, separators=(",", ":"), sort_keys=True).encode())


def _unpack(state: bytes) -> Json:
    try:
        content = json.loads(zlib.decompress(state))
    except (zlib.error, ValueError) as exc:
        raise ValueError(f"unreadable snapshot cell: {exc}") from None
    if not isinstance(content, dict) or content.get("v") != 1:
        raise ValueError("snapshot cell of an unknown version")
    return content


def _encode_tally(tally: Tally) -> list[Any]:
    buckets = [[i, n] for i, n in enumerate(tally.buckets) if n]
    return [
        tally.met,
        tally.breached,
        tally.warnings,
        tally.at_risk,
        buckets,
        tally.seconds_sum,
        tally.observed,
    ]


def _decode_tally(raw: list[Any]) -> Tally:
    met, breached, warnings, at_risk, sparse, seconds_sum, observed = raw
    buckets = [0] * (len(BUCKET_BOUNDS) + 1)
    for index, count in sparse:
        buckets[int(index)] = int(count)
    return Tally(
        met=int(met),
        breached=int(breached),
        warnings=int(warnings),
        at_risk=int(at_risk),
        buckets=tuple(buckets),
        seconds_sum=float(seconds_sum),
        observed=int(observed),
    )


def _encode_language(language: _Language) -> Json:
    return {
        "v": 1,
        "language": language.name,
        "series": [
            [
                [key.clock, key.channel, key.queue, key.priority],
                _encode_tally(totals.tally),
                [list(pair) for pair in totals.warnings_by_threshold],
            ]
            for key, totals in sorted(language.series.items())
        ],
    }


def _decode_language(state: Json, through: int) -> _Language:
    name = str(state["language"])
    language = _Language(name, through=through)
    for (clock, channel, queue, priority), tally, warnings in state["series"]:
        key = SeriesKey(str(clock), name, str(channel), str(queue), str(priority))
        language.series[key] = SeriesTotals(
            _decode_tally(tally), tuple((str(label), int(n)) for label, n in warnings)
        )
    return language


def _encode_hour(hour: _Hour) -> Json:
    return {
        "v": 1,
        "hour": hour.hour,
        "tallies": [
            [
                [k.clock, k.language, k.channel, k.queue, k.priority, k.team, k.brand],
                _encode_tally(tally),
            ]
            for k, tally in sorted(hour.tallies.items())
        ],
    }


def _decode_hour(state: Json, through: int) -> _Hour:
    hour = _Hour(hour=int(state["hour"]), through=through)
    for dims, tally in state["tallies"]:
        hour.tallies[OutcomeKey(*(str(d) for d in dims))] = _decode_tally(tally)
    return hour


def _encode_ids(slot: _IdSlot) -> Json:
    return {"v": 1, "slot": slot.slot, "ids": dict(sorted(slot.first_offsets.items()))}


def _decode_ids(state: Json, through: int) -> _IdSlot:
    return _IdSlot(
        slot=int(state["slot"]),
        through=through,
        first_offsets={str(k): int(v) for k, v in state["ids"].items()},
    )
