"""Agent actions, one code path for both doors: the REST routes (`gateway.api`) and the
gRPC AgentService (`gateway.rpc`).

Each action is the same flow, whichever door it came in by (`Actions.act`):

1. may the caller act in the named agent's name (403, before any I/O; an action with its
   own access rule, such as a transfer or a merge, judges the caller on the case instead);
2. is the agent on the roster (422 `unknown_agent`);
3. the case as routing has it now (404, also for a case of a brand the caller does not
   see; 503 `routing_unavailable`, 502 `routing_failed`);
4. the action's own access rule on that case (403);
5. `core.domain.case_rules.check_command`, the rules routing applies too (422 naming the
   field, 409 when the case's state is the problem);
6. the command durably on care.commands (503 `bus_unavailable`), recording who issued it.

So an integrator's gRPC call and an agent's click get the same answer for the same
mistake: the errors are the platform's one error model (`core.errors`), rendered as HTTP by
`core.http_errors` and as gRPC status codes by `core.errors.abort_call`.

Presence is not a case command: it is the assigner's (routing's single writer of agent
state), so `set_presence` writes an AssignmentRequest of kind PRESENCE on
routing.assignment-requests, keyed `agent:<id>`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from socialcare.core.auth import Permission, Principal
from socialcare.core.bus import Producer
from socialcare.core.clock import Clock, to_timestamp, utc_now
from socialcare.core.domain import case_rules
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    SocialcareError,
    UnavailableError,
    UpstreamError,
)
from socialcare.core.events import derived_id, new_event_id
from socialcare.core.telemetry import continue_trace
from socialcare.gateway import commands
from socialcare.gateway.access import (
    BrandScope,
    assign_allowed,
    case_brand,
    forbid_acting_as,
    presence_allowed,
    reassign_allowed,
)
from socialcare.gateway.cases import CaseClient, CaseServiceError, RoutingUnavailableError
from socialcare.gateway.models import CommandAccepted
from socialcare.v1 import case_pb2, commands_pb2, routing_pb2

log = logging.getLogger(__name__)

SOURCE = "gateway"

# Presence names as the API spells them, and back.
PRESENCES: dict[str, routing_pb2.Presence.ValueType] = {
    "online": routing_pb2.PRESENCE_ONLINE,
    "away": routing_pb2.PRESENCE_AWAY,
    "offline": routing_pb2.PRESENCE_OFFLINE,
}
PRESENCE_NAMES = {value: name for name, value in PRESENCES.items()}


def read_case(cases: CaseClient, case_id: str, scope: BrandScope) -> case_pb2.Case:
    """The case as routing has it now: NotFoundError (also for a case of a brand the
    caller does not see), or 503 `routing_unavailable` / 502 `routing_failed` when routing
    cannot answer."""
    try:
        case = cases.get_case(case_id)
    except RoutingUnavailableError as exc:
        raise UnavailableError(f"routing unavailable: {exc}", code="routing_unavailable") from exc
    except CaseServiceError as exc:
        raise UpstreamError(f"routing failed: {exc}", code="routing_failed") from exc
    if case is None or not scope.sees_case(case.brand):
        raise NotFoundError(f"case {case_id} not found")
    return case


def rejection_error(exc: case_rules.CommandRejectedError) -> SocialcareError:
    """The error answer for a command the case rules refuse: 409 when the case's state is
    the problem (`case_resolved`), 422 when the request is; the rule's code and field as
    the error's."""
    if exc.is_conflict:
        return ConflictError(exc.reason, code=exc.code.value, field=exc.field)
    return InvalidRequestError(exc.reason, code=exc.code.value, field=exc.field)


def issue(
    producer: Producer, command: commands_pb2.AgentCommand, principal: Principal
) -> CommandAccepted:
    """Queue the command durably; a BusError (503 `bus_unavailable`) propagates."""
    command.issued_by = principal.id
    publish_effects(producer, [Emit(Topic.COMMANDS, command)], source=SOURCE)
    # 202 promises the command is durable, so flush before answering.
    producer.flush()
    log.info(
        "agent command accepted",
        extra={
            "command_id": command.command_id,
            "case_id": command.case_id,
            "action": command.WhichOneof("action"),
            "issued_by": principal.id,
        },
    )
    return CommandAccepted(command_id=command.command_id, case_id=command.case_id)


@dataclass(frozen=True)
class PresenceRequested:
    """A presence change on its way to the assigner (it applies it in order)."""

    agent: str
    presence: str
    request_id: str
    requested_at: datetime


