"""Routing's case book: the cases of one partition, and what each input does to them.

Pure: no I/O, time passed in, effects returned as `Emit`s. One `CaseBook` holds the cases
of one partition number (ADR 0005): a customer's messages (key: channel + author) and every
record about their cases (key: case id) land in that partition, because a new case gets an
id whose partition is its customer's (`case_id_for`). So N routing instances each judge
their own partitions' cases alone, and a partition's book is rebuilt from the same
partition of the compacted `care.cases` changelog.

A case is one customer's conversation on one channel: a message joins the customer's open
case in the same thread, or the case it answers, or else their open case on the channel;
otherwise it opens a new case. Messages of other customers in the same public thread open
cases of their own (each customer is owed an answer).

Who owns a case is not decided here: it needs every agent's load, so it belongs to the
single-writer assigner (`assignment.py`). The book asks it (`AssignmentRequest` QUEUE when a
case opens or reopens, TRANSFER for an agent's assign command, CLAIM for a claim, REASSIGN
for a silent owner's case, RELEASE when a case resolves) and applies its decisions in
order; a decision carries the case's assignment epoch, so one made for an earlier opening
is never applied to a later one.

The lifecycle (issue 11): a case is NEW until the assigner answers, then OPEN (queued, with
its place) or ASSIGNED; an owner lost (offline, silent, reassigned) leaves the reason on
the case as an internal message. The customer decides when it is solved (scenario 2): an
agent's resolve asks "has this been solved?" (`routing.messages`, signed by the agent) and
the case waits (WAITING_ON_CUSTOMER, `resolution_check` PENDING); the customer's yes
resolves it, anything else hands it back to its owner, silence resolves it at the
confirmation timeout. It is not proposed while one of the customer's questions
(`Case.intents`, from enrichment) is unanswered. On resolving, the satisfaction question
goes out (scenario 4) and a reopen window starts: a score answers the survey, a thank-you is
kept, anything else reopens the case for its previous owner; past the window the case
CLOSES and a later message opens a new case (`previous_case_id`). A referral is recorded
and never closes a case. Consultations (scenario 3) leave ownership alone. Priorities come
from `core.domain.priority` (the case shows why), at least high while an escalation is open.

Time-driven work is the book's `tick(now)`: a heap of deadlines (confirmation timeout,
end of the reopen window, silent owner), rebuilt lazily after a restore, and once a minute a
sweep for priority levels moved by the SLA time used. Merging and identity linking are
`merging.py`'s (hooks in `_command`, `_message`, `_open`/`_add_message` and `_commit`); the
identity claims they produce leave through `outbox`, drained by every public method.

Commands are judged by the shared case rules (`core.domain.case_rules`); one that does not
apply becomes a visible COMMAND_REJECTED event with the same snapshot and version. A reply
is stored on the case as the customer receives it (signed by the agent, or the template
it used) and handed to the connectors on care.outbound with what they need to send it
through the account the customer wrote to.

Deliveries (care.deliveries) move an outbound message's `delivery` on: reports arrive out
of order and repeated, so only one that advances the state changes the case
(`core.domain.deliveries`). A failed reply is shown (REPLY_FAILED), not acted on: the case
keeps its status and the agent decides what to do.

SLA clocks (`core.domain.sla_clocks`, on the calendar `CareConfig.clock_calendar` picks):
`Case.sla` is the response clock and `Case.resolution_sla` the resolution clock. Opening
starts a FIRST_RESPONSE clock and, when the policy sets a resolution target, a RESOLUTION
clock; an agent's reply stops the response clock and pauses the resolution clock (the
ball is with the customer); the customer's next message resumes it and, when the policy
sets a next-response target, starts a NEXT_RESPONSE clock (while a response clock still
runs, a further customer message changes no clock). Resolving stops both; reopening
starts both afresh, numbered by the opening (`assignment_epoch`). Transfers leave the
clocks alone. The sla service fires warnings and breaches at the instants stored on the
clocks, and routing applies them back (`on_sla`), matched by clock kind and cycle.

Idempotency: an inbound message is applied once (its id is remembered with its case); a
command, SLA event, escalation, decision or delivery once per case (`applied_ids`; a refused
command too: its COMMAND_REJECTED event records its id with the next version). Case
event ids derive from (case id, version), request ids from (case id, epoch) or the command
id, so replaying the same input after a crash yields the same records.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from google.protobuf.timestamp_pb2 import Timestamp

from socialcare.core.bus.partitioner import partition_for
from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain import case_rules, lifecycle, priority
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.domain.case_rules import CommandRejectedError, RejectionCode, check_command
from socialcare.core.domain.cases import author_key, channel_name
from socialcare.core.domain.deliveries import FAILED, advances, apply_report
from socialcare.core.domain.sla_clocks import (
    FIRST_RESPONSE,
    NEXT_RESPONSE,
    RESOLUTION,
    cycle_of,
    is_running,
    kind_of,
    mark_at_risk,
    mark_breached,
    mark_warned,
    pause_clock,
    resume_clock,
    start_clock,
    stop_clock,
    target_for,
)
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, derived_id
from socialcare.core.search.schema import MAX_ID_BYTES
from socialcare.core.telemetry import current_traceparent
from socialcare.routing import erasure as erasing
from socialcare.routing import merging
from socialcare.routing.case_moments import add_moments
from socialcare.routing.customer_profile import apply_profile
from socialcare.v1 import (
    case_pb2,
    commands_pb2,
    delivery_pb2,
    escalation_pb2,
    message_pb2,
    routing_pb2,
    services_pb2,
    sla_pb2,
)

log = logging.getLogger(__name__)

NEW = case_pb2.CASE_STATUS_NEW
RESOLVED = case_pb2.CASE_STATUS_RESOLVED
CLOSED = case_pb2.CASE_STATUS_CLOSED
OPEN = case_pb2.CASE_STATUS_OPEN
ASSIGNED = case_pb2.CASE_STATUS_ASSIGNED
WAITING = case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
# Cases someone still works on (their priority still matters).
_LIVE = frozenset({NEW, OPEN, ASSIGNED, WAITING})
# How often the tick re-evaluates priorities (the SLA signal grows with time).
PRIORITY_SWEEP = timedelta(seconds=60)
# The book's timers.
_CONFIRM, _CLOSE, _SILENT = "confirm", "close", "silent"
_SURVEY_KINDS: dict[str, case_pb2.SurveyKind.ValueType] = {
    "csat": case_pb2.SURVEY_KIND_CSAT,
    "nps": case_pb2.SURVEY_KIND_NPS,
}
_SURVEY_NAMES: dict[int, Literal["csat", "nps"]] = {
    case_pb2.SURVEY_KIND_CSAT: "csat",
    case_pb2.SURVEY_KIND_NPS: "nps",
}
# Agent commands the escalation service applies; routing leaves them alone (`incident` is
# the escalation service's own: a crisis incident raised or resolved on its first case).
ESCALATION_ACTIONS = frozenset(
    {"escalate", "acknowledge_escalation", "resolve_escalation", "incident"}
)
# Escalation events that make a case urgent for its owner (older records have no type).
_ESCALATING = frozenset(
    {
        escalation_pb2.ESCALATION_EVENT_TYPE_UNSPECIFIED,
        escalation_pb2.ESCALATION_EVENT_TYPE_RAISED,
        escalation_pb2.ESCALATION_EVENT_TYPE_RE_ESCALATED,
    }
)
_BELOW_HIGH = frozenset({"", "low", "normal"})


def case_id_for(message_id: str, partition: int, partitions: int) -> str:
    """The id of the case a message opens: derived from the message id (the same message
    always opens the same case), and landing in `partition`, so that every record keyed by
    this case id goes to the partition of the customer who opened it."""
    for attempt in itertools.count():
        candidate = derived_id("case", message_id, str(attempt))[:20]
        if partition_for(candidate.encode(), partitions) == partition:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def partition_of_case(case_id: str, partitions: int) -> int:
    return partition_for(case_id.encode(), partitions)


@dataclass
class CaseBook:
    """The cases of partition `partition` of `partitions`, with the indexes threading needs
    and the deadlines its tick fires."""

    care: CareConfig
    partition: int = 0
    partitions: int = 1
    cases: dict[str, case_pb2.Case] = field(default_factory=dict)
    # Effects produced along the way (identity claims, see merging.py) that every public
    # method hands out with its own (`_drain`).
    outbox: list[Emit] = field(default_factory=list)
    _case_of_message: dict[str, str] = field(default_factory=dict)
    _case_of_external: dict[str, str] = field(default_factory=dict)
    _open_by_thread: dict[str, str] = field(default_factory=dict)
    _open_by_author: dict[str, str] = field(default_factory=dict)
    # The customer's most recent case, whatever its status (previous_case_id, forwarding).
    _last_by_customer: dict[str, str] = field(default_factory=dict)
    # Deadlines: a heap of (due, case id, kind) and the current deadline per (case, kind);
    # a heap entry whose deadline has moved is skipped when it comes up.
    _timers: list[tuple[datetime, str, str]] = field(default_factory=list)
    _deadline: dict[tuple[str, str], datetime] = field(default_factory=dict)
    # Cases restored but not yet indexed and scheduled, in the order of their latest
    # restore: a rebuild reads every version of every case, so the indexes and deadlines
    # are worked out once, for the latest, before the first input or tick.
    _unscheduled: dict[str, None] = field(default_factory=dict)
    _next_sweep: datetime | None = None
    # Erasure (issue 12, `erasure.py`): the brands' retention sweep, and the cases it asked
    # to erase whose erase command has not come back yet.
    retention: erasing.RetentionPolicy = field(default_factory=erasing.RetentionPolicy)
    _next_retention: datetime | None = None
    _erasing: set[str] = field(default_factory=set)

    # -- rebuilding --------------------------------------------------------------------
    def restore(self, event: case_pb2.CaseEvent) -> None:
        """Apply one changelog event from care.cases (rebuild); stale ones are ignored."""
        current = self.cases.get(event.case.id)
        if current is None or event.case.version > current.version:
            snapshot = case_pb2.Case()
            snapshot.CopyFrom(event.case)
            if current is not None and current.id not in self._unscheduled:
                self._unindex(current)  # indexed by an input since the rebuild
            self.cases[snapshot.id] = snapshot
            self._unscheduled.pop(snapshot.id, None)
            self._unscheduled[snapshot.id] = None

    def forget(self, case_id: str) -> case_pb2.Case | None:
        """Drop a case and everything the book keeps about it (an erasure, or its tombstone
        on a rebuild); returns it, or None when the book has no such case."""
        case = self.cases.pop(case_id, None)
        self._erasing.discard(case_id)
        if case is None:
            return None
        if case_id in self._unscheduled:
            del self._unscheduled[case_id]  # restored, never indexed nor scheduled
        else:
            self._unindex(case)
        customer = self._customer(case)
        for message in case.messages:
            if self._case_of_message.get(message.message_id) == case_id:
                del self._case_of_message[message.message_id]
            external = f"{customer}|{message.external_id}"
            if message.external_id and self._case_of_external.get(external) == case_id:
                del self._case_of_external[external]
        if self._last_by_customer.get(customer) == case_id:
            del self._last_by_customer[customer]
            others = [c for c in self.cases.values() if self._customer(c) == customer]
            others = [c for c in others if c.id not in self._unscheduled]
            if others:
                latest = max(others, key=lambda c: (c.opened_at.seconds, c.opened_at.nanos, c.id))
                self._last_by_customer[customer] = latest.id
        for kind in (_CONFIRM, _CLOSE, _SILENT):
            self._deadline.pop((case_id, kind), None)  # its heap entries are skipped
        return case

    def pending_requests(self, now: datetime) -> list[Emit]:
        """QUEUE requests for every case waiting for an owner, sent again after a rebuild:
        if the original request was lost with a failed flush, this one takes its place; if
        not, the assigner recognises it (same case and epoch) and at most repeats its
        decision."""
        self._schedule_restored()
        return [
            self._request(case, routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE, now)
            for case in self.cases.values()
            if case.status in (NEW, OPEN) and not case.assignee
        ]

    # -- inputs ------------------------------------------------------------------------
    def on_message(self, enriched: message_pb2.EnrichedMessage, now: datetime) -> list[Emit]:
        self._schedule_restored()
        return self._drain(self._message(enriched, now))

    def on_command(self, command: commands_pb2.AgentCommand, now: datetime) -> list[Emit]:
        self._schedule_restored()
        return self._drain(self._command(command, now))

    def on_decision(self, decision: routing_pb2.AssignmentDecision, now: datetime) -> list[Emit]:
        self._schedule_restored()
        return self._drain(self._decision(decision, now))

    def tick(self, now: datetime) -> list[Emit]:
        """Fire the deadlines that have come: an unanswered "has this been solved?"
        resolves (TIMED_OUT), a resolved case past its reopen window closes, a silent
        owner's case is offered to a colleague (REASSIGN); and, once a minute, priorities
        whose level moved with the SLA time used are updated."""
        self._schedule_restored()
        effects: list[Emit] = []
        while self._timers and self._timers[0][0] <= now:
            due, case_id, kind = heapq.heappop(self._timers)
            if self._deadline.get((case_id, kind)) != due:
                continue  # moved or cleared since it was scheduled
            current = self.cases.get(case_id)
            if current is not None:
                effects += self._fire(current, kind, now)
        if self._next_sweep is None or now >= self._next_sweep:
            self._next_sweep = now + PRIORITY_SWEEP
            effects += self._sweep_priorities(now)
        if self._next_retention is None or now >= self._next_retention:
            self._next_retention = now + self.retention.interval
            effects += erasing.sweep(self, now, self._erasing)
        return self._drain(effects)

    def _message(self, enriched: message_pb2.EnrichedMessage, now: datetime) -> list[Emit]:
        message = enriched.message
        if not message.message_id:
            raise InvalidRecordError("enriched message has no message_id")
        if len(message.message_id.encode()) > MAX_ID_BYTES:
            raise InvalidRecordError(
                f"enriched message id {message.message_id[:80]!r}... is longer than "
                f"{MAX_ID_BYTES} bytes (search could never index it)"
            )
        if not message.author.id:
            raise InvalidRecordError(f"message {message.message_id} has no author id")
        if message.message_id in self._case_of_message:
            return []
        existing = self._find_case(message)
        if existing is None:
            last = self._last_case(author_key(message))
            if last is not None and last.merged_into:
                return merging.forward(self, last, enriched, now)
            previous = last.id if last is not None and last.status == CLOSED else ""
            return self._open(enriched, now, previous_case_id=previous)
        return self._add_message(existing, enriched, now)

    def _add_message(
        self, existing: case_pb2.Case, enriched: message_pb2.EnrichedMessage, now: datetime
    ) -> list[Emit]:
        """The customer's message on their case `existing`, by the case's state: the answer
        to "has this been solved?" or to the satisfaction question, a reopening, or the
        customer's next turn."""
        message = enriched.message
        if existing.status == RESOLVED and not _within(existing.reopen_until, now):
            # Past the window and the tick has not closed it yet: close it now, and the
            # message opens a new case that follows it.
            closed = self._close(existing, derived_id("closed", existing.id), now)
            return [*closed, *self._open(enriched, now, previous_case_id=existing.id)]
        case = self._copy(existing)
        case.messages.append(_inbound(enriched))
        case.traceparent = current_traceparent()  # the latest inbound message's trace
        merging.add_identities(self.care, case, enriched.message)
        case.sentiment.CopyFrom(enriched.sentiment)
        self._add_intents(case, enriched)
        add_moments(case, enriched)
        apply_profile(case, enriched, self.care)
        received = _received(message, now)
        cause = message.message_id
        if existing.status == RESOLVED:
            return self._after_resolution(existing, case, enriched, received, now)
        check = case.resolution_check
        if case.status == WAITING and check.outcome == case_pb2.RESOLUTION_OUTCOME_PENDING:
            answer = lifecycle.confirmation_answer(message.text, case.language)
            check.answered_at.CopyFrom(to_timestamp(now))
            if answer == "yes" and not self._questions(enriched):
                check.outcome = case_pb2.RESOLUTION_OUTCOME_CONFIRMED
                return self._resolved(existing, case, cause, now)
            # No, or something else (a new question): back to the owner as any message.
            check.outcome = case_pb2.RESOLUTION_OUTCOME_DECLINED
        if case.status == WAITING:
            case.status = ASSIGNED if case.assignee else OPEN
        self._customer_turn(case, received)
        self._reprioritise(case, now, enriched.urgency)
        return [self._commit(existing, case, case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED, cause, now)]

    def _after_resolution(
        self,
        existing: case_pb2.Case,
        case: case_pb2.Case,
        enriched: message_pb2.EnrichedMessage,
        received: datetime,
        now: datetime,
    ) -> list[Emit]:
        """A message on a resolved case within its reopen window: the satisfaction answer
        (kept, no reopening), a plain thank-you (kept, no reopening), or anything else,
        which reopens the case for its previous owner first (sticky ownership)."""
        message = enriched.message
        cause = message.message_id
        survey = case.survey
        if survey.HasField("sent_at") and not survey.answered and _within(survey.due_at, now):
            kind = _SURVEY_NAMES.get(survey.kind)
            scored = lifecycle.survey_score(message.text, kind) if kind else None
            if scored is not None:
                survey.answered = True
                survey.score, survey.comment = scored
                survey.answered_at.CopyFrom(to_timestamp(now))
                return [
                    self._commit(
                        existing, case, case_pb2.CASE_EVENT_TYPE_SURVEY_ANSWERED, cause, now
                    )
                ]
        if not self._questions(enriched) and lifecycle.confirmation_answer(message.text) == "yes":
            return [
                self._commit(existing, case, case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED, cause, now)
            ]
        previous = case.assignee
        self._reopen(case, received)
        self._reprioritise(case, now, enriched.urgency)
        reopened = self._commit(existing, case, case_pb2.CASE_EVENT_TYPE_REOPENED, cause, now)
        queue = self._request(case, routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE, now, agent=previous)
        return [reopened, queue]

    def _command(self, command: commands_pb2.AgentCommand, now: datetime) -> list[Emit]:
        action = command.WhichOneof("action")
        if action in ESCALATION_ACTIONS:
            return []  # the escalation service's; it answers on care.escalations
        if action == "erase":
            return erasing.apply_erase(self, command, now)
        if action in merging.ACTIONS:
            return merging.apply(self, command, now)
        if not command.case_id:
            raise InvalidRecordError(f"command {command.command_id!r} names no case_id")
        current = self.cases.get(command.case_id)
        if current is None:
            raise InvalidRecordError(
                f"command {command.command_id}: case {command.case_id!r} does not exist"
            )
        if command.command_id in current.applied_ids:
            return []  # applied, or refused: either way handled
        try:
            agent = check_command(current, command, self.care, now)
        except CommandRejectedError as rejected:
            return [
                self._rejection(
                    current,
                    command.command_id,
                    rejected.code,
                    rejected.reason,
                    rejected.field or "",
                    now,
                )
            ]
        if action == "reply":
            return self._reply(current, command, agent, now)
        if action == "note":
            return self._note(current, command, now)
        if action == "assign":
            return self._transfer(current, command, agent, now)
        if action == "resolve":
            return self._propose(current, command, agent, now)
        if action == "claim":
            return [
                self._request(
                    current,
                    routing_pb2.ASSIGNMENT_REQUEST_KIND_CLAIM,
                    now,
                    agent=agent.id,
                    command_id=command.command_id,
                )
            ]
        if action == "consult":
            return self._consult(current, command, now)
        if action == "answer_consultation":
            return self._answer_consultation(current, command, now)
        if action == "await_customer":
            return self._await_customer(current, command, now)
        if action == "reopen":
            return self._reopen_command(current, command, now)
        if action == "refer":
            return self._refer(current, command, now)
        if action == "set_priority":
            return self._set_priority(current, command, now)
        raise InvalidRecordError(
            f"command {command.command_id}: {action!r} is not applied by the case book"
        )

    def _decision(self, decision: routing_pb2.AssignmentDecision, now: datetime) -> list[Emit]:
        current = self.cases.get(decision.case_id)
        if current is None or decision.epoch != current.assignment_epoch:
            return []  # about an earlier opening of the case (or a case long gone)
        if current.status in (RESOLVED, CLOSED) or decision.decision_id in current.applied_ids:
            return []  # the RELEASE sent on resolving frees whatever was decided
        outcome = decision.outcome
        if outcome == routing_pb2.ASSIGNMENT_OUTCOME_REJECTED:
            claim = decision.command_id and decision.request_id == _claim_request_id(
                current.id, decision.command_id
            )
            return [
                self._rejection(
                    current,
                    decision.command_id or decision.request_id,
                    RejectionCode.CLAIM_REFUSED if claim else RejectionCode.AGENT_AT_CAPACITY,
                    decision.reason,
                    "agent",
                    now,
                    decision_id=decision.decision_id,
                )
            ]
        case = self._copy(current)
        if outcome == routing_pb2.ASSIGNMENT_OUTCOME_QUEUED:
            if current.assignee:
                return []  # an owner came first; the queueing is history
            if case.status == NEW:
                case.status = OPEN
            case.queue_position = decision.queue_position
            kind = case_pb2.CASE_EVENT_TYPE_QUEUED
        elif outcome == routing_pb2.ASSIGNMENT_OUTCOME_UNASSIGNED:
            if not current.assignee:
                return []
            self._note_move(case, decision, f"Unassigned from {current.assignee}", now)
            case.assignee = ""
            case.ClearField("assigned_at")
            if case.status == ASSIGNED:
                case.status = OPEN
            kind = case_pb2.CASE_EVENT_TYPE_UNASSIGNED
        elif outcome == routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED and decision.agent:
            if current.assignee == decision.agent:
                return []
            previous = decision.previous_agent or current.assignee
            if previous:
                self._note_move(
                    case, decision, f"Reassigned from {previous} to {decision.agent}", now
                )
            case.assignee = decision.agent
            case.assigned_at.CopyFrom(to_timestamp(now))
            case.queue_position = 0
            if case.status in (NEW, OPEN):
                case.status = ASSIGNED
            kind = case_pb2.CASE_EVENT_TYPE_ASSIGNED
        else:
            raise InvalidRecordError(f"decision {decision.decision_id} has no outcome or agent")
        case.applied_ids.append(decision.decision_id)
        return [self._commit(current, case, kind, decision.decision_id, now)]

    @staticmethod
    def _note_move(
        case: case_pb2.Case, decision: routing_pb2.AssignmentDecision, what: str, now: datetime
    ) -> None:
        """Why the case changed hands, as an internal message the next owner reads."""
        reason = decision.reason.strip()
        case.messages.append(
            case_pb2.CaseMessage(
                message_id=decision.decision_id,
                direction=case_pb2.DIRECTION_INTERNAL,
                author="routing",
                text=f"{what}: {reason}" if reason else what,
                created_at=to_timestamp(now),
            )
        )

    def on_sla(self, event: sla_pb2.SlaEvent, now: datetime) -> list[Emit]:
        """Apply a WARNING, BREACHED or AT_RISK from the sla service onto the clock it is
        about, matched by (clock kind, cycle): an event about a clock the case has since
        replaced changes nothing, as does one already applied. Other SLA events (started,
        paused, met...) record what routing itself did and change nothing here."""
        self._schedule_restored()
        current = self.cases.get(event.case_id)
        if current is None or event.event_id in current.applied_ids:
            return []
        kind, cycle = event.clock or FIRST_RESPONSE, event.cycle or 1
        case = self._copy(current)
        clock = _clock_of(case, kind, cycle)
        if clock is None:
            return []
        if event.type == sla_pb2.SLA_EVENT_TYPE_WARNING:
            changed = mark_warned(clock, event.threshold)
        elif event.type == sla_pb2.SLA_EVENT_TYPE_BREACHED:
            # A clock that used its target up and then paused stays PAUSED (it runs on
            # BREACHED when it resumes); the event is still recorded, so the case shows
            # that the breach was applied.
            changed = mark_breached(clock) or (
                clock.state == case_pb2.SLA_STATE_PAUSED
                and clock.consumed_seconds >= clock.target_seconds
            )
        elif event.type == sla_pb2.SLA_EVENT_TYPE_AT_RISK:
            changed = mark_at_risk(clock)
        else:
            changed = False
        if not changed:
            return []
        case.applied_ids.append(event.event_id)
        return self._drain(
            [self._commit(current, case, case_pb2.CASE_EVENT_TYPE_SLA_CHANGED, event.event_id, now)]
        )

    def on_escalation(self, event: escalation_pb2.EscalationEvent, now: datetime) -> list[Emit]:
        """Show the escalation on its case as it now stands (the highest revision of each
        escalation wins, whatever order the events come in); raising or re-escalating one
        makes the case high priority. Applied once per event id."""
        self._schedule_restored()
        escalation = event.escalation
        current = self.cases.get(escalation.case_id)
        event_id = event.event_id or escalation.id
        if current is None or not escalation.id or event_id in current.applied_ids:
            return []
        case = self._copy(current)
        changed = _upsert_escalation(case, escalation)
        if escalation.id not in case.escalation_ids:
            case.escalation_ids.append(escalation.id)
            changed = True
        if event.type in _ESCALATING and case.priority in _BELOW_HIGH:
            case.priority = "high"
            changed = True
        if not changed:
            return []
        case.applied_ids.append(event_id)
        return self._drain(
            [self._commit(current, case, case_pb2.CASE_EVENT_TYPE_ESCALATED, event_id, now)]
        )

    def on_delivery(self, report: delivery_pb2.ReplyDelivery, now: datetime) -> list[Emit]:
        """Show how far a reply got. Nothing happens for a report already applied, one that
        does not advance the reply's delivery (an older status arriving late), or one about
        a case or reply this book does not know (logged: another system's message)."""
        self._schedule_restored()
        current = self.cases.get(report.case_id)
        if current is None:
            log.warning(
                "delivery for an unknown case",
                extra={"case_id": report.case_id, "reply_id": report.reply_id},
            )
            return []
        if report.event_id in current.applied_ids:
            return []
        index = _outbound_index(current, report.reply_id)
        if index is None:
            log.warning(
                "delivery for an unknown reply",
                extra={"case_id": report.case_id, "reply_id": report.reply_id},
            )
            return []
        if not advances(current.messages[index].delivery, report):
            return []
        case = self._copy(current)
        apply_report(case.messages[index].delivery, report)
        case.applied_ids.append(report.event_id)
        kind = (
            case_pb2.CASE_EVENT_TYPE_REPLY_FAILED
            if report.status == FAILED
            else case_pb2.CASE_EVENT_TYPE_REPLY_DELIVERY
        )
        return self._drain([self._commit(current, case, kind, report.event_id, now)])

    # -- commands ------------------------------------------------------------------------
    def _reply(
        self,
        current: case_pb2.Case,
        command: commands_pb2.AgentCommand,
        agent: Agent,
        now: datetime,
    ) -> list[Emit]:
        reply = command.reply
        brand = self.care.brand(current.brand)
        template = reply.template if case_rules.has_template(reply) else None
        text = case_rules.reply_text(reply, brand, agent)
        case = self._copy(current)
        shown = text if template is None else case_rules.template_label(template)
        outbound = self._say(case, command.command_id, agent, shown, text, now, template)
        for intent in case.intents:
            if intent.name in reply.answers and not intent.answered:
                intent.answered = True
                intent.answered_by = command.command_id
        case.status = WAITING
        # The answer stops the response clock (MET, or BREACHED if late); the ball is with
        # the customer, so the resolution clock stands still until they write.
        self._hand_to_customer(case, now)
        case.applied_ids.append(command.command_id)
        effects = [
            self._commit(current, case, case_pb2.CASE_EVENT_TYPE_REPLIED, command.command_id, now)
        ]
        if not case.assignee:
            # Whoever answers a waiting case would rather keep it: ask for them first.
            effects.append(
                self._request(case, routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE, now, agent=agent.id)
            )
        effects.append(outbound)
        return effects

    def _say(
        self,
        case: case_pb2.Case,
        reply_id: str,
        agent: Agent | None,
        shown: str,
        text: str,
        now: datetime,
        template: commands_pb2.MessageTemplate | None = None,
    ) -> Emit:
        """Put an outbound message on the case (as `shown`) and the reply for the
        connectors (`text`, as the customer receives it), answering the customer's latest
        message through the account they wrote to."""
        answered = case_rules.last_inbound(case)
        case.messages.append(
            case_pb2.CaseMessage(
                message_id=reply_id,
                direction=case_pb2.DIRECTION_OUTBOUND,
                channel=case.channel,
                author=agent.id if agent else "",
                text=shown,
                created_at=to_timestamp(now),
                language=case.language,
                kind=answered.kind if answered else message_pb2.MESSAGE_KIND_UNSPECIFIED,
                account_id=answered.account_id if answered else "",
            )
        )
        outbound = commands_pb2.OutboundReply(
            reply_id=reply_id,
            case_id=case.id,
            channel=case.channel,
            in_reply_to=answered.external_id if answered else "",
            thread_id=case.conversation_key.partition(":thread:")[2],
            agent=agent.id if agent else "",
            text=text,
            created_at=to_timestamp(now),
            account_id=answered.account_id if answered else "",
            kind=answered.kind if answered else message_pb2.MESSAGE_KIND_UNSPECIFIED,
            recipient_id=case.customer.id,
            agent_name=agent.name if agent else "",
            brand=self.care.brand(case.brand).name,
            template=template,
        )
        if answered is not None and answered.HasField("created_at"):
            outbound.customer_last_message_at.CopyFrom(answered.created_at)
        return Emit(Topic.OUTBOUND, outbound)

    def _hand_to_customer(self, case: case_pb2.Case, now: datetime) -> None:
        stop_clock(case.sla, self.care.calendar(case.sla.calendar), now)
        if case.HasField("resolution_sla"):
            pause_clock(case.resolution_sla, self.care.calendar(case.resolution_sla.calendar), now)

    def _routing_message(
        self,
        case: case_pb2.Case,
        which: Literal["confirmation", "csat", "nps"],
        agent: Agent | None,
        now: datetime,
    ) -> str | None:
        """Routing's own text for the customer, signed like the agent's replies, or None
        when the channel would refuse it now (too long, WhatsApp's window closed)."""
        brand = self.care.brand(case.brand)
        text = lifecycle.routing_text(
            self.care.routing.messages,
            which,
            case.language,
            customer_first_name=lifecycle.first_name(case.customer.name),
            agent_first_name=agent.first_name if agent else "",
        )
        signed = brand.sign(text, agent.name) if agent else text
        try:
            case_rules.check_channel_reply(
                channel=channel_name(case.channel),
                text=signed,
                template=None,
                brand=brand,
                customer_last_message_at=case_rules.customer_last_message_at(case),
                now=now,
            )
        except CommandRejectedError:
            return None
        return signed

    def _note(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emit]:
        """An internal note: on the case for every agent to read, never to the customer;
        status and SLA clocks are untouched (a note is not an answer)."""
        note = command.note
        case = self._copy(current)
        _internal(case, command.command_id, note.agent, note.text.strip(), now)
        if note.consult and note.consult not in case.consultants:
            case.consultants.append(note.consult)
        case.applied_ids.append(command.command_id)
        return [
            self._commit(
                current, case, case_pb2.CASE_EVENT_TYPE_NOTE_ADDED, command.command_id, now
            )
        ]

    def _transfer(
        self,
        current: case_pb2.Case,
        command: commands_pb2.AgentCommand,
        agent: Agent,
        now: datetime,
    ) -> list[Emit]:
        # The assigner judges capacity and answers with a decision; the case changes then.
        request = self._request(
            current,
            routing_pb2.ASSIGNMENT_REQUEST_KIND_TRANSFER,
            now,
            agent=agent.id,
            command_id=command.command_id,
        )
        if not command.assign.reason.strip():
            return [request]
        # A transfer's reason goes with the case: the next owner reads why it came.
        case = self._copy(current)
        by = command.assign.by or agent.id
        text = f"Transfer to {agent.id} requested: {command.assign.reason.strip()}"
        _internal(case, command.command_id, by, text, now)
        case.applied_ids.append(command.command_id)
        noted = self._commit(
            current, case, case_pb2.CASE_EVENT_TYPE_NOTE_ADDED, command.command_id, now
        )
        return [noted, request]

    def _propose(
        self,
        current: case_pb2.Case,
        command: commands_pb2.AgentCommand,
        agent: Agent,
        now: datetime,
    ) -> list[Emit]:
        """An agent's resolve: ask the customer "has this been solved?" in the case's
        language, signed by the agent; the case waits on their answer (or the timeout).
        Without confirmation (config), or when the channel cannot carry the question now
        (WhatsApp's window closed), the case resolves at once (outcome AGENT)."""
        case = self._copy(current)
        check = case.resolution_check
        round_ = check.round + 1
        check.Clear()
        check.proposed_by = agent.id
        check.command_id = command.command_id
        check.note = command.resolve.note.strip()
        check.round = round_
        check.asked_at.CopyFrom(to_timestamp(now))
        case.applied_ids.append(command.command_id)
        lifecycle_config = self.care.routing.lifecycle
        question = (
            self._routing_message(case, "confirmation", agent, now)
            if lifecycle_config.confirm_resolution
            else None
        )
        if question is None:
            check.outcome = case_pb2.RESOLUTION_OUTCOME_AGENT
            return self._resolved(current, case, command.command_id, now)
        question_id = derived_id("confirmation", case.id, command.command_id)
        outbound = self._say(case, question_id, agent, question, question, now)
        check.outcome = case_pb2.RESOLUTION_OUTCOME_PENDING
        check.question_id = question_id
        check.due_at.CopyFrom(to_timestamp(now + lifecycle_config.confirmation))
        case.status = WAITING
        self._hand_to_customer(case, now)
        proposed = self._commit(
            current, case, case_pb2.CASE_EVENT_TYPE_RESOLUTION_PROPOSED, command.command_id, now
        )
        return [proposed, outbound]

    def _resolved(
        self, current: case_pb2.Case, case: case_pb2.Case, cause: str, now: datetime
    ) -> list[Emit]:
        """Resolve `case` (the changed copy of `current`, its resolution_check outcome
        set): clocks stop (the resolution clock as of the question, when it was paused
        for it), the owner's slot is freed, the reopen window starts and the
        satisfaction question goes out."""
        case.status = RESOLVED
        for clock in (case.sla, case.resolution_sla):
            stop_clock(clock, self.care.calendar(clock.calendar), now)
        case.resolved_at.CopyFrom(to_timestamp(now))
        case.reopen_until.CopyFrom(to_timestamp(now + self.care.routing.lifecycle.reopen_window))
        case.queue_position = 0
        if cause not in case.applied_ids:
            case.applied_ids.append(cause)
        resolved = self._commit(current, case, case_pb2.CASE_EVENT_TYPE_RESOLVED, cause, now)
        effects = [resolved, self._request(case, routing_pb2.ASSIGNMENT_REQUEST_KIND_RELEASE, now)]
        return effects + self._send_survey(case, now)

    def _send_survey(self, current: case_pb2.Case, now: datetime) -> list[Emit]:
        """The satisfaction question after resolution, in the case's language and signed
        by the agent who solved it; none when the brand asks none or the channel cannot
        carry it now."""
        survey_config = self.care.routing.lifecycle.survey
        if survey_config.kind == "none":
            return []
        check = current.resolution_check
        agent = self.care.agents_by_id.get(check.proposed_by or current.assignee)
        text = self._routing_message(current, survey_config.kind, agent, now)
        if text is None:
            return []
        case = self._copy(current)
        question_id = derived_id("survey", case.id, str(case.version))
        outbound = self._say(case, question_id, agent, text, text, now)
        case.survey.CopyFrom(
            case_pb2.Survey(
                kind=_SURVEY_KINDS[survey_config.kind],
                sent_at=to_timestamp(now),
                due_at=to_timestamp(now + survey_config.window),
                question_id=question_id,
            )
        )
        sent = self._commit(current, case, case_pb2.CASE_EVENT_TYPE_SURVEY_SENT, question_id, now)
        return [sent, outbound]

    def _consult(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emit]:
        """Ask a specialist: recorded on the case (they see it among their consultations);
        the owner keeps the case."""
        consult = command.consult
        case = self._copy(current)
        case.consultations.append(
            case_pb2.Consultation(
                id=command.command_id,
                specialist=consult.specialist,
                asked_by=consult.agent,
                question=consult.question.strip(),
                asked_at=to_timestamp(now),
                product=consult.product or case.product,
            )
        )
        if consult.specialist not in case.consultants:
            case.consultants.append(consult.specialist)
        text = f"Asked {consult.specialist} for advice: {consult.question.strip()}"
        _internal(case, command.command_id, consult.agent, text, now)
        case.applied_ids.append(command.command_id)
        return [
            self._commit(
                current, case, case_pb2.CASE_EVENT_TYPE_NOTE_ADDED, command.command_id, now
            )
        ]

    def _answer_consultation(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emit]:
        answer = command.answer_consultation
        case = self._copy(current)
        consultation = case_rules.consultation_on_case(case, answer.consultation_id)
        assert consultation is not None  # checked by the case rules
        consultation.answer = answer.answer.strip()
        consultation.answered_at.CopyFrom(to_timestamp(now))
        text = f"Advice for {consultation.asked_by}: {consultation.answer}"
        _internal(case, command.command_id, answer.specialist, text, now)
        case.applied_ids.append(command.command_id)
        return [
            self._commit(
                current,
                case,
                case_pb2.CASE_EVENT_TYPE_CONSULTATION_ANSWERED,
                command.command_id,
                now,
            )
        ]

    def _await_customer(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emit]:
        """The ball is with the customer without a reply on the channel (they were asked
        by phone, say): the agent did answer, so the response clock stops, and the
        resolution clock stands still until the customer writes."""
        request = command.await_customer
        case = self._copy(current)
        case.status = WAITING
        self._hand_to_customer(case, now)
        text = "Awaiting the customer" + (
            f": {request.note.strip()}" if request.note.strip() else ""
        )
        _internal(case, command.command_id, request.agent, text, now)
        case.applied_ids.append(command.command_id)
        return [
            self._commit(
                current, case, case_pb2.CASE_EVENT_TYPE_STATUS_CHANGED, command.command_id, now
            )
        ]

    def _reopen_command(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emit]:
        """An agent reopens a resolved case (the customer called, say): a new opening,
        offered to that agent first."""
        request = command.reopen
        case = self._copy(current)
        self._reopen(case, now)
        text = "Reopened" + (f": {request.reason.strip()}" if request.reason.strip() else "")
        _internal(case, command.command_id, request.agent, text, now)
        self._reprioritise(case, now, None)
        case.applied_ids.append(command.command_id)
        reopened = self._commit(
            current, case, case_pb2.CASE_EVENT_TYPE_REOPENED, command.command_id, now
        )
        queue = self._request(
            case, routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE, now, agent=request.agent
        )
        return [reopened, queue]

    def _refer(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emit]:
        """A referral is recorded; it never resolves or closes the case."""
        refer = command.refer
        case = self._copy(current)
        case.referrals.append(
            case_pb2.Referral(
                to=refer.to.strip(), by=refer.agent, note=refer.note.strip(), at=to_timestamp(now)
            )
        )
        text = f"Referred to {refer.to.strip()}" + (
            f": {refer.note.strip()}" if refer.note.strip() else ""
        )
        _internal(case, command.command_id, refer.agent, text, now)
        case.applied_ids.append(command.command_id)
        return [
            self._commit(
                current, case, case_pb2.CASE_EVENT_TYPE_STATUS_CHANGED, command.command_id, now
            )
        ]

    def _set_priority(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emit]:
        request = command.set_priority
        case = self._copy(current)
        case.priority_override = request.level
        self._reprioritise(case, now, None)
        shown = request.level or f"computed ({case.priority})"
        text = f"Priority set to {shown}" + (
            f": {request.reason.strip()}" if request.reason.strip() else ""
        )
        _internal(case, command.command_id, request.agent, text, now)
        case.applied_ids.append(command.command_id)
        return [
            self._commit(
                current, case, case_pb2.CASE_EVENT_TYPE_PRIORITY_CHANGED, command.command_id, now
            )
        ]

    def _rejection(
        self,
        case: case_pb2.Case,
        command_id: str,
        code: str,
        reason: str,
        field_name: str,
        now: datetime,
        *,
        decision_id: str = "",
    ) -> Emit:
        """A visible refusal, and why. The case records the command id as handled (a new
        version whose only change is that id, and the assigner's decision id for a refused
        transfer or claim): delivered again, even after a restart from the compacted
        changelog, the command stays refused, with no second event."""
        refused = self._copy(case)
        for handled in (command_id, decision_id):
            if handled and handled not in refused.applied_ids:
                refused.applied_ids.append(handled)
        emit = self._commit(
            case, refused, case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED, command_id, now
        )
        assert isinstance(emit.message, case_pb2.CaseEvent)
        emit.message.rejection.CopyFrom(
            case_pb2.Rejection(code=code, field=field_name, reason=reason, command_id=command_id)
        )
        return emit

    # -- lifecycle -----------------------------------------------------------------------
    def _reopen(self, case: case_pb2.Case, received: datetime) -> None:
        """A new opening of the case: it needs an owner again (NEW until the assigner
        answers), with fresh clocks numbered by the opening."""
        case.status = NEW
        case.assignee = ""
        case.ClearField("assigned_at")
        case.assignment_epoch += 1
        case.ClearField("resolution_check")
        case.ClearField("reopen_until")
        case.ClearField("resolved_at")
        self._start_opening_clocks(case, received)

    def _close(self, current: case_pb2.Case, cause: str, now: datetime) -> list[Emit]:
        """Past its reopen window: closed for good; the customer's next message opens a
        new case."""
        case = self._copy(current)
        case.status = CLOSED
        case.closed_at.CopyFrom(to_timestamp(now))
        return [self._commit(current, case, case_pb2.CASE_EVENT_TYPE_CLOSED, cause, now)]

    def _fire(self, current: case_pb2.Case, kind: str, now: datetime) -> list[Emit]:
        if kind == _CONFIRM:
            case = self._copy(current)
            case.resolution_check.outcome = case_pb2.RESOLUTION_OUTCOME_TIMED_OUT
            cause = derived_id("confirmation-timeout", case.id, case.resolution_check.command_id)
            return self._resolved(current, case, cause, now)
        if kind == _CLOSE:
            return self._close(current, derived_id("closed", current.id), now)
        silent = self._silent_since(current)
        if silent is None:
            return []
        message_id = silent[0]
        waited = self.care.routing.lifecycle.silent_owner_after or ""
        request = self._request(
            current,
            routing_pb2.ASSIGNMENT_REQUEST_KIND_REASSIGN,
            now,
            agent=current.assignee,
            reason=f"{current.assignee} did not reply for {waited}",
            # Once per owner and unanswered message: the same agent getting the case back
            # later (a new assigned_at) is a new ownership, with a request of its own.
            request_id=derived_id(
                "reassign",
                current.id,
                str(current.assignment_epoch),
                message_id,
                current.assignee,
                str(from_timestamp(current.assigned_at).timestamp())
                if current.HasField("assigned_at")
                else "",
            ),
        )
        return [request]

    def _deadlines(self, case: case_pb2.Case) -> dict[str, datetime | None]:
        """When each of the case's timers fires (None: not set)."""
        check = case.resolution_check
        confirm = (
            from_timestamp(check.due_at)
            if case.status == WAITING
            and check.outcome == case_pb2.RESOLUTION_OUTCOME_PENDING
            and check.HasField("due_at")
            else None
        )
        close = (
            from_timestamp(case.reopen_until)
            if case.status == RESOLVED and case.HasField("reopen_until")
            else None
        )
        silent_after = self.care.routing.lifecycle.silent_owner
        silent = self._silent_since(case) if silent_after is not None else None
        return {
            _CONFIRM: confirm,
            _CLOSE: close,
            _SILENT: silent[1] + silent_after if silent is not None and silent_after else None,
        }

    @staticmethod
    def _silent_since(case: case_pb2.Case) -> tuple[str, datetime] | None:
        """An assigned case whose customer wrote last: (their message id, since when the
        owner has had it unanswered), or None."""
        if case.status != ASSIGNED or not case.assignee:
            return None
        for message in reversed(case.messages):
            if message.direction == case_pb2.DIRECTION_OUTBOUND:
                return None
            if message.direction == case_pb2.DIRECTION_INBOUND:
                stamps = [case.opened_at]
                stamps += [
                    s for s in (message.created_at, case.assigned_at) if s.seconds or s.nanos
                ]
                return message.message_id, max(from_timestamp(s) for s in stamps)
        return None

    def _schedule_restored(self) -> None:
        """Index and schedule the cases restored since the last input (see `restore`)."""
        if not self._unscheduled:
            return
        restored, self._unscheduled = self._unscheduled, {}
        for case_id in restored:
            case = self.cases[case_id]
            self._index(case)
            self._schedule(case)

    def _schedule(self, case: case_pb2.Case) -> None:
        for kind, due in self._deadlines(case).items():
            key = (case.id, kind)
            if due is None:
                self._deadline.pop(key, None)
            elif self._deadline.get(key) != due:
                self._deadline[key] = due
                heapq.heappush(self._timers, (due, case.id, kind))

    # -- priority --------------------------------------------------------------------------
    def _reprioritise(self, case: case_pb2.Case, now: datetime, urgency: float | None) -> None:
        explanation = priority.explain(case, self.care, now, urgency=urgency)
        case.priority_explanation.CopyFrom(explanation)
        case.priority = _level(case, explanation)

    def _sweep_priorities(self, now: datetime) -> list[Emit]:
        """Cases whose level moved since their last explanation (the SLA time used grows)."""
        effects = []
        for current in list(self.cases.values()):
            if current.status not in _LIVE:
                continue
            if current.priority_override:
                continue  # set by hand: the tick does not move it
            moved = self.care.routing.priority.levels.level(priority.score(current, self.care, now))
            if _level(current, _Level(moved)) == current.priority:
                continue
            explanation = priority.explain(current, self.care, now)
            case = self._copy(current)
            case.priority_explanation.CopyFrom(explanation)
            case.priority = _level(case, explanation)
            cause = derived_id("priority", case.id, str(case.version))
            effects.append(
                self._commit(current, case, case_pb2.CASE_EVENT_TYPE_PRIORITY_CHANGED, cause, now)
            )
        return effects

    # -- opening -------------------------------------------------------------------------
    def _find_case(self, message: message_pb2.SocialMessage) -> case_pb2.Case | None:
        """The customer's live case this message belongs to: the open (or resolved, within
        its window) case in the same thread, the case it answers, or their case on the
        channel. Closed cases take no messages."""
        customer = author_key(message)
        candidates = [
            self._open_by_thread.get(f"{customer}|{message.thread_id}")
            if message.thread_id
            else None,
            self._case_of_external.get(f"{customer}|{message.in_reply_to}")
            if message.in_reply_to
            else None,
            self._open_by_author.get(customer),
        ]
        for case_id in candidates:
            if case_id is not None and self.cases[case_id].status != CLOSED:
                return self.cases[case_id]
        return None

    def _last_case(self, customer: str) -> case_pb2.Case | None:
        """The customer's (author key's) most recent case in this book, whatever its
        status."""
        case_id = self._last_by_customer.get(customer)
        return None if case_id is None else self.cases.get(case_id)

    def _open(
        self,
        enriched: message_pb2.EnrichedMessage,
        now: datetime,
        *,
        previous_case_id: str = "",
    ) -> list[Emit]:
        message = enriched.message
        language = enriched.language or "und"
        case = case_pb2.Case(
            id=case_id_for(message.message_id, self.partition, self.partitions),
            status=NEW,
            language=language,
            channel=message.channel,
            sentiment=enriched.sentiment,
            conversation_key=enriched.conversation_key,
            customer=message.author,
            opened_at=to_timestamp(now),
            brand=message.brand,
            priority="normal",
            assignment_epoch=1,
            customer_tier=self.care.tier(message.author.tier),
            previous_case_id=previous_case_id,
        )
        case.messages.append(_inbound(enriched))
        case.traceparent = current_traceparent()  # the latest inbound message's trace
        merging.add_identities(self.care, case, enriched.message)
        self._add_intents(case, enriched)
        add_moments(case, enriched)
        apply_profile(case, enriched, self.care)
        queue = self.care.queue_for(
            language, self.care.brand(case.brand).name, [i.name for i in case.intents]
        )
        case.queue = queue.name
        case.team = next(iter(queue.answering_teams), "")
        self._reprioritise(case, now, enriched.urgency)
        self._start_opening_clocks(case, _received(message, now))
        opened = self._commit(None, case, case_pb2.CASE_EVENT_TYPE_OPENED, message.message_id, now)
        return [opened, self._request(case, routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE, now)]

    def _questions(self, enriched: message_pb2.EnrichedMessage) -> list[str]:
        """The message's intents that are questions (a compliment is not): a "yes, thanks"
        with a compliment still confirms, "yes, and where is my refund?" does not."""
        return [i.name for i in enriched.intents if case_rules.is_question(i.name, self.care)]

    def _add_intents(self, case: case_pb2.Case, enriched: message_pb2.EnrichedMessage) -> None:
        """The message's questions and leads onto the case; a question the case already
        has unanswered is not asked twice. The case is about the first product named."""
        for intent in enriched.intents:
            if any(i.name == intent.name and not i.answered for i in case.intents):
                continue
            definition = self.care.intent(intent.name)
            case.intents.append(
                case_pb2.CaseIntent(
                    name=intent.name,
                    question=intent.question,
                    confidence=intent.confidence,
                    sales=intent.sales or bool(definition and definition.sales),
                    product=intent.product or (definition.product or "" if definition else ""),
                    message_id=enriched.message.message_id,
                )
            )
        if not case.product:
            case.product = next((i.product for i in case.intents if i.product), "")

    # -- clocks --------------------------------------------------------------------------
    def _start(
        self, case: case_pb2.Case, kind: case_pb2.SlaClockKind.ValueType, cycle: int, at: datetime
    ) -> case_pb2.SlaClock | None:
        """A clock of `kind` for the case as it stands (its policy from language, channel,
        priority, tier and brand), or None when that policy sets no such target."""
        policy = self.care.policy_for(
            case.language,
            channel_name(case.channel),
            case.priority,
            case.customer_tier,
            self.care.brand(case.brand).name,
        )
        target = target_for(policy, kind)
        if target is None:
            return None
        calendar = self.care.clock_calendar(policy, case.queue)
        return start_clock(
            kind=kind,
            cycle=cycle,
            policy=policy,
            target_seconds=target,
            calendar_name=calendar,
            calendar=self.care.calendar(calendar),
            at=at,
            team=case.team,
        )

    def _start_opening_clocks(self, case: case_pb2.Case, at: datetime) -> None:
        """First-response and resolution clocks for an opening: numbered by the opening
        (`assignment_epoch`: 1, then +1 per reopening), so every clock of the case has its
        own (kind, cycle)."""
        cycle = int(case.assignment_epoch) or 1
        response = self._start(case, FIRST_RESPONSE, cycle, at)
        assert response is not None  # every policy sets a first-response target
        case.sla.CopyFrom(response)
        resolution = self._start(case, RESOLUTION, cycle, at)
        if resolution is None:
            case.ClearField("resolution_sla")
        else:
            case.resolution_sla.CopyFrom(resolution)

    def _customer_turn(self, case: case_pb2.Case, received: datetime) -> None:
        """The customer wrote on an open case. After an agent's reply (no response clock
        running) the resolution clock runs again and a next-response clock starts, when
        the policy has one; while a response clock runs, nothing changes."""
        if is_running(case.sla):
            return
        # Never before the reply: a message received earlier but processed after the reply
        # would otherwise count that stretch twice (resolution) or before the answer
        # (next response).
        answered = case.sla.stopped_at if case.sla.HasField("stopped_at") else None
        at = max(received, from_timestamp(answered)) if answered is not None else received
        if case.HasField("resolution_sla"):
            clock = case.resolution_sla
            paused = from_timestamp(clock.paused_at) if clock.HasField("paused_at") else at
            resume_clock(clock, self.care.calendar(clock.calendar), max(at, paused))
        following = self._start(case, NEXT_RESPONSE, case.next_response_cycle + 1, at)
        if following is not None:
            case.next_response_cycle += 1
            case.sla.CopyFrom(following)

    def _request(
        self,
        case: case_pb2.Case,
        kind: routing_pb2.AssignmentRequestKind.ValueType,
        now: datetime,
        *,
        agent: str = "",
        command_id: str = "",
        reason: str = "",
        request_id: str = "",
    ) -> Emit:
        if request_id:
            pass
        elif kind == routing_pb2.ASSIGNMENT_REQUEST_KIND_TRANSFER:
            request_id = derived_id("transfer", case.id, command_id)
        elif kind == routing_pb2.ASSIGNMENT_REQUEST_KIND_CLAIM:
            request_id = _claim_request_id(case.id, command_id)
        else:
            name = routing_pb2.AssignmentRequestKind.Name(kind)
            request_id = derived_id(name, case.id, str(case.assignment_epoch), agent)
        request = routing_pb2.AssignmentRequest(
            request_id=request_id,
            case_id=case.id,
            kind=kind,
            epoch=case.assignment_epoch,
            language=case.language,
            queue=case.queue,
            priority=case.priority,
            opened_at=case.opened_at,
            agent=agent,
            command_id=command_id,
            requested_at=to_timestamp(now),
            brand=self.care.brand(case.brand).name,
            channel=case.channel,
            customer_tier=case.customer_tier,
            priority_score=case.priority_explanation.score,
            product=case.product,
            reason=reason,
        )
        if is_running(case.sla):
            request.response_due_at.CopyFrom(case.sla.due_at)
            request.response_clock = kind_of(case.sla)
            request.response_cycle = cycle_of(case.sla)
        if kind == routing_pb2.ASSIGNMENT_REQUEST_KIND_RELEASE and case.sla.HasField(
            "first_response_at"
        ):
            request.first_reply_at.CopyFrom(case.sla.first_response_at)
        return Emit(Topic.ASSIGNMENT_REQUESTS, request)

    # -- bookkeeping -------------------------------------------------------------------------
    def _drain(self, effects: list[Emit]) -> list[Emit]:
        """`effects` and then whatever the outbox gathered on the way."""
        if not self.outbox:
            return effects
        pending, self.outbox = self.outbox, []
        return effects + pending

    @staticmethod
    def _copy(case: case_pb2.Case) -> case_pb2.Case:
        clone = case_pb2.Case()
        clone.CopyFrom(case)
        return clone

    def _commit(
        self,
        previous: case_pb2.Case | None,
        case: case_pb2.Case,
        kind: case_pb2.CaseEventType.ValueType,
        cause: str,
        now: datetime,
    ) -> Emit:
        case.version = (previous.version if previous else 0) + 1
        case.updated_at.CopyFrom(to_timestamp(now))
        self._replace(previous, case)
        claim = merging.identity_claim(self.care, previous, case, now)
        if claim is not None:
            self.outbox.append(Emit(Topic.IDENTITY_CLAIMS, claim))
        event_id = derived_id("case-event", case.id, str(case.version))
        event = case_pb2.CaseEvent(
            event_id=event_id, type=kind, case=case, occurred_at=to_timestamp(now), cause_id=cause
        )
        return Emit(Topic.CASES, event)

    def _replace(self, previous: case_pb2.Case | None, case: case_pb2.Case) -> None:
        if previous is not None:
            self._unindex(previous)
        self.cases[case.id] = case
        self._index(case)
        self._schedule(case)

    @staticmethod
    def _customer(case: case_pb2.Case) -> str:
        return f"{channel_name(case.channel)}:author:{case.customer.id}"

    def _index(self, case: case_pb2.Case) -> None:
        customer = self._customer(case)
        for message in case.messages:
            self._case_of_message[message.message_id] = case.id
            if message.external_id:
                self._case_of_external[f"{customer}|{message.external_id}"] = case.id
        last = self._last_case(customer)
        if last is None or (last.opened_at.seconds, last.opened_at.nanos, last.id) <= (
            case.opened_at.seconds,
            case.opened_at.nanos,
            case.id,
        ):
            self._last_by_customer[customer] = case.id
        if case.status == CLOSED:
            return
        thread = case.conversation_key.partition(":thread:")[2]
        if thread:
            self._open_by_thread[f"{customer}|{thread}"] = case.id
        self._open_by_author[customer] = case.id

    def _unindex(self, case: case_pb2.Case) -> None:
        if case.status == CLOSED:
            return
        customer = self._customer(case)
        thread = case.conversation_key.partition(":thread:")[2]
        for index, key in (
            (self._open_by_thread, f"{customer}|{thread}"),
            (self._open_by_author, customer),
        ):
            if index.get(key) == case.id:
                del index[key]

    # -- queries ---------------------------------------------------------------------------
    def matching(
        self, *, status: int = 0, language: str = "", queue: str = ""
    ) -> Iterator[case_pb2.Case]:
        """Cases with these properties, in no particular order."""
        for case in self.cases.values():
            if status and case.status != status:
                continue
            if language and case.language != language:
                continue
            if queue and case.queue != queue:
                continue
            yield case


