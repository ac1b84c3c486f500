"""Identity and access on the assembled app (ADR 0007, issue 9), route by route.

The app is what `socialcare run all` serves: every service's routers (`cli.assemble`) in
`build_app` with the process's authenticator, over the embedded bus and search store, and
a real gRPC CaseService standing in for routing. Two brands, `acme` (the first) and
`globex`, with cases, messages and escalations of each, prove for every route that

* without a credential it answers 401 (only the channel webhooks, sign-in itself, the
  probes and by default /metrics are public);
* an agent acts in their own name only, and reassigning is for leads (or the owner);
* no read endpoint ever shows another brand's case, message or escalation, and no action
  reaches another brand's case;
* an API key ingests for its own brand only.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from socialcare import cli
from socialcare.core.auth.settings import AuthSettings
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.cases import CHANNELS, STATUSES
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode
from socialcare.core.runtime import Runtime, build_app
from socialcare.core.search import IndexedDocument
from socialcare.core.search.indices import CASES, ESCALATIONS, MESSAGES, SCHEMAS
from socialcare.gateway.rpc_bridge import required_access
from socialcare.indexer.domain import case_documents
from socialcare.v1 import case_pb2, commands_pb2, message_pb2, services_pb2, services_pb2_grpc
from tests.unit.auth_support import (
    admin_headers,
    admin_metadata,
    api_key_headers,
    open_test_auth,
    user_headers,
)
from tests.unit.fake_routing import FakeRouting, serve
from tests.unit.gateway.conftest import AGENT_STATES, SATISFACTION_ROWS

CARE_YAML = """
sla_policies:
  - {name: any, languages: ["*"], first_response: 1h}
queues:
  - {name: care-global, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne de Vries, languages: [en, nl], capacity: 8, brands: [acme]}
  - {id: olivia, name: Olivia Carter, languages: [en], capacity: 8, brands: [acme]}
  - {id: gerrit, name: Gerrit Globe, languages: [en], capacity: 8, brands: [globex]}
brands:
  - {name: acme}
  - {name: globex}
canned_answers:
  - {id: en-dm, language: en, title: Ask for a DM, text: "Hi {customer_first_name}, DM us."}
