"""The rules every search backend applies the same way, so they accept and reject alike.

Index names, schema fields (and how a schema may grow), document ids, versions and bodies,
and queries (paging, filters, sort) are checked here, before a backend does anything, with
Elasticsearch's limits and value normalisation. Both backends import this module, and
neither imports the other.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from socialcare.core.search.base import (
    FieldKind,
    IndexedDocument,
    IndexSchema,
    InvalidQueryError,
    SearchError,
    SearchQuery,
)

__all__ = [
    "MAX_ID_BYTES",
    "MAX_LIMIT",
    "MAX_RESULT_WINDOW",
    "MAX_VERSION",
    "CheckedQuery",
    "DocumentError",
    "check_index_name",
    "check_query",
    "describe_value",
    "keyword_text",
    "merge_schemas",
    "normalise_value",
    "schema_fields",
    "serialise_document",
]

MAX_LIMIT: Final = 1000
# Elasticsearch's default index.max_result_window; both backends refuse to page past it.
MAX_RESULT_WINDOW: Final = 10_000
MAX_ID_BYTES: Final = 512  # Elasticsearch's limit on _id
MAX_VERSION: Final = 2**63 - 2  # Elasticsearch's limit on external versions

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T\S+)?")
_INDEX_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,199}")
_FIELD_NAME = re.compile(r"[^_.\s][^\s]*")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


# --- Index names and schemas -------------------------------------------------------------


def check_index_name(name: str) -> None:
    """SearchError unless `name` can name an index in both backends."""
    if not isinstance(name, str) or _INDEX_NAME.fullmatch(name) is None:
        raise SearchError(
            f"invalid search index name {name!r}: use 1-200 characters from a-z, 0-9, '.', "
            "'_' and '-', starting with a letter or digit"
        )


def schema_fields(schema: IndexSchema) -> dict[str, FieldKind]:
    """The schema's fields, after checking their names and kinds."""
    fields: dict[str, FieldKind] = {}
    for name, kind in schema.fields.items():
        if not isinstance(name, str) or _FIELD_NAME.fullmatch(name) is None or ".." in name:
            raise SearchError(
                f"invalid field name {name!r}: no whitespace, not starting with '_' or '.'"
            )
        try:
            fields[name] = FieldKind(kind)
        except ValueError:
            raise SearchError(f"field {name!r}: unknown field kind {kind!r}") from None
    return fields


def merge_schemas(
    index: str, current: Mapping[str, FieldKind], wanted: Mapping[str, FieldKind]
) -> dict[str, FieldKind]:
    """The stored fields plus the new ones; a field cannot change kind."""
    merged = dict(current)
    for name, kind in wanted.items():
        old = merged.setdefault(name, kind)
        if old is not kind:
            raise SearchError(
                f"search index {index!r} already has field {name!r} as {old.value}, not "
                f"{kind.value}: a field cannot change kind; delete the index and replay"
            )
    return merged


# --- Documents and values ----------------------------------------------------------------


class DocumentError(Exception):
    """One document cannot be indexed; the message says why."""


def serialise_document(document: IndexedDocument) -> str:
    """The body as JSON, after checking the id, version and body as both backends require."""
    doc_id, version = document.id, document.version
    if not isinstance(doc_id, str) or not doc_id or len(doc_id.encode()) > MAX_ID_BYTES:
        raise DocumentError(f"the id must be a non-empty string of at most {MAX_ID_BYTES} bytes")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= MAX_VERSION
    ):
        raise DocumentError(f"the version must be an integer from 0 to {MAX_VERSION}")
    if not isinstance(document.body, Mapping):
        raise DocumentError("the body must be a JSON object")
    try:
        return json.dumps(document.body, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise DocumentError(f"the body is not JSON: {error}") from None


def keyword_text(value: Any) -> str:
    """A string, boolean or number spelled as Elasticsearch indexes it in a keyword or text
    field; ValueError for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    raise ValueError(f"cannot index {describe_value(value)}")


def normalise_value(kind: FieldKind, value: Any) -> object:
    """Normalise a value of a KEYWORD/DATE/NUMBER/BOOLEAN field as Elasticsearch indexes it."""
    if kind is FieldKind.KEYWORD:
        return keyword_text(value)
    elif kind is FieldKind.DATE:
        return _epoch_millis(value)
    elif kind is FieldKind.NUMBER:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number):
                return number
    elif kind is FieldKind.BOOLEAN:
        if isinstance(value, bool):
            return int(value)
        if value in ("true", "false", ""):
            return int(value == "true")
    raise ValueError(f"cannot index {describe_value(value)}")


def _epoch_millis(value: Any) -> int:
    """Epoch milliseconds of an RFC 3339 / ISO 8601 date or an epoch-millis number."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d{5,}", text):  # epoch millis as a string, as ES accepts
            return int(text)
        try:
            # Elasticsearch's strict_date_optional_time: a date, then optionally "T" and a time.
            if not _ISO_DATE.fullmatch(text):
                raise ValueError(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)  # Elasticsearch reads zone-less as UTC
            return (moment - _EPOCH) // _MILLISECOND
    raise ValueError(f"{describe_value(value)} is not an ISO 8601 date or epoch milliseconds")


