"""REST (OpenAPI) and gRPC cover everything the console can do (issue 12).

The inventory below maps each thing the console offers to its REST route and its gRPC
method. What the console offers is derived from the console itself, so a new console
feature without a mapping fails here:

* every route of `console.routes.console_router` (pages, fragments, its own actions, the
  stream) is listed in CONSOLE_ROUTES with the capabilities it serves;
* every request the console's pages make (the templates' `hx-post`, `hx-put`, `action`,
  `href`, `data-stream` targets) is a console route or a REST route of the inventory (or a
  browser-only one, with why).

Then each capability's REST route must be in the app's OpenAPI document, and its gRPC
method in the `socialcare.v1` service descriptors and served by the gateway's gRPC server
(`gateway_grpc_server`: a call without a credential is refused by the method, not
UNIMPLEMENTED). Every method of the gateway's gRPC services is in the inventory too (the
webhook API, for integrators rather than the console, in INTEGRATION).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from socialcare.console.board import CaseBoard
from socialcare.console.routes import _package_dir, console_router
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.rpc_services import ROUTE_RPCS, RPCS_BY_NAME
from socialcare.v1 import services_pb2
from tests.unit.fake_routing import FakeRouting, serve
from tests.unit.test_access import CASES_BY_ID, api_routes

from .rpc_world import RpcWorld, open_world

Route = tuple[str, str]

# Capability -> (REST route, gRPC method `Service/Method` of package socialcare.v1).
COVERAGE: dict[str, tuple[Route, str]] = {
    "inbox: list the cases": (("GET", "/v1/cases"), "CaseViewService/QueryCases"),
    "case view": (("GET", "/v1/cases/{case_id}"), "CaseViewService/ViewCase"),
    "search, previous cases": (("GET", "/v1/search"), "CaseViewService/SearchCases"),
    "live stream of case changes": (("GET", "/v1/stream/cases"), "CaseViewService/WatchCases"),
    "canned answers": (
        ("GET", "/v1/cases/{case_id}/canned-answers"),
        "CaseViewService/ListCannedAnswers",
    ),
    "queues": (("GET", "/v1/queues"), "CaseViewService/ListQueues"),
    "claim": (("POST", "/v1/cases/{case_id}/claim"), "AgentService/Act"),
    "reply (text, template, questions answered)": (
        ("POST", "/v1/cases/{case_id}/replies"),
        "AgentService/Act",
    ),
    "transfer": (("POST", "/v1/cases/{case_id}/transfer"), "AgentService/Act"),
    "assign (leads)": (("POST", "/v1/cases/{case_id}/assign"), "AgentService/Act"),
    "consult a specialist": (("POST", "/v1/cases/{case_id}/consultations"), "AgentService/Act"),
    "answer a consultation": (
        ("POST", "/v1/cases/{case_id}/consultations/{consultation_id}/answer"),
        "AgentService/Act",
    ),
    "internal note": (("POST", "/v1/cases/{case_id}/notes"), "AgentService/Act"),
    "await the customer": (("POST", "/v1/cases/{case_id}/await-customer"), "AgentService/Act"),
    "resolve": (("POST", "/v1/cases/{case_id}/resolve"), "AgentService/Act"),
    "reopen": (("POST", "/v1/cases/{case_id}/reopen"), "AgentService/Act"),
    "merge": (("POST", "/v1/cases/{case_id}/merge"), "AgentService/Act"),
    "link an identity": (("POST", "/v1/cases/{case_id}/identities"), "AgentService/Act"),
    "refer": (("POST", "/v1/cases/{case_id}/referrals"), "AgentService/Act"),
    "set the priority": (("POST", "/v1/cases/{case_id}/priority"), "AgentService/Act"),
    "presence": (("PUT", "/v1/agents/{agent_id}/presence"), "AgentService/SetPresence"),
    "agents wall (presence, load, shift)": (("GET", "/v1/agents"), "AgentService/ListAgents"),
    "specialists (the consult picker)": (
        ("GET", "/v1/specialists"),
        "AgentService/ListSpecialists",
    ),
    "escalate a case": (
        ("POST", "/v1/cases/{case_id}/escalations"),
        "EscalationService/EscalateCase",
    ),
    "escalations and incidents (wall)": (
        ("GET", "/v1/escalations"),
        "EscalationService/ListEscalations",
    ),
    "acknowledge an escalation": (
        ("POST", "/v1/escalations/{escalation_id}/acknowledge"),
        "EscalationService/AcknowledgeEscalation",
    ),
    "resolve an escalation": (
        ("POST", "/v1/escalations/{escalation_id}/resolve"),
        "EscalationService/ResolveEscalation",
    ),
    "SLA report (wall)": (("GET", "/v1/reports/sla"), "ReportingService/GetSlaReport"),
    "wall figures (SLA per language, queues, agents at the console, sentiment)": (
        ("GET", "/v1/wall"),
        "ReportingService/GetWall",
    ),
    "satisfaction report (CSAT, NPS)": (
        ("GET", "/v1/reports/satisfaction"),
        "ReportingService/GetSatisfactionReport",
    ),
    "least-asked questions (intents over time)": (
        ("GET", "/v1/reports/intents"),
        "ReportingService/GetIntentReport",
    ),
    # The console's sign-in page starts a cookie session; a program gets a bearer token.
    "sign in": (("POST", "/v1/auth/login"), "AuthService/IssueToken"),
    "sign in for a token": (("POST", "/v1/auth/token"), "AuthService/IssueToken"),
    "who am I": (("GET", "/v1/me"), "AccountService/GetMe"),
    "admin: list users": (("GET", "/v1/users"), "AccountService/ListUsers"),
    "admin: one user": (("GET", "/v1/users/{user_id}"), "AccountService/GetUser"),
    "admin: create a user": (("POST", "/v1/users"), "AccountService/CreateUser"),
    "admin: change a user": (("PATCH", "/v1/users/{user_id}"), "AccountService/UpdateUser"),
    "admin: list API keys": (("GET", "/v1/api-keys"), "AccountService/ListApiKeys"),
    "admin: create an API key": (("POST", "/v1/api-keys"), "AccountService/CreateApiKey"),
    "admin: revoke an API key": (
        ("DELETE", "/v1/api-keys/{key_id}"),
        "AccountService/RevokeApiKey",
    ),
}

# Beyond the console: the integrators' webhook API and the admins' audit log and erasures,
# over both doors too.
INTEGRATION: dict[str, tuple[Route, str]] = {
    "create a webhook": (("POST", "/v1/webhooks"), "WebhookService/CreateWebhook"),
    "list webhooks": (("GET", "/v1/webhooks"), "WebhookService/ListWebhooks"),
    "one webhook": (("GET", "/v1/webhooks/{webhook_id}"), "WebhookService/GetWebhook"),
    "change a webhook": (("PATCH", "/v1/webhooks/{webhook_id}"), "WebhookService/UpdateWebhook"),
    "delete a webhook": (("DELETE", "/v1/webhooks/{webhook_id}"), "WebhookService/DeleteWebhook"),
    "rotate a webhook's secret": (
        ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"),
        "WebhookService/RotateWebhookSecret",
    ),
    "a webhook's deliveries": (
        ("GET", "/v1/webhooks/{webhook_id}/deliveries"),
        "WebhookService/ListWebhookDeliveries",
    ),
    "one delivery": (
        ("GET", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}"),
        "WebhookService/GetWebhookDelivery",
    ),
    "replay the dead letters": (
        ("POST", "/v1/webhooks/{webhook_id}/deliveries/replay"),
        "WebhookService/ReplayDeadDeliveries",
    ),
    "replay from a point in time": (
        ("POST", "/v1/webhooks/{webhook_id}/replay"),
        "WebhookService/ReplayWebhookEvents",
    ),
    "ping a webhook": (("POST", "/v1/webhooks/{webhook_id}/ping"), "WebhookService/PingWebhook"),
    "the webhook event types": (
        ("GET", "/v1/webhooks/event-types"),
        "WebhookService/ListWebhookEventTypes",
    ),
    # The admins' audit log and GDPR erasures.
    "admin: the audit log": (("GET", "/v1/audit"), "AuditService/QueryAuditLog"),
    "admin: erase a customer": (("POST", "/v1/privacy/erasures"), "ErasureService/EraseCustomer"),
    "admin: an erasure's report": (
        ("GET", "/v1/privacy/erasures/{erasure_id}"),
        "ErasureService/GetErasure",
    ),
    "admin: the erasures": (("GET", "/v1/privacy/erasures"), "ErasureService/ListErasures"),
}
EVERYTHING = {**COVERAGE, **INTEGRATION}

# Requests only a browser makes: no program needs them over gRPC.
BROWSER_ONLY: dict[Route, str] = {
    ("POST", "/v1/auth/logout"): "ends the cookie session (a bearer token is simply not sent)",
    ("GET", "/v1/auth/oidc/login"): "a redirect to the identity provider's sign-in page",
    ("GET", "/v1/auth/oidc/callback"): "the identity provider's redirect back",
    ("POST", "/console/language"): "the page language cookie (a user's own: PATCH users)",
    ("GET", "/console/static/{name:path}"): "the console's scripts and styles",
}

# Every console route: the capabilities it serves (its page's data and actions).
CONSOLE_ROUTES: dict[Route, set[str]] = {
    ("GET", "/"): {"inbox: list the cases", "live stream of case changes"},
    ("GET", "/console/fragments/inbox"): {"inbox: list the cases"},
    ("GET", "/cases/{case_id}"): {"case view", "search, previous cases"},
    ("GET", "/console/fragments/cases/{case_id}"): {"case view"},
    ("GET", "/console/fragments/cases/{case_id}/actions"): {
        "case view",
        "specialists (the consult picker)",
    },
    ("GET", "/console/fragments/cases/{case_id}/composer"): {"canned answers", "case view"},
    ("GET", "/console/fragments/cases/{case_id}/answers"): {"case view"},
    ("POST", "/console/cases/{case_id}/escalations/{escalation_id}/acknowledge"): {
        "acknowledge an escalation"
    },
    ("POST", "/console/cases/{case_id}/escalations/{escalation_id}/resolve"): {
        "resolve an escalation"
    },
    ("GET", "/wall"): {
        "wall figures (SLA per language, queues, agents at the console, sentiment)",
        "agents wall (presence, load, shift)",
        "escalations and incidents (wall)",
        "inbox: list the cases",
    },
    ("GET", "/console/fragments/wall"): {
        "wall figures (SLA per language, queues, agents at the console, sentiment)",
        "agents wall (presence, load, shift)",
        "escalations and incidents (wall)",
    },
    ("GET", "/reports/questions"): {"least-asked questions (intents over time)"},
    ("GET", "/login"): {"sign in"},
    ("POST", "/console/language"): set(),  # BROWSER_ONLY
    ("GET", "/console/static/{name:path}"): set(),  # BROWSER_ONLY
    ("GET", "/v1/stream/cases"): {"live stream of case changes"},
}

# The services of services.proto other processes serve: not the gateway's API.
OTHER_DOORS = {
    "IngestService": "ingestion (SOCIALCARE_INGEST_GRPC_PORT): messages in, for connectors",
    "CaseService": "routing, internal: the gateway's reads of the authoritative case",
    "ReportService": "sla, internal: each instance's share of the SLA report",
}
GATEWAY_SERVICES = (
    "AgentService",
    "CaseViewService",
    "EscalationService",
    "ReportingService",
    "AccountService",
    "AuthService",
    "WebhookService",
    "AuditService",
    "ErasureService",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpcWorld]:
    server, address = serve(FakeRouting(dict(CASES_BY_ID)))
    try:
        yield from open_world(tmp_path_factory.mktemp("coverage"), address)
    finally:
        server.stop(grace=None).wait()


def console_routes(world: RpcWorld) -> set[Route]:
    router = console_router(
        care=world.runtime.care,
        board=CaseBoard(world.runtime.care),
        cases=CaseClient("127.0.0.1:1"),
        search=world.runtime.search,
    )
    return {
        (method, route.path)
        for route in api_routes(router.routes)
        for method in route.methods or ()
    }


_TARGET = re.compile(
    r'(hx-post|hx-put|hx-patch|hx-delete|hx-get|action|href|data-stream)="([^"]*)"'
)
_SET = re.compile(r"\{%\s*set\s+(\w+)\s*=\s*(.+?)\s*%\}")
_METHODS = {"hx-post": "POST", "hx-put": "PUT", "hx-patch": "PATCH", "hx-delete": "DELETE"}


def _shape(url: str) -> str:
    """A URL of a template as a route shape: every expression is `{}`, no query."""
    url = url.split("?")[0]
    return re.sub(r"\{\{.*?\}\}", "{}", url)


def _route_shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def template_requests() -> set[tuple[str, str]]:
    """(method, route shape) of every request the console's pages make."""
    found = set()
    for template in sorted(Path(_package_dir("templates")).glob("*.html")):
        text = template.read_text()
        variables = {}
        for name, expression in _SET.findall(text):
            # "/v1/cases/" ~ (summary.id|urlencode) ~ "/escalations/" ~ (e.id|urlencode)
            parts = re.split(r"\s*~\s*", expression)
            variables[name] = "".join(p.strip('"') if p.startswith('"') else "{}" for p in parts)
        for attribute, url in _TARGET.findall(text):
            for name, value in variables.items():
                url = re.sub(r"\{\{\s*" + name + r"\s*\}\}", value, url)
            if not url.startswith("/") or "static(" in url:
                continue
            if attribute in ("action", "hx-post") or attribute.startswith("hx-"):
                method = _METHODS.get(attribute, "POST" if attribute == "action" else "GET")
            else:
                method = "GET"
            found.add((method, _shape(url)))
    return found


