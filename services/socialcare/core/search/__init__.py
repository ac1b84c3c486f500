"""Search: one interface (`SearchIndex`), an embedded full-text store and Elasticsearch."""

from socialcare.core.search.base import (
    CountBucket,
    CountQuery,
    CountResult,
    DocumentRejectedError,
    FieldKind,
    IndexedDocument,
    IndexSchema,
    Interval,
    InvalidQueryError,
    SearchError,
    SearchHit,
    SearchIndex,
    SearchQuery,
    SearchResult,
    UnknownIndexError,
)

__all__ = [
    "CountBucket",
    "CountQuery",
    "CountResult",
    "DocumentRejectedError",
    "FieldKind",
    "IndexSchema",
    "IndexedDocument",
    "Interval",
    "InvalidQueryError",
    "SearchError",
    "SearchHit",
    "SearchIndex",
    "SearchQuery",
    "SearchResult",
    "UnknownIndexError",
]
