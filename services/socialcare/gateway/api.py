"""The REST API for agents, supervisors and integrators (`/v1/...`).

Where each answer comes from, and why:
* one case (`GET /v1/cases/{id}`) from routing's CaseService: the agent about to answer
  must see the current state, not the search projection, which lags by the indexer;
* lists and full-text search from the `SearchIndex` projection: routing keeps no indices
  and should not serve ad-hoc queries;
* agent actions become `AgentCommand`s on `care.commands` (key: case id, so they apply in
  order per case); 202 means "durably queued", and routing answers with a case event.

Handlers are sync (FastAPI runs them in its threadpool) because the gRPC client, the
producer and the search backends are blocking and thread-safe.

Errors name their cause: 422 names the field, 404/409 the case, 503 the backend that is
down (`event bus unavailable: ...`, `search unavailable: ...`, `routing unavailable: ...`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Header, HTTPException, Path, Query
from fastapi.types import DecoratedCallable
from pydantic import StringConstraints

from socialcare.core.bus import BusError, Producer
from socialcare.core.clock import Clock, utc_now
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.domain.cases import case_json
from socialcare.core.domain.topics import Topic
from socialcare.core.events import publish
from socialcare.core.search import (
    SearchError,
    SearchIndex,
    SearchQuery,
    SearchResult,
    UnknownIndexError,
)
from socialcare.core.search.indices import CASES, ESCALATIONS, MESSAGES
from socialcare.gateway import commands
from socialcare.gateway.cases import CaseClient, CaseServiceError, RoutingUnavailableError
from socialcare.gateway.models import (
    AgentRead,
    AssignCreate,
    CaseList,
    CommandAccepted,
    EscalationList,
    QueueRead,
    ReplyCreate,
    ResolveCreate,
    SearchHitRead,
    SearchResults,
)
from socialcare.v1 import case_pb2, commands_pb2

log = logging.getLogger(__name__)

SOURCE = "gateway"

# The names of core.cases.STATUSES, spelled out so OpenAPI lists them (a test keeps the
# two in step).
CaseStatusName = Literal["open", "assigned", "waiting_on_customer", "resolved"]

# The keys of the public case JSON without messages. Case documents in the index carry
# extra flat fields for filtering and full text (`text` holds every message); list
# responses drop them so that a listed case looks like a case, not like an index entry.
CASE_SUMMARY_FIELDS = frozenset(case_json(case_pb2.Case(), with_messages=False))

CaseId = Annotated[str, Path(min_length=1, max_length=200, description="The case id.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=200,
        description="Optional. Requests with the same key on the same case and action "
        "produce one command, so a retry after a timeout cannot reply twice.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=10_000)]
Filter = Annotated[str | None, Query(min_length=1, max_length=100)]
SearchText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    Query(description="Full text, matched against every text field of the index."),
]

_CASE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No case with this id."},
    502: {"description": "Routing failed on the request."},
    503: {"description": "Routing (or, for actions, the event bus) is unavailable."},
}
_ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **_CASE_ERRORS,
    409: {"description": "The case is resolved."},
    422: {"description": "Invalid request; `detail` names the field."},
}
_SEARCH_ERRORS: dict[int | str, dict[str, Any]] = {
    503: {"description": "The search backend is unavailable."}
}


def router(
    *,
    care: CareConfig,
    search: SearchIndex,
    producer: Producer,
    cases: CaseClient,
    clock: Clock = utc_now,
) -> APIRouter:
    """The gateway's routes over these backends (shared with the rest of the process)."""
    api = APIRouter(prefix="/v1")

    def read_case(case_id: str) -> case_pb2.Case:
        try:
            case = cases.get_case(case_id)
        except RoutingUnavailableError as exc:
            raise HTTPException(
                HTTPStatus.SERVICE_UNAVAILABLE, f"routing unavailable: {exc}"
            ) from exc
        except CaseServiceError as exc:
            raise HTTPException(HTTPStatus.BAD_GATEWAY, f"routing failed: {exc}") from exc
        if case is None:
            raise HTTPException(HTTPStatus.NOT_FOUND, f"case {case_id} not found")
        return case

    def find(index: str, query: SearchQuery) -> SearchResult:
        try:
            return search.search(index, query)
        except UnknownIndexError:
            # The indexer creates its indices when it first starts; until then there is
            # simply nothing indexed, which is an empty answer, not an outage.
            log.warning("search index does not exist yet", extra={"index": index})
            return SearchResult(total=0, hits=[])
        except SearchError as exc:
            raise HTTPException(
                HTTPStatus.SERVICE_UNAVAILABLE, f"search unavailable: {exc}"
            ) from exc

    def issue(command: commands_pb2.AgentCommand) -> CommandAccepted:
        try:
            publish(
                producer,
                Topic.COMMANDS.value,
                command,
                key=command.case_id,
                event_id=command.command_id,
                source=SOURCE,
            )
            # 202 promises the command is durable, so flush before answering.
            producer.flush()
        except BusError as exc:
            raise HTTPException(
                HTTPStatus.SERVICE_UNAVAILABLE, f"event bus unavailable: {exc}"
            ) from exc
        log.info(
            "agent command accepted",
            extra={
                "command_id": command.command_id,
                "case_id": command.case_id,
                "action": command.WhichOneof("action"),
            },
        )
        return CommandAccepted(command_id=command.command_id, case_id=command.case_id)

    def command_route(
        action_path: str, *, summary: str
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """`POST /v1/cases/{case_id}/<action_path>`, documented as an agent action."""
        return api.post(
            f"/cases/{{case_id}}/{action_path}",
            tags=["cases"],
            summary=summary,
            status_code=HTTPStatus.ACCEPTED,
            response_model=CommandAccepted,
            responses=_ACTION_ERRORS,
        )

    def act(
        case_id: str,
        action: str,
        agent_id: str,
        idempotency_key: str | None,
        rule: _CommandRule,
    ) -> CommandAccepted:
        """What every agent action does: check the agent (422) and read the case (404/502/503),
        let `rule` build the command or refuse it (422/409), then queue it (202, or 503)."""
        with _rejections():
            agent = commands.roster_agent(care, agent_id)
            case = read_case(case_id)
            command = rule(
                case,
                agent,
                command_id=commands.command_id(case_id, action, idempotency_key),
                now=clock(),
            )
        return issue(command)

    @api.get(
        "/cases",
        tags=["cases"],
        summary="List cases, newest first",
        response_model=CaseList,
        responses=_SEARCH_ERRORS,
    )
    def list_cases(
        status: Annotated[CaseStatusName | None, Query()] = None,
        language: Filter = None,
        queue: Filter = None,
        assignee: Filter = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CaseList:
        """From the search projection, so a case may show its state of a moment ago."""
        filters = _present(status=status, language=language, queue=queue, assignee=assignee)
        query = SearchQuery(
            filters=filters, sort=[("opened_at", "desc")], limit=limit, offset=offset
        )
        result = find(CASES, query)
        return CaseList(total=result.total, cases=[_case_summary(h.document) for h in result.hits])

    @api.get(
        "/cases/{case_id}",
        tags=["cases"],
        summary="One case with its messages, as routing has it now",
        responses=_CASE_ERRORS,
    )
    def get_case(case_id: CaseId) -> dict[str, Any]:
        return case_json(read_case(case_id))

    @command_route("replies", summary="Reply to the customer on the case's channel")
    def reply_to_case(
        case_id: CaseId, body: ReplyCreate, idempotency_key: IdempotencyKey = None
    ) -> CommandAccepted:
        rule = functools.partial(commands.reply, text=body.text)
        return act(case_id, "reply", body.agent, idempotency_key, rule)

    @command_route("assign", summary="Make an agent the owner of the case")
    def assign_case(
        case_id: CaseId, body: AssignCreate, idempotency_key: IdempotencyKey = None
    ) -> CommandAccepted:
        return act(case_id, "assign", body.agent, idempotency_key, commands.assign)

    @command_route("resolve", summary="Resolve the case")
    def resolve_case(
        case_id: CaseId, body: ResolveCreate, idempotency_key: IdempotencyKey = None
    ) -> CommandAccepted:
        return act(case_id, "resolve", body.agent, idempotency_key, commands.resolve)

    @api.get(
        "/search",
        tags=["search"],
        summary="Full-text search over messages or cases",
        response_model=SearchResults,
        responses=_SEARCH_ERRORS,
    )
    def search_text(
        q: SearchText,
        index: Literal["messages", "cases"] = "messages",
        language: Filter = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Offset = 0,
    ) -> SearchResults:
        """Best match first."""
        name = CASES if index == "cases" else MESSAGES
        query = SearchQuery(text=q, filters=_present(language=language), limit=limit, offset=offset)
        result = find(name, query)
        project = _case_summary if name == CASES else dict
        return SearchResults(
            total=result.total,
            hits=[
                SearchHitRead(id=h.id, score=h.score, document=project(h.document))
                for h in result.hits
            ],
        )

    @api.get(
        "/escalations",
        tags=["escalations"],
        summary="Escalations, newest first",
        response_model=EscalationList,
        responses=_SEARCH_ERRORS,
    )
    def list_escalations(case_id: Filter = None, limit: Limit = 50) -> EscalationList:
        query = SearchQuery(
            filters=_present(case_id=case_id), sort=[("raised_at", "desc")], limit=limit
        )
        result = find(ESCALATIONS, query)
        return EscalationList(total=result.total, escalations=[h.document for h in result.hits])

    @api.get(
        "/agents",
        tags=["organisation"],
        summary="The agent roster",
        response_model=list[AgentRead],
    )
    def list_agents() -> list[AgentRead]:
        return [
            AgentRead(id=a.id, name=a.name, languages=list(a.languages), capacity=a.capacity)
            for a in care.agents
        ]

    @api.get(
        "/queues",
        tags=["organisation"],
        summary="The queues and the languages they serve",
        response_model=list[QueueRead],
    )
    def list_queues() -> list[QueueRead]:
        return [QueueRead(name=q.name, languages=list(q.languages)) for q in care.queues]

    return api


class _CommandRule(Protocol):
    """A rule of `commands` (reply, assign, resolve): the command, or its typed refusal."""

    def __call__(
        self, case: case_pb2.Case, agent: Agent, *, command_id: str, now: datetime
    ) -> commands_pb2.AgentCommand: ...


@contextlib.contextmanager
def _rejections() -> Iterator[None]:
    """HTTP errors for the command rules' typed refusals."""
    try:
        yield
    except commands.InvalidCommandError as exc:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from exc
    except commands.CaseResolvedError as exc:
        raise HTTPException(HTTPStatus.CONFLICT, str(exc)) from exc


def _present(**filters: str | None) -> dict[str, str]:
    return {name: value for name, value in filters.items() if value is not None}


def _case_summary(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k in CASE_SUMMARY_FIELDS}