"""

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

# Public without a credential: the channels' webhooks (they verify signatures), and
# signing in itself.
PUBLIC_PREFIXES = ("/v1/channels/",)
PUBLIC_ROUTES = frozenset(
    {
        "/v1/auth/token",
        "/v1/auth/login",
        "/v1/auth/logout",
        "/v1/auth/providers",
        "/v1/auth/oidc/login",
        "/v1/auth/oidc/callback",
    }
)


def make_case(
    case_id: str, *, brand: str, assignee: str = "", text: str = "Where is my order?"
) -> case_pb2.Case:
    case = case_pb2.Case(
        id=case_id,
        status=case_pb2.CaseStatus.ValueType(STATUSES["assigned" if assignee else "open"]),
        language="en",
        channel=message_pb2.Channel.ValueType(CHANNELS["x"]),
        queue="care-global",
        assignee=assignee,
        brand=brand,
        conversation_key=f"x:author:{case_id}",
        customer=message_pb2.Author(id=f"cust-{case_id}", handle=f"@{case_id}", name="Kim"),
        opened_at=to_timestamp(T0),
        updated_at=to_timestamp(T0),
        version=1,
        priority="normal",
    )
    case.sla.policy = "any"
    case.sla.due_at.CopyFrom(to_timestamp(T0 + timedelta(hours=1)))
    case.messages.add(
        message_id=f"{case_id}-m0",
        direction=case_pb2.DIRECTION_INBOUND,
        author=f"@{case_id}",
        text=text,
        created_at=to_timestamp(T0),
        language="en",
    )
    return case


# acme is the first brand: its cases include one that names no brand at all.
ACME = make_case("acme-1", brand="acme", assignee="sanne", text="parcel acme late")
ACME_UNNAMED = make_case("acme-unnamed", brand="", assignee="olivia", text="parcel unnamed late")
GLOBEX = make_case("globex-1", brand="globex", assignee="gerrit", text="parcel globex late")
CASES_BY_ID = {c.id: c for c in (ACME, ACME_UNNAMED, GLOBEX)}
ACME_IDS = {ACME.id, ACME_UNNAMED.id}
GLOBEX_IDS = {GLOBEX.id}


def escalation(case: case_pb2.Case) -> dict[str, Any]:
    return {
        "id": f"esc-{case.id}",
        "case_id": case.id,
        "trigger": "keyword",
        "tier": "team_lead",
        "reason": "mentions a lawyer",
        "language": "en",
        "queue": "care-global",
        "raised_at": "2026-11-26T09:05:00.000Z",
        "cause_id": f"{case.id}-m0",
    }


@dataclass
class World:
    runtime: Runtime
    app: FastAPI
    client: TestClient  # no credential
    admin: dict[str, str]
    sanne: dict[str, str]  # agent of acme (roster agent sanne)
    gerrit: dict[str, str]  # agent of globex (roster agent gerrit)
    lead: dict[str, str]  # lead of acme (roster agent olivia)
    ops: dict[str, str]  # operations of acme

    def get(self, url: str, who: dict[str, str], **params: Any) -> Any:
        return self.client.get(url, headers=who, params=params)

    def post(self, url: str, who: dict[str, str], body: dict[str, Any]) -> Any:
        return self.client.post(url, headers=who, json=body)


@pytest.fixture(scope="module")
def routing_address() -> Iterator[str]:
    server, address = serve(
        FakeRouting(dict(CASES_BY_ID), agents=AGENT_STATES, satisfaction=SATISFACTION_ROWS)
    )
    yield address
    server.stop(grace=None).wait()


def platform(data_dir: Path, routing_address: str, **settings: Any) -> Runtime:
    care = data_dir / "care.yaml"
    care.write_text(CARE_YAML)
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "care_config": care,
        "case_grpc_address": routing_address,
        "ingest_grpc_port": 0,
        "embedded_sync": "normal",
    }
    return Runtime(AuthSettings(**(values | settings)))


def seed(runtime: Runtime) -> None:
    search = runtime.search
    for name, schema in SCHEMAS.items():
        search.ensure_index(name, schema)
    projected = [pair for case in CASES_BY_ID.values() for pair in case_documents(case)]
    search.upsert(CASES, [doc for index, doc in projected if index == CASES])
    search.upsert(MESSAGES, [doc for index, doc in projected if index == MESSAGES])
    search.upsert(
        ESCALATIONS,
        [IndexedDocument(f"esc-{c.id}", escalation(c)) for c in CASES_BY_ID.values()],
    )
    for name in SCHEMAS:
        search.refresh(name)


def assembled_app(runtime: Runtime) -> FastAPI:
    """What `socialcare run all` serves (cli.run), without serving it."""
    auth = open_test_auth(runtime)
    parts = cli.assemble(runtime, list(cli.SERVICES))
    return build_app("socialcare all", parts.routers, parts.components, auth.authenticator)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, routing_address: str) -> Iterator[World]:
    runtime = platform(tmp_path_factory.mktemp("access"), routing_address)
    seed(runtime)
    app = assembled_app(runtime)
    with TestClient(app) as client:
        yield World(
            runtime=runtime,
            app=app,
            client=client,
            admin=admin_headers(runtime),
            sanne=user_headers(
                runtime, "sanne", roles=["agent"], brands=["acme"], agent_id="sanne"
            ),
            gerrit=user_headers(
                runtime, "gerrit", roles=["agent"], brands=["globex"], agent_id="gerrit"
            ),
            lead=user_headers(
                runtime, "olivia", roles=["lead"], brands=["acme"], agent_id="olivia"
            ),
            ops=user_headers(runtime, "ops", roles=["operations"], brands=["acme"]),
        )
    runtime.close()


def commands_issued(runtime: Runtime) -> list[commands_pb2.AgentCommand]:
    """Every command on care.commands so far (a fresh group reads from the start)."""
    consumer = runtime.bus.consumer(f"access-{uuid.uuid4().hex[:8]}", [Topic.COMMANDS.value])
    try:
        records = []
        while batch := consumer.poll(500, timeout_s=0.3):
            records.extend(batch)
        return [decode(r, commands_pb2.AgentCommand) for r in records]
    finally:
        consumer.close()


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute under `routes` (FastAPI keeps an included router as one entry of
    `app.routes` that holds the router's own routes, paths already prefixed)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


def v1_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every /v1 route the app serves; none missing from the OpenAPI
    document's (the routes below must be all of them)."""
    found = sorted(
        (method, route.path)
        for route in api_routes(app.routes)
        if route.path.startswith("/v1/")
        for method in route.methods or ()
    )
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }
    assert documented <= set(found)
    return found


def is_public(path: str) -> bool:
    return path in PUBLIC_ROUTES or path.startswith(PUBLIC_PREFIXES)


def concrete(path: str) -> str:
    """The path with every parameter filled in."""
    return re.sub(r"\{[a-z_]+\}", "some-id", path)


# --- 401 without a credential, on every route -------------------------------------------


