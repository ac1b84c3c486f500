"""The agents over REST: the roster with each agent's live state, presence, and who to
consult.

* `GET /v1/agents`: the roster (the caller's brands) joined with routing's assigner view
  (`CaseService.ListAgentStates`: presence, load per channel, on shift, idle since). The
  assigner is routing's single writer of agent state, so it is asked, not a projection;
  without it the answer is 503 `routing_unavailable`, never a roster that claims everyone
  is idle.
* `PUT /v1/agents/{agent_id}/presence`: online, away or offline, written for the assigner
  (`Actions.set_presence`); an agent sets their own, a supervisor anyone's.
* `GET /v1/specialists?language=&product=`: who to consult (scenario 3): specialists, and
  agents with the product skill, ranked by proficiency, those on shift now first, with
  their time zone and local time (a Spanish router question at night in Europe goes to
  Buenos Aires or Singapore). Pure configuration and the clock: on shift is the agent's
  own calendar, else their team's, else round the clock, the same rule the assigner uses.
"""

from __future__ import annotations

__all__ = [
    "PRESENCE_NAMES",
    "SpecialistChoice",
    "agent_reads",
    "agents_router",
    "on_shift",
    "rank_specialists",
]

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Literal, cast
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Path, Query

from socialcare.core.auth import Permission, Principal, require
from socialcare.core.clock import Clock, from_timestamp, utc_now
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.errors import InvalidRequestError, UnavailableError, UpstreamError
from socialcare.core.http_errors import error_responses
from socialcare.gateway.access import BrandScope
from socialcare.gateway.actions import PRESENCE_NAMES, Actions
from socialcare.gateway.cases import CaseClient, CaseServiceError, RoutingUnavailableError
from socialcare.gateway.models import (
    AgentRead,
    PresenceAccepted,
    PresenceUpdate,
    SpecialistRead,
)
from socialcare.v1 import services_pb2

Reader = Annotated[Principal, Depends(require(Permission.READ_CASES))]
Actor = Annotated[Principal, Depends(require(Permission.ACT))]
AgentId = Annotated[str, Path(min_length=1, max_length=100, description="The agent's id.")]
PresenceName = Literal["online", "away", "offline"]

_AUTH = {
    401: "No credential, or not a valid one (`unauthenticated`, `invalid_token`, "
    "`token_expired`, `token_revoked`, `invalid_api_key`); see `WWW-Authenticate`.",
    403: "The credential lacks the `read_cases` permission (`forbidden`).",
}
_ROUTING = {
    502: "Routing failed on the request (`routing_failed`).",
    503: "No routing instance runs the assigner now, or it is unreachable "
    "(`routing_unavailable`); retry after `Retry-After` seconds.",
}


def on_shift(agent: Agent, care: CareConfig, now: datetime) -> bool:
    """Whether `agent` works now: their own calendar, else their team's, else always."""
    name = agent.calendar
    if name is None and agent.team:
        team = care.team(agent.team)
        name = team.calendar if team is not None else None
    calendar = care.calendar(name) if name else None
    return calendar is None or calendar.is_open(now)


def skills_of(agent: Agent) -> dict[str, int]:
    """Every skill with its level, the spoken languages included (3 unless listed)."""
    skills = {f"language:{code}": agent.proficiency(f"language:{code}") for code in agent.languages}
    return dict(sorted((skills | agent.skills).items()))