def test_every_console_route_is_in_the_inventory(world: RpcWorld) -> None:
    assert console_routes(world) == set(CONSOLE_ROUTES), (
        "a console route without a mapping: add it to CONSOLE_ROUTES with its capabilities"
    )
    for route, capabilities in CONSOLE_ROUTES.items():
        assert capabilities <= set(COVERAGE), route
        assert capabilities or route in BROWSER_ONLY, route


def test_every_request_a_console_page_makes_is_covered() -> None:
    requests = template_requests()
    assert ("POST", "/v1/cases/{}/claim") in requests, "the templates are read"
    assert ("PUT", "/v1/agents/{}/presence") in requests
    known = {
        (method, _route_shape(path))
        for method, path in [*CONSOLE_ROUTES, *BROWSER_ONLY, *(r for r, _ in COVERAGE.values())]
    }
    assert requests - known == set(), "a console request without REST and gRPC mapping"


def test_every_rest_route_of_the_inventory_is_in_the_openapi_document(world: RpcWorld) -> None:
    paths = world.app.openapi()["paths"]
    documented = {(m.upper(), p) for p, operations in paths.items() for m in operations}
    missing = sorted({route for route, _ in EVERYTHING.values()} - documented)
    assert missing == []


def test_every_grpc_method_of_the_inventory_exists_and_is_served(world: RpcWorld) -> None:
    services = services_pb2.DESCRIPTOR.services_by_name
    for _, method in EVERYTHING.values():
        service, name = method.split("/")
        assert name in services[service].methods_by_name, method
    for method in sorted({m for _, m in EVERYTHING.values()}):
        code = refusal(world.channel, method)
        assert code != grpc.StatusCode.UNIMPLEMENTED, f"{method} is not served"
        expected = (
            grpc.StatusCode.INVALID_ARGUMENT
            if method == "AuthService/IssueToken"
            else grpc.StatusCode.UNAUTHENTICATED
        )
        assert code == expected, method


