"""The one error model: the handler table every app gets from `build_app`, and the gRPC
status codes for the same errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import ValidationError

from socialcare.core.bus import BusError
from socialcare.core.errors import (
    INTERNAL_MESSAGE,
    ConflictError,
    FieldProblem,
    InvalidRequestError,
    NotFoundError,
    UnavailableError,
    UpstreamError,
    grpc_status,
    printable,
)
from socialcare.core.http_errors import ErrorBody, RequestModel
from socialcare.core.runtime import build_app
from socialcare.core.search import InvalidQueryError, SearchError

FAILURES: dict[str, Exception] = {
    "not-found": NotFoundError("case c-1 not found"),
    "conflict": ConflictError("case c-1 is resolved", code="case_resolved"),
    "invalid": InvalidRequestError("unknown agent 'x'", code="unknown_agent", field="agent"),
    "validation": InvalidRequestError.from_problems(
        [
            FieldProblem("author.id", "missing", "Field required"),
            FieldProblem("text", "string_too_long", "too long"),
        ]
    ),
    "routing-down": UnavailableError("routing unavailable: x", code="routing_unavailable"),
    "routing-failed": UpstreamError("routing failed: boom", code="routing_failed"),
    "bus-down": BusError("broker unreachable"),
    "search-down": SearchError("connection refused"),
    "bad-query": InvalidQueryError("cannot filter on 'nope'"),
    "bug": KeyError("secret-internal-name"),
}


@pytest.fixture
def client() -> Iterator[TestClient]:
    """An app whose one route raises the failure it is asked for."""
    router = APIRouter()

    @router.get("/fail/{name}")
    def fail(name: str) -> None:
        raise FAILURES[name]

    with TestClient(build_app("errors-test", [router], [])) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("name", "status", "body", "retry"),
    [
        ("not-found", 404, {"code": "not_found", "message": "case c-1 not found"}, False),
        ("conflict", 409, {"code": "case_resolved", "message": "case c-1 is resolved"}, False),
        (
            "invalid",
            422,
            {"code": "unknown_agent", "message": "unknown agent 'x'", "field": "agent"},
            False,
        ),
        (
            "validation",
            422,
            {
                "code": "invalid_request",
                "message": "author.id: Field required; text: too long",
                "details": [
                    {"field": "author.id", "code": "missing", "message": "Field required"},
                    {"field": "text", "code": "string_too_long", "message": "too long"},
                ],
            },
            False,
        ),
        (
            "routing-down",
            503,
            {"code": "routing_unavailable", "message": "routing unavailable: x"},
            True,
        ),
        (
            "routing-failed",
            502,
            {"code": "routing_failed", "message": "routing failed: boom"},
            False,
        ),
        (
            "bus-down",
            503,
            {"code": "bus_unavailable", "message": "event bus unavailable: broker unreachable"},
            True,
        ),
        (
            "search-down",
            503,
            {"code": "search_unavailable", "message": "search unavailable: connection refused"},
            True,
        ),
        ("bad-query", 500, {"code": "internal", "message": INTERNAL_MESSAGE}, False),
        ("bug", 500, {"code": "internal", "message": INTERNAL_MESSAGE}, False),
    ],
)
def test_each_failure_has_its_status_and_the_one_body(
    client: TestClient, name: str, status: int, body: dict[str, object], retry: bool
) -> None:
    response = client.get(f"/fail/{name}")
    assert response.status_code == status
    assert response.json() == {"error": body}
    ErrorBody.model_validate(response.json())
    assert ("retry-after" in response.headers) is retry


def test_an_unexpected_error_is_logged_with_its_traceback_and_not_leaked(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="socialcare.core.http_errors"):
        response = client.get("/fail/bug")
    assert response.status_code == 500
    assert "secret-internal-name" not in response.text
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None and isinstance(record.exc_info[1], KeyError)


def test_framework_errors_have_the_one_body(client: TestClient) -> None:
    missing = client.get("/nowhere")
    assert missing.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    wrong = client.post("/fail/bug")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("name", "code", "details"),
    [
        ("not-found", grpc.StatusCode.NOT_FOUND, "case c-1 not found"),
        ("conflict", grpc.StatusCode.FAILED_PRECONDITION, "case c-1 is resolved"),
        ("invalid", grpc.StatusCode.INVALID_ARGUMENT, "agent: unknown agent 'x'"),
        (
            "validation",
            grpc.StatusCode.INVALID_ARGUMENT,
            "author.id: Field required; text: too long",
        ),
        ("routing-down", grpc.StatusCode.UNAVAILABLE, "routing unavailable: x"),
        ("routing-failed", grpc.StatusCode.INTERNAL, "routing failed: boom"),
        ("bus-down", grpc.StatusCode.UNAVAILABLE, "event bus unavailable: broker unreachable"),
        ("search-down", grpc.StatusCode.UNAVAILABLE, "search unavailable: connection refused"),
        ("bad-query", grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE),
        ("bug", grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE),
    ],
)
def test_the_same_failures_map_to_grpc_status_codes(
    name: str, code: grpc.StatusCode, details: str
) -> None:
    assert grpc_status(FAILURES[name]) == (code, details)


class _Note(RequestModel):
    text: str  # no whitespace stripping: pydantic alone would let a surrogate through


def test_request_models_refuse_lone_surrogates_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        _Note.model_validate({"text": "ok \ud800"})
    [error] = caught.value.errors()
    assert error["loc"] == ("text",)
    assert _Note.model_validate({"text": "ok \U0001f600"}).text == "ok \U0001f600"


def test_messages_are_always_encodable() -> None:
    assert printable("agent 'x\ud800'") == "agent 'x\ufffd'"
    assert NotFoundError("case \udfff not found").message.encode("utf-8")
