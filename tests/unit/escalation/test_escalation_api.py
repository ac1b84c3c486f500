"""The escalation REST routes against a real gRPC CaseService standing in for routing, the
embedded search store and bus: who may raise, acknowledge and resolve, the 4xx a stale
request gets, and the commands that reach care.commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from socialcare.core.clock import to_timestamp
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.cases import escalation_json
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode
from socialcare.core.runtime import Runtime, build_app
from socialcare.core.search import IndexedDocument
from socialcare.core.search.indices import CASES, ESCALATIONS, SCHEMAS
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.escalations import escalations_router
from socialcare.gateway.settings import GatewaySettings
from socialcare.indexer.domain import case_documents
from socialcare.v1 import (
    case_pb2,
    commands_pb2,
    escalation_pb2,
    message_pb2,
)
from tests.unit.auth_support import admin_headers, open_test_auth, user_headers
from tests.unit.factories import T0
from tests.unit.fake_routing import FakeRouting, serve

E = escalation_pb2


def escalation(
    escalation_id: str,
    case_id: str,
    status: E.EscalationStatus.ValueType = E.ESCALATION_STATUS_OPEN,
    on_call: tuple[str, ...] = ("sanne",),
) -> escalation_pb2.Escalation:
    return E.Escalation(
        id=escalation_id,
        case_id=case_id,
        trigger=E.ESCALATION_TRIGGER_SLA_BREACH,
        tier=E.ESCALATION_TIER_TEAM_LEAD,
        status=status,
        on_call=on_call,
        raised_at=to_timestamp(T0),
        revision=2,
        acknowledged_by="sanne" if status == E.ESCALATION_STATUS_ACKNOWLEDGED else "",
        policy="standard",
        level=1,
    )


def case(
    case_id: str,
    *,
    assignee: str = "olivia",
    status: case_pb2.CaseStatus.ValueType = case_pb2.CASE_STATUS_ASSIGNED,
    escalations: tuple[escalation_pb2.Escalation, ...] = (),
) -> case_pb2.Case:
    built = case_pb2.Case(
        id=case_id,
        status=status,
        language="en",
        channel=message_pb2.CHANNEL_X,
        queue="care-en",
        assignee=assignee,
        opened_at=to_timestamp(T0),
        updated_at=to_timestamp(T0),
        version=3,
        priority="normal",
    )
    built.escalations.extend(escalations)
    return built


OPEN = escalation("esc-open", "case-1")
TAKEN = escalation("esc-taken", "case-1", E.ESCALATION_STATUS_ACKNOWLEDGED)
DONE = escalation("esc-done", "case-2", E.ESCALATION_STATUS_RESOLVED)
ON_CALL_OLIVIA = escalation("esc-olivia", "case-2", on_call=("olivia",))
# Indexed but not on its case yet (routing has not applied it): not found.
UNAPPLIED = escalation("esc-unapplied", "case-1")
CASES_KNOWN = {
    "case-1": case("case-1", escalations=(OPEN, TAKEN)),
    "case-2": case(
        "case-2",
        assignee="james",
        status=case_pb2.CASE_STATUS_RESOLVED,
        escalations=(DONE, ON_CALL_OLIVIA),
    ),
}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    server, address = serve(FakeRouting(CASES_KNOWN), workers=2)
    settings = PlatformSettings(
        data_dir=tmp_path, case_grpc_address=address, embedded_sync="normal"
    )
    runtime = Runtime(settings)
    search = runtime.search
    for name, schema in SCHEMAS.items():
        search.ensure_index(name, schema)
    search.upsert(
        CASES,
        [doc for c in CASES_KNOWN.values() for index, doc in case_documents(c) if index == CASES],
    )
    search.upsert(
        ESCALATIONS,
        [
            IndexedDocument(e.id, escalation_json(e))
            for e in (OPEN, TAKEN, DONE, ON_CALL_OLIVIA, UNAPPLIED)
        ],
    )
    for name in SCHEMAS:
        search.refresh(name)
    yield runtime
    runtime.close()
    server.stop(grace=None).wait()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    auth = open_test_auth(runtime)
    settings = GatewaySettings.from_platform(runtime.settings)
    cases = CaseClient(settings.case_grpc_targets, timeout_s=2.0)
    router = escalations_router(
        care=runtime.care, search=runtime.search, producer=runtime.producer, cases=cases
    )
    app = build_app("escalations-test", [router], [], auth.authenticator)
    with TestClient(app, headers=admin_headers(runtime)) as test_client:
        yield test_client
    cases.close()


def as_user(runtime: Runtime, name: str, role: str, agent_id: str | None) -> dict[str, str]:
    return user_headers(runtime, name, roles=[role], all_brands=True, agent_id=agent_id)


def commands(runtime: Runtime) -> list[commands_pb2.AgentCommand]:
    return [
        decode(record, commands_pb2.AgentCommand)
        for record in runtime.bus.replay(Topic.COMMANDS.value)
    ]


def test_an_agent_escalates_a_case_they_own(client: TestClient, runtime: Runtime) -> None:
    olivia = as_user(runtime, "olivia", "agent", "olivia")
    answer = client.post(
        "/v1/cases/case-1/escalations",
        json={"agent": "olivia", "reason": " Customer threatens the press ", "tier": "management"},
        headers={**olivia, "Idempotency-Key": "k-1"},
    )
    assert answer.status_code == 202, answer.text
    [sent] = commands(runtime)
    assert sent.command_id == answer.json()["command_id"]
    assert sent.case_id == "case-1" and sent.WhichOneof("action") == "escalate"
    assert (sent.escalate.agent, sent.escalate.reason, sent.escalate.tier) == (
        "olivia",
        "Customer threatens the press",
        "management",
    )
    assert sent.issued_by != ""
    again = client.post(
        "/v1/cases/case-1/escalations",
        json={"agent": "olivia", "reason": "Customer threatens the press"},
        headers={**olivia, "Idempotency-Key": "k-1"},
    )
    assert again.json()["command_id"] == sent.command_id


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "field"),
    [
        (
            "/v1/cases/case-1/escalations",
            {"agent": "james", "reason": "x"},
            403,
            "forbidden",
            "agent",
        ),
        ("/v1/cases/case-1/escalations", {"agent": "olivia", "reason": "  "}, 422, None, None),
        (
            "/v1/cases/case-1/escalations",
            {"agent": "olivia", "reason": "help", "tier": "pr"},
            422,
            "unknown_tier",
            "tier",
        ),
        (
            "/v1/cases/case-2/escalations",
            {"agent": "olivia", "reason": "x"},
            403,
            "forbidden",
            "agent",
        ),
        ("/v1/cases/nope/escalations", {"agent": "olivia", "reason": "x"}, 404, "not_found", None),
    ],
)
def test_what_an_agent_may_not_escalate(
    client: TestClient,
    runtime: Runtime,
    path: str,
    body: dict[str, str],
    status: int,
    code: str | None,
    field: str | None,
) -> None:
    answer = client.post(path, json=body, headers=as_user(runtime, "olivia", "agent", "olivia"))
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["error"]["code"] == code
        assert answer.json()["error"].get("field") == field
    assert commands(runtime) == []


def test_a_resolved_case_is_not_escalated(client: TestClient, runtime: Runtime) -> None:
    answer = client.post("/v1/cases/case-2/escalations", json={"agent": "james", "reason": "x"})
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "case_resolved"


def test_a_lead_acknowledges_an_open_escalation(client: TestClient, runtime: Runtime) -> None:
    lead = as_user(runtime, "sanne", "lead", "sanne")
    answer = client.post("/v1/escalations/esc-open/acknowledge", headers=lead)
    assert answer.status_code == 202, answer.text
    assert answer.json()["case_id"] == "case-1"
    [sent] = commands(runtime)
    assert sent.acknowledge_escalation.escalation_id == "esc-open"
    assert sent.acknowledge_escalation.by == "sanne"
    again = client.post("/v1/escalations/esc-open/acknowledge", headers=lead)
    assert again.json()["command_id"] == sent.command_id  # a retry is the same command


@pytest.mark.parametrize(
    ("escalation_id", "status", "code"),
    [
        ("esc-taken", 409, "escalation_acknowledged"),
        ("esc-done", 409, "escalation_resolved"),
        ("esc-unapplied", 404, "not_found"),
        ("esc-unknown", 404, "not_found"),
    ],
)
def test_stale_acknowledgements_are_refused(
    client: TestClient, escalation_id: str, status: int, code: str
) -> None:
    answer = client.post(f"/v1/escalations/{escalation_id}/acknowledge")
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code


def test_agents_handle_only_escalations_they_are_on_call_for(
    client: TestClient, runtime: Runtime
) -> None:
    olivia = as_user(runtime, "olivia", "agent", "olivia")
    assert client.post("/v1/escalations/esc-open/acknowledge", headers=olivia).status_code == 403
    answer = client.post("/v1/escalations/esc-olivia/acknowledge", headers=olivia)
    assert answer.status_code == 202, answer.text
    operations = as_user(runtime, "ops", "operations", None)
    done = client.post(
        "/v1/escalations/esc-taken/resolve", json={"note": " called back "}, headers=operations
    )
    assert done.status_code == 202, done.text
    sent = {c.WhichOneof("action"): c for c in commands(runtime)}
    ack, resolve = sent["acknowledge_escalation"], sent["resolve_escalation"]
    assert ack.acknowledge_escalation.by == "olivia"
    assert resolve.resolve_escalation.note == "called back"
    assert resolve.resolve_escalation.escalation_id == "esc-taken"
    assert resolve.resolve_escalation.by == resolve.issued_by  # no agent: the user id


def test_resolving_twice_is_a_conflict_and_a_note_is_optional(client: TestClient) -> None:
    assert (
        client.post("/v1/escalations/esc-done/resolve").json()["error"]["code"]
        == "escalation_resolved"
    )
    assert client.post("/v1/escalations/esc-open/resolve").status_code == 202


def test_the_list_filters_by_status_case_and_tier(client: TestClient) -> None:
    listed = client.get("/v1/escalations", params={"status": "open"}).json()
    assert {e["id"] for e in listed["escalations"]} == {"esc-open", "esc-olivia", "esc-unapplied"}
    one_case = client.get("/v1/escalations", params={"case_id": "case-2"}).json()
    assert {e["id"] for e in one_case["escalations"]} == {"esc-done", "esc-olivia"}
    assert client.get("/v1/escalations", params={"tier": "pr"}).json()["total"] == 0
    assert client.get("/v1/escalations", params={"status": "closed"}).status_code == 422
