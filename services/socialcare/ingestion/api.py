"""REST door of ingestion: `POST /v1/messages` and `POST /v1/messages:batch`.

Answers of `POST /v1/messages` (the public contract):
  202 `{"message_id", "duplicate": false}`  new message, durable on social.messages.raw
  200 `{"message_id", "duplicate": true}`   accepted before; nothing published
  and the platform's one error body (`core.http_errors`) otherwise:
  400 `invalid_json`            the body is not JSON
  415 `unsupported_media_type`  Content-Type is not JSON
  422 `invalid_request`         `field` / `details` name every bad field (`author.id`, ...)
  503 `bus_unavailable`         not accepted; retry after `Retry-After` seconds
  503 `overloaded`              the process has as much work in flight as it may hold
                                (`ingestion.admission`): refused at once, nothing written;
                                retry after `Retry-After` seconds
  401 without a credential, 403 without the `ingest` permission or (`field`: `brand`) for a
  brand the API key is not for (`ingestion.access`; a message naming none gets the key's)

`POST /v1/messages:batch` takes `{"messages": [...]}` (1 to 500, each what the single
endpoint takes) and answers 200 `{"results": [...]}`, one per message in order: the
receipt above for an accepted or duplicate message, or for an invalid one exactly the error
body the single endpoint would answer for it (fields relative to the message). The valid
messages are accepted whatever the invalid ones are: one produce batch, one wait. The whole
request is refused with 400 / 415 as above, 422 naming `messages` when the list is empty,
longer than 500 or not a list, and 503 when the bus is down or the process is overloaded
(then nothing is accepted).

The app's handler table renders every error; this router only counts refused messages
(`socialcare_messages_ingested_total{outcome="rejected"}`), which needs `CountingRoute`
because FastAPI validates the body before the endpoint runs. `CountingRoute` is also where
a request is admitted (`Admission.admitted`): before its body is read and validated and
before it queues for a threadpool thread, so that a refused request costs next to nothing
and an admitted one is counted until its answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from opentelemetry import propagate
from pydantic import ValidationError

from socialcare.core.auth import Permission, Principal, require
from socialcare.core.errors import ForbiddenError, InvalidRequestError, field_problems
from socialcare.core.http_errors import ErrorBody, error_body, error_responses
from socialcare.ingestion.access import within_brands
from socialcare.ingestion.admission import Admission
from socialcare.ingestion.ingestor import Ingestor, count_rejected
from socialcare.ingestion.models import (
    MAX_BATCH,
    BatchResults,
    MessageBatch,
    MessageCreate,
    MessageReceipt,
)

log = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Ingester = Annotated[Principal, Depends(require(Permission.INGEST))]


class CountingRoute(APIRoute):
    """Admits the request (`admission`, set by `ingestion_router`), counts each message
    refused by validation (by the channel it claimed, if any), then lets any error propagate
    to the app's handler table unchanged."""

    admission: Admission | None = None

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()
        admission = self.admission

        async def handle_counting_rejections(request: Request) -> Response:
            if admission is None:
                return await _counting_rejections(handle, request)
            with admission.admitted("rest", _content_length(request)):
                return await _counting_rejections(handle, request)

        return handle_counting_rejections


async def _counting_rejections(handle: Handler, request: Request) -> Response:
    try:
        return await handle(request)
    except RequestValidationError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        batch = body.get("messages")
        if isinstance(batch, list):  # a refused batch: each message it carried
            count_rejected(*(_claimed_channel(item) for item in batch))
        else:
            count_rejected(body.get("channel"))
        raise


def _content_length(request: Request) -> int | None:
    """The body's declared size; None when it is not declared (chunked) or not a number."""
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def _claimed_channel(item: object) -> object:
    return item.get("channel") if isinstance(item, dict) else None


