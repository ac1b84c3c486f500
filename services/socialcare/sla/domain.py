"""SLA tracking: follows both clocks of every case and emits each milestone once.

Pure: case snapshots in, SLA events out, time passed in. Routing owns the clocks (it starts,
pauses, resumes and stops them and computes their instants on the business calendar); this
book watches them. A case has two clocks: `Case.sla`, the response clock (FIRST_RESPONSE,
then one NEXT_RESPONSE per customer turn, each a new cycle), and `Case.resolution_sla`.

Milestones of a clock (kind, cycle), each with one id, `sla_event_id(case, kind, cycle,
milestone[, detail])`:
  * STARTED                  a new (kind, cycle) appears in a snapshot;
  * PAUSED n / RESUMED n     the clock's `pauses` counter and state, n = 1, 2, ...;
  * WARNING t                timer: the run reaches `warning_at[i]` (threshold t) while
                             RUNNING and t is not in `warned`; or from a snapshot: the clock
                             stopped or paused past that instant before a tick fired it;
  * BREACHED                 timer: `due_at` passes while RUNNING; or from a snapshot: the
                             clock is BREACHED without the breach applied (routing stopped it
                             late before the timer fired), or paused with its target used;
  * MET / STOPPED            the clock stopped in time / after a breach.
A CANCELLED clock (its case merged into another, `cancel_clock`) has no milestone of its
own: it emits no MET, STOPPED, BREACHED or snapshot WARNING, live or replayed, and counts
as emitted-and-ended in the book (a stopped clock that needs no end milestone), so its
pending timers never fire. Nothing new is emitted for it (no STOPPED either): the ledger
counts neither a met nor a breach for it, and its STARTED (and any WARNING a timer fired
before the merge) stays as it was; the escalations about it resolve from the case (the
escalation service reads the CANCELLED clock). A clock whose target was used up when
its case merged stops BREACHED instead, and emits as any breached clock does.
Paused clocks do not fire; a resumed clock comes with new instants (a new run), and timers
of an older run are skipped (lazy deletion: every timer carries its clock's run tag).

Exactly once across restarts. What was emitted is read from the case, from care.sla and
from this book: the case records applied warnings (`warned`) and breaches (`applied_ids`,
BREACHED state); the tail of the partition's care.sla holds what was published lately; the
book records per clock which milestones it has emitted, and per case the version seen. A
partition's book is rebuilt from the compacted care.cases changelog (`restore`: state only,
every milestone the snapshot implies counts as known, no effects), then told the event ids
of the last `tail_records` records of the same partition of care.sla (`mark_published`;
the processor reads them after the restore); records after the group's committed offset
are then delivered again. Two things re-derive milestones after a rebuild:
  1. replayed versions: a case restored from the changelog and not yet seen live emits, for
     each redelivered version up to the restored one, every milestone that version implies
     (STARTED, passed but unapplied WARNINGs, PAUSED/RESUMED 1..n, an unapplied BREACHED,
     MET/STOPPED), because the changelog does not show whether the previous owner published
     them between its last commit and its end. This is what makes "none lost" hold: the
     effects of intermediate versions (e.g. the MET of next-response cycle 1 when cycle 2
     has started since) are re-derived from those versions. Warnings and breaches the case
     shows applied are not re-derived (routing consumed them from care.sla: durable).
  2. timers: a WARNING or BREACHED emitted but not yet applied by routing when the book is
     rebuilt (restart, rebalance, failed flush: `discard`) fires again from the restored
     clock.
A re-derived milestone is published only if its id is not in the tail (the previous owner
published it) and no earlier replayed version of the case emitted it in this book (these
ids are kept with the book, so a failed flush, which drops the book, forgets them too);
either way the book's state counts it as emitted (a suppressed timer still marks its
warning or breach). The same goes for the milestones of live versions. So what may still
be published AGAIN, always with the SAME id (consumers dedupe by id), is only:
  * an id older than the tail: published more than `tail_records` records of its care.sla
    partition before the rebuild, and either still unapplied (routing further behind on
    care.sla than the tail is long) or implied by a version redelivered from further back
    than that (the group's committed offset older than its last `tail_records` events);
  * a publish not yet visible when the tail is read: a flush that failed half-way (the
    loop discards, rebuilds and retries) whose records still in flight in the producer
    land after the read; a previous owner still publishing after it lost the partition (a
    zombie); on Kafka, a record appended but not yet under the high watermark;
  * everything in (1) and (2), when the processor reads no tail (`tail_records=0`).
The tail loses nothing: an id is suppressed only when its record is on care.sla (ids are
compared exactly). Nothing else is emitted twice: a live version older than or equal to the
known one of a case that has been seen live is stale and ignored, and a live new version
emits only the difference from the known milestones.
What can be lost: only milestones that no version still in the changelog implies, i.e. a
clock replaced (new cycle) in versions that compaction removed before any owner of the
partition read them (the sla group far behind routing for longer than the topic's
compaction lag). Warnings and breaches are derived from the clock, never lost: a restored
running clock fires every instant it has passed that the case does not show applied.

Memory: designed for a million open clocks at under 200 bytes each. A case is a slot in
parallel arrays (version, interned label index, flags), each of its two clocks a slot with
one packed int64 of state (kind, cycle, state, emitted milestones, interned policy spec),
the due instant (int64 ns, exact so events carry the case's own `due_at`) and the start as
a float32 offset; case ids live in one list with an open-addressing index (`_CaseIndex`)
instead of a dict (which would cost an int object and a dict entry per case); pending
instants are 8-byte entries in a `TimerWheel`. Labels and policy specs are small tables of
distinct tuples referenced by index. The tail's ids (`PublishedIds`) cost 16 bytes each, at
most `tail_records` per partition, kept until the book is dropped (the next rebuild reads
a new tail) rather than forgotten once the case shows a milestone applied: STARTED, MET and
the like are never applied, and a replayed version re-derives them. The ids replayed
versions emitted are kept per case only until its last replayed version (the restored
one) arrives: at most the milestones of the records after the committed offset.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from google.protobuf.timestamp_pb2 import Timestamp

from socialcare.core.clock import from_timestamp
from socialcare.core.domain.sla_clocks import business_seconds, cycle_of, is_stopped, kind_of
from socialcare.core.events import derived_id
from socialcare.sla.timers import TimerWheel
from socialcare.v1 import case_pb2, message_pb2, sla_pb2

FIRST_RESPONSE = case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE
NEXT_RESPONSE = case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE
RESOLUTION = case_pb2.SLA_CLOCK_KIND_RESOLUTION
KIND_NAMES = {
    FIRST_RESPONSE: "first_response",
    NEXT_RESPONSE: "next_response",
    RESOLUTION: "resolution",
}
RESPONSE_SLOT, RESOLUTION_SLOT = 0, 1
_KINDS: dict[int, case_pb2.SlaClockKind.ValueType] = {kind: kind for kind in KIND_NAMES}

RUNNING = case_pb2.SLA_STATE_RUNNING
PAUSED = case_pb2.SLA_STATE_PAUSED
BREACHED = case_pb2.SLA_STATE_BREACHED
CANCELLED = case_pb2.SLA_STATE_CANCELLED
# A case nobody works on any more: resolved, or closed (past its window, merged away).
DONE_STATUSES = frozenset({case_pb2.CASE_STATUS_RESOLVED, case_pb2.CASE_STATUS_CLOSED})

MAX_WARNINGS = 8
_BREACH_TIMER = 15
# A timer ref: clock index << 21 | run tag (17 bits) << 4 | milestone (4 bits); the wheel
# takes 47-bit refs, so a book holds up to 2**26 clocks (2**25 cases).
_TAG_SHIFT = 21
_TAG_MASK = (1 << 17) - 1
MAX_CASES = 1 << 25


def sla_event_id(
    case_id: str,
    kind: case_pb2.SlaClockKind.ValueType,
    cycle: int,
    milestone: str,
    detail: str = "",
) -> str:
    """The id of one milestone of one clock: the same whoever emits it, however often."""
    parts = ["sla", case_id, KIND_NAMES[kind], str(cycle), milestone]
    if detail:
        parts.append(detail)
    return derived_id(*parts)


def threshold_text(threshold: float) -> str:
    """How a warning threshold appears in ids and labels: 0.75 -> "0.75"."""
    return f"{threshold:g}"


class Labels(NamedTuple):
    """What SLA events say about the case besides the clock (interned per book)."""

    language: str
    channel: message_pb2.Channel.ValueType
    queue: str
    priority: str
    brand: str
    team: str
    customer_tier: str
    assignee: str


class Spec(NamedTuple):
    """What a clock measures against (interned per book)."""

    policy: str
    target_seconds: float
    thresholds: tuple[float, ...]


# -- the packed state of one clock (int64) ------------------------------------------------
# kind 2 | cycle 16 | state 3 | stopped 1 | paused 1 | breach 1 | end 1 | at_risk 1 |
# warned 8 | transitions 12 | spec 16  -> 62 bits
_KIND, _CYCLE, _STATE, _STOPPED, _PAUSED = 0, 2, 18, 21, 22
_BREACH, _END, _AT_RISK, _WARNED, _TRANS, _SPEC = 23, 24, 25, 26, 34, 46


class ClockState(NamedTuple):
    """One clock as the book knows it (unpacked; see the layout above)."""

    kind: int
    cycle: int
    state: int
    stopped: bool
    paused: bool
    breach: bool  # BREACHED emitted or seen applied
    end: bool  # MET / STOPPED emitted
    at_risk: bool
    warned: int  # bit i: warning i emitted or seen applied
    transitions: int  # PAUSED/RESUMED emitted: 2n-1 = PAUSED n, 2n = RESUMED n
    spec: int

    def pack(self) -> int:
        return (
            self.kind
            | (self.cycle & 0xFFFF) << _CYCLE
            | self.state << _STATE
            | self.stopped << _STOPPED
            | self.paused << _PAUSED
            | self.breach << _BREACH
            | self.end << _END
            | self.at_risk << _AT_RISK
            | self.warned << _WARNED
            | min(self.transitions, 0xFFF) << _TRANS
            | self.spec << _SPEC
        )

    @staticmethod
    def unpack(meta: int) -> ClockState:
        return ClockState(
            kind=meta & 3,
            cycle=(meta >> _CYCLE) & 0xFFFF,
            state=(meta >> _STATE) & 7,
            stopped=bool(meta >> _STOPPED & 1),
            paused=bool(meta >> _PAUSED & 1),
            breach=bool(meta >> _BREACH & 1),
            end=bool(meta >> _END & 1),
            at_risk=bool(meta >> _AT_RISK & 1),
            warned=(meta >> _WARNED) & 0xFF,
            transitions=(meta >> _TRANS) & 0xFFF,
            spec=(meta >> _SPEC) & 0xFFFF,
        )

    @property
    def pauses(self) -> int:
        return (self.transitions + 1) // 2

    @property
    def running(self) -> bool:
        """Counting towards its target and may still fire: RUNNING, not paused or stopped."""
        return self.kind != 0 and self.state == RUNNING and not self.stopped and not self.paused

    @property
    def open(self) -> bool:
        return self.kind != 0 and not self.stopped and not self.paused

    def run_tag(self) -> int:
        """Tells this run of the clock from earlier runs on its slot (17 bits, in every
        timer ref): kind, cycle mod 256, pauses mod 128. A stale timer is mistaken for a
        current one only if its clock was restarted 256 times (or paused 128 times) before
        the stale instant passed."""
        return (self.kind << 15) | ((self.cycle & 0xFF) << 7) | (self.pauses & 0x7F)


class _Snapshot(NamedTuple):
    """What one snapshot of a clock implies (see `_implied`)."""

    kind: case_pb2.SlaClockKind.ValueType
    cycle: int
    transitions: int
    paused: bool
    warned: int  # bit i: warning i applied by routing (in `warned`)
    passed: int  # bit i: warning i's instant passed while the clock counted
    breached: bool
    breach_applied: bool
    stopped: bool
    cancelled: bool  # CANCELLED: stopped, no milestone of its own (see the module docstring)


# -- flags per case (bytearray) --------------------------------------------------------------
_RESTORED, _OPEN, _UNASSIGNED, _COUNTED_DEPTH, _COUNTED_RISK = 1, 2, 4, 8, 16


class _CaseIndex:
    """Case id -> slot, open addressing over an int32 array (8-12 bytes a case, where a
    dict costs ~70 with its int values). Cases are never removed from a book."""

    __slots__ = ("_mask", "_table", "ids")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._table = array("i", [-1]) * 8
        self._mask = 7

    def find(self, case_id: str) -> int:
        """The slot of `case_id`, or -1."""
        table, ids, mask = self._table, self.ids, self._mask
        position = hash(case_id) & mask
        while True:
            slot = table[position]
            if slot < 0 or ids[slot] == case_id:
                return slot
            position = (position + 1) & mask

    def add(self, case_id: str) -> int:
        """A new slot for `case_id` (not present)."""
        slot = len(self.ids)
        self.ids.append(case_id)
        if (slot + 1) * 3 > len(self._table) * 2:
            self._grow()
        else:
            self._place(case_id, slot)
        return slot

    def _place(self, case_id: str, slot: int) -> None:
        table, mask = self._table, self._mask
        position = hash(case_id) & mask
        while table[position] >= 0:
            position = (position + 1) & mask
        table[position] = slot

    def _grow(self) -> None:
        size = len(self._table) * 2
        self._table = array("i", [-1]) * size
        self._mask = size - 1
        for slot, case_id in enumerate(self.ids):
            self._place(case_id, slot)


class PublishedIds:
    """Event ids known to be on care.sla already (the tail a rebuild read), as the two
    64-bit halves of the 128-bit hex id `derived_id` makes, sorted: 16 bytes an id, where a
    set of str costs ~110. Exact (both halves compared). An id that is not 32 hex digits is
    not an id this book emits and is not kept."""

    __slots__ = ("_high", "_low")

    def __init__(self, event_ids: Iterable[str] = ()) -> None:
        self._high = array("Q")
        self._low = array("Q")
        self.add(event_ids)

    def __len__(self) -> int:
        return len(self._high)

    def add(self, event_ids: Iterable[str]) -> None:
        pairs = set(zip(self._high, self._low, strict=True))
        before = len(pairs)
        for event_id in event_ids:
            halves = _halves(event_id)
            if halves is not None:
                pairs.add(halves)
        if len(pairs) == before:
            return
        merged = sorted(pairs)
        self._high = array("Q", (high for high, _ in merged))
        self._low = array("Q", (low for _, low in merged))

    def __contains__(self, event_id: object) -> bool:
        if not self._high or not isinstance(event_id, str):
            return False
        halves = _halves(event_id)
        if halves is None:
            return False
        high, low = halves
        position = bisect.bisect_left(self._high, high)
        while position < len(self._high) and self._high[position] == high:
            if self._low[position] == low:
                return True
            position += 1
        return False


def _halves(event_id: str) -> tuple[int, int] | None:
    """The high and low 64 bits of a `derived_id` (32 lowercase hex digits), else None."""
    if len(event_id) != 32:
        return None
    try:
        value = int(event_id, 16)
    except ValueError:
        return None
    if f"{value:032x}" != event_id:  # "0x…", "_", "+", upper case: not a derived id
        return None
    return value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF


def _ns(stamp: Timestamp) -> int:
    return stamp.seconds * 1_000_000_000 + stamp.nanos


def _stamp(ns: int) -> Timestamp:
    seconds, nanos = divmod(ns, 1_000_000_000)
    return Timestamp(seconds=seconds, nanos=nanos)


def _ceil_ms(ns: int) -> int:
    return -(-ns // 1_000_000)


def _paused_now(clock: case_pb2.SlaClock) -> bool:
    """Standing still: PAUSED, or stopped while paused (the pause had no resume)."""
    if clock.state == PAUSED:
        return True
    return clock.HasField("paused_at") and _ns(clock.paused_at) >= _ns(clock.run_started_at)


# The version of an erased case: every snapshot of it is older.
_ERASED_VERSION = (1 << 62) - 1


class SlaBook:
    """The SLA clocks of the cases of one partition of care.cases."""

    def __init__(self) -> None:
        self._index = _CaseIndex()
        self._versions = array("q")
        self._labels = array("I")
        self._flags = bytearray()
        self._metas = array("q")  # two per case: response, resolution
        self._dues = array("q")  # ns
        self._starts = array("f")  # seconds from the start to the due instant
        self._label_table: list[Labels] = []
        self._label_ids: dict[Labels, int] = {}
        self._spec_table: list[Spec] = []
        self._spec_ids: dict[Spec, int] = {}
        self._timers = TimerWheel()
        # Ids on care.sla before this book was built (the tail its rebuild read), and per
        # case still being replayed the ids its replayed versions emitted: never again.
        self._published = PublishedIds()
        self._replay_ids: dict[str, set[str]] = {}
        # Open cases per (language, queue): without an assignee / with a clock at risk.
        self.queue_depth: dict[tuple[str, str], int] = {}
        self.at_risk: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return len(self._index.ids)

    def version(self, case_id: str) -> int:
        slot = self._index.find(case_id)
        return 0 if slot < 0 else self._versions[slot]

    def clock(self, case_id: str, which: int) -> ClockState | None:
        """The clock on slot `which` (RESPONSE_SLOT / RESOLUTION_SLOT) of a case, if any."""
        slot = self._index.find(case_id)
        if slot < 0:
            return None
        state = ClockState.unpack(self._metas[2 * slot + which])
        return state if state.kind else None

    def pending_timers(self) -> int:
        return len(self._timers)

    def mark_published(self, event_ids: Iterable[str]) -> int:
        """Ids already on care.sla (the tail of the partition read when the book was
        rebuilt): the book never publishes them again, whether a timer, a replayed version
        or a live one would. Kept until the book is dropped (a rebuild reads a new tail).
        Returns how many ids the book holds."""
        self._published.add(event_ids)
        return len(self._published)

    def published_ids(self) -> int:
        """How many ids `mark_published` gave the book (16 bytes each)."""
        return len(self._published)

    # -- case snapshots ------------------------------------------------------------------
    def restore(self, event: case_pb2.CaseEvent) -> None:
        """A snapshot read back from the changelog: state only, every milestone it implies
        counts as emitted, and the case is marked restored (see the module docstring)."""
        case = event.case
        slot = self._index.find(case.id)
        if slot >= 0 and case.version <= self._versions[slot]:
            return
        if slot < 0:
            slot = self._new_case(case.id)
        self._apply(slot, case, emit=None)
        self._flags[slot] |= _RESTORED

    def forget(self, case_id: str) -> int:
        """An erased case (its tombstone on care.cases, issue 12): its clocks stop for good
        -- their timers are skipped, no milestone is emitted for it again, it leaves the
        gauges, and any snapshot of it that still comes (a replay before compaction, a
        redelivery) is stale. Its slot keeps only the case id (a derived id, nothing of the
        customer). Returns how many clocks it had."""
        slot = self._index.find(case_id)
        if slot < 0:
            return 0
        self._uncount(slot)
        clocks = 0
        for which in (RESPONSE_SLOT, RESOLUTION_SLOT):
            index = 2 * slot + which
            clocks += ClockState.unpack(self._metas[index]).kind != 0
            self._metas[index] = 0
            self._dues[index] = 0
            self._starts[index] = 0.0
        self._versions[slot] = _ERASED_VERSION
        self._flags[slot] = 0
        self._replay_ids.pop(case_id, None)
        return clocks

    def on_case(self, event: case_pb2.CaseEvent) -> list[sla_pb2.SlaEvent]:
        """A live snapshot: the milestones it adds to what the book knows."""
        case = event.case
        slot = self._index.find(case.id)
        if slot >= 0 and case.version <= self._versions[slot]:
            if not self._flags[slot] & _RESTORED:
                return []  # stale: seen live already
            # Replayed: the previous owner may have died before publishing its effects.
            last = case.version == self._versions[slot]
            if last:
                self._flags[slot] &= ~_RESTORED & 0xFF
            return self._replayed(slot, case, last=last)
        if slot < 0:
            slot = self._new_case(case.id)
        elif self._flags[slot] & _RESTORED:
            self._replay_ids.pop(case.id, None)  # a newer version: no replay of it follows
        self._flags[slot] &= ~_RESTORED & 0xFF
        emitted: list[sla_pb2.SlaEvent] = []
        self._apply(slot, case, emit=emitted)
        if self._published:
            emitted = [e for e in emitted if e.event_id not in self._published]
        return emitted

    # -- timers --------------------------------------------------------------------------
    def due(self, now: datetime) -> list[sla_pb2.SlaEvent]:
        """WARNING and BREACHED events of running clocks whose instants have passed (those
        already published, `mark_published`, only mark their clock)."""
        now_ms = math.floor(now.timestamp() * 1000)
        fired: list[sla_pb2.SlaEvent] = []
        for instant_ms, ref in self._timers.due(now_ms):
            index, tag, milestone = ref >> _TAG_SHIFT, (ref >> 4) & _TAG_MASK, ref & 0xF
            clock = ClockState.unpack(self._metas[index])
            if not clock.running or clock.run_tag() != tag:
                continue  # stale: the clock stopped, paused or restarted since
            slot = index // 2
            spec = self._spec_table[clock.spec]
            if milestone == _BREACH_TIMER:
                if clock.breach or _ceil_ms(self._dues[index]) > now_ms:
                    continue
                clock = clock._replace(breach=True)
                event = self._timer_event(slot, index, clock, "breached")
                event.business_seconds = spec.target_seconds
            else:
                bit = 1 << milestone
                if clock.warned & bit or clock.breach or milestone >= len(spec.thresholds):
                    continue
                clock = clock._replace(warned=clock.warned | bit)
                threshold = spec.thresholds[milestone]
                event = self._timer_event(slot, index, clock, "warning", threshold)
                event.threshold = threshold
                event.business_seconds = threshold * spec.target_seconds
            event.occurred_at.CopyFrom(_stamp(instant_ms * 1_000_000))
            event.elapsed_seconds = self._elapsed(index, instant_ms * 1_000_000)
            self._uncount(slot)
            self._metas[index] = clock.pack()
            self._count(slot)
            if not self._already_published(event):
                fired.append(event)
        return fired

    def _already_published(self, event: sla_pb2.SlaEvent) -> bool:
        """On care.sla before this book was built, or emitted for a replayed version."""
        if event.event_id in self._published:
            return True
        replayed = self._replay_ids.get(event.case_id) if self._replay_ids else None
        return replayed is not None and event.event_id in replayed

    # -- internals -----------------------------------------------------------------------
    def _new_case(self, case_id: str) -> int:
        if len(self._index.ids) >= MAX_CASES:
            raise OverflowError(f"an SLA book holds at most {MAX_CASES} cases (one partition)")
        slot = self._index.add(case_id)
        self._versions.append(0)
        self._labels.append(0)
        self._flags.append(0)
        self._metas.extend((0, 0))
        self._dues.extend((0, 0))
        self._starts.extend((0.0, 0.0))
        return slot

    def _apply(
        self, slot: int, case: case_pb2.Case, *, emit: list[sla_pb2.SlaEvent] | None
    ) -> None:
        """Take `case` as the known state; append to `emit` the milestones it adds (None:
        a restore, which emits nothing and takes every implied milestone as known)."""
        self._uncount(slot)
        self._versions[slot] = case.version
        self._labels[slot] = self._intern_labels(case)
        flags = self._flags[slot] & (_RESTORED | _COUNTED_DEPTH | _COUNTED_RISK)
        if case.status not in DONE_STATUSES:
            flags |= _OPEN
            if not case.assignee:
                flags |= _UNASSIGNED
        self._flags[slot] = flags
        for which, clock in ((RESPONSE_SLOT, case.sla), (RESOLUTION_SLOT, case.resolution_sla)):
            if clock.HasField("due_at"):
                self._apply_clock(2 * slot + which, case, clock, emit)
        self._count(slot)

    def _apply_clock(
        self,
        index: int,
        case: case_pb2.Case,
        clock: case_pb2.SlaClock,
        emit: list[sla_pb2.SlaEvent] | None,
    ) -> None:
        seen = _implied(case, clock)
        known = ClockState.unpack(self._metas[index])
        spec = self._intern_spec(clock)
        due_ns = _ns(clock.due_at)
        new_clock = known.kind != seen.kind or known.cycle != (seen.cycle & 0xFFFF)
        if new_clock:
            known = ClockState(seen.kind, seen.cycle, 0, False, False, False, False, False, 0, 0, 0)
        if emit is not None:
            if new_clock:
                emit.append(self._snapshot_event(case, clock, seen, "started"))
            missed = seen.passed & ~known.warned & ~seen.warned
            emit.extend(self._warning_events(case, clock, seen, missed))
            for step in range(known.transitions + 1, seen.transitions + 1):
                emit.append(self._transition_event(case, clock, seen, step))
            if seen.breached and not known.breach and not seen.breach_applied:
                emit.append(self._snapshot_event(case, clock, seen, "breached"))
            if seen.stopped and not known.end and not seen.cancelled:
                emit.append(self._snapshot_event(case, clock, seen, _end_of(seen)))
        updated = ClockState(
            kind=seen.kind,
            cycle=seen.cycle,
            state=clock.state,
            stopped=seen.stopped,
            paused=seen.paused,
            breach=known.breach or seen.breached,
            end=known.end or seen.stopped,
            at_risk=clock.at_risk and not seen.stopped,
            warned=known.warned | seen.warned | seen.passed,
            transitions=max(known.transitions, seen.transitions),
            spec=spec,
        )
        rescheduled = (
            new_clock or updated.run_tag() != known.run_tag() or self._dues[index] != due_ns
        )
        self._metas[index] = updated.pack()
        self._dues[index] = due_ns
        self._starts[index] = (due_ns - _ns(clock.started_at)) / 1e9
        if rescheduled and updated.running:
            self._schedule(index, updated, clock)

    def _schedule(self, index: int, clock: ClockState, snapshot: case_pb2.SlaClock) -> None:
        base = index << _TAG_SHIFT | clock.run_tag() << 4
        for position, instant in enumerate(snapshot.warning_at[:MAX_WARNINGS]):
            if not clock.warned & (1 << position):
                self._timers.add(_ceil_ms(_ns(instant)), base | position)
        if not clock.breach:
            self._timers.add(_ceil_ms(self._dues[index]), base | _BREACH_TIMER)

    def _replayed(self, slot: int, case: case_pb2.Case, *, last: bool) -> list[sla_pb2.SlaEvent]:
        """Every milestone a replayed version implies, except applied warnings and breaches
        (durable: routing consumed them), ids on care.sla before the rebuild and ids an
        earlier replayed version of the case emitted (remembered until its `last` replayed
        version, the restored one: after it the case is live). The book's state stays as
        restored."""
        emitted: list[sla_pb2.SlaEvent] = []
        for clock in (case.sla, case.resolution_sla):
            if not clock.HasField("due_at"):
                continue
            seen = _implied(case, clock)
            emitted.append(self._snapshot_event(case, clock, seen, "started"))
            emitted.extend(self._warning_events(case, clock, seen, seen.passed & ~seen.warned))
            for step in range(1, seen.transitions + 1):
                emitted.append(self._transition_event(case, clock, seen, step))
            if seen.breached and not seen.breach_applied:
                emitted.append(self._snapshot_event(case, clock, seen, "breached"))
            if seen.stopped and not seen.cancelled:
                emitted.append(self._snapshot_event(case, clock, seen, _end_of(seen)))
        if last:
            done = self._replay_ids.pop(case.id, set())
        else:
            done = self._replay_ids.setdefault(case.id, set())
        fresh = []
        for event in emitted:
            if event.event_id not in done and event.event_id not in self._published:
                done.add(event.event_id)
                fresh.append(event)
        return fresh

    def _intern_labels(self, case: case_pb2.Case) -> int:
        labels = Labels(
            case.language,
            case.channel,
            case.queue,
            case.priority,
            case.brand,
            case.team,
            case.customer_tier,
            case.assignee,
        )
        found = self._label_ids.get(labels)
        if found is None:
            found = self._label_ids[labels] = len(self._label_table)
            self._label_table.append(labels)
        return found

    def _intern_spec(self, clock: case_pb2.SlaClock) -> int:
        spec = Spec(clock.policy, clock.target_seconds, tuple(clock.warning_thresholds))
        found = self._spec_ids.get(spec)
        if found is None:
            found = self._spec_ids[spec] = len(self._spec_table)
            if found > 0xFFFF:
                raise ValueError("more than 65536 distinct SLA policy specs in one book")
            self._spec_table.append(spec)
        return found

    # -- gauges ----------------------------------------------------------------------------
    def _uncount(self, slot: int) -> None:
        flags = self._flags[slot]
        if not flags & (_COUNTED_DEPTH | _COUNTED_RISK):
            return
        labels = self._label_table[self._labels[slot]]
        key = (labels.language, labels.queue)
        if flags & _COUNTED_DEPTH:
            _add(self.queue_depth, key, -1)
        if flags & _COUNTED_RISK:
            _add(self.at_risk, key, -1)
        self._flags[slot] = flags & ~(_COUNTED_DEPTH | _COUNTED_RISK) & 0xFF

    def _count(self, slot: int) -> None:
        flags = self._flags[slot]
        if not flags & _OPEN:
            return
        labels = self._label_table[self._labels[slot]]
        key = (labels.language, labels.queue)
        self.queue_depth.setdefault(key, 0)
        self.at_risk.setdefault(key, 0)
        if flags & _UNASSIGNED:
            _add(self.queue_depth, key, 1)
            flags |= _COUNTED_DEPTH
        if any(_at_risk(ClockState.unpack(self._metas[2 * slot + w])) for w in (0, 1)):
            _add(self.at_risk, key, 1)
            flags |= _COUNTED_RISK
        self._flags[slot] = flags

    # -- events ----------------------------------------------------------------------------
    def _base_event(self, slot: int, spec: Spec) -> sla_pb2.SlaEvent:
        labels = self._label_table[self._labels[slot]]
        return sla_pb2.SlaEvent(
            case_id=self._index.ids[slot],
            policy=spec.policy,
            language=labels.language,
            channel=labels.channel,
            queue=labels.queue,
            assignee=labels.assignee,
            priority=labels.priority,
            brand=labels.brand,
            team=labels.team,
            customer_tier=labels.customer_tier,
            target_seconds=spec.target_seconds,
        )

    def _timer_event(
        self, slot: int, index: int, clock: ClockState, milestone: str, threshold: float = 0.0
    ) -> sla_pb2.SlaEvent:
        spec = self._spec_table[clock.spec]
        event = self._base_event(slot, spec)
        event.type = _MILESTONE_TYPES[milestone]
        event.clock = _KINDS[clock.kind]
        event.cycle = clock.cycle
        event.due_at.CopyFrom(_stamp(self._dues[index]))
        detail = threshold_text(threshold) if milestone == "warning" else ""
        event.event_id = sla_event_id(event.case_id, event.clock, clock.cycle, milestone, detail)
        return event

    def _elapsed(self, index: int, at_ns: int) -> float:
        return (at_ns - self._dues[index]) / 1e9 + float(self._starts[index])

    def _snapshot_event(
        self, case: case_pb2.Case, clock: case_pb2.SlaClock, seen: _Snapshot, milestone: str
    ) -> sla_pb2.SlaEvent:
        spec = Spec(clock.policy, clock.target_seconds, tuple(clock.warning_thresholds))
        event = _labelled(case, spec)
        event.type = _MILESTONE_TYPES[milestone]
        event.clock = seen.kind
        event.cycle = seen.cycle
        event.due_at.CopyFrom(clock.due_at)
        event.event_id = sla_event_id(case.id, seen.kind, seen.cycle, milestone)
        if milestone == "started":
            at = clock.started_at
            event.business_seconds = 0.0
        elif milestone == "breached":
            at = clock.due_at
            event.business_seconds = clock.target_seconds
        else:  # met / stopped
            at = case.updated_at
            if clock.HasField("stopped_at"):
                at = clock.stopped_at
            elif clock.HasField("first_response_at"):  # a record from before stopped_at
                at = clock.first_response_at
            event.business_seconds = business_seconds(clock, None, from_timestamp(at))
        event.occurred_at.CopyFrom(at)
        event.elapsed_seconds = max(0.0, (_ns(at) - _ns(clock.started_at)) / 1e9)
        return event

    def _warning_events(
        self, case: case_pb2.Case, clock: case_pb2.SlaClock, seen: _Snapshot, positions: int
    ) -> list[sla_pb2.SlaEvent]:
        """WARNINGs a snapshot shows passed (bits of `positions`) that no timer published:
        the clock paused or stopped before a tick fired them, or the book was rebuilt."""
        events = []
        for position, threshold in enumerate(clock.warning_thresholds[:MAX_WARNINGS]):
            if not positions & (1 << position):
                continue
            event = self._snapshot_event(case, clock, seen, "started")
            event.type = sla_pb2.SLA_EVENT_TYPE_WARNING
            event.threshold = threshold
            event.event_id = sla_event_id(
                case.id, seen.kind, seen.cycle, "warning", threshold_text(threshold)
            )
            at = clock.warning_at[position]
            event.occurred_at.CopyFrom(at)
            event.elapsed_seconds = max(0.0, (_ns(at) - _ns(clock.started_at)) / 1e9)
            event.business_seconds = threshold * clock.target_seconds
            events.append(event)
        return events

    def _transition_event(
        self, case: case_pb2.Case, clock: case_pb2.SlaClock, seen: _Snapshot, step: int
    ) -> sla_pb2.SlaEvent:
        """PAUSED n (odd steps) or RESUMED n (even steps); the instant is the snapshot's
        for the latest step, the case's update time for earlier (replayed) ones."""
        number = (step + 1) // 2
        milestone = "paused" if step % 2 else "resumed"
        event = self._snapshot_event(case, clock, seen, "started")
        event.type = _MILESTONE_TYPES[milestone]
        event.event_id = sla_event_id(case.id, seen.kind, seen.cycle, milestone, str(number))
        latest = step == seen.transitions
        if latest and milestone == "paused" and clock.HasField("paused_at"):
            at = clock.paused_at
        elif latest and milestone == "resumed" and clock.HasField("run_started_at"):
            at = clock.run_started_at
        else:
            at = case.updated_at
        event.occurred_at.CopyFrom(at)
        event.elapsed_seconds = max(0.0, (_ns(at) - _ns(clock.started_at)) / 1e9)
        event.business_seconds = clock.consumed_seconds
        return event


