"""The escalation book of one partition: every escalation of its cases, as it stands.

An escalation climbs the ladder of its policy (care config `escalation.policies`): raised at
the tier its trigger enters on, it must be acknowledged within that step's window, else it
moves to the next tier (RE_ESCALATED: level + 1, whoever is on call there, a new deadline);
at the top of the ladder it stays open until someone acknowledges it. Acknowledged, it
waits for someone to resolve it. Each change is an `EscalationEvent` on care.escalations
carrying the whole escalation (`revision` + 1), so consumers keep the highest revision.

Rules decided here:
* One open (not resolved) escalation per case and trigger family (`triggers.Trigger`): a
  second breach, or a breach after a warning of the same clock, opens no second one. When
  the newcomer enters its policy higher than the open one stands, the open one moves up
  to that tier at once (RE_ESCALATED, with the newcomer's reason), even if it had been
  acknowledged. A breach after a warning or an at-risk prediction does so even when it
  enters at the same tier or below (it stays at its tier then): a breach is news to the
  team lead who acknowledged the prediction.
* The escalation of an SLA clock resolves itself when that clock stops (met, or answered
  after its breach): its reason is gone. All open escalations of a case resolve when the
  case is resolved. Only the people notified resolve the others.
* Acknowledging an escalation that is not open, or resolving one that is resolved, changes
  nothing (logged): the gateway rejects those requests first (404/409), so this only
  happens when two people race; the first one wins.

Exactly once: an escalation's id derives from its case, family and cause (the SLA event,
message or command id), so a redelivered trigger finds it and does nothing; an event's id
derives from the escalation id, the event type and the revision. Time-driven moves are
computed at the deadline, not at the moment the timer fires, so the move re-done after a
crash is the same event with the same content.

Pure: no I/O; `now` is passed in.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import derived_id
from socialcare.escalation.policy import Roster
from socialcare.escalation.triggers import (
    CLOCK_KEYS,
    SLA_FAMILY,
    TIER_VALUES,
    Trigger,
    Triggers,
    clock_of,
    family_of,
)
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2, incident_pb2, sla_pb2

log = logging.getLogger(__name__)

E = escalation_pb2
OPEN = E.ESCALATION_STATUS_OPEN
ACKNOWLEDGED = E.ESCALATION_STATUS_ACKNOWLEDGED
RESOLVED = E.ESCALATION_STATUS_RESOLVED
# Case events after which nobody works on the case: its escalations resolve, noting why.
CASE_ENDS: dict[case_pb2.CaseEventType.ValueType, str] = {
    case_pb2.CASE_EVENT_TYPE_RESOLVED: "the case was resolved",
    case_pb2.CASE_EVENT_TYPE_CLOSED: "the case was closed",
}

# Re-escalations per timer tick at most (about 50 ms of work).
MAX_MOVES_PER_CALL = 1000

# SLA events that stop a clock: the escalations about it lose their reason.
CLOCK_STOPS = frozenset({sla_pb2.SLA_EVENT_TYPE_MET, sla_pb2.SLA_EVENT_TYPE_STOPPED})


def escalation_id(case_id: str, trigger: Trigger) -> str:
    """The id of the escalation a trigger raises: the same for the same trigger, always."""
    return derived_id("escalation", case_id, trigger.family, trigger.cause_id)[:20]


def event_id(escalation: escalation_pb2.Escalation, kind: E.EscalationEventType.ValueType) -> str:
    name = E.EscalationEventType.Name(kind).removeprefix("ESCALATION_EVENT_TYPE_").lower()
    return derived_id("escalation-event", escalation.id, name, str(escalation.revision))


def status_of(escalation: escalation_pb2.Escalation) -> E.EscalationStatus.ValueType:
    """An older record without a status was raised and never acknowledged: open."""
    return escalation.status or OPEN


@dataclass
class CaseView:
    """What the book knows of a case: enough to say who is on call, and its escalations."""

    id: str
    brand: str = ""
    team: str = ""
    queue: str = ""
    language: str = ""
    assignee: str = ""
    version: int = 0
    escalations: dict[str, escalation_pb2.Escalation] = field(default_factory=dict)

    def update(self, case: case_pb2.Case) -> bool:
        """Take the case's fields when it is not older than what the view has; True when
        it was the newest state seen."""
        if case.version < self.version:
            return False
        self.version = case.version
        self.brand, self.team, self.queue = case.brand, case.team, case.queue
        self.language, self.assignee = case.language, case.assignee
        return True

    def open_in(self, family: str) -> escalation_pb2.Escalation | None:
        for escalation in self.escalations.values():
            if status_of(escalation) != RESOLVED and family_of(escalation) == family:
                return escalation
        return None


class EscalationBook:
    """The escalations of one partition's cases; see the module docstring."""

    def __init__(self, roster: Roster, triggers: Triggers) -> None:
        self.roster = roster
        self.triggers = triggers
        self.cases: dict[str, CaseView] = {}
        # OPEN escalations that can still climb: escalation id -> case id, and their
        # deadlines in a heap (entries whose escalation moved on are skipped when popped),
        # so a timer tick costs nothing until the earliest deadline passes.
        self._climbing: dict[str, str] = {}
        self._deadlines: list[tuple[float, str]] = []
        # Erased cases (their tombstone on care.cases, issue 12): whatever still comes about
        # them (a late SLA event, an escalation on care.escalations) is ignored.
        self.erased: set[str] = set()

    def forget(self, case_id: str) -> int:
        """An erased case: its view and escalations go, none of them climbs again, and later
        inputs about it are ignored. Returns how many escalations it had."""
        self.erased.add(case_id)
        view = self.cases.pop(case_id, None)
        if view is None:
            return 0
        for escalation_id_ in view.escalations:
            self._climbing.pop(escalation_id_, None)  # its deadlines are skipped
        return len(view.escalations)

    # -- rebuilding ------------------------------------------------------------------------
    def restore_case(self, event: case_pb2.CaseEvent) -> None:
        """A record of the care.cases changelog: the case's fields and the escalations
        routing applied to it."""
        if event.case.id in self.erased:
            return
        view = self._view(event.case.id)
        view.update(event.case)
        for escalation in event.case.escalations:
            self._keep(view, escalation)

    def restore_escalation(self, event: escalation_pb2.EscalationEvent) -> None:
        """A record of care.escalations (including those routing has not applied yet)."""
        if event.escalation.case_id in self.erased:
            return
        self._keep(self._view(event.escalation.case_id), event.escalation)

    def _keep(self, view: CaseView, escalation: escalation_pb2.Escalation) -> None:
        known = view.escalations.get(escalation.id)
        if known is None or escalation.revision > known.revision:
            copy = E.Escalation()
            copy.CopyFrom(escalation)
            self._store(view, copy)

    # -- inputs ----------------------------------------------------------------------------
    def on_case(self, event: case_pb2.CaseEvent, now: datetime) -> list[Emit]:
        """A case changed: a new customer message may trigger; a resolved case resolves its
        escalations, as does a closed one (merged into another, or closed without passing
        through resolved). A clock the case shows CANCELLED (merged into another case: the
        sla service emits no MET or STOPPED for it) counts as stopped: the escalations about
        it resolve."""
        if event.case.id in self.erased:
            return []
        view = self._view(event.case.id)
        newest = view.update(event.case)
        for escalation in event.case.escalations:
            self._keep(view, escalation)
        effects: list[Emit] = []
        for trigger in self.triggers.from_case(event):
            effects += self._raise(view, trigger, now)
        if newest:
            effects += self._clocks_cancelled(view, event.case, now)
        if newest and event.type in CASE_ENDS:
            at = from_timestamp(event.occurred_at) if event.HasField("occurred_at") else now
            for escalation in list(view.escalations.values()):
                if status_of(escalation) != RESOLVED:
                    effects.append(
                        self._resolve(view, escalation, by="", note=CASE_ENDS[event.type], at=at)
                    )
        return effects

    def on_sla(self, event: sla_pb2.SlaEvent, now: datetime) -> list[Emit]:
        """A warning, at-risk prediction or breach may escalate; a stopped clock resolves
        the escalations about it."""
        if event.case_id in self.erased:
            return []
        view = self._view(event.case_id)
        if not view.version:
            # Not seen on care.cases yet (the two topics are read independently): the SLA
            # event says enough about the case to notify the right people.
            view.brand, view.team, view.queue = event.brand, event.team, event.queue
            view.language, view.assignee = event.language, event.assignee
        if event.type in CLOCK_STOPS:
            return self._clock_stopped(view, event, now)
        effects: list[Emit] = []
        for trigger in self.triggers.from_sla(event):
            effects += self._raise(view, trigger, now)
        return effects

    def on_command(self, command: commands_pb2.AgentCommand, now: datetime) -> list[Emit]:
        """escalate, acknowledge_escalation, resolve_escalation, and the crisis's incident;
        other actions are routing's."""
        action = command.WhichOneof("action")
        if command.case_id in self.erased:
            return []
        if action == "incident" and command.incident.closed:
            return self._incident_closed(command, now)
        if action in ("escalate", "incident"):
            view = self._view(command.case_id)
            effects: list[Emit] = []
            for trigger in self.triggers.from_command(command):
                effects += self._raise(view, trigger, now)
            return effects
        if action not in ("acknowledge_escalation", "resolve_escalation"):
            return []
        at = from_timestamp(command.issued_at) if command.HasField("issued_at") else now
        if action == "acknowledge_escalation":
            ack = command.acknowledge_escalation
            found = self._find(command, ack.escalation_id)
            if found is None:
                return []
            view, escalation = found
            if status_of(escalation) != OPEN:
                log.info(
                    "escalation not open; acknowledgement changes nothing",
                    extra=_about(command, escalation),
                )
                return []
            return [self._acknowledge(view, escalation, by=ack.by or command.issued_by, at=at)]
        done = command.resolve_escalation
        found = self._find(command, done.escalation_id)
        if found is None:
            return []
        view, escalation = found
        if status_of(escalation) == RESOLVED:
            log.info("escalation already resolved", extra=_about(command, escalation))
            return []
        by = done.by or command.issued_by
        return [self._resolve(view, escalation, by=by, note=done.note.strip(), at=at)]

    def due(self, now: datetime, batch: int = MAX_MOVES_PER_CALL) -> list[Emit]:
        """Open escalations whose acknowledgement is overdue move up one tier each (one
        tier per call: one long overdue climbs a tier per timer tick), at most `batch` per
        call, earliest first, so a backlog after downtime cannot stall the consumer loop
        (the rest follow on the next ticks)."""
        effects: list[Emit] = []
        limit = now.timestamp()
        overdue: list[tuple[float, str]] = []
        while self._deadlines and self._deadlines[0][0] <= limit and len(overdue) < batch:
            overdue.append(heapq.heappop(self._deadlines))
        for deadline_s, escalation_id_ in overdue:
            case_id = self._climbing.get(escalation_id_)
            if case_id is None:
                continue  # acknowledged, resolved or at the top since
            view = self.cases[case_id]
            escalation = view.escalations[escalation_id_]
            deadline = from_timestamp(escalation.acknowledge_by)
            if deadline.timestamp() != deadline_s:
                continue  # moved since: its current deadline has an entry of its own
            level = self.roster.next_level(escalation.policy, escalation.level)
            if level is None:  # _store keeps only escalations that can climb
                continue
            effects.append(self._move(view, _copy(escalation), level, at=deadline))
        return effects

    # -- changes ---------------------------------------------------------------------------
    def _raise(self, view: CaseView, trigger: Trigger, now: datetime) -> list[Emit]:
        now = trigger.at or now
        new_id = escalation_id(view.id, trigger)
        if new_id in view.escalations:
            return []  # this trigger was handled before (a redelivery)
        current = view.open_in(trigger.family)
        if current is not None:
            return self._lift(view, current, trigger, now)
        if not self.roster.has_policy(trigger.policy):  # pragma: no cover - config checks it
            log.warning("trigger names an unknown policy", extra={"policy": trigger.policy})
            return []
        level = self.roster.policy(trigger.policy).level_of(trigger.tier)
        escalation = E.Escalation(
            id=new_id,
            case_id=view.id,
            trigger=trigger.kind,
            reason=trigger.reason,
            language=view.language,
            queue=view.queue,
            raised_at=to_timestamp(now),
            cause_id=trigger.cause_id,
            policy=trigger.policy,
            incident_id=trigger.incident_id,
            brand=view.brand,
            raised_by=trigger.raised_by,
            keyword_category=trigger.keyword_category,
            clock=trigger.clock,
            clock_cycle=trigger.clock_cycle,
        )
        self._place(view, escalation, level, at=now)
        return [self._publish(view, escalation, E.ESCALATION_EVENT_TYPE_RAISED, now)]

    def _lift(
        self, view: CaseView, current: escalation_pb2.Escalation, trigger: Trigger, now: datetime
    ) -> list[Emit]:
        """Same family already open: move it up to the newcomer's tier when that is higher
        on its ladder. A breach after a warning or an at-risk prediction is news even at
        the same tier: the escalation is raised again where it stands (re-opened, whoever
        is on call notified again). Otherwise the open one covers the newcomer."""
        if not self.roster.has_policy(current.policy):
            return []
        try:
            level = self.roster.policy(current.policy).level_of(trigger.tier)
        except ValueError:
            return []
        breach = (
            trigger.kind == E.ESCALATION_TRIGGER_SLA_BREACH
            and current.trigger != E.ESCALATION_TRIGGER_SLA_BREACH
        )
        if breach:
            level = max(level, current.level)
        elif level <= current.level:
            return []
        lifted = _copy(current)
        lifted.trigger = trigger.kind
        lifted.cause_id = trigger.cause_id
        lifted.reason = trigger.reason
        if trigger.clock_cycle:
            lifted.clock_cycle = trigger.clock_cycle
        lifted.ClearField("acknowledged_by")
        lifted.ClearField("acknowledged_at")
        return [self._move(view, lifted, level, at=now)]

    def _place(
        self, view: CaseView, escalation: escalation_pb2.Escalation, level: int, *, at: datetime
    ) -> None:
        """Put the escalation on rung `level` at `at`: its tier, who is on call, its
        acknowledgement deadline; OPEN."""
        step = self.roster.step(escalation.policy, level)
        escalation.level = level
        escalation.tier = TIER_VALUES[step.tier]
        escalation.status = OPEN
        del escalation.on_call[:]
        escalation.on_call.extend(
            self.roster.on_call(
                step.tier, team=view.team, brand=view.brand, assignee=view.assignee, at=at
            )
        )
        escalation.acknowledge_by.CopyFrom(
            to_timestamp(at + timedelta(seconds=step.acknowledge_within_seconds))
        )

    def _move(
        self, view: CaseView, escalation: escalation_pb2.Escalation, level: int, *, at: datetime
    ) -> Emit:
        self._place(view, escalation, level, at=at)
        return self._publish(view, escalation, E.ESCALATION_EVENT_TYPE_RE_ESCALATED, at)

    def _acknowledge(
        self, view: CaseView, escalation: escalation_pb2.Escalation, *, by: str, at: datetime
    ) -> Emit:
        acknowledged = _copy(escalation)
        acknowledged.status = ACKNOWLEDGED
        acknowledged.acknowledged_by = by
        acknowledged.acknowledged_at.CopyFrom(to_timestamp(at))
        return self._publish(view, acknowledged, E.ESCALATION_EVENT_TYPE_ACKNOWLEDGED, at)

    def _resolve(
        self,
        view: CaseView,
        escalation: escalation_pb2.Escalation,
        *,
        by: str,
        note: str,
        at: datetime,
    ) -> Emit:
        resolved = _copy(escalation)
        resolved.status = RESOLVED
        resolved.resolved_by = by
        resolved.resolved_at.CopyFrom(to_timestamp(at))
        resolved.resolution = note
        return self._publish(view, resolved, E.ESCALATION_EVENT_TYPE_RESOLVED, at)

    def _clock_stopped(self, view: CaseView, event: sla_pb2.SlaEvent, now: datetime) -> list[Emit]:
        clock, cycle = clock_of(event)
        at = from_timestamp(event.occurred_at) if event.HasField("occurred_at") else now
        how = "met" if event.type == sla_pb2.SLA_EVENT_TYPE_MET else "answered after its breach"
        return self._resolve_clock(view, clock, cycle, how, at)

    def _clocks_cancelled(self, view: CaseView, case: case_pb2.Case, now: datetime) -> list[Emit]:
        effects: list[Emit] = []
        for clock in (case.sla, case.resolution_sla):
            if clock.state != case_pb2.SLA_STATE_CANCELLED:
                continue
            at = from_timestamp(clock.stopped_at) if clock.HasField("stopped_at") else now
            key = CLOCK_KEYS.get(clock.kind, "first_response")
            how = "cancelled, the case was merged into another"
            effects += self._resolve_clock(view, key, clock.cycle or 1, how, at)
        return effects

    def _resolve_clock(
        self, view: CaseView, clock: str, cycle: int, how: str, at: datetime
    ) -> list[Emit]:
        """Resolve the open escalations about the clock (`clock` key, `cycle`)."""
        effects: list[Emit] = []
        for escalation in list(view.escalations.values()):
            if (
                status_of(escalation) != RESOLVED
                and family_of(escalation) == f"{SLA_FAMILY}:{clock}"
                and (escalation.clock_cycle or 1) == cycle
            ):
                note = f"the {clock.replace('_', ' ')} clock stopped: {how}"
                effects.append(self._resolve(view, escalation, by="", note=note, at=at))
        return effects

    def _incident_closed(self, command: commands_pb2.AgentCommand, now: datetime) -> list[Emit]:
        view = self.cases.get(command.case_id)
        if view is None:
            return []
        at = from_timestamp(command.issued_at) if command.HasField("issued_at") else now
        return [
            self._resolve(view, escalation, by="", note="the crisis incident closed", at=at)
            for escalation in list(view.escalations.values())
            if escalation.incident_id == command.incident.incident_id
            and status_of(escalation) != RESOLVED
        ]

    def _publish(
        self,
        view: CaseView,
        escalation: escalation_pb2.Escalation,
        kind: E.EscalationEventType.ValueType,
        at: datetime,
    ) -> Emit:
        escalation.revision += 1
        self._store(view, escalation)
        # The first event of an escalation keeps the id the stateless service gave it.
        event_id_ = (
            derived_id("escalation-event", escalation.id)
            if kind == E.ESCALATION_EVENT_TYPE_RAISED
            else event_id(escalation, kind)
        )
        return Emit(
            Topic.ESCALATIONS,
            E.EscalationEvent(
                event_id=event_id_, escalation=escalation, type=kind, occurred_at=to_timestamp(at)
            ),
        )

    def _store(self, view: CaseView, escalation: escalation_pb2.Escalation) -> None:
        view.escalations[escalation.id] = escalation
        climbable = (
            status_of(escalation) == OPEN
            and escalation.HasField("acknowledge_by")
            and self.roster.has_policy(escalation.policy)
            and self.roster.next_level(escalation.policy, escalation.level) is not None
        )
        if climbable:
            self._climbing[escalation.id] = view.id
            deadline = from_timestamp(escalation.acknowledge_by).timestamp()
            heapq.heappush(self._deadlines, (deadline, escalation.id))
        else:
            self._climbing.pop(escalation.id, None)

    def _view(self, case_id: str) -> CaseView:
        view = self.cases.get(case_id)
        if view is None:
            view = self.cases[case_id] = CaseView(case_id)
        return view

    def _find(
        self, command: commands_pb2.AgentCommand, escalation_id_: str
    ) -> tuple[CaseView, escalation_pb2.Escalation] | None:
        view = self.cases.get(command.case_id)
        escalation = view.escalations.get(escalation_id_) if view is not None else None
        if view is None or escalation is None:
            log.warning(
                "command names an escalation this case does not have; skipped",
                extra={
                    "command_id": command.command_id,
                    "case_id": command.case_id,
                    "escalation_id": escalation_id_,
                },
            )
            return None
        return view, escalation


