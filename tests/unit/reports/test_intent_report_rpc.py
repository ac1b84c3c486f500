"""ReportingService/GetIntentReport: the REST route's own handler over gRPC (the gateway's
gRPC server on a loopback port), the same JSON, permission and 400s as
INVALID_ARGUMENT naming the parameter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format

from socialcare.console.board import CaseBoard
from socialcare.core.runtime import Runtime
from socialcare.gateway.actions import Actions
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.intent_report import intent_report_router
from socialcare.gateway.rpc import gateway_grpc_server
from socialcare.v1 import services_pb2, services_pb2_grpc
from tests.unit.auth_support import admin_headers, authed_app, open_test_auth, user_headers
from tests.unit.reports.test_intent_report import NOW, indexed_runtime


class Door:
    def __init__(self, runtime: Runtime, client: TestClient, channel: grpc.Channel) -> None:
        self.runtime = runtime
        self.client = client
        self.stub = services_pb2_grpc.ReportingServiceStub(channel)
        self.people = {
            "admin": admin_headers(runtime),
            "ops": user_headers(runtime, "ops", roles=["operations"], brands=["globex"]),
            "agent": user_headers(runtime, "agent", roles=["agent"], all_brands=True),
        }

    def call(self, who: str, **fields: str) -> Any:
        metadata = (("authorization", self.people[who]["Authorization"]),)
        request = services_pb2.GetIntentReportRequest(**fields)
        try:
            answer = self.stub.GetIntentReport(request, metadata=metadata, timeout=10.0)
        except grpc.RpcError as error:
            return error
        return json_format.MessageToDict(answer.report)

    def rest(self, who: str, **params: str) -> Any:
        return self.client.get("/v1/reports/intents", params=params, headers=self.people[who])


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    runtime = indexed_runtime(tmp_path_factory.mktemp("intent-report-rpc"))
    routers = [intent_report_router(care=runtime.care, search=runtime.search, clock=lambda: NOW)]
    cases = CaseClient("127.0.0.1:1", timeout_s=1.0)
    server = gateway_grpc_server(
        address="127.0.0.1:0",
        actions=Actions(care=runtime.care, producer=runtime.producer, cases=cases),
        authenticator=open_test_auth(runtime).authenticator,
        routers=routers,
        care=runtime.care,
        cases=cases,
        board=CaseBoard(runtime.care),
        grace_s=1.0,
    )
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        with TestClient(authed_app(runtime, routers)) as client:
            yield Door(runtime, client, channel)
    finally:
        channel.close()
        server.stop()
        server.join(5.0)
        cases.close()
        runtime.close()


def test_the_grpc_answer_is_the_rest_json(door: Door) -> None:
    params = {"brand": "acme", "interval": "week", "time_zone": "Europe/Amsterdam"}
    rest = door.rest("admin", **params)
    assert rest.status_code == 200, rest.text
    answer = door.call("admin", **params)
    assert answer == _doubles(rest.json())
    assert [row["name"] for row in answer["intents"]][:2] == ["safety", "outage"]


def test_brand_scope_and_permission_as_rest(door: Door) -> None:
    mine = door.call("ops")
    assert mine["filters"]["brand"] == ["globex"] and mine["messages"] == 2
    other = door.call("ops", brand="acme")
    assert isinstance(other, grpc.RpcError)
    assert other.code() == grpc.StatusCode.PERMISSION_DENIED
    agent = door.call("agent")
    assert isinstance(agent, grpc.RpcError)
    assert agent.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"interval": "fortnight"}, "interval"), ({"from": "yesterday"}, "from")],
)
def test_bad_parameters_are_invalid_argument_naming_them(
    door: Door, fields: dict[str, str], field: str
) -> None:
    refused = door.call("admin", **fields)
    assert isinstance(refused, grpc.RpcError)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(refused.details()).startswith(f"{field}: ")


def _doubles(value: Any) -> Any:
    """JSON as a Struct carries it: every number a double."""
    if isinstance(value, dict):
        return {key: _doubles(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_doubles(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
