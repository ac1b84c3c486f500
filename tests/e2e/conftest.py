"""Fixture: a running platform per backend pair (embedded; Kafka + Elasticsearch)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.platform import Platform, platform_on_backends, running


@pytest.fixture(params=["embedded", "kafka-elasticsearch"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    with running(platform_on_backends(request, tmp_path)) as started:
        yield started
