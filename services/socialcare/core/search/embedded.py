"""The embedded search backend: one SQLite file with FTS5, no server.

Layout of ``<data_dir>/search.sqlite3`` (WAL mode, so readers never wait for the writer and
several processes may share the file):

* ``sc_indices``: one row per index, with its schema (field kinds, and which FTS5 column
  holds which TEXT field), so a reopened store knows its indices.
* per index (``<n>`` is the catalog row's id, never reused):

  * ``sc_d<n>``: the documents (id, version, JSON body);
  * ``sc_f<n>``: an FTS5 table (rowid = document rowid), one column per TEXT field, tokenizer
    ``unicode61 remove_diacritics 2``: case- and accent-insensitive ("cafe" finds "café");
  * ``sc_v<n>``: the values of the KEYWORD, DATE, NUMBER and BOOLEAN fields, one row per
    (document, field, value), normalised as Elasticsearch indexes them (keywords as exact
    strings, dates as epoch milliseconds, numbers as doubles, booleans as 0/1). Filters and
    sorting use it, so a list-valued field matches any of its values and sorts by its min
    (asc) or max (desc), as in Elasticsearch.

Free text follows Elasticsearch's ``simple_query_string`` with ``default_operator: and``
over every TEXT field: every term must match (each in any field), ``"phrase"``, ``-not``,
``a | b``, ``+``, ``(...)``, ``prefix*`` and ``"phrase"~slop`` work, and no input raises
(the parser is a port of Lucene's SimpleQueryParser; its output is always valid FTS5).
Relevance is FTS5's bm25. Deliberate differences from Elasticsearch: ``term~N`` (fuzzy) is
an exact term, ``"phrase"~N`` becomes FTS5 ``NEAR`` (order-free), and tokenisation is
FTS5's (``don't`` is ``don`` + ``t``, so ``don`` finds it; ES's standard tokenizer keeps
``don't`` whole), so results agree on ordinary words and may differ on edge cases. A query
whose operators nest deeper than FTS5 allows (some 40 alternations of ``|`` and AND, which no
person types) raises InvalidQueryError.

Writes are visible to ``search`` as soon as ``upsert`` returns; ``refresh`` is a no-op.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

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
    "CheckedQuery",
    "DocumentError",
    "EmbeddedSearchIndex",
    "check_index_name",
    "check_query",
    "merge_schemas",
    "parse_simple_query",
    "schema_fields",
    "serialise_document",
]

FILE_NAME: Final = "search.sqlite3"
MAX_LIMIT: Final = 1000
# Elasticsearch's default index.max_result_window; both backends refuse to page past it.
MAX_RESULT_WINDOW: Final = 10_000
MAX_ID_BYTES: Final = 512  # Elasticsearch's limit on _id
MAX_VERSION: Final = 2**63 - 2  # Elasticsearch's limit on external versions
BUSY_TIMEOUT_SECONDS: Final = 30.0
TOKENIZER: Final = "unicode61 remove_diacritics 2"
# FTS5's parser overflows its stack at about 96 nested parentheses.
MAX_EXPRESSION_DEPTH: Final = 80

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T\S+)?")
_INDEX_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,199}")
_FIELD_NAME = re.compile(r"[^_.\s][^\s]*")
# Letters that Unicode does not decompose but Elasticsearch's asciifolding folds; applied to
# indexed and queried text so "Strasse" finds "Straße" in both backends.
_FOLD_EXTRA = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "þ": "th",
        "Þ": "TH",
        "\u0131": "i",  # dotless i
    }
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


class EmbeddedSearchIndex(SearchIndex):
    """SQLite FTS5 implementation of :class:`SearchIndex`; see the module docstring.

    Thread-safe: each thread gets its own connection (readers run in parallel), writers take
    turns through an in-process lock and, across processes, SQLite's busy timeout.
    """

    def __init__(self, data_dir: Path | str) -> None:
        self._dir = Path(data_dir)
        self._path = self._dir / FILE_NAME
        self._local = threading.local()
        self._registry_lock = threading.Lock()
        self._write_lock = threading.Lock()
        # Every connection handed out, with the thread that owns it (to close them all).
        self._connections: dict[int, tuple[threading.Thread, sqlite3.Connection]] = {}
        self._schemas: dict[tuple[int, str], _Schema] = {}
        self._closed = False
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SearchError(f"cannot create the search directory {self._dir}: {error}") from None
        with self._transaction(write=True) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS sc_indices ("
                " tid INTEGER PRIMARY KEY AUTOINCREMENT,"
                " name TEXT NOT NULL UNIQUE,"
                " schema TEXT NOT NULL)"
            )

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    # --- SearchIndex ---------------------------------------------------------------------

    def ensure_index(self, name: str, schema: IndexSchema) -> None:
        check_index_name(name)
        wanted = schema_fields(schema)
        with self._transaction(write=True) as conn:
            row = conn.execute(
                "SELECT tid, schema FROM sc_indices WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                text_columns = [f for f, kind in wanted.items() if kind is FieldKind.TEXT]
                stored = _Schema(0, dict(wanted), text_columns)
                cursor = conn.execute(
                    "INSERT INTO sc_indices (name, schema) VALUES (?, ?)", (name, stored.dumps())
                )
                assert cursor.lastrowid is not None
                created = _Schema(cursor.lastrowid, stored.fields, stored.text_columns)
                self._create_tables(conn, created)
                return
            current = self._parse_schema(row[0], row[1])
            merged = merge_schemas(name, current.fields, wanted)
            if merged == current.fields:
                return
            new_text = [
                f
                for f, kind in merged.items()
                if kind is FieldKind.TEXT and f not in current.fields
            ]
            updated = _Schema(current.tid, merged, [*current.text_columns, *new_text])
            conn.execute(
                "UPDATE sc_indices SET schema = ? WHERE tid = ?", (updated.dumps(), updated.tid)
            )
            self._rebuild(conn, updated)

    def upsert(self, index: str, documents: Sequence[IndexedDocument]) -> None:
        first_failure: str | None = None
        with self._transaction(write=True) as conn:
            schema = self._schema(conn, index)
            tables = _Tables(schema.tid)
            for document in documents:
                try:
                    prepared = _prepare(schema, document)
                except DocumentError as error:
                    if first_failure is None:
                        first_failure = (
                            f"document {document.id!r} rejected by index {index!r}: {error}"
                        )
                    continue
                _write(conn, tables, prepared)
        if first_failure is not None:
            failed = "" if len(documents) == 1 else " (the valid documents were written)"
            raise SearchError(first_failure + failed)

    def get(self, index: str, doc_id: str) -> dict[str, Any] | None:
        with self._transaction(write=False) as conn:
            tables = _Tables(self._schema(conn, index).tid)
            row = conn.execute(f"SELECT body FROM {tables.docs} WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else _loads(row[0])

    def search(self, index: str, query: SearchQuery) -> SearchResult:
        with self._transaction(write=False) as conn:
            schema = self._schema(conn, index)
            plan = _plan_search(schema, query)
            if plan is None:
                return SearchResult(total=0, hits=[])
            (total,) = conn.execute(plan.count_sql, plan.params).fetchone()
            rows = conn.execute(
                plan.page_sql, [*plan.params, *plan.order_params, query.limit, query.offset]
            ).fetchall()
        hits = [SearchHit(id=r[0], score=float(r[2]), document=_loads(r[1])) for r in rows]
        return SearchResult(total=int(total), hits=hits)

    def refresh(self, index: str) -> None:
        with self._transaction(write=False) as conn:
            self._schema(conn, index)  # only to raise UnknownIndexError

    def delete_index(self, index: str) -> None:
        if not isinstance(index, str) or _INDEX_NAME.fullmatch(index) is None:
            return  # no index can have that name
        with self._transaction(write=True) as conn:
            row = conn.execute("SELECT tid FROM sc_indices WHERE name = ?", (index,)).fetchone()
            if row is None:
                return
            tables = _Tables(row[0])
            for table in (tables.fts, tables.values, tables.docs):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute("DELETE FROM sc_indices WHERE tid = ?", (row[0],))

    def close(self) -> None:
        with self._registry_lock:
            self._closed = True
            connections = [conn for _, conn in self._connections.values()]
            self._connections.clear()
        for conn in connections:
            conn.close()

    # --- Connections and transactions ----------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not self._closed:
            return conn
        with self._registry_lock:
            if self._closed:
                raise SearchError(f"the embedded search store {self._path} is closed")
            # Close the connections of threads that have ended (thread pools come and go).
            for ident, (thread, stale) in list(self._connections.items()):
                if not thread.is_alive():
                    stale.close()
                    del self._connections[ident]
            try:
                conn = sqlite3.connect(
                    self._path,
                    timeout=BUSY_TIMEOUT_SECONDS,
                    isolation_level=None,
                    check_same_thread=False,  # only so that close() may close it
                )
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.Error as error:
                raise SearchError(f"cannot open the search store {self._path}: {error}") from None
            self._connections[threading.get_ident()] = (threading.current_thread(), conn)
        self._local.conn = conn
        return conn

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction: BEGIN IMMEDIATE for writers, a consistent snapshot for readers."""
        conn = self._connection()
        lock = self._write_lock if write else None
        if lock is not None:
            lock.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            raise SearchError(f"embedded search store {self._path}: {error}") from error
        finally:
            if lock is not None:
                lock.release()

    # --- Schema and tables ---------------------------------------------------------------

    def _schema(self, conn: sqlite3.Connection, index: str) -> _Schema:
        row = conn.execute("SELECT tid, schema FROM sc_indices WHERE name = ?", (index,)).fetchone()
        if row is None:
            raise UnknownIndexError(
                f"search index {index!r} does not exist (create it with ensure_index)"
            )
        return self._parse_schema(row[0], row[1])

    def _parse_schema(self, tid: int, text: str) -> _Schema:
        key = (tid, text)
        schema = self._schemas.get(key)
        if schema is None:
            raw = json.loads(text)
            fields = {name: FieldKind(kind) for name, kind in raw["fields"].items()}
            schema = _Schema(tid, fields, list(raw["text_columns"]))
            self._schemas[key] = schema
        return schema

    @staticmethod
    def _create_tables(conn: sqlite3.Connection, schema: _Schema) -> None:
        tables = _Tables(schema.tid)
        conn.execute(
            f"CREATE TABLE {tables.docs} ("
            " rid INTEGER PRIMARY KEY,"
            " id TEXT NOT NULL UNIQUE,"
            " version INTEGER,"
            " body TEXT NOT NULL)"
        )
        conn.execute(
            f"CREATE TABLE {tables.values} ("
            " rid INTEGER NOT NULL,"
            " field TEXT NOT NULL,"
            " value NOT NULL,"
            " PRIMARY KEY (rid, field, value)) WITHOUT ROWID"
        )
        conn.execute(
            f'CREATE INDEX "sc_v{schema.tid}_by_value" ON {tables.values} (field, value, rid)'
        )
        _create_fts(conn, schema)

    @staticmethod
    def _rebuild(conn: sqlite3.Connection, schema: _Schema) -> None:
        """Re-derive the FTS and value tables from the stored bodies (after a schema change)."""
        tables = _Tables(schema.tid)
        conn.execute(f"DROP TABLE IF EXISTS {tables.fts}")
        _create_fts(conn, schema)
        conn.execute(f"DELETE FROM {tables.values}")
        for rid, body in conn.execute(f"SELECT rid, body FROM {tables.docs}").fetchall():
            # Lenient: a stored document with a bad value in a new field keeps the rest.
            texts, values = _extract(schema, _loads(body), lenient=True)
            _insert_derived(conn, tables, rid, texts, values)


