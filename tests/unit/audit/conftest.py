"""The audit log on a real embedded bus: an app with the audit middleware, the real sign-in
and account routes and a few action routes shaped like the gateway's, and the records read
back from audit.log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.testclient import TestClient

from socialcare.core.audit import AuditLog, TrustedProxies, install_audit, note
from socialcare.core.auth import Permission, Principal, require
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode
from socialcare.core.runtime import Runtime, build_app
from socialcare.gateway.auth_api import auth_router
from socialcare.v1 import audit_pb2
from tests.unit.auth_support import open_test_auth

PROXY = "10.0.0.1"

CARE = """
sla_policies:
  - {name: any, languages: ["*"], first_response: 1h}
queues:
  - {name: care-global, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne de Vries, languages: [nl, en], capacity: 8}
brands:
  - {name: acme}
  - {name: globex}
"""


Actor = Annotated[Principal, Depends(require(Permission.ACT))]


def action_routes() -> APIRouter:
    """Routes shaped like the gateway's (the templates are what the audit names come from)."""
    api = APIRouter(prefix="/v1")

    @api.post("/cases/{case_id}/replies")
    def reply(case_id: str, principal: Actor) -> dict[str, str]:
        return {"case_id": case_id}

    @api.post("/escalations/{escalation_id}/acknowledge")
    def acknowledge(escalation_id: str, principal: Actor) -> dict[str, str]:
        return {"escalation_id": escalation_id}

    @api.post("/webhooks")
    def create_webhook(request: Request, principal: Actor) -> dict[str, str]:
        note(request, target_type="webhook", target_id="wh-1", brand="acme")
        return {"id": "wh-1"}

    @api.post("/cases/{case_id}/fail")
    def fail(case_id: str, principal: Actor) -> dict[str, str]:
        raise RuntimeError("the handler broke")

    @api.get("/cases/{case_id}")
    def read(case_id: str, principal: Actor) -> dict[str, str]:
        return {"case_id": case_id}

    @api.post("/messages")
    def ingest(principal: Actor) -> dict[str, str]:
        return {"accepted": "1"}

    return api


class AuditedApp:
    def __init__(self, data_dir: Path) -> None:
        care = data_dir / "care.yaml"
        care.write_text(CARE)
        self.runtime = Runtime(
            PlatformSettings(data_dir=data_dir, embedded_sync="normal", care_config=care)
        )
        self.auth = open_test_auth(self.runtime)
        for component in self.auth.components:
            component.start()
        self.audit = AuditLog(self.runtime.producer, timeout_s=5.0)
        self.app = self.build()

    def build(self, audit: AuditLog | None = None) -> FastAPI:
        app = build_app(
            "audit-test", [auth_router(self.auth), action_routes()], [], self.auth.authenticator
        )
        install_audit(app, audit or self.audit, TrustedProxies.parse(f"{PROXY}/32"))
        return app

    def client(self, peer: str = "192.0.2.10", app: FastAPI | None = None) -> TestClient:
        return TestClient(app or self.app, client=(peer, 40000), raise_server_exceptions=False)

    def records(self) -> list[audit_pb2.AuditRecord]:
        return [
            decode(record, audit_pb2.AuditRecord)
            for record in self.runtime.bus.replay(Topic.AUDIT_LOG.value)
        ]

    def close(self) -> None:
        for component in self.auth.components:
            component.stop()
        for component in self.auth.components:
            component.join(5.0)
        self.runtime.close()


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[AuditedApp]:
    platform = AuditedApp(tmp_path)
    try:
        yield platform
    finally:
        platform.close()
