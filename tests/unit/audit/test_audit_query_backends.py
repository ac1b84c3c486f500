"""The audit query on both search backends (embedded, and Elasticsearch marked
`elasticsearch`): the same documents, the same pages, newest first, the exact window."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from socialcare.core.audit import Actor, audit_record
from socialcare.core.audit_index import (
    AUDIT,
    AUDIT_SCHEMA,
    AuditQuery,
    audit_document,
    find_records,
)
from socialcare.core.clock import to_timestamp
from socialcare.core.search import SearchIndex
from socialcare.core.search.elastic import ElasticsearchIndex
from socialcare.core.search.embedded import EmbeddedSearchIndex

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def search(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
    if request.param == "embedded":
        index: SearchIndex = EmbeddedSearchIndex(tmp_path / "search")
        yield index
        index.close()
        return
    url = request.getfixturevalue("elasticsearch_url")
    elastic = ElasticsearchIndex(url, index_prefix=f"sc-test-{uuid.uuid4().hex[:12]}-")
    yield elastic
    elastic.delete_index(AUDIT)
    elastic.close()


def test_the_query_means_the_same_on_every_backend(search: SearchIndex) -> None:
    search.ensure_index(AUDIT, AUDIT_SCHEMA)
    actors = [Actor("user", "u-1", "sanne", ("agent",)), Actor("api_key", "k-1", "crm")]
    documents = []
    for n in range(12):
        record = audit_record(
            actors[n % 2],
            "case.reply" if n % 3 else "webhook.create",
            target_type="case",
            target_id=f"c-{n}",
            brand="acme" if n < 6 else "globex",
            status=200 if n % 4 else 403,
        )
        record.record_id = f"r-{n:02d}"
        # Every 7 hours and a bit: the window crosses days; the microseconds must order.
        record.at.CopyFrom(to_timestamp(T0 + timedelta(hours=7 * n, microseconds=n)))
        documents.append(audit_document(record))
    search.upsert(AUDIT, documents)
    search.refresh(AUDIT)

    everything = find_records(search, AuditQuery(limit=500))
    assert [r["record_id"] for r in everything.records] == [f"r-{n:02d}" for n in range(11, -1, -1)]
    assert everything.total == 12

    by_key = find_records(search, AuditQuery(actor="crm", action="case", brand="acme"))
    assert [r["record_id"] for r in by_key.records] == ["r-05", "r-01"]
    refused = find_records(search, AuditQuery(outcome="refused"))
    assert [r["record_id"] for r in refused.records] == ["r-08", "r-04", "r-00"]

    window = AuditQuery(since=T0 + timedelta(hours=14), until=T0 + timedelta(hours=35))
    assert [r["record_id"] for r in find_records(search, window).records] == [
        "r-04",
        "r-03",
        "r-02",
    ]

    pages, cursor, seen = 0, None, []
    while True:
        page = find_records(search, AuditQuery(limit=5, cursor=cursor))
        seen += [r["record_id"] for r in page.records]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3
    assert seen == [r["record_id"] for r in everything.records]
    [one] = find_records(search, AuditQuery(target="case:c-7")).records
    assert (one["actor_name"], one["details"], one["actor_roles"]) == ("crm", {}, [])
