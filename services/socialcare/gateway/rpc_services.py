"""The gateway's gRPC services beside AgentService: everything the console and the REST
API do (`services.proto`: CaseViewService, EscalationService, ReportingService,
AccountService, AuthService, WebhookService, and AgentService's ListAgents and
ListSpecialists).

Each method runs the REST route it documents through `gateway.rpc_bridge.RouteBridge`: the
route's handler with the route's own parameter constraints and permission, so there is one
implementation of every rule. A request's empty string or 0 means "not given" (proto3 has
no absent scalar): the route's default applies, as when a REST client leaves the
parameter out. Where the route answers a JSON document the message carries it as a
`google.protobuf.Struct` (its numbers are doubles, as in any JSON).

Credentials as AgentService's: `authorization: Bearer <access token or API key>` metadata
(`core.auth.grpc_auth`); AuthService.IssueToken needs none. Errors: `core.errors.abort_call`
(INVALID_ARGUMENT naming the field for 422, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
NOT_FOUND 404, FAILED_PRECONDITION 409, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, ...).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

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
from socialcare.v1 import services_pb2, services_pb2_grpc

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


class CaseViewServicer(services_pb2_grpc.CaseViewServiceServicer):
    """CaseViewService's reads; WatchCases through `watcher` (`gateway.rpc_watch`)."""

    def __init__(
        self,
        door: RouteDoor,
        *,
        care: CareConfig,
        cases: CaseClient,
        watcher: CaseWatcher | None = None,
    ) -> None:
        self._door = door
        self._care = care
        self._cases = cases
        self._watcher = watcher

    def ViewCase(  # noqa: N802 (the proto names the method)
        self, request: services_pb2.ViewCaseRequest, context: grpc.ServicerContext
    ) -> services_pb2.ViewCaseResponse:
        try:
            # The route answers `case_json(read_case(...))`; the message carries the case
            # itself, from the same read (routing's CaseService, the caller's brands).
            principal = self._door.principal(context, "GET", CASE)
            case_id = self._door.bridge.validate("GET", CASE, "case_id", request.case_id)
            case = read_case(self._cases, case_id, BrandScope.of(self._care, principal))
            return services_pb2.ViewCaseResponse(case=case)
        except Exception as exc:
            abort_call(context, exc, method="CaseViewService.ViewCase")

    def QueryCases(  # noqa: N802
        self, request: services_pb2.QueryCasesRequest, context: grpc.ServicerContext
    ) -> services_pb2.QueryCasesResponse:
        try:
            found = self._door.run(
                context,
                "GET",
                "/v1/cases",
                **given(
                    status=request.status,
                    language=request.language,
                    queue=request.queue,
                    assignee=request.assignee,
                    limit=request.limit,
                    offset=request.offset,
                ),
            )
            return services_pb2.QueryCasesResponse(
                total=found["total"], cases=structs(found["cases"])
            )
        except Exception as exc:
            abort_call(context, exc, method="CaseViewService.QueryCases")

    def SearchCases(  # noqa: N802
        self, request: services_pb2.SearchCasesRequest, context: grpc.ServicerContext
    ) -> services_pb2.SearchCasesResponse:
        try:
            found = self._door.run(
                context,
                "GET",
                "/v1/search",
                q=request.q,
                **given(
                    index=request.index,
                    language=request.language,
                    limit=request.limit,
                    offset=request.offset,
                ),
            )
            return services_pb2.SearchCasesResponse(
                total=found["total"],
                hits=[
                    services_pb2.SearchHit(
                        id=hit["id"], score=hit["score"], document=struct(hit["document"])
                    )
                    for hit in found["hits"]
                ],
            )
        except Exception as exc:
            abort_call(context, exc, method="CaseViewService.SearchCases")

    def ListCannedAnswers(  # noqa: N802
        self, request: services_pb2.ListCannedAnswersRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListCannedAnswersResponse:
        try:
            found = self._door.run(
                context,
                "GET",
                CASE + "/canned-answers",
                case_id=request.case_id,
                **given(agent=request.agent),
            )
            response = services_pb2.ListCannedAnswersResponse()
            for answer in found:
                json_format.ParseDict(
                    {k: v for k, v in answer.items() if v is not None}, response.answers.add()
                )
            return response
        except Exception as exc:
            abort_call(context, exc, method="CaseViewService.ListCannedAnswers")

    def ListQueues(  # noqa: N802
        self, request: services_pb2.ListQueuesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListQueuesResponse:
        try:
            found = self._door.run(context, "GET", "/v1/queues")
            return services_pb2.ListQueuesResponse(
                queues=[services_pb2.Queue(name=q["name"], languages=q["languages"]) for q in found]
            )
        except Exception as exc:
            abort_call(context, exc, method="CaseViewService.ListQueues")

    def WatchCases(  # noqa: N802
        self, request: services_pb2.WatchCasesRequest, context: grpc.ServicerContext
    ) -> Iterator[services_pb2.WatchCasesResponse]:
        if self._watcher is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "this gateway does not follow care.cases")
        yield from self._watcher.watch(request, context)


class EscalationServicer(services_pb2_grpc.EscalationServiceServicer):
    def __init__(self, door: RouteDoor) -> None:
        self._door = door

    def EscalateCase(  # noqa: N802
        self, request: services_pb2.EscalateCaseRequest, context: grpc.ServicerContext
    ) -> services_pb2.EscalateCaseResponse:
        try:
            accepted = self._door.run(
                context,
                "POST",
                CASE + "/escalations",
                case_id=request.case_id,
                body={
                    "agent": request.agent,
                    "reason": request.reason,
                    **given(tier=request.tier),
                },
                **given(idempotency_key=request.idempotency_key),
            )
            return services_pb2.EscalateCaseResponse(
                command_id=accepted["command_id"], case_id=accepted["case_id"]
            )
        except Exception as exc:
            abort_call(context, exc, method="EscalationService.EscalateCase")

    def ListEscalations(  # noqa: N802
        self, request: services_pb2.ListEscalationsRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListEscalationsResponse:
        try:
            found = self._door.run(
                context,
                "GET",
                "/v1/escalations",
                **given(
                    status=request.status,
                    case_id=request.case_id,
                    trigger=request.trigger,
                    tier=request.tier,
                    limit=request.limit,
                    offset=request.offset,
                ),
            )
            return services_pb2.ListEscalationsResponse(
                total=found["total"], escalations=structs(found["escalations"])
            )
        except Exception as exc:
            abort_call(context, exc, method="EscalationService.ListEscalations")

    def AcknowledgeEscalation(  # noqa: N802
        self, request: services_pb2.AcknowledgeEscalationRequest, context: grpc.ServicerContext
    ) -> services_pb2.AcknowledgeEscalationResponse:
        try:
            accepted = self._door.run(
                context,
                "POST",
                "/v1/escalations/{escalation_id}/acknowledge",
                escalation_id=request.escalation_id,
            )
            return services_pb2.AcknowledgeEscalationResponse(
                command_id=accepted["command_id"], case_id=accepted["case_id"]
            )
        except Exception as exc:
            abort_call(context, exc, method="EscalationService.AcknowledgeEscalation")

    def ResolveEscalation(  # noqa: N802
        self, request: services_pb2.ResolveEscalationRequest, context: grpc.ServicerContext
    ) -> services_pb2.ResolveEscalationResponse:
        try:
            accepted = self._door.run(
                context,
                "POST",
                "/v1/escalations/{escalation_id}/resolve",
                escalation_id=request.escalation_id,
                body=given(note=request.note),
            )
            return services_pb2.ResolveEscalationResponse(
                command_id=accepted["command_id"], case_id=accepted["case_id"]
            )
        except Exception as exc:
            abort_call(context, exc, method="EscalationService.ResolveEscalation")


class ReportingServicer(services_pb2_grpc.ReportingServiceServicer):
    def __init__(self, door: RouteDoor) -> None:
        self._door = door

    def GetSlaReport(  # noqa: N802
        self, request: services_pb2.GetSlaReportRequest, context: grpc.ServicerContext
    ) -> services_pb2.GetSlaReportResponse:
        try:
            report = self._door.run(
                context,
                "GET",
                "/v1/reports/sla",
                **given(
                    from_=getattr(request, "from"),
                    to=request.to,
                    group_by=request.group_by,
                    clock_=request.clock,
                    language=request.language,
                    brand=request.brand,
                ),
            )
            return services_pb2.GetSlaReportResponse(report=struct(report))
        except Exception as exc:
            abort_call(context, exc, method="ReportingService.GetSlaReport")

    def GetSatisfactionReport(  # noqa: N802
        self, request: services_pb2.GetSatisfactionReportRequest, context: grpc.ServicerContext
    ) -> services_pb2.GetSatisfactionReportResponse:
        try:
            report = self._door.run(
                context,
                "GET",
                "/v1/reports/satisfaction",
                **given(
                    from_=getattr(request, "from"),
                    to=request.to,
                    group_by=request.group_by,
                    brand=request.brand,
                ),
            )
            return services_pb2.GetSatisfactionReportResponse(report=struct(report))
        except Exception as exc:
            abort_call(context, exc, method="ReportingService.GetSatisfactionReport")

    def GetWall(  # noqa: N802
        self, request: services_pb2.GetWallRequest, context: grpc.ServicerContext
    ) -> services_pb2.GetWallResponse:
        try:
            wall = self._door.run(context, "GET", "/v1/wall")
            return services_pb2.GetWallResponse(wall=struct(wall))
        except Exception as exc:
            abort_call(context, exc, method="ReportingService.GetWall")


class AccountServicer(services_pb2_grpc.AccountServiceServicer):
    def __init__(self, door: RouteDoor) -> None:
        self._door = door

    def GetMe(  # noqa: N802
        self, request: services_pb2.GetMeRequest, context: grpc.ServicerContext
    ) -> services_pb2.GetMeResponse:
        try:
            me = self._door.run(context, "GET", "/v1/me")
            return services_pb2.GetMeResponse(principal=struct(me))
        except Exception as exc:
            abort_call(context, exc, method="AccountService.GetMe")

    def ListUsers(  # noqa: N802
        self, request: services_pb2.ListUsersRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListUsersResponse:
        try:
            found = self._door.run(context, "GET", "/v1/users")
            return services_pb2.ListUsersResponse(users=structs(found["users"]))
        except Exception as exc:
            abort_call(context, exc, method="AccountService.ListUsers")

    def GetUser(  # noqa: N802
        self, request: services_pb2.GetUserRequest, context: grpc.ServicerContext
    ) -> services_pb2.GetUserResponse:
        try:
            user = self._door.run(context, "GET", "/v1/users/{user_id}", user_id=request.user_id)
            return services_pb2.GetUserResponse(user=struct(user))
        except Exception as exc:
            abort_call(context, exc, method="AccountService.GetUser")

    def CreateUser(  # noqa: N802
        self, request: services_pb2.CreateUserRequest, context: grpc.ServicerContext
    ) -> services_pb2.CreateUserResponse:
        try:
            user = self._door.run(
                context, "POST", "/v1/users", body=json_format.MessageToDict(request.user)
            )
            return services_pb2.CreateUserResponse(user=struct(user))
        except Exception as exc:
            abort_call(context, exc, method="AccountService.CreateUser")

    def UpdateUser(  # noqa: N802
        self, request: services_pb2.UpdateUserRequest, context: grpc.ServicerContext
    ) -> services_pb2.UpdateUserResponse:
        try:
            user = self._door.run(
                context,
                "PATCH",
                "/v1/users/{user_id}",
                user_id=request.user_id,
                body=json_format.MessageToDict(request.changes),
            )
            return services_pb2.UpdateUserResponse(user=struct(user))
        except Exception as exc:
            abort_call(context, exc, method="AccountService.UpdateUser")

    def ListApiKeys(  # noqa: N802
        self, request: services_pb2.ListApiKeysRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListApiKeysResponse:
        try:
            found = self._door.run(context, "GET", "/v1/api-keys")
            return services_pb2.ListApiKeysResponse(api_keys=structs(found["api_keys"]))
        except Exception as exc:
            abort_call(context, exc, method="AccountService.ListApiKeys")

    def CreateApiKey(  # noqa: N802
        self, request: services_pb2.CreateApiKeyRequest, context: grpc.ServicerContext
    ) -> services_pb2.CreateApiKeyResponse:
        try:
            created = self._door.run(
                context,
                "POST",
                "/v1/api-keys",
                body={
                    "name": request.name,
                    "brand": request.brand,
                    "permissions": list(request.permissions),
                },
            )
            return services_pb2.CreateApiKeyResponse(api_key=struct(created))
        except Exception as exc:
            abort_call(context, exc, method="AccountService.CreateApiKey")

    def RevokeApiKey(  # noqa: N802
        self, request: services_pb2.RevokeApiKeyRequest, context: grpc.ServicerContext
    ) -> services_pb2.RevokeApiKeyResponse:
        try:
            self._door.run(context, "DELETE", "/v1/api-keys/{key_id}", key_id=request.key_id)
            return services_pb2.RevokeApiKeyResponse()
        except Exception as exc:
            abort_call(context, exc, method="AccountService.RevokeApiKey")


class AuthServicer(services_pb2_grpc.AuthServiceServicer):
    def __init__(self, door: RouteDoor) -> None:
        self._door = door

    def IssueToken(  # noqa: N802
        self, request: services_pb2.IssueTokenRequest, context: grpc.ServicerContext
    ) -> services_pb2.IssueTokenResponse:
        try:
            token = self._door.run(
                context,
                "POST",
                "/v1/auth/token",
                username=request.username,
                password=request.password,
            )
            return services_pb2.IssueTokenResponse(
                access_token=token["access_token"],
                token_type=token["token_type"],
                expires_in=token["expires_in"],
            )
        except Exception as exc:
            abort_call(context, exc, method="AuthService.IssueToken")


WEBHOOK = "/v1/webhooks/{webhook_id}"


class WebhookServicer(services_pb2_grpc.WebhookServiceServicer):
    """WebhookService: the REST webhook routes (`webhooks.api`), `manage_webhooks`."""

    def __init__(self, door: RouteDoor) -> None:
        self._door = door

    def CreateWebhook(  # noqa: N802
        self, request: services_pb2.CreateWebhookRequest, context: grpc.ServicerContext
    ) -> services_pb2.CreateWebhookResponse:
        try:
            body: dict[str, Any] = {
                "url": request.url,
                "event_types": list(request.event_types),
                "description": request.description,
                **given(brand=request.brand),
            }
            if request.HasField("active"):
                body["active"] = request.active
            created = self._door.run(context, "POST", "/v1/webhooks", body=body)
            return services_pb2.CreateWebhookResponse(webhook=struct(created))
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.CreateWebhook")

    def ListWebhooks(  # noqa: N802
        self, request: services_pb2.ListWebhooksRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListWebhooksResponse:
        try:
            found = self._door.run(context, "GET", "/v1/webhooks")
            return services_pb2.ListWebhooksResponse(webhooks=structs(found["webhooks"]))
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.ListWebhooks")

    def GetWebhook(  # noqa: N802
        self, request: services_pb2.GetWebhookRequest, context: grpc.ServicerContext
    ) -> services_pb2.GetWebhookResponse:
        try:
            found = self._door.run(context, "GET", WEBHOOK, webhook_id=request.webhook_id)
            return services_pb2.GetWebhookResponse(webhook=struct(found))
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.GetWebhook")

    def UpdateWebhook(  # noqa: N802
        self, request: services_pb2.UpdateWebhookRequest, context: grpc.ServicerContext
    ) -> services_pb2.UpdateWebhookResponse:
        try:
            changed = self._door.run(
                context,
                "PATCH",
                WEBHOOK,
                webhook_id=request.webhook_id,
                body=json_format.MessageToDict(request.changes),
            )
            return services_pb2.UpdateWebhookResponse(webhook=struct(changed))
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.UpdateWebhook")

    def DeleteWebhook(  # noqa: N802
        self, request: services_pb2.DeleteWebhookRequest, context: grpc.ServicerContext
    ) -> services_pb2.DeleteWebhookResponse:
        try:
            self._door.run(context, "DELETE", WEBHOOK, webhook_id=request.webhook_id)
            return services_pb2.DeleteWebhookResponse()
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.DeleteWebhook")

    def RotateWebhookSecret(  # noqa: N802
        self, request: services_pb2.RotateWebhookSecretRequest, context: grpc.ServicerContext
    ) -> services_pb2.RotateWebhookSecretResponse:
        try:
            secret = self._door.run(
                context, "POST", WEBHOOK + "/rotate-secret", webhook_id=request.webhook_id
            )
            return services_pb2.RotateWebhookSecretResponse(secret=struct(secret))
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.RotateWebhookSecret")

    def ListWebhookDeliveries(  # noqa: N802
        self, request: services_pb2.ListWebhookDeliveriesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListWebhookDeliveriesResponse:
        try:
            page = self._door.run(
                context,
                "GET",
                WEBHOOK + "/deliveries",
                webhook_id=request.webhook_id,
                **given(state=request.state, limit=request.limit, cursor=request.cursor),
            )
            return services_pb2.ListWebhookDeliveriesResponse(page=struct(page))
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.ListWebhookDeliveries")

    def GetWebhookDelivery(  # noqa: N802
        self, request: services_pb2.GetWebhookDeliveryRequest, context: grpc.ServicerContext
    ) -> services_pb2.GetWebhookDeliveryResponse:
        try:
            delivery = self._door.run(
                context,
                "GET",
                WEBHOOK + "/deliveries/{delivery_id}",
                webhook_id=request.webhook_id,
                delivery_id=request.delivery_id,
            )
            return services_pb2.GetWebhookDeliveryResponse(delivery=struct(delivery))
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.GetWebhookDelivery")

    def ReplayDeadDeliveries(  # noqa: N802
        self, request: services_pb2.ReplayDeadDeliveriesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ReplayDeadDeliveriesResponse:
        try:
            accepted = self._door.run(
                context,
                "POST",
                WEBHOOK + "/deliveries/replay",
                webhook_id=request.webhook_id,
                body={"delivery_ids": list(request.delivery_ids)},
            )
            return services_pb2.ReplayDeadDeliveriesResponse(
                command_id=accepted["command_id"], subscription_id=accepted["subscription_id"]
            )
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.ReplayDeadDeliveries")

    def ReplayWebhookEvents(  # noqa: N802
        self, request: services_pb2.ReplayWebhookEventsRequest, context: grpc.ServicerContext
    ) -> services_pb2.ReplayWebhookEventsResponse:
        try:
            body: dict[str, Any] = {}
            if request.HasField("since"):
                body["since"] = request.since.ToJsonString()
            if request.HasField("until"):
                body["until"] = request.until.ToJsonString()
            accepted = self._door.run(
                context, "POST", WEBHOOK + "/replay", webhook_id=request.webhook_id, body=body
            )
            return services_pb2.ReplayWebhookEventsResponse(
                command_id=accepted["command_id"], subscription_id=accepted["subscription_id"]
            )
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.ReplayWebhookEvents")

    def PingWebhook(  # noqa: N802
        self, request: services_pb2.PingWebhookRequest, context: grpc.ServicerContext
    ) -> services_pb2.PingWebhookResponse:
        try:
            accepted = self._door.run(
                context, "POST", WEBHOOK + "/ping", webhook_id=request.webhook_id
            )
            return services_pb2.PingWebhookResponse(
                delivery_id=accepted["delivery_id"], subscription_id=accepted["subscription_id"]
            )
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.PingWebhook")

    def ListWebhookEventTypes(  # noqa: N802
        self, request: services_pb2.ListWebhookEventTypesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListWebhookEventTypesResponse:
        try:
            catalogue = self._door.run(context, "GET", "/v1/webhooks/event-types")
            return services_pb2.ListWebhookEventTypesResponse(catalogue=struct(catalogue))
        except Exception as exc:
            abort_call(context, exc, method="WebhookService.ListWebhookEventTypes")


class AuditServicer(services_pb2_grpc.AuditServiceServicer):
    """AuditService: GET /v1/audit (`manage`)."""

    def __init__(self, door: RouteDoor) -> None:
        self._door = door

    def QueryAuditLog(  # noqa: N802
        self, request: services_pb2.QueryAuditLogRequest, context: grpc.ServicerContext
    ) -> services_pb2.QueryAuditLogResponse:
        try:
            page = self._door.run(
                context,
                "GET",
                "/v1/audit",
                **given(
                    actor=request.actor,
                    action=request.action,
                    target=request.target,
                    brand=request.brand,
                    outcome=request.outcome,
                    via=request.via,
                    limit=request.limit,
                    cursor=request.cursor,
                ),
                **_times(request, "since", "until"),
            )
            return services_pb2.QueryAuditLogResponse(
                records=structs(page["records"]),
                next_cursor=page.get("next_cursor") or "",
                total=page.get("total") or 0,
            )
        except Exception as exc:
            abort_call(context, exc, method="AuditService.QueryAuditLog")


class ErasureServicer(services_pb2_grpc.ErasureServiceServicer):
    """ErasureService: the REST erasure routes (`manage`)."""

    def __init__(self, door: RouteDoor) -> None:
        self._door = door

    def EraseCustomer(  # noqa: N802
        self, request: services_pb2.EraseCustomerRequest, context: grpc.ServicerContext
    ) -> services_pb2.EraseCustomerResponse:
        try:
            erasure = self._door.run(
                context,
                "POST",
                "/v1/privacy/erasures",
                body={
                    "brand": request.brand,
                    "identities": list(request.identities),
                    **given(
                        email=request.email,
                        phone=request.phone,
                        handle=request.handle,
                        crm_id=request.crm_id,
                    ),
                },
            )
            return services_pb2.EraseCustomerResponse(erasure=struct(erasure))
        except Exception as exc:
            abort_call(context, exc, method="ErasureService.EraseCustomer")

    def GetErasure(  # noqa: N802
        self, request: services_pb2.GetErasureRequest, context: grpc.ServicerContext
    ) -> services_pb2.GetErasureResponse:
        try:
            report = self._door.run(
                context,
                "GET",
                "/v1/privacy/erasures/{erasure_id}",
                erasure_id=request.erasure_id,
            )
            return services_pb2.GetErasureResponse(report=struct(report))
        except Exception as exc:
            abort_call(context, exc, method="ErasureService.GetErasure")

    def ListErasures(  # noqa: N802
        self, request: services_pb2.ListErasuresRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListErasuresResponse:
        try:
            page = self._door.run(
                context,
                "GET",
                "/v1/privacy/erasures",
                **given(brand=request.brand, status=request.status, limit=request.limit),
            )
            return services_pb2.ListErasuresResponse(page=struct(page))
        except Exception as exc:
            abort_call(context, exc, method="ErasureService.ListErasures")


def _times(request: Any, *names: str) -> dict[str, Any]:
    """The request's set Timestamp fields as RFC 3339 text (what a REST client sends)."""
    return {name: getattr(request, name).ToJsonString() for name in names if request.HasField(name)}
