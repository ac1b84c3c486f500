"""The platform's one error model: typed errors with a stable code, for REST and gRPC alike.

A request fails for one of a few reasons, and the client needs to know which (to fix the
request, to look elsewhere, or to retry), not how the server is built. So code that
refuses a request raises a `SocialcareError` subclass carrying:

* `code`: a stable snake_case string clients may switch on (`invalid_request`,
  `case_resolved`, `bus_unavailable`, ...), the `error.code` of the REST body;
* `message`: one line a person can act on; it never echoes a request value that could not
  be encoded (see `printable`) and never carries a traceback;
* `field`: the request field at fault, when exactly one is (dotted: `author.followers`);
* `details`: every bad field of a validation error (`FieldProblem`s);
* `retry_after_s`: for an outage, when a retry is worth it (REST `Retry-After`);
* its class fixes the HTTP status and the gRPC status code.

Backends raise their own typed errors (`BusError`, `SearchError`) at their boundary;
`as_socialcare_error` is the one place they, and anything unexpected, become this model.
REST renders it in `core.http_errors`; gRPC servicers end a failed call with `abort_call`
(codes from `grpc_status`), so both doors answer the same failure the same way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, Never

import grpc

from socialcare.core.bus import BusError
from socialcare.core.search import InvalidQueryError, SearchError

log = logging.getLogger(__name__)

# How long a client should wait before retrying after an outage of a backend we depend on.
# A guess that matches how long a broker or node restart or a routing rebalance takes.
RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One bad field of a request: `field` dotted (`author.id`), `code` the validator's
    error type (`missing`, `string_too_long`, ...), `message` what is wrong with it."""

    field: str
    code: str
    message: str


class SocialcareError(Exception):
    """A request the platform refuses, or cannot serve now; see the module docstring.

    Subclasses fix `http_status`, `grpc_code` and the default `code`; a caller may pass a
    more precise `code` (e.g. `case_resolved` for a ConflictError).
    """

    http_status: ClassVar[HTTPStatus] = HTTPStatus.INTERNAL_SERVER_ERROR
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    default_code: ClassVar[str] = "internal"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        details: Sequence[FieldProblem] = (),
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = printable(message)
        self.code = code or self.default_code
        self.field = field
        self.details = tuple(details)
        self.retry_after_s = retry_after_s


class InvalidRequestError(SocialcareError):
    """The request itself is wrong (a field missing, out of range, not allowed): 422 /
    INVALID_ARGUMENT. Sending it again unchanged will fail again."""

    http_status = HTTPStatus.UNPROCESSABLE_ENTITY
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    default_code = "invalid_request"

    @classmethod
    def from_problems(cls, problems: Sequence[FieldProblem]) -> InvalidRequestError:
        """One error for all bad fields; `field` is set when they are all the same field."""
        fields = {problem.field for problem in problems}
        return cls(
            describe(problems),
            field=fields.pop() if len(fields) == 1 else None,
            details=problems,
        )


class MalformedRequestError(InvalidRequestError):
    """The body cannot be read at all (not JSON, not UTF-8): 400 / INVALID_ARGUMENT."""

    http_status = HTTPStatus.BAD_REQUEST
    default_code = "invalid_json"


class UnsupportedMediaTypeError(InvalidRequestError):
    """The body is not sent as JSON (Content-Type): 415 / INVALID_ARGUMENT."""

    http_status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    default_code = "unsupported_media_type"


class UnauthenticatedError(SocialcareError):
    """No credential, or one that is not valid (unknown, expired, revoked, wrong password):
    401 / UNAUTHENTICATED. REST answers carry `WWW-Authenticate: Bearer` (`core.auth`)."""

    http_status = HTTPStatus.UNAUTHORIZED
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    default_code = "unauthenticated"


class ForbiddenError(SocialcareError):
    """The caller is known but may not do this (a permission, a brand, another agent's
    name, a missing CSRF token): 403 / PERMISSION_DENIED. Another credential may work."""

    http_status = HTTPStatus.FORBIDDEN
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    default_code = "forbidden"


class TooManyRequestsError(SocialcareError):
    """Too many attempts (sign-in from one address, or a locked account): 429 /
    RESOURCE_EXHAUSTED; `retry_after_s` says when trying again may work."""

    http_status = HTTPStatus.TOO_MANY_REQUESTS
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_code = "too_many_requests"


class NotFoundError(SocialcareError):
    """The named thing (a case, a path) does not exist: 404 / NOT_FOUND."""

    http_status = HTTPStatus.NOT_FOUND
    grpc_code = grpc.StatusCode.NOT_FOUND
    default_code = "not_found"


class ConflictError(SocialcareError):
    """The request is well formed but the current state forbids it (the case is resolved):
    409 / FAILED_PRECONDITION. It may succeed after the state changes."""

    http_status = HTTPStatus.CONFLICT
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    default_code = "conflict"


