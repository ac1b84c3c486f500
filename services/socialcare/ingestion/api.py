"""REST door of ingestion: `POST /v1/messages`.

Answers (the public contract):
  202 `{"message_id", "duplicate": false}`  new message, durable on social.messages.raw
  200 `{"message_id", "duplicate": true}`   accepted before; nothing published
  400 `{"detail": "request body is not valid JSON: ..."}`
  415 `{"detail": "send the message as JSON ..."}`  Content-Type is not JSON
  422 `{"detail": "author.id: Field required; ...", "errors": [...]}`
  503 `{"detail": "event bus unavailable: ..."}`  not accepted; retry later

The 400/422 shapes come from `IngestionRoute`, a route class used only by this router: it
turns FastAPI's `RequestValidationError` into our answers for these paths alone, so the
gateway and other routers in the same process keep FastAPI's default error bodies and no
app-level handler has to be installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from opentelemetry import propagate

from socialcare.core.bus import BusError
from socialcare.ingestion.ingestor import Ingestor, count_rejected
from socialcare.ingestion.models import (
    ErrorDetail,
    MessageCreate,
    MessageReceipt,
    ValidationProblem,
    describe,
    field_errors,
)

log = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def problem_response(exc: RequestValidationError) -> JSONResponse:
    """400 for a body that is not JSON at all, 415 for a body not sent as JSON, 422 naming
    the fields otherwise."""
    errors = list(exc.errors())
    if isinstance(exc.body, bytes | bytearray):
        # FastAPI parses the body only when Content-Type says JSON; otherwise the raw bytes
        # reach validation and the client would read a puzzling "valid dictionary" error.
        count_rejected(None)
        return JSONResponse(
            status_code=415,
            content={"detail": "send the message as JSON with Content-Type: application/json"},
        )
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "malformed")
            position = error.get("loc", ("body", None))[-1]
            where = f" at position {position}" if isinstance(position, int) else ""
            count_rejected(None)
            return JSONResponse(
                status_code=400,
                content={"detail": f"request body is not valid JSON: {reason}{where}"},
            )
    problems = field_errors(errors)
    body = exc.body if isinstance(exc.body, dict) else {}
    count_rejected(body.get("channel"))
    problem = ValidationProblem(detail=describe(problems), errors=problems)
    return JSONResponse(status_code=422, content=problem.model_dump(mode="json"))


class IngestionRoute(APIRoute):
    """Ingestion's error answers for invalid requests, scoped to the routes that use it."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()

        async def handle_with_problems(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                return problem_response(exc)

        return handle_with_problems


def ingestion_router(ingestor: Ingestor) -> APIRouter:
    """The ingestion endpoints, bound to one `Ingestor`."""
    router = APIRouter(route_class=IngestionRoute, tags=["ingestion"])

    @router.post(
        "/v1/messages",
        status_code=202,
        response_model=MessageReceipt,
        summary="Submit one inbound customer message",
        responses={
            200: {"model": MessageReceipt, "description": "Duplicate: accepted before."},
            202: {"model": MessageReceipt, "description": "Accepted and durable."},
            400: {"model": ErrorDetail, "description": "The body is not valid JSON."},
            415: {"model": ErrorDetail, "description": "Content-Type is not JSON."},
            422: {"model": ValidationProblem, "description": "A field is missing or invalid."},
            503: {"model": ErrorDetail, "description": "Event bus unavailable; retry."},
        },
    )
    def submit_message(
        message: MessageCreate, request: Request, response: Response
    ) -> MessageReceipt:
        """Accept a message from a channel webhook, poller or integrator.

        202 means the message is durable and will be processed; send the same
        (channel, external_id) again safely, e.g. after a timeout: the answer is then 200
        with `duplicate: true` and the same `message_id`.
        """
        # A sync endpoint on purpose: the flush that makes the message durable blocks, and
        # FastAPI runs sync endpoints in its threadpool.
        parent = propagate.extract(dict(request.headers))
        try:
            result = ingestor.ingest(message, parent=parent)
        except BusError as exc:
            log.warning("message not accepted: event bus unavailable", extra={"error": str(exc)})
            raise HTTPException(status_code=503, detail=f"event bus unavailable: {exc}") from exc
        if result.duplicate:
            response.status_code = 200
        return MessageReceipt(message_id=result.message_id, duplicate=result.duplicate)

    return router