def satisfaction_rows(
    cases: Iterable[case_pb2.Case],
    care: CareConfig,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    brands: frozenset[str] = frozenset(),
) -> list[services_pb2.SatisfactionRow]:
    """Survey tallies per (kind, channel, language): surveys sent within [since, until)
    and answers given within it, with how many answers gave each score. Raw counts, so
    the rows of several routing instances merge by adding (the gateway computes CSAT and
    NPS from the sums). `brands` (names) limits it to those brands' cases.

    A case keeps only its latest survey: one resolved, reopened and resolved again counts
    with its second survey."""
    rows: dict[tuple[int, str, str], services_pb2.SatisfactionRow] = {}

    def inside(stamp: Timestamp) -> bool:
        if not (stamp.seconds or stamp.nanos):
            return False
        at = from_timestamp(stamp)
        return (since is None or at >= since) and (until is None or at < until)

    for case in cases:
        survey = case.survey
        if not survey.HasField("sent_at"):
            continue
        if brands and care.brand(case.brand).name not in brands:
            continue
        sent, answered = inside(survey.sent_at), survey.answered and inside(survey.answered_at)
        if not (sent or answered):
            continue
        key = (survey.kind, channel_name(case.channel), case.language)
        row = rows.get(key)
        if row is None:
            row = rows[key] = services_pb2.SatisfactionRow(
                kind=survey.kind,
                channel=key[1],
                language=key[2],
                score_counts=[0] * 11,
            )
        if sent:
            row.sent += 1
        if answered and 0 <= survey.score <= 10:
            row.answered += 1
            row.score_counts[survey.score] += 1
    return [rows[key] for key in sorted(rows)]


