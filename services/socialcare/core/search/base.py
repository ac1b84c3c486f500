"""The search contract: a projection of cases, messages and escalations for agents and ops.

The index is never the source of truth (the topics are), so writes are idempotent upserts
by id and can be replayed at will. A document may carry a `version`; an upsert with a
version lower than the stored one is ignored, so a late, stale snapshot of a case never
overwrites a newer one (Elasticsearch's `external_gte` versioning; the embedded store does
the same). Writes become visible to `search` after `refresh` (or shortly after, on their
own), as in Elasticsearch.

Deletes (`delete` by id, `delete_where` by exact filters and a date bound) serve erasure
and retention: they are visible to `search` when they return, and a document deleted can
be written again by a later upsert.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

Document = Mapping[str, Any]


class FieldKind(StrEnum):
    """How a field is indexed."""

    TEXT = "text"  # full text: tokenised, matched by `SearchQuery.text`
    KEYWORD = "keyword"  # exact values: filters and sorting
    DATE = "date"  # RFC 3339 strings: sorting and ranges
    NUMBER = "number"
    BOOLEAN = "boolean"


@dataclass(frozen=True, slots=True)
class IndexSchema:
    """Field kinds of an index; fields not listed are stored but not searchable."""

    fields: Mapping[str, FieldKind]


@dataclass(frozen=True, slots=True)
class IndexedDocument:
    id: str
    body: Document
    version: int | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Full text over every TEXT field, AND-ed with exact filters on KEYWORD fields.

    A filter value that is a sequence matches any of its values. `sort` is a list of
    (field, "asc"|"desc"); without it, hits come by relevance (or newest id first when
    there is no text).
    """

    text: str | None = None
    filters: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    sort: Sequence[tuple[str, str]] = ()
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    score: float
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SearchResult:
    total: int
    hits: list[SearchHit]


class Interval(StrEnum):
    """Calendar intervals of `CountQuery`, in its time zone: a day from midnight, a week
    from Monday midnight, a month from the 1st at midnight (Elasticsearch's
    `calendar_interval` 1d, 1w, 1M)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class CountQuery:
    """Count documents per value of the KEYWORD field `by`, exactly (every value, however
    rare: reports of the long tail need the ones counted once).

    `filters` as `SearchQuery`'s. `since` (inclusive) and `until` (exclusive) are RFC 3339
    times bounding the DATE field `date_field` (a document without a value there is then
    not counted). With an `interval`, counts are also split per calendar interval of
    `date_field` in `time_zone` (an IANA name such as "Europe/Amsterdam"); it needs
    `date_field`, `since` and `until`, and at most `MAX_INTERVALS` intervals. The date
    field is meant to be single-valued (a message's time).
    """

    by: str
    filters: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    date_field: str | None = None
    since: str | None = None
    until: str | None = None
    interval: Interval | None = None
    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True)
class CountBucket:
    """`count` documents have `key` in the `by` field (None: documents with no value
    there) and, with an interval, their time in the interval starting at `start` (aware,
    in the query's time zone; None without an interval)."""

    key: str | None
    start: datetime | None
    count: int


@dataclass(frozen=True, slots=True)
class CountResult:
    """`total`: the documents matching (each once, whatever its values). `buckets`: only
    non-zero ones, sorted by key (None last), then start. A document with several values
    in `by` counts in the bucket of each."""

    total: int
    buckets: list[CountBucket]


class SearchError(Exception):
    """The backend failed or rejected the request; the message says which and why."""


class DocumentRejectedError(SearchError):
    """The store refused these documents for what they hold (a value of the wrong type for
    its field, an id too long, a body that is not JSON, a document too large): writing them
    again can never succeed, so this is the documents' fault, not an outage. Every other
    document of the same `upsert` was written.

    Why a class of its own: a caller that retries every `SearchError` (the consumer loop, as
    it should for an outage) would retry these forever and stall behind them; this one it can
    set aside (dead-letter) with the reason and move on. `rejected` maps each refused
    document's id to the store's reason."""

    def __init__(self, index: str, rejected: Mapping[str, str]) -> None:
        self.index = index
        self.rejected: dict[str, str] = dict(rejected)
        doc_id, reason = next(iter(self.rejected.items()))
        more = len(self.rejected) - 1
        others = f" (and {more} more)" if more else ""
        shown = repr(doc_id) if len(doc_id) <= 80 else repr(doc_id[:77] + "...")
        super().__init__(f"document {shown} rejected by index {index!r}: {reason}{others}")


class UnknownIndexError(SearchError):
    """The index was never created with `ensure_index`."""


class InvalidQueryError(SearchError):
    """The query names a field that is not in the schema, or has bad paging/sort values."""


class SearchIndex(abc.ABC):
    """Thread-safe: one instance is shared by the request handlers and the indexer."""

    @abc.abstractmethod
    def ensure_index(self, name: str, schema: IndexSchema) -> None:
        """Create the index if missing; an existing index keeps its data."""

    @abc.abstractmethod
    def upsert(self, index: str, documents: Sequence[IndexedDocument]) -> None:
        """Insert or replace documents by id, in bulk; stale versions are skipped.

        When the backend refuses some documents for what they hold, the others are written
        and `DocumentRejectedError` names every refused one with its reason. Any other
        `SearchError` (the backend down, overloaded, timing out) means the write may have
        been partial: the caller writes the whole batch again (upserts are idempotent).
        """

    @abc.abstractmethod
    def get(self, index: str, doc_id: str) -> dict[str, Any] | None:
        """The stored document, or None."""

    @abc.abstractmethod
    def search(self, index: str, query: SearchQuery) -> SearchResult:
        """Matching documents; raises InvalidQueryError for unknown fields."""

    @abc.abstractmethod
    def count(self, index: str, query: CountQuery) -> CountResult:
        """Documents per value of `query.by` (and per interval), exact for every value.
        Raises InvalidQueryError for a `by` that is not a keyword field, a bad filter,
        date bound, interval or time zone, or more than `MAX_INTERVALS` intervals."""

    @abc.abstractmethod
    def delete(self, index: str, ids: Sequence[str]) -> int:
        """Delete these documents (ids not there are skipped); returns how many went.
        Raises UnknownIndexError for an index never created."""

    @abc.abstractmethod
    def delete_where(
        self,
        index: str,
        filters: Mapping[str, str | Sequence[str]],
        *,
        date_field: str | None = None,
        before: str | None = None,
    ) -> int:
        """Delete every document matching all `filters` (exact values, as `SearchQuery`'s;
        a list matches any of its values) and, when `before` (an RFC 3339 time) is given,
        whose DATE field `date_field` is earlier than it; returns how many went. E.g. the
        messages of a case (`{"case_id": id}`), or a brand's messages older than its
        retention (`{"brand": b}, date_field="created_at", before=cutoff`). A document
        without a value in `date_field` is never deleted by a date bound.

        Raises InvalidQueryError for unknown or text fields, a bad date, a `before` without
        `date_field` (or the reverse), or no condition at all (nothing deletes a whole index
        by accident; `delete_index` does that)."""

    @abc.abstractmethod
    def refresh(self, index: str) -> None:
        """Make every write so far visible to `search`."""

    @abc.abstractmethod
    def delete_index(self, index: str) -> None:
        """Drop the index and its documents; no error if it does not exist."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""