def test_every_v1_route_but_the_public_ones_needs_a_credential(world: World) -> None:
    routes = v1_routes(world.app)
    protected = [(m, p) for m, p in routes if not is_public(p)]
    # The gateway's, ingestion's, accounts' and the console's routes are all there.
    paths = {p for _, p in protected}
    assert {
        "/v1/cases",
        "/v1/cases/{case_id}",
        "/v1/cases/{case_id}/replies",
        "/v1/search",
        "/v1/escalations",
        "/v1/agents",
        "/v1/queues",
        "/v1/messages",
        "/v1/messages:batch",
        "/v1/me",
        "/v1/users",
        "/v1/api-keys",
        "/v1/stream/cases",
    } <= paths
    assert any(p.startswith("/v1/channels/") for _, p in routes), "webhooks are mounted"
    refused = []
    for method, path in protected:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}):
            answer = world.client.request(method, concrete(path), headers=headers, json={})
            body = answer.json()
            if (
                answer.status_code != 401
                or not answer.headers.get("www-authenticate", "").startswith("Bearer")
                or set(body) != {"error"}
            ):
                refused.append(f"{method} {path} {headers}: {answer.status_code} {body}")
    assert not refused, "\n".join(refused)


def test_the_public_routes_answer_without_a_credential(world: World) -> None:
    for url in ("/healthz", "/readyz", "/metrics", "/v1/auth/providers"):
        answer = world.client.get(url)
        assert answer.status_code in (200, 503), (url, answer.status_code)
    # The AsyncAPI document of the event stream (issue 12), public like /docs once served.
    if any(route.path == "/asyncapi.json" for route in api_routes(world.app.routes)):
        document = world.client.get("/asyncapi.json")
        assert document.status_code == 200
        assert document.json()["asyncapi"].startswith("3.")
    token = world.client.post("/v1/auth/token", data={"username": "nobody", "password": "x"})
    assert token.json()["error"]["code"] == "invalid_credentials"


def test_metrics_can_require_read_operations(tmp_path: Path, routing_address: str) -> None:
    runtime = platform(tmp_path, routing_address, metrics_require_auth=True)
    try:
        auth = open_test_auth(runtime)
        app = build_app("metrics", [], [], auth.authenticator)
        agent = user_headers(runtime, "sanne", roles=["agent"], agent_id="sanne")
        ops = user_headers(runtime, "ops", roles=["operations"])
        with TestClient(app) as client:
            assert client.get("/metrics").status_code == 401
            assert client.get("/metrics", headers=agent).status_code == 403
            assert client.get("/metrics", headers=ops).status_code == 200
            assert client.get("/metrics", headers=admin_headers(runtime)).status_code == 200
            assert client.get("/healthz").status_code == 200
    finally:
        runtime.close()


# --- permissions --------------------------------------------------------------------------


