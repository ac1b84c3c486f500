"""Fixture: a running platform per backend pair (embedded; Kafka + Elasticsearch)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.platform import Platform, make_platform


@pytest.fixture(params=["embedded", "kafka-elasticsearch"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    if request.param == "embedded":
        running = make_platform(tmp_path, "embedded", "embedded")
    else:
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        es_url = request.getfixturevalue("elasticsearch_url")
        running = make_platform(tmp_path, f"kafka://{bootstrap}", es_url)
    running.start()
    try:
        yield running
    finally:
        if running.process is not None and running.process.poll() is None:
            running.stop()
