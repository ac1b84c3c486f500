"""Search: one interface (`SearchIndex`), an embedded full-text store and Elasticsearch."""

from socialcare.core.search.base import (
    FieldKind,
    IndexedDocument,
    IndexSchema,
    InvalidQueryError,
    SearchError,
    SearchHit,
    SearchIndex,
    SearchQuery,
    SearchResult,
    UnknownIndexError,
)

__all__ = [
    "FieldKind",
    "IndexSchema",
    "IndexedDocument",
    "InvalidQueryError",
    "SearchError",
    "SearchHit",
    "SearchIndex",
    "SearchQuery",
    "SearchResult",
    "UnknownIndexError",
]
