"""The agent console and the command-center wall, served by the gateway (ADR 0007).

Server-rendered pages (Jinja2, autoescaped) made live with htmx 2.0.11 and one small
script, every asset served from `/console/static/` by this router: no CDN, nothing
fetched from the internet at run time.

Pages: `/` (inbox), `/cases/{id}` (a case and its composer), `/wall` (operations),
`/login`. Fragments under `/console/fragments/` re-render a part of a page when the stream
says something changed. `GET /v1/stream/cases` is that stream: server-sent events from
`care.cases`, each sent only to principals who may see the case (their brands, and for
agents their own cases, their queues in their languages and their consultations).

Actions: the composer and buttons post JSON to the REST API (`/v1/cases/{id}/replies`
(with the questions it answers), `claim`, `transfer`, `consultations` and
`consultations/{id}/answer`, `await-customer`, `resolve` (a proposal the customer
confirms), `reopen`, `merge`, `identities`, `referrals`, `notes`, `escalations`; the
header's presence `PUT /v1/agents/{id}/presence`) with the session cookie and the CSRF
header, so the console can do exactly what the API allows and no more: one code path
(`gateway.actions`) judges and builds every command. The consult picker ranks with
`gateway.agents.rank_specialists`, the order `GET /v1/specialists` gives; presence (the
header, the wall) is routing's assigner view, read as `GET /v1/agents` reads it. Two
exceptions, both on an escalation the page shows on its case: acknowledging and resolving
post to `/console/cases/{case_id}/escalations/{id}/acknowledge|resolve`. The REST routes
find an escalation's case through the search index, which may not know an escalation
raised a moment ago while the case page already shows it; these routes know the case, read
it from routing, and judge and build the request as the REST routes do (the permission
rule of `gateway.access`, `core.domain.case_rules`'s checks, `gateway.commands`' builders,
so a click and a REST retry are the same command) before publishing it on care.commands.

Reads: the inbox, the stream and the wall from the in-memory `CaseBoard` (fed by
`care.cases`, so a page rendered after an event includes it); one case, with its SLA clocks
and escalations, identities, questions, priority explanation, resolution check, survey,
consultations and referrals, from routing's CaseService (authoritative, as the API does);
previous cases, and the wall's escalations, from search; agents' presence from routing's
ListAgentStates (reused for STATES_TTL_S).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from pydantic import BaseModel, Field

from socialcare.console import access, i18n, questions, views
from socialcare.console.access import Permission, Principal
from socialcare.console.board import BoardEvent, CaseBoard, CaseFollower, CaseSummary, summarize
from socialcare.core.bus import Producer
from socialcare.core.clock import Clock, from_timestamp, utc_now
from socialcare.core.domain import case_rules
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import CHANNEL_NAMES, KIND_NAMES, SENTIMENT_NAMES
from socialcare.core.domain.deliveries import STATUS_NAMES as DELIVERY_STATUS_NAMES
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.errors import (
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
    UnavailableError,
)
from socialcare.core.http_errors import error_responses
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.core.search import SearchError, SearchIndex, SearchQuery
from socialcare.core.search.indices import CASES, ESCALATIONS
from socialcare.gateway import commands
from socialcare.gateway.access import BrandScope, escalation_handler, escalation_handling_allowed
from socialcare.gateway.agents import agent_reads, rank_specialists
from socialcare.gateway.api import read_case, rejection_error
from socialcare.gateway.cases import CaseClient, CaseServiceError, RoutingUnavailableError
from socialcare.gateway.models import AgentRead
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2, services_pb2

log = logging.getLogger(__name__)

STATIC_PREFIX = "/console/static"
KEEPALIVE_S = 15.0
SSE_RETRY_MS = 3000
# How long a fragment asked for `after` an action waits for routing to apply it.
AFTER_ACTION_WAIT_S = 3.0
# `source` of the commands the console publishes (the REST routes' are "gateway").
COMMAND_SOURCE = "console"
# How long the console reuses routing's agent states (presence in the header and the wall).
STATES_TTL_S = 2.0
# Served by `console.docs` (on every process, with or without the console), not here.
_NOT_CONSOLE_ASSETS = ("vendor/swagger/",)
# Pages are per user and live: never cached. Scripts only from here, no inline script,
# no eval (htmx runs with allowEval off), forms post only here, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


def _package_dir(name: str) -> Path:
    return Path(str(resources.files("socialcare.console").joinpath(name)))


class StaticAssets:
    """The console's files, each served under a URL carrying its content hash, so a
    browser may cache it for a year and still gets a new version at once."""

    def __init__(self, root: Path, exclude: tuple[str, ...] = _NOT_CONSOLE_ASSETS) -> None:
        self.root = root
        self.files: dict[str, Path] = {}
        self.versions: dict[str, str] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in _STATIC_TYPES:
                name = path.relative_to(root).as_posix()
                if name.startswith(exclude):
                    continue
                self.files[name] = path
                self.versions[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]

    def url(self, name: str) -> str:
        return f"{STATIC_PREFIX}/{name}?v={self.versions[name]}"


class EscalationNote(BaseModel):
    """What was done about an escalation, kept on it when it is resolved."""

    note: str | None = Field(default=None, max_length=case_rules.NOTE_MAX_CHARS)


@dataclass(frozen=True)
class PageContext:
    principal: Principal
    language: str


def console_parts(
    runtime: Runtime, *, cases: CaseClient, board: CaseBoard | None = None
) -> ServiceParts:
    """The console on this runtime: its router and the follower that keeps its board.

    `gateway.main.parts` adds these beside its own routes and components. `board`: the
    gateway's, shared with its gRPC WatchCases (default: a new one)."""
    board = board if board is not None else CaseBoard(runtime.care)
    follower = CaseFollower(runtime.bus, board)
    router = console_router(
        care=runtime.care,
        board=board,
        cases=cases,
        search=runtime.search,
        producer=runtime.producer,
    )
    return ServiceParts(components=[follower], routers=[router])


