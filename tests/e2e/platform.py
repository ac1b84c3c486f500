"""The real platform (`socialcare run all`) as a subprocess, for end-to-end tests and bench.

The platform gets its own data dir, free ports and a care config whose Dutch SLA is a few
seconds long, so a breach happens within the test while English keeps its hour.

Every `/v1` endpoint but the channels' webhooks needs a credential (ADR 0007): the platform
starts with a fixed admin password and signing key, and `Platform.get/post/request` send
an admin's bearer token, signed in once per platform (argon2 is slow on purpose) at the
first call that needs it. `as_service` copies share that token; any process checks it with
the shared key, so the gateway's token works at every service.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import pytest

CARE_CONFIG = """
sla_policies:
  - {name: first-response-en, languages: [en], first_response: 1h}
  - {name: first-response-nl-fast, languages: [nl], first_response: 4s}
  - {name: first-response-other, languages: ["*"], first_response: 24h}
queues:
  - {name: care-en, languages: [en]}
  - {name: care-nl, languages: [nl]}
  - {name: care-de, languages: [de]}
  - {name: care-global, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne de Vries, languages: [nl], capacity: 5}
  - {id: olivia, name: Olivia Carter, languages: [en], capacity: 5}
  - {id: lena, name: Lena Schmidt, languages: [de], capacity: 5}
"""

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "e2e-admin-password-1"
"""`SOCIALCARE_ADMIN_PASSWORD` of every test platform: user `admin` gets it at first start."""
AUTH_SECRET = "e2e-auth-secret-0123456789abcdef0123456789abcdef"
"""`SOCIALCARE_AUTH_SECRET` (at least 32 characters): every process signs and checks with it."""
TOKEN_MARGIN_S = 60.0
"""A token with less than this left is replaced before a request, not sent."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def needs_credentials(path: str) -> bool:
    """Whether a request to `path` carries the bearer token: every `/v1` endpoint except the
    channels' webhooks, which are public and verify the platforms' signatures instead."""
    return path.startswith("/v1/") and not path.startswith("/v1/channels/")


@dataclass
class Credentials:
    """An admin's bearer token for one platform, shared by its `as_service` copies.

    `sign_in_url` is the process that serves `POST /v1/auth/token` (the gateway, alone or in
    `run all`); the token is fetched at the first request that needs one, after the platform
    started, and again only when it is about to expire.
    """

    sign_in_url: str | None = None
    _token: str | None = field(default=None, repr=False)
    _expires_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def token(self, username: str, password: str, log_tail: Callable[[], str]) -> str:
        with self._lock:
            if self._token is None or time.monotonic() > self._expires_at - TOKEN_MARGIN_S:
                self._token, self._expires_at = self._sign_in(username, password, log_tail)
            return self._token

    def _sign_in(
        self, username: str, password: str, log_tail: Callable[[], str]
    ) -> tuple[str, float]:
        if self.sign_in_url is None:
            raise AssertionError(
                "no process to sign in at: start the platform (run all) or as_service(..., "
                "'gateway') before calling /v1"
            )
        asked = time.monotonic()
        try:
            answer = httpx.post(
                f"{self.sign_in_url}/v1/auth/token",
                data={"username": username, "password": password},
                timeout=30.0,
            )
        except httpx.HTTPError as exc:
            raise AssertionError(
                f"sign-in at {self.sign_in_url} failed ({exc!r}): is the gateway running?\n"
                f"{log_tail()}"
            ) from exc
        if answer.status_code != 200:
            raise AssertionError(
                f"sign-in as {username} at {self.sign_in_url}: {answer.status_code} "
                f"{answer.text}\n{log_tail()}"
            )
        body = answer.json()
        return str(body["access_token"]), asked + float(body["expires_in"])