# --- Schema ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Schema:
    tid: int
    fields: dict[str, FieldKind]
    text_columns: list[str]  # FTS5 column i holds TEXT field text_columns[i]

    def dumps(self) -> str:
        fields = {name: kind.value for name, kind in self.fields.items()}
        return json.dumps({"fields": fields, "text_columns": self.text_columns}, sort_keys=True)


@dataclass(frozen=True, slots=True)
class _Tables:
    tid: int

    @property
    def docs(self) -> str:
        return f'"sc_d{self.tid}"'

    @property
    def fts(self) -> str:
        return f'"sc_f{self.tid}"'

    @property
    def values(self) -> str:
        return f'"sc_v{self.tid}"'


def _create_fts(conn: sqlite3.Connection, schema: _Schema) -> None:
    # FTS5 needs at least one column, even for an index without TEXT fields.
    columns = ", ".join(f"c{i}" for i in range(max(1, len(schema.text_columns))))
    conn.execute(
        f"CREATE VIRTUAL TABLE {_Tables(schema.tid).fts} USING fts5("
        f"{columns}, tokenize = '{TOKENIZER}')"
    )


def check_index_name(name: str) -> None:
    if not isinstance(name, str) or _INDEX_NAME.fullmatch(name) is None:
        raise SearchError(
            f"invalid search index name {name!r}: use 1-200 characters from a-z, 0-9, '.', "
            "'_' and '-', starting with a letter or digit"
        )


