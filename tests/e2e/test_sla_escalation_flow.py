"""An Italian customer is left waiting past a 5-second promise, on both backends.

The whole chain of issue 10, through the real services of `socialcare run all`: the sla
service warns at half the target and calls the breach at the target; the escalation service
raises an escalation on the warning and lifts it to the team lead on the breach; the
notifier posts a signed, Slack-compatible webhook to a local receiver; the SLA ledger's
`socialcare_sla_breaches_total{language="it"}` moves; and `GET /v1/reports/sla` shows the
breach in its per-language figures. Killed with SIGKILL and started again, the platform
still counts that breach exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.platform import Platform, platform_on_backends, running

HOOK_SECRET = "e2e-hook-secret-for-the-ops-channel"
HOOK_SECRET_ENV = "SOCIALCARE_E2E_OPS_HOOK_SECRET"

CARE_TEMPLATE = """
sla_policies:
  - {{name: it-five-seconds, languages: [it], first_response: 5s, warnings: [0.5]}}
  - {{name: first-response-other, languages: ["*"], first_response: 24h}}
queues:
  - {{name: care-it, languages: [it]}}
  - {{name: care-global, languages: ["*"]}}
agents:
  - {{id: giulia, name: Giulia Rossi, languages: [it], capacity: 5}}
  - {{id: olivia, name: Olivia Carter, languages: [en], capacity: 5}}
notifications:
  webhooks:
    - name: ops-channel
      url: {url}
      secret_env: {secret_env}
      tiers: [team_lead, management]
"""


@dataclass
class Receiver:
    """A local webhook endpoint that keeps what it was sent."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    kept: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with kept.lock:
                kept.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    kept = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/ops")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield kept
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["embedded", "kafka-elasticsearch"])
def sla_platform(
    request: pytest.FixtureRequest, tmp_path: Path, receiver: Receiver
) -> Iterator[Platform]:
    care = CARE_TEMPLATE.format(url=receiver.url, secret_env=HOOK_SECRET_ENV)
    made = platform_on_backends(request, tmp_path, care)
    made.env[HOOK_SECRET_ENV] = HOOK_SECRET
    with running(made) as started:
        yield started


def italian_complaint(run: str) -> dict[str, Any]:
    return {
        "channel": "x",
        "external_id": f"1862000000000000042-{run}",
        "author": {"id": f"it-55-{run}", "handle": "@marco_b", "name": "Marco Bianchi"},
        "text": "Il mio ordine non è ancora arrivato dopo tre settimane. "
        "Nessuno risponde alle mie email, è davvero inaccettabile!",
        "created_at": "2026-11-26T10:00:00+01:00",
    }


def breaches(metrics: str, language: str) -> float:
    """socialcare_sla_breaches_total summed over every series of `language` (the series
    also carry clock, channel, queue, priority and partition)."""
    total = 0.0
    for line in metrics.splitlines():
        if not line.startswith("socialcare_sla_breaches_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if labels.get("language") == language:
            total += float(line.rsplit(" ", 1)[1])
    return total


def verify_signature(headers: dict[str, str], body: bytes) -> None:
    """The receiver's side of the documented scheme: `t=<unix>,v1=<hex>` where the hex is
    HMAC-SHA256(secret, "<t>." + body)."""
    parts = dict(part.split("=", 1) for part in headers["x-socialcare-signature"].split(","))
    expected = hmac.new(
        HOOK_SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected), "webhook signature does not verify"
    assert abs(time.time() - int(parts["t"])) < 300


def test_warning_breach_escalation_and_webhook(sla_platform: Platform, receiver: Receiver) -> None:
    platform = sla_platform
    before = breaches(platform.get("/metrics").text, "it")
    run = uuid.uuid4().hex[:8]
    accepted = platform.post("/v1/messages", italian_complaint(run))
    assert accepted.status_code == 202, accepted.text
    message_id = accepted.json()["message_id"]

    def case_of_message() -> dict[str, Any] | None:
        listing = platform.get("/v1/cases", language="it", limit=50).json()
        for summary in listing["cases"]:
            case = platform.get(f"/v1/cases/{summary['id']}").json()
            if any(m["message_id"] == message_id for m in case.get("messages", [])):
                return dict(case)
        return None

    case = platform.wait_for("the Italian case", case_of_message, timeout_s=30)
    assert case["sla"]["policy"] == "it-five-seconds"
    assert case["sla"]["kind"] == "first_response"
    case_id = case["id"]

    # Watch the response clock closely: the warning (at 2.5 s) comes first, then the breach.
    seen: list[tuple[str, tuple[float, ...]]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        clock = platform.get(f"/v1/cases/{case_id}").json()["sla"]
        state = (clock["state"], tuple(clock["warned"]))
        if not seen or seen[-1] != state:
            seen.append(state)
        if clock["state"] == "breached":
            break
        time.sleep(0.1)
    assert seen[-1][0] == "breached", f"no breach within 60 s: {seen}\n{platform.log_tail()}"
    warned_first = [i for i, (st, warned) in enumerate(seen) if st == "running" and warned]
    assert warned_first, f"the breach came without a warning before it: {seen}"
    assert seen[-1][1] == (0.5,), seen

    # The escalation: raised by the warning, lifted to the team lead by the breach.
    def lifted() -> dict[str, Any] | None:
        details = platform.get(f"/v1/cases/{case_id}").json()["escalation_details"]
        for escalation in details:
            if escalation["trigger"] == "sla_breach" and escalation["tier"] == "team_lead":
                return dict(escalation)
        return None

    escalation = platform.wait_for("the breach's escalation on the case", lifted, timeout_s=30)
    assert escalation["status"] == "open"
    assert escalation["revision"] >= 2  # raised at the warning, then re-escalated

    # The notification: a signed, Slack-compatible POST at the local receiver.
    def notified() -> tuple[dict[str, str], bytes] | None:
        for headers, body in receiver.posts():
            if case_id in body.decode():
                return headers, body
        return None

    headers, body = platform.wait_for("the webhook notification", notified, timeout_s=30)
    verify_signature(headers, body)
    assert headers["content-type"].startswith("application/json")
    assert headers.get("x-socialcare-delivery")
    payload = json.loads(body)
    assert isinstance(payload["text"], str) and payload["text"]
    assert "blocks" in payload
    assert payload["socialcare"]["escalation"]["id"] == escalation["id"]

    # The ledger counted the breach, once.
    def counted() -> float | None:
        moved = breaches(platform.get("/metrics").text, "it") - before
        return moved or None

    assert platform.wait_for("the breach in the metrics", counted, timeout_s=30) == 1.0

    # Killed outright (no chance to flush or snapshot) and started again: the count is
    # rebuilt from care.sla, neither lost nor doubled (the timers may fire the breach again
    # with the same id; the ledger counts it once).
    assert platform.process is not None
    platform.process.kill()
    platform.process.wait()
    platform.start()
    assert platform.wait_for("the breach counted after a kill -9", counted, timeout_s=30) == 1.0
    time.sleep(2.0)
    assert breaches(platform.get("/metrics").text, "it") - before == 1.0

    # And the report per language shows it.
    def reported() -> dict[str, Any] | None:
        answer = platform.get("/v1/reports/sla", group_by="language,clock")
        if answer.status_code != 200:
            return None
        for row in answer.json()["rows"]:
            group = row["group"]
            if group.get("language") == "it" and group.get("clock") == "first_response":
                return dict(row) if row["breached"] >= 1 else None
        return None

    row = platform.wait_for("the breach in the SLA report", reported, timeout_s=30)
    assert row["attainment"] == 0.0
