"""The gateway's gRPC services beside AgentService: everything the console and the REST
API do (`services.proto`: CaseViewService, EscalationService, ReportingService,
AccountService, AuthService, WebhookService, AuditService, ErasureService, and
AgentService's ListAgents and ListSpecialists).

Each method runs the REST route it documents through `gateway.rpc_bridge.RouteBridge`: the
route's handler with the route's own parameter constraints and permission, so there is one
implementation of every rule. The methods are data (`ROUTE_RPCS`: the method, its route,
how the request becomes the route's arguments, how the route's JSON becomes the answer);
`route_handlers` serves them as gRPC generic handlers, with ViewCase (the `Case` message
itself) and WatchCases (`gateway.rpc_watch`) beside them.

A request's empty string or 0 means "not given" (proto3 has no absent scalar): the route's
default applies, as when a REST client leaves the parameter out. Where the route answers
a JSON document the message carries it as a `google.protobuf.Struct` (its numbers are
doubles, as in any JSON).

Credentials as AgentService's: `authorization: Bearer <access token or API key>` metadata
(`core.auth.grpc_auth`); AuthService.IssueToken needs none. Errors: `core.errors.abort_call`
(INVALID_ARGUMENT naming the field for 422, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
NOT_FOUND 404, FAILED_PRECONDITION 409, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from socialcare.core.auth import Principal
from socialcare.core.auth.authenticator import Authenticator
from socialcare.core.auth.grpc_auth import grpc_principal
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.errors import abort_call
from socialcare.gateway.access import BrandScope
from socialcare.gateway.actions import read_case
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.rpc_bridge import RouteBridge, peer_address
from socialcare.gateway.rpc_watch import CaseWatcher
from socialcare.v1 import services_pb2

CASE = "/v1/cases/{case_id}"


def struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    """A JSON object as a Struct."""
    message = struct_pb2.Struct()
    message.update(value)
    return message


def structs(values: Sequence[Mapping[str, Any]]) -> list[struct_pb2.Struct]:
    return [struct(value) for value in values]


def given(**arguments: Any) -> dict[str, Any]:
    """The arguments a client set: proto3's "" and 0 are "not given" (the route's default)."""
    return {name: value for name, value in arguments.items() if value not in ("", 0, None)}


class RouteDoor:
    """Runs one REST route for one gRPC call: the caller from the call's metadata, with
    the permission the route requires (none for a public route)."""

    def __init__(self, bridge: RouteBridge, authenticator: Authenticator) -> None:
        self.bridge = bridge
        self.authenticator = authenticator

    def principal(self, context: grpc.ServicerContext, method: str, path: str) -> Principal:
        """The caller, with the route's permission (UnauthenticatedError, ForbiddenError)."""
        return grpc_principal(
            self.authenticator, context, self.bridge.access(method, path).permission
        )

    def run(self, context: grpc.ServicerContext, method: str, path: str, **arguments: Any) -> Any:
        access = self.bridge.access(method, path)
        principal = None if access.public else self.principal(context, method, path)
        return self.bridge.call(
            method, path, principal, client=peer_address(context.peer()), **arguments
        )


WEBHOOK = "/v1/webhooks/{webhook_id}"
PACKAGE = "socialcare.v1"


@dataclass(frozen=True)
class RouteRpc:
    """One gRPC method that runs one REST route: `name` is `Service/Method`; `arguments`
    turns the request into the route handler's arguments (by parameter name, a body as a
    mapping); `answer` turns the route's JSON into the response message."""

    name: str
    http: str
    path: str
    arguments: Callable[[Any], dict[str, Any]]
    answer: Callable[[Any], Message]

    @property
    def service(self) -> str:
        return self.name.split("/")[0]

    @property
    def method(self) -> str:
        return self.name.split("/")[1]


def _nothing(request: Any) -> dict[str, Any]:
    return {}


def _fields(*names: str) -> Callable[[Any], dict[str, Any]]:
    """The route's arguments of the same names as the request's fields (path parameters)."""
    return lambda request: {name: getattr(request, name) for name in names}


def _optional(*names: str, **renamed: str) -> Callable[[Any], dict[str, Any]]:
    """Optional route arguments from the request's fields of the same names (`renamed`:
    handler parameter = request field, e.g. from_="from"); unset ones are left out."""

    def arguments(request: Any) -> dict[str, Any]:
        fields = {**{name: name for name in names}, **renamed}
        return given(**{param: getattr(request, field) for param, field in fields.items()})

    return arguments


