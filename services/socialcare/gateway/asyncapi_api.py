"""`GET /asyncapi.json`: the AsyncAPI 3.0.0 document of the event stream (Kafka topics and
webhooks), for integrators and their tools.

Public, like `/docs` and `/openapi.json`: it is documentation of the public contract (topic
names, keys, headers, schemas), and every topic and webhook it describes still needs its own
credentials. The body is exactly what `python -m socialcare.core.asyncapi --out` writes to
the committed `docs/asyncapi.json` (`core.asyncapi.document_json`), built once when the
router is made. It carries a strong ETag (the document's SHA-256), so a client that polls
for schema changes gets 304 until the platform is upgraded.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Response

from socialcare.core.asyncapi import document_json

ASYNCAPI_PATH = "/asyncapi.json"
# Browsers and caches may keep it a few minutes: it changes only with a new release.
CACHE_CONTROL = "public, max-age=300"


def asyncapi_router() -> APIRouter:
    """The router serving the document; building it builds the document (about 10 ms)."""
    body = document_json().encode()
    etag = '"' + hashlib.sha256(body).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    router = APIRouter(include_in_schema=False)

    @router.get(ASYNCAPI_PATH, response_model=None)
    def asyncapi_document(
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        if if_none_match is not None and _matches(if_none_match, etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    return router


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*` or a list of entity tags (weak comparison)."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
