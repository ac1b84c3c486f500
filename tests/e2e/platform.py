"""The real platform (`socialcare run all`) as a subprocess, for end-to-end tests and bench.

The platform gets its own data dir, free ports and a care config whose Dutch SLA is a few
seconds long, so a breach happens within the test while English keeps its hour.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Platform:
    base_url: str
    env: dict[str, str]
    data_dir: Path
    log_path: Path
    service: str = "all"
    process: subprocess.Popen[bytes] | None = None

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

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.base_url}{path}", params=params, timeout=10.0)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.base_url}{path}", json=body, timeout=10.0)

    def wait_for(self, what: str, probe: Callable[[], Any], timeout_s: float = 60.0) -> Any:
        """Poll `probe` until it returns something truthy; fail with the platform's log."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = probe()
            if result:
                return result
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}\n{self.log_tail()}")


def make_platform(tmp_path: Path, bus: str, search: str) -> Platform:
    port = free_port()
    care = tmp_path / "care.yaml"
    care.write_text(CARE_CONFIG)
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
        "SOCIALCARE_EMBEDDED_SYNC": "normal",
    }
    return Platform(f"http://127.0.0.1:{port}", env, tmp_path / "data", tmp_path / "platform.log")


def as_service(platform: Platform, service: str) -> Platform:
    """The same platform settings for one service in its own process, on its own HTTP port."""
    port = free_port()
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
    )
