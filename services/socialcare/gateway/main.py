"""Wiring of the gateway: its REST routes, sign-in and accounts, the console, webhook
subscriptions, the audit log and erasures, its gRPC services (the REST routes' handlers over
gRPC, and WatchCases), and the clients for routing's CaseService and PrivacyService.

The gateway has no consumer loop: it reads through search and routing and writes commands.
Its components are the CaseService and ReportService clients (closed on shutdown, after the
HTTP server has drained), the AgentService gRPC server (unless
SOCIALCARE_GATEWAY_GRPC_ADDRESS is empty) and the console's follower of care.cases (live
inbox and wall). REST and gRPC share one `Actions`: one code path for every agent action.
"""

from __future__ import annotations

from socialcare.console.board import CaseBoard
from socialcare.console.routes import console_parts
from socialcare.core.audit import AuditInterceptor, AuditLog, AuditSettings, install_audit
from socialcare.core.auth.grpc_auth import grpc_principal
from socialcare.core.auth.service_auth import service_token
from socialcare.core.runtime import Component, Runtime, ServiceParts
from socialcare.gateway.actions import Actions
from socialcare.gateway.agents import agents_router
from socialcare.gateway.api import router
from socialcare.gateway.asyncapi_api import asyncapi_router
from socialcare.gateway.audit_api import audit_router
from socialcare.gateway.auth_api import auth_router
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.escalations import escalations_router
from socialcare.gateway.intent_report import intent_report_router
from socialcare.gateway.privacy_api import (
    ErasureBook,
    ErasureFollower,
    PrivacyClient,
    PrivacySettings,
    privacy_router,
)
from socialcare.gateway.reports import ReportClient, reports_router, satisfaction_router
from socialcare.gateway.rpc import gateway_grpc_server
from socialcare.gateway.settings import GatewaySettings
from socialcare.gateway.wall_api import wall_router
from socialcare.webhooks.api import webhooks_router
from socialcare.webhooks.delivery_log import DeliveryLog, DeliveryLogFollower
from socialcare.webhooks.settings import WebhookSettings
from socialcare.webhooks.subscriptions import SubscriptionsFollower, load_subscriptions


def parts(runtime: Runtime, settings: GatewaySettings | None = None) -> ServiceParts:
    """The gateway's routes and components on this runtime's shared backends.

    Opens the search index and the shared producer now rather than on the first request:
    the runtime's lazy backends are not safe to open from concurrent request threads.
    """
    settings = settings or GatewaySettings.from_platform(runtime.settings)
    authenticator = runtime.auth().authenticator
    # Routing's and sla's servers refuse a call without a credential (ADR 0014): one service
    # token, renewed before it expires, travels with every call of the three clients.
    credential = service_token(authenticator, "gateway").metadata
    cases = CaseClient(
        settings.case_grpc_targets, timeout_s=settings.case_rpc_timeout_s, credential=credential
    )
    reports = ReportClient(
        settings.sla_grpc_targets, timeout_s=settings.sla_rpc_timeout_s, credential=credential
    )
    actions = Actions(care=runtime.care, producer=runtime.producer, cases=cases)
    # Every action is audited before its answer goes out (ADR 0012).
    audit_settings = AuditSettings()
    proxies = audit_settings.proxies()
    audit = AuditLog(runtime.producer, source="gateway", timeout_s=audit_settings.audit_timeout_s)
    privacy = PrivacyClient(
        settings.case_grpc_targets,
        timeout_s=max(settings.case_rpc_timeout_s, 5.0),
        credential=credential,
    )
    erasures = ErasureBook()
    api = router(
        care=runtime.care,
        search=runtime.search,
        producer=runtime.producer,
        cases=cases,
        actions=actions,
    )
    escalations = escalations_router(
        care=runtime.care, search=runtime.search, producer=runtime.producer, cases=cases
    )
    # One board: the console's live inbox and the gRPC WatchCases stream read the same one.
    board = CaseBoard(runtime.care)
    console = console_parts(runtime, cases=cases, board=board)
    components: list[Component] = [cases, reports, privacy, ErasureFollower(runtime.bus, erasures)]

    hooks = WebhookSettings.from_platform(runtime.settings)
    subscriptions, subscriptions_end = load_subscriptions(runtime.bus, runtime.producer)
    delivery_log = DeliveryLog()
    webhooks = webhooks_router(
        care=runtime.care,
        subscriptions=subscriptions,
        delivery_log=delivery_log,
        producer=runtime.producer,
        allow_http=hooks.webhook_allow_http,
        allow_private_targets=hooks.webhook_allow_private_targets,
    )
    components += [
        SubscriptionsFollower(runtime.bus, subscriptions, subscriptions_end),
        DeliveryLogFollower(runtime.bus, delivery_log),
    ]

    routers = [
        escalations,
        api,
        agents_router(care=runtime.care, cases=cases, actions=actions),
        reports_router(care=runtime.care, reports=reports),
        satisfaction_router(care=runtime.care, cases=cases),
        intent_report_router(care=runtime.care, search=runtime.search),
        auth_router(runtime.auth()),
        webhooks,
        asyncapi_router(),
        audit_router(runtime.search),
        privacy_router(
            care=runtime.care,
            producer=runtime.producer,
            privacy=privacy,
            book=erasures,
            settings=PrivacySettings(),
        ),
        wall_router(care=runtime.care, board=board),
        *console.routers,
    ]
    if settings.gateway_grpc_address.strip():
        components.append(
            gateway_grpc_server(
                address=settings.gateway_grpc_address.strip(),
                actions=actions,
                authenticator=authenticator,
                routers=routers,
                care=runtime.care,
                cases=cases,
                board=board,
                workers=settings.gateway_grpc_workers,
                max_watches=settings.gateway_watch_max,
                watch_keepalive_s=settings.gateway_watch_keepalive_s,
                interceptors=[
                    AuditInterceptor(
                        audit, proxies, lambda context: grpc_principal(authenticator, context)
                    )
                ],
            )
        )
    return ServiceParts(
        components=[*components, *console.components],
        routers=routers,
        installers=[lambda app: install_audit(app, audit, proxies)],
    )