def incident_command(event: incident_pb2.IncidentEvent) -> commands_pb2.AgentCommand | None:
    """The command that carries a crisis incident to the book of its first case: raise its
    NEGATIVE_SPIKE escalation when the incident opens, resolve it when it closes.

    care.incidents is keyed by incident id and care.commands by case id, so this hop moves
    the incident to the partition that owns the case's escalations. One escalation per
    incident, not per grouped case: the incident's notification already lists the cases
    (crisis notifications), and PR needs one thing to acknowledge, not hundreds.
    """
    incident = event.incident
    if not incident.case_ids or event.type not in (
        incident_pb2.INCIDENT_EVENT_TYPE_OPENED,
        incident_pb2.INCIDENT_EVENT_TYPE_CLOSED,
    ):
        return None
    closed = event.type == incident_pb2.INCIDENT_EVENT_TYPE_CLOSED
    case_id = incident.case_ids[0]
    command = commands_pb2.AgentCommand(
        command_id=derived_id("incident-escalation", incident.id, "closed" if closed else "opened"),
        case_id=case_id,
        issued_by="crisis",
        incident=commands_pb2.EscalateIncident(
            incident_id=incident.id, summary=incident.summary, closed=closed
        ),
    )
    if event.HasField("occurred_at"):
        command.issued_at.CopyFrom(event.occurred_at)
    return command


def _copy(escalation: escalation_pb2.Escalation) -> escalation_pb2.Escalation:
    copy = E.Escalation()
    copy.CopyFrom(escalation)
    return copy


def _about(
    command: commands_pb2.AgentCommand, escalation: escalation_pb2.Escalation
) -> dict[str, str]:
    return {
        "command_id": command.command_id,
        "escalation_id": escalation.id,
        "status": E.EscalationStatus.Name(status_of(escalation)),
    }