@dataclass
class Platform:
    base_url: str
    env: dict[str, str]
    data_dir: Path
    log_path: Path
    service: str = "all"
    process: subprocess.Popen[bytes] | None = None
    credentials: Credentials = field(default_factory=Credentials)

    def __post_init__(self) -> None:
        if self.credentials.sign_in_url is None and self.service in ("all", "gateway"):
            self.credentials.sign_in_url = self.base_url

    def start(self, timeout_s: float = 60.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "socialcare.cli", "run", self.service],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.service} exited early:\n{self.log_tail()}")
            try:
                # Ready, not only live: every consumer loop rebuilt its partitions and
                # caught up, so reads right after start see the state from before.
                if httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.service} not ready in {timeout_s}s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 30.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"platform ignored SIGTERM:\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def token(self) -> str:
        """An admin's bearer token (signed in once per platform, renewed near expiry), for
        clients that build their own requests (bench)."""
        password = self.env.get("SOCIALCARE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        return self.credentials.token(ADMIN_USERNAME, password, self.log_tail)

    def auth_headers(self) -> dict[str, str]:
        """`Authorization: Bearer <token>` for a request to `/v1`."""
        return {"Authorization": f"Bearer {self.token()}"}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> httpx.Response:
        """`method path` on this process, as the admin when `path` needs a credential."""
        sent = {**(self.auth_headers() if needs_credentials(path) else {}), **(headers or {})}
        return httpx.request(
            method,
            f"{self.base_url}{path}",
            params=params,
            json=json,
            headers=sent,
            timeout=timeout,
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.request("GET", path, params=params)

    def post(
        self, path: str, body: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.request("POST", path, json=body, headers=headers)

    def wait_for(self, what: str, probe: Callable[[], Any], timeout_s: float = 60.0) -> Any:
        """Poll `probe` until it returns something truthy; fail with the platform's log."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = probe()
            if result:
                return result
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}\n{self.log_tail()}")


def make_platform(
    tmp_path: Path, bus: str, search: str, care_config: str = CARE_CONFIG
) -> Platform:
    port = free_port()
    care = tmp_path / "care.yaml"
    care.write_text(care_config)
    env = {
        **os.environ,
        "SOCIALCARE_BUS": bus,
        "SOCIALCARE_SEARCH": search,
        "SOCIALCARE_SEARCH_INDEX_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}-",
        "SOCIALCARE_DATA_DIR": str(tmp_path / "data"),
        "SOCIALCARE_CARE_CONFIG": str(care),
        "SOCIALCARE_HTTP_PORT": str(port),
        "SOCIALCARE_INGEST_GRPC_PORT": str(free_port()),
        "SOCIALCARE_CASE_GRPC_ADDRESS": f"127.0.0.1:{free_port()}",
        "SOCIALCARE_SLA_GRPC_ADDRESS": f"127.0.0.1:{free_port()}",
        "SOCIALCARE_GATEWAY_GRPC_ADDRESS": f"127.0.0.1:{free_port()}",
        "SOCIALCARE_EMBEDDED_SYNC": "normal",
        "SOCIALCARE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SOCIALCARE_AUTH_SECRET": AUTH_SECRET,
    }
    return Platform(f"http://127.0.0.1:{port}", env, tmp_path / "data", tmp_path / "platform.log")


def platform_on_backends(
    request: pytest.FixtureRequest, tmp_path: Path, care_config: str = CARE_CONFIG
) -> Platform:
    """The platform on the backend pair a fixture's `request.param` names.

    Only "kafka-elasticsearch" asks for the Kafka and Elasticsearch fixtures, so the
    embedded runs need neither service."""
    if request.param == "embedded":
        return make_platform(tmp_path, "embedded", "embedded", care_config)
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    es_url = request.getfixturevalue("elasticsearch_url")
    return make_platform(tmp_path, f"kafka://{bootstrap}", es_url, care_config)


@contextmanager
def running(platform: Platform) -> Iterator[Platform]:
    """`platform` started, and stopped afterwards unless its process already ended (a test
    may stop it itself to check the exit)."""
    platform.start()
    try:
        yield platform
    finally:
        if platform.process is not None and platform.process.poll() is None:
            platform.stop()


def as_service(platform: Platform, service: str) -> Platform:
    """The same platform settings for one service in its own process, on its own HTTP port.

    It shares `platform`'s credentials: the token is signed in at the gateway's copy when
    there is one (else at `platform` itself) and sent to every copy."""
    port = free_port()
    if service == "gateway":
        platform.credentials.sign_in_url = f"http://127.0.0.1:{port}"
    env = {
        **platform.env,
        "SOCIALCARE_HTTP_PORT": str(port),
        "SOCIALCARE_INGEST_GRPC_PORT": str(free_port()),
        "SOCIALCARE_DATA_DIR": str(platform.data_dir / service),
    }
    return Platform(
        f"http://127.0.0.1:{port}",
        env,
        platform.data_dir / service,
        platform.log_path.with_name(f"{service}.log"),
        service,
        credentials=platform.credentials,
    )
