"""Wiring of the gateway: its REST routes, sign-in and accounts, the console, the gRPC
AgentService, and the client for routing's CaseService.

The gateway has no consumer loop: it reads through search and routing and writes commands.
Its components are the CaseService and ReportService clients (closed on shutdown, after the
HTTP server has drained), the AgentService gRPC server (unless
SOCIALCARE_GATEWAY_GRPC_ADDRESS is empty) and the console's follower of care.cases (live
inbox and wall). REST and gRPC share one `Actions`: one code path for every agent action.
"""

from __future__ import annotations

from socialcare.console.routes import console_parts
from socialcare.core.runtime import Component, Runtime, ServiceParts
from socialcare.gateway.actions import Actions
from socialcare.gateway.agents import agents_router
from socialcare.gateway.api import router
from socialcare.gateway.auth_api import auth_router
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.escalations import escalations_router
from socialcare.gateway.reports import ReportClient, reports_router, satisfaction_router
from socialcare.gateway.rpc import AgentGrpcServer, AgentServicer
from socialcare.gateway.settings import GatewaySettings


def parts(runtime: Runtime, settings: GatewaySettings | None = None) -> ServiceParts:
    """The gateway's routes and components on this runtime's shared backends.

    Opens the search index and the shared producer now rather than on the first request:
    the runtime's lazy backends are not safe to open from concurrent request threads.
    """
    settings = settings or GatewaySettings.from_platform(runtime.settings)
    cases = CaseClient(settings.case_grpc_targets, timeout_s=settings.case_rpc_timeout_s)
    reports = ReportClient(settings.sla_grpc_targets, timeout_s=settings.sla_rpc_timeout_s)
    actions = Actions(care=runtime.care, producer=runtime.producer, cases=cases)
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
    console = console_parts(runtime, cases=cases)
    components: list[Component] = [cases, reports]
    if settings.gateway_grpc_address.strip():
        servicer = AgentServicer(actions, runtime.auth().authenticator)
        components.append(
            AgentGrpcServer(
                servicer,
                settings.gateway_grpc_address.strip(),
                workers=settings.gateway_grpc_workers,
            )
        )
    return ServiceParts(
        components=[*components, *console.components],
        routers=[
            escalations,
            api,
            agents_router(care=runtime.care, cases=cases, actions=actions),
            reports_router(care=runtime.care, reports=reports),
            satisfaction_router(care=runtime.care, cases=cases),
            auth_router(runtime.auth()),
            *console.routers,
        ],
    )