# Every protected /v1 route and the permission its handler requires (`Depends(require(...))`;
# None: any valid credential). A new route must be listed: the test below reads each
# route's own dependency, so a listed permission is the one enforced (the gRPC doors read
# the same dependency, `gateway.rpc_bridge.required_access`).
ROUTE_PERMISSIONS: dict[tuple[str, str], str | None] = {
    ("GET", "/v1/agents"): "read_cases",
    ("PUT", "/v1/agents/{agent_id}/presence"): "act",
    ("GET", "/v1/api-keys"): "manage",
    ("POST", "/v1/api-keys"): "manage",
    ("DELETE", "/v1/api-keys/{key_id}"): "manage",
    ("GET", "/v1/cases"): "read_cases",
    ("GET", "/v1/cases/{case_id}"): "read_cases",
    ("POST", "/v1/cases/{case_id}/assign"): "act",
    ("POST", "/v1/cases/{case_id}/await-customer"): "act",
    ("GET", "/v1/cases/{case_id}/canned-answers"): "read_cases",
    ("POST", "/v1/cases/{case_id}/claim"): "act",
    ("POST", "/v1/cases/{case_id}/consultations"): "act",
    ("POST", "/v1/cases/{case_id}/consultations/{consultation_id}/answer"): "act",
    ("POST", "/v1/cases/{case_id}/escalations"): "act",
    ("POST", "/v1/cases/{case_id}/identities"): "act",
    ("POST", "/v1/cases/{case_id}/merge"): "act",
    ("POST", "/v1/cases/{case_id}/notes"): "act",
    ("POST", "/v1/cases/{case_id}/priority"): "act",
    ("POST", "/v1/cases/{case_id}/referrals"): "act",
    ("POST", "/v1/cases/{case_id}/reopen"): "act",
    ("POST", "/v1/cases/{case_id}/replies"): "act",
    ("POST", "/v1/cases/{case_id}/resolve"): "act",
    ("POST", "/v1/cases/{case_id}/transfer"): "act",
    ("GET", "/v1/escalations"): "read_cases",
    # Taking and closing an escalation is judged on the escalation (gateway.access).
    ("POST", "/v1/escalations/{escalation_id}/acknowledge"): "read_cases",
    ("POST", "/v1/escalations/{escalation_id}/resolve"): "read_cases",
    ("GET", "/v1/me"): None,
    ("POST", "/v1/messages"): "ingest",
    ("POST", "/v1/messages:batch"): "ingest",
    ("GET", "/v1/queues"): "read_cases",
    ("GET", "/v1/reports/intents"): "read_operations",
    ("GET", "/v1/reports/satisfaction"): "read_operations",
    ("GET", "/v1/reports/sla"): "read_operations",
    ("GET", "/v1/search"): "read_cases",
    ("GET", "/v1/specialists"): "read_cases",
    ("GET", "/v1/users"): "manage",
    # The wall's figures over the caller's brands (tests/unit/gateway: no other brand's).
    ("GET", "/v1/wall"): "read_operations",
    ("POST", "/v1/users"): "manage",
    ("GET", "/v1/users/{user_id}"): "manage",
    ("PATCH", "/v1/users/{user_id}"): "manage",
    # Issue 12: the audit log and erasures (admins), webhooks (manage_webhooks: admins and
    # API keys given it; tests/unit/webhooks/test_api.py covers them on the router).
    ("GET", "/v1/audit"): "manage",
    ("POST", "/v1/privacy/erasures"): "manage",
    ("GET", "/v1/privacy/erasures"): "manage",
    ("GET", "/v1/privacy/erasures/{erasure_id}"): "manage",
    ("POST", "/v1/webhooks"): "manage_webhooks",
    ("GET", "/v1/webhooks"): "manage_webhooks",
    ("GET", "/v1/webhooks/event-types"): "manage_webhooks",
    ("GET", "/v1/webhooks/{webhook_id}"): "manage_webhooks",
    ("PATCH", "/v1/webhooks/{webhook_id}"): "manage_webhooks",
    ("DELETE", "/v1/webhooks/{webhook_id}"): "manage_webhooks",
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): "manage_webhooks",
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): "manage_webhooks",
    ("GET", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}"): "manage_webhooks",
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/replay"): "manage_webhooks",
    ("POST", "/v1/webhooks/{webhook_id}/replay"): "manage_webhooks",
    ("POST", "/v1/webhooks/{webhook_id}/ping"): "manage_webhooks",
}
# Checked in the handler itself (a stream answers 403 before it starts):
# tests/unit/console/test_stream.py.
HANDLER_CHECKED = {("GET", "/v1/stream/cases"): "read_cases"}


def test_every_route_requires_the_listed_permission(world: World) -> None:
    found = {
        (method, route.path): required_access(route)
        for route in api_routes(world.app.routes)
        if route.path.startswith("/v1/") and not is_public(route.path)
        for method in route.methods or ()
    }
    unlisted = sorted(set(found) - set(ROUTE_PERMISSIONS) - set(HANDLER_CHECKED))
    assert unlisted == [], "a new route: list it in ROUTE_PERMISSIONS"
    missing = sorted(set(ROUTE_PERMISSIONS) - set(found))
    assert missing == []
    for route, access in found.items():
        if route in HANDLER_CHECKED:
            continue
        assert not access.public, f"{route} takes no credential"
        enforced = access.permission.value if access.permission else None
        assert enforced == ROUTE_PERMISSIONS[route], route


def test_admin_routes_refuse_everyone_else(world: World) -> None:
    """Agents, leads and operations never reach a route of `manage` or `manage_webhooks`;
    an API key only with `manage_webhooks`, for the webhook routes."""
    served = {
        (method, route.path)
        for route in api_routes(world.app.routes)
        for method in route.methods or ()
    }
    guarded = [
        route
        for route, permission in ROUTE_PERMISSIONS.items()
        if permission in ("manage", "manage_webhooks") and route in served
    ]
    assert len(guarded) >= 7, "the users' and API keys' routes at least"
    reader = api_key_headers(world.runtime, brand="acme", permissions=["read_cases", "ingest"])
    refused = []
    for method, path in guarded:
        for who in (world.sanne, world.lead, world.ops, reader):
            answer = world.client.request(method, concrete(path), headers=who, json={})
            if answer.status_code != 403 or answer.json()["error"]["code"] != "forbidden":
                refused.append(f"{method} {path}: {answer.status_code}")
    assert refused == []


