"""Integrator webhooks through the real platform (`socialcare run all`), on the embedded
backends and on Kafka + Elasticsearch.

An admin gives each of two brands (acme, globex) an API key with `manage_webhooks`; each
key subscribes a real HTTP receiver in this test process (loopback, so the platform runs
with SOCIALCARE_WEBHOOK_ALLOW_PRIVATE_TARGETS, and short timeouts and backoff). Customers
write to both brands, and:

* acme's receiver fails the first deliveries (500), then holds one past the platform's
  timeout, then recovers: every event still arrives, every request's signature verifies
  with the documented snippet (services/socialcare/webhooks/snippets/verify.py), and a
  delivery that came twice came with the same delivery id and the same bytes;
* a second acme receiver refuses events (400): they are dead at once, the dead-letter list
  shows them, and a replay (after the receiver is fixed) delivers them under the same ids;
* a replay since a time before the first message sends those events again, with new
  delivery ids;
* globex's receiver gets globex's events only, and acme's receivers none of globex's;
* deliveries pending while their receiver is down (503) survive a restart of the platform
  (the sender and the API's delivery log rebuild them from webhooks.deliveries) and are
  delivered once it is back; those delivered before the restart are not sent again.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.platform import Platform, platform_on_backends, running

CARE_CONFIG = """
sla_policies:
  - {name: first-response, languages: ["*"], first_response: 1h}
queues:
  - {name: care-nl, languages: [nl]}
  - {name: care-global, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne de Vries, languages: [nl, en], capacity: 20}
  - {id: olivia, name: Olivia Carter, languages: [en], capacity: 20}
brands:
  - {name: acme}
  - {name: globex}
