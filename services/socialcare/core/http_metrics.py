"""HTTP RED metrics (rate, errors, duration) for every route of every service.

`HttpMetricsMiddleware` is a plain ASGI middleware `runtime.build_app` installs on every
process's app. After the request it reads the route Starlette matched (`scope["route"]`)
and labels the request with the route's template (`/v1/cases/{case_id}`, never the raw
path, so labels stay bounded), the service whose module serves the route (`gateway`,
`ingestion`, `channels`, `platform` for /metrics and the probes...) and the status code. A
request no route matched is `route="unmatched"`; an unusual method is `method="other"`.

When request spans are recorded, the request's server span gets the same service in
`socialcare.service` (FastAPI's span starts before routing, so it is set here, after).
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialcare.core.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS
from socialcare.core.telemetry import SERVICE_ATTRIBUTE, service_of_module

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def describe_route(route: Any) -> tuple[str, str]:
    """(route template, service) of a matched Starlette route; ("unmatched", "platform")
    for none."""
    if route is None:
        return UNMATCHED, "platform"
    template = getattr(route, "path", None) or UNMATCHED
    endpoint = getattr(route, "endpoint", None) or getattr(route, "app", None)
    module = getattr(endpoint, "__module__", "") or ""
    return str(template), service_of_module(module)


class HttpMetricsMiddleware:
    """Counts and times every HTTP request (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Routes never change after start-up: describe each once (by identity; Starlette
        # routes are not hashable).
        self._described: dict[int, tuple[Any, tuple[str, str]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped every handler

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # The request's span ends with its last body message: name its service
                # now (routing is done: the route is known).
                span = trace.get_current_span()
                if span.is_recording():
                    span.set_attribute(SERVICE_ATTRIBUTE, self._describe(scope.get("route"))[1])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            template, service = self._describe(scope.get("route"))
            method = scope.get("method", "")
            method = method if method in METHODS else "other"
            HTTP_REQUESTS.labels(service, method, template, str(status)).inc()
            HTTP_REQUEST_SECONDS.labels(service, method, template).observe(
                time.perf_counter() - started
            )

    def _describe(self, route: Any) -> tuple[str, str]:
        if route is None:
            return describe_route(None)
        known = self._described.get(id(route))
        if known is not None and known[0] is route:
            return known[1]
        described = describe_route(route)
        self._described[id(route)] = (route, described)
        return described
