"""RED metrics of HTTP routes (the middleware `build_app` installs) and gRPC methods (the
interceptor of every `GrpcServer`): real requests through a real app and a real gRPC
server on a free port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from socialcare.core.errors import NotFoundError
from socialcare.core.grpc_server import GrpcServer
from socialcare.core.runtime import build_app
from socialcare.core.telemetry import SERVICE_ATTRIBUTE
from tests.unit.metrics import sample

REQUESTS = "socialcare_http_requests_total"
DURATION_COUNT = "socialcare_http_request_duration_seconds_count"
HANDLED = "socialcare_grpc_server_handled_total"
HANDLING_COUNT = "socialcare_grpc_server_handling_seconds_count"


def things_router(prefix: str) -> APIRouter:
    router = APIRouter()

    @router.get(f"{prefix}/things/{{thing_id}}")
    def get_thing(thing_id: str) -> dict[str, str]:
        if thing_id == "missing":
            raise NotFoundError(f"thing {thing_id} not found")
        if thing_id == "broken":
            raise RuntimeError("a bug")
        return {"id": thing_id}

    return router


@pytest.fixture
def prefix() -> str:
    """A route prefix of its own per test: the registry is process-wide."""
    return f"/t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(prefix: str) -> Iterator[TestClient]:
    app = build_app("red test", [things_router(prefix)], [])
    with TestClient(app, raise_server_exceptions=False) as running:
        yield running


def http(method: str, route: str, status: str, service: str = "other") -> float:
    """Requests counted; routes of this test module are service `other` (not socialcare's)."""
    return sample(REQUESTS, service=service, method=method, route=route, status=status)


class TestHttp:
    def test_labels_by_route_template_not_path(self, client: TestClient, prefix: str) -> None:
        route = f"{prefix}/things/{{thing_id}}"
        for thing in ("a", "b", "c"):
            assert client.get(f"{prefix}/things/{thing}").status_code == 200
        assert http("GET", route, "200") == 3
        assert sample(DURATION_COUNT, service="other", method="GET", route=route) == 3
        assert http("GET", f"{prefix}/things/a", "200") == 0

    def test_errors_carry_their_status(self, client: TestClient, prefix: str) -> None:
        route = f"{prefix}/things/{{thing_id}}"
        assert client.get(f"{prefix}/things/missing").status_code == 404
        assert client.get(f"{prefix}/things/broken").status_code == 500
        assert http("GET", route, "404") == 1
        assert http("GET", route, "500") == 1

    def test_unmatched_paths_share_one_series(self, client: TestClient, prefix: str) -> None:
        before = http("GET", "unmatched", "404", service="platform")
        for n in range(3):
            assert client.get(f"{prefix}/nowhere/{n}").status_code == 404
        assert http("GET", "unmatched", "404", service="platform") == before + 3

    def test_platform_routes_and_unusual_methods(self, client: TestClient, prefix: str) -> None:
        before = http("GET", "/healthz", "200", service="platform")
        assert client.get("/healthz").status_code == 200
        assert http("GET", "/healthz", "200", service="platform") == before + 1
        route = f"{prefix}/things/{{thing_id}}"
        assert client.request("PROPFIND", f"{prefix}/things/a").status_code == 405
        assert http("other", route, "405") == 1

    def test_request_span_names_the_routes_service(
        self, spans: InMemorySpanExporter, prefix: str
    ) -> None:
        # The app is built after the provider is installed: request spans are on.
        app = build_app("red test", [things_router(prefix)], [])
        with TestClient(app) as client:
            assert client.get(f"{prefix}/things/a").status_code == 200
        [server] = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
        assert server.attributes is not None
        assert server.attributes[SERVICE_ATTRIBUTE] == "other"
        assert server.attributes["http.route"] == f"{prefix}/things/{{thing_id}}"


# -- gRPC ---------------------------------------------------------------------------------

SERVICE = "socialcare.test.v1.Probe"


def _identity(raw: bytes) -> bytes:
    return raw


def _echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request == b"missing":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    if request == b"broken":
        raise RuntimeError("a bug")
    return request


def _count(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    for n in range(int(request)):
        yield str(n).encode()
    if int(request) == 0:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "count at least one")


def register(server: grpc.Server) -> None:
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(
            _echo, request_deserializer=_identity, response_serializer=_identity
        ),
        "Count": grpc.unary_stream_rpc_method_handler(
            _count, request_deserializer=_identity, response_serializer=_identity
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    server = GrpcServer(
        "probe",
        "127.0.0.1:0",
        register,
        service="Probe",
        setting_hint="(test)",
        workers=4,
        grace_s=1.0,
    )
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as opened:
        yield opened
    server.stop()
    server.join(5.0)


def handled(method: str, code: str) -> float:
    return sample(HANDLED, grpc_service=SERVICE, grpc_method=method, grpc_code=code)


class TestGrpc:
    def test_unary_codes(self, channel: grpc.Channel) -> None:
        echo: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{SERVICE}/Echo")
        before = {code: handled("Echo", code) for code in ("OK", "NOT_FOUND", "UNKNOWN")}
        timed = sample(HANDLING_COUNT, grpc_service=SERVICE, grpc_method="Echo")
        assert echo(b"hello", timeout=5) == b"hello"
        with pytest.raises(grpc.RpcError) as missing:
            echo(b"missing", timeout=5)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as broken:
            echo(b"broken", timeout=5)
        assert broken.value.code() == grpc.StatusCode.UNKNOWN
        assert handled("Echo", "OK") == before["OK"] + 1
        assert handled("Echo", "NOT_FOUND") == before["NOT_FOUND"] + 1
        assert handled("Echo", "UNKNOWN") == before["UNKNOWN"] + 1
        assert sample(HANDLING_COUNT, grpc_service=SERVICE, grpc_method="Echo") == timed + 3

    def test_streams_count_when_they_end(self, channel: grpc.Channel) -> None:
        count: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            f"/{SERVICE}/Count"
        )
        ok, invalid = handled("Count", "OK"), handled("Count", "INVALID_ARGUMENT")
        assert list(count(b"3", timeout=5)) == [b"0", b"1", b"2"]
        with pytest.raises(grpc.RpcError) as refused:
            list(count(b"0", timeout=5))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert handled("Count", "OK") == ok + 1
        assert handled("Count", "INVALID_ARGUMENT") == invalid + 1

    def test_unknown_methods_make_no_series(self, channel: grpc.Channel) -> None:
        with pytest.raises(grpc.RpcError) as unknown:
            nope: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                f"/{SERVICE}/Nope"
            )
            nope(b"x", timeout=5)
        assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert handled("Nope", "UNIMPLEMENTED") == 0


class Seen(grpc.ServerInterceptor):
    """An extra interceptor (as the audit log's): notes each method it saw."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def intercept_service(
        self,
        continuation: Any,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        self.methods.append(str(handler_call_details.method))
        return continuation(handler_call_details)


def test_extra_interceptors_run_inside_the_red_one() -> None:
    seen = Seen()
    server = GrpcServer(
        "probe-extra",
        "127.0.0.1:0",
        register,
        service="Probe",
        setting_hint="(test)",
        workers=2,
        grace_s=1.0,
        interceptors=[seen],
    )
    server.start()
    try:
        ok = handled("Echo", "OK")
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as opened:
            echo: grpc.UnaryUnaryMultiCallable[bytes, bytes] = opened.unary_unary(
                f"/{SERVICE}/Echo"
            )
            assert echo(b"hi", timeout=5) == b"hi"
        assert seen.methods == [f"/{SERVICE}/Echo"]
        assert handled("Echo", "OK") == ok + 1
    finally:
        server.stop()
        server.join(5.0)
