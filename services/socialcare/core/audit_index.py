"""The audit log, queryable: audit.log indexed into the search index `audit`, and the one
query every door (REST `GET /v1/audit`, gRPC later) runs over it.

Records are never updated, so a document's id is the record's id and an upsert of a record
read twice (a redelivery, a rebuilt index) writes the same document again. The index is a
projection like the others: delete it and the indexer rebuilds it from audit.log (whose
retention is the audit log's real retention).

A query filters on exact values (actor id or name, action or its family, target id or
`type:id`, brand, outcome, door) and a time window; hits come newest first. The search
contract has no range filter, so the window is narrowed with the `day` (or `month`)
keyword of each document and trimmed exactly here; a page may therefore hold fewer than
`limit` records while `next_cursor` still points further.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from google.protobuf.json_format import MessageToDict

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.clock import from_timestamp, utc_now
from socialcare.core.consumer_loop import RecordsRejectedError, TypedProcessor
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.errors import InvalidRequestError
from socialcare.core.events import InvalidRecordError
from socialcare.core.search import (
    DocumentRejectedError,
    IndexedDocument,
    SearchIndex,
    SearchQuery,
    UnknownIndexError,
)
from socialcare.core.search.base import FieldKind, IndexSchema
from socialcare.core.search.schema import DocumentError, serialise_document
from socialcare.v1 import audit_pb2

AUDIT = "audit"
GROUP = "audit-indexer"

K = FieldKind.KEYWORD
AUDIT_SCHEMA = IndexSchema(
    {
        "record_id": K,
        "at": FieldKind.DATE,
        "day": K,
        "month": K,
        "actor_kind": K,
        "actor_id": K,
        "actor_name": K,
        "actor_roles": K,
        "actor_terms": K,
        "action": K,
        "action_terms": K,
        "target_type": K,
        "target_id": K,
        "target_terms": K,
        "brand": K,
        "client_ip": K,
        "via": K,
        "outcome": K,
        "status": FieldKind.NUMBER,
        "request_id": K,
        "trace_id": K,
    }
)

# The largest page, and how deep paging goes (Elasticsearch's default result window).
MAX_LIMIT = 500
MAX_WINDOW = 10_000
# A window up to this many days is narrowed by day; longer ones by month.
_DAYS_BY_DAY = 92
_MONTHS_BY_MONTH = 120


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def audit_document(record: audit_pb2.AuditRecord) -> IndexedDocument:
    """The search document of one record: the record's fields (as the API shows them)
    plus the keywords the query filters on."""
    at = from_timestamp(record.at)
    body: dict[str, Any] = audit_json(record)
    body.update(
        day=at.strftime("%Y-%m-%d"),
        month=at.strftime("%Y-%m"),
        actor_terms=sorted({t for t in (record.actor_id, record.actor_name) if t}),
        action_terms=sorted({record.action, record.action.partition(".")[0]} - {""}),
        target_terms=sorted(
            {record.target_id, f"{record.target_type}:{record.target_id}"}
            if record.target_id
            else set()
        ),
    )
    return IndexedDocument(record.record_id, body)


def audit_json(record: audit_pb2.AuditRecord) -> dict[str, Any]:
    """A record as the API shows it (every field, empty ones too)."""
    body = MessageToDict(
        record, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    body["at"] = _rfc3339(from_timestamp(record.at))
    body["actor_roles"] = list(record.actor_roles)
    body["details"] = dict(record.details)
    body["status"] = record.status
    return body


_SHOWN = frozenset(audit_pb2.AuditRecord.DESCRIPTOR.fields_by_name)


class AuditIndexingProcessor(TypedProcessor):
    """audit.log into the `audit` index: one bulk upsert per batch, before the loop commits
    (documents of a revoked partition are dropped with its offsets)."""

    def __init__(self, search: SearchIndex) -> None:
        super().__init__()
        self._search = search
        # Each document with the record it came from (dead-lettered if the store refuses it).
        self._pending: dict[TopicPartition, list[tuple[IndexedDocument, Record]]] = {}
        self.on(Topic.AUDIT_LOG, audit_pb2.AuditRecord, self._on_record)

    def prepare(self) -> None:
        self._search.ensure_index(AUDIT, AUDIT_SCHEMA)

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        for partition in partitions:
            self._pending.pop(partition, None)

    def flush(self) -> None:
        """One bulk upsert; a document the store refuses for what it holds sends its record
        to the loop as `RecordsRejectedError` (dead-lettered with the reason, the rest
        committed) instead of failing the batch forever (`indexer.processor.flush`)."""
        pending = [p for batch in self._pending.values() for p in batch]
        self._pending.clear()
        if not pending:
            return
        try:
            self._search.upsert(AUDIT, [document for document, _ in pending])
        except DocumentRejectedError as exc:
            sources = {document.id: record for document, record in pending}
            raise RecordsRejectedError.of_documents(exc, sources) from exc

    def discard(self) -> None:
        self._pending.clear()

    def _on_record(self, record: audit_pb2.AuditRecord, source: Record) -> Sequence[Emit]:
        """Queue the record's document; a record the store would reject (e.g. an id over
        512 bytes) is refused here, or the batch's bulk write would fail and the loop retry
        it forever as an outage (`indexer.processor.indexable`)."""
        if record.record_id:
            document = audit_document(record)
            try:
                serialise_document(document)
            except DocumentError as exc:
                raise InvalidRecordError(
                    f"audit record {record.record_id[:80]!r} cannot be indexed: {exc}"
                ) from exc
            self._pending.setdefault(source.topic_partition, []).append((document, source))
        return ()


# -- the query -----------------------------------------------------------------------------


class AuditQueryError(InvalidRequestError):
    """A query parameter that cannot be used (400 naming it)."""

    http_status = HTTPStatus.BAD_REQUEST
    default_code = "invalid_parameter"


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    brand: str | None = None
    outcome: str | None = None
    via: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass
class AuditPage:
    records: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None
    total: int = 0


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        offset = int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise AuditQueryError(
            "cursor: not a cursor this API gave (use next_cursor as it is)", field="cursor"
        ) from exc
    if kind != "o" or offset < 0:
        raise AuditQueryError(
            "cursor: not a cursor this API gave (use next_cursor as it is)", field="cursor"
        )
    return offset


def _period_filter(since: datetime, until: datetime) -> tuple[str, list[str]] | None:
    """`day` or `month` values covering [since, until], when few enough to list."""
    days = (until.date() - since.date()).days
    if days < 0:
        return ("day", [])
    if days <= _DAYS_BY_DAY:
        return ("day", [(since + timedelta(days=n)).strftime("%Y-%m-%d") for n in range(days + 1)])
    months = (until.year - since.year) * 12 + until.month - since.month
    if months <= _MONTHS_BY_MONTH:
        values = []
        year, month = since.year, since.month
        for _ in range(months + 1):
            values.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return ("month", values)
    return None


def find_records(
    search: SearchIndex, query: AuditQuery, *, now: datetime | None = None
) -> AuditPage:
    """One page of records matching `query`, newest first. AuditQueryError (400) for a bad
    parameter; SearchError (503) when the index cannot answer. An index not created yet
    (nothing audited, or the indexer not started): an empty page."""
    if not 1 <= query.limit <= MAX_LIMIT:
        raise AuditQueryError(f"limit: between 1 and {MAX_LIMIT}", field="limit")
    since = query.since.astimezone(UTC) if query.since else None
    until = query.until.astimezone(UTC) if query.until else None
    if since and until and since >= until:
        raise AuditQueryError("since must be before until", field="since")
    offset = decode_cursor(query.cursor) if query.cursor else 0
    if offset + query.limit > MAX_WINDOW:
        raise AuditQueryError(
            f"paging goes {MAX_WINDOW} records deep: narrow the query with since/until",
            field="cursor",
        )
    filters: dict[str, str | Sequence[str]] = {}
    for name, value in (
        ("actor_terms", query.actor),
        ("action_terms", query.action),
        ("target_terms", query.target),
        ("brand", query.brand),
        ("outcome", query.outcome),
        ("via", query.via),
    ):
        if value:
            filters[name] = value
    if since is not None:
        period = _period_filter(since, until or (now or utc_now()).astimezone(UTC))
        if period is not None:
            if not period[1]:
                return AuditPage()
            filters[period[0]] = period[1]
    try:
        found = search.search(
            AUDIT,
            SearchQuery(
                filters=filters,
                sort=[("at", "desc"), ("record_id", "desc")],
                limit=query.limit,
                offset=offset,
            ),
        )
    except UnknownIndexError:
        return AuditPage()
    low = _rfc3339(since) if since else None
    high = _rfc3339(until) if until else None
    records = []
    for hit in found.hits:
        at = str(hit.document.get("at", ""))
        if (low is not None and at < low) or (high is not None and at >= high):
            continue
        records.append({k: v for k, v in hit.document.items() if k in _SHOWN})
    following = offset + len(found.hits)
    more = following < found.total and len(found.hits) == query.limit
    return AuditPage(
        records=records,
        next_cursor=encode_cursor(following) if more else None,
        total=found.total,
    )
