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

Documents and queries are checked by ``schema`` (as in the Elasticsearch backend); free text
is Elasticsearch's ``simple_query_string`` (``default_operator: and`` over every TEXT field),
translated to an FTS5 expression by ``fts_query``, which lists where the two differ.
Relevance is FTS5's bm25.

Writes are visible to ``search`` as soon as ``upsert`` returns; ``refresh`` is a no-op.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from socialcare.core.search.base import (
    CountBucket,
    CountQuery,
    CountResult,
    DocumentRejectedError,
    FieldKind,
    IndexedDocument,
    IndexSchema,
    SearchError,
    SearchHit,
    SearchIndex,
    SearchQuery,
    SearchResult,
    UnknownIndexError,
)
from socialcare.core.search.counting import QUARTER_MS, CheckedCount, check_count
from socialcare.core.search.fts_query import fold_text, parse_simple_query
from socialcare.core.search.schema import (
    DocumentError,
    check_delete,
    check_index_name,
    check_query,
    describe_value,
    keyword_text,
    merge_schemas,
    normalise_value,
    schema_fields,
    serialise_document,
)

__all__ = ["EmbeddedSearchIndex"]

FILE_NAME: Final = "search.sqlite3"
BUSY_TIMEOUT_SECONDS: Final = 30.0
TOKENIZER: Final = "unicode61 remove_diacritics 2"


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
        """Refuses, as Elasticsearch does, a document whose id, body or field values the
        schema cannot take (`DocumentRejectedError`, the others written); an SQLite failure
        is a plain `SearchError` and writes nothing (one transaction)."""
        rejected: dict[str, str] = {}
        with self._transaction(write=True) as conn:
            schema = self._schema(conn, index)
            tables = _Tables(schema.tid)
            for document in documents:
                try:
                    prepared = _prepare(schema, document)
                except DocumentError as error:
                    rejected.setdefault(str(document.id), str(error))
                    continue
                _write(conn, tables, prepared)
        if rejected:
            raise DocumentRejectedError(index, rejected)

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

    def count(self, index: str, query: CountQuery) -> CountResult:
        """One grouped query: per value of `by` (LEFT JOIN: no value is the None key), and
        with an interval per quarter hour of the date first, then summed into the
        intervals (they start on quarter hours, see `counting`)."""
        with self._transaction(write=False) as conn:
            schema = self._schema(conn, index)
            checked = check_count(schema.fields, query)
            tables = _Tables(schema.tid)
            condition = _count_condition(tables, checked)
            if condition is None:
                return CountResult(total=0, buckets=[])
            where, params = condition
            (total,) = conn.execute(
                f"SELECT count(*) FROM {tables.docs} AS d WHERE {where}", params
            ).fetchone()
            if checked.intervals is None:
                rows = conn.execute(
                    f"SELECT k.value, NULL, count(*) FROM {tables.docs} AS d "
                    f"LEFT JOIN {tables.values} AS k ON k.rid = d.rid AND k.field = ? "
                    f"WHERE {where} GROUP BY k.value",
                    [checked.by, *params],
                ).fetchall()
            else:
                quarter = f"t.value - ((t.value % {QUARTER_MS}) + {QUARTER_MS}) % {QUARTER_MS}"
                rows = conn.execute(
                    f"SELECT k.value, {quarter} AS q, count(*) FROM {tables.docs} AS d "
                    f"JOIN {tables.values} AS t ON t.rid = d.rid AND t.field = ? "
                    "AND t.value >= ? AND t.value < ? "
                    f"LEFT JOIN {tables.values} AS k ON k.rid = d.rid AND k.field = ? "
                    f"WHERE {where} GROUP BY k.value, q",
                    [checked.date_field, checked.since, checked.until, checked.by, *params],
                ).fetchall()
        return CountResult(total=int(total), buckets=_count_buckets(checked, rows))

    def delete(self, index: str, ids: Sequence[str]) -> int:
        with self._transaction(write=True) as conn:
            tables = _Tables(self._schema(conn, index).tid)
            rids = [
                row[0]
                for doc_id in dict.fromkeys(ids)
                for row in conn.execute(f"SELECT rid FROM {tables.docs} WHERE id = ?", (doc_id,))
            ]
            _delete_rows(conn, tables, rids)
        return len(rids)

    def delete_where(
        self,
        index: str,
        filters: Mapping[str, str | Sequence[str]],
        *,
        date_field: str | None = None,
        before: str | None = None,
    ) -> int:
        with self._transaction(write=True) as conn:
            schema = self._schema(conn, index)
            checked = check_delete(schema.fields, filters, date_field, before)
            tables = _Tables(schema.tid)
            where: list[str] = []
            params: list[object] = []
            for field, _kind, values in checked.filters:
                if not values:
                    return 0  # an empty any-of matches nothing
                marks = ", ".join("?" for _ in values)
                where.append(
                    f"d.rid IN (SELECT rid FROM {tables.values} "
                    f"WHERE field = ? AND value IN ({marks}))"
                )
                params.extend([field, *values])
            if checked.before is not None:
                # A multi-valued date counts by its latest value: all of it must be older.
                where.append(
                    f"(SELECT MAX(value) FROM {tables.values} AS v "
                    "WHERE v.rid = d.rid AND v.field = ?) < ?"
                )
                params.extend(checked.before)
            rids = [
                row[0]
                for row in conn.execute(
                    f"SELECT d.rid FROM {tables.docs} AS d WHERE {' AND '.join(where)}", params
                )
            ]
            _delete_rows(conn, tables, rids)
        return len(rids)

    def refresh(self, index: str) -> None:
        with self._transaction(write=False) as conn:
            self._schema(conn, index)  # only to raise UnknownIndexError

    def delete_index(self, index: str) -> None:
        try:
            check_index_name(index)
        except SearchError:
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