def _as_struct(message: type[Message], field: str) -> Callable[[Any], Message]:
    """The answer with the route's JSON object as its Struct `field`."""
    return lambda found: message(**{field: struct(found)})


def _as_structs(
    message: type[Message], field: str, key: str | None = None
) -> Callable[[Any], Message]:
    """The answer with the route's JSON list (at `key` of its object, when given) as its
    repeated Struct `field`."""
    return lambda found: message(**{field: structs(found[key] if key else found)})


def _empty(message: type[Message]) -> Callable[[Any], Message]:
    """An empty answer (the route answered 204)."""
    return lambda found: message()


def _accepted(message: type[Message], *fields: str) -> Callable[[Any], Message]:
    """The answer of a route accepting a command: the named fields of its JSON."""
    return lambda found: message(**{name: found[name] for name in fields})


def _times(request: Any, *names: str) -> dict[str, Any]:
    """The request's set Timestamp fields as RFC 3339 text (what a REST client sends)."""
    return {name: getattr(request, name).ToJsonString() for name in names if request.HasField(name)}


def _body_of(request: Any, field: str) -> dict[str, Any]:
    """A Struct field of the request as a JSON body."""
    return json_format.MessageToDict(getattr(request, field))


def _canned_answers(found: Any) -> Message:
    response = services_pb2.ListCannedAnswersResponse()
    for answer in found:
        json_format.ParseDict(
            {k: v for k, v in answer.items() if v is not None}, response.answers.add()
        )
    return response


def _webhook_body(request: services_pb2.CreateWebhookRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": request.url,
        "event_types": list(request.event_types),
        "description": request.description,
        **given(brand=request.brand),
    }
    if request.HasField("active"):
        body["active"] = request.active
    return body


pb = services_pb2