def describe_value(value: Any) -> str:
    """A value's type and (shortened) repr, for error messages."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


# --- Queries -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckedQuery:
    """A validated query: `text` None when blank, filter values normalised per field kind."""

    text: str | None
    filters: list[tuple[str, FieldKind, list[object]]]
    sort: list[tuple[str, str]]  # (field, "asc" | "desc")


def check_query(fields: Mapping[str, FieldKind], query: SearchQuery) -> CheckedQuery:
    """Validate a query against an index's fields, the same way for both backends.

    InvalidQueryError for: limit outside 1..1000, offset < 0, offset + limit beyond 10,000
    (Elasticsearch's result window), a filter or sort on a field that is not in the schema or
    is a text field, a filter value the field cannot hold (a date that does not parse, ...),
    a sort order other than asc/desc, and free text on an index without text fields.
    """
    limit, offset = query.limit, query.offset
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidQueryError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidQueryError(f"offset must be an integer >= 0, not {offset!r}")
    if offset + limit > MAX_RESULT_WINDOW:
        raise InvalidQueryError(
            f"offset + limit must not exceed {MAX_RESULT_WINDOW}; narrow the query instead"
        )
    text = query.text
    if text is not None and not isinstance(text, str):
        raise InvalidQueryError(f"text must be a string, not {describe_value(text)}")
    if text is not None and not text.strip():
        text = None
    if text is not None and FieldKind.TEXT not in fields.values():
        raise InvalidQueryError("free-text search on an index without text fields")
    filters: list[tuple[str, FieldKind, list[object]]] = []
    for field, raw in query.filters.items():
        kind = _filterable_kind(fields, field, "filter on")
        values = [_filter_value(field, kind, value) for value in _filter_values(field, raw)]
        filters.append((field, kind, values))
    return CheckedQuery(text, filters, _sort_keys(fields, query.sort))


@dataclass(frozen=True, slots=True)
class CheckedDelete:
    """A validated `delete_where`: normalised filters, and (date field, epoch ms) or None."""

    filters: list[tuple[str, FieldKind, list[object]]]
    before: tuple[str, int] | None


def check_delete(
    fields: Mapping[str, FieldKind],
    filters: Mapping[str, str | Sequence[str]],
    date_field: str | None,
    before: str | None,
) -> CheckedDelete:
    """Validate a `delete_where` against an index's fields, the same way for both backends."""
    if (date_field is None) != (before is None):
        raise InvalidQueryError("a date bound needs both date_field and before")
    if not filters and before is None:
        raise InvalidQueryError("delete_where needs a filter or a date bound")
    checked = check_query(fields, SearchQuery(filters=filters))
    bound: tuple[str, int] | None = None
    if date_field is not None:
        kind = _filterable_kind(fields, date_field, "delete by")
        if kind is not FieldKind.DATE:
            raise InvalidQueryError(f"cannot delete by {date_field!r}: it is not a date field")
        millis = _filter_value(date_field, kind, before)
        assert isinstance(millis, int)
        bound = (date_field, millis)
    return CheckedDelete(checked.filters, bound)


def _filterable_kind(fields: Mapping[str, FieldKind], field: str, what: str) -> FieldKind:
    kind = fields.get(field)
    if kind is None:
        raise InvalidQueryError(f"cannot {what} {field!r}: no such field in the index schema")
    if kind is FieldKind.TEXT:
        raise InvalidQueryError(
            f"cannot {what} {field!r}: it is a text field (only keyword, date, number and "
            "boolean fields can be filtered and sorted)"
        )
    return kind


def _filter_values(field: str, raw: object) -> list[object]:
    values: list[object]
    if isinstance(raw, str | int | float):
        values = [raw]
    elif isinstance(raw, Sequence):
        values = list(raw)
    else:
        raise InvalidQueryError(f"filter on {field!r}: expected a string or a list of strings")
    for value in values:
        if not isinstance(value, str | int | float):
            raise InvalidQueryError(f"filter on {field!r}: bad value {describe_value(value)}")
    return values


def _filter_value(field: str, kind: FieldKind, value: object) -> object:
    if kind is FieldKind.BOOLEAN and value not in ("true", "false", True, False):
        raise InvalidQueryError(f"filter on boolean field {field!r}: expected 'true' or 'false'")
    try:
        return normalise_value(kind, value)
    except ValueError as error:
        raise InvalidQueryError(f"filter on {kind.value} field {field!r}: {error}") from None


def _sort_keys(
    fields: Mapping[str, FieldKind], sort: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for item in sort:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InvalidQueryError(f"sort entries are (field, 'asc'|'desc'), not {item!r}")
        field, direction = item
        _filterable_kind(fields, field, "sort on")
        normalised = direction.lower() if isinstance(direction, str) else direction
        if normalised not in ("asc", "desc"):
            raise InvalidQueryError(f"sort on {field!r}: order must be 'asc' or 'desc'")
        keys.append((field, normalised))
    return keys