# --- Documents ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prepared:
    id: str
    version: int | None
    body: str
    texts: list[str | None]
    values: list[tuple[str, object]]


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


def _delete_rows(conn: sqlite3.Connection, tables: _Tables, rids: Sequence[int]) -> None:
    """Delete documents by row id, with their FTS row and filter values."""
    for start in range(0, len(rids), 500):
        chunk = list(rids[start : start + 500])
        marks = ", ".join("?" for _ in chunk)
        conn.execute(f"DELETE FROM {tables.fts} WHERE rowid IN ({marks})", chunk)
        conn.execute(f"DELETE FROM {tables.values} WHERE rid IN ({marks})", chunk)
        conn.execute(f"DELETE FROM {tables.docs} WHERE rid IN ({marks})", chunk)


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
        texts.append(fold_text("\n".join(parts)) if parts else None)
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
    try:
        return keyword_text(value)
    except ValueError:
        raise DocumentError(f"field {field!r} is text but holds {describe_value(value)}") from None


def _index_value(field: str, kind: FieldKind, value: Any) -> object:
    """A document value as stored for filters and sorting; DocumentError if it cannot be."""
    try:
        return normalise_value(kind, value)
    except ValueError as error:
        raise DocumentError(f"field {field!r} is {kind.value}: {error}") from None


def _loads(body: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(body)
    return document


# --- Counts ------------------------------------------------------------------------------


def _count_condition(tables: _Tables, checked: CheckedCount) -> tuple[str, list[object]] | None:
    """The WHERE clause (on documents `d`) of a count, or None when it matches nothing."""
    where: list[str] = []
    params: list[object] = []
    for field, _kind, values in checked.filters:
        if not values:
            return None  # an empty any-of matches nothing, as in searches
        marks = ", ".join("?" for _ in values)
        where.append(
            f"d.rid IN (SELECT rid FROM {tables.values} WHERE field = ? AND value IN ({marks}))"
        )
        params.extend([field, *values])
    if checked.since is not None or checked.until is not None:
        bounds = ["field = ?"]
        params.append(checked.date_field)
        if checked.since is not None:
            bounds.append("value >= ?")
            params.append(checked.since)
        if checked.until is not None:
            bounds.append("value < ?")
            params.append(checked.until)
        where.append(f"d.rid IN (SELECT rid FROM {tables.values} WHERE {' AND '.join(bounds)})")
    return " AND ".join(where) or "1", params


def _count_buckets(
    checked: CheckedCount, rows: Sequence[tuple[Any, Any, int]]
) -> list[CountBucket]:
    """The rows (key, quarter hour or None, count) summed per (key, interval), sorted."""
    intervals = checked.intervals
    sums: dict[tuple[str | None, int | None], int] = {}
    for key, quarter, number in rows:
        position = None if intervals is None else intervals.index_of(int(quarter))
        if intervals is not None and position is None:
            continue  # outside the intervals: cannot be, since they cover the window
        slot = (None if key is None else str(key), position)
        sums[slot] = sums.get(slot, 0) + int(number)
    ordered = sorted(
        sums.items(), key=lambda item: (item[0][0] is None, item[0][0] or "", item[0][1] or 0)
    )
    return [
        CountBucket(
            key=key,
            start=None if intervals is None or position is None else intervals.start_of(position),
            count=number,
        )
        for (key, position), number in ordered
    ]


# --- Queries -----------------------------------------------------------------------------


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
