"""Fixtures for ingestion tests: a real Runtime on the embedded bus in a temporary directory.

Records are read back from `social.messages.raw` with a real consumer (see
`ingestion_helpers.raw_records`), so a test sees what an enrichment consumer would see.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from socialcare.core import telemetry
from socialcare.core.runtime import Runtime
from tests.unit.auth_support import admin_headers
from tests.unit.ingestion.ingestion_helpers import ingestion_app, settings_for


@pytest.fixture(scope="session", autouse=True)
def _tracing() -> None:
    """The process-wide tracer provider, so records get a real `traceparent` as in prod."""
    telemetry.configure("socialcare-tests", log_level="WARNING")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(settings_for(tmp_path))
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(ingestion_app(runtime), headers=admin_headers(runtime)) as client:
        yield client