def _claim_request_id(case_id: str, command_id: str) -> str:
    return derived_id("claim", case_id, command_id)


def _within(until: Timestamp, now: datetime) -> bool:
    """Whether `now` is before the instant `until` (unset: no limit)."""
    if not (until.seconds or until.nanos):
        return True
    return now < from_timestamp(until)


@dataclass(frozen=True)
class _Level:
    """A computed level without its explanation (the sweep's quick look)."""

    level: str


def _level(case: case_pb2.Case, explanation: case_pb2.PriorityExplanation | _Level) -> str:
    """The case's priority: the explanation's level (an override included), at least high
    while an escalation is open (someone asked for help beyond the owner)."""
    level = explanation.level
    if case.priority_override or level not in _BELOW_HIGH:
        return level
    escalated = any(e.status != escalation_pb2.ESCALATION_STATUS_RESOLVED for e in case.escalations)
    return "high" if escalated else level


def _inbound(enriched: message_pb2.EnrichedMessage) -> case_pb2.CaseMessage:
    message = enriched.message
    return case_pb2.CaseMessage(
        message_id=message.message_id,
        direction=case_pb2.DIRECTION_INBOUND,
        external_id=message.external_id,
        channel=message.channel,
        author=message.author.handle or message.author.name or message.author.id,
        text=message.text,
        created_at=message.created_at,
        sentiment=enriched.sentiment,
        language=enriched.language,
        kind=message.kind,
        account_id=message.account_id,
        attachments=message.attachments,
    )