class UnavailableError(SocialcareError):
    """A backend we need is down or too slow: 503 / UNAVAILABLE. Retrying later may work;
    `retry_after_s` says when."""

    http_status = HTTPStatus.SERVICE_UNAVAILABLE
    grpc_code = grpc.StatusCode.UNAVAILABLE
    default_code = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after_s: int | None = RETRY_AFTER_S,
    ) -> None:
        super().__init__(message, code=code, retry_after_s=retry_after_s)


class UpstreamError(SocialcareError):
    """Another service failed on our request (not unreachable: it answered with an error):
    502 / INTERNAL. Our request was fine; the fault is theirs."""

    http_status = HTTPStatus.BAD_GATEWAY
    grpc_code = grpc.StatusCode.INTERNAL
    default_code = "upstream_failed"


class InternalError(SocialcareError):
    """A fault of ours (a bug): 500 / INTERNAL. The message says nothing about the cause;
    the log has the traceback."""


INTERNAL_MESSAGE = "internal error; it has been logged"


def as_socialcare_error(exc: BaseException) -> SocialcareError:
    """The error model's view of any exception: the one translation table.

    `SocialcareError` as is; `BusError` → 503 `bus_unavailable`; `InvalidQueryError` → 500
    (the service built a query its own index refuses: a bug, a retry will not help);
    other `SearchError` → 503 `search_unavailable`; anything else → 500 `internal` with no
    detail (the caller logs the traceback, see `is_internal`).
    """
    if isinstance(exc, SocialcareError):
        return exc
    if isinstance(exc, BusError):
        return UnavailableError(f"event bus unavailable: {exc}", code="bus_unavailable")
    if isinstance(exc, InvalidQueryError):
        return InternalError(INTERNAL_MESSAGE)
    if isinstance(exc, SearchError):
        return UnavailableError(f"search unavailable: {exc}", code="search_unavailable")
    return InternalError(INTERNAL_MESSAGE)


def is_internal(error: SocialcareError) -> bool:
    """True for a fault of ours (HTTP 500), which is logged with its traceback."""
    return isinstance(error, InternalError)


def grpc_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC status code and details for any exception (see `as_socialcare_error`).

    Details are the error's message; a single bad field is named first (`field: reason`),
    as a gRPC client sees no structured body.
    """
    error = as_socialcare_error(exc)
    message = error.message
    if error.field is not None and not error.details:
        message = f"{error.field}: {message}"
    return error.grpc_code, message


def abort_call(context: grpc.ServicerContext, exc: BaseException, *, method: str) -> Never:
    """End a gRPC call with the status for `exc` (see `grpc_status`); never returns.

    A servicer method wraps its body in `try ... except Exception as exc: abort_call(...)`,
    so every failure reaches the client mapped, and an internal one is logged with its
    traceback under `method`. The body must not call `context.abort` itself (grpc signals
    an abort with a plain Exception, which this would map to INTERNAL): it raises a
    `SocialcareError` instead.
    """
    error = as_socialcare_error(exc)
    if is_internal(error):
        log.error("gRPC call failed", exc_info=exc, extra={"method": method})
    code, details = grpc_status(error)
    context.abort(code, details)


def describe(problems: Iterable[FieldProblem]) -> str:
    """One line naming every bad field: `author.id: Field required; text: ...`."""
    return "; ".join(f"{p.field}: {p.message}" for p in problems) or "invalid request"


def field_path(loc: Sequence[Any]) -> str:
    """A validator's location as a dotted field: `("body", "author", "id")` → `author.id`.

    The request part (body, query, path, header, cookie) is dropped: field names do not
    collide across parts in this API, and a client knows where it put a field. The whole
    body is `body`.
    """
    parts = [p for p in loc if isinstance(p, str | int)]
    if parts and parts[0] in _REQUEST_PARTS:
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


_REQUEST_PARTS = frozenset({"body", "query", "path", "header", "cookie"})


def field_problems(errors: Iterable[Mapping[str, Any]]) -> list[FieldProblem]:
    """Pydantic/FastAPI validation errors as FieldProblems, without `input` and `ctx`: those
    would echo what the client sent (customer text, a lone surrogate that cannot even be
    encoded as JSON). Our validators' messages lose pydantic's "Value error, " prefix."""
    return [
        FieldProblem(
            field=printable(field_path(error.get("loc", ()))),
            code=str(error.get("type", "value_error")),
            message=printable(str(error.get("msg", "invalid")).removeprefix("Value error, ")),
        )
        for error in errors
    ]


def printable(text: str) -> str:
    """`text` with anything that cannot be encoded as UTF-8 (lone surrogates) replaced by
    U+FFFD, so an error message that quotes a request value can always be sent."""
    return _SURROGATES.sub("\ufffd", text)


def has_lone_surrogates(text: str) -> bool:
    """True when `text` cannot be encoded as UTF-8: protobuf, JSON encoders and most
    clients refuse it. JSON's `\\ud800` escape is how such a string arrives."""
    return _SURROGATES.search(text) is not None


_SURROGATES = re.compile("[\ud800-\udfff]")
