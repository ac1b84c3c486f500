"""The search index a contract test runs against, by the backend its fixture's param names:
`embedded`, the SQLite store in the test's temporary directory, or `elasticsearch`, the
real node of the session fixture `elasticsearch_url` under a fresh index prefix, whose
indices are deleted afterwards so tests never see each other's documents."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from socialcare.core.search import SearchIndex
from socialcare.core.search.elastic import ElasticsearchIndex
from socialcare.core.search.embedded import EmbeddedSearchIndex


@contextmanager
def search_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
    if request.param == "embedded":
        embedded = EmbeddedSearchIndex(tmp_path / "search")
        try:
            yield embedded
        finally:
            embedded.close()
        return
    url = request.getfixturevalue("elasticsearch_url")
    prefix = f"sc-test-{uuid.uuid4().hex[:12]}-"
    elastic = ElasticsearchIndex(url, index_prefix=prefix)
    try:
        yield elastic
    finally:
        try:
            for name in elastic.client.indices.get(index=f"{prefix}*", expand_wildcards="all"):
                elastic.client.options(ignore_status=404).indices.delete(index=name)
        finally:
            elastic.close()
