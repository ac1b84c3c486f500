"""Wiring of the gateway: its REST routes, sign-in and accounts, the console, and the
client for routing's CaseService.

The gateway has no consumer loop: it reads through search and routing and writes commands.
Its components are the CaseService and ReportService clients (closed on shutdown, after the
HTTP server has drained) and the console's follower of care.cases (live inbox and wall).
"""

from __future__ import annotations

from socialcare.console.routes import console_parts
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.gateway.api import router
from socialcare.gateway.auth_api import auth_router
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.escalations import escalations_router
from socialcare.gateway.reports import ReportClient, reports_router
from socialcare.gateway.settings import GatewaySettings


def parts(runtime: Runtime, settings: GatewaySettings | None = None) -> ServiceParts:
    """The gateway's routes and components on this runtime's shared backends.

    Opens the search index and the shared producer now rather than on the first request:
    the runtime's lazy backends are not safe to open from concurrent request threads.
    """
    settings = settings or GatewaySettings.from_platform(runtime.settings)
    cases = CaseClient(settings.case_grpc_targets, timeout_s=settings.case_rpc_timeout_s)
    reports = ReportClient(settings.sla_grpc_targets, timeout_s=settings.sla_rpc_timeout_s)
    api = router(care=runtime.care, search=runtime.search, producer=runtime.producer, cases=cases)
    escalations = escalations_router(
        care=runtime.care, search=runtime.search, producer=runtime.producer, cases=cases
    )
    console = console_parts(runtime, cases=cases)
    return ServiceParts(
        components=[cases, reports, *console.components],
        routers=[
            escalations,
            api,
            reports_router(care=runtime.care, reports=reports),
            auth_router(runtime.auth()),
            *console.routers,
        ],
    )