ACTIONS = (
    "replies",
    "notes",
    "resolve",
    "assign",
    "claim",
    "transfer",
    "consultations",
    "await-customer",
    "reopen",
    "merge",
    "identities",
    "referrals",
    "priority",
)


def action_body(action: str, agent: str) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "replies": {"text": "We are on it."},
        "notes": {"text": "We are on it."},
        "transfer": {"reason": "Needs a specialist"},
        "consultations": {"specialist": "olivia", "question": "Seen this before?"},
        "merge": {"into_case_id": "acme-unnamed"},
        "identities": {"kind": "email", "value": "kim@example.com"},
        "referrals": {"to": "store manager"},
        "priority": {"level": "high"},
    }
    return {"agent": agent, **extra.get(action, {})}


def test_every_action_route_is_covered(world: World) -> None:
    """A new action route must join ACTIONS (403 for operations, 404 across brands)."""
    app_paths = {
        path
        for method, path in v1_routes(world.app)
        if path.startswith("/v1/cases/{case_id}/") and method == "POST"
    }
    covered = {f"/v1/cases/{{case_id}}/{action}" for action in ACTIONS}
    elsewhere = {
        "/v1/cases/{case_id}/escalations",  # tests/unit/escalation/test_escalation_api.py
        # the specialist's own name and the consultation: tests/unit/gateway
        "/v1/cases/{case_id}/consultations/{consultation_id}/answer",
    }
    assert app_paths == covered | elsewhere


@pytest.mark.parametrize("action", ACTIONS)
def test_operations_read_but_never_act(world: World, action: str) -> None:
    assert world.get("/v1/cases", world.ops).status_code == 200
    answer = world.post(f"/v1/cases/{ACME.id}/{action}", world.ops, action_body(action, "sanne"))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"


def test_an_integrator_key_has_only_its_permissions(world: World) -> None:
    ingest_only = api_key_headers(world.runtime, brand="acme", permissions=["ingest"])
    assert world.get("/v1/cases", ingest_only).status_code == 403
    assert world.get("/v1/users", ingest_only).status_code == 403
    reader = api_key_headers(world.runtime, brand="globex", permissions=["read_cases"])
    listed = world.get("/v1/cases", reader).json()
    assert {c["id"] for c in listed["cases"]} == GLOBEX_IDS
    answer = world.post(f"/v1/cases/{GLOBEX.id}/replies", reader, action_body("replies", "gerrit"))
    assert answer.status_code == 403
    assert world.post("/v1/messages", reader, message(brand="globex")).status_code == 403


# --- an agent acts only as themselves ------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("replies", action_body("replies", "olivia"), "agent"),
        ("notes", action_body("notes", "olivia"), "agent"),
        ("resolve", action_body("resolve", "olivia"), "agent"),
        ("assign", {"agent": "sanne", "by": "olivia"}, "by"),
    ],
)
def test_an_agent_cannot_act_as_another_agent(
    world: World, action: str, body: dict[str, Any], field: str
) -> None:
    before = len(commands_issued(world.runtime))
    answer = world.post(f"/v1/cases/{ACME.id}/{action}", world.sanne, body)
    assert answer.status_code == 403
    assert (answer.json()["error"]["code"], answer.json()["error"]["field"]) == ("forbidden", field)
    assert len(commands_issued(world.runtime)) == before


@pytest.mark.parametrize("action", ["replies", "notes"])
def test_an_agent_acts_as_themselves_and_the_command_says_who(world: World, action: str) -> None:
    answer = world.post(f"/v1/cases/{ACME.id}/{action}", world.sanne, action_body(action, "sanne"))
    assert answer.status_code == 202, answer.text
    [command] = [
        c for c in commands_issued(world.runtime) if c.command_id == answer.json()["command_id"]
    ]
    sanne = world.runtime.auth().directory.user_by_username("sanne")
    assert sanne is not None and command.issued_by == sanne.id


def test_an_admin_acting_for_an_agent_is_recorded(world: World) -> None:
    answer = world.post(f"/v1/cases/{GLOBEX.id}/notes", world.admin, action_body("notes", "gerrit"))
    assert answer.status_code == 202, answer.text
    [command] = [
        c for c in commands_issued(world.runtime) if c.command_id == answer.json()["command_id"]
    ]
    assert (command.note.agent, command.issued_by) == ("gerrit", "admin")