def schema_fields(schema: IndexSchema) -> dict[str, FieldKind]:
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


# --- Documents ---------------------------------------------------------------------------


class DocumentError(Exception):
    """One document cannot be indexed; the message says why."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    id: str
    version: int | None
    body: str
    texts: list[str | None]
    values: list[tuple[str, object]]


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


def _prepare(schema: _Schema, document: IndexedDocument) -> _Prepared:
    body = serialise_document(document)
    texts, values = _extract(schema, json.loads(body), lenient=False)
    return _Prepared(document.id, document.version, body, texts, values)


def _write(conn: sqlite3.Connection, tables: _Tables, doc: _Prepared) -> None:
    """Insert or replace one document; skip it if its version is older than the stored one.

    Versions follow Elasticsearch: a versioned write needs version >= the stored one
    (``external_gte``); an unversioned write always wins and bumps the stored version by one.
    """
    row = conn.execute(f"SELECT rid, version FROM {tables.docs} WHERE id = ?", (doc.id,)).fetchone()
    if row is None:
        version = 1 if doc.version is None else doc.version
        cursor = conn.execute(
            f"INSERT INTO {tables.docs} (id, version, body) VALUES (?, ?, ?)",
            (doc.id, version, doc.body),
        )
        rid = cursor.lastrowid
        assert rid is not None
    else:
        rid, stored = row
        if doc.version is not None and stored is not None and doc.version < stored:
            return  # stale: a newer snapshot is already indexed
        version = (stored or 0) + 1 if doc.version is None else doc.version
        conn.execute(
            f"UPDATE {tables.docs} SET version = ?, body = ? WHERE rid = ?",
            (version, doc.body, rid),
        )
        conn.execute(f"DELETE FROM {tables.fts} WHERE rowid = ?", (rid,))
        conn.execute(f"DELETE FROM {tables.values} WHERE rid = ?", (rid,))
    _insert_derived(conn, tables, rid, doc.texts, doc.values)


def _insert_derived(
    conn: sqlite3.Connection,
    tables: _Tables,
    rid: int,
    texts: list[str | None],
    values: list[tuple[str, object]],
) -> None:
    if any(text is not None for text in texts):
        marks = ", ".join("?" for _ in texts)
        columns = ", ".join(f"c{i}" for i in range(len(texts)))
        conn.execute(
            f"INSERT INTO {tables.fts} (rowid, {columns}) VALUES (?, {marks})", (rid, *texts)
        )
    if values:
        conn.executemany(
            f"INSERT OR IGNORE INTO {tables.values} (rid, field, value) VALUES (?, ?, ?)",
            [(rid, field, value) for field, value in values],
        )


def _extract(
    schema: _Schema, body: Mapping[str, Any], *, lenient: bool
) -> tuple[list[str | None], list[tuple[str, object]]]:
    """The FTS column texts and the normalised filter values of one body."""
    texts: list[str | None] = []
    for field in schema.text_columns:
        try:
            parts = [_text_value(field, v) for v in _field_values(body, field)]
        except DocumentError:
            if not lenient:
                raise
            parts = []
        texts.append("\n".join(parts).translate(_FOLD_EXTRA) if parts else None)
    values: list[tuple[str, object]] = []
    for field, kind in schema.fields.items():
        if kind is FieldKind.TEXT:
            continue
        try:
            values.extend((field, _index_value(field, kind, v)) for v in _field_values(body, field))
        except DocumentError:
            if not lenient:
                raise
    return texts, values


def _field_values(body: Mapping[str, Any], path: str) -> list[Any]:
    """The values at a (possibly dotted) field path, arrays flattened, nulls dropped.

    Like Elasticsearch, ``{"a": {"b": 1}}``, ``{"a.b": 1}`` and ``{"a": [{"b": 1}]}`` all
    hold 1 at ``a.b``.
    """
    found: list[Any] = []
    _collect(body, path.split("."), found)
    return found


def _collect(node: Any, parts: list[str], found: list[Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, parts, found)
    elif not parts:
        if node is not None:
            found.append(node)
    elif isinstance(node, Mapping):
        for i in range(1, len(parts) + 1):
            key = ".".join(parts[:i])
            if key in node:
                _collect(node[key], parts[i:], found)


def _text_value(field: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    raise DocumentError(f"field {field!r} is text but holds {_describe(value)}")


def _index_value(field: str, kind: FieldKind, value: Any) -> object:
    """A document value as stored for filters and sorting; DocumentError if it cannot be."""
    try:
        return _normalise(kind, value)
    except ValueError as error:
        raise DocumentError(f"field {field!r} is {kind.value}: {error}") from None


def _normalise(kind: FieldKind, value: Any) -> object:
    """Normalise a value of a KEYWORD/DATE/NUMBER/BOOLEAN field as Elasticsearch indexes it."""
    if kind is FieldKind.KEYWORD:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return json.dumps(value)
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
    raise ValueError(f"cannot index {_describe(value)}")


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
    raise ValueError(f"{_describe(value)} is not an ISO 8601 date or epoch milliseconds")


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _loads(body: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(body)
    return document


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
        raise InvalidQueryError(f"text must be a string, not {_describe(text)}")
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
class _SearchPlan:
    count_sql: str
    page_sql: str
    params: list[object]
    order_params: list[object]


def _plan_search(schema: _Schema, query: SearchQuery) -> _SearchPlan | None:
    """The SQL for a query, or None when it cannot match anything."""
    checked = check_query(schema.fields, query)
    tables = _Tables(schema.tid)
    where: list[str] = []
    params: list[object] = []
    source = f"{tables.docs} AS d"
    score = "0.0"
    has_relevance = False

    if checked.text is not None:
        match = parse_simple_query(checked.text)
        if match.kind == "none":
            return None
        if match.kind == "pos":
            source = f"{tables.fts} JOIN {tables.docs} AS d ON d.rid = {tables.fts}.rowid"
            where.append(f"{tables.fts} MATCH ?")
            params.append(match.expression)
            score = f"-bm25({tables.fts})"
            has_relevance = True
        else:
            score = "1.0"
            if match.kind == "neg":
                where.append(
                    f"d.rid NOT IN (SELECT rowid FROM {tables.fts} WHERE {tables.fts} MATCH ?)"
                )
                params.append(match.expression)

    for field, _kind, values in checked.filters:
        if not values:
            return None  # an empty any-of matches nothing, as ES's terms query
        marks = ", ".join("?" for _ in values)
        where.append(
            f"d.rid IN (SELECT rid FROM {tables.values} WHERE field = ? AND value IN ({marks}))"
        )
        params.extend([field, *values])

    order: list[str] = []
    order_params: list[object] = []
    for field, direction in checked.sort:
        # A multi-valued field sorts by its min (asc) or max (desc), missing values last.
        aggregate = "MIN" if direction == "asc" else "MAX"
        order.append(
            f"(SELECT {aggregate}(value) FROM {tables.values} AS v "
            f"WHERE v.rid = d.rid AND v.field = ?) {direction.upper()} NULLS LAST"
        )
        order_params.append(field)
    if not order and has_relevance:
        order.append("score DESC")
    order.append("d.id DESC")

    condition = " AND ".join(where) or "1"
    return _SearchPlan(
        count_sql=f"SELECT count(*) FROM {source} WHERE {condition}",
        page_sql=(
            f"SELECT d.id, d.body, {score} AS score FROM {source} WHERE {condition} "
            f"ORDER BY {', '.join(order)} LIMIT ? OFFSET ?"
        ),
        params=params,
        order_params=order_params,
    )


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
            raise InvalidQueryError(f"filter on {field!r}: bad value {_describe(value)}")
    return values


def _filter_value(field: str, kind: FieldKind, value: object) -> object:
    if kind is FieldKind.BOOLEAN and value not in ("true", "false", True, False):
        raise InvalidQueryError(f"filter on boolean field {field!r}: expected 'true' or 'false'")
    try:
        return _normalise(kind, value)
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


# --- simple_query_string -> FTS5 ---------------------------------------------------------
#
# A port of Lucene's SimpleQueryParser (what Elasticsearch's simple_query_string runs), left
# to right with no operator precedence, lenient: it never fails. Each clause becomes a set of
# documents in a small algebra: ("pos", e) = documents matching FTS5 expression e, ("neg", e)
# = all documents except those, plus "all" and "none". Lucene's "-x" is "all except x", so
# every combination stays expressible with FTS5's binary NOT.


@dataclass(frozen=True, slots=True)
class FtsNode:
    """An FTS5 expression: a quoted leaf, or AND/OR over children, or NOT (children[0] minus
    children[1]). `depth` is the nesting of parentheses in its rendering, which FTS5 limits."""

    op: str
    leaf: str = ""
    children: tuple[FtsNode, ...] = ()
    depth: int = dataclass_field(init=False)

    def __post_init__(self) -> None:
        own = {"leaf": 0, "NOT": 2}.get(self.op, 1)  # the parentheses render() adds
        depth = own + max((child.depth for child in self.children), default=0)
        if depth > MAX_EXPRESSION_DEPTH:
            raise InvalidQueryError(
                "the search text is too complex (too many alternating operators): simplify it"
            )
        object.__setattr__(self, "depth", depth)

    def render(self) -> str:
        # Iterative, so that a deep expression cannot exhaust Python's recursion limit.
        parts: list[str] = []
        stack: list[FtsNode | str] = [self]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                parts.append(item)
            elif item.op == "leaf":
                parts.append(item.leaf)
            elif item.op == "NOT":
                left, right = item.children
                stack.extend(["))", right, ") NOT (", left, "(("])
            else:
                pieces: list[FtsNode | str] = ["("]
                for i, child in enumerate(item.children):
                    pieces.extend([f" {item.op} ", child] if i else [child])
                pieces.append(")")
                stack.extend(reversed(pieces))
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class TextMatch:
    """The compiled free text: 'pos' (the documents matching `node`), 'neg' (all documents
    except those), 'all' or 'none'."""

    kind: str
    node: FtsNode | None = None

    @property
    def expression(self) -> str:
        assert self.node is not None
        return self.node.render()


_ALL = TextMatch("all")
_NONE = TextMatch("none")
_WHITESPACE = " \t\n\r"
_TERM_END = '"|+()' + _WHITESPACE
_MAX_DEPTH = 32  # deeper parentheses are treated as plain characters


def parse_simple_query(text: str) -> TextMatch:
    """Compile simple_query_string syntax (default operator AND) to an FTS5 plan."""
    text = text.replace("\x00", " ")
    if text.strip() == "*":
        return _ALL  # Elasticsearch matches every document for a lone "*"
    parsed = _Parser(text).parse(0, len(text), 0)
    if parsed is None:
        return _NONE
    return parsed


_Add = Callable[[TextMatch | None], None]


class _Parser:
    def __init__(self, data: str) -> None:
        self.data = data

    def parse(self, start: int, end: int, depth: int) -> TextMatch | None:
        data = self.data
        top: TextMatch | None = None
        operation: str | None = None
        negations = 0
        i = start

        def add(branch: TextMatch | None) -> None:
            nonlocal top, operation
            if branch is None:
                return
            if negations % 2 == 1:
                branch = _negate(branch)
            if top is None:
                top = branch
            elif operation == "or":
                top = _union(top, branch)
            else:
                top = _intersect(top, branch)
            operation = None

        while i < end:
            char = data[i]
            if char == "(" and depth < _MAX_DEPTH:
                close = self._closing_parenthesis(i + 1, end)
                if close is None:
                    i += 1  # never closed: the "(" is ignored
                elif close == i + 1:
                    operation = None
                    i = close + 1
                else:
                    add(self.parse(i + 1, close, depth + 1))
                    i = close + 1
            elif char in "()":
                i += 1  # extraneous
            elif char == '"':
                i = self._phrase(i, end, add)
                if i < 0:  # an empty phrase "" resets the pending operator, as in Lucene
                    i = -i
                    operation = None
            elif char == "+":
                if operation is None and top is not None:
                    operation = "and"
                i += 1
            elif char == "|":
                if operation is None and top is not None:
                    operation = "or"
                i += 1
            elif char == "-":
                negations += 1
                i += 1
                continue
            elif char in _WHITESPACE:
                i += 1
            else:
                i = self._term(i, end, add)
            negations = 0
        return top

    def _closing_parenthesis(self, start: int, end: int) -> int | None:
        data, level, escaped, j = self.data, 1, False, start
        while j < end:
            char = data[j]
            if not escaped:
                if char == "\\":
                    escaped = True
                    j += 1
                    continue
                if char == "(":
                    level += 1
                elif char == ")":
                    level -= 1
                    if level == 0:
                        return j
            escaped = False
            j += 1
        return None

    def _phrase(self, i: int, end: int, add: _Add) -> int:
        """Consume a quoted phrase at i; the next index (negated if the phrase was empty)."""
        data, start, j = self.data, i + 1, i + 1
        chars: list[str] = []
        escaped = has_slop = False
        while j < end:
            char = data[j]
            if not escaped:
                if char == "\\":
                    escaped = True
                    j += 1
                    continue
                if char == '"':
                    if j + 1 < end and data[j + 1] == "~":
                        j += 1
                        has_slop = j + 1 < end
                    break
            escaped = False
            chars.append(char)
            j += 1
        if j >= end:
            return start  # never closed: the '"' is ignored
        if j == start:
            return -(j + 1)
        slop = 0
        if has_slop:
            slop, j = self._fuzziness(j, end)
        add(_phrase_match("".join(chars), slop))
        return j + 1

    def _term(self, i: int, end: int, add: _Add) -> int:
        data, j = self.data, i
        chars: list[str] = []
        escaped = prefix = fuzzy = False
        while j < end:
            char = data[j]
            if not escaped:
                if char == "\\":
                    escaped = True
                    prefix = False
                    j += 1
                    continue
                if char in _TERM_END:
                    break
                if chars and char == "~":
                    fuzzy = True
                    break
                prefix = bool(chars) and char == "*"
            escaped = False
            chars.append(char)
            j += 1
        if not chars:
            return max(j, i + 1)
        if fuzzy:
            _, j = self._fuzziness(j, end)  # fuzziness is not supported: an exact term
            add(_term_match("".join(chars)))
        elif prefix:
            add(_prefix_match("".join(chars[:-1])))
        else:
            add(_term_match("".join(chars)))
        return j

    def _fuzziness(self, j: int, end: int) -> tuple[int, int]:
        """Parse "~N" at j; (N, index where it stopped), Lucene's defaults for bad input."""
        data, digits = self.data, []
        while j < end:
            j += 1
            if j < end:
                if data[j] in _TERM_END:
                    break
                digits.append(data[j])
        text = "".join(digits)
        try:
            value = 2 if not text else int(text)
        except ValueError:
            value = 0
        return max(value, 0), j


