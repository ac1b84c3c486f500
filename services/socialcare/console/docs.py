"""The API's interactive documentation (`/docs`, Swagger UI) with every asset served by
the platform itself: no CDN, nothing fetched from the internet at run time.

FastAPI's own `/docs` loads Swagger UI from cdn.jsdelivr.net; `build_app` turns it off
(`docs_url=None, redoc_url=None`) and includes `docs_router()` instead. Swagger UI is
vendored from npm `swagger-ui-dist@5.35.0` (`npm pack swagger-ui-dist@5.35.0`; only
`swagger-ui-bundle.js`, `swagger-ui.css` and its LICENSE, in
`console/static/vendor/swagger/`). The router serves those two files itself under
`/docs/assets/`, so `/docs` works on every process's app, with or without the console.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, Response

SWAGGER_UI_VERSION = "5.35.0"
DOCS_PATH = "/docs"
ASSETS_PREFIX = "/docs/assets"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
# The only files served under ASSETS_PREFIX, with their media types.
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
# Swagger UI would otherwise ask validator.swagger.io about the spec (a request off-site).
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


@cache
def _asset_paths() -> dict[str, tuple[Path, str]]:
    """Each asset's file and the first 12 hex digits of its sha256 (the URL's version)."""
    root = Path(str(resources.files("socialcare.console").joinpath("static/vendor/swagger")))
    found: dict[str, tuple[Path, str]] = {}
    for name in ASSETS:
        path = root / name
        found[name] = (path, hashlib.sha256(path.read_bytes()).hexdigest()[:12])
    return found


def asset_url(name: str) -> str:
    """The URL of one of the ASSETS, carrying its content hash (cached for a year)."""
    return f"{ASSETS_PREFIX}/{name}?v={_asset_paths()[name][1]}"


def docs_router(title: str = "socialcare API") -> APIRouter:
    """`GET /docs` (Swagger UI on `/openapi.json`), its OAuth2 redirect page and its two
    assets. Public, as FastAPI's own `/docs` is: the API it describes still asks for
    credentials on every call."""
    router = APIRouter(include_in_schema=False)

    @router.get(DOCS_PATH, response_model=None)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{title} - Swagger UI",
            swagger_js_url=asset_url("swagger-ui-bundle.js"),
            swagger_css_url=asset_url("swagger-ui.css"),
            swagger_favicon_url="data:,",
            oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @router.get(OAUTH2_REDIRECT_PATH, response_model=None)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get(ASSETS_PREFIX + "/{name}", response_model=None)
    def asset(name: str) -> Response:
        if name not in ASSETS:
            return Response(status_code=404)
        path, _version = _asset_paths()[name]
        return FileResponse(
            path,
            media_type=ASSETS[name],
            headers={
                "Cache-Control": "public, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return router


__all__ = ["docs_router"]
