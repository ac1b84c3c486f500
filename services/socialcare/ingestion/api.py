"""REST door of ingestion: `POST /v1/messages`.

Answers (the public contract):
  202 `{"message_id", "duplicate": false}`  new message, durable on social.messages.raw
  200 `{"message_id", "duplicate": true}`   accepted before; nothing published
  and the platform's one error body (`core.http_errors`) otherwise:
  400 `invalid_json`            the body is not JSON
  415 `unsupported_media_type`  Content-Type is not JSON
  422 `invalid_request`         `field` / `details` name every bad field (`author.id`, ...)
  503 `bus_unavailable`         not accepted; retry after `Retry-After` seconds

The app's handler table renders every error; this router only counts refused messages
(`socialcare_messages_ingested_total{outcome="rejected"}`), which needs `CountingRoute`
because FastAPI validates the body before the endpoint runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from opentelemetry import propagate

from socialcare.core.http_errors import error_responses
from socialcare.ingestion.ingestor import Ingestor, count_rejected
from socialcare.ingestion.models import MessageCreate, MessageReceipt

log = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class CountingRoute(APIRoute):
    """Counts each message refused by validation (by the channel it claimed, if any), then
    lets the error propagate to the app's handler table unchanged."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()

        async def handle_counting_rejections(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                body = exc.body if isinstance(exc.body, dict) else {}
                count_rejected(body.get("channel"))
                raise

        return handle_counting_rejections


def ingestion_router(ingestor: Ingestor) -> APIRouter:
    """The ingestion endpoints, bound to one `Ingestor`."""
    router = APIRouter(route_class=CountingRoute, tags=["ingestion"])

    @router.post(
        "/v1/messages",
        status_code=202,
        response_model=MessageReceipt,
        summary="Submit one inbound customer message",
        responses={
            200: {"model": MessageReceipt, "description": "Duplicate: accepted before."},
            202: {"model": MessageReceipt, "description": "Accepted and durable."},
            **error_responses(
                400,
                415,
                422,
                503,
                descriptions={503: "The event bus is unavailable (`bus_unavailable`); retry."},
            ),
        },
    )
    def submit_message(
        message: MessageCreate, request: Request, response: Response
    ) -> MessageReceipt:
        """Accept a message from a channel webhook, poller or integrator.

        202 means the message is durable and will be processed; send the same
        (channel, external_id) again safely, e.g. after a timeout: the answer is then 200
        with `duplicate: true` and the same `message_id`. A BusError (503) propagates to
        the app's error handlers.
        """
        # A sync endpoint on purpose: the flush that makes the message durable blocks, and
        # FastAPI runs sync endpoints in its threadpool.
        parent = propagate.extract(dict(request.headers))
        result = ingestor.ingest(message, parent=parent)
        if result.duplicate:
            response.status_code = 200
        return MessageReceipt(message_id=result.message_id, duplicate=result.duplicate)

    return router