def batch_result(item: object, principal: Principal) -> MessageCreate | ErrorBody:
    """An item of a batch as `MessageCreate`, or the error body `POST /v1/messages` would
    answer for it as a whole request (fields relative to the message)."""
    try:
        return within_brands(principal, MessageCreate.model_validate(item))
    except ValidationError as exc:
        problems = field_problems(
            {**error, "loc": ("body", *error.get("loc", ()))} for error in exc.errors()
        )
        return ErrorBody.model_validate(error_body(InvalidRequestError.from_problems(problems)))
    except ForbiddenError as exc:
        return ErrorBody.model_validate(error_body(exc))


def ingestion_router(ingestor: Ingestor, admission: Admission | None = None) -> APIRouter:
    """The ingestion endpoints, bound to one `Ingestor`; with `admission`, each request is
    admitted first (503 `overloaded` above its bound)."""

    class AdmittingRoute(CountingRoute):
        pass

    AdmittingRoute.admission = admission
    router = APIRouter(route_class=AdmittingRoute, tags=["ingestion"])

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
                401,
                403,
                415,
                422,
                503,
                descriptions={
                    403: "Without the `ingest` permission, or for a brand the credential "
                    "is not for (`forbidden`, `field`: `brand`).",
                    503: "The event bus is unavailable (`bus_unavailable`) or ingestion has "
                    "as much work in flight as it may hold (`overloaded`): not accepted; "
                    "retry after `Retry-After` seconds.",
                },
            ),
        },
    )
    def submit_message(
        message: MessageCreate, request: Request, response: Response, principal: Ingester
    ) -> MessageReceipt:
        """Accept a message from a channel webhook, poller or integrator.

        202 means the message is durable and will be processed; send the same
        (channel, external_id) again safely, e.g. after a timeout: the answer is then 200
        with `duplicate: true` and the same `message_id`. A BusError (503) propagates to
        the app's error handlers.
        """
        # A sync endpoint on purpose: the flush that makes the message durable blocks, and
        # FastAPI runs sync endpoints in its threadpool.
        message = within_brands(principal, message)
        parent = propagate.extract(dict(request.headers))
        result = ingestor.ingest(message, parent=parent)
        if result.duplicate:
            response.status_code = 200
        return MessageReceipt(message_id=result.message_id, duplicate=result.duplicate)

    @router.post(
        "/v1/messages:batch",
        status_code=200,
        response_model=BatchResults,
        response_model_exclude_none=True,
        summary=f"Submit up to {MAX_BATCH} inbound customer messages at once",
        responses={
            **error_responses(
                400,
                401,
                403,
                415,
                422,
                503,
                descriptions={
                    403: "Without the `ingest` permission (`forbidden`); a message for a "
                    "brand the credential is not for is refused per item.",
                    422: f"`messages` is empty, longer than {MAX_BATCH} or not a list "
                    "(`invalid_request`); invalid messages themselves are answered per item.",
                    503: "The event bus is unavailable (`bus_unavailable`) or ingestion is "
                    "overloaded (`overloaded`): nothing was accepted; retry the batch after "
                    "`Retry-After` seconds.",
                },
            ),
        },
    )
    def submit_batch(batch: MessageBatch, request: Request, principal: Ingester) -> BatchResults:
        """Accept many messages in one request (integrators, backfills).

        Every valid message is durable when the answer comes (their records share one
        produce batch and one wait); each result says what became of its message, in
        request order. Retrying the batch after a timeout or a 503 is safe: what was
        accepted comes back as `duplicate: true`.
        """
        checked = [batch_result(item, principal) for item in batch.messages]
        valid = [item for item in checked if isinstance(item, MessageCreate)]
        if len(valid) < len(checked):
            count_rejected(
                *(
                    _claimed_channel(raw)
                    for raw, item in zip(batch.messages, checked, strict=True)
                    if isinstance(item, ErrorBody)
                )
            )
        parent = propagate.extract(dict(request.headers))
        accepted = iter(ingestor.ingest_batch(valid, parent=parent) if valid else ())
        results: list[MessageReceipt | ErrorBody] = []
        for item in checked:
            if isinstance(item, MessageCreate):
                result = next(accepted)
                results.append(
                    MessageReceipt(message_id=result.message_id, duplicate=result.duplicate)
                )
            else:
                results.append(item)
        return BatchResults(results=results)

    return router
