"""`/docs`: Swagger UI with every asset served by the platform (no CDN)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from socialcare.console import docs
from socialcare.console.docs import docs_router


@pytest.fixture
def client() -> Iterator[TestClient]:
    # As build_app makes it: FastAPI's own CDN-loading pages off, this router instead.
    app = FastAPI(title="docs-test", docs_url=None, redoc_url=None)
    app.include_router(docs_router())

    @app.get("/v1/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    with TestClient(app) as test_client:
        yield test_client


def test_docs_load_swagger_ui_from_the_platform(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    page = response.text
    assert "cdn.jsdelivr.net" not in page
    assert re.findall(r"https?://", page) == [], "nothing loaded from another host"
    js = re.search(r'src="(/docs/assets/swagger-ui-bundle\.js\?v=[0-9a-f]{12})"', page)
    css = re.search(r'href="(/docs/assets/swagger-ui\.css\?v=[0-9a-f]{12})"', page)
    assert js is not None and css is not None
    assert "url: '/openapi.json'" in page
    assert '"validatorUrl": null' in page, "no call to validator.swagger.io"

    script = client.get(js.group(1))
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "immutable" in script.headers["cache-control"]
    assert b"SwaggerUIBundle" in script.content
    style = client.get(css.group(1))
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert style.content.startswith(b".swagger-ui")


def test_docs_describe_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/ping" in spec["paths"]
    assert not any(path.startswith("/docs") for path in spec["paths"])


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/swagger-ui.LICENSE",
        "/docs/assets/../docs.py",
        "/docs/assets/swagger-ui-bundle.js.map",
        "/redoc",
    ],
)
def test_docs_serve_only_their_two_assets(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_oauth2_redirect_page_is_served(client: TestClient) -> None:
    response = client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "oauth2" in response.text.lower()


def test_vendored_swagger_ui_is_pinned_with_its_licence() -> None:
    folder = docs._asset_paths()["swagger-ui.css"][0].parent
    assert sorted(p.name for p in folder.iterdir()) == [
        "swagger-ui-bundle.js",
        "swagger-ui.LICENSE",
        "swagger-ui.css",
    ]
    assert "Apache License" in (folder / "swagger-ui.LICENSE").read_text()
    assert docs.SWAGGER_UI_VERSION in (docs.__doc__ or "")
