"""The indexer's loop on the real Elasticsearch node when the node refuses documents.

The `messages` index here was made by other hands (an older deployment, an operator): its
recorded schema says `language` is a keyword, its mapping says `long`. The indexer's
`ensure_index` trusts the recorded schema, so the node itself refuses every message document
whose language is not a number (a 400 `document_parsing_exception` per bulk item): the
refusal only the store can see. The record behind them goes to care.cases.dlq once, with the
node's reason; the rest of the batch is indexed and committed (a second member of the group
gets only what came after); the loop never stalls. Elasticsearch only: the embedded store's
mapping is its recorded schema, so it cannot disagree with it (its refusals are checked in
tests/contract/test_search_contract.py and tests/unit/test_loop_rejected_documents.py).
Hold `flock /tmp/plan14/kafka.lock` to run it (the shared node).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.search import SearchIndex
from socialcare.core.search.elastic import _SETTINGS, ElasticsearchIndex, _mappings
from socialcare.core.search.indices import CASES, MESSAGES, SCHEMAS
from socialcare.core.search.schema import schema_fields
from tests.contract.search_backends import search_backend
from tests.unit.indexer.test_indexer_processor import case_event
from tests.unit.loop_support import laid_out_bus, loop_thread, wait_until
from tests.unit.test_loop_rejected_documents import (
    CASES_DLQ,
    CountingIndexer,
    dead_letters,
    publish_cases,
)

DEADLINE_S = 30.0


@pytest.fixture(params=["elasticsearch"])
def search(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
    with search_backend(request, tmp_path) as index:
        yield index


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    opened = laid_out_bus(tmp_path / "bus", 1)
    yield opened
    opened.close()


def test_documents_the_node_refuses_dead_letter_their_record_and_the_batch_commits(
    search: SearchIndex, bus: EmbeddedBus
) -> None:
    assert isinstance(search, ElasticsearchIndex)
    mappings = _mappings(schema_fields(SCHEMAS[MESSAGES]))
    mappings["properties"]["language"] = {"type": "long"}
    search.client.indices.create(
        index=search.real_name(MESSAGES), settings=_SETTINGS, mappings=mappings
    )
    wordy = case_event("c1", 2)  # language "nl": its two message documents are refused
    numeric = case_event("c2", 1)
    numeric.case.language = "7"  # a number: the node takes it
    publish_cases(bus, wordy, numeric)

    indexer = CountingIndexer(search)
    with loop_thread(bus, indexer, "indexer-es") as thread:
        wait_until(lambda: len(dead_letters(bus)) > 0, DEADLINE_S, thread)
        wait_until(lambda: search.get(MESSAGES, "c2-m0") is not None, DEADLINE_S, thread)
    [letter] = dead_letters(bus)
    assert letter.key == b"c1"
    assert letter.header("dlq-original-offset") == b"0"
    reason = (letter.header("dlq-reason") or b"").decode()
    for doc_id in ("c1-m0", "c1-m1"):
        assert f"{MESSAGES} document {doc_id!r} refused by the search store: 400 " in reason
    assert "document_parsing_exception" in reason and "[language]" in reason
    assert search.get(CASES, "c1") is not None, "the record's accepted documents stay"
    assert search.get(MESSAGES, "c1-m0") is None
    assert search.get(CASES, "c2") is not None
    assert sorted(indexer.seen) == [(0, 0), (0, 1)]

    later = case_event("c3", 1)
    later.case.language = "8"
    publish_cases(bus, later)
    again = CountingIndexer(search)
    with loop_thread(bus, again, "indexer-es") as thread:
        wait_until(lambda: search.get(MESSAGES, "c3-m0") is not None, DEADLINE_S, thread)
    assert again.seen == [(0, 2)], "committed past the dead-lettered record"
    assert len(dead_letters(bus, CASES_DLQ)) == 1
