"""A refusal's reason carries no customer words: `ElasticsearchIndex.upsert` builds it from
Elasticsearch's item error, which quotes the refused value ("Preview of field's value: ...",
an immense term's prefix; its cause's reason too), and that reason goes into the dead
letter's dlq-reason header and the "record sent to DLQ" log. The bulk answers below are the
shapes Elasticsearch 8 gives (copied from a real node's answers, the value replaced)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from socialcare.core.search import DocumentRejectedError, FieldKind, IndexedDocument
from socialcare.core.search.elastic import ElasticsearchIndex

INDEX = "messages"
SECRET = "mijn adres is Kerkstraat 12"

ERRORS: dict[str, dict[str, Any]] = {
    "wrong-type": {
        "type": "document_parsing_exception",
        "reason": (
            "[1:13] failed to parse field [language] of type [long] in document with id "
            f"'wrong-type'. Preview of field's value: '{SECRET}'"
        ),
        "caused_by": {
            "type": "illegal_argument_exception",
            "reason": f'For input string: "{SECRET}"',
        },
    },
    "bad-date": {
        "type": "document_parsing_exception",
        "reason": (
            "[1:10] failed to parse field [received_at] of type [date] in document with id "
            f"'bad-date'. Preview of field's value: '{SECRET}'"
        ),
        "caused_by": {
            "type": "illegal_argument_exception",
            "reason": f"failed to parse date field [{SECRET}] with format [strict_date_time]",
        },
    },
    "immense": {
        "type": "illegal_argument_exception",
        "reason": (
            'Document contains at least one immense term in field="keyword_text" (whose UTF8 '
            "encoding is longer than the max length 32766), all of which were skipped. The "
            f"prefix of the first immense term is: '{list(SECRET.encode())}...'"
        ),
        "caused_by": {
            "type": "max_bytes_length_exceeded_exception",
            "reason": "bytes can be at most 32766 in length; got 40000",
        },
    },
}


class Node:
    """Answers every bulk item with the error of its id in ERRORS (400)."""

    def bulk(self, *, operations: Sequence[Any]) -> Mapping[str, Any]:
        items = [
            {"index": {"_id": a["index"]["_id"], "status": 400, "error": ERRORS[a["index"]["_id"]]}}
            for a in operations[::2]
        ]
        return {"errors": True, "items": items}


@pytest.fixture
def index() -> Iterator[ElasticsearchIndex]:
    es = ElasticsearchIndex("http://127.0.0.1:9")
    es._remember(INDEX, {"text": FieldKind.TEXT})  # as after ensure_index
    es.client.close()
    es._client = Node()  # type: ignore[assignment]
    yield es


def refusals(index: ElasticsearchIndex) -> dict[str, str]:
    documents = [IndexedDocument(doc_id, {"text": SECRET}) for doc_id in ERRORS]
    with pytest.raises(DocumentRejectedError) as refused:
        index.upsert(INDEX, documents)
    return refused.value.rejected


def test_no_refusal_reason_quotes_the_value(index: ElasticsearchIndex) -> None:
    rejected = refusals(index)
    assert set(rejected) == set(ERRORS)
    for reason in rejected.values():
        assert "Kerkstraat" not in reason and "Preview" not in reason, reason
        assert str(list(SECRET.encode())[:3])[1:-1] not in reason, reason


def test_a_refusal_reason_keeps_the_kind_the_field_and_its_type(
    index: ElasticsearchIndex,
) -> None:
    rejected = refusals(index)
    assert rejected["wrong-type"] == (
        "400 document_parsing_exception: [1:13] failed to parse field [language] of type "
        "[long] in document with id 'wrong-type' (caused by illegal_argument_exception)"
    )
    assert "field [received_at] of type [date]" in rejected["bad-date"]
    assert rejected["immense"].startswith(
        "400 illegal_argument_exception: Document contains at least one immense term in "
        'field="keyword_text"'
    )
    assert rejected["immense"].endswith(
        "all of which were skipped (caused by max_bytes_length_exceeded_exception)"
    )