_MILESTONE_TYPES = {
    "started": sla_pb2.SLA_EVENT_TYPE_STARTED,
    "warning": sla_pb2.SLA_EVENT_TYPE_WARNING,
    "paused": sla_pb2.SLA_EVENT_TYPE_PAUSED,
    "resumed": sla_pb2.SLA_EVENT_TYPE_RESUMED,
    "breached": sla_pb2.SLA_EVENT_TYPE_BREACHED,
    "met": sla_pb2.SLA_EVENT_TYPE_MET,
    "stopped": sla_pb2.SLA_EVENT_TYPE_STOPPED,
}


def _implied(case: case_pb2.Case, clock: case_pb2.SlaClock) -> _Snapshot:
    kind = kind_of(clock)
    cycle = cycle_of(clock)
    paused = _paused_now(clock)
    pauses = max(clock.pauses, 1 if paused else 0)
    warned = 0
    for threshold in clock.warned:
        for position, candidate in enumerate(clock.warning_thresholds[:MAX_WARNINGS]):
            if abs(candidate - threshold) < 1e-9:
                warned |= 1 << position
    stopped = is_stopped(clock)
    cancelled = clock.state == CANCELLED
    breach_applied = sla_event_id(case.id, kind, cycle, "breached") in case.applied_ids
    used_up = paused and clock.consumed_seconds >= clock.target_seconds > 0 and not cancelled
    return _Snapshot(
        kind=kind,
        cycle=cycle,
        transitions=2 * pauses - (1 if paused else 0),
        paused=paused,
        warned=warned,
        passed=0 if cancelled else _passed_warnings(clock, stopped=stopped, paused=paused),
        breached=clock.state == BREACHED or breach_applied or used_up,
        breach_applied=breach_applied,
        stopped=stopped,
        cancelled=cancelled,
    )


