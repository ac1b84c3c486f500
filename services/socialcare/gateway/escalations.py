"""The escalation REST routes: raise, acknowledge, resolve and list escalations.

* `POST /v1/cases/{case_id}/escalations` — an agent asks for help on a case: an
  `EscalateCase` command (202 with the command id). Agents escalate the cases they own;
  leads (`reassign`) and admins any case of their brands.
* `POST /v1/escalations/{id}/acknowledge` and `POST /v1/escalations/{id}/resolve` — the
  people an escalation reached take it and close it: `AcknowledgeEscalation` /
  `ResolveEscalation` commands. Leads (`reassign`), operations (`read_operations`) and
  admins may; so may an agent the escalation is on call for (the assignee at the agent
  tier, or an agent listed in the on-call schedule): `gateway.access.may_handle_escalation`,
  which the console asks too.
* `GET /v1/escalations?status=&case_id=&trigger=&tier=` — from the search projection,
  newest first, the caller's brands only.

Where an escalation is: its id is on its case (`Case.escalations`, kept by routing), and
the search projection knows the case of each escalation id. The gateway asks the index
for the case id and then routing for the case, and judges the request against the
escalation as the case shows it (`core.domain.case_rules`): 404 for an id not on a case
of the caller's brands, 409 for one already acknowledged or resolved. The escalation
service decides finally (a request racing another is logged and skipped there), so a 202
means "queued", like every agent action.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field, field_validator

from socialcare.core.auth import Permission, Principal, require
from socialcare.core.bus import Producer
from socialcare.core.clock import Clock, utc_now
from socialcare.core.domain import case_rules
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.errors import ForbiddenError, NotFoundError
from socialcare.core.http_errors import error_responses
from socialcare.core.search import SearchIndex, SearchQuery
from socialcare.core.search.indices import ESCALATIONS
from socialcare.core.search.schema import MAX_RESULT_WINDOW
from socialcare.gateway import commands
from socialcare.gateway.access import (
    BrandScope,
    escalation_handler,
    escalation_handling_allowed,
    forbid_acting_as,
)
from socialcare.gateway.api import (
    IdempotencyKey,
    find,
    find_by_case,
    issue,
    read_case,
    rejection_error,
)
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.models import CommandAccepted, EscalationList
from socialcare.v1 import case_pb2, escalation_pb2

Reader = Annotated[Principal, Depends(require(Permission.READ_CASES))]
Actor = Annotated[Principal, Depends(require(Permission.ACT))]
CaseId = Annotated[str, Path(min_length=1, max_length=200, description="The case id.")]
EscalationId = Annotated[str, Path(min_length=1, max_length=200, description="The escalation id.")]
Filter = Annotated[str | None, Query(min_length=1, max_length=100)]
StatusName = Literal["open", "acknowledged", "resolved"]
TriggerName = Literal[
    "sla_breach",
    "sla_warning",
    "sla_at_risk",
    "negative_spike",
    "keyword",
    "influencer",
    "vip_negative",
    "agent_request",
]
TierName = Literal["agent", "team_lead", "specialist", "management", "pr"]

_ACTION_ERRORS = error_responses(
    400,
    401,
    403,
    404,
    409,
    415,
    422,
    502,
    503,
    descriptions={
        403: "The credential may not do this (`forbidden`; `field` names the agent when the "
        "caller acts for someone else).",
        404: "No such case or escalation among the caller's brands (`not_found`).",
        409: "The case is resolved (`case_resolved`), or the escalation is already "
        "acknowledged (`escalation_acknowledged`) or resolved (`escalation_resolved`).",
        422: "Invalid request: `field` names it (`invalid_request`, `unknown_agent`, "
        "`reason_empty`, `reason_too_long`, `unknown_tier`, `note_too_long`).",
        503: "Routing, search or the event bus is unavailable; retry later.",
    },
)


class EscalationCreate(BaseModel):
    """An agent asks for help beyond themselves."""

    agent: str = Field(min_length=1, max_length=100, description="The agent asking (yours).")
    reason: str = Field(
        min_length=1,
        max_length=case_rules.ESCALATION_REASON_MAX_CHARS,
        description="What help is needed, for whoever is on call.",
        examples=["Customer threatens to go to the press"],
    )
    tier: TierName | None = Field(
        default=None,
        description="The tier to go to; default: where the agent-request policy starts.",
    )

    @field_validator("reason", mode="before")
    @classmethod
    def _not_blank(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be blank")
        return value


class EscalationResolve(BaseModel):
    note: str | None = Field(
        default=None,
        max_length=case_rules.NOTE_MAX_CHARS,
        description="What was done; kept on the escalation.",
    )


def escalations_router(
    *,
    care: CareConfig,
    search: SearchIndex,
    producer: Producer,
    cases: CaseClient,
    clock: Clock = utc_now,
) -> APIRouter:
    """The escalation routes over the gateway's backends (see the module docstring)."""
    api = APIRouter(prefix="/v1", tags=["escalations"])

    def locate(
        escalation_id: str, scope: BrandScope
    ) -> tuple[case_pb2.Case, escalation_pb2.Escalation]:
        """The escalation as its case shows it now; NotFoundError when the index does not
        know the id, its case is not the caller's, or the case does not (yet) carry it."""
        hits = find(search, ESCALATIONS, SearchQuery(filters={"id": escalation_id}, limit=1)).hits
        if not hits:
            raise NotFoundError(f"escalation {escalation_id} not found")
        case = read_case(cases, str(hits[0].document.get("case_id", "")), scope)
        escalation = case_rules.escalation_on_case(case, escalation_id)
        if escalation is None:
            raise NotFoundError(f"escalation {escalation_id} not found on case {case.id}")
        return case, escalation

    def judged(check: Callable[[], None]) -> None:
        try:
            check()
        except case_rules.CommandRejectedError as exc:
            raise rejection_error(exc) from exc

    @api.post(
        "/cases/{case_id}/escalations",
        summary="Ask for help on a case: raise an escalation",
        status_code=HTTPStatus.ACCEPTED,
        response_model=CommandAccepted,
        responses=_ACTION_ERRORS,
    )
    def escalate_case(
        case_id: CaseId,
        body: EscalationCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        if not principal.may_act_as(body.agent):
            raise forbid_acting_as(body.agent)
        try:
            case_rules.roster_agent(care, body.agent)
        except case_rules.CommandRejectedError as exc:
            raise rejection_error(exc) from exc
        case = read_case(cases, case_id, BrandScope.of(care, principal))
        if case.assignee != body.agent and not principal.can(Permission.REASSIGN):
            raise ForbiddenError(
                "agents escalate the cases they own; this one is "
                + (f"{case.assignee}'s" if case.assignee else "not assigned")
                + " (leads may escalate any case)",
                field="agent",
            )
        command = commands.escalate(
            case_id,
            body.agent,
            body.reason,
            body.tier,
            idempotency_key=idempotency_key,
            now=clock(),
        )
        judged(lambda: case_rules.check_escalate(case, command.escalate, care))
        return issue(producer, command, principal)

    @api.post(
        "/escalations/{escalation_id}/acknowledge",
        summary="Take an escalation: it stops climbing to the next tier",
        status_code=HTTPStatus.ACCEPTED,
        response_model=CommandAccepted,
        responses=_ACTION_ERRORS,
    )
    def acknowledge(escalation_id: EscalationId, principal: Reader) -> CommandAccepted:
        case, escalation = locate(escalation_id, BrandScope.of(care, principal))
        escalation_handling_allowed(principal, escalation)
        judged(lambda: case_rules.check_acknowledge(escalation))
        command = commands.acknowledge_escalation(
            case.id, escalation, escalation_handler(principal), now=clock()
        )
        return issue(producer, command, principal)

    @api.post(
        "/escalations/{escalation_id}/resolve",
        summary="Close an escalation, with a note of what was done",
        status_code=HTTPStatus.ACCEPTED,
        response_model=CommandAccepted,
        responses=_ACTION_ERRORS,
    )
    def resolve(
        escalation_id: EscalationId,
        principal: Reader,
        body: EscalationResolve | None = None,
    ) -> CommandAccepted:
        case, escalation = locate(escalation_id, BrandScope.of(care, principal))
        escalation_handling_allowed(principal, escalation)
        note = body.note if body else None
        command = commands.resolve_escalation(
            case.id, escalation, escalation_handler(principal), note, now=clock()
        )
        judged(lambda: case_rules.check_resolve_escalation(escalation, command.resolve_escalation))
        return issue(producer, command, principal)

    @api.get(
        "/escalations",
        summary="Escalations of the caller's brands, newest first",
        response_model=EscalationList,
        responses=error_responses(401, 403, 422, 503),
    )
    def list_escalations(
        principal: Reader,
        status: Annotated[StatusName | None, Query()] = None,
        case_id: Filter = None,
        trigger: Annotated[TriggerName | None, Query()] = None,
        tier: Annotated[TierName | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_RESULT_WINDOW - 1)] = 0,
    ) -> EscalationList:
        """From the search projection (each escalation at its newest revision), so a change
        of a moment ago may not show yet."""
        filters = {
            name: value
            for name, value in (
                ("status", status),
                ("case_id", case_id),
                ("trigger", trigger),
                ("tier", tier),
            )
            if value is not None
        }
        query = SearchQuery(
            filters=filters, sort=[("raised_at", "desc")], limit=limit, offset=offset
        )
        result = find_by_case(search, ESCALATIONS, query, BrandScope.of(care, principal))
        return EscalationList(total=result.total, escalations=[h.document for h in result.hits])

    return api
