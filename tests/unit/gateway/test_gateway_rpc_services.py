"""The gateway's gRPC services beside AgentService, on a real server over the assembled
app's routers: each method answers what its REST route answers (the route's own handler),
with the route's permission, brand isolation and errors as gRPC codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2

from socialcare.core.audit_index import AUDIT, AUDIT_SCHEMA, audit_document
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.cases import case_json
from socialcare.v1 import audit_pb2, case_pb2, services_pb2, services_pb2_grpc
from tests.unit.auth_support import ADMIN_PASSWORD
from tests.unit.fake_routing import FakeRouting, serve
from tests.unit.gateway.conftest import AGENT_STATES, SATISFACTION_ROWS
from tests.unit.test_access import (
    ACME,
    ACME_IDS,
    CASES_BY_ID,
    GLOBEX,
    GLOBEX_IDS,
    T0,
    make_case,
)

from .rpc_world import RpcWorld, open_world


@pytest.fixture(scope="module")
def routing_address() -> Iterator[str]:
    server, address = serve(
        FakeRouting(dict(CASES_BY_ID), agents=AGENT_STATES, satisfaction=SATISFACTION_ROWS)
    )
    yield address
    server.stop(grace=None).wait()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, routing_address: str) -> Iterator[RpcWorld]:
    yield from open_world(tmp_path_factory.mktemp("rpc"), routing_address)


def call(world: RpcWorld, method: Callable[..., Any], request: Any, who: str | None) -> Any:
    """The answer, or the RpcError (its code and details)."""
    metadata = world.metadata(who) if who else None
    try:
        return method(request, timeout=10, metadata=metadata)
    except grpc.RpcError as exc:
        return exc


def code(answer: Any) -> grpc.StatusCode:
    if isinstance(answer, grpc.RpcError):
        found: grpc.StatusCode = answer.code()
        return found
    return grpc.StatusCode.OK


def as_json(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


# --- cases ---------------------------------------------------------------------------------


def test_view_case_is_the_case_rest_shows(world: RpcWorld) -> None:
    answer = call(
        world, world.cases.ViewCase, services_pb2.ViewCaseRequest(case_id=ACME.id), "sanne"
    )
    rest = world.rest("GET", f"/v1/cases/{ACME.id}", "sanne")
    assert rest.status_code == 200
    assert case_json(answer.case) == rest.json()


@pytest.mark.parametrize(
    ("who", "case_id", "expected"),
    [
        ("sanne", GLOBEX.id, grpc.StatusCode.NOT_FOUND),  # another brand's: as if absent
        ("sanne", "no-such-case", grpc.StatusCode.NOT_FOUND),
        ("gerrit", ACME.id, grpc.StatusCode.NOT_FOUND),
        (None, ACME.id, grpc.StatusCode.UNAUTHENTICATED),
        ("sanne", "", grpc.StatusCode.INVALID_ARGUMENT),  # the route's min_length
    ],
)
def test_view_case_refuses_as_rest_does(
    world: RpcWorld, who: str | None, case_id: str, expected: grpc.StatusCode
) -> None:
    answer = call(world, world.cases.ViewCase, services_pb2.ViewCaseRequest(case_id=case_id), who)
    assert code(answer) == expected


def test_an_ingest_key_may_not_read_cases(world: RpcWorld) -> None:
    world.key("ingester", brand="acme", permissions=["ingest"])
    listed = call(world, world.cases.QueryCases, services_pb2.QueryCasesRequest(), "ingester")
    assert code(listed) == grpc.StatusCode.PERMISSION_DENIED
    assert "read_cases" in listed.details()


@pytest.mark.parametrize(("who", "mine"), [("sanne", ACME_IDS), ("gerrit", GLOBEX_IDS)])
def test_query_and_search_show_what_rest_shows_and_never_another_brand(
    world: RpcWorld, who: str, mine: set[str]
) -> None:
    listed = call(world, world.cases.QueryCases, services_pb2.QueryCasesRequest(), who)
    rest = world.rest("GET", "/v1/cases", who).json()
    assert {c["id"] for c in map(as_json, listed.cases)} == mine
    assert [as_json(c) for c in listed.cases] == rest["cases"]
    assert listed.total == rest["total"] == len(mine)

    for index in ("cases", "messages"):
        found = call(
            world,
            world.cases.SearchCases,
            services_pb2.SearchCasesRequest(q="parcel", index=index),
            who,
        )
        rest_hits = world.rest("GET", "/v1/search", who, params={"q": "parcel", "index": index})
        assert [h.id for h in found.hits] == [h["id"] for h in rest_hits.json()["hits"]]
        case_ids = {
            h.id if index == "cases" else as_json(h.document)["case_id"] for h in found.hits
        }
        assert case_ids == mine


def test_a_parameter_out_of_range_is_invalid_argument_naming_it(world: RpcWorld) -> None:
    too_many = call(
        world, world.cases.QueryCases, services_pb2.QueryCasesRequest(limit=500), "sanne"
    )
    assert code(too_many) == grpc.StatusCode.INVALID_ARGUMENT
    assert too_many.details().startswith("limit: ")
    rest = world.rest("GET", "/v1/cases", "sanne", params={"limit": 500})
    assert (rest.status_code, rest.json()["error"]["field"]) == (422, "limit")
    bad_status = call(
        world, world.cases.QueryCases, services_pb2.QueryCasesRequest(status="lost"), "sanne"
    )
    assert code(bad_status) == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_status.details().startswith("status: ")
    no_text = call(world, world.cases.SearchCases, services_pb2.SearchCasesRequest(), "sanne")
    assert code(no_text) == grpc.StatusCode.INVALID_ARGUMENT
    assert no_text.details().startswith("q: ")


def test_canned_answers_and_queues_are_rests(world: RpcWorld) -> None:
    answers = call(
        world,
        world.cases.ListCannedAnswers,
        services_pb2.ListCannedAnswersRequest(case_id=ACME.id),
        "sanne",
    )
    rest = world.rest("GET", f"/v1/cases/{ACME.id}/canned-answers", "sanne").json()
    assert len(answers.answers) == len(rest) == 1
    assert [
        json_format.MessageToDict(a, preserving_proto_field_name=True) for a in answers.answers
    ] == [{k: v for k, v in r.items() if v not in (None, False)} for r in rest]
    hidden = call(
        world,
        world.cases.ListCannedAnswers,
        services_pb2.ListCannedAnswersRequest(case_id=GLOBEX.id),
        "sanne",
    )
    assert code(hidden) == grpc.StatusCode.NOT_FOUND
    queues = call(world, world.cases.ListQueues, services_pb2.ListQueuesRequest(), "gerrit")
    assert [(q.name, list(q.languages)) for q in queues.queues] == [
        (q["name"], q["languages"]) for q in world.rest("GET", "/v1/queues", "gerrit").json()
    ]


# --- agents, escalations --------------------------------------------------------------------


def test_agents_and_specialists_are_the_callers_brands(world: RpcWorld) -> None:
    agents = call(world, world.agents.ListAgents, services_pb2.ListAgentsRequest(), "sanne")
    assert {as_json(a)["id"] for a in agents.agents} == {"sanne", "olivia"}
    assert [as_json(a) for a in agents.agents] == world.rest("GET", "/v1/agents", "sanne").json()
    theirs = call(world, world.agents.ListAgents, services_pb2.ListAgentsRequest(), "gerrit")
    assert {as_json(a)["id"] for a in theirs.agents} == {"gerrit"}
    specialists = call(
        world,
        world.agents.ListSpecialists,
        services_pb2.ListSpecialistsRequest(language="EN"),
        "sanne",
    )
    assert code(specialists) == grpc.StatusCode.INVALID_ARGUMENT
    assert specialists.details().startswith("language: ")


def test_escalations_list_take_and_raise(world: RpcWorld) -> None:
    listed = call(
        world, world.escalations.ListEscalations, services_pb2.ListEscalationsRequest(), "sanne"
    )
    assert listed.total == 2
    assert {as_json(e)["case_id"] for e in listed.escalations} == ACME_IDS
    assert listed.total == world.rest("GET", "/v1/escalations", "sanne").json()["total"]

    theirs = call(
        world,
        world.escalations.AcknowledgeEscalation,
        services_pb2.AcknowledgeEscalationRequest(escalation_id=f"esc-{GLOBEX.id}"),
        "olivia",
    )
    assert code(theirs) == grpc.StatusCode.NOT_FOUND

    raised = call(
        world,
        world.escalations.EscalateCase,
        services_pb2.EscalateCaseRequest(
            case_id=ACME.id, agent="sanne", reason="Threatens to go to the press"
        ),
        "sanne",
    )
    assert code(raised) == grpc.StatusCode.OK, raised
    assert raised.case_id == ACME.id and raised.command_id
    # operations read but never act: the route's `act` permission.
    ops = call(
        world,
        world.escalations.EscalateCase,
        services_pb2.EscalateCaseRequest(case_id=ACME.id, agent="sanne", reason="x"),
        "ops",
    )
    assert code(ops) == grpc.StatusCode.PERMISSION_DENIED
    blank = call(
        world,
        world.escalations.EscalateCase,
        services_pb2.EscalateCaseRequest(case_id=ACME.id, agent="sanne", reason="  "),
        "sanne",
    )
    assert code(blank) == grpc.StatusCode.INVALID_ARGUMENT
    assert blank.details().startswith("reason: ")


# --- reports ------------------------------------------------------------------------------


def test_satisfaction_report_is_rests_and_needs_operations(world: RpcWorld) -> None:
    request = services_pb2.GetSatisfactionReportRequest(group_by="channel")
    report = call(world, world.reporting.GetSatisfactionReport, request, "ops")
    rest = world.rest("GET", "/v1/reports/satisfaction", "ops", params={"group_by": "channel"})
    assert rest.status_code == 200
    assert as_json(report.report) == rest.json()
    assert len(report.report["rows"]) > 0, "the fake routing's answers are counted"
    agent = call(world, world.reporting.GetSatisfactionReport, request, "sanne")
    assert code(agent) == grpc.StatusCode.PERMISSION_DENIED
    backwards = call(
        world,
        world.reporting.GetSatisfactionReport,
        services_pb2.GetSatisfactionReportRequest(**{"from": "2026-11-26", "to": "2026-11-25"}),
        "ops",
    )
    assert code(backwards) == grpc.StatusCode.INVALID_ARGUMENT
    assert backwards.details().startswith("from: ")


def test_sla_report_without_an_sla_instance_is_unavailable_as_rest_is_503(
    world: RpcWorld,
) -> None:
    rest = world.rest("GET", "/v1/reports/sla", "ops")
    report = call(world, world.reporting.GetSlaReport, services_pb2.GetSlaReportRequest(), "ops")
    assert rest.status_code == 503
    assert code(report) == grpc.StatusCode.UNAVAILABLE
    # Checked before any sla instance is asked, as REST does (400 naming the parameter).
    bad_clock = world.rest("GET", "/v1/reports/sla", "ops", params={"clock": "sundial"})
    assert (bad_clock.status_code, bad_clock.json()["error"]["field"]) == (400, "clock")
    for request, field in (
        (services_pb2.GetSlaReportRequest(clock="sundial"), "clock"),
        (services_pb2.GetSlaReportRequest(**{"from": "yesterday"}), "from"),
    ):
        refused = call(world, world.reporting.GetSlaReport, request, "ops")
        assert code(refused) == grpc.StatusCode.INVALID_ARGUMENT
        assert str(refused.details()).startswith(f"{field}: ")


# --- accounts and signing in -----------------------------------------------------------------


def test_admins_manage_users_and_keys_over_grpc(world: RpcWorld) -> None:
    body = struct_pb2.Struct()
    body.update({"username": "kim", "password": "a long enough password", "roles": ["agent"]})
    created = call(
        world, world.accounts.CreateUser, services_pb2.CreateUserRequest(user=body), "admin"
    )
    user = as_json(created.user)
    assert (user["username"], user["roles"]) == ("kim", ["agent"])
    fetched = call(
        world, world.accounts.GetUser, services_pb2.GetUserRequest(user_id=user["id"]), "admin"
    )
    assert as_json(fetched.user) == world.rest("GET", f"/v1/users/{user['id']}", "admin").json()
    changes = struct_pb2.Struct()
    changes.update({"display_name": "Kim K"})
    changed = call(
        world,
        world.accounts.UpdateUser,
        services_pb2.UpdateUserRequest(user_id=user["id"], changes=changes),
        "admin",
    )
    assert as_json(changed.user)["display_name"] == "Kim K"
    listed = call(world, world.accounts.ListUsers, services_pb2.ListUsersRequest(), "admin")
    assert "kim" in {as_json(u)["username"] for u in listed.users}

    bad = struct_pb2.Struct()
    bad.update({"username": "Not A Name!"})
    refused = call(
        world, world.accounts.CreateUser, services_pb2.CreateUserRequest(user=bad), "admin"
    )
    assert code(refused) == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.details().startswith("username: ")
    agent = call(world, world.accounts.ListUsers, services_pb2.ListUsersRequest(), "sanne")
    assert code(agent) == grpc.StatusCode.PERMISSION_DENIED
    missing = call(
        world, world.accounts.GetUser, services_pb2.GetUserRequest(user_id="nobody"), "admin"
    )
    assert code(missing) == grpc.StatusCode.NOT_FOUND

    key = call(
        world,
        world.accounts.CreateApiKey,
        services_pb2.CreateApiKeyRequest(name="crm", brand="globex", permissions=["read_cases"]),
        "admin",
    )
    made = as_json(key.api_key)
    assert made["key"] and made["brand"] == "globex"
    world.people["crm"] = {"Authorization": f"Bearer {made['key']}"}
    seen = call(world, world.cases.QueryCases, services_pb2.QueryCasesRequest(), "crm")
    assert {as_json(c)["id"] for c in seen.cases} == GLOBEX_IDS
    keys = call(world, world.accounts.ListApiKeys, services_pb2.ListApiKeysRequest(), "admin")
    assert made["id"] in {as_json(k)["id"] for k in keys.api_keys}
    assert all("key" not in as_json(k) for k in keys.api_keys)
    revoked = call(
        world,
        world.accounts.RevokeApiKey,
        services_pb2.RevokeApiKeyRequest(key_id=made["id"]),
        "admin",
    )
    assert code(revoked) == grpc.StatusCode.OK
    after = call(world, world.cases.QueryCases, services_pb2.QueryCasesRequest(), "crm")
    assert code(after) == grpc.StatusCode.UNAUTHENTICATED


def test_sign_in_issues_a_token_that_calls_with(world: RpcWorld) -> None:
    wrong = call(
        world,
        world.auth.IssueToken,
        services_pb2.IssueTokenRequest(username="admin", password="not it"),
        None,
    )
    assert code(wrong) == grpc.StatusCode.UNAUTHENTICATED
    token = call(
        world,
        world.auth.IssueToken,
        services_pb2.IssueTokenRequest(username="admin", password=ADMIN_PASSWORD),
        None,
    )
    assert token.token_type == "bearer" and token.expires_in > 0
    world.people["signed-in"] = {"Authorization": f"Bearer {token.access_token}"}
    me = call(world, world.accounts.GetMe, services_pb2.GetMeRequest(), "signed-in")
    assert as_json(me.principal)["id"] == "admin"
    empty = call(world, world.auth.IssueToken, services_pb2.IssueTokenRequest(), None)
    assert code(empty) == grpc.StatusCode.INVALID_ARGUMENT


def test_me_is_the_caller(world: RpcWorld) -> None:
    me = call(world, world.accounts.GetMe, services_pb2.GetMeRequest(), "sanne")
    rest = world.rest("GET", "/v1/me", "sanne").json()
    assert as_json(me.principal) == rest
    assert code(call(world, world.accounts.GetMe, services_pb2.GetMeRequest(), None)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )


class Recorder(grpc.ServerInterceptor):
    """Records the methods called (as the audit log's interceptor sees them)."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        self.methods.append(handler_call_details.method)
        return continuation(handler_call_details)


def test_interceptors_see_every_service(tmp_path: Path, routing_address: str) -> None:
    recorder = Recorder()
    for world in open_world(tmp_path, routing_address, interceptors=[recorder]):
        call(world, world.accounts.GetMe, services_pb2.GetMeRequest(), "sanne")
        call(world, world.cases.QueryCases, services_pb2.QueryCasesRequest(), "sanne")
        call(world, world.agents.ListAgents, services_pb2.ListAgentsRequest(), "sanne")
    assert recorder.methods == [
        "/socialcare.v1.AccountService/GetMe",
        "/socialcare.v1.CaseViewService/QueryCases",
        "/socialcare.v1.AgentService/ListAgents",
    ]


# --- webhooks ---------------------------------------------------------------------------------


def test_webhooks_over_grpc_are_the_rest_routes_with_their_brand_scope(world: RpcWorld) -> None:
    world.key("hooks-acme", brand="acme", permissions=["manage_webhooks"])
    world.key("hooks-globex", brand="globex", permissions=["manage_webhooks"])
    hooks = services_pb2_grpc.WebhookServiceStub(world.channel)
    created = call(
        world,
        hooks.CreateWebhook,
        services_pb2.CreateWebhookRequest(
            url="https://93.184.215.14/hook", event_types=[], description="crm"
        ),
        "hooks-acme",
    )
    assert code(created) == grpc.StatusCode.OK, created
    webhook = as_json(created.webhook)
    assert webhook["brand"] == "acme" and webhook["secret"]
    webhook_id = webhook["id"]
    got = call(
        world, hooks.GetWebhook, services_pb2.GetWebhookRequest(webhook_id=webhook_id), "hooks-acme"
    )
    rest = world.rest("GET", f"/v1/webhooks/{webhook_id}", "hooks-acme")
    assert as_json(got.webhook) == rest.json()
    listed = call(world, hooks.ListWebhooks, services_pb2.ListWebhooksRequest(), "hooks-globex")
    assert webhook_id not in {as_json(w)["id"] for w in listed.webhooks}
    theirs = call(
        world,
        hooks.GetWebhook,
        services_pb2.GetWebhookRequest(webhook_id=webhook_id),
        "hooks-globex",
    )
    assert code(theirs) == grpc.StatusCode.NOT_FOUND
    catalogue = call(
        world,
        hooks.ListWebhookEventTypes,
        services_pb2.ListWebhookEventTypesRequest(),
        "hooks-acme",
    )
    assert (
        as_json(catalogue.catalogue)
        == world.rest("GET", "/v1/webhooks/event-types", "hooks-acme").json()
    )
    agent = call(world, hooks.ListWebhooks, services_pb2.ListWebhooksRequest(), "sanne")
    assert code(agent) == grpc.StatusCode.PERMISSION_DENIED

    changes = struct_pb2.Struct()
    changes.update({"description": "crm sync", "active": False})
    changed = call(
        world,
        hooks.UpdateWebhook,
        services_pb2.UpdateWebhookRequest(webhook_id=webhook_id, changes=changes),
        "hooks-acme",
    )
    assert (as_json(changed.webhook)["description"], as_json(changed.webhook)["active"]) == (
        "crm sync",
        False,
    )
    rotated = call(
        world,
        hooks.RotateWebhookSecret,
        services_pb2.RotateWebhookSecretRequest(webhook_id=webhook_id),
        "hooks-acme",
    )
    assert as_json(rotated.secret)["secret"] not in ("", webhook["secret"])
    deliveries = call(
        world,
        hooks.ListWebhookDeliveries,
        services_pb2.ListWebhookDeliveriesRequest(webhook_id=webhook_id, limit=500),
        "hooks-acme",
    )
    assert code(deliveries) == grpc.StatusCode.INVALID_ARGUMENT
    assert str(deliveries.details()).startswith("limit: ")
    replay = call(
        world,
        hooks.ReplayWebhookEvents,
        services_pb2.ReplayWebhookEventsRequest(webhook_id=webhook_id),
        "hooks-acme",
    )
    assert code(replay) == grpc.StatusCode.INVALID_ARGUMENT, "since is required"
    assert str(replay.details()).startswith("since: ")
    deleted = call(
        world,
        hooks.DeleteWebhook,
        services_pb2.DeleteWebhookRequest(webhook_id=webhook_id),
        "hooks-globex",
    )
    assert code(deleted) == grpc.StatusCode.NOT_FOUND


# --- the audit log and erasures (admins) ------------------------------------------------------


def test_the_audit_log_is_for_admins_and_answers_as_rest(world: RpcWorld) -> None:
    search = world.runtime.search
    search.ensure_index(AUDIT, AUDIT_SCHEMA)
    records = [
        audit_pb2.AuditRecord(
            record_id=f"audit-{n}",
            at=to_timestamp(T0 + timedelta(minutes=n)),
            actor_kind="user",
            actor_id="sanne",
            action="case.reply" if n % 2 else "case.claim",
            target_type="case",
            target_id=ACME.id,
            brand="acme",
            via="rest",
            outcome="ok",
            status=202,
        )
        for n in range(3)
    ]
    search.upsert(AUDIT, [audit_document(r) for r in records])
    search.refresh(AUDIT)
    rest = world.rest("GET", "/v1/audit", "admin", params={"action": "case.reply"})
    page = call(
        world,
        world.audit.QueryAuditLog,
        services_pb2.QueryAuditLogRequest(action="case.reply"),
        "admin",
    )
    assert rest.status_code == 200
    assert [as_json(r)["record_id"] for r in page.records] == ["audit-1"]
    assert [as_json(r) for r in page.records] == rest.json()["records"]
    assert page.total == rest.json()["total"] == 1
    since = call(
        world,
        world.audit.QueryAuditLog,
        services_pb2.QueryAuditLogRequest(since=to_timestamp(T0 + timedelta(minutes=2))),
        "admin",
    )
    assert [as_json(r)["record_id"] for r in since.records] == ["audit-2"]
    for who in ("ops", "olivia", "sanne"):
        refused = call(world, world.audit.QueryAuditLog, services_pb2.QueryAuditLogRequest(), who)
        assert code(refused) == grpc.StatusCode.PERMISSION_DENIED
    bad = call(
        world, world.audit.QueryAuditLog, services_pb2.QueryAuditLogRequest(via="fax"), "admin"
    )
    assert code(bad) == grpc.StatusCode.INVALID_ARGUMENT
    assert str(bad.details()).startswith("via: ")


def test_erasures_are_for_admins_and_refuse_as_rest(world: RpcWorld) -> None:
    request = services_pb2.EraseCustomerRequest(brand="acme", email="kim@example.com")
    assert code(call(world, world.erasures.EraseCustomer, request, "ops")) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    unknown = call(
        world,
        world.erasures.EraseCustomer,
        services_pb2.EraseCustomerRequest(brand="initech", email="kim@example.com"),
        "admin",
    )
    assert code(unknown) == grpc.StatusCode.INVALID_ARGUMENT
    assert str(unknown.details()).startswith("brand: ")
    # Routing's PrivacyService is not running: nothing is erased, with REST's answer's code.
    rest = world.rest(
        "POST", "/v1/privacy/erasures", "admin", json={"brand": "acme", "email": "kim@example.com"}
    )
    down = call(world, world.erasures.EraseCustomer, request, "admin")
    assert rest.status_code in (502, 503), rest.text
    expected = {502: grpc.StatusCode.INTERNAL, 503: grpc.StatusCode.UNAVAILABLE}
    assert code(down) == expected[rest.status_code]
    listed = call(world, world.erasures.ListErasures, services_pb2.ListErasuresRequest(), "admin")
    assert as_json(listed.page) == world.rest("GET", "/v1/privacy/erasures", "admin").json()
    missing = call(
        world, world.erasures.GetErasure, services_pb2.GetErasureRequest(erasure_id="no"), "admin"
    )
    assert code(missing) == grpc.StatusCode.NOT_FOUND


def test_a_method_whose_route_this_gateway_does_not_serve_is_unimplemented(
    world: RpcWorld,
) -> None:
    from socialcare.gateway.actions import Actions
    from socialcare.gateway.cases import CaseClient
    from socialcare.gateway.rpc import gateway_grpc_server

    cases = CaseClient("127.0.0.1:1")
    server = gateway_grpc_server(
        address="127.0.0.1:0",
        actions=Actions(care=world.runtime.care, producer=world.runtime.producer, cases=cases),
        authenticator=world.runtime.auth().authenticator,
        routers=[],
        care=world.runtime.care,
        cases=cases,
    )
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = services_pb2_grpc.CaseViewServiceStub(channel)
            try:
                stub.ListQueues(
                    services_pb2.ListQueuesRequest(), timeout=10, metadata=world.metadata("sanne")
                )
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNIMPLEMENTED
            else:
                raise AssertionError("answered without the route")
    finally:
        server.stop()
        server.join(5.0)
        cases.close()


# --- the wall ------------------------------------------------------------------------------------


def test_the_walls_figures_are_the_pages_over_the_callers_brands(world: RpcWorld) -> None:
    for case in (
        make_case("wall-acme-1", brand="acme"),
        make_case("wall-acme-2", brand="acme"),
        make_case("wall-globex", brand="globex"),
    ):
        case.status = case_pb2.CASE_STATUS_OPEN
        world.board.apply(case_pb2.CaseEvent(event_id=f"ev-{case.id}", case=case))
    wall = call(world, world.reporting.GetWall, services_pb2.GetWallRequest(), "ops")
    figures = as_json(wall.wall)
    rest = world.rest("GET", "/v1/wall", "ops").json()
    assert {k: v for k, v in figures.items() if k != "at"} == {
        k: v for k, v in rest.items() if k != "at"
    }
    [queue] = [q for q in figures["queues"] if q["queue"] == "care-global"]
    assert queue["waiting"] == 2, "acme's two, not globex's"
    everyone = as_json(
        call(world, world.reporting.GetWall, services_pb2.GetWallRequest(), "admin").wall
    )
    [all_queue] = [q for q in everyone["queues"] if q["queue"] == "care-global"]
    assert all_queue["waiting"] == 3
    assert figures["board_ready"] is True and figures["window_s"] == 86400
    agent = call(world, world.reporting.GetWall, services_pb2.GetWallRequest(), "sanne")
    assert code(agent) == grpc.StatusCode.PERMISSION_DENIED
