"""The Elasticsearch 8.x search backend, on the official ``elasticsearch`` client.

Index ``<name>`` lives in Elasticsearch as ``<index_prefix><name>``: one shard, no replicas,
``dynamic: false`` (fields outside the schema are kept in ``_source`` but not indexed), the
schema in the mapping's ``_meta`` (so another process can validate queries without having
called ``ensure_index``). TEXT fields use the ``socialcare_text`` analyzer (standard tokenizer,
lowercase, asciifolding: "cafe" finds "café"); KEYWORD is ``keyword``, DATE ``date``, NUMBER
``double`` and BOOLEAN ``boolean``.

Every document also gets ``_sc_id``, a keyword copy of its id: Elasticsearch 8 refuses to
sort on ``_id``, and hits without text or sort come newest id first. It is removed from the
documents this class returns.

Documents and queries are validated exactly as by the embedded store (``schema``: the same
``serialise_document`` and ``check_query``); a query is then sent as one ``bool`` query:
``simple_query_string`` over every TEXT field with ``default_operator: and``, ``term``/
``terms`` filters, the requested sort (then ``_sc_id`` descending as a tie-breaker),
``from``/``size`` and ``track_total_hits``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, Elasticsearch, NotFoundError

from socialcare.core.search.base import (
    CountBucket,
    CountQuery,
    CountResult,
    DocumentRejectedError,
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
from socialcare.core.search.counting import CheckedCount, check_count
from socialcare.core.search.schema import (
    DocumentError,
    check_delete,
    check_index_name,
    check_query,
    merge_schemas,
    schema_fields,
    serialise_document,
)

__all__ = ["ElasticsearchIndex"]

ID_FIELD: Final = "_sc_id"
ANALYZER: Final = "socialcare_text"
META_KEY: Final = "socialcare"
BULK_MAX_DOCS: Final = 1000
BULK_MAX_BYTES: Final = 8 * 1024 * 1024
# Buckets per page of a composite aggregation (below search.max_buckets, 65,536).
COUNT_PAGE: Final = 1000
_CALENDAR: Final = {"day": "1d", "week": "1w", "month": "1M"}
_Checked = TypeVar("_Checked")

_PREFIX: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,50}")
_MAPPING_TYPES: Final[Mapping[FieldKind, Mapping[str, str]]] = {
    FieldKind.TEXT: {"type": "text", "analyzer": ANALYZER},
    FieldKind.KEYWORD: {"type": "keyword"},
    FieldKind.DATE: {"type": "date"},
    FieldKind.NUMBER: {"type": "double"},
    FieldKind.BOOLEAN: {"type": "boolean"},
}
_KINDS_BY_TYPE: Final = {spec["type"]: kind for kind, spec in _MAPPING_TYPES.items()}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SETTINGS: Final = {
    "number_of_shards": 1,
    "number_of_replicas": 0,
    "analysis": {
        "analyzer": {
            ANALYZER: {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding"],
            }
        }
    },
}


class ElasticsearchIndex(SearchIndex):
    """:class:`SearchIndex` on an Elasticsearch 8.x cluster; see the module docstring.

    Thread-safe: the client keeps a connection pool, and the schema cache has a lock.
    """

    def __init__(
        self,
        url: str,
        *,
        index_prefix: str = "socialcare-",
        request_timeout: float = 10.0,
        basic_auth: tuple[str, str] | None = None,
        ca_certs: str | None = None,
    ) -> None:
        """`basic_auth` (user, password) and `ca_certs` (a CA bundle file, e.g. ECK's
        self-signed CA) are passed to the client only when given."""
        if index_prefix and _PREFIX.fullmatch(index_prefix) is None:
            raise SearchError(
                f"invalid index_prefix {index_prefix!r}: use a-z, 0-9, '.', '_' and '-', "
                "starting with a letter or digit"
            )
        self._url = url
        self._where = _redact(url)
        self._prefix = index_prefix
        self._timeout = request_timeout
        options: dict[str, Any] = {}
        if basic_auth is not None:
            options["basic_auth"] = basic_auth
        if ca_certs is not None:
            options["ca_certs"] = ca_certs
        self._client = Elasticsearch(url, request_timeout=request_timeout, max_retries=1, **options)
        self._lock = threading.Lock()
        self._schemas: dict[str, dict[str, FieldKind]] = {}

    @property
    def client(self) -> Elasticsearch:
        """The underlying client (for operations outside the SearchIndex contract)."""
        return self._client

    def real_name(self, index: str) -> str:
        """The Elasticsearch index that holds `index`."""
        return self._prefix + index

    # --- SearchIndex ---------------------------------------------------------------------

    def ensure_index(self, name: str, schema: IndexSchema) -> None:
        check_index_name(name)
        wanted = schema_fields(schema)
        real = self.real_name(name)
        with self._calls(f"creating index {real}"):
            try:
                self._client.indices.create(
                    index=real, settings=_SETTINGS, mappings=_mappings(wanted)
                )
            except ApiError as error:
                if _error_type(error) != "resource_already_exists_exception":
                    raise
            else:
                self._remember(name, wanted)
                return
        current = self._load_schema(name)
        merged = merge_schemas(name, current, wanted)
        added = {field: kind for field, kind in merged.items() if field not in current}
        if added:
            with self._calls(f"adding fields {sorted(added)} to index {real}"):
                self._client.indices.put_mapping(
                    index=real,
                    properties={field: dict(_MAPPING_TYPES[kind]) for field, kind in added.items()},
                    meta=_meta(merged),
                )
            self._remember(name, merged)
            self._reindex_in_place(name)
        else:
            self._remember(name, current)

    def upsert(self, index: str, documents: Sequence[IndexedDocument]) -> None:
        """Bulk requests of at most `BULK_MAX_DOCS` documents and about `BULK_MAX_BYTES`.

        A bulk item refused with a 4xx status (other than 409, a stale version skipped by
        design, and 429, the node too busy) is the document's fault: a value that does not
        fit its mapped field (`document_parsing_exception`, `mapper_parsing_exception`),
        `illegal_argument_exception`, and so on; so is a document the client-side checks
        refuse, and one too large for the node on its own (413). Those end in
        `DocumentRejectedError` once every other document is written. A 429 or 5xx item,
        or a failed request, is an outage: plain `SearchError`, at once (the caller writes
        the batch again)."""
        self._fields(index)  # UnknownIndexError rather than letting bulk auto-create it
        rejected: dict[str, str] = {}
        batch: list[tuple[dict[str, Any], str]] = []
        batch_bytes = 0
        for document in documents:
            try:
                line = _source_line(document)
            except DocumentError as error:
                rejected.setdefault(str(document.id), str(error))
                continue
            action: dict[str, Any] = {"_index": self.real_name(index), "_id": document.id}
            if document.version is not None:
                action.update(version=document.version, version_type="external_gte")
            batch.append(({"index": action}, line))
            batch_bytes += len(line)
            if len(batch) >= BULK_MAX_DOCS or batch_bytes >= BULK_MAX_BYTES:
                self._bulk(index, batch, rejected)
                batch, batch_bytes = [], 0
        if batch:
            self._bulk(index, batch, rejected)
        if rejected:
            raise DocumentRejectedError(index, rejected)

    def get(self, index: str, doc_id: str) -> dict[str, Any] | None:
        real = self._existing_name(index)
        if not isinstance(doc_id, str) or not doc_id:
            self._fields(index)
            return None
        with self._calls(f"getting {doc_id!r} from index {real}", index=index):
            try:
                response = self._client.get(index=real, id=doc_id)
            except NotFoundError as error:
                if _error_type(error) == "index_not_found_exception":
                    raise
                return None
        return _document(response["_source"])

    def search(self, index: str, query: SearchQuery) -> SearchResult:
        fields, checked = self._checked(index, lambda known: check_query(known, query))
        clauses = _filter_clauses(checked.filters)
        if clauses is None:
            return SearchResult(total=0, hits=[])  # as the embedded store
        must: list[dict[str, Any]] = []
        if checked.text is not None:
            text_fields = [field for field, kind in fields.items() if kind is FieldKind.TEXT]
            must.append(
                {
                    "simple_query_string": {
                        "query": checked.text,
                        "fields": text_fields,
                        "default_operator": "and",
                    }
                }
            )
        es_query: dict[str, Any] = (
            {"bool": {"must": must, "filter": clauses}} if must or clauses else {"match_all": {}}
        )
        sort: list[Any] = [
            {field: {"order": direction, "missing": "_last"}} for field, direction in checked.sort
        ]
        if not sort and checked.text is not None:
            sort.append("_score")
        sort.append({ID_FIELD: {"order": "desc"}})
        real = self.real_name(index)
        with self._calls(f"searching index {real}", index=index):
            response = self._client.search(
                index=real,
                query=es_query,
                sort=sort,
                from_=query.offset,
                size=query.limit,
                track_total_hits=True,
                track_scores=checked.text is not None,
            )
        hits = [
            SearchHit(
                id=hit["_id"],
                score=float(hit.get("_score") or 0.0) if checked.text is not None else 0.0,
                document=_document(hit["_source"]),
            )
            for hit in response["hits"]["hits"]
        ]
        return SearchResult(total=int(response["hits"]["total"]["value"]), hits=hits)

    def count(self, index: str, query: CountQuery) -> CountResult:
        """A `composite` aggregation (terms on `by` with a missing bucket, then a
        `date_histogram` with the calendar interval and time zone), paged with `after`
        until Elasticsearch has no more: exact for every value, however long the tail.
        (A `terms` aggregation is approximate across shards and needs its size guessed,
        e.g. from `cardinality`, itself approximate above 3,000 values; composite pages
        need neither.)"""
        _, checked = self._checked(index, lambda known: check_count(known, query))
        clauses = _filter_clauses(checked.filters)
        if clauses is None:
            return CountResult(total=0, buckets=[])
        if checked.date_field is not None and (
            checked.since is not None or checked.until is not None
        ):
            bounds: dict[str, Any] = {"format": "epoch_millis"}
            if checked.since is not None:
                bounds["gte"] = checked.since
            if checked.until is not None:
                bounds["lt"] = checked.until
            clauses.append({"range": {checked.date_field: bounds}})
        sources: list[dict[str, Any]] = [
            {"key": {"terms": {"field": checked.by, "missing_bucket": True}}}
        ]
        if checked.intervals is not None and checked.interval is not None:
            sources.append(
                {
                    "start": {
                        "date_histogram": {
                            "field": checked.date_field,
                            "calendar_interval": _CALENDAR[checked.interval.value],
                            "time_zone": checked.time_zone,
                        }
                    }
                }
            )
        real = self.real_name(index)
        es_query = {"bool": {"filter": clauses}} if clauses else {"match_all": {}}
        total = 0
        buckets: list[CountBucket] = []
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {"size": COUNT_PAGE, "sources": sources}
            if after is not None:
                composite["after"] = after
            with self._calls(f"counting in index {real}", index=index):
                response = self._client.search(
                    index=real,
                    query=es_query,
                    size=0,
                    track_total_hits=after is None,
                    aggregations={"counts": {"composite": composite}},
                )
            if after is None:
                total = int(response["hits"]["total"]["value"])
            page = response["aggregations"]["counts"]
            buckets.extend(_count_bucket(checked, bucket) for bucket in page["buckets"])
            after = page.get("after_key")
            if not page["buckets"] or after is None:
                break
        buckets.sort(key=lambda b: (b.key is None, b.key or "", b.start or _EPOCH))
        return CountResult(total=total, buckets=buckets)

    def delete(self, index: str, ids: Sequence[str]) -> int:
        self._fields(index)  # UnknownIndexError for an index never created
        real = self.real_name(index)
        deleted = 0
        unique_ids = [doc_id for doc_id in dict.fromkeys(ids) if doc_id]
        for start in range(0, len(unique_ids), BULK_MAX_DOCS):
            operations = [
                {"delete": {"_index": real, "_id": doc_id}}
                for doc_id in unique_ids[start : start + BULK_MAX_DOCS]
            ]
            with self._calls(f"deleting documents from {real}", index=index):
                response = self._client.bulk(operations=operations, refresh=True)
            for item in response["items"]:
                result = item["delete"]
                if result.get("result") == "deleted":
                    deleted += 1
                elif result.get("status") != 404:
                    error = result.get("error") or {}
                    if error.get("type") == "index_not_found_exception":
                        raise UnknownIndexError(_unknown(index))
                    raise SearchError(
                        f"deleting {result.get('_id')!r} from index {index!r} failed: "
                        f"{error.get('type')}: {error.get('reason')}"
                    )
        return deleted

    def delete_where(
        self,
        index: str,
        filters: Mapping[str, str | Sequence[str]],
        *,
        date_field: str | None = None,
        before: str | None = None,
    ) -> int:
        fields = self._fields(index)
        try:
            checked = check_delete(fields, filters, date_field, before)
        except InvalidQueryError:
            fields = self._fields(index, reload=True)
            checked = check_delete(fields, filters, date_field, before)
        clauses: list[dict[str, Any]] = []
        for field, kind, normalised in checked.filters:
            values = [bool(v) for v in normalised] if kind is FieldKind.BOOLEAN else normalised
            if not values:
                return 0
            clauses.append({"terms": {field: values}})
        if checked.before is not None:
            field, millis = checked.before
            # A multi-valued date must be older in all its values, as on the embedded store.
            clauses.append({"range": {field: {"lt": millis, "format": "epoch_millis"}}})
            clauses.append(
                {
                    "bool": {
                        "must_not": {"range": {field: {"gte": millis, "format": "epoch_millis"}}}
                    }
                }
            )
        # Client-side, like `_reindex_in_place`: `_delete_by_query` lives in the reindex
        # module, which some distributions leave out. Find a page of matches, delete them
        # (refreshed), and look again until none is left.
        real = self.real_name(index)
        with self._calls(f"refreshing index {real}", index=index):
            self._client.indices.refresh(index=real)
        deleted = 0
        while True:
            with self._calls(f"finding documents to delete in {real}", index=index):
                response = self._client.search(
                    index=real,
                    query={"bool": {"filter": clauses}},
                    sort=[{ID_FIELD: {"order": "asc"}}],
                    size=BULK_MAX_DOCS,
                    source=False,
                )
            found = [hit["_id"] for hit in response["hits"]["hits"]]
            if not found:
                return deleted
            removed = self.delete(index, found)
            if removed == 0:
                raise SearchError(
                    f"deleting by query from index {index!r}: {len(found)} matching "
                    "document(s) could not be deleted"
                )
            deleted += removed

    def refresh(self, index: str) -> None:
        real = self._existing_name(index)
        with self._calls(f"refreshing index {real}", index=index):
            self._client.indices.refresh(index=real)

    def delete_index(self, index: str) -> None:
        with self._lock:
            self._schemas.pop(index, None)
        try:
            check_index_name(index)
        except SearchError:
            return  # such an index cannot exist
        real = self.real_name(index)
        with self._calls(f"deleting index {real}"):
            self._client.options(ignore_status=404).indices.delete(index=real)

    def close(self) -> None:
        self._client.close()

    # --- Helpers -------------------------------------------------------------------------

    def _existing_name(self, index: str) -> str:
        """The real name; UnknownIndexError at once for a name no index can have."""
        try:
            check_index_name(index)
        except SearchError:
            raise UnknownIndexError(_unknown(index)) from None
        return self.real_name(index)

    def _bulk(
        self, index: str, items: Sequence[tuple[dict[str, Any], str]], rejected: dict[str, str]
    ) -> None:
        """Send one bulk request; add the documents it refused to `rejected` (see `upsert`),
        raise `SearchError` for an outage. A request the node finds too large (413) is sent
        again in halves, down to the one document too large on its own."""
        real = self.real_name(index)
        operations: list[str | dict[str, Any]] = [part for item in items for part in item]
        response: Any = None
        with self._calls(f"bulk indexing into {real}", index=index):
            try:
                response = self._client.bulk(operations=_ndjson(operations))
            except ApiError as refused:
                if refused.meta.status != 413:
                    raise
        if response is None:  # 413: too large
            if len(items) > 1:
                middle = len(items) // 2
                self._bulk(index, items[:middle], rejected)
                self._bulk(index, items[middle:], rejected)
            else:
                action, line = items[0]
                rejected.setdefault(
                    str(action["index"]["_id"]),
                    f"413 the document ({len(line.encode()):,} bytes of JSON) is larger than "
                    "this Elasticsearch takes in one request (http.max_content_length)",
                )
            return
        if not response["errors"]:
            return
        outage: str | None = None
        for item in response["items"]:
            result = item["index"]
            error = result.get("error")
            status = result.get("status")
            if error is None or status == 409:
                continue  # 409: version conflict, i.e. a stale snapshot, skipped by design
            if error.get("type") == "index_not_found_exception":
                raise UnknownIndexError(_unknown(index))
            reason = f"{status} {error.get('type')}: {_item_reason(error)}"
            if isinstance(status, int) and 400 <= status < 500 and status != 429:
                rejected.setdefault(str(result.get("_id")), reason)
            elif outage is None:
                outage = f"document {result.get('_id')!r}: {reason}"
        if outage is not None:
            raise SearchError(
                f"Elasticsearch at {self._where} failed bulk indexing into {real}: {outage}"
            )

    def _reindex_in_place(self, index: str) -> None:
        """Index every stored document again, so fields just added to the mapping cover them.

        (What ``_update_by_query`` does; done client-side so it also works where the reindex
        module is missing.) Each document is written back with its own version and
        ``external_gte``, so a concurrent newer write wins. Documents whose stored value does
        not fit a new field keep their previous indexing.
        """
        real = self.real_name(index)
        with self._calls(f"refreshing index {real}", index=index):
            self._client.indices.refresh(index=real)  # so the scan sees every write so far
        after: list[Any] | None = None
        while True:
            with self._calls(f"re-indexing {real}", index=index):
                response = self._client.search(
                    index=real,
                    query={"match_all": {}},
                    sort=[{ID_FIELD: {"order": "asc"}}],
                    size=BULK_MAX_DOCS,
                    search_after=after,
                    version=True,
                )
            hits = response["hits"]["hits"]
            if not hits:
                return
            operations: list[str | dict[str, Any]] = []
            for hit in hits:
                action = {
                    "_index": real,
                    "_id": hit["_id"],
                    "version": hit["_version"],
                    "version_type": "external_gte",
                }
                operations.extend(({"index": action}, json.dumps(hit["_source"])))
            with self._calls(f"re-indexing {real}", index=index):
                self._client.bulk(operations=_ndjson(operations))
            after = hits[-1]["sort"]

    def _checked(
        self, index: str, check: Callable[[dict[str, FieldKind]], _Checked]
    ) -> tuple[dict[str, FieldKind], _Checked]:
        """`check` of a query against the index's schema, and the schema it passed.

        A query that fails against the cached schema is checked once more against the
        mapping: another process may have added fields since this one cached it."""
        fields = self._fields(index)
        try:
            return fields, check(fields)
        except InvalidQueryError:
            fields = self._fields(index, reload=True)
            return fields, check(fields)

    def _fields(self, index: str, *, reload: bool = False) -> dict[str, FieldKind]:
        """The index's schema, from this process's ensure_index or else from its mapping."""
        if not reload:
            with self._lock:
                fields = self._schemas.get(index)
            if fields is not None:
                return fields
        return self._load_schema(index)

    def _load_schema(self, index: str) -> dict[str, FieldKind]:
        real = self._existing_name(index)
        with self._calls(f"reading the mapping of {real}", index=index):
            response = self._client.indices.get_mapping(index=real)
        mappings = next(iter(response.values()))["mappings"]
        fields = _schema_from_mapping(mappings)
        self._remember(index, fields)
        return fields

    def _remember(self, index: str, fields: Mapping[str, FieldKind]) -> None:
        with self._lock:
            self._schemas[index] = dict(fields)

    @contextmanager
    def _calls(self, what: str, *, index: str | None = None) -> Iterator[None]:
        """Translate client errors into SearchError (UnknownIndexError for a missing index)."""
        try:
            yield
        except ConnectionTimeout:
            raise SearchError(
                f"Elasticsearch at {self._where} did not answer within {self._timeout:g}s ({what})"
            ) from None
        except TransportConnectionError:
            raise SearchError(
                f"Elasticsearch at {self._where} is unreachable: is it running? (make infra-up)"
            ) from None
        except ApiError as error:
            if index is not None and _error_type(error) == "index_not_found_exception":
                with self._lock:
                    self._schemas.pop(index, None)
                raise UnknownIndexError(_unknown(index)) from None
            reason = _error_reason(error)
            if "failed to find filter under name [asciifolding]" in reason:
                reason += (
                    " -- this Elasticsearch lacks the asciifolding token filter, which real "
                    "Elasticsearch has in its analysis-common module"
                )
            raise SearchError(
                f"Elasticsearch at {self._where} failed {what}: {error.meta.status} "
                f"{_error_type(error)}: {reason}"
            ) from None
        except TransportError as error:
            raise SearchError(f"Elasticsearch at {self._where} failed {what}: {error}") from None


# --- Mappings and documents --------------------------------------------------------------


def _mappings(fields: Mapping[str, FieldKind]) -> dict[str, Any]:
    properties: dict[str, Any] = {ID_FIELD: {"type": "keyword"}}
    properties.update({field: dict(_MAPPING_TYPES[kind]) for field, kind in fields.items()})
    return {"dynamic": False, "_meta": _meta(fields), "properties": properties}


def _meta(fields: Mapping[str, FieldKind]) -> dict[str, Any]:
    return {META_KEY: {"fields": {field: kind.value for field, kind in fields.items()}}}


def _schema_from_mapping(mappings: Mapping[str, Any]) -> dict[str, FieldKind]:
    """The schema recorded in _meta; for an index made by other means, read off its fields."""
    recorded = mappings.get("_meta", {}).get(META_KEY, {}).get("fields")
    if isinstance(recorded, dict):
        return {field: FieldKind(kind) for field, kind in recorded.items()}
    fields: dict[str, FieldKind] = {}

    def walk(properties: Mapping[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            kind = _KINDS_BY_TYPE.get(spec.get("type", "object"))
            if kind is not None and prefix + name != ID_FIELD:
                fields[prefix + name] = kind
            walk(spec.get("properties", {}), f"{prefix}{name}.")

    walk(mappings.get("properties", {}), "")
    return fields


def _source_line(document: IndexedDocument) -> str:
    """The JSON line bulk-indexed for a document: its body plus the id copy for sorting."""
    serialise_document(document)  # same checks (id, version, JSON body) as the embedded store
    source = dict(document.body)
    source[ID_FIELD] = document.id
    return json.dumps(source, ensure_ascii=False, allow_nan=False)


def _ndjson(operations: list[str | dict[str, Any]]) -> Sequence[Mapping[str, Any]]:
    # The client's NDJSON serializer passes str lines through as they are: the bodies are
    # serialised once, by _source_line, which also validates them. Its annotation only
    # admits mappings.
    return cast("Sequence[Mapping[str, Any]]", operations)


def _filter_clauses(
    filters: Sequence[tuple[str, FieldKind, list[object]]],
) -> list[dict[str, Any]] | None:
    """The `filter` clauses of checked filters; None when a filter allows no value, so
    nothing matches (the embedded store answers so without asking)."""
    clauses: list[dict[str, Any]] = []
    for field, kind, normalised in filters:
        # Booleans are normalised to 0/1 (as the embedded store keeps them).
        values = [bool(v) for v in normalised] if kind is FieldKind.BOOLEAN else normalised
        if not values:
            return None
        clauses.append(
            {"term": {field: values[0]}} if len(values) == 1 else {"terms": {field: values}}
        )
    return clauses


def _document(source: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in source.items() if key != ID_FIELD}


def _count_bucket(checked: CheckedCount, bucket: Mapping[str, Any]) -> CountBucket:
    key = bucket["key"]
    start = None
    if checked.intervals is not None:
        start = datetime.fromtimestamp(key["start"] / 1000, tz=checked.intervals.zone)
    value = key["key"]
    return CountBucket(
        key=None if value is None else str(value), start=start, count=int(bucket["doc_count"])
    )


def _unknown(index: str) -> str:
    return f"search index {index!r} does not exist (create it with ensure_index)"


def _error_type(error: ApiError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("type", ""))
    return str(error.message)


_QUOTED_VALUE = re.compile(
    r"[.;]?\s*(?:Preview of field's value|The prefix of the first immense term is)\b.*",
    re.DOTALL,
)
"""Where Elasticsearch quotes a refused value in a reason (to the end: the quote runs on)."""


def _item_reason(error: Mapping[str, Any]) -> str:
    """A bulk item's error reason without the customer's words: it lands in the dead letter's
    dlq-reason header and the "record sent to DLQ" log, and the platform logs no message
    text. Elasticsearch quotes the value it refused ("Preview of field's value: '...'", an
    immense term's prefix), and its cause's reason often does too ("For input string:
    \"...\"", "failed to parse date field [...]"), so the preview is cut and the cause is
    kept as its type only. What stays says what went wrong where: the error kind, the field
    and its mapped type, the document id."""
    reason = _QUOTED_VALUE.sub("", str(error.get("reason") or ""))
    cause = error.get("caused_by")
    if isinstance(cause, dict) and cause.get("type"):
        reason = f"{reason} (caused by {cause['type']})"
    return reason


def _error_reason(error: ApiError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        cause = body["error"]
        causes = cause.get("root_cause") or []
        reason = cause.get("reason") or ""
        if causes and isinstance(causes[0], dict) and causes[0].get("reason") not in (None, reason):
            reason = f"{reason} ({causes[0]['reason']})"
        return str(reason)
    return str(body)


def _redact(url: str) -> str:
    """The URL without credentials, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