def test_every_method_of_the_gateways_services_is_in_the_inventory() -> None:
    services = services_pb2.DESCRIPTOR.services_by_name
    served = {
        f"{service}/{method}"
        for service in GATEWAY_SERVICES
        for method in services[service].methods_by_name
    }
    assert served == {m for _, m in EVERYTHING.values()}


def refusal(channel: grpc.Channel, method: str) -> grpc.StatusCode:
    """The code of a call of `method` with an empty request and no credential."""
    service, name = method.split("/")
    descriptor = services_pb2.DESCRIPTOR.services_by_name[service].methods_by_name[name]
    request = services_pb2.__dict__[descriptor.input_type.name]()
    output = services_pb2.__dict__.get(descriptor.output_type.name)
    deserialize = output.FromString if output is not None else None
    path = f"/socialcare.v1.{method}"
    try:
        if descriptor.server_streaming:
            stream = channel.unary_stream(
                path,
                request_serializer=type(request).SerializeToString,
                response_deserializer=deserialize,
            )(request, timeout=10)
            next(iter(stream))
        else:
            channel.unary_unary(
                path,
                request_serializer=type(request).SerializeToString,
                response_deserializer=deserialize,
            )(request, timeout=10)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


def test_every_service_is_the_gateways_or_another_processes_door() -> None:
    """A new service in services.proto is either served by the gateway (and in the
    inventory) or named here as another process's door. (privacy.proto's PrivacyService is
    routing's, internal, for the gateway's erasures.)"""
    assert set(services_pb2.DESCRIPTOR.services_by_name) == set(GATEWAY_SERVICES) | set(OTHER_DOORS)


def test_each_table_driven_method_runs_the_route_the_inventory_names() -> None:
    """`rpc_services.ROUTE_RPCS` (what each gRPC method runs) agrees with the inventory."""
    routes_of: dict[str, set[Route]] = {}
    for route, method in EVERYTHING.values():
        routes_of.setdefault(method, set()).add(route)
    assert len(RPCS_BY_NAME) == len(ROUTE_RPCS), "each method once"
    for rpc in ROUTE_RPCS:
        assert (rpc.http, rpc.path) in routes_of[rpc.name], rpc.name
