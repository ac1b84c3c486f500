"""A real HTTP server on loopback playing the CRM of enrichment/customer.py's protocol: per
author id a status, a body and a delay; every request it got, with its query and headers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"{}"
    delay_s: float = 0.0


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeCrm:
    url: str = ""
    answers: dict[str, Answer] = field(default_factory=dict)
    default: Answer = field(default_factory=lambda: Answer(404, b""))
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def knows(self, author_id: str, delay_s: float = 0.0, **record: Any) -> None:
        self.answers[author_id] = Answer(200, json.dumps(record).encode(), delay_s)

    def answers_with(
        self, author_id: str, status: int, body: bytes = b"", delay_s: float = 0.0
    ) -> None:
        self.answers[author_id] = Answer(status, body, delay_s)

    def asked(self, author_id: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if author_id in (None, r.query.get("author_id"))]


def _handler(crm: FakeCrm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            with crm.lock:
                crm.requests.append(Request(parts.path, query, dict(self.headers.items())))
                answer = crm.answers.get(query.get("author_id", ""), crm.default)
            if answer.delay_s:
                time.sleep(answer.delay_s)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout)

        def log_message(self, format: str, *args: Any) -> None:
            return

    # Headers and body leave in two writes: without this, Nagle's algorithm holds the body
    # for the client's delayed ACK (~40 ms on Linux), which a real server would not.
    Handler.disable_nagle_algorithm = True

    return Handler


@contextmanager
def running_crm() -> Iterator[FakeCrm]:
    crm = FakeCrm()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(crm))
    server.daemon_threads = True
    crm.url = f"http://127.0.0.1:{server.server_address[1]}/customers/lookup"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield crm
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
