"""The audit log over REST: `GET /v1/audit`, for admins (permission `manage`).

Newest first, filtered by actor (id or name), action (`case.reply`, or a family: `case`),
target (an id, or `type:id`), brand, outcome (`ok`, `refused`, `failed`), door (`rest`,
`console`, `grpc`) and a time window (`since` inclusive, `until` exclusive, RFC 3339).
Pages: `limit` records at most (a page may hold fewer while `next_cursor` is set: follow
it until it is null). The records come from the search index `audit`, which the indexer
fills from audit.log (`core.audit_index`), so a record shows up a moment after its action.

There is no route to change or delete a record: the log is append-only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from socialcare.core.audit_index import MAX_LIMIT, AuditQuery, find_records
from socialcare.core.auth import Permission, Principal, require
from socialcare.core.http_errors import error_responses
from socialcare.core.search import SearchIndex

Manager = Annotated[Principal, Depends(require(Permission.MANAGE))]


class AuditRecordRead(BaseModel):
    record_id: str
    at: str = Field(description="When, RFC 3339 UTC.")
    actor_kind: str = Field(description="user, api_key, anonymous (a failed sign-in) or system.")
    actor_id: str
    actor_name: str
    actor_roles: list[str]
    action: str = Field(examples=["case.reply"])
    target_type: str
    target_id: str
    brand: str
    client_ip: str
    user_agent: str
    via: str = Field(description="rest, console or grpc.")
    outcome: str = Field(description="ok (< 400), refused (4xx) or failed (5xx).")
    status: int
    request_id: str
    trace_id: str
    details: dict[str, str]


class AuditPageRead(BaseModel):
    records: list[AuditRecordRead]
    next_cursor: str | None = Field(description="The next page's `cursor`; null: no more.")
    total: int = Field(description="Records matching the filters (before the exact time trim).")


def audit_router(search: SearchIndex) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["audit"])

    @api.get(
        "/audit",
        summary="The audit log: who did what, when, from where (newest first)",
        response_model=AuditPageRead,
        responses=error_responses(
            400,
            401,
            403,
            422,
            503,
            descriptions={
                400: "A parameter that cannot be used (`invalid_parameter`, naming it).",
                403: "Needs role admin (`forbidden`).",
                503: "The search index cannot answer now.",
            },
        ),
    )
    def list_audit_records(
        principal: Manager,
        actor: Annotated[str | None, Query(max_length=200, description="Actor id or name.")] = None,
        action: Annotated[
            str | None, Query(max_length=100, description="`case.reply`, or a family: `case`.")
        ] = None,
        target: Annotated[
            str | None, Query(max_length=300, description="A target id, or `type:id`.")
        ] = None,
        brand: Annotated[str | None, Query(max_length=100)] = None,
        outcome: Literal["ok", "refused", "failed"] | None = None,
        via: Literal["rest", "console", "grpc"] | None = None,
        since: Annotated[datetime | None, Query(description="From (inclusive).")] = None,
        until: Annotated[datetime | None, Query(description="Up to (exclusive).")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(max_length=100)] = None,
    ) -> dict[str, Any]:
        page = find_records(
            search,
            AuditQuery(
                actor=actor,
                action=action,
                target=target,
                brand=brand,
                outcome=outcome,
                via=via,
                since=_aware(since),
                until=_aware(until),
                limit=limit,
                cursor=cursor,
            ),
        )
        return {"records": page.records, "next_cursor": page.next_cursor, "total": page.total}

    return api


def _aware(at: datetime | None) -> datetime | None:
    """A time without an offset is UTC."""
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=UTC)
