"""The REST side of the error model: one error body for every endpoint of every service.

Every error answer, whichever service and whatever failed, has this body:

    {"error": {"code": "invalid_request",
               "message": "author.followers: Input should be less than or equal to ...",
               "field": "author.followers",
               "details": [{"field": "author.followers", "code": "less_than_equal",
                            "message": "Input should be less than or equal to ..."}]}}

`code` is stable (clients switch on it), `message` is for people, `field` is present when
exactly one request field is at fault, `details` lists every bad field of a validation
error. An outage (503) also sends `Retry-After`.

`install_error_handling` puts ONE table of exception handlers on an app (`build_app` does it
for every service), so handlers raise typed errors and never build error responses:

* `RequestValidationError`: 400 `invalid_json` for a body that is not JSON, 415
  `unsupported_media_type` for a body not sent as JSON, else 422 `invalid_request` naming
  the fields. The client's input is never echoed: it may be customer text, or a lone
  surrogate that cannot be encoded as JSON at all (FastAPI's default 422 does echo it,
  which turned a client's mistake into a 500).
* Starlette/FastAPI `HTTPException` (unknown path 404, wrong method 405, ...): its status,
  a code named after it (`not_found`, `method_not_allowed`), its headers (`Allow`) kept.
* `SocialcareError`, `BusError`, `SearchError`: through `errors.as_socialcare_error`, the
  same table gRPC uses.
* Anything else: 500 `internal`, logged with its traceback, nothing about it in the body.
  A middleware catches it (Starlette's own last-resort handler would re-raise it after
  answering, logging it twice).

`RequestModel` is the base of request bodies: it refuses strings that are not valid
Unicode (lone surrogates, which JSON's `\\ud800` escape can produce) with a 422 naming the
field, before they reach protobuf, which cannot encode them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialcare.core.bus import BusError
from socialcare.core.errors import (
    InvalidRequestError,
    MalformedRequestError,
    SocialcareError,
    UnsupportedMediaTypeError,
    as_socialcare_error,
    field_problems,
    has_lone_surrogates,
    is_internal,
)
from socialcare.core.search import SearchError

log = logging.getLogger(__name__)


class RequestModel(BaseModel):
    """Base of every request body: string fields must be valid Unicode text."""

    @field_validator("*", mode="after")
    @classmethod
    def _valid_unicode(cls, value: object) -> object:
        if isinstance(value, str) and has_lone_surrogates(value):
            raise ValueError("must be valid Unicode text (it contains a lone surrogate)")
        return value


class FieldProblemRead(BaseModel):
    field: str = Field(description="Dotted path of the field, e.g. `author.id`.")
    code: str = Field(description="What is wrong with it, e.g. `missing`, `string_too_long`.")
    message: str


class ErrorRead(BaseModel):
    code: str = Field(description="Stable, snake_case: clients may switch on it.")
    message: str = Field(description="For people; never echoes the request.")
    field: str | None = Field(
        default=None, description="The request field at fault, when exactly one is."
    )
    details: list[FieldProblemRead] | None = Field(
        default=None, description="Every bad field (validation errors only)."
    )


class ErrorBody(BaseModel):
    """The body of every error answer of the REST API."""

    error: ErrorRead


def error_body(error: SocialcareError) -> dict[str, Any]:
    """The JSON body for `error` (absent `field`/`details` left out, not null)."""
    read = ErrorRead(
        code=error.code,
        message=error.message,
        field=error.field,
        details=[
            FieldProblemRead(field=p.field, code=p.code, message=p.message) for p in error.details
        ]
        or None,
    )
    return ErrorBody(error=read).model_dump(mode="json", exclude_none=True)


def error_response(
    error: SocialcareError,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The HTTP answer for `error`: its status (or `status`), the one body, and
    `Retry-After` if it has one."""
    all_headers = dict(headers or {})
    if error.retry_after_s is not None:
        all_headers["Retry-After"] = str(error.retry_after_s)
    return JSONResponse(
        status_code=status or error.http_status,
        content=error_body(error),
        headers=all_headers or None,
    )


