"""Local receivers for notification tests: an HTTP server that answers from a script
(fail, time out, then recover) and records what it got; an aiosmtpd SMTP server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int  # the status we answered (0: we stalled past the client's timeout)


@dataclass
class ScriptedReceiver:
    """Answers each POST with the next scripted step, then 200 forever. A step is an int
    status, ("retry-after", seconds) for a 429 with Retry-After, or ("stall", seconds)."""

    script: list[Any] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.answered < 300]


@contextmanager
def scripted_receiver(*script: Any) -> Iterator[ScriptedReceiver]:
    receiver = ScriptedReceiver(list(script))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                step = receiver.script.pop(0) if receiver.script else 200
            headers = {k: v for k, v in self.headers.items()}
            if isinstance(step, tuple) and step[0] == "stall":
                receiver.received.append(Received(headers, body, 0))
                time.sleep(step[1])
                return
            status, extra = (
                (429, {"Retry-After": str(step[1])})
                if isinstance(step, tuple)
                else (
                    step,
                    {},
                )
            )
            receiver.received.append(Received(headers, body, status))
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(*, credentials: tuple[str, str] | None = None) -> Iterator[tuple[int, _Inbox]]:
    """A local SMTP server; with `credentials`, AUTH (over plain text: test only) is
    required and `inbox.logins` records who logged in."""
    inbox = _Inbox()
    with socket.socket() as probe:  # aiosmtpd cannot bind port 0: pick a free one
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    options: dict[str, Any] = {}
    if credentials is not None:

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            given = (data.login.decode(), data.password.decode())
            inbox.logins.append(given[0])
            # handled=False: aiosmtpd then answers 535 itself (True means "already done").
            return AuthResult(success=given == credentials, handled=False)

        options = {
            "authenticator": authenticate,
            "auth_required": True,
            "auth_require_tls": False,
        }
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()
