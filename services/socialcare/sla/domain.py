"""SLA tracking: follows every case's first-response clock and calls breaches.

Pure: case events in, SLA events and first-response observations out, time passed in.
A case's clock (policy, start, due time) comes with the case from routing; this keeps a
min-heap of due times so `due(now)` costs O(log n) per breach, not a scan per tick.

Idempotency: a case event older than one already seen is ignored (version); a breach or
"met" event id derives from (case id, due time), so a clock emits each at most once,
also across restarts (ids of events already on care.sla are loaded at start-up).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.cases import channel_name
from socialcare.core.events import derived_id
from socialcare.v1 import case_pb2, message_pb2, sla_pb2


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
    versions: dict[str, int] = field(default_factory=dict)
    clocks: dict[str, TrackedClock] = field(default_factory=dict)
    emitted: set[str] = field(default_factory=set)
    _heap: list[tuple[datetime, str]] = field(default_factory=list)

    def remember_emitted(self, event_id: str) -> None:
        self.emitted.add(event_id)

    def on_case(
        self, event: case_pb2.CaseEvent, now: datetime
    ) -> tuple[list[sla_pb2.SlaEvent], FirstResponse | None]:
        case = event.case
        if case.version <= self.versions.get(case.id, 0):
            return [], None
        self.versions[case.id] = case.version
        if not case.sla.HasField("due_at"):
            return [], None
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
                answered=False,
                breached=case.sla.state == case_pb2.SLA_STATE_BREACHED,
            )
            self.clocks[case.id] = tracked
            heapq.heappush(self._heap, (due_at, case.id))
        tracked.assignee = case.assignee
        tracked.queue = case.queue
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
        events = []
        if answered_at <= tracked.due_at:
            met = self._event(tracked, sla_pb2.SLA_EVENT_TYPE_MET, "sla-met", answered_at)
            if met is not None:
                events.append(met)
        return events, observation

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
            breach = self._event(tracked, sla_pb2.SLA_EVENT_TYPE_BREACHED, "sla-breach", now)
            if breach is not None:
                breaches.append(breach)
        return breaches

    def _event(
        self,
        tracked: TrackedClock,
        kind: sla_pb2.SlaEventType.ValueType,
        prefix: str,
        at: datetime,
    ) -> sla_pb2.SlaEvent | None:
        event_id = derived_id(prefix, tracked.case_id, tracked.due_at.isoformat())
        if event_id in self.emitted:
            return None
        self.emitted.add(event_id)
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
