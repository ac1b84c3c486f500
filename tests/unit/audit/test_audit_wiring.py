"""The audit log as the platform wires it (what `socialcare run gateway indexer` assembles):
an admin's action through the gateway's app is audited by the installed middleware, the
indexer's audit loop indexes it, and GET /v1/audit finds it."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from fastapi.testclient import TestClient
from google.protobuf import struct_pb2

from socialcare import cli
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode
from socialcare.core.grpc_server import GrpcServer
from socialcare.core.runtime import Runtime, build_app
from socialcare.v1 import audit_pb2, services_pb2, services_pb2_grpc
from tests.unit.audit.conftest import CARE
from tests.unit.auth_support import admin_headers, admin_metadata, open_test_auth


def test_the_assembled_gateway_and_indexer_audit_and_serve_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCIALCARE_GATEWAY_GRPC_ADDRESS", "")  # no gRPC port to bind
    care = tmp_path / "care.yaml"
    care.write_text(CARE)
    runtime = Runtime(PlatformSettings(data_dir=tmp_path, embedded_sync="normal", care_config=care))
    auth = open_test_auth(runtime)
    parts = cli.assemble(runtime, ["indexer", "gateway"])
    components = [*auth.components, *parts.components]
    app = build_app("gateway+indexer", parts.routers, components, auth.authenticator)
    for install in parts.installers:
        install(app)
    for component in components:
        component.start()
    try:
        client = TestClient(app, headers=admin_headers(runtime))
        created = client.post(
            "/v1/users", json={"username": "piet", "roles": ["agent"]}, headers={"User-Agent": "t"}
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]
        deadline = time.monotonic() + 30
        records: list[dict[str, object]] = []
        while not records and time.monotonic() < deadline:
            answer = client.get("/v1/audit", params={"target": f"user:{user_id}"})
            assert answer.status_code == 200, answer.text
            records = answer.json()["records"]
            time.sleep(0.1)
        assert [(r["action"], r["actor_id"], r["outcome"], r["via"]) for r in records] == [
            ("user.create", "admin", "ok", "rest")
        ]
        # Reading the log is not an action: still the one record.
        again = client.get("/v1/audit", params={"action": "user"}).json()["records"]
        assert len(again) == 1
    finally:
        for component in components:
            component.stop()
        for component in components:
            component.join(10.0)
        runtime.close()


def test_the_gateway_grpc_server_audits_its_mutating_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCIALCARE_GATEWAY_GRPC_ADDRESS", "127.0.0.1:0")
    care = tmp_path / "care.yaml"
    care.write_text(CARE)
    runtime = Runtime(PlatformSettings(data_dir=tmp_path, embedded_sync="normal", care_config=care))
    auth = open_test_auth(runtime)
    parts = cli.assemble(runtime, ["gateway"])
    components = [*auth.components, *parts.components]
    [server] = [c for c in components if isinstance(c, GrpcServer)]
    for component in components:
        component.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        accounts = services_pb2_grpc.AccountServiceStub(channel)
        body = struct_pb2.Struct()
        body.update({"username": "katrien", "roles": ["agent"]})
        created = accounts.CreateUser(
            services_pb2.CreateUserRequest(user=body), metadata=admin_metadata(runtime)
        )
        accounts.ListUsers(services_pb2.ListUsersRequest(), metadata=admin_metadata(runtime))
        with pytest.raises(grpc.RpcError):
            services_pb2_grpc.AuthServiceStub(channel).IssueToken(
                services_pb2.IssueTokenRequest(username="Mallory", password="guessing-123")
            )
        records = [
            decode(record, audit_pb2.AuditRecord)
            for record in runtime.bus.replay(Topic.AUDIT_LOG.value)
        ]
        who = [(r.actor_kind, r.actor_id, r.actor_name) for r in records]
        assert [(r.action, r.via, r.outcome) for r in records] == [
            ("user.create", "grpc", "ok"),
            ("auth.sign_in", "grpc", "refused"),
        ]
        assert who == [("user", "admin", "Administrator"), ("user", "", "mallory")]
        assert (records[0].target_type, records[0].target_id) == (
            "user",
            created.user.fields["id"].string_value,
        )
        assert b"guessing-123" not in records[1].SerializeToString()
    finally:
        channel.close()
        for component in components:
            component.stop()
        for component in components:
            component.join(10.0)
        runtime.close()
