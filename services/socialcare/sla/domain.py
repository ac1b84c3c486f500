"""SLA tracking: follows the first-response clock of every case and calls breaches.

Pure: case events in, SLA events and first-response observations out, time passed in. A
case's clock (policy, start, due time) comes with the case from routing; a book keeps a
min-heap of due times so `due(now)` costs O(log n) per breach, not a scan per tick.

One `SlaBook` holds the cases of one partition of care.cases. A case's SLA events carry
the case id as key, so they and the case share a partition number; the owner of partition
p rebuilds its book from partition p of the compacted changelog (`restore`: state only, no
effects) and forgets it when p moves to another member.

What was already emitted is read from the case itself, not from care.sla (which grows with
history):
  * breached: routing applies a breach to the case, recording the breach's event id in
    `applied_ids` and setting the clock BREACHED (a first reply after the due time sets
    BREACHED too). A restored clock that is still RUNNING past its due time has no applied
    breach, so `due` emits it (again);
  * met: follows from the case's `first_response_at` at or before the due time. A restored
    answered clock is done.
Event ids derive from (case id, due time), so an event emitted again is the same event, and
every consumer of care.sla is idempotent on it (routing by `applied_ids`, escalation by ids
derived from it).

At-least-once windows, and what they cost:
  * a breach emitted but not yet applied by routing when a partition is rebuilt (restart,
    rebalance, failed flush) is emitted again, same id (and counted again by the new
    process's breach counter);
  * a case event whose offset was not committed is delivered again after a rebuild that
    has already applied it (the replay reads to the end of the changelog). The snapshot
    the rebuild kept is marked restored; when that same version arrives live, its MET (if
    the case was answered in time) is emitted again, same id, because nothing shows
    whether the previous owner published it. Older versions arriving live are stale and
    ignored. First-response times are observed only for answers this book saw happen live,
    so an answer no live owner processed before a rebuild (e.g. written while sla was
    down) is not observed: the histogram may miss those, it never counts one twice.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.cases import channel_name
from socialcare.core.events import derived_id
from socialcare.v1 import case_pb2, message_pb2, sla_pb2


def breach_id(case_id: str, due_at: datetime) -> str:
    """The event id of the breach of the clock of `case_id` due at `due_at`."""
    return derived_id("sla-breach", case_id, due_at.isoformat())


def met_id(case_id: str, due_at: datetime) -> str:
    """The event id of the "met" of the clock of `case_id` due at `due_at`."""
    return derived_id("sla-met", case_id, due_at.isoformat())


@dataclass(frozen=True, slots=True)
class FirstResponse:
    """One first-response time to observe, with its (bounded) labels."""

    language: str
    channel: str
    queue: str
    seconds: float


@dataclass(slots=True)
class TrackedClock:
    case_id: str
    language: str
    channel: message_pb2.Channel.ValueType
    queue: str
    assignee: str
    policy: str
    started_at: datetime
    due_at: datetime
    answered: bool
    breached: bool


@dataclass
class SlaBook:
    """The SLA clocks of the cases of one partition of care.cases."""

    versions: dict[str, int] = field(default_factory=dict)
    clocks: dict[str, TrackedClock] = field(default_factory=dict)
    # Cases whose latest known snapshot came from `restore` and has not been seen live.
    _restored: set[str] = field(default_factory=set)
    _heap: list[tuple[datetime, str]] = field(default_factory=list)

    def restore(self, event: case_pb2.CaseEvent) -> None:
        """Apply a snapshot read back from the changelog: the clock's state, no effects."""
        case = event.case
        if case.version <= self.versions.get(case.id, 0):
            return
        self.versions[case.id] = case.version
        self._restored.add(case.id)
        if not case.sla.HasField("due_at"):
            return
        answered = case.sla.HasField("first_response_at")
        tracked = self._track(case, answered=answered)
        tracked.answered = tracked.answered or answered

    def on_case(
        self, event: case_pb2.CaseEvent, now: datetime
    ) -> tuple[list[sla_pb2.SlaEvent], FirstResponse | None]:
        """A live case event: the SLA events it causes and the first response to observe."""
        case = event.case
        known = self.versions.get(case.id, 0)
        redelivered = case.version == known and case.id in self._restored
        if case.version < known or (case.version == known and not redelivered):
            return [], None
        self.versions[case.id] = case.version
        self._restored.discard(case.id)
        if not case.sla.HasField("due_at"):
            return [], None
        tracked = self._track(case, answered=False)
        if redelivered:
            # The rebuild applied this very snapshot, but its offset was not committed, so
            # whether its effects were published is unknown: publish them again (same id).
            return self._met(tracked, case), None
        if tracked.answered or not case.sla.HasField("first_response_at"):
            return [], None
        tracked.answered = True
        answered_at = from_timestamp(case.sla.first_response_at)
        observation = FirstResponse(
            language=tracked.language,
            channel=channel_name(tracked.channel),
            queue=tracked.queue,
            seconds=max(0.0, (answered_at - tracked.started_at).total_seconds()),
        )
        return self._met(tracked, case), observation

    def due(self, now: datetime) -> list[sla_pb2.SlaEvent]:
        """Breach events for every running clock whose due time has passed."""
        breaches: list[sla_pb2.SlaEvent] = []
        while self._heap and self._heap[0][0] <= now:
            due_at, case_id = heapq.heappop(self._heap)
            tracked = self.clocks.get(case_id)
            if tracked is None or tracked.due_at != due_at:
                continue  # a clock that has been restarted since
            if tracked.answered or tracked.breached:
                continue
            tracked.breached = True
            breaches.append(
                self._event(
                    tracked,
                    sla_pb2.SLA_EVENT_TYPE_BREACHED,
                    breach_id(case_id, due_at),
                    now,
                )
            )
        return breaches

    def _track(self, case: case_pb2.Case, *, answered: bool) -> TrackedClock:
        """The clock of `case`, started anew when its due time changed (a reopened case)."""
        due_at = from_timestamp(case.sla.due_at)
        tracked = self.clocks.get(case.id)
        if tracked is None or tracked.due_at != due_at:
            tracked = TrackedClock(
                case_id=case.id,
                language=case.language,
                channel=case.channel,
                queue=case.queue,
                assignee=case.assignee,
                policy=case.sla.policy,
                started_at=from_timestamp(case.sla.started_at),
                due_at=due_at,
                answered=answered,
                breached=False,
            )
            self.clocks[case.id] = tracked
            if not answered:
                heapq.heappush(self._heap, (due_at, case.id))
        tracked.assignee = case.assignee
        tracked.queue = case.queue
        if case.sla.state == case_pb2.SLA_STATE_BREACHED or (
            breach_id(case.id, due_at) in case.applied_ids
        ):
            tracked.breached = True
        return tracked

    def _met(self, tracked: TrackedClock, case: case_pb2.Case) -> list[sla_pb2.SlaEvent]:
        """The "met" event of an answered clock, if the answer came in time."""
        if not case.sla.HasField("first_response_at"):
            return []
        answered_at = from_timestamp(case.sla.first_response_at)
        if answered_at > tracked.due_at:
            return []
        return [
            self._event(
                tracked,
                sla_pb2.SLA_EVENT_TYPE_MET,
                met_id(tracked.case_id, tracked.due_at),
                answered_at,
            )
        ]

    @staticmethod
    def _event(
        tracked: TrackedClock,
        kind: sla_pb2.SlaEventType.ValueType,
        event_id: str,
        at: datetime,
    ) -> sla_pb2.SlaEvent:
        return sla_pb2.SlaEvent(
            event_id=event_id,
            type=kind,
            case_id=tracked.case_id,
            policy=tracked.policy,
            language=tracked.language,
            channel=tracked.channel,
            queue=tracked.queue,
            due_at=to_timestamp(tracked.due_at),
            occurred_at=to_timestamp(at),
            elapsed_seconds=(at - tracked.started_at).total_seconds(),
            assignee=tracked.assignee,
        )