def _has_token(text: str) -> bool:
    return any(char.isalnum() for char in text)


def _quote(text: str) -> str:
    return '"' + text.translate(_FOLD_EXTRA).replace('"', '""') + '"'


def _leaf(expression: str) -> TextMatch:
    return TextMatch("pos", FtsNode("leaf", leaf=expression))


def _term_match(text: str) -> TextMatch | None:
    # A term that analyses to no token is dropped, as in Lucene. A term FTS5 splits into
    # several tokens ("e-mail", "3.5") becomes a phrase of them.
    return _leaf(_quote(text)) if _has_token(text) else None


def _prefix_match(text: str) -> TextMatch:
    return _leaf(_quote(text) + "*") if _has_token(text) else _NONE


def _phrase_match(text: str, slop: int) -> TextMatch | None:
    if not _has_token(text):
        return None
    tokens = re.findall(r"[^\W_]+", text)
    if slop > 0 and len(tokens) > 1:
        return _leaf(f"NEAR({' '.join(_quote(t) for t in tokens)}, {slop})")
    return _leaf(_quote(text))


def _negate(match: TextMatch) -> TextMatch:
    if match.kind == "pos":
        return TextMatch("neg", match.node)
    if match.kind == "neg":
        return TextMatch("pos", match.node)
    return _NONE if match.kind == "all" else _ALL


