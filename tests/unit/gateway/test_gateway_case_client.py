"""The CaseService client's error mapping against a real gRPC server: NOT_FOUND is an
answer, an unreachable or slow routing is `RoutingUnavailableError`, anything else is
`CaseServiceError`; and a closed client fails the same typed way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from socialcare.gateway.cases import CaseClient, CaseServiceError, RoutingUnavailableError
from socialcare.v1 import case_pb2, services_pb2, services_pb2_grpc


class ScriptedRouting(services_pb2_grpc.CaseServiceServicer):
    """Answers by case id: `slow` waits past any test deadline, `broken` fails."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def GetCase(  # noqa: N802 (gRPC method name)
        self, request: services_pb2.GetCaseRequest, context: grpc.ServicerContext
    ) -> case_pb2.Case:
        if request.case_id == "slow":
            self.release.wait(5.0)
        if request.case_id == "broken":
            context.abort(grpc.StatusCode.INTERNAL, "case book corrupted")
        if request.case_id == "missing":
            context.abort(grpc.StatusCode.NOT_FOUND, "case missing not found")
        return case_pb2.Case(id=request.case_id)

    def ListCases(  # noqa: N802
        self, request: services_pb2.ListCasesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListCasesResponse:
        return services_pb2.ListCasesResponse()


@pytest.fixture
def routing() -> Iterator[tuple[str, ScriptedRouting]]:
    servicer = ScriptedRouting()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    services_pb2_grpc.add_CaseServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    servicer.release.set()
    server.stop(grace=None).wait()


@pytest.fixture
def client(routing: tuple[str, ScriptedRouting]) -> Iterator[CaseClient]:
    case_client = CaseClient(routing[0], timeout_s=0.3)
    yield case_client
    case_client.close()


def test_found_and_not_found(client: CaseClient) -> None:
    found = client.get_case("case-1")
    assert found is not None and found.id == "case-1"
    assert client.get_case("missing") is None


def test_deadline_is_unavailable(client: CaseClient) -> None:
    with pytest.raises(RoutingUnavailableError, match="DEADLINE_EXCEEDED"):
        client.get_case("slow")


def test_other_failures_are_case_service_errors(client: CaseClient) -> None:
    with pytest.raises(CaseServiceError, match="INTERNAL case book corrupted") as caught:
        client.get_case("broken")
    assert not isinstance(caught.value, RoutingUnavailableError)


def test_nothing_listening_is_unavailable() -> None:
    case_client = CaseClient("127.0.0.1:1", timeout_s=2.0)
    try:
        with pytest.raises(RoutingUnavailableError, match="UNAVAILABLE"):
            case_client.get_case("case-1")
    finally:
        case_client.close()


def test_closed_by_the_component_lifecycle(client: CaseClient) -> None:
    client.start()
    client.stop()
    assert client.get_case("case-1") is not None  # still serving while HTTP drains
    client.join(1.0)
    with pytest.raises(RoutingUnavailableError, match="closed"):
        client.get_case("case-1")
    client.close()  # idempotent
