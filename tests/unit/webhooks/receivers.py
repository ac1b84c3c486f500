"""A real local webhook receiver for the sender's tests: an HTTP server in a thread that
answers each POST from a script (fail, refuse, stall past the client's timeout, ask to
retry later), then 200; it checks every signature with the verification snippet the docs
show (services/socialcare/webhooks/snippets/verify.py) and records what it got."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SNIPPET = Path(__file__).resolve().parents[3] / "services/socialcare/webhooks/snippets/verify.py"


def _load_verify() -> Callable[..., bool]:
    spec = importlib.util.spec_from_file_location("webhook_verify_snippet", SNIPPET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    verify: Callable[..., bool] = module.verify_signature
    return verify


verify_signature = _load_verify()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int  # 0: stalled past the client's timeout
    verified: bool  # the signature checked out with the receiver's secrets


@dataclass
class Receiver:
    """Answers each POST with the next scripted step, then `default` forever. A step is an
    int status, ("retry-after", seconds) for a 429 with Retry-After, or ("stall", seconds)
    (no answer for that long)."""

    secrets: list[str]
    script: list[Any] = field(default_factory=list)
    default: Any = 200
    received: list[Received] = field(default_factory=list)
    url: str = ""
    concurrent: int = 0
    max_concurrent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.answered < 300]

    def wait_for(self, condition: Callable[[Receiver], bool], timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition(self):
                return True
            time.sleep(0.02)
        return condition(self)


@contextmanager
def receiver(
    *script: Any, secrets: tuple[str, ...] = ("s3cret",), default: Any = 200
) -> Iterator[Receiver]:
    hook = Receiver(list(secrets), list(script), default)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = dict(self.headers.items())
            verified = any(
                verify_signature(s, body, headers.get("X-Socialcare-Signature"))
                for s in hook.secrets
            )
            with hook.lock:
                step = hook.script.pop(0) if hook.script else hook.default
                hook.concurrent += 1
                hook.max_concurrent = max(hook.max_concurrent, hook.concurrent)
            try:
                if isinstance(step, tuple) and step[0] == "stall":
                    hook.received.append(Received(headers, body, 0, verified))
                    time.sleep(step[1])
                    return
                status, extra = (
                    (429, {"Retry-After": str(step[1])}) if isinstance(step, tuple) else (step, {})
                )
                hook.received.append(Received(headers, body, status, verified))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            finally:
                with hook.lock:
                    hook.concurrent -= 1

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