ROUTE_RPCS: tuple[RouteRpc, ...] = (
    # -- AgentService (Act and SetPresence are `gateway.rpc.AgentServicer`'s) -----------
    RouteRpc(
        "AgentService/ListAgents",
        "GET",
        "/v1/agents",
        _nothing,
        _as_structs(pb.ListAgentsResponse, "agents"),
    ),
    RouteRpc(
        "AgentService/ListSpecialists",
        "GET",
        "/v1/specialists",
        _optional("language", "product"),
        _as_structs(pb.ListSpecialistsResponse, "specialists"),
    ),
    # -- CaseViewService (ViewCase and WatchCases: `route_handlers`) ---------------------
    RouteRpc(
        "CaseViewService/QueryCases",
        "GET",
        "/v1/cases",
        _optional("status", "language", "queue", "assignee", "limit", "offset"),
        lambda found: pb.QueryCasesResponse(total=found["total"], cases=structs(found["cases"])),
    ),
    RouteRpc(
        "CaseViewService/SearchCases",
        "GET",
        "/v1/search",
        lambda r: {
            "q": r.q,
            **given(index=r.index, language=r.language, limit=r.limit, offset=r.offset),
        },
        lambda found: pb.SearchCasesResponse(
            total=found["total"],
            hits=[
                pb.SearchHit(id=hit["id"], score=hit["score"], document=struct(hit["document"]))
                for hit in found["hits"]
            ],
        ),
    ),
    RouteRpc(
        "CaseViewService/ListCannedAnswers",
        "GET",
        CASE + "/canned-answers",
        lambda r: {"case_id": r.case_id, **given(agent=r.agent)},
        _canned_answers,
    ),
    RouteRpc(
        "CaseViewService/ListQueues",
        "GET",
        "/v1/queues",
        _nothing,
        lambda found: pb.ListQueuesResponse(
            queues=[pb.Queue(name=q["name"], languages=q["languages"]) for q in found]
        ),
    ),
    # -- EscalationService -----------------------------------------------------------------
    RouteRpc(
        "EscalationService/EscalateCase",
        "POST",
        CASE + "/escalations",
        lambda r: {
            "case_id": r.case_id,
            "body": {"agent": r.agent, "reason": r.reason, **given(tier=r.tier)},
            **given(idempotency_key=r.idempotency_key),
        },
        _accepted(pb.EscalateCaseResponse, "command_id", "case_id"),
    ),
    RouteRpc(
        "EscalationService/ListEscalations",
        "GET",
        "/v1/escalations",
        _optional("status", "case_id", "trigger", "tier", "limit", "offset"),
        lambda found: pb.ListEscalationsResponse(
            total=found["total"], escalations=structs(found["escalations"])
        ),
    ),
    RouteRpc(
        "EscalationService/AcknowledgeEscalation",
        "POST",
        "/v1/escalations/{escalation_id}/acknowledge",
        _fields("escalation_id"),
        _accepted(pb.AcknowledgeEscalationResponse, "command_id", "case_id"),
    ),
    RouteRpc(
        "EscalationService/ResolveEscalation",
        "POST",
        "/v1/escalations/{escalation_id}/resolve",
        lambda r: {"escalation_id": r.escalation_id, "body": given(note=r.note)},
        _accepted(pb.ResolveEscalationResponse, "command_id", "case_id"),
    ),
    # -- ReportingService --------------------------------------------------------------------
    RouteRpc(
        "ReportingService/GetSlaReport",
        "GET",
        "/v1/reports/sla",
        _optional("to", "group_by", "language", "brand", from_="from", clock_="clock"),
        _as_struct(pb.GetSlaReportResponse, "report"),
    ),
    RouteRpc(
        "ReportingService/GetSatisfactionReport",
        "GET",
        "/v1/reports/satisfaction",
        _optional("to", "group_by", "brand", from_="from"),
        _as_struct(pb.GetSatisfactionReportResponse, "report"),
    ),
    RouteRpc(
        "ReportingService/GetWall",
        "GET",
        "/v1/wall",
        _nothing,
        _as_struct(pb.GetWallResponse, "wall"),
    ),
    RouteRpc(
        "ReportingService/GetIntentReport",
        "GET",
        "/v1/reports/intents",
        _optional("to", "brand", "language", "channel", "interval", "time_zone", from_="from"),
        _as_struct(pb.GetIntentReportResponse, "report"),
    ),
    # -- AccountService ------------------------------------------------------------------------
    RouteRpc(
        "AccountService/GetMe",
        "GET",
        "/v1/me",
        _nothing,
        _as_struct(pb.GetMeResponse, "principal"),
    ),
    RouteRpc(
        "AccountService/ListUsers",
        "GET",
        "/v1/users",
        _nothing,
        _as_structs(pb.ListUsersResponse, "users", "users"),
    ),
    RouteRpc(
        "AccountService/GetUser",
        "GET",
        "/v1/users/{user_id}",
        _fields("user_id"),
        _as_struct(pb.GetUserResponse, "user"),
    ),
    RouteRpc(
        "AccountService/CreateUser",
        "POST",
        "/v1/users",
        lambda r: {"body": _body_of(r, "user")},
        _as_struct(pb.CreateUserResponse, "user"),
    ),
    RouteRpc(
        "AccountService/UpdateUser",
        "PATCH",
        "/v1/users/{user_id}",
        lambda r: {"user_id": r.user_id, "body": _body_of(r, "changes")},
        _as_struct(pb.UpdateUserResponse, "user"),
    ),
    RouteRpc(
        "AccountService/ListApiKeys",
        "GET",
        "/v1/api-keys",
        _nothing,
        _as_structs(pb.ListApiKeysResponse, "api_keys", "api_keys"),
    ),
    RouteRpc(
        "AccountService/CreateApiKey",
        "POST",
        "/v1/api-keys",
        lambda r: {"body": {"name": r.name, "brand": r.brand, "permissions": list(r.permissions)}},
        _as_struct(pb.CreateApiKeyResponse, "api_key"),
    ),
    RouteRpc(
        "AccountService/RevokeApiKey",
        "DELETE",
        "/v1/api-keys/{key_id}",
        _fields("key_id"),
        _empty(pb.RevokeApiKeyResponse),
    ),
    # -- AuthService ---------------------------------------------------------------------------
    RouteRpc(
        "AuthService/IssueToken",
        "POST",
        "/v1/auth/token",
        _fields("username", "password"),
        _accepted(pb.IssueTokenResponse, "access_token", "token_type", "expires_in"),
    ),
    # -- WebhookService ------------------------------------------------------------------------
    RouteRpc(
        "WebhookService/CreateWebhook",
        "POST",
        "/v1/webhooks",
        lambda r: {"body": _webhook_body(r)},
        _as_struct(pb.CreateWebhookResponse, "webhook"),
    ),
    RouteRpc(
        "WebhookService/ListWebhooks",
        "GET",
        "/v1/webhooks",
        _nothing,
        _as_structs(pb.ListWebhooksResponse, "webhooks", "webhooks"),
    ),
    RouteRpc(
        "WebhookService/GetWebhook",
        "GET",
        WEBHOOK,
        _fields("webhook_id"),
        _as_struct(pb.GetWebhookResponse, "webhook"),
    ),
    RouteRpc(
        "WebhookService/UpdateWebhook",
        "PATCH",
        WEBHOOK,
        lambda r: {"webhook_id": r.webhook_id, "body": _body_of(r, "changes")},
        _as_struct(pb.UpdateWebhookResponse, "webhook"),
    ),
    RouteRpc(
        "WebhookService/DeleteWebhook",
        "DELETE",
        WEBHOOK,
        _fields("webhook_id"),
        _empty(pb.DeleteWebhookResponse),
    ),
    RouteRpc(
        "WebhookService/RotateWebhookSecret",
        "POST",
        WEBHOOK + "/rotate-secret",
        _fields("webhook_id"),
        _as_struct(pb.RotateWebhookSecretResponse, "secret"),
    ),
    RouteRpc(
        "WebhookService/ListWebhookDeliveries",
        "GET",
        WEBHOOK + "/deliveries",
        lambda r: {
            "webhook_id": r.webhook_id,
            **given(state=r.state, limit=r.limit, cursor=r.cursor),
        },
        _as_struct(pb.ListWebhookDeliveriesResponse, "page"),
    ),
    RouteRpc(
        "WebhookService/GetWebhookDelivery",
        "GET",
        WEBHOOK + "/deliveries/{delivery_id}",
        _fields("webhook_id", "delivery_id"),
        _as_struct(pb.GetWebhookDeliveryResponse, "delivery"),
    ),
    RouteRpc(
        "WebhookService/ReplayDeadDeliveries",
        "POST",
        WEBHOOK + "/deliveries/replay",
        lambda r: {"webhook_id": r.webhook_id, "body": {"delivery_ids": list(r.delivery_ids)}},
        _accepted(pb.ReplayDeadDeliveriesResponse, "command_id", "subscription_id"),
    ),
    RouteRpc(
        "WebhookService/ReplayWebhookEvents",
        "POST",
        WEBHOOK + "/replay",
        lambda r: {"webhook_id": r.webhook_id, "body": _times(r, "since", "until")},
        _accepted(pb.ReplayWebhookEventsResponse, "command_id", "subscription_id"),
    ),
    RouteRpc(
        "WebhookService/PingWebhook",
        "POST",
        WEBHOOK + "/ping",
        _fields("webhook_id"),
        _accepted(pb.PingWebhookResponse, "delivery_id", "subscription_id"),
    ),
    RouteRpc(
        "WebhookService/ListWebhookEventTypes",
        "GET",
        "/v1/webhooks/event-types",
        _nothing,
        _as_struct(pb.ListWebhookEventTypesResponse, "catalogue"),
    ),
    # -- AuditService, ErasureService ----------------------------------------------------------
    RouteRpc(
        "AuditService/QueryAuditLog",
        "GET",
        "/v1/audit",
        lambda r: {
            **given(
                actor=r.actor,
                action=r.action,
                target=r.target,
                brand=r.brand,
                outcome=r.outcome,
                via=r.via,
                limit=r.limit,
                cursor=r.cursor,
            ),
            **_times(r, "since", "until"),
        },
        lambda found: pb.QueryAuditLogResponse(
            records=structs(found["records"]),
            next_cursor=found.get("next_cursor") or "",
            total=found.get("total") or 0,
        ),
    ),
    RouteRpc(
        "ErasureService/EraseCustomer",
        "POST",
        "/v1/privacy/erasures",
        lambda r: {
            "body": {
                "brand": r.brand,
                "identities": list(r.identities),
                **given(email=r.email, phone=r.phone, handle=r.handle, crm_id=r.crm_id),
            }
        },
        _as_struct(pb.EraseCustomerResponse, "erasure"),
    ),
    RouteRpc(
        "ErasureService/GetErasure",
        "GET",
        "/v1/privacy/erasures/{erasure_id}",
        _fields("erasure_id"),
        _as_struct(pb.GetErasureResponse, "report"),
    ),
    RouteRpc(
        "ErasureService/ListErasures",
        "GET",
        "/v1/privacy/erasures",
        _optional("brand", "status", "limit"),
        _as_struct(pb.ListErasuresResponse, "page"),
    ),
)
RPCS_BY_NAME = {rpc.name: rpc for rpc in ROUTE_RPCS}


