"""The indexer's redaction on both search backends: what a full-text search for a
customer's e-mail address, IBAN or card number finds (nothing), what the `pii_kinds`
keyword finds (the cases and messages that held such data), and a brand that keeps e-mail.

`embedded` is the SQLite store in a temporary directory; `elasticsearch` the real local node
(session fixture `elasticsearch_url`, never skipped), under a unique index prefix per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from socialcare.core.search import SearchIndex, SearchQuery
from socialcare.core.search.indices import CASES, ESCALATIONS, MESSAGES
from tests.contract.search_backends import search_backend
from tests.unit.indexer.test_indexer_redaction import CARD, EMAIL, IBAN, care, index


@pytest.fixture(params=["embedded", "elasticsearch"])
def search(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
    with search_backend(request, tmp_path) as index:
        yield index


def found(search: SearchIndex, index_name: str, query: SearchQuery) -> set[str]:
    return {hit.id for hit in search.search(index_name, query).hits}


def refreshed(search: SearchIndex) -> SearchIndex:
    for name in (CASES, MESSAGES, ESCALATIONS):
        search.refresh(name)
    return search


def test_redacted_data_is_not_found_and_its_kind_is(search: SearchIndex) -> None:
    index(search, care())
    refreshed(search)
    for text in (EMAIL, "jan.devries", CARD, IBAN.replace(" ", "")):
        assert found(search, MESSAGES, SearchQuery(text=text)) == set(), text
        assert found(search, CASES, SearchQuery(text=text)) == set(), text
    assert found(search, MESSAGES, SearchQuery(text="dubbel belast")) == {"m1"}
    assert found(search, CASES, SearchQuery(filters={"pii_kinds": "card"})) == {"case-1"}
    assert found(search, MESSAGES, SearchQuery(filters={"pii_kinds": "card"})) == {"m1"}
    assert found(search, MESSAGES, SearchQuery(filters={"pii_kinds": ["email"]})) == {"m1", "r1"}
    [hit] = search.search(MESSAGES, SearchQuery(filters={"id": "r1"})).hits
    assert hit.document["text"] == "We mailen u op [email]."


def test_a_brand_that_keeps_e_mail_finds_it(search: SearchIndex) -> None:
    index(search, care(frozenset({"email"})))
    refreshed(search)
    assert found(search, MESSAGES, SearchQuery(text="jan.devries")) == {"r1"}
    assert found(search, MESSAGES, SearchQuery(text=CARD)) == set()