def _passed_warnings(clock: case_pb2.SlaClock, *, stopped: bool, paused: bool) -> int:
    """Warning instants the clock reached while counting, by what the snapshot shows: up to
    its stop or pause, or (running) before its current run began. The rest are the timers'."""
    limit: Timestamp | None = None
    if stopped:
        if clock.HasField("stopped_at"):
            limit = clock.stopped_at
        elif clock.HasField("first_response_at"):
            limit = clock.first_response_at
    elif paused:
        limit = clock.paused_at if clock.HasField("paused_at") else None
    elif clock.HasField("run_started_at"):
        limit = clock.run_started_at
    if limit is None:
        return 0
    end = _ns(limit)
    passed = 0
    for position, instant in enumerate(clock.warning_at[:MAX_WARNINGS]):
        if _ns(instant) <= end and position < len(clock.warning_thresholds):
            passed |= 1 << position
    return passed


def _end_of(seen: _Snapshot) -> str:
    return "stopped" if seen.breached else "met"


def _at_risk(clock: ClockState) -> bool:
    """An open clock past its first warning, breached, or predicted to breach."""
    return clock.open and bool(clock.warned or clock.breach or clock.at_risk)


def _labelled(case: case_pb2.Case, spec: Spec) -> sla_pb2.SlaEvent:
    return sla_pb2.SlaEvent(
        case_id=case.id,
        policy=spec.policy,
        language=case.language,
        channel=case.channel,
        queue=case.queue,
        assignee=case.assignee,
        priority=case.priority,
        brand=case.brand,
        team=case.team,
        customer_tier=case.customer_tier,
        target_seconds=spec.target_seconds,
    )


def _add(counts: dict[tuple[str, str], int], key: tuple[str, str], delta: int) -> None:
    """Keys stay at zero (a gauge that drops to 0 reads 0, not absent)."""
    counts[key] = counts.get(key, 0) + delta