"""
TIMEOUT_S = 1.0
HELD_S = 2.5  # longer than the platform's timeout: the attempt fails, then lands late
SNIPPET = Path(__file__).resolve().parents[2] / "services/socialcare/webhooks/snippets/verify.py"


def _snippet() -> Callable[..., bool]:
    spec = importlib.util.spec_from_file_location("webhook_verify_snippet", SNIPPET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    verify: Callable[..., bool] = module.verify_signature
    return verify


VERIFY = _snippet()


@dataclass(frozen=True)
class Received:
    at: float
    path: str
    delivery_id: str
    event_type: str
    attempt: int
    body: bytes
    verified: bool
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A webhook receiver on loopback. Each path has a secret (set once subscribed) and a
    behaviour: `fail_first` event requests answer 500, the next is held past the platform's
    timeout, the rest 200; `refuse` answers events with 400, `down` with 503 (pings always
    with 200)."""

    port: int = 0
    secrets: dict[str, str] = field(default_factory=dict)
    fail_first: dict[str, int] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    held: set[str] = field(default_factory=set)
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def idle(self) -> bool:
        """No request is being answered (a held one has been recorded)."""
        with self.lock:
            return self.in_flight == 0

    def events(self, path: str) -> list[Received]:
        """Requests answered 2xx, pings left out."""
        return [r for r in self.at(path) if r.answered < 300 and r.event_type != "webhook.ping"]

    def answer(self, path: str, event_type: str, delivery_id: str) -> tuple[int, float]:
        """(status, seconds to wait first) for this request; records its place in line."""
        with self.lock:
            if event_type == "webhook.ping":
                return 200, 0.0
            if path in self.refuse:
                return 400, 0.0
            if path in self.down:
                return 503, 0.0
            if self.fail_first.get(path, 0) > 0:
                self.fail_first[path] -= 1
                return 500, 0.0
            if path in self.fail_first and path not in self.held:
                self.held.add(path)
                return 200, HELD_S
            return 204, 0.0


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            with receiver.lock:
                receiver.in_flight += 1
            try:
                self._receive()
            finally:
                with receiver.lock:
                    receiver.in_flight -= 1

        def _receive(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            delivery_id = self.headers.get("X-Socialcare-Delivery", "")
            event_type = self.headers.get("X-Socialcare-Event-Type", "")
            secret = receiver.secrets.get(self.path, "")
            verified = VERIFY(secret, body, self.headers.get("X-Socialcare-Signature"))
            status, wait_s = receiver.answer(self.path, event_type, delivery_id)
            if wait_s:
                time.sleep(wait_s)
            with receiver.lock:
                receiver.received.append(
                    Received(
                        at=time.monotonic(),
                        path=self.path,
                        delivery_id=delivery_id,
                        event_type=event_type,
                        attempt=int(self.headers.get("X-Socialcare-Attempt", "0")),
                        body=body,
                        verified=verified,
                        answered=status,
                    )
                )
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the platform gave up on a held request

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["embedded", "kafka-elasticsearch"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    made = platform_on_backends(request, tmp_path, CARE_CONFIG)
    made.env.update(
        {
            "SOCIALCARE_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "SOCIALCARE_WEBHOOK_TIMEOUT_S": str(TIMEOUT_S),
            "SOCIALCARE_WEBHOOK_RETRY_BASE_S": "0.2",
            "SOCIALCARE_WEBHOOK_RETRY_MAX_S": "1",
            "SOCIALCARE_WEBHOOK_RETRY_HORIZON": "600",
        }
    )
    with running(made) as started:
        yield started


def api_key(platform: Platform, brand: str) -> dict[str, str]:
    created = platform.post(
        "/v1/api-keys",
        {"name": f"{brand}-integration", "brand": brand, "permissions": ["manage_webhooks"]},
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


def call(
    platform: Platform, key: dict[str, str], method: str, path: str, body: Any = None
) -> httpx.Response:
    return httpx.request(method, f"{platform.base_url}{path}", json=body, headers=key, timeout=10.0)


def subscribe(
    platform: Platform,
    receiver: Receiver,
    key: dict[str, str],
    path: str,
    event_types: list[str],
) -> str:
    created = call(
        platform,
        key,
        "POST",
        "/v1/webhooks",
        {"url": receiver.url(path), "event_types": event_types},
    )
    assert created.status_code == 201, created.text
    receiver.secrets[path] = created.json()["secret"]
    webhook_id: str = created.json()["id"]
    # A ping answered proves the engine knows the subscription before any event is sent.
    ping = call(platform, key, "POST", f"/v1/webhooks/{webhook_id}/ping")
    assert ping.status_code == 202, ping.text
    platform.wait_for(
        f"the ping to {path}",
        lambda: any(r.delivery_id == ping.json()["delivery_id"] for r in receiver.at(path)),
    )
    return webhook_id


def message(run: str, n: int, brand: str, language: str = "nl") -> dict[str, Any]:
    text = (
        "Mijn factuur klopt niet, graag snel hulp!"
        if language == "nl"
        else "My invoice is wrong, please help."
    )
    return {
        "channel": "x",
        "external_id": f"{run}-{brand}-{n}",
        "author": {"id": f"{run}-{brand}-author-{n}", "handle": f"@c{n}{brand}", "name": "Kim"},
        "text": text,
        "created_at": datetime.now(UTC).isoformat(),
        "brand": brand,
    }


def deliveries(
    platform: Platform, key: dict[str, str], webhook_id: str, state: str | None = None
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"state": state} if state else {})}
        if cursor:
            params["cursor"] = cursor
        answer = httpx.get(
            f"{platform.base_url}/v1/webhooks/{webhook_id}/deliveries",
            params=params,
            headers=key,
            timeout=10.0,
        )
        assert answer.status_code == 200, answer.text
        found += answer.json()["deliveries"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return found


def test_webhooks_survive_failures_timeouts_dead_letters_and_replays(
    platform: Platform, receiver: Receiver
) -> None:
    acme, globex = api_key(platform, "acme"), api_key(platform, "globex")
    receiver.fail_first["/acme"] = 3
    receiver.refuse.add("/acme-refusing")
    flaky = subscribe(platform, receiver, acme, "/acme", ["case.opened", "case.assigned", "sla.*"])
    refusing = subscribe(platform, receiver, acme, "/acme-refusing", ["case.opened"])
    subscribe(platform, receiver, globex, "/globex", [])
    before_first_message = datetime.now(UTC)
    time.sleep(0.01)

    run = uuid.uuid4().hex[:8]
    for n in range(3):
        sent = platform.post("/v1/messages", message(run, n, "acme", ("nl", "en", "nl")[n]))
        assert sent.status_code == 202, sent.text
    assert platform.post("/v1/messages", message(run, 9, "globex")).status_code == 202

    # acme: every case opened and assigned, and SLA events, arrive despite the failures.
    def acme_complete() -> set[str] | None:
        events = receiver.events("/acme")
        opened = {r.event["subject"] for r in events if r.event_type == "case.opened"}
        assigned = {r.event["subject"] for r in events if r.event_type == "case.assigned"}
        started = {r.event["subject"] for r in events if r.event_type == "sla.started"}
        return opened if len(opened) == 3 and assigned == opened == started else None

    acme_cases = platform.wait_for("acme's events", acme_complete, timeout_s=90)

    # Everything the log holds for the flaky receiver ends delivered, and arrived.
    def all_delivered() -> list[dict[str, Any]] | None:
        log = [d for d in deliveries(platform, acme, flaky) if d["event_type"] != "webhook.ping"]
        return log if log and all(d["state"] == "delivered" for d in log) else None

    log = platform.wait_for("every acme delivery delivered", all_delivered, timeout_s=60)
    platform.wait_for("the held request answered", receiver.idle)
    arrived = {r.delivery_id for r in receiver.events("/acme")}
    assert {d["id"] for d in log} == arrived
    assert all(
        d["event_type"] in ("case.opened", "case.assigned") or d["event_type"].startswith("sla.")
        for d in log
    ), "only the subscribed types"
    retried = [d for d in log if d["attempts"] > 1]
    assert retried, "the 500s and the timeout should have cost some deliveries a retry"

    requests = receiver.at("/acme")
    assert all(r.verified for r in requests), "a request's signature did not verify"
    assert [r.answered for r in requests if r.event_type != "webhook.ping"][:3] == [500] * 3
    # A delivery that came more than once came with the same id, event and bytes.
    by_id: dict[str, set[bytes]] = {}
    for r in requests:
        by_id.setdefault(r.delivery_id, set()).add(r.body)
    assert all(len(bodies) == 1 for bodies in by_id.values())
    event_ids = [json.loads(next(iter(b)))["id"] for b in by_id.values()]
    assert len(event_ids) == len(set(event_ids)), "one event came under two delivery ids"
    twice = [d for d, bodies in by_id.items() if sum(r.delivery_id == d for r in requests) > 1]
    assert twice, "the held request should have been sent again"
    attempts: dict[str, list[int]] = {r.delivery_id: [] for r in requests}
    for r in requests:
        attempts[r.delivery_id].append(r.attempt)
    # Attempts are numbered 1, 2, ... (the held one is recorded when answered, so late).
    bad = {d: a for d, a in attempts.items() if sorted(a) != list(range(1, len(a) + 1))}
    assert not bad, bad

    # Brand isolation: acme saw no globex event, globex only its own.
    assert all(r.event["brand"] == "acme" for r in receiver.events("/acme"))

    def globex_opened() -> bool:
        return any(r.event_type == "case.opened" for r in receiver.events("/globex"))

    platform.wait_for("globex's case", globex_opened)
    globex_events = receiver.events("/globex")
    assert all(r.event["brand"] == "globex" for r in globex_events)
    assert not {r.event.get("subject") for r in globex_events} & acme_cases

    # Dead letters: the refusing receiver's case.opened deliveries are dead at once.
    def dead_listed() -> list[dict[str, Any]] | None:
        dead = deliveries(platform, acme, refusing, "dead")
        return dead if len(dead) == 3 else None

    dead = platform.wait_for("three dead letters", dead_listed)
    assert {d["event_type"] for d in dead} == {"case.opened"}
    assert all(d["last_status"] == 400 and d["attempts"] == 1 for d in dead)
    refused = receiver.at("/acme-refusing")
    assert sum(r.answered == 400 for r in refused) == 3
    receiver.refuse.discard("/acme-refusing")
    replayed = call(platform, acme, "POST", f"/v1/webhooks/{refusing}/deliveries/replay")
    assert replayed.status_code == 202, replayed.text

    def redelivered() -> set[str] | None:
        got = {r.delivery_id for r in receiver.events("/acme-refusing")}
        return got if got == {d["id"] for d in dead} else None

    platform.wait_for("the dead letters replayed", redelivered)
    platform.wait_for(
        "the dead-letter list empty", lambda: not deliveries(platform, acme, refusing, "dead")
    )

    # Replay from a time before the first message: those events again, new delivery ids.
    # care.cases is compacted (key: case id), so what a replay finds of a case is its latest
    # event (here case.assigned; an earlier case.opened may already be compacted away);
    # care.sla keeps every event.
    first_ids = {r.delivery_id for r in receiver.events("/acme")}
    first = {r.event["id"]: r.event_type for r in receiver.events("/acme")}
    must = {e for e, kind in first.items() if kind in ("case.assigned", "sla.started")}
    answer = call(
        platform,
        acme,
        "POST",
        f"/v1/webhooks/{flaky}/replay",
        {"since": before_first_message.isoformat()},
    )
    assert answer.status_code == 202, answer.text
    replay_id = answer.json()["command_id"]

    def replayed_since() -> list[Received] | None:
        again = [r for r in receiver.events("/acme") if r.delivery_id not in first_ids]
        return again if must <= {r.event["id"] for r in again} else None

    again = platform.wait_for("the replay since the first message", replayed_since, timeout_s=60)
    assert {r.event["id"] for r in again} <= set(first), "a replay sends only those events"
    assert all(r.verified and r.event["brand"] == "acme" for r in again)
    by_replay = [d for d in deliveries(platform, acme, flaky) if d["replay_id"] == replay_id]
    assert {d["id"] for d in by_replay} >= {r.delivery_id for r in again}
    assert all(r.event["brand"] == "globex" for r in receiver.events("/globex"))


def test_pending_deliveries_survive_a_restart_and_delivered_ones_are_not_sent_again(
    platform: Platform, receiver: Receiver
) -> None:
    acme = api_key(platform, "acme")
    receiver.down.add("/down")
    down = subscribe(platform, receiver, acme, "/down", ["case.opened"])
    up = subscribe(platform, receiver, acme, "/up", ["case.opened"])
    run = uuid.uuid4().hex[:8]
    for n in range(2):
        assert platform.post("/v1/messages", message(run, n, "acme")).status_code == 202

    def log_of(webhook_id: str, state: str) -> list[dict[str, Any]] | None:
        answer = httpx.get(
            f"{platform.base_url}/v1/webhooks/{webhook_id}/deliveries",
            params={"state": state},
            headers=acme,
            timeout=10.0,
        )
        if answer.status_code == 503:  # the log is being read back after the restart
            return None
        assert answer.status_code == 200, answer.text
        found = [d for d in answer.json()["deliveries"] if d["event_type"] == "case.opened"]
        return found if len(found) == 2 else None

    def both_failed() -> list[dict[str, Any]] | None:
        found = log_of(down, "pending")
        return found if found and all(d["last_status"] == 503 for d in found) else None

    failing = platform.wait_for("two failing deliveries", both_failed)
    delivered_before = platform.wait_for("two delivered", lambda: log_of(up, "delivered"))

    assert platform.stop() == 0
    platform.start()
    restarted = time.monotonic()

    # The delivery log is rebuilt from webhooks.deliveries: still pending, still delivered.
    pending = platform.wait_for(
        "the pending ones after the restart", lambda: log_of(down, "pending")
    )
    assert {d["id"] for d in pending} == {d["id"] for d in failing}
    assert {d["id"] for d in log_of(up, "delivered") or []} == {d["id"] for d in delivered_before}

    receiver.down.discard("/down")
    recovered = platform.wait_for("the pending ones delivered", lambda: log_of(down, "delivered"))
    assert {d["id"] for d in recovered} == {d["id"] for d in failing}
    assert all(d["attempts"] >= 2 for d in recovered)
    got = {r.delivery_id for r in receiver.events("/down")}
    assert got == {d["id"] for d in failing}
    # What was delivered before the restart was not sent again after it.
    assert not [
        r for r in receiver.at("/up") if r.at > restarted and r.event_type != "webhook.ping"
    ]
    assert all(r.verified for r in receiver.at("/down") + receiver.at("/up"))