def test_reassigning_is_for_leads_and_the_owner(world: World) -> None:
    # sanne does not own acme-unnamed (olivia does): she cannot give it to someone else.
    taken = world.post(f"/v1/cases/{ACME_UNNAMED.id}/assign", world.sanne, {"agent": "sanne"})
    assert taken.status_code == 202, "claiming for oneself is acting as oneself"
    away = world.post(f"/v1/cases/{ACME_UNNAMED.id}/assign", world.sanne, {"agent": "olivia"})
    assert away.status_code == 403
    assert away.json()["error"]["field"] == "agent"
    # sanne owns acme-1: she may hand it over, saying so.
    handed = world.post(
        f"/v1/cases/{ACME.id}/assign", world.sanne, {"agent": "olivia", "by": "sanne"}
    )
    assert handed.status_code == 202, handed.text
    # the lead reassigns any case of their brand; the transfer names them.
    moved = world.post(f"/v1/cases/{ACME_UNNAMED.id}/assign", world.lead, {"agent": "sanne"})
    assert moved.status_code == 202, moved.text
    [command] = [
        c for c in commands_issued(world.runtime) if c.command_id == moved.json()["command_id"]
    ]
    assert (command.assign.agent, command.assign.by) == ("sanne", "olivia")


# --- brands are isolated, on every read endpoint ------------------------------------------


def seen_case_ids(world: World, who: dict[str, str]) -> dict[str, set[str]]:
    """The case ids each read endpoint shows `who` (cases, messages and escalations by
    their case)."""

    def ok(answer: Any) -> Any:
        assert answer.status_code == 200, answer.text
        return answer.json()

    listed = ok(world.get("/v1/cases", who))
    cases_search = ok(world.get("/v1/search", who, q="parcel", index="cases"))
    messages_search = ok(world.get("/v1/search", who, q="parcel"))
    escalations = ok(world.get("/v1/escalations", who))
    seen = {
        "GET /v1/cases": {c["id"] for c in listed["cases"]},
        "GET /v1/search?index=cases": {h["id"] for h in cases_search["hits"]},
        "GET /v1/search": {h["document"]["case_id"] for h in messages_search["hits"]},
        "GET /v1/escalations": {e["case_id"] for e in escalations["escalations"]},
        "GET /v1/cases/{case_id}": {
            case_id
            for case_id in CASES_BY_ID
            if world.get(f"/v1/cases/{case_id}", who).status_code == 200
        },
    }
    # totals agree with what is shown: nothing of another brand is even counted.
    assert listed["total"] == len(seen["GET /v1/cases"])
    assert cases_search["total"] == len(seen["GET /v1/search?index=cases"])
    assert messages_search["total"] == len(messages_search["hits"])
    assert escalations["total"] == len(seen["GET /v1/escalations"])
    for case_id in CASES_BY_ID:
        by_case = ok(world.get("/v1/escalations", who, case_id=case_id))
        seen["GET /v1/escalations"] |= {e["case_id"] for e in by_case["escalations"]}
    return seen


READ_ENDPOINTS = {
    "GET /v1/cases",
    "GET /v1/search?index=cases",
    "GET /v1/search",
    "GET /v1/escalations",
    "GET /v1/cases/{case_id}",
}


@pytest.mark.parametrize(
    ("who", "mine"),
    [("sanne", ACME_IDS), ("gerrit", GLOBEX_IDS), ("ops", ACME_IDS), ("admin", set(CASES_BY_ID))],
)
def test_no_read_endpoint_shows_another_brands_case(world: World, who: str, mine: set[str]) -> None:
    seen = seen_case_ids(world, getattr(world, who))
    assert set(seen) == READ_ENDPOINTS
    assert seen == dict.fromkeys(READ_ENDPOINTS, mine)


def test_every_read_endpoint_is_covered_by_the_isolation_test(world: World) -> None:
    """A new read route must join `seen_case_ids` (or be listed here with why not)."""
    elsewhere = {
        "/v1/agents",  # below
        "/v1/queues",  # queues serve every brand; no case in them
        "/v1/me",  # the caller
        "/v1/users",  # admins only, like the two below
        "/v1/users/{user_id}",
        "/v1/api-keys",
        "/v1/stream/cases",  # tests/unit/console/test_stream.py (never across brands)
        # Figures, not cases: a viewer of some brands gets theirs only, asking for another
        # is 403 (tests/unit/reports/test_reports_api.py).
        "/v1/reports/sla",
        "/v1/reports/satisfaction",  # as the SLA report (tests/unit/gateway)
        "/v1/reports/intents",  # as the SLA report (tests/unit/reports/test_intent_report.py)
        "/v1/specialists",  # agents, like /v1/agents: below
        "/v1/cases/{case_id}/canned-answers",  # 404 across brands: below
        # Issue 12. Admins only: the audit log and the erasures.
        "/v1/audit",
        "/v1/privacy/erasures",
        "/v1/privacy/erasures/{erasure_id}",
        # Webhooks: a key sees its own brand's (below); the catalogue holds no brand data.
        "/v1/webhooks",
        "/v1/webhooks/{webhook_id}",
        "/v1/webhooks/{webhook_id}/deliveries",
        "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}",
        "/v1/webhooks/event-types",
        # The wall's figures, of the caller's brands (tests/unit/gateway, rpc services).
        "/v1/wall",
    }
    covered = {e.split(" ")[1].split("?")[0] for e in READ_ENDPOINTS}
    reads = {p for m, p in v1_routes(world.app) if m == "GET" and not is_public(p)}
    assert reads == covered | elsewhere


