"""Auth on a real embedded bus: the directory replayed and followed, the router and the
dependencies installed on a FastAPI app, driven through TestClient.

`auth_platform` builds one process; `AuthPlatform.another_process()` a second one on the
same data directory (a second gateway replica), to prove what one writes the other sees.
Routes under `/probe/` stand for the endpoints the lead protects later: they take
`current_principal` / `require` exactly as those will.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.testclient import TestClient

from socialcare.core.auth import (
    Permission,
    Principal,
    csrf_token,
    current_principal,
    install_auth,
    optional_principal,
    require,
)
from socialcare.core.auth.settings import AuthSettings
from socialcare.core.auth.wiring import AuthParts, open_auth
from socialcare.core.runtime import Runtime, build_app
from socialcare.gateway.auth_api import auth_router

ADMIN_PASSWORD = "admin-password-for-tests"
DEV_PASSWORD = "dev-password-for-tests"

CARE_WITH_BRANDS = """
sla_policies:
  - {name: any, languages: ["*"], first_response: 1h}
queues:
  - {name: care-global, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne de Vries, languages: [nl, en], capacity: 8}
  - {id: olivia, name: Olivia Carter, languages: [en], capacity: 8}
brands:
  - {name: acme}
  - {name: globex}
"""


def probe_router() -> APIRouter:
    router = APIRouter(prefix="/probe")

    @router.get("/me")
    def me(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
        return principal.as_json()

    @router.get("/cases")
    def cases(principal: Annotated[Principal, Depends(require(Permission.READ_CASES))]) -> str:
        return "ok"

    @router.post("/act")
    def act(principal: Annotated[Principal, Depends(require(Permission.ACT))]) -> str:
        return "ok"

    @router.post("/ingest")
    def ingest(principal: Annotated[Principal, Depends(require(Permission.INGEST))]) -> str:
        return "ok"

    @router.get("/page")
    def page(request: Request) -> dict[str, Any]:
        """What a console page does: maybe signed in, and the CSRF token for its forms."""
        principal = optional_principal(request)
        return {
            "principal": principal.id if principal is not None else None,
            "csrf_token": csrf_token(request),
        }

    return router


class AuthPlatform:
    """One process's auth on `data_dir`, with its app and a TestClient."""

    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        self.data_dir = data_dir
        self.overrides = overrides
        care = data_dir / "care.yaml"
        if not care.exists():
            care.write_text(CARE_WITH_BRANDS)
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "embedded_sync": "normal",
            "care_config": care,
            "admin_password": ADMIN_PASSWORD,
            "session_cookie_secure": False,
        }
        values.update(overrides)
        self.settings = AuthSettings(**values)
        self.runtime = Runtime(self.settings)
        self.auth: AuthParts = open_auth(self.runtime, self.settings)
        for component in self.auth.components:
            component.start()
        self.app = build_app("auth-test", [auth_router(self.auth), probe_router()], [])
        install_auth(self.app, self.auth.authenticator)
        self.client = TestClient(self.app)
        self.processes: list[AuthPlatform] = []
        self._admin_token: str | None = None

    def another_process(self, **overrides: Any) -> AuthPlatform:
        other = AuthPlatform(self.data_dir, **{**self.overrides, **overrides})
        self.processes.append(other)
        return other

    def close(self) -> None:
        for other in self.processes:
            other.close()
        for component in self.auth.components:
            component.stop()
        for component in self.auth.components:
            component.join(5.0)
        self.client.close()
        self.runtime.close()

    # -- helpers -------------------------------------------------------------------------

    def token(self, username: str, password: str) -> str:
        answer = self.client.post(
            "/v1/auth/token", data={"username": username, "password": password}
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def admin_headers(self) -> dict[str, str]:
        """An admin's bearer token (signed in once per platform: argon2 is slow on purpose)."""
        if self._admin_token is None:
            self._admin_token = self.token("admin", ADMIN_PASSWORD)
        return {"Authorization": f"Bearer {self._admin_token}"}

    def create_user(self, **body: Any) -> dict[str, Any]:
        answer = self.client.post("/v1/users", json=body, headers=self.admin_headers())
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created


@pytest.fixture
def auth_platform(tmp_path: Path) -> Iterator[AuthPlatform]:
    platform = AuthPlatform(tmp_path)
    yield platform
    platform.close()


@pytest.fixture
def make_platform(tmp_path: Path) -> Iterator[Callable[..., AuthPlatform]]:
    made: list[AuthPlatform] = []

    def make(**overrides: Any) -> AuthPlatform:
        platform = AuthPlatform(tmp_path, **overrides)
        made.append(platform)
        return platform

    yield make
    for platform in made:
        platform.close()


def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