def console_router(
    *,
    care: CareConfig,
    board: CaseBoard,
    cases: CaseClient,
    search: SearchIndex,
    producer: Producer | None = None,
    sso_enabled: bool | None = None,
    clock: Clock = utc_now,
) -> APIRouter:
    """The console's pages, fragments, stream, escalation actions and static files.

    Who is calling is always `core.auth`'s `current_principal` (through `console.access`):
    a session cookie (the browser), a bearer token or an API key, checked by the app's
    authenticator (`build_app(..., authenticator)`; without one every page answers 500).
    `sso_enabled` shows "Sign in with SSO" on the sign-in page; by default when
    `SOCIALCARE_OIDC_ISSUER` and `SOCIALCARE_OIDC_CLIENT_ID` are set. `producer` publishes
    the escalation actions' commands (without one they answer 503).
    """
    router = APIRouter()
    assets = StaticAssets(_package_dir("static"))
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_package_dir("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(
        static=assets.url,
        channel_name=lambda value: CHANNEL_NAMES.get(value, "unspecified"),
        agent_name=lambda agent_id: views.agent_name(care, str(agent_id or "")),
    )
    environment.filters.update(
        hhmm=_hhmm, iso=_iso, duration=_duration, percent=_percent, thousands=_thousands
    )
    if sso_enabled is None:
        sso_enabled = bool(
            os.environ.get("SOCIALCARE_OIDC_ISSUER") and os.environ.get("SOCIALCARE_OIDC_CLIENT_ID")
        )

    def language_of(request: Request, principal: Principal | None) -> str:
        chosen = request.cookies.get(i18n.LANGUAGE_COOKIE)
        if chosen not in i18n.CATALOGS and principal is not None:
            chosen = principal.language  # the user's setting, when they made one
        return i18n.choose_language(chosen, request.headers.get("accept-language"))

    def render(
        request: Request,
        template: str,
        *,
        principal: Principal | None,
        status_code: int = 200,
        **values: Any,
    ) -> HTMLResponse:
        language = language_of(request, principal)
        strings = i18n.catalog(language)
        presence_agent = (
            principal.agent_id
            if principal is not None
            and principal.agent_id in care.agents_by_id
            and principal.can(Permission.ACT)
            else None
        )
        html = environment.get_template(template).render(
            t=strings,
            lang=language,
            languages=i18n.LANGUAGES,
            principal=principal,
            csrf=access.csrf_token(request),
            path=request.url.path,
            script_strings={k: strings[k] for k in i18n.SCRIPT_KEYS},
            can_see_wall=principal is not None and principal.can(Permission.READ_OPERATIONS),
            presence_agent=presence_agent,
            presences=views.PRESENCES,
            # Fragments (`_*.html`) have no header: no need to ask routing.
            my_presence=my_presence(presence_agent)
            if presence_agent and not template.startswith("_")
            else None,
            **values,
        )
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

    states_cache: dict[str, tuple[float, services_pb2.ListAgentStatesResponse | None]] = {}

    def agent_states_now() -> services_pb2.ListAgentStatesResponse | None:
        """Routing's assigner view of every agent (presence, on shift, load), or None when
        routing cannot say; asked at most once per STATES_TTL_S (every page shows the
        agent's presence)."""
        cached = states_cache.get("all")
        moment = time.monotonic()
        if cached is not None and moment - cached[0] < STATES_TTL_S:
            return cached[1]
        states: services_pb2.ListAgentStatesResponse | None
        try:
            states = cases.list_agent_states()
        except CaseServiceError as exc:
            log.warning("console: agent states unavailable", extra={"error": str(exc)})
            states = None
        states_cache["all"] = (moment, states)
        return states

    def agents_now(scope: BrandScope) -> list[AgentRead] | None:
        """The roster agents `scope` sees with their state, as `GET /v1/agents` has them."""
        states = agent_states_now()
        return agent_reads(care, states, scope, clock()) if states is not None else None

    def specialist_states() -> dict[str, services_pb2.AgentStatus] | None:
        states = agent_states_now()
        return {s.agent: s for s in states.agents} if states is not None else None

    def my_presence(agent_id: str) -> str | None:
        agents = agents_now(BrandScope(care, None))
        return views.presence_of(agents, agent_id) if agents is not None else None

    def signed_in(request: Request) -> Principal | None:
        try:
            return access.current_principal(request)
        except UnauthenticatedError:
            return None

    def to_login(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    def fragment_login(request: Request) -> Response:
        """A fragment asked for without a session: htmx follows HX-Redirect."""
        return Response(status_code=401, headers={"HX-Redirect": "/login", **SECURITY_HEADERS})

    def forbidden(request: Request, principal: Principal) -> HTMLResponse:
        return render(
            request, "error.html", principal=principal, status_code=403, key="forbidden", detail=""
        )

    def allowed(
        request: Request, permission: Permission, *, fragment: bool = False
    ) -> Principal | Response:
        """The signed-in principal if it holds `permission`; else what to answer instead:
        the login page (for a fragment, htmx's redirect to it), or 403."""
        principal = signed_in(request)
        if principal is None:
            return fragment_login(request) if fragment else to_login(request)
        if not principal.can(permission):
            return forbidden(request, principal)
        return principal

    def accepts_for(principal: Principal) -> Callable[[CaseSummary], bool]:
        return lambda case: views.visible(care, principal, case)

    # -- pages -------------------------------------------------------------------------

    @router.get("/", include_in_schema=False, response_model=None)
    def inbox_page(request: Request) -> Response:
        principal = allowed(request, Permission.READ_CASES)
        if isinstance(principal, Response):
            return principal
        return render(request, "inbox.html", principal=principal, **inbox_values(principal))

    @router.get("/console/fragments/inbox", include_in_schema=False, response_model=None)
    def inbox_fragment(request: Request) -> Response:
        principal = allowed(request, Permission.READ_CASES, fragment=True)
        if isinstance(principal, Response):
            return principal
        return render(request, "_inbox_lists.html", principal=principal, **inbox_values(principal))

    def inbox_values(principal: Principal) -> dict[str, Any]:
        agent = views.roster_agent(care, principal)
        return {
            "agent": agent,
            "inbox": views.inbox(care, principal, board.cases()),
            "may_claim": agent is not None and principal.can(Permission.ACT),
            "board_ready": board.ready,
            "now": clock(),
        }

    @router.get("/cases/{case_id}", include_in_schema=False, response_model=None)
    def case_page(
        request: Request, case_id: str = PathParam(min_length=1, max_length=200)
    ) -> Response:
        principal = signed_in(request)
        if principal is None:
            return to_login(request)
        found = load_case(request, principal, case_id)
        if isinstance(found, Response):
            return found
        return render(request, "case.html", principal=principal, **case_values(principal, found))

    @router.get("/console/fragments/cases/{case_id}", include_in_schema=False, response_model=None)
    def case_fragment(
        request: Request,
        case_id: str = PathParam(min_length=1, max_length=200),
        after: int | None = Query(default=None, ge=0),
    ) -> Response:
        """The case's conversation and details. `after`: the version the page showed when
        the agent acted; the answer waits (up to AFTER_ACTION_WAIT_S) until routing has
        applied a change past it, so the page shows the action's outcome at once."""
        principal = signed_in(request)
        if principal is None:
            return fragment_login(request)
        if after is not None and principal.can(Permission.READ_CASES):
            board.wait_for_version(case_id, after, AFTER_ACTION_WAIT_S)
        found = load_case(request, principal, case_id)
        if isinstance(found, Response):
            return found
        return render(
            request, "_case_body.html", principal=principal, **case_values(principal, found)
        )

    @router.get(
        "/console/fragments/cases/{case_id}/actions", include_in_schema=False, response_model=None
    )
    def case_actions_fragment(
        request: Request, case_id: str = PathParam(min_length=1, max_length=200)
    ) -> Response:
        """Claim, resolve, transfer and note: re-rendered when the owner or status changes
        (the reply form beside them keeps what the agent is typing)."""
        principal = signed_in(request)
        if principal is None:
            return fragment_login(request)
        found = load_case(request, principal, case_id)
        if isinstance(found, Response):
            return found
        values = case_values(principal, found)
        if not values["may_act"]:
            return HTMLResponse("", headers=SECURITY_HEADERS)
        return render(request, "_case_actions.html", principal=principal, **values)

    @router.get(
        "/console/fragments/cases/{case_id}/composer", include_in_schema=False, response_model=None
    )
    def case_composer_fragment(
        request: Request, case_id: str = PathParam(min_length=1, max_length=200)
    ) -> Response:
        """The whole composer (reply form and actions): re-rendered when the case opens or
        resolves, or free text gives way to WhatsApp templates."""
        principal = signed_in(request)
        if principal is None:
            return fragment_login(request)
        found = load_case(request, principal, case_id)
        if isinstance(found, Response):
            return found
        return render(
            request, "_composer.html", principal=principal, **case_values(principal, found)
        )

    @router.get(
        "/console/fragments/cases/{case_id}/answers", include_in_schema=False, response_model=None
    )
    def case_answers_fragment(
        request: Request, case_id: str = PathParam(min_length=1, max_length=200)
    ) -> Response:
        """The questions a reply can tick: re-rendered inside the reply form when a
        question is asked or answered (the text the agent is typing stays)."""
        principal = signed_in(request)
        if principal is None:
            return fragment_login(request)
        found = load_case(request, principal, case_id)
        if isinstance(found, Response):
            return found
        values = case_values(principal, found)
        if not values["may_act"]:
            return HTMLResponse("", headers=SECURITY_HEADERS)
        return render(request, "_reply_answers.html", principal=principal, **values)

    def load_case(request: Request, principal: Principal, case_id: str) -> case_pb2.Case | Response:
        """The case from routing if the principal may see it; else the error page (a case
        of another brand is 'not found': its existence is not theirs to know)."""
        if not principal.can(Permission.READ_CASES):
            return forbidden(request, principal)
        try:
            case = cases.get_case(case_id)
        except RoutingUnavailableError as exc:
            log.warning(
                "console: routing unavailable", extra={"case_id": case_id, "error": str(exc)}
            )
            return render(
                request,
                "error.html",
                principal=principal,
                status_code=503,
                key="case_unavailable",
                detail="routing_unavailable",
                case_id=case_id,
            )
        except CaseServiceError as exc:
            log.warning("console: routing failed", extra={"case_id": case_id, "error": str(exc)})
            return render(
                request,
                "error.html",
                principal=principal,
                status_code=502,
                key="case_unavailable",
                detail="routing_failed",
                case_id=case_id,
            )
        if case is None or not views.visible(care, principal, summarize(case, care)):
            return render(
                request,
                "error.html",
                principal=principal,
                status_code=404,
                key="case_not_found",
                detail="",
                case_id=case_id,
            )
        return case

    def case_values(principal: Principal, case: case_pb2.Case) -> dict[str, Any]:
        summary = summarize(case, care)
        now = clock()
        agent = views.roster_agent(care, principal)
        # The agents who may act on this case: the signed-in agent, or for an admin every
        # agent of the case's brand (routing refuses another brand's agent).
        serving = views.brand_agents(care, summary.brand)
        if not principal.can(Permission.ACT):
            actors = []
        elif agent is not None:
            actors = [agent]
        elif principal.can(Permission.MANAGE):
            actors = serving
        else:
            actors = []
        may_act = bool(actors)
        acting = actors[0] if actors else None
        needs_template = views.needs_template(
            summary.channel, case_rules.customer_last_message_at(case), now
        )
        if not summary.open:
            composer_state = "resolved"
        elif not may_act:
            composer_state = "read_only"
        else:
            composer_state = "template" if needs_template else "text"
        limits = {
            a.id: views.composer_limits(care, summary.brand, summary.channel, a.name)
            for a in actors
        }
        canned = (
            views.canned_options(
                care,
                brand=summary.brand,
                language=summary.language,
                channel=summary.channel,
                customer_name=summary.customer_name or summary.customer_handle,
                agent_name=acting.name,
            )
            if acting is not None
            else []
        )
        questions = views.case_questions(care, case)
        resolution = views.case_resolution(case)
        limits_acting = limits[acting.id] if acting is not None else None
        return {
            "case": case,
            "summary": summary,
            "messages": [message_view(m) for m in case.messages],
            "identities": views.case_identities(case),
            "questions": questions,
            # Which questions there are and which are answered: the reply's ticks follow it.
            "questions_key": ",".join(
                f"{q.name}:{'1' if q.answered else '0'}" for q in questions if q.must_answer
            ),
            "open_questions": views.open_questions(questions),
            "priority_why": views.case_priority(case),
            "resolution": resolution,
            "survey": views.case_survey(case),
            "consultations": views.case_consultations(case, principal, agent),
            "referrals": views.case_referrals(case),
            "lifecycle": views.case_lifecycle(case),
            "can": views.case_actions(
                principal,
                agent,
                summary.status,
                summary.assignee,
                may_act=may_act,
                confirmation_pending=resolution is not None and resolution.outcome == "pending",
            ),
            "canned_measured": views.measure_canned(canned, limits_acting)
            if limits_acting is not None
            else [],
            "linkable_kinds": views.LINKABLE_KINDS,
            "confirm_resolution": care.routing.lifecycle.confirm_resolution,
            "agent": agent,
            "acting": acting,
            "actors": actors,
            "limits": limits,
            "may_act": may_act and summary.open,
            "may_transfer": may_act
            and summary.open
            and (
                principal.can(Permission.REASSIGN)
                or (agent is not None and summary.assignee == agent.id)
            ),
            "canned": canned,
            "targets": views.transfer_targets(
                care, summary.brand, summary.language, summary.assignee
            ),
            "specialists": views.specialist_choices(
                rank_specialists(
                    care,
                    language=summary.language or None,
                    product=case.product or None,
                    now=now,
                    scope=BrandScope.of(care, principal),
                    states=specialist_states(),
                ),
                exclude=acting.id if acting is not None else "",
                now=now,
            ),
            "case_product": case.product,
            "composer_state": composer_state,
            "templates": views.template_options(care, summary.brand, summary.language),
            "previous": previous_cases(principal, summary),
            "clocks": views.case_clocks(case),
            "escalations": views.case_escalations(care, principal, case),
            "may_escalate": may_act
            and summary.open
            and views.may_escalate(principal, agent, summary.assignee),
            "escalation_tiers": views.escalation_tiers(care),
            "agents_by_id": care.agents_by_id,
            "now": now,
        }

    def previous_cases(principal: Principal, summary: CaseSummary) -> list[dict[str, Any]]:
        """Other cases of this customer on this channel that the principal may see: from
        the board, and older ones from search (found by handle, kept by author id)."""
        found: dict[str, dict[str, Any]] = {}
        for other in board.cases(
            lambda c: c.customer_id == summary.customer_id and c.channel == summary.channel
        ):
            if other.id != summary.id and views.visible(care, principal, other):
                found[other.id] = {
                    "id": other.id,
                    "status": other.status,
                    "opened_at": other.opened_at,
                }
        if summary.customer_id:
            # By id: the brand's PII policy may blank a handle that is an e-mail or a number
            # in the index ("[email]"), and a handle can pass to another account.
            query = SearchQuery(
                filters={"customer_id": summary.customer_id, "channel": summary.channel},
                sort=[("opened_at", "desc")],
                limit=20,
            )
            try:
                hits = search.search(CASES, query).hits
            except SearchError as exc:
                log.warning("console: previous cases unavailable", extra={"error": str(exc)})
                hits = []
            for hit in hits:
                doc = hit.document
                brand = care.brand(str(doc.get("brand") or "")).name
                customer = doc.get("customer")
                if not isinstance(customer, dict) or customer.get("id") != summary.customer_id:
                    continue  # a handle can pass to another account; the id cannot
                if (
                    doc.get("id") == summary.id
                    or doc.get("id") in found
                    or not principal.sees_brand(brand)
                ):
                    continue
                opened = _parse_time(doc.get("opened_at"))
                found[str(doc["id"])] = {
                    "id": str(doc["id"]),
                    "status": str(doc.get("status", "")),
                    "opened_at": opened,
                }
        return sorted(found.values(), key=lambda c: c["opened_at"] or datetime.min, reverse=True)[
            :20
        ]

    @router.get("/wall", include_in_schema=False, response_model=None)
    def wall_page(request: Request) -> Response:
        principal = allowed(request, Permission.READ_OPERATIONS)
        if isinstance(principal, Response):
            return principal
        return render(request, "wall.html", principal=principal, **wall_values(principal))

    @router.get("/reports/questions", include_in_schema=False, response_model=None)
    def questions_page(request: Request) -> Response:
        """The least-asked questions (`console.questions`); its form's fields are the query."""
        principal = allowed(request, Permission.READ_OPERATIONS)
        if isinstance(principal, Response):
            return principal
        values = questions.question_page_values(
            care, search, principal, request.query_params, clock()
        )
        status = int(values.pop("status_code"))
        return render(request, "questions.html", principal=principal, status_code=status, **values)

    @router.get("/console/fragments/wall", include_in_schema=False, response_model=None)
    def wall_fragment(request: Request) -> Response:
        principal = allowed(request, Permission.READ_OPERATIONS, fragment=True)
        if isinstance(principal, Response):
            return principal
        return render(request, "_wall_body.html", principal=principal, **wall_values(principal))

    def wall_values(principal: Principal) -> dict[str, Any]:
        now = clock()
        mine = board.cases(lambda c: principal.sees_brand(c.brand))
        figures = views.wall(care, mine, board.agents_present(), now, brands=principal.brands)
        agents = agents_now(BrandScope.of(care, principal))
        return {
            "wall": figures,
            "team_states": views.presence_by_team(agents) if agents is not None else None,
            "escalations": open_escalations(principal),
            "board_ready": board.ready,
            "now": now,
        }

    def open_escalations(principal: Principal) -> list[dict[str, Any]]:
        """The newest escalations whose case is open and of the principal's brands (an
        escalation whose case this process does not know is left out, not guessed)."""
        try:
            hits = search.search(
                ESCALATIONS, SearchQuery(sort=[("raised_at", "desc")], limit=200)
            ).hits
        except SearchError as exc:
            log.warning("console: escalations unavailable", extra={"error": str(exc)})
            return []
        shown = []
        for hit in hits:
            case = board.get(str(hit.document.get("case_id", "")))
            if case is None or not case.open or not principal.sees_brand(case.brand):
                continue
            shown.append(dict(hit.document, raised=_parse_time(hit.document.get("raised_at"))))
        return shown[:25]

    # -- escalation actions --------------------------------------------------------------

    @router.post(
        "/console/cases/{case_id}/escalations/{escalation_id}/acknowledge",
        include_in_schema=False,
        status_code=202,
    )
    def acknowledge_escalation(
        request: Request,
        case_id: str = PathParam(min_length=1, max_length=200),
        escalation_id: str = PathParam(min_length=1, max_length=200),
    ) -> JSONResponse:
        """Take an escalation shown on its case: as `POST /v1/escalations/{id}/acknowledge`,
        with the same command id for the same escalation revision."""
        principal, case, escalation = escalation_on(request, case_id, escalation_id)
        judged(lambda: case_rules.check_acknowledge(escalation))
        command = commands.acknowledge_escalation(
            case.id, escalation, escalation_handler(principal), now=clock()
        )
        return issue(command, principal)

    @router.post(
        "/console/cases/{case_id}/escalations/{escalation_id}/resolve",
        include_in_schema=False,
        status_code=202,
    )
    def resolve_escalation(
        request: Request,
        case_id: str = PathParam(min_length=1, max_length=200),
        escalation_id: str = PathParam(min_length=1, max_length=200),
        body: EscalationNote | None = None,
    ) -> JSONResponse:
        """Close an escalation shown on its case, with an optional note: as `POST
        /v1/escalations/{id}/resolve`."""
        principal, case, escalation = escalation_on(request, case_id, escalation_id)
        note = body.note if body else None
        command = commands.resolve_escalation(
            case.id, escalation, escalation_handler(principal), note, now=clock()
        )
        judged(lambda: case_rules.check_resolve_escalation(escalation, command.resolve_escalation))
        return issue(command, principal)

    def escalation_on(
        request: Request, case_id: str, escalation_id: str
    ) -> tuple[Principal, case_pb2.Case, escalation_pb2.Escalation]:
        """Who asks, the case from routing and the escalation as the case shows it; the
        errors the REST routes give (401, 403, 404 for a case or escalation not theirs to
        see, 502/503 when routing fails)."""
        principal = access.current_principal(request)  # checks the CSRF header too
        if not principal.can(Permission.READ_CASES):
            raise ForbiddenError("reading cases is not among your permissions")
        case = read_case(cases, case_id, BrandScope.of(care, principal))
        if not views.visible(care, principal, summarize(case, care)):
            raise NotFoundError(f"case {case_id} not found")  # not theirs to know of
        escalation = case_rules.escalation_on_case(case, escalation_id)
        if escalation is None:
            raise NotFoundError(f"escalation {escalation_id} not found on case {case_id}")
        escalation_handling_allowed(principal, escalation)
        return principal, case, escalation

    def judged(check: Callable[[], None]) -> None:
        try:
            check()
        except case_rules.CommandRejectedError as exc:
            raise rejection_error(exc) from exc

    def issue(command: commands_pb2.AgentCommand, principal: Principal) -> JSONResponse:
        if producer is None:
            raise UnavailableError("this console cannot publish commands", code="no_producer")
        command.issued_by = principal.id
        publish_effects(producer, [Emit(Topic.COMMANDS, command)], source=COMMAND_SOURCE)
        producer.flush()  # 202 promises the command is durable
        log.info(
            "console: escalation command accepted",
            extra={
                "command_id": command.command_id,
                "case_id": command.case_id,
                "action": command.WhichOneof("action"),
                "issued_by": principal.id,
            },
        )
        return JSONResponse(
            {"command_id": command.command_id, "case_id": command.case_id},
            status_code=202,
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/login", include_in_schema=False, response_model=None)
    def login_page(request: Request, next: str = "/", error: str | None = None) -> Response:
        target = _local_path(next)
        if signed_in(request) is not None:
            return RedirectResponse(target, status_code=303)
        return render(
            request,
            "login.html",
            principal=None,
            next=target,
            failed=error is not None,
            sso=sso_enabled,
        )

    @router.post("/console/language", include_in_schema=False, response_model=None)
    def set_language(
        lang: str = Form(max_length=5), next: str = Form("/", max_length=2000)
    ) -> Response:
        response = RedirectResponse(_local_path(next), status_code=303)
        if lang in i18n.CATALOGS:
            response.set_cookie(
                i18n.LANGUAGE_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", httponly=True
            )
        return response

    # -- the stream --------------------------------------------------------------------

    @router.get(
        "/v1/stream/cases",
        tags=["cases"],
        summary="Live case changes (server-sent events) for the caller's brands and queues",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {}}},
            **error_responses(401, 403),
        },
    )
    async def stream_cases(request: Request) -> StreamingResponse:
        """One event per change of a case the caller may see, as `data: {"type", "case"}`
        (`type`: opened, message_added, assigned, replied, ..., or `resync` when the
        caller fell behind and should reload); a comment every 15 s keeps it open."""
        principal = access.current_principal(request)
        if not principal.can(Permission.READ_CASES):
            raise ForbiddenError("reading cases is not among your permissions")
        subscription = board.subscribe(accepts_for(principal), agent_id=principal.agent_id)

        async def events() -> AsyncIterator[str]:
            try:
                yield f"retry: {SSE_RETRY_MS}\n: connected\n\n"
                yield _sse({"type": "ready", "board_ready": board.ready})
                while True:
                    try:
                        event = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield ": keep-alive\n\n"
                        continue
                    if event.type == "resync":
                        subscription.resume()
                    yield _sse(_event_json(event))
            finally:
                board.unsubscribe(subscription)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # -- static files ------------------------------------------------------------------

    @router.get(STATIC_PREFIX + "/{name:path}", include_in_schema=False, response_model=None)
    def static_file(name: str) -> Response:
        path = assets.files.get(name)
        if path is None:
            return Response(status_code=404)
        return FileResponse(
            path,
            media_type=_STATIC_TYPES[path.suffix],
            headers={
                "Cache-Control": "public, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return router


def message_view(message: case_pb2.CaseMessage) -> dict[str, Any]:
    """One message of the conversation as the case page shows it."""
    direction = {
        case_pb2.DIRECTION_INBOUND: "inbound",
        case_pb2.DIRECTION_OUTBOUND: "outbound",
        case_pb2.DIRECTION_INTERNAL: "internal",
    }.get(message.direction, "outbound")
    return {
        "id": message.message_id,
        "direction": direction,
        "author": message.author,
        "text": message.text,
        "created_at": from_timestamp(message.created_at)
        if message.HasField("created_at")
        else None,
        "language": message.language,
        "kind": KIND_NAMES.get(message.kind, ""),
        "sentiment_label": SENTIMENT_NAMES.get(message.sentiment.label, "neutral"),
        "sentiment_score": message.sentiment.score,
        "delivery": DELIVERY_STATUS_NAMES.get(message.delivery.status, "pending")
        if direction == "outbound"
        else None,
        "delivery_reason": message.delivery.reason,
        "attachments": [a.type or "file" for a in message.attachments],
    }


def _event_json(event: BoardEvent) -> dict[str, object]:
    data: dict[str, object] = {
        "type": event.type,
        "case": event.case.as_json() if event.case else None,
    }
    if event.rejection is not None:
        data["rejection"] = event.rejection
    return data


def _sse(data: Mapping[str, object]) -> str:
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n"


def _local_path(target: str) -> str:
    """`target` if it is a path on this site, else `/` (no open redirect)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _hhmm(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _duration(seconds: float | None) -> str:
    """A span for people: 45 s, 12 min, 1.5 h, 2 d."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 90:
        return f"{whole} s"
    if whole < 3600:
        return f"{round(whole / 60)} min"
    if whole < 172800:
        return f"{whole / 3600:.1f}".removesuffix(".0") + " h"
    return f"{whole / 86400:.1f}".removesuffix(".0") + " d"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def _thousands(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")


__all__ = ["console_parts", "console_router"]