def _internal(case: case_pb2.Case, message_id: str, author: str, text: str, now: datetime) -> None:
    """An internal message on the case: for agents, never sent to the customer."""
    case.messages.append(
        case_pb2.CaseMessage(
            message_id=message_id,
            direction=case_pb2.DIRECTION_INTERNAL,
            author=author,
            text=text,
            created_at=to_timestamp(now),
        )
    )


def _outbound_index(case: case_pb2.Case, reply_id: str) -> int | None:
    """Where the reply `reply_id` (its command id) is among the case's messages."""
    for index, message in enumerate(case.messages):
        if message.message_id == reply_id and message.direction == case_pb2.DIRECTION_OUTBOUND:
            return index
    return None


def newest_first(cases: Iterable[case_pb2.Case], limit: int) -> list[case_pb2.Case]:
    """The `limit` most recently opened cases (ties by id), newest first."""
    ordered = sorted(cases, key=lambda c: (c.opened_at.seconds, c.opened_at.nanos, c.id))
    return ordered[::-1][:limit]


def _received(message: message_pb2.SocialMessage, now: datetime) -> datetime:
    """When the SLA clock starts: when the platform received the message (not when the
    customer's device says it was written, which may be long ago or skewed)."""
    if message.HasField("received_at"):
        return from_timestamp(message.received_at)
    return now


def _clock_of(
    case: case_pb2.Case, kind: case_pb2.SlaClockKind.ValueType, cycle: int
) -> case_pb2.SlaClock | None:
    """The case's clock of `kind` and `cycle` (older records: see `sla_clocks.kind_of`), or
    None when the case has moved on to another clock."""
    slots = [case.sla] + ([case.resolution_sla] if case.HasField("resolution_sla") else [])
    for clock in slots:
        if clock.HasField("started_at") and kind_of(clock) == kind and cycle_of(clock) == cycle:
            return clock
    return None


def _upsert_escalation(case: case_pb2.Case, escalation: escalation_pb2.Escalation) -> bool:
    """Put `escalation` on the case unless the case already shows the same or a later
    revision of it; whether anything changed."""
    for index, shown in enumerate(case.escalations):
        if shown.id == escalation.id:
            if shown.revision >= escalation.revision:
                return False
            case.escalations[index].CopyFrom(escalation)
            return True
    case.escalations.append(escalation)
    return True
