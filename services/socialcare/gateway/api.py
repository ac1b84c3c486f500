"""The REST API for agents, supervisors and integrators (`/v1/...`).

Where each answer comes from, and why:
* one case (`GET /v1/cases/{id}`) from routing's CaseService: the agent about to answer
  must see the current state, not the search projection, which lags by the indexer;
* lists and full-text search from the `SearchIndex` projection: routing keeps no indices
  and should not serve ad-hoc queries;
* while the search backend is down (`SearchError`), agents keep working: the inbox
  (`GET /v1/cases`) comes from routing's state instead (every instance's ListCases, as
  `CaseClient.list_cases` merges them), in the same JSON shape, with the response header
  `X-Socialcare-Degraded: search`; only what exists in the projection alone answers 503
  `search_unavailable` with `Retry-After` (full-text search, the `pii` filter, the
  escalation lists). The case view already reads routing;
* agent actions become `AgentCommand`s on `care.commands` (key: case id, so they apply in
  order per case); 202 means "durably queued", and routing answers with a case event. The
  actions (claim, replies, transfer, consultations and their answers, await customer,
  resolve, reopen, merge, identities, referrals, priority, notes) go through
  `gateway.actions.Actions`, the one flow the gRPC AgentService shares (`gateway.rpc`);
  the agents, presence and specialists are `gateway.agents`'.

Every route needs a credential (ADR 0007): reads `read_cases`, actions `act`, and they see
and act on the cases of the caller's brands only (`gateway.access`): a case of another
brand answers 404 as if it did not exist, lists and search never show one. An agent acts
in their own name only; every command records who issued it (`issued_by`).

Handlers are sync (FastAPI runs them in its threadpool) because the gRPC client, the
producer and the search backends are blocking and thread-safe.

Errors are the platform's one error model (`core.errors`, rendered by `core.http_errors`):
handlers raise typed errors and never build error bodies. 422 names the field, 404/409 the
case, 503 the backend that is down (`bus_unavailable`, `search_unavailable`,
`routing_unavailable`). Whether an action applies to the case is judged by
`core.domain.case_rules`, the same rules routing applies, so the gateway's fast answer and
routing's final one agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.types import DecoratedCallable
from pydantic import StringConstraints

from socialcare.core.auth import Permission, Principal, require
from socialcare.core.bus import Producer
from socialcare.core.clock import Clock, utc_now
from socialcare.core.domain import case_rules
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import REPLY_LIMITS, STATUSES, case_json, channel_name
from socialcare.core.errors import (
    FieldProblem,
    InvalidRequestError,
    UnavailableError,
    UpstreamError,
)
from socialcare.core.http_errors import error_responses
from socialcare.core.search import (
    InvalidQueryError,
    SearchError,
    SearchHit,
    SearchIndex,
    SearchQuery,
    SearchResult,
    UnknownIndexError,
)
from socialcare.core.search.indices import CASES, MESSAGES
from socialcare.core.search.schema import MAX_RESULT_WINDOW
from socialcare.gateway.access import BrandScope, empty_result, visible_case_ids
from socialcare.gateway.actions import Actions, issue, read_case, rejection_error
from socialcare.gateway.cases import (
    MAX_LIST_LIMIT,
    CaseClient,
    CaseServiceError,
    RoutingUnavailableError,
)
from socialcare.gateway.models import (
    AnswerCreate,
    AssignCreate,
    AwaitCustomerCreate,
    CannedAnswerRead,
    CaseList,
    ClaimCreate,
    CommandAccepted,
    ConsultCreate,
    IdentityCreate,
    MergeCreate,
    NoteCreate,
    PriorityCreate,
    QueueRead,
    ReferralCreate,
    ReopenCreate,
    ReplyCreate,
    ResolveCreate,
    SearchHitRead,
    SearchResults,
    TransferCreate,
)
from socialcare.v1 import case_pb2, commands_pb2

# Re-exported: the escalation routes and the console read cases and answer refusals the
# same way (they live with the actions, which the gRPC door shares).
__all__ = ["CaseStatusName", "issue", "read_case", "rejection_error", "router"]

log = logging.getLogger(__name__)

# The names of core.cases.STATUSES, spelled out so OpenAPI lists them (a test keeps the
# two in step).
CaseStatusName = Literal["new", "open", "assigned", "waiting_on_customer", "resolved", "closed"]

# The keys of the public case JSON without messages. Case documents in the index carry
# extra flat fields for filtering and full text (`text` holds every message); list
# responses drop them so that a listed case looks like a case, not like an index entry.
CASE_SUMMARY_FIELDS = frozenset(case_json(case_pb2.Case(), with_messages=False))

Reader = Annotated[Principal, Depends(require(Permission.READ_CASES))]
Actor = Annotated[Principal, Depends(require(Permission.ACT))]

# The response header of an answer served without a backend that is down: its value names
# the backend (`search`), so a client can say "search is down, this list comes from routing".
DEGRADED_HEADER = "X-Socialcare-Degraded"

# Documents read per query while the gateway checks each one's brand (see `gateway.access`).
SCAN_BATCH = 500

CaseId = Annotated[str, Path(min_length=1, max_length=200, description="The case id.")]
ConsultationId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="The consultation's id (the consult command's `command_id`).",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=200,
        description="Optional. Requests with the same key on the same case and action "
        "produce one command, so a retry after a timeout cannot reply twice.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[
    int,
    Query(
        ge=0,
        le=MAX_RESULT_WINDOW - 1,
        description=f"offset + limit may not exceed {MAX_RESULT_WINDOW}; "
        "narrow the query with filters to see further.",
    ),
]
Filter = Annotated[str | None, Query(min_length=1, max_length=100)]
# Search documents hold personal data redacted by the brand's policy (Brand.pii), so a
# full-text search for an e-mail address finds nothing; the kinds a message held stay
# findable ("cases with a card number", for a compliance sweep).
PiiFilter = Annotated[
    Literal["email", "phone", "iban", "card"] | None,
    Query(description="Only what held this kind of personal data (kept or redacted)."),
]
SearchText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    Query(description="Full text, matched against every text field of the index."),
]

_AUTH_DESCRIPTIONS = {
    401: "No credential, or not a valid one (`unauthenticated`, `invalid_token`, "
    "`token_expired`, `token_revoked`, `invalid_api_key`); see `WWW-Authenticate`.",
    403: "The credential lacks the `read_cases` permission (`forbidden`).",
}
_ACT_DESCRIPTIONS = {
    401: _AUTH_DESCRIPTIONS[401],
    403: "The credential lacks the `act` permission, names another agent than the caller's "
    "own (`field`: `agent`, `by` or `specialist`), or assigns, transfers or merges someone "
    "else's case without `reassign` (`forbidden`).",
}
_CASE_DESCRIPTIONS = {
    404: "No case with this id among the caller's brands (`not_found`).",
    502: "Routing failed on the request (`routing_failed`).",
    503: "Routing (`routing_unavailable`) or, for actions, the event bus (`bus_unavailable`) "
    "is unavailable; retry after `Retry-After` seconds.",
}
_CASE_ERRORS = error_responses(
    401, 403, 404, 422, 502, 503, descriptions={**_AUTH_DESCRIPTIONS, **_CASE_DESCRIPTIONS}
)
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
        **_ACT_DESCRIPTIONS,
        **_CASE_DESCRIPTIONS,
        400: "The body is not valid JSON (`malformed_request`).",
        404: "No case with this id among the caller's brands (`not_found`); for a merge "
        "also the case to merge into (`field`: `into_case_id`).",
        409: "The case's state refuses the action: `case_resolved`, `case_closed` (also "
        "the case to merge into), `case_not_resolved` (reopen), `questions_open` (resolve "
        "with a question unanswered; `field`: `answers`), `resolution_pending`, "
        "`already_owner` (claim), `consultation_answered`, `agent_at_capacity`.",
        415: "The body is not `application/json` (`unsupported_media_type`).",
        422: "Invalid request: `field` names it (`invalid_request`, `unknown_agent`, "
        "`reply_empty`, `reply_too_long`, `language_not_spoken`, `whatsapp_window_closed`, "
        "`unknown_template`, `template_not_supported`, `template_with_text`, "
        "`brand_not_served`, `note_empty`, `note_too_long`, `self_consult`, `reason_empty`, "
        "`unknown_question`, `question_empty`, `answer_empty`, `unknown_consultation`, "
        "`not_the_specialist`, `merge_into_self`, `merge_target_missing`, `brand_mismatch`, "
        "`invalid_identity`, `referral_target_empty`, `unknown_priority`).",
    },
)
_SEARCH_ERRORS = error_responses(
    401,
    403,
    422,
    503,
    descriptions={
        **_AUTH_DESCRIPTIONS,
        503: "The search backend is unavailable (`search_unavailable`).",
    },
)
_LIST_ERRORS = error_responses(
    401,
    403,
    422,
    502,
    503,
    descriptions={
        **_AUTH_DESCRIPTIONS,
        502: "The search backend is down and routing failed on the request (`routing_failed`).",
        503: "The search backend is down and either the `pii` filter was asked for (only "
        "the projection knows it: `search_unavailable`) or routing is unavailable too "
        "(`routing_unavailable`); retry after `Retry-After` seconds.",
    },
)
_READ_ERRORS = error_responses(401, 403, descriptions=_AUTH_DESCRIPTIONS)


# Reads shared by the REST routes (these and gateway.escalations), each failure as the one
# error model has it.


def find(search: SearchIndex, index: str, query: SearchQuery) -> SearchResult:
    """Search `index` (an index not created yet is empty); a query past the result window
    is 422 naming `offset`; a SearchError (503 `search_unavailable`) propagates."""
    _check_result_window(query)
    try:
        return search.search(index, query)
    except UnknownIndexError:
        # The indexer creates its indices when it first starts; until then there is
        # simply nothing indexed, which is an empty answer, not an outage.
        log.warning("search index does not exist yet", extra={"index": index})
        return SearchResult(total=0, hits=[])


def find_by_case(
    search: SearchIndex, index: str, query: SearchQuery, scope: BrandScope
) -> SearchResult:
    """Documents of an index without brands (messages, escalations), kept when their
    `case_id` is a case of the scope's brands."""
    if scope.everything:
        return find(search, index, query)
    if scope.nothing:
        _check_result_window(query)
        return empty_result()

    def keep(hits: Sequence[SearchHit]) -> list[bool]:
        seen = visible_case_ids(search, scope, (str(h.document.get("case_id")) for h in hits))
        return [str(h.document.get("case_id")) in seen for h in hits]

    return scan(search, index, query, keep, count_all=True)