def agent_reads(
    care: CareConfig,
    states: services_pb2.ListAgentStatesResponse,
    scope: BrandScope,
    now: datetime,
) -> list[AgentRead]:
    """The roster agents the scope sees, in roster order, each with the assigner's state
    (an agent the assigner has not seen yet: the default presence, no load, and on shift
    by their calendar)."""
    by_agent: Mapping[str, services_pb2.AgentStatus] = {s.agent: s for s in states.agents}
    default: str = care.routing.lifecycle.default_presence
    reads = []
    for agent in care.agents:
        if not scope.sees_agent(agent):
            continue
        status = by_agent.get(agent.id)
        presence: str = default
        if status is not None and status.presence in PRESENCE_NAMES:
            presence = PRESENCE_NAMES[status.presence]
        reads.append(
            AgentRead(
                id=agent.id,
                name=agent.name,
                languages=list(agent.languages),
                capacity=agent.capacity,
                channel_capacity=dict(agent.channel_capacity),
                presence=cast(PresenceName, presence),
                presence_since=(
                    from_timestamp(status.presence_since)
                    if status is not None and status.HasField("presence_since")
                    else None
                ),
                load=status.load if status is not None else 0,
                load_by_channel=dict(status.load_by_channel) if status is not None else {},
                on_shift=status.on_shift if status is not None else on_shift(agent, care, now),
                last_assigned_at=(
                    from_timestamp(status.last_assigned_at)
                    if status is not None and status.HasField("last_assigned_at")
                    else None
                ),
                skills=skills_of(agent),
                team=agent.team,
                time_zone=agent.time_zone,
                specialist=agent.specialist,
            )
        )
    return reads


@dataclass(frozen=True)
class SpecialistChoice:
    """One agent to consult, as `rank_specialists` ranks them."""

    agent: Agent
    on_shift: bool
    # Language plus product proficiency: the rank among those on shift.
    score: int
    presence: str

    @property
    def id(self) -> str:
        return self.agent.id

    @property
    def name(self) -> str:
        return self.agent.name

    @property
    def time_zone(self) -> str:
        return self.agent.time_zone


def rank_specialists(
    care: CareConfig,
    *,
    language: str | None,
    product: str | None = None,
    now: datetime,
    brand: str | None = None,
    scope: BrandScope | None = None,
    states: Mapping[str, services_pb2.AgentStatus] | None = None,
) -> list[SpecialistChoice]:
    """Who to consult (scenario 3), for the REST route and the console's picker alike:
    specialists, and agents with the `product` skill, who speak `language` (when given),
    serve `brand` (when given) and are in `scope` (when given). On shift now first (the
    assigner's view in `states` when it has the agent, else their calendar), then by
    proficiency (language plus product), then roster order. Pure."""
    default: str = care.routing.lifecycle.default_presence
    found: list[tuple[bool, int, int, SpecialistChoice]] = []
    for position, agent in enumerate(care.agents):
        if scope is not None and not scope.sees_agent(agent):
            continue
        if brand is not None and not agent.serves(brand):
            continue
        product_level = agent.proficiency(f"product:{product}") if product else 0
        if not agent.specialist and not product_level:
            continue
        language_level = agent.proficiency(f"language:{language}") if language else 0
        if language and not language_level:
            continue
        status = (states or {}).get(agent.id)
        working = status.on_shift if status is not None else on_shift(agent, care, now)
        presence = default
        if status is not None and status.presence in PRESENCE_NAMES:
            presence = PRESENCE_NAMES[status.presence]
        score = language_level + product_level
        choice = SpecialistChoice(agent, working, score, presence)
        found.append((not working, -score, position, choice))
    return [choice for *_, choice in sorted(found, key=lambda item: item[:3])]


def specialist_read(choice: SpecialistChoice, now: datetime) -> SpecialistRead:
    agent = choice.agent
    return SpecialistRead(
        id=agent.id,
        name=agent.name,
        specialist=agent.specialist,
        proficiency=choice.score,
        skills=skills_of(agent),
        on_shift=choice.on_shift,
        presence=cast(PresenceName, choice.presence),
        local_time=now.astimezone(ZoneInfo(agent.time_zone)),
        time_zone=agent.time_zone,
        team=agent.team,
    )


