"""Fuzzing the REST API of every service with schemathesis, bounded in time.

Schemathesis reads the app's own OpenAPI document and generates, per operation, requests
both valid and invalid by the schema (wrong types, out-of-range numbers, odd strings such
as lone surrogates, missing fields), sent in-process over ASGI. The app is the one
`socialcare run all` serves over gateway and ingestion (the only services with routes of
their own), with the platform routes every process serves (/healthz, /readyz, /metrics).
`test_every_rest_operation_of_every_service_is_fuzzed` derives each service's operations
from its own app (`socialcare run <service>`) and fails for one no fuzzer reaches, unless
`NOT_FUZZED` says why. Every answer is checked:

* every request carries the admin's bearer token (every route, every brand), so the
  fuzzer gets past authentication to the handlers (tests/unit/test_access.py covers the
  requests without one);
* no 5xx: a client's mistake is a 4xx naming the field (the fixture world has no backend
  outage, so any 5xx is a bug);
* every error answer has the one error body (`core.http_errors`) with a stable snake_case
  code, and `Retry-After` on a 503;
* status, content type and body are the ones the OpenAPI document declares.

The requests sent and the answers by class are printed per service (`pytest -s`).
Bounded: `MAX_EXAMPLES` per operation and generation mode (SOCIALCARE_FUZZ_EXAMPLES for a
campaign), Hypothesis's per-example deadline off (the embedded bus flushes to disk), so the
run is part of every `make test`. (Schemathesis's pytest plugin is not used: its lazy
`from_fixture` loader relies on a pytest node attribute that pytest 9 removed, so the
test drives the operations' Hypothesis strategies itself.)
"""

from __future__ import annotations

import os
import re
import traceback
from collections import Counter, defaultdict
from typing import Any

from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import FlakyStrategyDefinition
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

MAX_EXAMPLES = int(os.environ.get("SOCIALCARE_FUZZ_EXAMPLES", "50"))
"""Examples per operation and generation mode (SOCIALCARE_FUZZ_EXAMPLES=500: a campaign)."""

Operation = tuple[str, str]  # method, path template

NOT_FUZZED: dict[Operation, str] = {
    ("GET", "/v1/stream/cases"): "the console's live stream, an endless answer by design "
    "(tests/unit/console covers it)",
}

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
    api_schema: BaseSchema,
    credentials: dict[str, str],
    service_operations: dict[str, set[Operation]],
) -> None:
    failures: list[str] = []
    operations: list[APIOperation[Any, Any, Any, Any]] = []
    for result in api_schema.get_all_operations():
        if isinstance(result, Ok):
            operations.append(result.ok())
        else:
            failures.append(f"the OpenAPI document is invalid: {result.err()}")
    assert len(operations) >= 9, [operation.label for operation in operations]
    answers: dict[Operation, Counter[int]] = defaultdict(Counter)
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
                response = case.call(headers=credentials)
                answers[(case.operation.method.upper(), case.operation.path)][
                    response.status_code // 100
                ] += 1
                case.validate_response(response, checks=CHECKS)

            try:
                try:
                    fuzz()
                except FlakyStrategyDefinition:
                    # Schemathesis's negative strategy for some bodies draws differently on
                    # a replay (its own generation, not the platform's answers): once more.
                    fuzz()
            except Exception as exc:
                report = "".join(traceback.format_exception_only(exc))
                failures.append(f"{operation.label} ({mode.value}):\n{report}")
    report_answers(answers, service_operations)
    assert not failures, "\n\n".join(failures)


def report_answers(
    answers: dict[Operation, Counter[int]], service_operations: dict[str, set[Operation]]
) -> None:
    """Requests and answers by class, per service (an operation counts for every service
    whose app serves it: /healthz and /metrics for all of them), for the notes."""
    print("\nservice      operations  requests    2xx    3xx    4xx    5xx")
    for service, ops in sorted(service_operations.items()):
        total: Counter[int] = Counter()
        for op in ops:
            total.update(answers.get(op, Counter()))
        counts = " ".join(f"{total[c]:>6}" for c in (2, 3, 4, 5))
        print(f"{service:<12} {len(ops):>10} {sum(total.values()):>9} {counts}")
    everything: Counter[int] = Counter()
    for tally in answers.values():
        everything.update(tally)
    counts = " ".join(f"{everything[c]:>6}" for c in (2, 3, 4, 5))
    print(f"{'all (once)':<12} {len(answers):>10} {sum(everything.values()):>9} {counts}")


def test_every_rest_operation_of_every_service_is_fuzzed(
    api_schema: BaseSchema, service_operations: dict[str, set[Operation]]
) -> None:
    """Every operation in every service's OpenAPI document (each service's app as
    `socialcare run <service>` builds it) is in the fuzzed schema, or in `NOT_FUZZED` with
    the reason: a new route is fuzzed, or this test names it."""
    fuzzed = {
        (result.ok().method.upper(), result.ok().path)
        for result in api_schema.get_all_operations()
        if isinstance(result, Ok)
    }
    served = set().union(*service_operations.values())
    missed = sorted(served - fuzzed - NOT_FUZZED.keys())
    assert not missed, f"REST operations no fuzzer sends a request to: {missed}"
    stale = sorted(NOT_FUZZED.keys() - served)
    assert not stale, f"NOT_FUZZED names operations no service serves: {stale}"


def test_metrics_is_documented_as_the_text_it_answers(app: FastAPI) -> None:
    """Found by the fuzzer: /metrics answers Prometheus's text format, and its OpenAPI
    document said application/json."""
    answer = app.openapi()["paths"]["/metrics"]["get"]["responses"]["200"]
    assert list(answer["content"]) == ["text/plain"]
