"""`GET /asyncapi.json` (gateway/asyncapi_api.py): public (no credential, on an app whose
other routes demand one), exactly the committed docs/asyncapi.json, cacheable by ETag."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from socialcare.core.auth import Permission, require
from socialcare.core.config import PlatformSettings
from socialcare.core.runtime import Runtime, build_app
from socialcare.gateway.asyncapi_api import ASYNCAPI_PATH, asyncapi_router
from tests.unit.auth_support import open_test_auth
from tests.unit.integrate.tools import REPO


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    runtime = Runtime(PlatformSettings(data_dir=tmp_path, embedded_sync="normal"))
    protected = APIRouter()

    @protected.get("/v1/protected", dependencies=[Depends(require(Permission.READ_CASES))])
    def protected_route() -> dict[str, str]:
        return {"ok": "yes"}

    app = build_app("t", [asyncapi_router(), protected], [], open_test_auth(runtime).authenticator)
    with TestClient(app) as client:
        yield client
    runtime.close()


def test_the_document_is_served_without_a_credential(client: TestClient) -> None:
    assert client.get("/v1/protected").status_code == 401  # the app does check credentials
    response = client.get(ASYNCAPI_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == (REPO / "docs" / "asyncapi.json").read_bytes()
    assert response.json()["asyncapi"] == "3.0.0"


def test_an_unchanged_document_is_not_sent_again(client: TestClient) -> None:
    first = client.get(ASYNCAPI_PATH)
    etag = first.headers["etag"]
    assert etag.startswith('"') and len(etag) == 66
    assert "max-age" in first.headers["cache-control"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(ASYNCAPI_PATH, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
    changed = client.get(ASYNCAPI_PATH, headers={"If-None-Match": '"an-older-document"'})
    assert changed.status_code == 200 and changed.content == first.content


def test_the_route_is_not_part_of_the_openapi_document(client: TestClient) -> None:
    """Like /openapi.json itself: documentation, not an API operation."""
    paths = client.get("/openapi.json").json()["paths"]
    assert ASYNCAPI_PATH not in paths and "/v1/protected" in paths