def agent_states(cases: CaseClient) -> services_pb2.ListAgentStatesResponse:
    """The assigner's view, or 503 `routing_unavailable` / 502 `routing_failed`."""
    try:
        return cases.list_agent_states()
    except RoutingUnavailableError as exc:
        raise UnavailableError(f"routing unavailable: {exc}", code="routing_unavailable") from exc
    except CaseServiceError as exc:
        raise UpstreamError(f"routing failed: {exc}", code="routing_failed") from exc


def agents_router(
    *, care: CareConfig, cases: CaseClient, actions: Actions, clock: Clock = utc_now
) -> APIRouter:
    """`/v1/agents`, presence and `/v1/specialists` over these backends."""
    api = APIRouter(prefix="/v1")

    @api.get(
        "/agents",
        tags=["organisation"],
        summary="The agents of the caller's brands, with presence, load and shift",
        response_model=list[AgentRead],
        responses=error_responses(401, 403, 502, 503, descriptions={**_AUTH, **_ROUTING}),
    )
    def list_agents(principal: Reader) -> list[AgentRead]:
        """Live: presence, load and shift as routing's assigner has them now."""
        return agent_reads(care, agent_states(cases), BrandScope.of(care, principal), clock())

    @api.put(
        "/agents/{agent_id}/presence",
        tags=["organisation"],
        summary="Set an agent's presence: online, away or offline",
        status_code=HTTPStatus.ACCEPTED,
        response_model=PresenceAccepted,
        responses=error_responses(
            400,
            401,
            403,
            404,
            415,
            422,
            503,
            descriptions={
                401: _AUTH[401],
                403: "The credential lacks `act`, or sets another agent's presence without "
                "`reassign` (`forbidden`, `field`: `agent`).",
                404: "No such agent among the caller's brands (`not_found`).",
                422: "Invalid body: `field` names it (`invalid_request`).",
                503: "The event bus is unavailable (`bus_unavailable`); retry after "
                "`Retry-After` seconds.",
            },
        ),
    )
    def set_presence(
        agent_id: AgentId,
        body: PresenceUpdate,
        principal: Actor,
        idempotency_key: Annotated[
            str | None,
            Header(
                max_length=200,
                description="Optional. Requests with the same key, agent and presence are "
                "one change.",
            ),
        ] = None,
    ) -> PresenceAccepted:
        """Away keeps the agent's cases and gets them no new ones; offline hands their
        open cases to others after the grace period (routing.lifecycle.offline_grace)."""
        done = actions.set_presence(
            principal, agent_id, body.presence, idempotency_key=idempotency_key
        )
        return PresenceAccepted(
            agent=done.agent,
            presence=cast(PresenceName, done.presence),
            request_id=done.request_id,
            requested_at=done.requested_at,
        )

    @api.get(
        "/specialists",
        tags=["organisation"],
        summary="Who to consult on a language and product, on shift now first",
        response_model=list[SpecialistRead],
        responses=error_responses(
            401,
            403,
            422,
            descriptions={**_AUTH, 422: "A parameter is invalid (`invalid_request`)."},
        ),
    )
    def list_specialists(
        principal: Reader,
        language: Annotated[
            str | None,
            Query(min_length=2, max_length=3, pattern=r"^[a-z]{2,3}$", examples=["es"]),
        ] = None,
        product: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    ) -> list[SpecialistRead]:
        """Specialists and agents with the product skill, of the caller's brands; each with
        their time zone and local time."""
        if product is not None and not product.strip():
            raise InvalidRequestError("must not be blank", field="product")
        now = clock()
        try:
            states = {s.agent: s for s in cases.list_agent_states().agents}
        except CaseServiceError:
            # Without the assigner the calendars still say who works now; presence is
            # then the configured default.
            states = {}
        choices = rank_specialists(
            care,
            language=language,
            product=product.strip() if product else None,
            now=now,
            scope=BrandScope.of(care, principal),
            states=states,
        )
        return [specialist_read(choice, now) for choice in choices]

    return api