def test_another_brands_case_is_404_as_if_absent(world: World) -> None:
    hidden = world.get(f"/v1/cases/{GLOBEX.id}", world.sanne)
    absent = world.get("/v1/cases/no-such-case", world.sanne)
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["error"]["code"] == absent.json()["error"]["code"] == "not_found"


def test_the_roster_shows_the_agents_of_ones_brands(world: World) -> None:
    names = {a["id"] for a in world.get("/v1/agents", world.sanne).json()}
    assert names == {"sanne", "olivia"}
    assert {a["id"] for a in world.get("/v1/agents", world.gerrit).json()} == {"gerrit"}
    assert len(world.get("/v1/queues", world.gerrit).json()) == 1
    # Nobody here is a specialist or has a product skill: nobody of either brand shows.
    assert world.get("/v1/specialists", world.gerrit).json() == []


def test_canned_answers_of_another_brands_case_are_404(world: World) -> None:
    assert world.get(f"/v1/cases/{ACME.id}/canned-answers", world.sanne).status_code == 200
    hidden = world.get(f"/v1/cases/{GLOBEX.id}/canned-answers", world.sanne)
    assert hidden.status_code == 404


def test_presence_is_ones_own_or_a_leads(world: World) -> None:
    def put(who: dict[str, str], agent: str) -> int:
        answer = world.client.put(
            f"/v1/agents/{agent}/presence", headers=who, json={"presence": "away"}
        )
        return int(answer.status_code)

    assert put(world.sanne, "sanne") == 202
    assert put(world.sanne, "olivia") == 403
    assert put(world.lead, "sanne") == 202
    assert put(world.lead, "gerrit") == 404, "another brand's agent is not there"
    assert put(world.ops, "sanne") == 403


@pytest.mark.parametrize("action", ACTIONS)
def test_no_action_reaches_another_brands_case(world: World, action: str) -> None:
    before = len(commands_issued(world.runtime))
    answer = world.post(
        f"/v1/cases/{GLOBEX.id}/{action}", world.sanne, action_body(action, "sanne")
    )
    assert answer.status_code == 404
    assert answer.json()["error"] == {"code": "not_found", "message": "case globex-1 not found"}
    back = world.post(f"/v1/cases/{ACME.id}/{action}", world.gerrit, action_body(action, "gerrit"))
    assert back.status_code == 404
    assert len(commands_issued(world.runtime)) == before


# --- an API key ingests for its own brand ---------------------------------------------------