def validation_error(exc: RequestValidationError) -> InvalidRequestError:
    """The typed error for a request FastAPI could not validate (see the module docstring)."""
    errors = list(exc.errors())
    if isinstance(exc.body, bytes | bytearray) and _about_body(errors):
        # FastAPI parses the body only when Content-Type says JSON; otherwise the raw bytes
        # reach validation and the client would read a puzzling "valid dictionary" error.
        return UnsupportedMediaTypeError(
            "send the body as JSON with Content-Type: application/json"
        )
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "malformed")
            position = error.get("loc", ("body", None))[-1]
            where = f" at position {position}" if isinstance(position, int) else ""
            return MalformedRequestError(f"request body is not valid JSON: {reason}{where}")
    return InvalidRequestError.from_problems(field_problems(errors))


def _about_body(errors: list[Any]) -> bool:
    return any(tuple(e.get("loc", ()))[:1] == ("body",) for e in errors)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(validation_error(exc))


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == HTTPStatus.BAD_REQUEST and exc.__cause__ is not None:
        # FastAPI's answer to a body it could not even decode (not UTF-8, nested too deep).
        error: SocialcareError = MalformedRequestError("request body could not be read as JSON")
    else:
        detail = exc.detail if isinstance(exc.detail, str) else _phrase(status)
        error = SocialcareError(detail, code=_status_code_name(status))
    return error_response(error, status=status, headers=exc.headers)


async def _on_platform_error(request: Request, exc: Exception) -> JSONResponse:
    error = as_socialcare_error(exc)
    if is_internal(error):
        log.error(
            "request failed",
            exc_info=exc,
            extra={"method": request.method, "path": request.url.path},
        )
    elif error.http_status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        log.warning(
            "request not served",
            extra={"path": request.url.path, "code": error.code, "error": error.message},
        )
    return error_response(error)


ExceptionHandler = Callable[[Request, Exception], Awaitable[JSONResponse]]

EXCEPTION_HANDLERS: dict[type[Exception], ExceptionHandler] = {
    RequestValidationError: _on_validation_error,
    StarletteHTTPException: _on_http_exception,
    SocialcareError: _on_platform_error,
    BusError: _on_platform_error,
    SearchError: _on_platform_error,
}
"""The one table: exception class → handler (Starlette picks the most specific class)."""


def install_error_handling(app: FastAPI) -> None:
    """Make every error answer of `app` the one body: the handler table plus the last-resort
    middleware for unexpected exceptions. Call once, before the app serves."""
    for exception_class, handler in EXCEPTION_HANDLERS.items():
        app.add_exception_handler(exception_class, handler)
    app.add_middleware(InternalErrorMiddleware)


class InternalErrorMiddleware:
    """Answers an unexpected exception with 500 `internal` and logs its traceback once.

    Sits outside FastAPI's exception handlers, so it only sees what the table did not
    handle. If the response had already started there is nothing left to answer with; the
    exception is then re-raised for the server to close the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking_start)
        except Exception as exc:
            log.error(
                "request failed",
                exc_info=exc,
                extra={"method": scope.get("method"), "path": scope.get("path")},
            )
            if started:
                raise
            response = error_response(as_socialcare_error(exc))
            await response(scope, receive, send)


def _status_code_name(status: int) -> str:
    named = _STATUS_CODES.get(status)
    if named is not None:
        return named
    return _phrase(status).lower().replace(" ", "_").replace("-", "_")


_STATUS_CODES: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: "invalid_request",
    HTTPStatus.UNPROCESSABLE_ENTITY: "invalid_request",
    HTTPStatus.INTERNAL_SERVER_ERROR: "internal",
    HTTPStatus.SERVICE_UNAVAILABLE: "unavailable",
}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


# Statuses a route may document, with what they mean in this API.
_DESCRIPTIONS: dict[int, str] = {
    400: "The body is not valid JSON (`invalid_json`).",
    404: "Not found (`not_found`).",
    409: "The current state does not allow it (e.g. `case_resolved`).",
    415: "The body is not sent as JSON (`unsupported_media_type`).",
    422: "Invalid request; `field` / `details` name the fields (`invalid_request`, ...).",
    500: "A fault of ours (`internal`); logged, nothing leaked.",
    502: "A service we depend on failed on the request.",
    503: "A backend is unavailable; retry after `Retry-After` seconds.",
}


def error_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses and 500 (any route can answer it), all
    with the `ErrorBody` schema.

    A route with parameters or a body must list 422: that replaces FastAPI's default 422
    schema, which is not the body this API sends.
    """
    overrides = descriptions or {}
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 500}):
        description = overrides.get(status) or _DESCRIPTIONS.get(status) or _phrase(status)
        out[status] = {"model": ErrorBody, "description": description}
    return out
