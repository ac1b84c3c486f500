"""The assembled platform of `tests/unit/test_access.py` (two brands, their cases,
messages and escalations, a real gRPC CaseService standing in for routing) with the
gateway's whole gRPC server (`gateway.rpc.gateway_grpc_server`) on a loopback port over
the app's own routers, and a console board for WatchCases.

The app's components are not started (nothing binds the platform's fixed ports): the REST
answers the tests compare with come from the same routers through a TestClient."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from fastapi import FastAPI
from fastapi.testclient import TestClient

from socialcare import cli
from socialcare.console.board import CaseBoard
from socialcare.core.runtime import Runtime, build_app
from socialcare.gateway.actions import Actions
from socialcare.gateway.audit_api import audit_router
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.privacy_api import ErasureBook, PrivacyClient, privacy_router
from socialcare.gateway.rpc import AgentGrpcServer, gateway_grpc_server
from socialcare.gateway.wall_api import wall_router
from socialcare.v1 import services_pb2_grpc
from tests.unit.auth_support import (
    admin_headers,
    api_key_headers,
    open_test_auth,
    user_headers,
)
from tests.unit.test_access import platform, seed


@dataclass
class RpcWorld:
    runtime: Runtime
    app: FastAPI
    client: TestClient
    board: CaseBoard
    server: AgentGrpcServer
    channel: grpc.Channel
    people: dict[str, dict[str, str]]

    def rest(self, method: str, url: str, who: str, **kwargs: Any) -> Any:
        return self.client.request(method, url, headers=self.people[who], **kwargs)

    def metadata(self, who: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", self.people[who]["Authorization"]),)

    def key(self, name: str, *, brand: str, permissions: list[str]) -> None:
        """An API key of `brand` with `permissions`, as person `name`."""
        self.people[name] = api_key_headers(self.runtime, brand=brand, permissions=permissions)

    @property
    def cases(self) -> services_pb2_grpc.CaseViewServiceStub:
        return services_pb2_grpc.CaseViewServiceStub(self.channel)

    @property
    def escalations(self) -> services_pb2_grpc.EscalationServiceStub:
        return services_pb2_grpc.EscalationServiceStub(self.channel)

    @property
    def agents(self) -> services_pb2_grpc.AgentServiceStub:
        return services_pb2_grpc.AgentServiceStub(self.channel)

    @property
    def reporting(self) -> services_pb2_grpc.ReportingServiceStub:
        return services_pb2_grpc.ReportingServiceStub(self.channel)

    @property
    def accounts(self) -> services_pb2_grpc.AccountServiceStub:
        return services_pb2_grpc.AccountServiceStub(self.channel)

    @property
    def audit(self) -> services_pb2_grpc.AuditServiceStub:
        return services_pb2_grpc.AuditServiceStub(self.channel)

    @property
    def erasures(self) -> services_pb2_grpc.ErasureServiceStub:
        return services_pb2_grpc.ErasureServiceStub(self.channel)

    @property
    def auth(self) -> services_pb2_grpc.AuthServiceStub:
        return services_pb2_grpc.AuthServiceStub(self.channel)


def open_world(
    data_dir: Path,
    routing_address: str,
    *,
    workers: int = 8,
    max_watches: int = 4,
    keepalive_s: float = 15.0,
    backlog: int | None = None,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
) -> Iterator[RpcWorld]:
    runtime = platform(data_dir, routing_address)
    seed(runtime)
    auth = open_test_auth(runtime)
    parts = cli.assemble(runtime, list(cli.SERVICES))
    served = {getattr(route, "path", "") for router in parts.routers for route in router.routes}
    # The admins' audit log and erasures, until the gateway serves them itself (routing's
    # PrivacyService is not running here: an erasure finds routing unavailable).
    if "/v1/audit" not in served:
        parts.routers.append(audit_router(runtime.search))
    if "/v1/privacy/erasures" not in served:
        privacy = PrivacyClient("127.0.0.1:1", timeout_s=1.0)
        parts.routers.append(
            privacy_router(
                care=runtime.care,
                producer=runtime.producer,
                privacy=privacy,
                book=ErasureBook(),
            )
        )
    cases = CaseClient(routing_address, timeout_s=5.0)
    # The gateway's own board when it built one (its console, its /v1/wall and its gRPC
    # server's WatchCases share it), so that what a test applies shows on every door.
    gateway_servers = [c for c in parts.components if isinstance(c, AgentGrpcServer)]
    watchers = [s.watcher for s in gateway_servers if s.watcher is not None]
    board = watchers[0].board if watchers else CaseBoard(runtime.care)
    board.mark_ready()
    if "/v1/wall" not in served:  # until the gateway serves it, over this world's board
        parts.routers.append(wall_router(care=runtime.care, board=board))
    app = build_app("socialcare all", parts.routers, parts.components, auth.authenticator)
    server = gateway_grpc_server(
        address="127.0.0.1:0",
        actions=Actions(care=runtime.care, producer=runtime.producer, cases=cases),
        authenticator=auth.authenticator,
        routers=parts.routers,
        care=runtime.care,
        cases=cases,
        board=board,
        workers=workers,
        max_watches=max_watches,
        watch_keepalive_s=keepalive_s,
        grace_s=1.0,
        interceptors=interceptors,
    )
    if backlog is not None:
        assert server.watcher is not None
        server.watcher.backlog = backlog
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    people = {
        "admin": admin_headers(runtime),
        "sanne": user_headers(runtime, "sanne", roles=["agent"], brands=["acme"], agent_id="sanne"),
        "gerrit": user_headers(
            runtime, "gerrit", roles=["agent"], brands=["globex"], agent_id="gerrit"
        ),
        "olivia": user_headers(
            runtime, "olivia", roles=["lead"], brands=["acme"], agent_id="olivia"
        ),
        "ops": user_headers(runtime, "ops", roles=["operations"], brands=["acme"]),
    }
    try:
        yield RpcWorld(
            runtime=runtime,
            app=app,
            client=TestClient(app),
            board=board,
            server=server,
            channel=channel,
            people=people,
        )
    finally:
        channel.close()
        server.stop()
        server.join(5.0)
        cases.close()
        runtime.close()