def message(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "x",
        "external_id": f"tw-{uuid.uuid4().hex[:12]}",
        "author": {"id": "42", "handle": "@kim"},
        "text": "My parcel is late",
        "created_at": "2026-11-26T09:00:00Z",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def raw_brands(runtime: Runtime) -> dict[str, str]:
    """external_id -> brand of every message on social.messages.raw."""
    consumer = runtime.bus.consumer(f"raw-{uuid.uuid4().hex[:8]}", [Topic.MESSAGES_RAW.value])
    try:
        found: dict[str, str] = {}
        while batch := consumer.poll(500, timeout_s=0.3):
            for record in batch:
                published = decode(record, message_pb2.SocialMessage)
                found[published.external_id] = published.brand
        return found
    finally:
        consumer.close()


def test_an_api_key_ingests_for_its_own_brand_only(world: World) -> None:
    key = api_key_headers(world.runtime, brand="globex", permissions=["ingest"])
    elsewhere = message(brand="acme")
    other = world.post("/v1/messages", key, elsewhere)
    assert other.status_code == 403
    assert (other.json()["error"]["code"], other.json()["error"]["field"]) == ("forbidden", "brand")
    own = message(brand="globex")
    unnamed = message()
    assert world.post("/v1/messages", key, own).status_code == 202
    assert world.post("/v1/messages", key, unnamed).status_code == 202
    batch = world.post(
        "/v1/messages:batch", key, {"messages": [message(brand="acme"), message(brand="globex")]}
    )
    assert batch.status_code == 200
    refused, accepted = batch.json()["results"]
    assert (refused["error"]["code"], refused["error"]["field"]) == ("forbidden", "brand")
    assert "message_id" in accepted
    brands = raw_brands(world.runtime)
    assert brands[own["external_id"]] == "globex"
    assert brands[unnamed["external_id"]] == "globex", "a message naming none gets the key's"
    assert elsewhere["external_id"] not in brands
    # the admin ingests for any brand
    assert world.post("/v1/messages", world.admin, message(brand="acme")).status_code == 202


def test_grpc_ingest_needs_a_credential_and_keeps_to_the_keys_brand(
    tmp_path: Path, routing_address: str
) -> None:
    runtime = platform(tmp_path, routing_address, ingest_grpc_port=free_port())
    try:
        open_test_auth(runtime)
        parts = cli.assemble(runtime, ["ingestion"])
        [server] = [c for c in parts.components if c.name == "ingestion-grpc"]
        server.start()
        try:
            key = api_key_headers(runtime, brand="globex", permissions=["ingest"])
            key_metadata = (("authorization", key["Authorization"]),)
            reader = api_key_headers(runtime, brand="globex", permissions=["read_cases"])
            with grpc.insecure_channel(f"127.0.0.1:{runtime.settings.ingest_grpc_port}") as ch:
                stub = services_pb2_grpc.IngestServiceStub(ch)

                def unary(brand: str, metadata: Any = None) -> grpc.StatusCode:
                    request = services_pb2.IngestRequest(message=grpc_message(brand))
                    try:
                        stub.Ingest(request, timeout=10, metadata=metadata)
                    except grpc.RpcError as exc:
                        return exc.code()
                    return grpc.StatusCode.OK

                assert unary("globex") == grpc.StatusCode.UNAUTHENTICATED
                assert (
                    unary("globex", (("authorization", reader["Authorization"]),))
                    == grpc.StatusCode.PERMISSION_DENIED
                )
                assert unary("acme", key_metadata) == grpc.StatusCode.PERMISSION_DENIED
                assert unary("globex", key_metadata) == grpc.StatusCode.OK
                assert unary("acme", admin_metadata(runtime)) == grpc.StatusCode.OK
                summary = stub.IngestStream(
                    iter(
                        services_pb2.IngestRequest(message=grpc_message(b))
                        for b in ("globex", "acme", "")
                    ),
                    timeout=10,
                    metadata=key_metadata,
                )
                assert (summary.accepted, summary.rejected) == (2, 1)
                assert [(e.index, e.field) for e in summary.errors] == [(1, "brand")]
        finally:
            server.stop()
            server.join(5.0)
    finally:
        runtime.close()


def grpc_message(brand: str) -> message_pb2.SocialMessage:
    return message_pb2.SocialMessage(
        channel=message_pb2.CHANNEL_FACEBOOK,
        external_id=f"fb-{uuid.uuid4().hex[:10]}",
        author=message_pb2.Author(id="100004217", name="Emma Walsh"),
        text="My DVD player stopped working.",
        created_at=to_timestamp(T0),
        brand=brand,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- webhooks keep to their brand ----------------------------------------------------------


def test_a_webhook_key_manages_its_own_brands_webhooks_only(world: World) -> None:
    acme = api_key_headers(world.runtime, brand="acme", permissions=["manage_webhooks"])
    globex = api_key_headers(world.runtime, brand="globex", permissions=["manage_webhooks"])
    created = world.post("/v1/webhooks", acme, {"url": "https://93.184.215.14/hook"})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["brand"] == "acme"
    assert world.get(f"/v1/webhooks/{hook['id']}", acme).status_code == 200
    assert world.get(f"/v1/webhooks/{hook['id']}", globex).status_code == 404
    assert hook["id"] not in {h["id"] for h in world.get("/v1/webhooks", globex).json()["webhooks"]}
    assert hook["id"] in {h["id"] for h in world.get("/v1/webhooks", acme).json()["webhooks"]}
    for method, path in sorted(ROUTE_PERMISSIONS):
        if "{webhook_id}" not in path or method == "GET":
            continue
        body = {"since": "2026-11-26T00:00:00Z"} if path.endswith("}/replay") else {}
        answer = world.client.request(
            method, path.replace("{webhook_id}", hook["id"]), headers=globex, json=body
        )
        assert answer.status_code == 404, f"{method} {path}: {answer.status_code}"
    other = world.post("/v1/webhooks", globex, {"url": "https://93.184.215.14/h", "brand": "acme"})
    assert other.status_code == 403
    # The admin manages every brand's.
    assert world.get(f"/v1/webhooks/{hook['id']}", world.admin).status_code == 200