class Actions:
    """The agent actions over the gateway's backends; thread-safe (request handlers and
    gRPC workers share one)."""

    def __init__(
        self,
        *,
        care: CareConfig,
        producer: Producer,
        cases: CaseClient,
        clock: Clock = utc_now,
    ) -> None:
        self.care = care
        self.producer = producer
        self.cases = cases
        self.clock = clock

    # -- the one flow ------------------------------------------------------------------

    def act(
        self,
        command: commands_pb2.AgentCommand,
        agent_id: str,
        principal: Principal,
        *,
        allowed: Callable[[case_pb2.Case], None] | None = None,
        field: str = "agent",
    ) -> CommandAccepted:
        """Check and queue `command` in `agent_id`'s name (see the module docstring): the
        caller must be that agent (403 naming `field`) unless `allowed` judges the caller
        on the case instead."""
        if allowed is None and not principal.may_act_as(agent_id):
            raise forbid_acting_as(agent_id, field=field)
        try:
            case_rules.roster_agent(self.care, agent_id, field)
            case = read_case(self.cases, command.case_id, BrandScope.of(self.care, principal))
            if allowed is not None:
                allowed(case)
            case_rules.check_command(case, command, self.care, self.clock())
        except case_rules.CommandRejectedError as exc:
            raise rejection_error(exc) from exc
        # The command joins the trace of the case's latest inbound message (so the reply,
        # its delivery and the SLA events do too), linked to this request's span.
        with continue_trace(
            case.traceparent,
            "socialcare.gateway.actions",
            "agent command",
            attributes={"socialcare.case_id": case.id},
        ):
            return issue(self.producer, command, principal)

    # -- the actions -------------------------------------------------------------------

    def reply(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        text: str | None,
        template: commands_pb2.MessageTemplate | None = None,
        answers: Sequence[str] = (),
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        command = commands.reply(
            case_id,
            agent,
            text,
            template=template,
            answers=answers,
            idempotency_key=idempotency_key,
            now=self.clock(),
        )
        return self.act(command, agent, principal)

    def assign(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        reason: str = "",
        by: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        """Make `agent` the owner. Taking a case for oneself needs `act`; giving it to
        another agent needs `reassign` (leads), unless the caller owns the case and hands
        it over. `by`, when given, must be the caller's own agent too."""
        if by and not principal.may_act_as(by):
            raise forbid_acting_as(by, field="by")
        handed_by = by or ""
        if not handed_by and principal.agent_id is not None and principal.agent_id != agent:
            handed_by = principal.agent_id  # a lead handing a case on: the transfer says who
        if (
            principal.agent_id is None
            and not principal.may_act_as(agent)
            and not principal.can(Permission.REASSIGN)
        ):
            raise forbid_acting_as(agent)  # no agent of their own: nothing to hand over
        command = commands.assign(
            case_id,
            agent,
            idempotency_key=idempotency_key,
            now=self.clock(),
            reason=reason.strip(),
            by=handed_by,
        )

        def allowed(case: case_pb2.Case) -> None:
            assign_allowed(principal, target=agent, owner=case.assignee)

        return self.act(command, agent, principal, allowed=allowed)

    def transfer(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        reason: str,
        by: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        """An assignment that says why (the reason is required: the next owner reads it)."""
        if not reason.strip():
            raise InvalidRequestError(
                "say why the case moves, for its next owner",
                code=case_rules.RejectionCode.REASON_EMPTY.value,
                field="reason",
            )
        return self.assign(
            principal,
            case_id,
            agent=agent,
            reason=reason,
            by=by,
            idempotency_key=idempotency_key,
        )

    def claim(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        command = commands.claim(case_id, agent, idempotency_key=idempotency_key, now=self.clock())
        return self.act(command, agent, principal)

    def note(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        text: str,
        consult: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        command = commands.note(
            case_id,
            agent,
            text,
            consult=consult or "",
            idempotency_key=idempotency_key,
            now=self.clock(),
        )
        return self.act(command, agent, principal)

    def consult(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        specialist: str,
        question: str,
        product: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        command = commands.consult(
            case_id,
            agent,
            specialist,
            question,
            product=product,
            idempotency_key=idempotency_key,
            now=self.clock(),
        )
        return self.act(command, agent, principal)

    def answer_consultation(
        self,
        principal: Principal,
        case_id: str,
        *,
        specialist: str,
        consultation_id: str,
        answer: str,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        """The specialist answers in their own name, on a case they need not own (nor
        serve the brand of: specialists are consulted across brands, and the caller still
        sees only cases of their brands)."""
        command = commands.answer_consultation(
            case_id,
            specialist,
            consultation_id,
            answer,
            idempotency_key=idempotency_key,
            now=self.clock(),
        )
        return self.act(command, specialist, principal, field="specialist")

    def await_customer(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        command = commands.await_customer(
            case_id, agent, note=note, idempotency_key=idempotency_key, now=self.clock()
        )
        return self.act(command, agent, principal)

    def resolve(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        command = commands.resolve(
            case_id, agent, note=note, idempotency_key=idempotency_key, now=self.clock()
        )
        return self.act(command, agent, principal)

    def reopen(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        command = commands.reopen(
            case_id, agent, reason=reason, idempotency_key=idempotency_key, now=self.clock()
        )
        return self.act(command, agent, principal)

    def merge(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        into_case_id: str,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        """Merge the case into `into_case_id`. Both cases are read: the target must exist
        among the caller's brands (404 naming `into_case_id`), not be closed (409
        `case_closed`) and be of the same brand as the case (422 `brand_mismatch`: a
        customer of one brand is not one of another). Moving a case someone else owns, or
        into someone else's case, needs `reassign` (403), as a transfer does."""
        if not principal.may_act_as(agent):
            raise forbid_acting_as(agent)
        command = commands.merge(
            case_id,
            agent,
            into_case_id,
            reason=reason,
            idempotency_key=idempotency_key,
            now=self.clock(),
        )
        scope = BrandScope.of(self.care, principal)

        def allowed(case: case_pb2.Case) -> None:
            reassign_allowed(principal, owner=case.assignee)
            if into_case_id == case.id or not into_case_id.strip():
                return  # the case rules answer these (merge_into_self, merge_target_missing)
            try:
                target = read_case(self.cases, into_case_id, scope)
            except NotFoundError:
                raise NotFoundError(
                    f"case {into_case_id} not found", field="into_case_id"
                ) from None
            if case_brand(self.care, target.brand) != case_brand(self.care, case.brand):
                raise InvalidRequestError(
                    f"case {case.id} is of brand {case_brand(self.care, case.brand)!r}, "
                    f"case {target.id} of {case_brand(self.care, target.brand)!r}: only cases "
                    "of one brand merge",
                    code="brand_mismatch",
                    field="into_case_id",
                )
            if target.status == case_pb2.CASE_STATUS_CLOSED:
                raise ConflictError(
                    f"case {target.id} is closed: merge into an open case",
                    code=case_rules.RejectionCode.CASE_CLOSED.value,
                    field="into_case_id",
                )
            reassign_allowed(principal, owner=target.assignee, field="into_case_id")

        return self.act(command, agent, principal, allowed=allowed)

    def link_identity(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        kind: str,
        value: str,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        command = commands.link_identity(
            case_id, agent, kind, value, idempotency_key=idempotency_key, now=self.clock()
        )
        return self.act(command, agent, principal)

    def refer(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        to: str,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        command = commands.refer(
            case_id, agent, to, note=note, idempotency_key=idempotency_key, now=self.clock()
        )
        return self.act(command, agent, principal)

    def set_priority(
        self,
        principal: Principal,
        case_id: str,
        *,
        agent: str,
        level: str | None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandAccepted:
        command = commands.set_priority(
            case_id, agent, level, reason=reason, idempotency_key=idempotency_key, now=self.clock()
        )
        return self.act(command, agent, principal)

    # -- presence ----------------------------------------------------------------------

    def set_presence(
        self,
        principal: Principal,
        agent_id: str,
        presence: str,
        *,
        idempotency_key: str | None = None,
    ) -> PresenceRequested:
        """Ask the assigner to set `agent_id`'s presence (online, away, offline).

        An agent sets their own; a supervisor (`reassign`) anyone's of their brands (403
        otherwise). An agent not on the roster, or of a brand the caller does not see, is
        404. The request id derives from the agent, the presence and the client's
        `Idempotency-Key` (a fresh id without one), so a retried request is one change."""
        value = PRESENCES.get(presence)
        if value is None:
            raise InvalidRequestError(
                f"{presence!r} is not a presence ({', '.join(PRESENCES)})", field="presence"
            )
        agent = self._visible_agent(principal, agent_id)
        presence_allowed(principal, agent.id)
        now = self.clock()
        request_id = derived_id(
            SOURCE, "presence", agent.id, presence, idempotency_key or new_event_id()
        )
        request = routing_pb2.AssignmentRequest(
            request_id=request_id,
            case_id=f"agent:{agent.id}",
            kind=routing_pb2.ASSIGNMENT_REQUEST_KIND_PRESENCE,
            agent=agent.id,
            presence=value,
            by=principal.agent_id or principal.id,
            requested_at=to_timestamp(now),
        )
        publish_effects(self.producer, [Emit(Topic.ASSIGNMENT_REQUESTS, request)], source=SOURCE)
        self.producer.flush()
        log.info(
            "presence change requested",
            extra={"agent": agent.id, "presence": presence, "by": principal.id},
        )
        return PresenceRequested(agent.id, presence, request_id, now)

    def _visible_agent(self, principal: Principal, agent_id: str) -> Agent:
        agent = self.care.agents_by_id.get(agent_id)
        if agent is None or not BrandScope.of(self.care, principal).sees_agent(agent):
            raise NotFoundError(f"agent {agent_id} not found", field="agent")
        return agent