def run_route_rpc(
    door: RouteDoor, rpc: RouteRpc, request: Any, context: grpc.ServicerContext
) -> Any:
    """One call of `rpc`: its route run for the caller, the answer built, every failure
    mapped to its gRPC status."""
    try:
        return rpc.answer(door.run(context, rpc.http, rpc.path, **rpc.arguments(request)))
    except Exception as exc:
        abort_call(context, exc, method=rpc.name.replace("/", "."))


def _message_class(service: str, method: str, *, output: bool) -> type[Message]:
    descriptor = pb.DESCRIPTOR.services_by_name[service].methods_by_name[method]
    kind = descriptor.output_type if output else descriptor.input_type
    found: type[Message] = getattr(pb, kind.name)
    return found


def _unary(service: str, method: str, behaviour: Callable[[Any, grpc.ServicerContext], Any]) -> Any:
    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=_message_class(service, method, output=False).FromString,
        response_serializer=_message_class(service, method, output=True).SerializeToString,
    )


def route_handlers(
    door: RouteDoor,
    *,
    care: CareConfig,
    cases: CaseClient,
    watcher: CaseWatcher | None = None,
    skip: frozenset[str] = frozenset({"AgentService"}),
) -> list[grpc.GenericRpcHandler]:
    """gRPC handlers for every service of ROUTE_RPCS but `skip` (AgentService has a
    servicer of its own, which runs its ListAgents and ListSpecialists through
    `run_route_rpc`), with CaseViewService's ViewCase and WatchCases."""
    methods: dict[str, dict[str, Any]] = {}
    for rpc in ROUTE_RPCS:
        if rpc.service in skip:
            continue

        def behaviour(request: Any, context: grpc.ServicerContext, rpc: RouteRpc = rpc) -> Any:
            return run_route_rpc(door, rpc, request, context)

        methods.setdefault(rpc.service, {})[rpc.method] = _unary(rpc.service, rpc.method, behaviour)
    views = methods.setdefault("CaseViewService", {})
    views["ViewCase"] = _unary(
        "CaseViewService",
        "ViewCase",
        lambda request, context: _view_case(door, care, cases, request, context),
    )
    views["WatchCases"] = grpc.unary_stream_rpc_method_handler(
        lambda request, context: _watch_cases(watcher, request, context),
        request_deserializer=pb.WatchCasesRequest.FromString,
        response_serializer=pb.WatchCasesResponse.SerializeToString,
    )
    return [
        grpc.method_handlers_generic_handler(f"{PACKAGE}.{service}", handlers)
        for service, handlers in methods.items()
    ]


def _view_case(
    door: RouteDoor,
    care: CareConfig,
    cases: CaseClient,
    request: services_pb2.ViewCaseRequest,
    context: grpc.ServicerContext,
) -> services_pb2.ViewCaseResponse:
    """GET /v1/cases/{case_id} answers `case_json(read_case(...))`; the message carries the
    case itself, from the same read (routing's CaseService, the caller's brands), with the
    route's permission and its constraint on the id."""
    try:
        principal = door.principal(context, "GET", CASE)
        case_id = door.bridge.validate("GET", CASE, "case_id", request.case_id)
        case = read_case(cases, case_id, BrandScope.of(care, principal))
        return services_pb2.ViewCaseResponse(case=case)
    except Exception as exc:
        abort_call(context, exc, method="CaseViewService.ViewCase")


def _watch_cases(
    watcher: CaseWatcher | None,
    request: services_pb2.WatchCasesRequest,
    context: grpc.ServicerContext,
) -> Iterator[services_pb2.WatchCasesResponse]:
    if watcher is None:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "this gateway does not follow care.cases")
    yield from watcher.watch(request, context)