def _intersect(a: TextMatch, b: TextMatch) -> TextMatch:
    if a.kind == "none" or b.kind == "none":
        return _NONE
    if a.kind == "all":
        return b
    if b.kind == "all":
        return a
    assert a.node is not None and b.node is not None
    if a.kind == "pos" and b.kind == "pos":
        return TextMatch("pos", _combine("AND", a.node, b.node))
    if a.kind == "neg" and b.kind == "neg":
        return TextMatch("neg", _combine("OR", a.node, b.node))
    positive, negative = (a.node, b.node) if a.kind == "pos" else (b.node, a.node)
    return TextMatch("pos", FtsNode("NOT", children=(positive, negative)))


def _union(a: TextMatch, b: TextMatch) -> TextMatch:
    if a.kind == "all" or b.kind == "all":
        return _ALL
    if a.kind == "none":
        return b
    if b.kind == "none":
        return a
    assert a.node is not None and b.node is not None
    if a.kind == "pos" and b.kind == "pos":
        return TextMatch("pos", _combine("OR", a.node, b.node))
    if a.kind == "neg" and b.kind == "neg":
        return TextMatch("neg", _combine("AND", a.node, b.node))
    positive, negative = (a.node, b.node) if a.kind == "pos" else (b.node, a.node)
    # P or not N = not (N and not P)
    return TextMatch("neg", FtsNode("NOT", children=(negative, positive)))


def _combine(op: str, left: FtsNode, right: FtsNode) -> FtsNode:
    """``left op right``, flattening runs of the same operator to keep the expression shallow."""
    children: list[FtsNode] = []
    for side in (left, right):
        children.extend(side.children if side.op == op else (side,))
    return FtsNode(op, children=tuple(children))
