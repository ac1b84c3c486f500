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
case opens or reopens, TRANSFER for an agent's assign command, RELEASE when a case
resolves) and applies its decisions in order; a decision carries the case's assignment
epoch, so one made for an earlier opening is never applied to a later one.

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
command, SLA event, escalation, decision or delivery once per case (`applied_ids`). Case
event ids derive from (case id, version), request ids from (case id, epoch) or the command
id, so replaying the same input after a crash yields the same records.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from socialcare.core.bus.partitioner import partition_for
from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain import case_rules
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
from socialcare.v1 import (
    case_pb2,
    commands_pb2,
    delivery_pb2,
    escalation_pb2,
    message_pb2,
    routing_pb2,
    sla_pb2,
)

log = logging.getLogger(__name__)

RESOLVED = case_pb2.CASE_STATUS_RESOLVED
OPEN = case_pb2.CASE_STATUS_OPEN
ASSIGNED = case_pb2.CASE_STATUS_ASSIGNED
WAITING = case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
INFLUENCER_FOLLOWERS = 100_000
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
    """The cases of partition `partition` of `partitions`, with the indexes threading needs."""

    care: CareConfig
    partition: int = 0
    partitions: int = 1
    cases: dict[str, case_pb2.Case] = field(default_factory=dict)
    _case_of_message: dict[str, str] = field(default_factory=dict)
    _case_of_external: dict[str, str] = field(default_factory=dict)
    _open_by_thread: dict[str, str] = field(default_factory=dict)
    _open_by_author: dict[str, str] = field(default_factory=dict)

    # -- rebuilding --------------------------------------------------------------------
    def restore(self, event: case_pb2.CaseEvent) -> None:
        """Apply one changelog event from care.cases (rebuild); stale ones are ignored."""
        current = self.cases.get(event.case.id)
        if current is None or event.case.version > current.version:
            snapshot = case_pb2.Case()
            snapshot.CopyFrom(event.case)
            self._replace(current, snapshot)

    def pending_requests(self, now: datetime) -> list[Emit]:
        """QUEUE requests for every open case without an owner, sent again after a rebuild:
        if the original request was lost with a failed flush, this one takes its place; if
        not, the assigner recognises it (same case and epoch) and at most repeats its
        decision."""
        return [
            self._request(case, routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE, now)
            for case in self.cases.values()
            if case.status == OPEN and not case.assignee
        ]

    # -- inputs ------------------------------------------------------------------------
    def on_message(self, enriched: message_pb2.EnrichedMessage, now: datetime) -> list[Emit]:
        message = enriched.message
        if not message.message_id:
            raise InvalidRecordError("enriched message has no message_id")
        if not message.author.id:
            raise InvalidRecordError(f"message {message.message_id} has no author id")
        if message.message_id in self._case_of_message:
            return []
        inbound = case_pb2.CaseMessage(
            message_id=message.message_id,
            direction=case_pb2.DIRECTION_INBOUND,
            external_id=message.external_id,
            author=message.author.handle or message.author.name or message.author.id,
            text=message.text,
            created_at=message.created_at,
            sentiment=enriched.sentiment,
            language=enriched.language,
            kind=message.kind,
            account_id=message.account_id,
            attachments=message.attachments,
        )
        existing = self._find_case(message)
        if existing is None:
            return self._open(enriched, inbound, now)
        case = self._copy(existing)
        case.messages.append(inbound)
        case.sentiment.CopyFrom(enriched.sentiment)
        self._mark_priority(case, message, enriched.sentiment)
        received = _received(message, now)
        if case.status == RESOLVED:
            # The customer decides when it is solved: writing again reopens the case, with
            # fresh clocks, and asks for its previous agent first (sticky ownership).
            previous = case.assignee
            case.status = OPEN
            case.assignee = ""
            case.assignment_epoch += 1
            self._start_opening_clocks(case, received)
            reopened = self._commit(
                existing, case, case_pb2.CASE_EVENT_TYPE_REOPENED, message.message_id, now
            )
            queue = self._request(
                case, routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE, now, agent=previous
            )
            return [reopened, queue]
        if case.status == WAITING:
            case.status = ASSIGNED if case.assignee else OPEN
        self._customer_turn(case, received)
        return [
            self._commit(
                existing, case, case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED, message.message_id, now
            )
        ]

    def on_command(self, command: commands_pb2.AgentCommand, now: datetime) -> list[Emit]:
        if command.WhichOneof("action") in ESCALATION_ACTIONS:
            return []  # the escalation service's; it answers on care.escalations
        current = self.cases.get(command.case_id)
        if current is None:
            raise InvalidRecordError(
                f"command {command.command_id}: case {command.case_id!r} does not exist"
            )
        if command.command_id in current.applied_ids:
            return []
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
        action = command.WhichOneof("action")
        if action == "reply":
            return self._reply(current, command, agent, now)
        if action == "note":
            return self._note(current, command, now)
        if action == "assign":
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
            case.messages.append(
                case_pb2.CaseMessage(
                    message_id=command.command_id,
                    direction=case_pb2.DIRECTION_INTERNAL,
                    author=by,
                    text=f"Transfer to {agent.id} requested: {command.assign.reason.strip()}",
                    created_at=to_timestamp(now),
                )
            )
            case.applied_ids.append(command.command_id)
            noted = self._commit(
                current, case, case_pb2.CASE_EVENT_TYPE_NOTE_ADDED, command.command_id, now
            )
            return [noted, request]
        return self._resolve(current, command, now)

    def on_decision(self, decision: routing_pb2.AssignmentDecision, now: datetime) -> list[Emit]:
        current = self.cases.get(decision.case_id)
        if current is None or decision.epoch != current.assignment_epoch:
            return []  # about an earlier opening of the case (or a case long gone)
        if current.status == RESOLVED or decision.decision_id in current.applied_ids:
            return []  # the RELEASE sent on resolving frees whatever was decided
        if decision.outcome == routing_pb2.ASSIGNMENT_OUTCOME_REJECTED:
            return [
                self._rejection(
                    current,
                    decision.command_id or decision.request_id,
                    RejectionCode.AGENT_AT_CAPACITY,
                    decision.reason,
                    "agent",
                    now,
                )
            ]
        if decision.outcome != routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED or not decision.agent:
            raise InvalidRecordError(f"decision {decision.decision_id} has no outcome or agent")
        if current.assignee == decision.agent:
            return []
        case = self._copy(current)
        case.assignee = decision.agent
        if case.status == OPEN:
            case.status = ASSIGNED
        case.applied_ids.append(decision.decision_id)
        return [
            self._commit(
                current, case, case_pb2.CASE_EVENT_TYPE_ASSIGNED, decision.decision_id, now
            )
        ]

    def on_sla(self, event: sla_pb2.SlaEvent, now: datetime) -> list[Emit]:
        """Apply a WARNING, BREACHED or AT_RISK from the sla service onto the clock it is
        about, matched by (clock kind, cycle): an event about a clock the case has since
        replaced changes nothing, as does one already applied. Other SLA events (started,
        paused, met...) record what routing itself did and change nothing here."""
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
        return [
            self._commit(current, case, case_pb2.CASE_EVENT_TYPE_SLA_CHANGED, event.event_id, now)
        ]

    def on_escalation(self, event: escalation_pb2.EscalationEvent, now: datetime) -> list[Emit]:
        """Show the escalation on its case as it now stands (the highest revision of each
        escalation wins, whatever order the events come in); raising or re-escalating one
        makes the case high priority. Applied once per event id."""
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
        return [self._commit(current, case, case_pb2.CASE_EVENT_TYPE_ESCALATED, event_id, now)]

    def on_delivery(self, report: delivery_pb2.ReplyDelivery, now: datetime) -> list[Emit]:
        """Show how far a reply got. Nothing happens for a report already applied, one that
        does not advance the reply's delivery (an older status arriving late), or one about
        a case or reply this book does not know (logged: another system's message)."""
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
        return [self._commit(current, case, kind, report.event_id, now)]

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
        answered = case_rules.last_inbound(current)
        case = self._copy(current)
        case.messages.append(
            case_pb2.CaseMessage(
                message_id=command.command_id,
                direction=case_pb2.DIRECTION_OUTBOUND,
                author=agent.id,
                text=text if template is None else case_rules.template_label(template),
                created_at=to_timestamp(now),
                language=case.language,
                kind=answered.kind if answered else message_pb2.MESSAGE_KIND_UNSPECIFIED,
                account_id=answered.account_id if answered else "",
            )
        )
        case.status = WAITING
        # The answer stops the response clock (MET, or BREACHED if late); the ball is with
        # the customer, so the resolution clock stands still until they write.
        stop_clock(case.sla, self.care.calendar(case.sla.calendar), now)
        if case.HasField("resolution_sla"):
            pause_clock(case.resolution_sla, self.care.calendar(case.resolution_sla.calendar), now)
        case.applied_ids.append(command.command_id)
        effects = [
            self._commit(current, case, case_pb2.CASE_EVENT_TYPE_REPLIED, command.command_id, now)
        ]
        if not case.assignee:
            # Whoever answers a waiting case would rather keep it: ask for them first.
            effects.append(
                self._request(case, routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE, now, agent=agent.id)
            )
        outbound = commands_pb2.OutboundReply(
            reply_id=command.command_id,
            case_id=case.id,
            channel=case.channel,
            in_reply_to=answered.external_id if answered else "",
            thread_id=case.conversation_key.partition(":thread:")[2],
            agent=agent.id,
            text=text,
            created_at=to_timestamp(now),
            account_id=answered.account_id if answered else "",
            kind=answered.kind if answered else message_pb2.MESSAGE_KIND_UNSPECIFIED,
            recipient_id=case.customer.id,
            agent_name=agent.name,
            brand=brand.name,
            template=template,
        )
        if answered is not None and answered.HasField("created_at"):
            outbound.customer_last_message_at.CopyFrom(answered.created_at)
        effects.append(Emit(Topic.OUTBOUND, outbound))
        return effects

    def _note(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emit]:
        """An internal note: on the case for every agent to read, never to the customer;
        status and SLA clocks are untouched (a note is not an answer)."""
        note = command.note
        case = self._copy(current)
        case.messages.append(
            case_pb2.CaseMessage(
                message_id=command.command_id,
                direction=case_pb2.DIRECTION_INTERNAL,
                author=note.agent,
                text=note.text.strip(),
                created_at=to_timestamp(now),
            )
        )
        if note.consult and note.consult not in case.consultants:
            case.consultants.append(note.consult)
        case.applied_ids.append(command.command_id)
        return [
            self._commit(
                current, case, case_pb2.CASE_EVENT_TYPE_NOTE_ADDED, command.command_id, now
            )
        ]

    def _resolve(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emit]:
        case = self._copy(current)
        case.status = RESOLVED
        for clock in (case.sla, case.resolution_sla):
            stop_clock(clock, self.care.calendar(clock.calendar), now)
        case.applied_ids.append(command.command_id)
        resolved = self._commit(
            current, case, case_pb2.CASE_EVENT_TYPE_RESOLVED, command.command_id, now
        )
        return [resolved, self._request(case, routing_pb2.ASSIGNMENT_REQUEST_KIND_RELEASE, now)]

    def _rejection(
        self,
        case: case_pb2.Case,
        command_id: str,
        code: str,
        reason: str,
        field_name: str,
        now: datetime,
    ) -> Emit:
        """A visible refusal: the case as it is (same version), and why."""
        event = case_pb2.CaseEvent(
            event_id=derived_id("rejected", case.id, command_id),
            type=case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED,
            case=case,
            occurred_at=to_timestamp(now),
            cause_id=command_id,
            rejection=case_pb2.Rejection(
                code=code, field=field_name, reason=reason, command_id=command_id
            ),
        )
        return Emit(Topic.CASES, event)

    # -- opening -------------------------------------------------------------------------
    def _find_case(self, message: message_pb2.SocialMessage) -> case_pb2.Case | None:
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
            if case_id is not None:
                return self.cases[case_id]
        return None

    def _open(
        self, enriched: message_pb2.EnrichedMessage, inbound: case_pb2.CaseMessage, now: datetime
    ) -> list[Emit]:
        message = enriched.message
        language = enriched.language or "und"
        queue = self.care.queue_for(language)
        case = case_pb2.Case(
            id=case_id_for(message.message_id, self.partition, self.partitions),
            status=OPEN,
            language=language,
            channel=message.channel,
            queue=queue.name,
            sentiment=enriched.sentiment,
            conversation_key=enriched.conversation_key,
            customer=message.author,
            opened_at=to_timestamp(now),
            brand=message.brand,
            priority="normal",
            assignment_epoch=1,
            customer_tier=self.care.tier(message.author.tier),
            team=queue.team or "",
        )
        case.messages.append(inbound)
        self._mark_priority(case, message, enriched.sentiment)
        self._start_opening_clocks(case, _received(message, now))
        opened = self._commit(None, case, case_pb2.CASE_EVENT_TYPE_OPENED, message.message_id, now)
        return [opened, self._request(case, routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE, now)]

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

    @staticmethod
    def _mark_priority(
        case: case_pb2.Case, message: message_pb2.SocialMessage, sentiment: message_pb2.Sentiment
    ) -> None:
        negative = sentiment.label == message_pb2.SENTIMENT_LABEL_NEGATIVE
        if negative and message.author.followers >= INFLUENCER_FOLLOWERS:
            case.priority = "high"

    def _request(
        self,
        case: case_pb2.Case,
        kind: routing_pb2.AssignmentRequestKind.ValueType,
        now: datetime,
        *,
        agent: str = "",
        command_id: str = "",
    ) -> Emit:
        if kind == routing_pb2.ASSIGNMENT_REQUEST_KIND_TRANSFER:
            request_id = derived_id("transfer", case.id, command_id)
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
        )
        if is_running(case.sla):
            request.response_due_at.CopyFrom(case.sla.due_at)
        return Emit(Topic.ASSIGNMENT_REQUESTS, request)

    # -- bookkeeping -------------------------------------------------------------------------
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

    @staticmethod
    def _customer(case: case_pb2.Case) -> str:
        return f"{channel_name(case.channel)}:author:{case.customer.id}"

    def _index(self, case: case_pb2.Case) -> None:
        customer = self._customer(case)
        for message in case.messages:
            self._case_of_message[message.message_id] = case.id
            if message.external_id:
                self._case_of_external[f"{customer}|{message.external_id}"] = case.id
        if case.status == RESOLVED:
            return
        thread = case.conversation_key.partition(":thread:")[2]
        if thread:
            self._open_by_thread[f"{customer}|{thread}"] = case.id
        self._open_by_author[customer] = case.id

    def _unindex(self, case: case_pb2.Case) -> None:
        if case.status == RESOLVED:
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
