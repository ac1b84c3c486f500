"""The SearchIndex contract, run against both backends.

`embedded` is the SQLite FTS5 store in a temporary directory; `elasticsearch` is the real
local Elasticsearch node started by the session fixture `elasticsearch_url` (never skipped),
with a unique index prefix per test and its indices deleted afterwards.

Elasticsearch makes writes searchable on refresh, so the tests refresh after writing, as the
contract says callers must.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from socialcare.core.search import (
    DocumentRejectedError,
    FieldKind,
    IndexedDocument,
    IndexSchema,
    InvalidQueryError,
    SearchError,
    SearchIndex,
    SearchQuery,
    SearchResult,
    UnknownIndexError,
)
from socialcare.core.search.elastic import ElasticsearchIndex
from socialcare.core.search.embedded import EmbeddedSearchIndex

CASES = "cases"
SCHEMA = IndexSchema(
    fields={
        "subject": FieldKind.TEXT,
        "body": FieldKind.TEXT,
        "status": FieldKind.KEYWORD,
        "channel": FieldKind.KEYWORD,
        "tags": FieldKind.KEYWORD,
        "created_at": FieldKind.DATE,
        "priority": FieldKind.NUMBER,
        "urgent": FieldKind.BOOLEAN,
    }
)

MESSAGES: dict[str, dict[str, Any]] = {
    "case-001": {
        "subject": "Energierekening",
        "body": "Mijn energierekening is veel te hoog en ik kan hem niet betalen.",
        "status": "open",
        "channel": "whatsapp",
        "tags": ["energie", "schulden"],
        "created_at": "2024-03-01T08:30:00Z",
        "priority": 2,
        "urgent": False,
        "language": "nl",
    },
    "case-002": {
        "subject": "Huurachterstand",
        "body": "De verhuurder dreigt met uitzetting als ik de huur niet betaal.",
        "status": "open",
        "channel": "email",
        "tags": ["wonen", "schulden"],
        "created_at": "2024-03-01T09:00:00+01:00",  # 08:00Z: earlier than case-001
        "priority": 1,
        "urgent": True,
        "language": "nl",
    },
    "case-003": {
        "subject": "Eviction notice",
        "body": "My landlord served an eviction notice and I have nowhere to go.",
        "status": "in_progress",
        "channel": "email",
        "tags": ["housing"],
        "created_at": "2024-03-02T12:00:00Z",
        "priority": 1,
        "urgent": True,
        "language": "en",
    },
    "case-004": {
        "subject": "Lonely since my husband died",
        "body": "I feel very lonely; could someone visit me? We used to meet at the café.",
        "status": "closed",
        "channel": "phone",
        "tags": ["eenzaamheid", "ouderen"],
        "created_at": "2024-02-28T16:45:00-05:00",  # 21:45Z
        "priority": 3,
        "urgent": False,
        "language": "en",
    },
    "case-005": {
        "subject": "Schuldhulpverlening aanvragen",
        "body": "Hoe vraag ik schuldhulpverlening aan? Mijn naïeve vraag: is er een cafe-avond?",
        "status": "Open",  # keywords are exact: not "open"
        "channel": "webchat",
        "tags": "schulden",  # a single keyword value, not a list
        "created_at": "2024-03-03T07:15:00Z",
        "priority": 2,
        "urgent": False,
        "language": "nl",
        "internal_note": "geheim dossier",  # not in the schema: stored, not searchable
    },
}

HOSTILE_QUERIES = [
    'foo" OR (bar',
    "*",
    "-",
    '"',
    "(",
    ")",
    "()",
    '""',
    "||",
    "+",
    "~",
    "^",
    "\\",
    "AND",
    "OR NOT",
    "NEAR(foo bar",
    "subject:energierekening",
    "energierekening*",
    "*energie",
    "energie**",
    "a~2 b~",
    '"veel te hoog"~',
    "{[<>]}",
    "'; DROP TABLE cases; --",
    "💸💸💸",
    "\x00",
    "-(-(-(energierekening)))",
    "((((((((((((((((((((((((((((((((((((((((energierekening",
    "energierekening " * 300,
    "a | " * 200,
    "hulp | huur betalen | " * 30,  # alternating operators nest
]


class _Backend:
    """Opens instances of one backend over the same storage (a directory or an index prefix)."""

    def __init__(self, name: str, opener: Callable[[], SearchIndex]) -> None:
        self.name = name
        self._opener = opener
        self.opened: list[SearchIndex] = []

    def open(self) -> SearchIndex:
        index = self._opener()
        self.opened.append(index)
        return index


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Backend]:
    if request.param == "embedded":
        yield from _embedded_backend(tmp_path / "search")
    else:
        yield from _elasticsearch_backend(request.getfixturevalue("elasticsearch_url"))


def _embedded_backend(directory: Path) -> Iterator[_Backend]:
    backend = _Backend("embedded", lambda: EmbeddedSearchIndex(directory))
    yield backend
    for index in backend.opened:
        index.close()


def _elasticsearch_backend(url: str) -> Iterator[_Backend]:
    prefix = f"sc-test-{uuid.uuid4().hex[:12]}-"
    backend = _Backend("elasticsearch", lambda: ElasticsearchIndex(url, index_prefix=prefix))
    yield backend
    cleaner = ElasticsearchIndex(url, index_prefix=prefix)
    try:
        leftovers = cleaner.client.indices.get(index=f"{prefix}*", expand_wildcards="all")
        for name in leftovers:
            cleaner.client.options(ignore_status=404).indices.delete(index=name)
    finally:
        cleaner.close()
        for index in backend.opened:
            index.close()


@pytest.fixture
def search(backend: _Backend) -> SearchIndex:
    return backend.open()


@pytest.fixture
def cases(search: SearchIndex) -> SearchIndex:
    """`search` with the CASES index holding MESSAGES."""
    search.ensure_index(CASES, SCHEMA)
    search.upsert(CASES, [IndexedDocument(i, body, version=1) for i, body in MESSAGES.items()])
    search.refresh(CASES)
    return search


def ids(result: SearchResult) -> list[str]:
    return [hit.id for hit in result.hits]


def found(search: SearchIndex, text: str, **filters: str | list[str]) -> set[str]:
    result = search.search(CASES, SearchQuery(text=text, filters=filters, limit=100))
    assert result.total == len(result.hits)
    return set(ids(result))


class TestSearchContract:
    # --- Writing and reading -------------------------------------------------------------

    def test_bulk_upsert_then_get_returns_the_stored_documents(self, cases: SearchIndex) -> None:
        for doc_id, body in MESSAGES.items():
            assert cases.get(CASES, doc_id) == body
        assert cases.get(CASES, "case-999") is None
        result = cases.search(CASES, SearchQuery(limit=100))
        assert result.total == len(MESSAGES)
        assert {hit.id: hit.document for hit in result.hits} == MESSAGES

    def test_ensure_index_twice_keeps_the_data(self, cases: SearchIndex) -> None:
        cases.ensure_index(CASES, SCHEMA)
        assert cases.get(CASES, "case-001") == MESSAGES["case-001"]
        assert cases.search(CASES, SearchQuery()).total == len(MESSAGES)

    def test_upserting_the_same_id_again_keeps_one_document(self, cases: SearchIndex) -> None:
        again = {**MESSAGES["case-003"], "status": "closed"}
        cases.upsert(CASES, [IndexedDocument("case-003", again)])
        cases.upsert(
            CASES,
            [
                IndexedDocument("case-003", again),
                IndexedDocument("case-003", {**again, "channel": "phone"}),
            ],
        )
        cases.refresh(CASES)
        assert cases.search(CASES, SearchQuery()).total == len(MESSAGES)
        assert found(cases, "eviction") == {"case-003"}
        assert cases.get(CASES, "case-003") == {**again, "channel": "phone"}
        closed = cases.search(CASES, SearchQuery(filters={"status": "closed"}))
        assert sorted(ids(closed)) == ["case-003", "case-004"]

    def test_a_stale_version_is_skipped_and_an_equal_or_newer_one_replaces(
        self, search: SearchIndex
    ) -> None:
        search.ensure_index(CASES, SCHEMA)
        search.upsert(CASES, [IndexedDocument("c1", {"subject": "versie twee"}, version=2)])
        search.upsert(CASES, [IndexedDocument("c1", {"subject": "versie een"}, version=1)])
        assert search.get(CASES, "c1") == {"subject": "versie twee"}  # no error either

        search.upsert(CASES, [IndexedDocument("c1", {"subject": "opnieuw twee"}, version=2)])
        assert search.get(CASES, "c1") == {"subject": "opnieuw twee"}

        search.upsert(
            CASES,
            [
                IndexedDocument("c1", {"subject": "versie drie"}, version=3),
                IndexedDocument("c1", {"subject": "te laat"}, version=2),  # stale within a batch
                IndexedDocument("c2", {"subject": "ander dossier"}, version=1),
            ],
        )
        search.refresh(CASES)
        assert search.get(CASES, "c1") == {"subject": "versie drie"}
        assert search.get(CASES, "c2") == {"subject": "ander dossier"}
        assert found(search, "versie") == {"c1"}
        assert found(search, "laat") == set()
        assert search.search(CASES, SearchQuery()).total == 2

    def test_a_rejected_document_is_named_and_the_others_are_written(
        self, search: SearchIndex
    ) -> None:
        search.ensure_index(CASES, SCHEMA)
        with pytest.raises(SearchError, match="case-bad"):
            search.upsert(
                CASES,
                [
                    IndexedDocument("case-ok", {"subject": "geldig", "created_at": "2024-01-01"}),
                    IndexedDocument("case-bad", {"subject": "ongeldig", "created_at": "gisteren"}),
                ],
            )
        search.refresh(CASES)
        assert search.get(CASES, "case-ok") == {"subject": "geldig", "created_at": "2024-01-01"}
        assert search.get(CASES, "case-bad") is None

    def test_a_new_instance_sees_the_indices_of_the_previous_one(self, backend: _Backend) -> None:
        # Embedded: the same directory reopened. Elasticsearch: a new client, which has to
        # read the schema back from the index (it never called ensure_index).
        first = backend.open()
        first.ensure_index(CASES, SCHEMA)
        first.upsert(CASES, [IndexedDocument(i, body) for i, body in MESSAGES.items()])
        first.refresh(CASES)
        first.close()

        second = backend.open()
        assert second.get(CASES, "case-002") == MESSAGES["case-002"]
        assert found(second, "energierekening") == {"case-001"}
        assert found(second, "", tags="schulden") == {"case-001", "case-002", "case-005"}
        with pytest.raises(InvalidQueryError, match="language"):
            second.search(CASES, SearchQuery(filters={"language": "nl"}))

    def test_a_field_added_to_the_schema_covers_the_existing_documents(
        self, cases: SearchIndex
    ) -> None:
        extended = IndexSchema(fields={**SCHEMA.fields, "language": FieldKind.KEYWORD})
        cases.ensure_index(CASES, extended)
        cases.refresh(CASES)
        english = cases.search(CASES, SearchQuery(filters={"language": "en"}))
        assert sorted(ids(english)) == ["case-003", "case-004"]

        with pytest.raises(SearchError, match="status"):
            cases.ensure_index(CASES, IndexSchema(fields={"status": FieldKind.TEXT}))

    # --- Full text -----------------------------------------------------------------------

    def test_full_text_requires_every_term_in_any_text_field(self, cases: SearchIndex) -> None:
        assert found(cases, "energierekening") == {"case-001"}
        assert found(cases, "ENERGIEREKENING") == {"case-001"}
        assert found(cases, "energierekening pizza") == set()
        assert found(cases, "energierekening betalen") == {"case-001"}
        # One term in the subject, the other in the body.
        assert found(cases, "huurachterstand uitzetting") == {"case-002"}
        assert found(cases, "eviction landlord") == {"case-003"}
        assert found(cases, "eviction huurachterstand") == set()
        assert found(cases, "lonely") == {"case-004"}
        assert found(cases, "betalen") == {"case-001"}
        assert found(cases, "betaal") == {"case-002"}  # no stemming: exact words
        assert found(cases, "Mijn") == {"case-001", "case-005"}

    def test_fields_outside_the_schema_are_not_searchable(self, cases: SearchIndex) -> None:
        assert found(cases, "geheim") == set()
        assert found(cases, "nl") == set()
        assert cases.get(CASES, "case-005") == MESSAGES["case-005"]

    def test_full_text_ignores_case_and_diacritics(self, cases: SearchIndex) -> None:
        assert found(cases, "cafe") == {"case-004", "case-005"}
        assert found(cases, "café") == {"case-004", "case-005"}
        assert found(cases, "CAFÉ") == {"case-004", "case-005"}
        assert found(cases, "naieve") == {"case-005"}
        cases.upsert(
            CASES,
            [
                IndexedDocument(
                    "de-1", {"body": "Wir wohnen in der Hauptstraße, Übergangswohnung"}
                ),
                IndexedDocument("fr-1", {"body": "Un problème de sécurité dans notre hôpital"}),
            ],
        )
        cases.refresh(CASES)
        assert found(cases, "hauptstrasse") == {"de-1"}
        assert found(cases, "ubergangswohnung") == {"de-1"}
        assert found(cases, "probleme securite hopital") == {"fr-1"}

    def test_simple_query_string_operators(self, cases: SearchIndex) -> None:
        assert found(cases, '"veel te hoog"') == {"case-001"}
        assert found(cases, '"hoog te veel"') == set()
        assert found(cases, "lonely | eviction") == {"case-003", "case-004"}
        assert found(cases, "mijn -energierekening") == {"case-005"}
        assert found(cases, "-mijn") == {"case-002", "case-003", "case-004"}
        assert found(cases, "schuldhulp*") == {"case-005"}

    def test_relevance_puts_the_best_match_first(self, search: SearchIndex) -> None:
        search.ensure_index(CASES, SCHEMA)
        search.upsert(
            CASES,
            [
                IndexedDocument(
                    "weak",
                    {
                        "subject": "Vraag over de gemeente",
                        "body": "Ik heb een vraag over parkeren, afval, de bibliotheek en ook "
                        "een beetje over schuldhulp, maar vooral over de markt.",
                    },
                ),
                IndexedDocument(
                    "strong",
                    {"subject": "Schuldhulp", "body": "Schuldhulp nodig, dringend schuldhulp."},
                ),
            ],
        )
        search.refresh(CASES)
        result = search.search(CASES, SearchQuery(text="schuldhulp"))
        assert ids(result) == ["strong", "weak"]
        assert result.hits[0].score > result.hits[1].score > 0

    # --- Filters, sorting, paging --------------------------------------------------------

    def test_keyword_filters_are_exact(self, cases: SearchIndex) -> None:
        assert found(cases, "", status="open") == {"case-001", "case-002"}
        assert found(cases, "", status="Open") == {"case-005"}
        assert found(cases, "", status="ope") == set()
        assert found(cases, "", channel="email") == {"case-002", "case-003"}

    def test_keyword_filters_match_any_of_several_values(self, cases: SearchIndex) -> None:
        assert found(cases, "", channel=["phone", "webchat"]) == {"case-004", "case-005"}
        assert found(cases, "", channel=["fax"]) == set()
        assert found(cases, "", channel=[]) == set()

    def test_list_valued_keyword_fields_match_any_element(self, cases: SearchIndex) -> None:
        assert found(cases, "", tags="schulden") == {"case-001", "case-002", "case-005"}
        assert found(cases, "", tags=["wonen", "housing"]) == {"case-002", "case-003"}
        assert found(cases, "", tags="schulden", channel="email") == {"case-002"}

    def test_filters_combine_with_text(self, cases: SearchIndex) -> None:
        assert found(cases, "mijn", status="open") == {"case-001"}
        assert found(cases, "mijn", status="closed") == set()
        assert found(cases, "eviction", urgent="true") == {"case-003"}

    def test_filters_on_date_number_and_boolean_fields(self, cases: SearchIndex) -> None:
        assert found(cases, "", urgent="true") == {"case-002", "case-003"}
        assert found(cases, "", priority="1") == {"case-002", "case-003"}
        # The same instant in another zone.
        assert found(cases, "", created_at="2024-03-01T09:30:00+01:00") == {"case-001"}

    def test_sort_by_date_is_by_instant_both_ways(self, cases: SearchIndex) -> None:
        ascending = cases.search(CASES, SearchQuery(sort=[("created_at", "asc")]))
        expected = ["case-004", "case-002", "case-001", "case-003", "case-005"]
        assert ids(ascending) == expected
        descending = cases.search(CASES, SearchQuery(sort=[("created_at", "desc")]))
        assert ids(descending) == expected[::-1]

    def test_sort_by_several_fields(self, cases: SearchIndex) -> None:
        result = cases.search(CASES, SearchQuery(sort=[("priority", "asc"), ("channel", "desc")]))
        # Ties (priority 1, both email) fall back to the newest id first.
        assert ids(result) == ["case-003", "case-002", "case-001", "case-005", "case-004"]

    def test_without_text_or_sort_the_newest_id_comes_first(self, cases: SearchIndex) -> None:
        assert ids(cases.search(CASES, SearchQuery())) == sorted(MESSAGES, reverse=True)

    def test_paging_with_limit_and_offset(self, cases: SearchIndex) -> None:
        order = ["case-004", "case-002", "case-001", "case-003", "case-005"]
        pages = [
            cases.search(CASES, SearchQuery(sort=[("created_at", "asc")], limit=2, offset=offset))
            for offset in (0, 2, 4, 6)
        ]
        assert [ids(page) for page in pages] == [order[0:2], order[2:4], order[4:], []]
        assert {page.total for page in pages} == {5}
        filtered = cases.search(CASES, SearchQuery(filters={"status": "open"}, limit=1))
        assert filtered.total == 2
        assert len(filtered.hits) == 1

    # --- Errors --------------------------------------------------------------------------

    def test_an_unknown_index_raises_unknown_index_error(self, search: SearchIndex) -> None:
        with pytest.raises(UnknownIndexError):
            search.search("nope", SearchQuery(text="x"))
        with pytest.raises(UnknownIndexError):
            search.get("nope", "1")
        with pytest.raises(UnknownIndexError):
            search.upsert("nope", [IndexedDocument("1", {"subject": "x"})])
        with pytest.raises(UnknownIndexError):
            search.refresh("nope")
        search.delete_index("nope")  # no error

    def test_a_deleted_index_is_gone(self, cases: SearchIndex) -> None:
        cases.delete_index(CASES)
        with pytest.raises(UnknownIndexError):
            cases.search(CASES, SearchQuery())
        cases.ensure_index(CASES, SCHEMA)
        assert cases.search(CASES, SearchQuery()).total == 0

    @pytest.mark.parametrize(
        ("query", "named"),
        [
            (SearchQuery(filters={"department": "x"}), "department"),
            (SearchQuery(filters={"subject": "x"}), "subject"),  # a text field
            (SearchQuery(sort=[("nope", "asc")]), "nope"),
            (SearchQuery(sort=[("body", "asc")]), "body"),
            (SearchQuery(sort=[("created_at", "up")]), "created_at"),
            (SearchQuery(filters={"created_at": "yesterday"}), "created_at"),
            (SearchQuery(filters={"urgent": "maybe"}), "urgent"),
            (SearchQuery(limit=0), "limit"),
            (SearchQuery(limit=1001), "limit"),
            (SearchQuery(offset=-1), "offset"),
        ],
    )
    def test_invalid_queries_raise_invalid_query_error(
        self, cases: SearchIndex, query: SearchQuery, named: str
    ) -> None:
        with pytest.raises(InvalidQueryError, match=named):
            cases.search(CASES, query)

    @pytest.mark.parametrize("text", HOSTILE_QUERIES, ids=range(len(HOSTILE_QUERIES)))
    def test_hostile_query_strings_do_not_raise(self, cases: SearchIndex, text: str) -> None:
        result = cases.search(CASES, SearchQuery(text=text))
        assert 0 <= len(result.hits) <= result.total <= len(MESSAGES)

    def test_hostile_query_strings_still_match_their_words(self, cases: SearchIndex) -> None:
        assert found(cases, 'energierekening" OR (pizza') == set()
        assert found(cases, '(energierekening" betalen') == {"case-001"}
        assert found(cases, "*") == set(MESSAGES)
        assert found(cases, "-") == set()
        assert found(cases, "!!!") == set()

    # --- Concurrency ---------------------------------------------------------------------

    def test_one_instance_serves_several_threads(self, search: SearchIndex) -> None:
        search.ensure_index(CASES, SCHEMA)
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                for batch in range(5):
                    docs = [
                        IndexedDocument(
                            f"w{worker}-{batch}-{n}",
                            {"subject": f"bericht {n}", "status": f"s{worker}"},
                        )
                        for n in range(20)
                    ]
                    search.upsert(CASES, docs)
                    search.search(CASES, SearchQuery(text="bericht", filters={"status": "s0"}))
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        search.refresh(CASES)
        assert search.search(CASES, SearchQuery(text="bericht")).total == 4 * 5 * 20


class TestDeletes:
    """`delete` by id and `delete_where` by filters and a date bound (erasure, retention)."""

    def test_delete_by_id_removes_documents_and_their_text(self, cases: SearchIndex) -> None:
        assert cases.delete(CASES, ["case-001", "case-003", "no-such-case", "case-001"]) == 2
        cases.refresh(CASES)
        assert cases.get(CASES, "case-001") is None
        assert cases.get(CASES, "case-003") is None
        assert found(cases, "energierekening") == set()
        assert found(cases, "eviction") == set()
        assert ids(cases.search(CASES, SearchQuery(filters={"tags": "schulden"}))) == [
            "case-005",
            "case-002",
        ]
        assert cases.delete(CASES, ["case-001"]) == 0
        assert cases.delete(CASES, []) == 0
        # A deleted document can be written again.
        cases.upsert(CASES, [IndexedDocument("case-001", MESSAGES["case-001"])])
        cases.refresh(CASES)
        assert found(cases, "energierekening") == {"case-001"}

    def test_delete_where_filters(self, cases: SearchIndex) -> None:
        assert cases.delete_where(CASES, {"channel": "email"}) == 2
        cases.refresh(CASES)
        assert {h.id for h in cases.search(CASES, SearchQuery(limit=50)).hits} == {
            "case-001",
            "case-004",
            "case-005",
        }
        assert cases.delete_where(CASES, {"status": ["closed", "Open"], "urgent": "false"}) == 2
        cases.refresh(CASES)
        assert ids(cases.search(CASES, SearchQuery())) == ["case-001"]
        assert cases.delete_where(CASES, {"channel": []}) == 0

    def test_delete_where_older_than(self, cases: SearchIndex) -> None:
        # case-004 21:45Z on 28 Feb, case-002 08:00Z and case-001 08:30Z on 1 Mar.
        deleted = cases.delete_where(
            CASES, {"tags": "schulden"}, date_field="created_at", before="2024-03-01T08:30:00Z"
        )
        assert deleted == 1  # case-002 only: case-001 is not *before* 08:30, case-004 untagged
        cases.refresh(CASES)
        assert cases.get(CASES, "case-002") is None
        assert cases.get(CASES, "case-001") is not None
        # No filter: every document older than the bound, whatever its other fields.
        assert cases.delete_where(CASES, {}, date_field="created_at", before="2024-03-02") == 2
        cases.refresh(CASES)
        assert {h.id for h in cases.search(CASES, SearchQuery(limit=50)).hits} == {
            "case-003",
            "case-005",
        }

    def test_a_document_without_the_date_is_never_deleted_by_age(self, cases: SearchIndex) -> None:
        cases.upsert(CASES, [IndexedDocument("undated", {"subject": "geen datum"})])
        cases.refresh(CASES)
        assert cases.delete_where(CASES, {}, date_field="created_at", before="2100-01-01") == 5
        cases.refresh(CASES)
        assert ids(cases.search(CASES, SearchQuery())) == ["undated"]

    @pytest.mark.parametrize(
        ("filters", "date_field", "before", "message"),
        [
            ({}, None, None, "needs a filter or a date bound"),
            ({"nope": "x"}, None, None, "no such field"),
            ({"subject": "x"}, None, None, "text field"),
            ({}, "created_at", None, "both"),
            ({}, None, "2024-01-01", "both"),
            ({}, "status", "2024-01-01", "not a date field"),
            ({}, "created_at", "yesterday", "created_at"),
        ],
    )
    def test_delete_where_refuses_bad_or_unbounded_requests(
        self,
        cases: SearchIndex,
        filters: dict[str, str],
        date_field: str | None,
        before: str | None,
        message: str,
    ) -> None:
        with pytest.raises(InvalidQueryError, match=message):
            cases.delete_where(CASES, filters, date_field=date_field, before=before)
        cases.refresh(CASES)
        assert cases.search(CASES, SearchQuery()).total == len(MESSAGES)

    def test_deletes_on_an_unknown_index(self, search: SearchIndex) -> None:
        with pytest.raises(UnknownIndexError):
            search.delete("never-created", ["x"])
        with pytest.raises(UnknownIndexError):
            search.delete_where("never-created", {"status": "open"})


class TestRejectedDocuments:
    """A document a store refuses for what it holds is `DocumentRejectedError` naming it
    with the store's reason, the other documents of the bulk are written, and writing it
    again fails the same way: the consumer loop dead-letters its record rather than
    retrying it as an outage. An outage is a plain `SearchError`, never this one."""

    BAD = {
        "bad-date": {"subject": "datum", "created_at": "gisteren"},
        "bad-number": {"subject": "nummer", "priority": "heel hoog"},
        "bad-boolean": {"subject": "waar", "urgent": "misschien"},
    }

    def test_values_of_the_wrong_type_are_refused_and_the_rest_is_written(
        self, search: SearchIndex
    ) -> None:
        search.ensure_index(CASES, SCHEMA)
        good = [
            IndexedDocument("good-1", {"subject": "eerste", "priority": 1}),
            IndexedDocument("good-2", {"subject": "tweede", "created_at": "2024-05-01"}),
        ]
        bad = [IndexedDocument(doc_id, body) for doc_id, body in self.BAD.items()]
        with pytest.raises(DocumentRejectedError) as refused:
            search.upsert(CASES, [good[0], *bad, good[1]])
        assert refused.value.index == CASES
        assert set(refused.value.rejected) == set(self.BAD)
        for doc_id, field in [
            ("bad-date", "created_at"),
            ("bad-number", "priority"),
            ("bad-boolean", "urgent"),
        ]:
            assert field in refused.value.rejected[doc_id], refused.value.rejected[doc_id]
        assert str(refused.value).startswith("document 'bad-date' rejected by index 'cases'")
        search.refresh(CASES)
        assert {hit.id for hit in search.search(CASES, SearchQuery()).hits} == {
            "good-1",
            "good-2",
        }
        for doc_id in self.BAD:
            assert search.get(CASES, doc_id) is None

        with pytest.raises(DocumentRejectedError) as again:  # retrying cannot help
            search.upsert(CASES, [IndexedDocument("bad-number", self.BAD["bad-number"])])
        assert set(again.value.rejected) == {"bad-number"}

    def test_an_id_over_512_bytes_or_a_body_that_is_not_json_is_refused(
        self, search: SearchIndex
    ) -> None:
        search.ensure_index(CASES, SCHEMA)
        long_id = "é" * 257  # 514 bytes in UTF-8
        with pytest.raises(DocumentRejectedError) as refused:
            search.upsert(
                CASES,
                [
                    IndexedDocument(long_id, {"subject": "te lang"}),
                    IndexedDocument("not-json", {"subject": float("nan")}),
                    IndexedDocument("fine", {"subject": "prima"}),
                ],
            )
        assert set(refused.value.rejected) == {long_id, "not-json"}
        assert "512 bytes" in refused.value.rejected[long_id]
        assert search.get(CASES, "fine") == {"subject": "prima"}

    def test_a_store_that_cannot_be_reached_is_an_outage_not_a_refusal(
        self, backend: _Backend, tmp_path: Path
    ) -> None:
        down: SearchIndex
        if backend.name == "embedded":
            down = EmbeddedSearchIndex(tmp_path / "closed")
            down.ensure_index(CASES, SCHEMA)
            down.close()
        else:
            down = ElasticsearchIndex("http://127.0.0.1:9", request_timeout=2.0)
        try:
            with pytest.raises(SearchError) as failed:
                down.upsert(CASES, [IndexedDocument("c1", {"subject": "hallo"})])
            assert not isinstance(failed.value, DocumentRejectedError)
        finally:
            down.close()
