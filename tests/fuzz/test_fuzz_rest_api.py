"""Fuzzing the public REST API (gateway + ingestion) with schemathesis, bounded in time.

Schemathesis reads the app's own OpenAPI document and generates, per operation, requests
both valid and invalid by the schema (wrong types, out-of-range numbers, odd strings such
as lone surrogates, missing fields), sent in-process over ASGI. Every answer is checked:

* every request carries the admin's bearer token (every route, every brand), so the
  fuzzer gets past authentication to the handlers (tests/unit/test_access.py covers the
  requests without one);
* no 5xx: a client's mistake is a 4xx naming the field (the fixture world has no backend
  outage, so any 5xx is a bug);
* every error answer has the one error body (`core.http_errors`) with a stable snake_case
  code, and `Retry-After` on a 503;
* status, content type and body are the ones the OpenAPI document declares.

Bounded: `MAX_EXAMPLES` per operation and generation mode, Hypothesis's per-example
deadline off (the embedded bus flushes to disk), so the run takes seconds and is part of
every `make test`. The campaign behind issue 6 sent ~46,000 requests; this is its
regression guard, not its replacement. (Schemathesis's pytest plugin is not used: its lazy
`from_fixture` loader relies on a pytest node attribute that pytest 9 removed, so the
test drives the operations' Hypothesis strategies itself.)
"""

from __future__ import annotations

import re
import traceback
from typing import Any

from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 50

_CODE = re.compile(r"^[a-z]+(_[a-z0-9]+)*$")
_ERROR_KEYS = frozenset({"code", "message", "field", "details"})
_PROBLEM_KEYS = frozenset({"field", "code", "message"})


def one_error_shape(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """Every 4xx/5xx body is `{"error": {"code", "message", "field"?, "details"?}}`."""
    if response.status_code < 400:
        return None
    body: Any = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the error body: {body!r}"
    error = body["error"]
    assert isinstance(error, dict), f"error is not an object: {error!r}"
    assert {"code", "message"} <= set(error) <= _ERROR_KEYS, f"error keys: {sorted(error)}"
    assert isinstance(error["code"], str) and _CODE.match(error["code"]), error["code"]
    assert isinstance(error["message"], str) and error["message"], "empty message"
    if "field" in error:
        assert isinstance(error["field"], str) and error["field"], "empty field"
    for problem in error.get("details", []):
        assert set(problem) == _PROBLEM_KEYS, f"detail keys: {sorted(problem)}"
    if response.status_code == 503:
        assert response.headers.get("retry-after"), "503 without Retry-After"
    return True


CHECKS = [
    not_a_server_error,
    one_error_shape,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_rest_api_answers_every_request_without_a_server_error(
    api_schema: BaseSchema, credentials: dict[str, str]
) -> None:
    failures: list[str] = []
    operations: list[APIOperation[Any, Any, Any, Any]] = []
    for result in api_schema.get_all_operations():
        if isinstance(result, Ok):
            operations.append(result.ok())
        else:
            failures.append(f"the OpenAPI document is invalid: {result.err()}")
    assert len(operations) >= 9, [operation.label for operation in operations]
    for operation in operations:
        takes_input = any(True for _ in operation.iter_parameters()) or bool(operation.body)
        # Invalid data needs an input to be invalid in: GET /v1/agents has none.
        modes = [GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if takes_input else [])]
        for mode in modes:

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            )
            def fuzz(case: Case[Any]) -> None:
                case.call_and_validate(checks=CHECKS, headers=credentials)

            try:
                fuzz()
            except Exception as exc:
                report = "".join(traceback.format_exception_only(exc))
                failures.append(f"{operation.label} ({mode.value}):\n{report}")
    assert not failures, "\n\n".join(failures)
