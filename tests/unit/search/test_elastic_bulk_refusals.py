"""How `ElasticsearchIndex.upsert` reads a bulk answer: which failures are the documents'
(`DocumentRejectedError`, the rest written) and which are an outage (plain `SearchError`).

The answers Elasticsearch gives that the local node cannot be made to give on demand (an
item refused with 429 or 503, a request over `http.max_content_length` answered 413) come
from a client stand-in here; a real refusal (400, a value of the wrong type) is checked on
the real node in tests/contract/test_search_contract.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError

from socialcare.core.search import DocumentRejectedError, FieldKind, IndexedDocument, SearchError
from socialcare.core.search.elastic import ElasticsearchIndex

INDEX = "cases"
MAX_CONTENT = 2_000
"""Bytes of documents the stand-in takes in one request before it answers 413."""


class Node:
    """Answers bulk requests as Elasticsearch does: 413 for a request over MAX_CONTENT
    bytes of documents; per item, 400 for an id starting "refuse", 429 for "busy", 503 for
    "down", else 201 (and the document is kept)."""

    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}
        self.requests: list[list[str]] = []

    def bulk(self, *, operations: Sequence[Any]) -> Mapping[str, Any]:
        pairs = list(zip(operations[::2], operations[1::2], strict=True))
        self.requests.append([action["index"]["_id"] for action, _ in pairs])
        if sum(len(line) for _, line in pairs) > MAX_CONTENT:
            meta = ApiResponseMeta(413, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "x", 9))
            raise ApiError("Request Entity Too Large", meta, "")
        items = [self._item(action["index"]["_id"], line) for action, line in pairs]
        return {"errors": any("error" in i["index"] for i in items), "items": items}

    def _item(self, doc_id: str, line: str) -> dict[str, Any]:
        for prefix, status, kind in [
            ("refuse", 400, "document_parsing_exception"),
            ("busy", 429, "es_rejected_execution_exception"),
            ("down", 503, "unavailable_shards_exception"),
        ]:
            if doc_id.startswith(prefix):
                error = {"type": kind, "reason": f"{kind} for {doc_id}"}
                return {"index": {"_id": doc_id, "status": status, "error": error}}
        self.stored[doc_id] = json.loads(line)
        return {"index": {"_id": doc_id, "status": 201, "result": "created"}}


@pytest.fixture
def node() -> Node:
    return Node()


@pytest.fixture
def index(node: Node) -> Iterator[ElasticsearchIndex]:
    es = ElasticsearchIndex("http://127.0.0.1:9")
    es._remember(INDEX, {"subject": FieldKind.TEXT})  # as after ensure_index
    es.client.close()
    es._client = node  # type: ignore[assignment]
    yield es


def docs(*ids: str, size: int = 10) -> list[IndexedDocument]:
    return [IndexedDocument(doc_id, {"subject": "x" * size}) for doc_id in ids]


def test_an_item_refused_with_400_is_the_documents_fault(
    index: ElasticsearchIndex, node: Node
) -> None:
    with pytest.raises(DocumentRejectedError) as refused:
        index.upsert(INDEX, docs("a", "refuse-1", "b"))
    assert refused.value.rejected == {
        "refuse-1": "400 document_parsing_exception: document_parsing_exception for refuse-1"
    }
    assert set(node.stored) == {"a", "b"}


@pytest.mark.parametrize("doc_id", ["busy-1", "down-1"])
def test_an_item_refused_with_429_or_5xx_is_an_outage(
    index: ElasticsearchIndex, node: Node, doc_id: str
) -> None:
    with pytest.raises(SearchError) as failed:
        index.upsert(INDEX, docs("a", "refuse-1", doc_id))
    assert not isinstance(failed.value, DocumentRejectedError)
    assert doc_id in str(failed.value)


def test_a_request_too_large_is_split_down_to_the_document_too_large_alone(
    index: ElasticsearchIndex, node: Node
) -> None:
    small = docs("s1", "s2", "s3", "s4", size=300)
    big = docs("big", size=MAX_CONTENT + 1)
    with pytest.raises(DocumentRejectedError) as refused:
        index.upsert(INDEX, [*small[:2], *big, *small[2:]])
    assert list(refused.value.rejected) == ["big"]
    assert refused.value.rejected["big"].startswith("413 the document (")
    assert "http.max_content_length" in refused.value.rejected["big"]
    assert set(node.stored) == {"s1", "s2", "s3", "s4"}
    assert ["big"] in node.requests, "the big document was tried on its own"