def scan(
    search: SearchIndex,
    index: str,
    query: SearchQuery,
    keep: Callable[[Sequence[SearchHit]], list[bool]],
    *,
    count_all: bool = False,
) -> SearchResult:
    """The page `query` asks for of the matches `keep` lets through, read from the
    first match in batches (at most the result window deep). Stops once the page is
    full, unless `count_all`: then it reads every match to count the kept ones
    (`total`); otherwise `total` is the number kept so far."""
    _check_result_window(query)
    wanted_end = query.offset + query.limit
    page: list[SearchHit] = []
    kept = 0
    start = 0
    while start < MAX_RESULT_WINDOW:
        size = min(SCAN_BATCH, MAX_RESULT_WINDOW - start)
        batch = find(search, index, replace(query, offset=start, limit=size))
        for hit, ok in zip(batch.hits, keep(batch.hits), strict=True):
            if ok:
                if query.offset <= kept < wanted_end:
                    page.append(hit)
                kept += 1
        start += len(batch.hits)
        if len(batch.hits) < size or start >= batch.total:
            break
        if kept >= wanted_end and not count_all:
            break
    return SearchResult(total=kept, hits=page)


def router(
    *,
    care: CareConfig,
    search: SearchIndex,
    producer: Producer,
    cases: CaseClient,
    clock: Clock = utc_now,
    actions: Actions | None = None,
) -> APIRouter:
    """The gateway's routes over these backends (shared with the rest of the process);
    the agent actions through `actions` (the gRPC AgentService's too), else their own."""
    api = APIRouter(prefix="/v1")
    acts = actions or Actions(care=care, producer=producer, cases=cases, clock=clock)

    def find_cases(query: SearchQuery, scope: BrandScope) -> SearchResult:
        """Case documents of the scope's brands: by the index's own filter when it can
        select them, else the matches minus those of the brands not seen."""
        _check_result_window(query)
        if scope.everything:
            return find(search, CASES, query)
        if scope.nothing:
            return empty_result()
        brands = scope.case_filter
        if brands is not None:
            return find(search, CASES, replace(query, filters={**query.filters, "brand": brands}))
        hidden = sorted({b.name for b in care.effective_brands} - (scope.seen or set()))
        # Every hidden brand is configured and not the first: exactly the documents whose
        # own `brand` is one of them, so their number is one filtered count away.
        all_matches = find(search, CASES, replace(query, offset=0, limit=1)).total
        hidden_matches = find(
            search,
            CASES,
            replace(query, filters={**query.filters, "brand": hidden}, offset=0, limit=1),
        ).total
        page = scan(
            search, CASES, query, lambda hits: [scope.sees_case_document(h.document) for h in hits]
        )
        return SearchResult(total=max(all_matches - hidden_matches, 0), hits=page.hits)

    def routing_cases(
        filters: Mapping[str, str], limit: int, offset: int, scope: BrandScope
    ) -> CaseList:
        """The inbox from routing's state while the search backend is down: every
        instance's newest MAX_LIST_LIMIT cases matching status, language and queue (routing
        filters those), then the assignee and the caller's brands here, paged here.

        Bounded by routing's list: only the newest MAX_LIST_LIMIT matches are seen (older
        ones are past the last page, and `total` counts at most those). A case summary is
        the case JSON without messages, as the index's case document is once its extra
        fields are dropped; its customer's name and handle are as routing holds them (as
        `GET /v1/cases/{id}` shows them), not redacted as the projection stores them."""
        try:
            found = cases.list_cases(
                status=STATUSES.get(filters.get("status", ""), case_pb2.CASE_STATUS_UNSPECIFIED),
                language=filters.get("language", ""),
                queue=filters.get("queue", ""),
                limit=MAX_LIST_LIMIT,
            )
        except RoutingUnavailableError as exc:
            raise UnavailableError(
                f"search and routing unavailable: {exc}", code="routing_unavailable"
            ) from exc
        except CaseServiceError as exc:
            raise UpstreamError(f"routing failed: {exc}", code="routing_failed") from exc
        assignee = filters.get("assignee")
        kept = [
            case
            for case in found
            if scope.sees_case(case.brand) and (assignee is None or case.assignee == assignee)
        ]
        return CaseList(
            total=len(kept),
            cases=[case_json(c, with_messages=False) for c in kept[offset : offset + limit]],
        )

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

    @api.get(
        "/cases",
        tags=["cases"],
        summary="List cases of the caller's brands, newest first",
        response_model=CaseList,
        responses=_LIST_ERRORS,
    )
    def list_cases(
        principal: Reader,
        response: Response,
        status: Annotated[CaseStatusName | None, Query()] = None,
        language: Filter = None,
        queue: Filter = None,
        assignee: Filter = None,
        pii: PiiFilter = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CaseList:
        """From the search projection, so a case may show its state of a moment ago; while
        the search backend is down, from routing's state (header `X-Socialcare-Degraded:
        search`; at most the newest 1000 matches, customer names as routing holds them),
        except with the `pii` filter, which only the projection knows (503)."""
        filters = _present(
            status=status, language=language, queue=queue, assignee=assignee, pii_kinds=pii
        )
        query = SearchQuery(
            filters=filters, sort=[("opened_at", "desc")], limit=limit, offset=offset
        )
        scope = BrandScope.of(care, principal)
        try:
            result = find_cases(query, scope)
        except SearchError as exc:
            # A query the index refuses is our bug (500), not an outage to work around.
            if pii is not None or isinstance(exc, InvalidQueryError):
                raise
            log.warning("search unavailable: the case list comes from routing", exc_info=exc)
            listed = routing_cases(filters, limit, offset, scope)
            response.headers[DEGRADED_HEADER] = "search"
            return listed
        return CaseList(total=result.total, cases=[_case_summary(h.document) for h in result.hits])

    @api.get(
        "/cases/{case_id}",
        tags=["cases"],
        summary="One case with its messages, as routing has it now",
        responses=_CASE_ERRORS,
    )
    def get_case(case_id: CaseId, principal: Reader) -> dict[str, Any]:
        return case_json(read_case(cases, case_id, BrandScope.of(care, principal)))

    @command_route("replies", summary="Reply to the customer on the case's channel")
    def reply_to_case(
        case_id: CaseId,
        body: ReplyCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        template = (
            commands_pb2.MessageTemplate(
                name=body.template.name,
                language=body.template.language,
                parameters=body.template.parameters,
            )
            if body.template is not None
            else None
        )
        return acts.reply(
            principal,
            case_id,
            agent=body.agent,
            text=body.text,
            template=template,
            answers=body.answers,
            idempotency_key=idempotency_key,
        )

    @command_route("assign", summary="Make an agent the owner of the case")
    def assign_case(
        case_id: CaseId,
        body: AssignCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        """Claiming a case (`agent` is the caller) needs `act`; giving it to another agent
        needs `reassign` (leads), unless the caller owns the case and hands it over. `by`,
        when given, must be the caller's own agent too."""
        return acts.assign(
            principal,
            case_id,
            agent=body.agent,
            reason=body.reason or "",
            by=body.by,
            idempotency_key=idempotency_key,
        )

    @command_route("transfer", summary="Hand the case to another agent, saying why")
    def transfer_case(
        case_id: CaseId,
        body: TransferCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        """As assign, with the reason required: the owner hands over their own case; moving
        someone else's needs `reassign`."""
        return acts.transfer(
            principal,
            case_id,
            agent=body.agent,
            reason=body.reason,
            by=body.by,
            idempotency_key=idempotency_key,
        )

    @command_route("claim", summary="Take a queued case for yourself")
    def claim_case(
        case_id: CaseId,
        body: ClaimCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        """The assigner grants the claim when nobody else holds the case and the agent has
        room (in all and on the case's channel); otherwise the case shows the rejection
        and who holds it."""
        return acts.claim(principal, case_id, agent=body.agent, idempotency_key=idempotency_key)

    @command_route("notes", summary="Add an internal note, or consult a specialist")
    def add_note(
        case_id: CaseId,
        body: NoteCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        return acts.note(
            principal,
            case_id,
            agent=body.agent,
            text=body.text,
            consult=body.consult,
            idempotency_key=idempotency_key,
        )

    @command_route("consultations", summary="Ask a specialist for advice; you keep the case")
    def consult_specialist(
        case_id: CaseId,
        body: ConsultCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        """The consultation's id is the returned `command_id`; the specialist answers at
        `/consultations/{consultation_id}/answer`."""
        return acts.consult(
            principal,
            case_id,
            agent=body.agent,
            specialist=body.specialist,
            question=body.question,
            product=body.product,
            idempotency_key=idempotency_key,
        )

    @command_route(
        "consultations/{consultation_id}/answer",
        summary="The consulted specialist answers; the answer comes back onto the case",
    )
    def answer_consultation(
        case_id: CaseId,
        consultation_id: ConsultationId,
        body: AnswerCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        """In the specialist's own name; they need not own the case."""
        return acts.answer_consultation(
            principal,
            case_id,
            specialist=body.specialist,
            consultation_id=consultation_id,
            answer=body.answer,
            idempotency_key=idempotency_key,
        )

    @command_route("await-customer", summary="Wait on the customer (the clock pauses)")
    def await_customer(
        case_id: CaseId,
        body: AwaitCustomerCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        return acts.await_customer(
            principal, case_id, agent=body.agent, note=body.note, idempotency_key=idempotency_key
        )

    @command_route("resolve", summary="Propose the case as solved (the customer confirms)")
    def resolve_case(
        case_id: CaseId,
        body: ResolveCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        """Routing asks the customer whether it is solved and resolves on their yes, or
        after the confirmation timeout; a no brings the case back to its owner."""
        return acts.resolve(
            principal, case_id, agent=body.agent, note=body.note, idempotency_key=idempotency_key
        )

    @command_route("reopen", summary="Reopen a resolved case")
    def reopen_case(
        case_id: CaseId,
        body: ReopenCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        return acts.reopen(
            principal,
            case_id,
            agent=body.agent,
            reason=body.reason,
            idempotency_key=idempotency_key,
        )

    @command_route("merge", summary="Merge the case into another case of the same customer")
    def merge_case(
        case_id: CaseId,
        body: MergeCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        """Both cases must be of the same brand; this one closes (merged_into) and the
        other shows both conversations."""
        return acts.merge(
            principal,
            case_id,
            agent=body.agent,
            into_case_id=body.into_case_id,
            reason=body.reason,
            idempotency_key=idempotency_key,
        )

    @command_route("identities", summary="Link a way to reach the customer to the case")
    def link_identity(
        case_id: CaseId,
        body: IdentityCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        """Another open case holding the same identity is merged into the older one."""
        return acts.link_identity(
            principal,
            case_id,
            agent=body.agent,
            kind=body.kind,
            value=body.value,
            idempotency_key=idempotency_key,
        )

    @command_route("referrals", summary="Record that the case was referred elsewhere")
    def refer_case(
        case_id: CaseId,
        body: ReferralCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        """Kept as an internal note; the case stays open (a referral never closes it)."""
        return acts.refer(
            principal,
            case_id,
            agent=body.agent,
            to=body.to,
            note=body.note,
            idempotency_key=idempotency_key,
        )

    @command_route("priority", summary="Set the case's priority by hand")
    def set_priority(
        case_id: CaseId,
        body: PriorityCreate,
        principal: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> CommandAccepted:
        return acts.set_priority(
            principal,
            case_id,
            agent=body.agent,
            level=body.level,
            reason=body.reason,
            idempotency_key=idempotency_key,
        )

    @api.get(
        "/cases/{case_id}/canned-answers",
        tags=["cases"],
        summary="The canned answers for the case, filled in, and whether each fits",
        response_model=list[CannedAnswerRead],
        responses=_CASE_ERRORS,
    )
    def canned_answers(
        case_id: CaseId,
        principal: Reader,
        agent: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=100,
                description="The agent who would send it (default: the caller's agent).",
            ),
        ] = None,
    ) -> list[CannedAnswerRead]:
        """The brand, language and channel's canned answers with {customer_first_name}
        and {agent_first_name} filled in, the length the customer would receive (signed
        per the brand) against the channel's limit."""
        case = read_case(cases, case_id, BrandScope.of(care, principal))
        return canned_reads(care, case, agent or principal.agent_id)

    @api.get(
        "/search",
        tags=["search"],
        summary="Full-text search over the messages or cases of the caller's brands",
        response_model=SearchResults,
        responses=_SEARCH_ERRORS,
    )
    def search_text(
        q: SearchText,
        principal: Reader,
        index: Literal["messages", "cases"] = "messages",
        language: Filter = None,
        pii: PiiFilter = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Offset = 0,
    ) -> SearchResults:
        """Best match first."""
        scope = BrandScope.of(care, principal)
        filters = _present(language=language, pii_kinds=pii)
        query = SearchQuery(text=q, filters=filters, limit=limit, offset=offset)
        if index == "cases":
            result = find_cases(query, scope)
        else:
            result = find_by_case(search, MESSAGES, query, scope)
        project = _case_summary if index == "cases" else dict
        return SearchResults(
            total=result.total,
            hits=[
                SearchHitRead(id=h.id, score=h.score, document=project(h.document))
                for h in result.hits
            ],
        )

    @api.get(
        "/queues",
        tags=["organisation"],
        summary="The queues and the languages they serve",
        response_model=list[QueueRead],
        responses=_READ_ERRORS,
    )
    def list_queues(principal: Reader) -> list[QueueRead]:
        return [QueueRead(name=q.name, languages=list(q.languages)) for q in care.queues]

    return api


def canned_reads(
    care: CareConfig, case: case_pb2.Case, agent_id: str | None
) -> list[CannedAnswerRead]:
    """The canned answers of the case's brand, language and channel, filled in for its
    customer and `agent_id` (a roster agent; else the variables get the brand's name for
    the agent), each with the length the customer would receive (signed per the brand, as
    `case_rules.reply_text` signs a reply) against the channel's limit."""
    brand = care.brand(case.brand)
    channel = channel_name(case.channel)
    agent = care.agents_by_id.get(agent_id or "")
    if agent_id is not None and agent is None:
        raise InvalidRequestError(
            f"unknown agent {agent_id!r}",
            code=case_rules.RejectionCode.UNKNOWN_AGENT.value,
            field="agent",
        )
    customer_words = (case.customer.name or "").split()
    limit = REPLY_LIMITS.get(channel)
    reads = []
    for answer in care.canned_answers_for(
        brand=brand.name, language=case.language, channel=channel
    ):
        text = answer.fill(
            customer_first_name=customer_words[0] if customer_words else "",
            agent_first_name=agent.first_name if agent is not None else "",
        )
        signed = brand.sign(text, agent.name) if agent is not None else text
        reads.append(
            CannedAnswerRead(
                id=answer.id,
                title=answer.title,
                text=text,
                signed_length=len(signed),
                limit=limit,
                fits=limit is None or len(signed) <= limit,
            )
        )
    return reads


def _check_result_window(query: SearchQuery) -> None:
    """Both search backends page at most MAX_RESULT_WINDOW results deep (Elasticsearch's
    `index.max_result_window`); past it the backend refuses the query, which is the
    client's request to fix (422 naming `offset`), not a search outage."""
    if query.offset + query.limit > MAX_RESULT_WINDOW:
        raise InvalidRequestError.from_problems(
            [
                FieldProblem(
                    field="offset",
                    code="result_window_exceeded",
                    message=f"offset + limit must not exceed {MAX_RESULT_WINDOW} "
                    f"(got {query.offset} + {query.limit}); narrow the query with filters",
                )
            ]
        )


def _present(**filters: str | None) -> dict[str, str]:
    return {name: value for name, value in filters.items() if value is not None}


def _case_summary(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k in CASE_SUMMARY_FIELDS}
