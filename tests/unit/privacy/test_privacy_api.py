"""The privacy API on a real embedded bus and real gRPC PrivacyService instances: an
erasure asks every routing instance, publishes the request and one EraseCase per case, is
audited, and its report adds up the stores' steps as they arrive on privacy.erasures."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from fastapi.testclient import TestClient

from socialcare.core.audit import AuditLog, TrustedProxies, install_audit
from socialcare.core.bus import Record
from socialcare.core.clock import to_timestamp, utc_now
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.erasure import erase_command_id
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.events import decode
from socialcare.core.runtime import Runtime, build_app
from socialcare.gateway.privacy_api import (
    ErasureBook,
    ErasureFollower,
    PrivacyClient,
    PrivacySettings,
    privacy_router,
)
from socialcare.v1 import audit_pb2, commands_pb2, privacy_pb2, privacy_pb2_grpc
from tests.unit.auth_support import admin_headers, open_test_auth, user_headers

CARE = """
sla_policies:
  - {name: any, languages: ["*"], first_response: 1h}
queues:
  - {name: care-global, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne de Vries, languages: [nl, en], capacity: 8}
brands:
  - {name: acme, phone_country: "31"}
  - {name: globex}
"""


class FakePrivacy(privacy_pb2_grpc.PrivacyServiceServicer):
    """One routing instance: the cases it owns, by the identities they hold."""

    def __init__(self, cases: dict[str, tuple[str, set[str]]]) -> None:
        self.cases = cases  # case id -> (brand, identities)
        self.requests: list[privacy_pb2.FindCustomerCasesRequest] = []

    def FindCustomerCases(  # noqa: N802
        self, request: privacy_pb2.FindCustomerCasesRequest, context: grpc.ServicerContext
    ) -> privacy_pb2.FindCustomerCasesResponse:
        self.requests.append(request)
        wanted = set(request.identities)
        return privacy_pb2.FindCustomerCasesResponse(
            cases=[
                privacy_pb2.CustomerCase(case_id=case_id, matched=sorted(held & wanted))
                for case_id, (brand, held) in self.cases.items()
                if brand == request.brand and held & wanted
            ]
        )


def _serve(servicer: FakePrivacy) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    privacy_pb2_grpc.add_PrivacyServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


class Platform:
    def __init__(self, data_dir: Path, targets: Sequence[str]) -> None:
        care = data_dir / "care.yaml"
        care.write_text(CARE)
        self.runtime = Runtime(
            PlatformSettings(data_dir=data_dir, embedded_sync="normal", care_config=care)
        )
        auth = open_test_auth(self.runtime)
        self.components = [*auth.components]
        self.book = ErasureBook()
        self.follower = ErasureFollower(self.runtime.bus, self.book)
        self.components.append(self.follower)
        self.privacy = PrivacyClient(",".join(targets), timeout_s=2.0)
        for component in self.components:
            component.start()
        router = privacy_router(
            care=self.runtime.care,
            producer=self.runtime.producer,
            privacy=self.privacy,
            book=self.book,
            settings=PrivacySettings(erasure_expected_stores="cases,search,webhooks"),
        )
        app = build_app("privacy-test", [router], [], auth.authenticator)
        install_audit(app, AuditLog(self.runtime.producer), TrustedProxies())
        self.client = TestClient(app, headers=admin_headers(self.runtime))

    def replay(self, topic: Topic) -> list[Record]:
        return list(self.runtime.bus.replay(topic.value))

    def step(self, erasure_id: str, store: str, case_ids: list[str], items: int) -> None:
        event = audit_pb2.PrivacyEvent(
            event_id=f"{erasure_id}-{store}-{'-'.join(case_ids)}",
            step=audit_pb2.ErasureStep(
                erasure_id=erasure_id,
                store=store,
                service=f"{store}-service",
                items=items,
                case_ids=case_ids,
                at=to_timestamp(utc_now()),
                note="care.messages expire with their retention" if store == "cases" else "",
            ),
        )
        publish_effects(self.runtime.producer, [Emit(Topic.PRIVACY_ERASURES, event)], source="t")
        self.runtime.producer.flush()

    def report_when(self, erasure_id: str, done: str) -> dict[str, Any]:
        """The report once the follower has read up to a step of store `done` (bounded)."""
        deadline = time.monotonic() + 10
        while True:
            report: dict[str, Any] = self.client.get(f"/v1/privacy/erasures/{erasure_id}").json()
            stores = [s["store"] for s in report.get("stores", [])]
            if done in stores or time.monotonic() > deadline:
                return report
            time.sleep(0.05)

    def close(self) -> None:
        self.privacy.close()
        for component in self.components:
            component.stop()
        for component in self.components:
            component.join(5.0)
        self.runtime.close()


@pytest.fixture
def instances() -> Iterator[tuple[FakePrivacy, FakePrivacy, list[str]]]:
    first = FakePrivacy(
        {
            "case-1": ("acme", {"email:jan@example.com", "x:123"}),
            "case-3": ("globex", {"email:jan@example.com"}),
        }
    )
    second = FakePrivacy({"case-2": ("acme", {"phone:+31612345678"})})
    servers = [_serve(first), _serve(second)]
    yield first, second, [address for _, address in servers]
    for server, _ in servers:
        server.stop(None)


@pytest.fixture
def platform(
    tmp_path: Path, instances: tuple[FakePrivacy, FakePrivacy, list[str]]
) -> Iterator[Platform]:
    built = Platform(tmp_path, instances[2])
    yield built
    built.close()


def test_an_erasure_finds_the_cases_on_every_instance_and_erases_each(
    platform: Platform, instances: tuple[FakePrivacy, FakePrivacy, list[str]]
) -> None:
    response = platform.client.post(
        "/v1/privacy/erasures",
        json={"brand": "acme", "email": " Jan@Example.com ", "phone": "06-12345678"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    erasure_id = body["erasure_id"]
    assert body["case_ids"] == ["case-1", "case-2"]  # not globex's case-3
    assert body["status_url"] == f"/v1/privacy/erasures/{erasure_id}"
    # Both instances were asked, with the identities as the case book keeps them.
    for instance in instances[:2]:
        [asked] = instance.requests
        assert asked.brand == "acme"
        assert list(asked.identities) == ["email:jan@example.com", "phone:+31612345678"]
    [request_record] = platform.replay(Topic.PRIVACY_ERASURES)
    request = decode(request_record, audit_pb2.PrivacyEvent).request
    assert (request.erasure_id, request.brand, list(request.case_ids), request.reason) == (
        erasure_id,
        "acme",
        ["case-1", "case-2"],
        "gdpr",
    )
    assert request.requested_by == "admin"
    commands = [decode(r, commands_pb2.AgentCommand) for r in platform.replay(Topic.COMMANDS)]
    # care.commands has several partitions: the commands come back by partition.
    assert sorted((c.case_id, c.erase.erasure_id, c.erase.reason) for c in commands) == [
        ("case-1", erasure_id, "gdpr"),
        ("case-2", erasure_id, "gdpr"),
    ]
    assert all(c.WhichOneof("action") == "erase" and c.issued_by == "admin" for c in commands)
    # The ids routing de-duplicates on: a republished erasure is the same commands.
    assert {c.command_id for c in commands} == {
        erase_command_id(erasure_id, "case-1"),
        erase_command_id(erasure_id, "case-2"),
    }
    # Audited, without the identities.
    [audit] = [decode(r, audit_pb2.AuditRecord) for r in platform.replay(Topic.AUDIT_LOG)]
    assert (audit.action, audit.target_type, audit.target_id, audit.brand, audit.status) == (
        "privacy.erase",
        "erasure",
        erasure_id,
        "acme",
        202,
    )
    assert b"jan@example.com" not in audit.SerializeToString()


def test_the_report_adds_up_the_steps_until_every_store_reported(platform: Platform) -> None:
    created = platform.client.post(
        "/v1/privacy/erasures",
        json={"brand": "acme", "identities": ["x:123", "phone:+31612345678"]},
    ).json()
    erasure_id = created["erasure_id"]
    report = platform.client.get(f"/v1/privacy/erasures/{erasure_id}").json()
    assert report["status"] == "in_progress"
    assert report["request"]["case_ids"] == ["case-1", "case-2"]
    assert report["pending"] == [
        {"store": "cases", "case_ids": ["case-1", "case-2"]},
        {"store": "search", "case_ids": ["case-1", "case-2"]},
        {"store": "webhooks", "case_ids": []},
    ]
    platform.step(erasure_id, "cases", ["case-1"], 1)
    platform.step(erasure_id, "cases", ["case-2"], 1)
    platform.step(erasure_id, "identities", ["case-1"], 2)
    platform.step(erasure_id, "search", ["case-1"], 7)
    platform.step(erasure_id, "webhooks", [], 0)
    report = platform.report_when(erasure_id, "webhooks")
    assert report["pending"] == [{"store": "search", "case_ids": ["case-2"]}]
    assert report["status"] == "in_progress"
    platform.step(erasure_id, "search", ["case-2"], 0)
    deadline = time.monotonic() + 10
    while report["status"] != "complete" and time.monotonic() < deadline:
        time.sleep(0.05)
        report = platform.client.get(f"/v1/privacy/erasures/{erasure_id}").json()
    assert report["status"] == "complete"
    assert report["pending"] == []
    stores = {s["store"]: s for s in report["stores"]}
    assert stores["cases"]["items"] == 2
    assert stores["cases"]["case_ids"] == ["case-1", "case-2"]
    assert stores["cases"]["notes"] == ["care.messages expire with their retention"]
    assert stores["search"]["items"] == 7
    assert stores["identities"]["items"] == 2  # shown, though not expected
    assert len(report["steps"]) == 6
    listed = platform.client.get("/v1/privacy/erasures").json()
    assert [(e["erasure_id"], e["status"], e["cases"]) for e in listed["erasures"]] == [
        (erasure_id, "complete", 2)
    ]
    assert (
        platform.client.get("/v1/privacy/erasures", params={"status": "in_progress"}).json()[
            "erasures"
        ]
        == []
    )


def test_a_step_read_twice_counts_once(platform: Platform) -> None:
    erasure_id = platform.client.post(
        "/v1/privacy/erasures", json={"brand": "acme", "identities": ["x:123"]}
    ).json()["erasure_id"]
    platform.step(erasure_id, "cases", ["case-1"], 1)
    platform.step(erasure_id, "cases", ["case-1"], 1)  # the same event id, redelivered
    platform.step(erasure_id, "webhooks", [], 0)
    report = platform.report_when(erasure_id, "webhooks")
    assert [s["items"] for s in report["stores"] if s["store"] == "cases"] == [1]


def test_a_restarted_gateway_rebuilds_the_reports(tmp_path: Path, platform: Platform) -> None:
    erasure_id = platform.client.post(
        "/v1/privacy/erasures", json={"brand": "acme", "identities": ["x:123"]}
    ).json()["erasure_id"]
    platform.step(erasure_id, "cases", ["case-1"], 1)
    book = ErasureBook()
    follower = ErasureFollower(platform.runtime.bus, book)
    follower.start()
    try:
        assert book.ready.wait(10)
        erasure = book.get(erasure_id)
        assert erasure is not None and erasure.request is not None
        assert [s.store for s in erasure.steps] == ["cases"]
    finally:
        follower.stop()
        follower.join(5)


def test_nobody_found_is_an_erasure_of_no_cases(platform: Platform) -> None:
    response = platform.client.post(
        "/v1/privacy/erasures", json={"brand": "globex", "crm_id": "C-404"}
    )
    assert response.status_code == 202
    assert response.json()["case_ids"] == []
    assert platform.replay(Topic.COMMANDS) == []


def test_bad_requests_name_the_field(platform: Platform) -> None:
    client = platform.client
    bad = client.post(
        "/v1/privacy/erasures", json={"brand": "acme", "identities": ["email:not-an-address"]}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "identities[0]"
    unknown = client.post("/v1/privacy/erasures", json={"brand": "initech", "email": "a@b.nl"})
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "brand")
    nobody = client.post("/v1/privacy/erasures", json={"brand": "acme"})
    assert (nobody.status_code, nobody.json()["error"]["field"]) == (422, "identities")
    handle = client.post("/v1/privacy/erasures", json={"brand": "acme", "handle": "myspace:@jan"})
    assert (handle.status_code, handle.json()["error"]["field"]) == (422, "handle")
    assert client.post("/v1/privacy/erasures", content=b"{", headers={
        "content-type": "application/json"}).status_code == 400  # fmt: skip
    assert client.post("/v1/privacy/erasures", content=b"x", headers={
        "content-type": "text/plain"}).status_code == 415  # fmt: skip
    assert client.get("/v1/privacy/erasures/nope").status_code == 404
    assert platform.replay(Topic.PRIVACY_ERASURES) == []


def test_admins_only(platform: Platform) -> None:
    agent = user_headers(platform.runtime, "sanne", roles=["agent", "lead"], agent_id="sanne")
    assert (
        platform.client.post(
            "/v1/privacy/erasures", json={"brand": "acme", "email": "a@b.nl"}, headers=agent
        ).status_code
        == 403
    )
    assert platform.client.get("/v1/privacy/erasures", headers=agent).status_code == 403


def test_an_instance_that_does_not_answer_fails_the_erasure_and_nothing_is_erased(
    tmp_path: Path, instances: tuple[FakePrivacy, FakePrivacy, list[str]]
) -> None:
    down = Platform(tmp_path, [*instances[2], "127.0.0.1:1"])
    try:
        response = down.client.post(
            "/v1/privacy/erasures", json={"brand": "acme", "identities": ["x:123"]}
        )
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "routing_unavailable"
        assert down.replay(Topic.PRIVACY_ERASURES) == []
        assert down.replay(Topic.COMMANDS) == []
    finally:
        down.close()
