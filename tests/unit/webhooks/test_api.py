"""The webhook REST API (webhooks/api.py) on a real embedded bus: the subscriptions
directory (webhooks.subscriptions), the delivery log following webhooks.deliveries, replay
commands on webhooks.commands, API keys from the real account directory.

Two brands, acme and globex: an integrator's key manages its own brand's webhooks only
(another brand's are 404, as if absent); an admin manages every brand's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from socialcare.core.audit import AuditLog, TrustedProxies, install_audit
from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.config import PlatformSettings
from socialcare.core.domain import event_types
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.events import decode
from socialcare.core.runtime import Runtime
from socialcare.v1 import audit_pb2, webhook_pb2
from socialcare.webhooks.api import ROTATION_OVERLAP, webhooks_router
from socialcare.webhooks.delivery_log import (
    DEAD,
    DELIVERED,
    PENDING,
    DeliveryLog,
    DeliveryLogFollower,
)
from socialcare.webhooks.subscriptions import SubscriptionDirectory, load_subscriptions
from tests.unit.auth_support import admin_headers, api_key_headers, authed_app

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
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PUBLIC = "93.184.215.14"
HOOK = "https://hooks.acme.example/socialcare"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def resolve(host: str, port: int) -> Sequence[str]:
    table = {"hooks.acme.example": [PUBLIC], "intranet.acme.example": ["10.0.0.5"]}
    if host not in table:
        raise OSError(f"{host}: Name or service not known")
    return table[host]


@dataclass
class World:
    runtime: Runtime
    directory: SubscriptionDirectory
    log: DeliveryLog
    clock: Clock
    client: TestClient
    acme: dict[str, str]
    globex: dict[str, str]
    acme_reader: dict[str, str]
    admin: dict[str, str]

    def create(self, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
        answer = self.client.post(
            "/v1/webhooks", json={"url": HOOK, **body}, headers=headers or self.acme
        )
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    def publish(self, *messages: webhook_pb2.WebhookDelivery) -> None:
        effects = [Emit(Topic.WEBHOOK_DELIVERIES, m) for m in messages]
        for sent in publish_effects(self.runtime.producer, effects, source="webhooks-sender"):
            sent.wait(10.0)

    def commands(self) -> list[webhook_pb2.WebhookCommand]:
        return [
            decode(r, webhook_pb2.WebhookCommand)
            for r in self.runtime.bus.replay(Topic.WEBHOOK_COMMANDS.value)
        ]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    care = tmp_path / "care.yaml"
    care.write_text(CARE)
    runtime = Runtime(
        PlatformSettings(data_dir=tmp_path / "data", care_config=care, embedded_sync="normal")
    )
    directory, _ = load_subscriptions(runtime.bus, runtime.producer)
    log = DeliveryLog()
    follower = DeliveryLogFollower(runtime.bus, log)
    follower.start()
    clock = Clock()
    router = webhooks_router(
        care=runtime.care,
        subscriptions=directory,
        delivery_log=log,
        producer=runtime.producer,
        resolve=resolve,
        clock=clock,
    )
    client = TestClient(authed_app(runtime, [router]))
    try:
        assert log.wait_ready(20.0)
        yield World(
            runtime=runtime,
            directory=directory,
            log=log,
            clock=clock,
            client=client,
            acme=api_key_headers(runtime, brand="acme", permissions=["manage_webhooks"]),
            globex=api_key_headers(runtime, brand="globex", permissions=["manage_webhooks"]),
            acme_reader=api_key_headers(runtime, brand="acme", permissions=["read_cases"]),
            admin=admin_headers(runtime),
        )
    finally:
        follower.stop()
        follower.join(5.0)
        client.close()
        runtime.close()


def error(answer: Any) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()["error"]
    return body


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20.0
    while not check():
        assert time.monotonic() < deadline, f"not within 20 s: {what}"
        time.sleep(0.02)


# -- subscribing ----------------------------------------------------------------------------


def test_subscribing_shows_the_secret_once_and_stores_the_subscription(world: World) -> None:
    created = world.create(
        event_types=["case.opened", "case.assigned", "sla.*", "case.opened"],
        description="  CRM sync ",
    )
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["brand"] == "acme"
    assert created["url"] == HOOK
    assert created["event_types"] == ["case.opened", "case.assigned", "sla.*"]
    assert created["description"] == "CRM sync"
    assert created["active"] is True
    assert created["previous_secret_valid_until"] is None
    assert created["created_at"] == created["updated_at"] == "2026-01-05T09:00:00Z"

    stored = world.directory.subscription(created["id"])
    assert stored is not None
    assert stored.secret == created["secret"] and stored.brand == "acme"
    assert stored.created_by and stored.created_by == created["created_by"]

    read = world.client.get(f"/v1/webhooks/{created['id']}", headers=world.acme)
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert read.json() == {k: v for k, v in created.items() if k != "secret"}
    listed = world.client.get("/v1/webhooks", headers=world.acme).json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert all("secret" not in w for w in listed)


def test_a_subscription_survives_a_restart(world: World) -> None:
    created = world.create(event_types=["case.opened"])
    rebuilt, _ = load_subscriptions(world.runtime.bus, None)
    found = rebuilt.subscription(created["id"])
    assert found is not None and found.secret == created["secret"]
    assert list(found.event_types) == ["case.opened"]


def test_every_event_type_by_default_and_unknown_ones_refused(world: World) -> None:
    assert world.create()["event_types"] == []
    answer = world.client.post(
        "/v1/webhooks",
        json={"url": HOOK, "event_types": ["case.opened", "case.exploded", "nope.*"]},
        headers=world.acme,
    )
    assert answer.status_code == 422
    assert error(answer)["field"] == "event_types"
    assert error(answer)["details"][0]["code"] == "unknown_event_type"
    assert "case.exploded" in error(answer)["message"] and "nope.*" in error(answer)["message"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.acme.example/in", "must be https://"),
        ("https://intranet.acme.example/in", "public address"),
        ("https://127.0.0.1:9000/in", "public address"),
        ("https://169.254.169.254/latest", "public address"),
        ("https://unknown.acme.example/in", "does not resolve"),
        ("https://user:pw@hooks.acme.example/in", "user:password"),
    ],
)
def test_a_target_the_policy_refuses_is_422_naming_the_url(
    world: World, url: str, says: str
) -> None:
    answer = world.client.post("/v1/webhooks", json={"url": url}, headers=world.acme)
    assert answer.status_code == 422, answer.text
    assert error(answer)["field"] == "url"
    assert says in error(answer)["message"]
    assert world.directory.subscriptions() == []


def test_private_targets_and_http_when_the_settings_allow_them(world: World) -> None:
    router = webhooks_router(
        care=world.runtime.care,
        subscriptions=world.directory,
        delivery_log=world.log,
        producer=world.runtime.producer,
        allow_http=True,
        allow_private_targets=True,
        resolve=resolve,
    )
    client = TestClient(authed_app(world.runtime, [router]))
    for url in ("http://127.0.0.1:9000/in", "http://intranet.acme.example/in"):
        answer = client.post("/v1/webhooks", json={"url": url}, headers=world.acme)
        assert answer.status_code == 201, answer.text


def test_the_brand_is_the_keys_own(world: World) -> None:
    assert world.create(brand="acme")["brand"] == "acme"
    other = world.client.post(
        "/v1/webhooks", json={"url": HOOK, "brand": "globex"}, headers=world.acme
    )
    assert other.status_code == 403
    assert error(other)["field"] == "brand"
    # A key learns nothing of other brands, configured or not.
    unknown = world.client.post(
        "/v1/webhooks", json={"url": HOOK, "brand": "initech"}, headers=world.acme
    )
    assert unknown.status_code == 403 and "globex" not in error(unknown)["message"]
    unknown = world.client.post(
        "/v1/webhooks", json={"url": HOOK, "brand": "initech"}, headers=world.admin
    )
    assert unknown.status_code == 422
    assert error(unknown)["details"][0]["code"] == "unknown_brand"


def test_an_admin_subscribes_for_any_brand_the_first_by_default(world: World) -> None:
    assert world.create(world.admin, brand="globex")["brand"] == "globex"
    assert world.create(world.admin)["brand"] == "acme"
    listed = world.client.get("/v1/webhooks", headers=world.admin).json()["webhooks"]
    assert sorted(w["brand"] for w in listed) == ["acme", "globex"]


def test_without_manage_webhooks_or_a_credential_nothing_is_possible(world: World) -> None:
    created = world.create()
    for method, path in [
        ("GET", "/v1/webhooks"),
        ("GET", "/v1/webhooks/event-types"),
        ("POST", "/v1/webhooks"),
        ("GET", f"/v1/webhooks/{created['id']}"),
        ("PATCH", f"/v1/webhooks/{created['id']}"),
        ("DELETE", f"/v1/webhooks/{created['id']}"),
        ("POST", f"/v1/webhooks/{created['id']}/rotate-secret"),
        ("GET", f"/v1/webhooks/{created['id']}/deliveries"),
        ("POST", f"/v1/webhooks/{created['id']}/deliveries/replay"),
        ("POST", f"/v1/webhooks/{created['id']}/replay"),
        ("POST", f"/v1/webhooks/{created['id']}/ping"),
    ]:
        forbidden = world.client.request(method, path, headers=world.acme_reader, json={})
        assert forbidden.status_code == 403, (method, path)
        assert "manage_webhooks" in error(forbidden)["message"]
        anonymous = world.client.request(method, path, json={})
        assert anonymous.status_code == 401, (method, path)
    assert world.directory.subscription(created["id"]) is not None


def test_another_brands_webhook_is_404_everywhere(world: World) -> None:
    created = world.create()
    webhook = f"/v1/webhooks/{created['id']}"
    for method, path, body in [
        ("GET", webhook, None),
        ("PATCH", webhook, {"active": False}),
        ("DELETE", webhook, None),
        ("POST", f"{webhook}/rotate-secret", None),
        ("GET", f"{webhook}/deliveries", None),
        ("GET", f"{webhook}/deliveries/d1", None),
        ("POST", f"{webhook}/deliveries/replay", {}),
        ("POST", f"{webhook}/replay", {"since": "2026-01-01T00:00:00Z"}),
        ("POST", f"{webhook}/ping", None),
    ]:
        answer = world.client.request(method, path, headers=world.globex, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert error(answer)["code"] == "not_found"
    assert world.client.get("/v1/webhooks", headers=world.globex).json() == {"webhooks": []}
    stored = world.directory.subscription(created["id"])
    assert stored is not None and stored.active and stored.secret == created["secret"]
    assert world.commands() == []


# -- changing -------------------------------------------------------------------------------


def test_patch_changes_only_what_it_names(world: World) -> None:
    created = world.create(event_types=["case.opened"], description="first")
    world.clock.now = T0 + timedelta(minutes=5)
    answer = world.client.patch(
        f"/v1/webhooks/{created['id']}",
        json={"event_types": ["sla.breached"], "active": False},
        headers=world.acme,
    )
    assert answer.status_code == 200, answer.text
    changed = answer.json()
    assert changed["event_types"] == ["sla.breached"]
    assert changed["active"] is False
    assert changed["description"] == "first" and changed["url"] == HOOK
    assert changed["updated_at"] == "2026-01-05T09:05:00Z"
    stored = world.directory.subscription(created["id"])
    assert stored is not None and not stored.active and stored.secret == created["secret"]

    moved = world.client.patch(
        f"/v1/webhooks/{created['id']}",
        json={"url": "https://hooks.acme.example/v2", "description": "", "active": True},
        headers=world.acme,
    ).json()
    assert moved["url"] == "https://hooks.acme.example/v2"
    assert moved["description"] == "" and moved["active"] is True

    refused = world.client.patch(
        f"/v1/webhooks/{created['id']}", json={"url": "https://10.1.1.1/"}, headers=world.acme
    )
    assert refused.status_code == 422 and error(refused)["field"] == "url"
    bad_types = world.client.patch(
        f"/v1/webhooks/{created['id']}", json={"event_types": ["x.y"]}, headers=world.acme
    )
    assert bad_types.status_code == 422 and error(bad_types)["field"] == "event_types"
    stored = world.directory.subscription(created["id"])
    assert stored is not None and stored.url == "https://hooks.acme.example/v2"


def test_delete_stops_everything(world: World) -> None:
    created = world.create()
    answer = world.client.delete(f"/v1/webhooks/{created['id']}", headers=world.acme)
    assert answer.status_code == 204 and answer.content == b""
    assert world.directory.subscription(created["id"]) is None
    assert world.client.get(f"/v1/webhooks/{created['id']}", headers=world.acme).status_code == 404
    assert world.client.get("/v1/webhooks", headers=world.acme).json() == {"webhooks": []}
    again = world.client.delete(f"/v1/webhooks/{created['id']}", headers=world.acme)
    assert again.status_code == 404
    rebuilt, _ = load_subscriptions(world.runtime.bus, None)
    assert rebuilt.subscription(created["id"]) is None


def test_rotating_keeps_the_previous_secret_signing_for_24_hours(world: World) -> None:
    created = world.create()
    world.clock.now = T0 + timedelta(hours=1)
    answer = world.client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=world.acme)
    assert answer.status_code == 200, answer.text
    rotated = answer.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    until = T0 + timedelta(hours=1) + ROTATION_OVERLAP
    assert rotated["previous_secret_valid_until"] == "2026-01-06T10:00:00Z"
    stored = world.directory.subscription(created["id"])
    assert stored is not None
    assert stored.secret == rotated["secret"]
    assert stored.previous_secret == created["secret"]
    assert from_timestamp(stored.previous_secret_until) == until
    shown = world.client.get(f"/v1/webhooks/{created['id']}", headers=world.acme).json()
    assert shown["previous_secret_valid_until"] == "2026-01-06T10:00:00Z"
    assert "secret" not in shown
    world.clock.now = until + timedelta(seconds=1)
    shown = world.client.get(f"/v1/webhooks/{created['id']}", headers=world.acme).json()
    assert shown["previous_secret_valid_until"] is None


def test_a_brand_has_at_most_100_webhooks(world: World) -> None:
    for n in range(100):
        world.directory.save(
            webhook_pb2.WebhookSubscription(id=f"w{n}", brand="acme", url=HOOK, active=True)
        )
    full = world.client.post("/v1/webhooks", json={"url": HOOK}, headers=world.acme)
    assert full.status_code == 409 and error(full)["code"] == "too_many_webhooks"
    assert world.create(world.globex)["brand"] == "globex"


# -- the delivery log -----------------------------------------------------------------------


def delivery(
    subscription_id: str,
    n: int,
    *,
    state: int = PENDING,
    version: int = 1,
    **fields: Any,
) -> webhook_pb2.WebhookDelivery:
    made = T0 + timedelta(seconds=n)
    return webhook_pb2.WebhookDelivery(
        delivery_id=f"{subscription_id[:6]}-d{n:03d}",
        subscription_id=subscription_id,
        brand="acme",
        event_type="case.opened",
        event_id=f"event-{n}",
        case_id=f"case-{n}",
        body=json.dumps(
            {"id": f"event-{n}", "data": {"text": "Grüße"}}, ensure_ascii=False
        ).encode(),
        event_at=to_timestamp(made),
        created_at=to_timestamp(made),
        state=state,  # type: ignore[arg-type]
        version=version,
        cause_id=f"cause-{n}-{version}",
        **fields,
    )


def test_the_delivery_log_lists_pages_and_filters(world: World) -> None:
    sub = world.create()["id"]
    other = world.create(world.globex)["id"]
    world.publish(
        *(
            delivery(sub, n, state=DELIVERED, version=2, attempts=1, last_status=204)
            for n in range(5)
        ),
        delivery(sub, 5, state=DEAD, version=3, attempts=1, last_status=400, last_error="400 Bad"),
        delivery(
            sub,
            6,
            version=2,
            attempts=2,
            last_error="timed out after 10 s",
            next_attempt_at=to_timestamp(T0 + timedelta(minutes=3)),
        ),
        delivery(other, 7),
    )
    eventually(lambda: len(world.log.page(sub, limit=100).deliveries) == 7, "the deliveries")
    first = world.client.get(f"/v1/webhooks/{sub}/deliveries?limit=4", headers=world.acme)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [d["event_id"] for d in page["deliveries"]] == [
        "event-6",
        "event-5",
        "event-4",
        "event-3",
    ]
    pending, dead = page["deliveries"][0], page["deliveries"][1]
    assert pending["state"] == "pending" and pending["attempts"] == 2
    assert pending["last_status"] is None and pending["last_error"] == "timed out after 10 s"
    assert pending["next_attempt_at"] == "2026-01-05T09:03:00Z"
    assert (
        dead["state"] == "dead" and dead["last_status"] == 400 and dead["next_attempt_at"] is None
    )
    assert "body" not in dead
    rest = world.client.get(
        f"/v1/webhooks/{sub}/deliveries",
        params={"limit": 4, "cursor": page["next_cursor"]},
        headers=world.acme,
    ).json()
    assert [d["event_id"] for d in rest["deliveries"]] == ["event-2", "event-1", "event-0"]
    assert rest["next_cursor"] is None

    only_dead = world.client.get(
        f"/v1/webhooks/{sub}/deliveries?state=dead", headers=world.acme
    ).json()
    assert [d["id"] for d in only_dead["deliveries"]] == [dead["id"]]

    detail = world.client.get(f"/v1/webhooks/{sub}/deliveries/{dead['id']}", headers=world.acme)
    assert detail.status_code == 200
    assert json.loads(detail.json()["body"]) == {"id": "event-5", "data": {"text": "Grüße"}}
    assert {k: v for k, v in detail.json().items() if k != "body"} == dead

    # Another subscription's delivery, a bad state or cursor.
    theirs = world.log.page(other).deliveries[0].delivery_id
    assert (
        world.client.get(f"/v1/webhooks/{sub}/deliveries/{theirs}", headers=world.acme).status_code
        == 404
    )
    bad = world.client.get(f"/v1/webhooks/{sub}/deliveries?cursor=bogus", headers=world.acme)
    assert bad.status_code == 422 and error(bad)["field"] == "cursor"
    bad_state = world.client.get(f"/v1/webhooks/{sub}/deliveries?state=lost", headers=world.acme)
    assert bad_state.status_code == 422 and error(bad_state)["field"] == "state"


def test_the_log_answers_503_until_it_has_read_the_topic(world: World) -> None:
    sub = world.create()["id"]
    router = webhooks_router(
        care=world.runtime.care,
        subscriptions=world.directory,
        delivery_log=DeliveryLog(),  # never followed: not ready
        producer=world.runtime.producer,
        resolve=resolve,
    )
    client = TestClient(authed_app(world.runtime, [router]))
    answer = client.get(f"/v1/webhooks/{sub}/deliveries", headers=world.acme)
    assert answer.status_code == 503
    assert error(answer)["code"] == "delivery_log_loading"
    assert answer.headers["retry-after"] == "2"


# -- replays and the ping -------------------------------------------------------------------


def test_replaying_dead_deliveries_sends_a_command(world: World) -> None:
    sub = world.create()["id"]
    url = f"/v1/webhooks/{sub}/deliveries/replay"
    nothing = world.client.post(url, headers=world.acme)
    assert nothing.status_code == 409 and error(nothing)["code"] == "no_dead_deliveries"
    world.publish(
        delivery(sub, 1, state=DEAD, version=4),
        delivery(sub, 2, state=DEAD, version=4),
        delivery(sub, 3, state=DELIVERED, version=2),
    )
    eventually(lambda: len(world.log.dead_ids(sub)) == 2, "the dead deliveries")
    every = world.client.post(url, headers=world.acme)
    assert every.status_code == 202, every.text
    some = world.client.post(url, json={"delivery_ids": [f"{sub[:6]}-d002"]}, headers=world.acme)
    assert some.status_code == 202
    not_dead = world.client.post(
        url, json={"delivery_ids": [f"{sub[:6]}-d003"]}, headers=world.acme
    )
    assert not_dead.status_code == 409 and error(not_dead)["code"] == "delivery_not_dead"
    unknown = world.client.post(url, json={"delivery_ids": ["nope"]}, headers=world.acme)
    assert unknown.status_code == 404 and error(unknown)["field"] == "delivery_ids"

    sent = world.commands()
    assert [c.command_id for c in sent] == [every.json()["command_id"], some.json()["command_id"]]
    assert all(c.subscription_id == sub and c.WhichOneof("action") == "replay_dead" for c in sent)
    assert list(sent[0].replay_dead.delivery_ids) == []
    assert list(sent[1].replay_dead.delivery_ids) == [f"{sub[:6]}-d002"]
    assert sent[0].issued_by and from_timestamp(sent[0].issued_at) == T0


def test_replaying_since_a_time_sends_a_command(world: World) -> None:
    sub = world.create()["id"]
    url = f"/v1/webhooks/{sub}/replay"
    since = world.client.post(url, json={"since": "2026-01-04T09:00:00+01:00"}, headers=world.acme)
    assert since.status_code == 202, since.text
    window = world.client.post(
        url,
        json={"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"},
        headers=world.acme,
    )
    assert window.status_code == 202
    [first, second] = world.commands()
    assert first.command_id == since.json()["command_id"]
    assert from_timestamp(first.replay_since.since) == datetime(2026, 1, 4, 8, 0, tzinfo=UTC)
    assert not first.replay_since.HasField("until")
    assert from_timestamp(second.replay_since.until) == datetime(2026, 1, 2, tzinfo=UTC)

    for body, field in [
        ({"since": "2026-01-06T00:00:00Z"}, "since"),  # the future
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"since": "2026-01-02T00:00:00"}, "since"),  # no time zone
        ({}, "since"),
    ]:
        answer = world.client.post(url, json=body, headers=world.acme)
        assert answer.status_code == 422, body
        assert error(answer)["field"] == field
    assert len(world.commands()) == 2


def test_a_ping_is_a_pending_delivery_the_log_shows_at_once(world: World) -> None:
    sub = world.create()["id"]
    answer = world.client.post(f"/v1/webhooks/{sub}/ping", headers=world.acme)
    assert answer.status_code == 202, answer.text
    delivery_id = answer.json()["delivery_id"]
    shown = world.client.get(f"/v1/webhooks/{sub}/deliveries/{delivery_id}", headers=world.acme)
    assert shown.status_code == 200
    assert shown.json()["state"] == "pending" and shown.json()["event_type"] == "webhook.ping"
    envelope = json.loads(shown.json()["body"])
    assert envelope["type"] == event_types.PING_TYPE and envelope["brand"] == "acme"
    assert envelope["specversion"] == "1.0"
    [record] = list(world.runtime.bus.replay(Topic.WEBHOOK_DELIVERIES.value))
    sent = decode(record, webhook_pb2.WebhookDelivery)
    assert sent.delivery_id == delivery_id and sent.state == PENDING and sent.version == 1
    assert from_timestamp(sent.next_attempt_at) == T0
    assert bytes(sent.body).decode() == shown.json()["body"]

    world.client.patch(f"/v1/webhooks/{sub}", json={"active": False}, headers=world.acme)
    paused = world.client.post(f"/v1/webhooks/{sub}/ping", headers=world.acme)
    assert paused.status_code == 409 and error(paused)["code"] == "webhook_paused"


# -- request hygiene and documentation ------------------------------------------------------


def test_bodies_that_are_not_json_are_400_and_415(world: World) -> None:
    malformed = world.client.post(
        "/v1/webhooks",
        content=b'{"url": ',
        headers={**world.acme, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400 and error(malformed)["code"] == "invalid_json"
    form = world.client.post(
        "/v1/webhooks", content=b"url=x", headers={**world.acme, "Content-Type": "text/plain"}
    )
    assert form.status_code == 415 and error(form)["code"] == "unsupported_media_type"
    surrogate = world.client.post(
        "/v1/webhooks",
        content=b'{"url": "https://hooks.acme.example/", "description": "\\ud800"}',
        headers={**world.acme, "Content-Type": "application/json"},
    )
    assert surrogate.status_code == 422 and error(surrogate)["field"] == "description"


def test_every_route_documents_its_errors(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    routes = {
        (method.upper(), path): operation
        for path, item in spec["paths"].items()
        if path.startswith("/v1/webhooks")
        for method, operation in item.items()
    }
    assert len(routes) == 12, sorted(routes)
    for (method, path), operation in routes.items():
        documented = set(operation["responses"])
        assert {"401", "403", "500"} <= documented, (method, path)
        if "{webhook_id}" in path:
            assert "404" in documented, (method, path)
        if "requestBody" in operation:
            assert {"400", "415", "422"} <= documented, (method, path)


def test_webhook_changes_are_audited_with_the_webhook_and_its_brand(world: World) -> None:
    router = webhooks_router(
        care=world.runtime.care,
        subscriptions=world.directory,
        delivery_log=world.log,
        producer=world.runtime.producer,
        resolve=resolve,
    )
    app = authed_app(world.runtime, [router])
    install_audit(app, AuditLog(world.runtime.producer), TrustedProxies())
    client = TestClient(app)
    created = client.post("/v1/webhooks", json={"url": HOOK}, headers=world.acme)
    assert created.status_code == 201
    webhook_id = created.json()["id"]
    assert client.post(f"/v1/webhooks/{webhook_id}/rotate-secret", headers=world.acme).is_success
    assert client.delete(f"/v1/webhooks/{webhook_id}", headers=world.acme).is_success
    records = [
        decode(r, audit_pb2.AuditRecord) for r in world.runtime.bus.replay(Topic.AUDIT_LOG.value)
    ]
    assert [(r.action, r.target_id, r.brand) for r in records] == [
        ("webhook.create", webhook_id, "acme"),
        ("webhook.rotate_secret", webhook_id, "acme"),
        ("webhook.delete", webhook_id, "acme"),
    ]
    # Never the secret.
    for record in records:
        assert created.json()["secret"] not in str(record)


def test_the_catalogue_lists_every_event_type(world: World) -> None:
    answer = world.client.get("/v1/webhooks/event-types", headers=world.acme)
    assert answer.status_code == 200
    listed = answer.json()
    names = [row["name"] for row in listed["event_types"]]
    assert names == list(event_types.EVENT_TYPES)
    assert {"case.opened", "sla.breached", "reply.failed"} <= set(names)
    opened = next(row for row in listed["event_types"] if row["name"] == "case.opened")
    assert opened["topic"] == "care.cases" and opened["description"]
    assert {"case.*", "sla.*", "escalation.*"} <= set(listed["patterns"])
    # Every pattern listed is one a subscription may use.
    created = world.create(event_types=listed["patterns"])
    assert created["event_types"] == listed["patterns"]
