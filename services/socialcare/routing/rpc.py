"""routing's gRPC services: the CaseService (the authoritative read of one case, for the
gateway) and, on the same server, the PrivacyService (a customer's cases, for erasure).

Every call needs a credential (ADR 0014): the server's `ServiceCallGuard` checks it before
any servicer runs. The gateway sends a service token; a user's token is taken for the
CaseService with `read_cases` and for the PrivacyService with `manage`, both for every
brand (`USER_PERMISSIONS`), as these services answer for every brand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import grpc

from socialcare.core.auth.principal import Permission
from socialcare.core.auth.service_auth import ServiceCallGuard
from socialcare.core.clock import from_timestamp
from socialcare.core.grpc_server import GrpcServer
from socialcare.routing.assigner_processor import AssignerProcessor
from socialcare.routing.assignment import Assigner
from socialcare.routing.processor import CaseProcessor, PartitionNotOwnedError
from socialcare.v1 import (
    case_pb2,
    privacy_pb2,
    privacy_pb2_grpc,
    services_pb2,
    services_pb2_grpc,
)


class CaseServicer(services_pb2_grpc.CaseServiceServicer):
    """Answers from the case books of the partitions this instance owns.

    With N routing instances each owns some partitions; the gateway asks all of them. For a
    case whose partition is not ours we answer FAILED_PRECONDITION (not NOT_FOUND), so the
    gateway can tell "no such case" from "ask the owner" and, during a rebalance when
    nobody owns it yet, answer "retry" instead of a wrong 404.
    """

    def __init__(
        self,
        cases: CaseProcessor,
        *,
        assigner: AssignerProcessor | None = None,
    ) -> None:
        self._cases = cases
        self._assigner = assigner

    def GetCase(  # noqa: N802 (gRPC method name)
        self, request: services_pb2.GetCaseRequest, context: grpc.ServicerContext
    ) -> case_pb2.Case:
        try:
            found = self._cases.get_case(request.case_id)
        except PartitionNotOwnedError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"case {request.case_id} not found")
        return found

    def ListCases(  # noqa: N802
        self, request: services_pb2.ListCasesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListCasesResponse:
        limit = request.limit if 0 < request.limit <= 1000 else 100
        cases = self._cases.list_cases(
            status=request.status, language=request.language, queue=request.queue, limit=limit
        )
        return services_pb2.ListCasesResponse(cases=cases)

    def ListAgentStates(  # noqa: N802
        self, request: services_pb2.ListAgentStatesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListAgentStatesResponse:
        """Every configured agent as the assigner sees them, and the backlog per queue. Only
        the instance that holds the assigner's partition knows; the others say so with
        FAILED_PRECONDITION, so the gateway asks the next instance."""
        found = None
        if self._assigner is not None:
            now = self._assigner.now()
            found = self._assigner.read(lambda a: None if a is None else agent_states(a, now))
        if found is None:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "this instance does not run the assigner"
            )
        return found

    def SatisfactionReport(  # noqa: N802
        self, request: services_pb2.SatisfactionReportRequest, context: grpc.ServicerContext
    ) -> services_pb2.SatisfactionReportResponse:
        """The survey tallies of the cases in the partitions this instance owns; the
        gateway adds up every instance's rows."""
        rows = self._cases.satisfaction(
            since=from_timestamp(getattr(request, "from")) if request.HasField("from") else None,
            until=from_timestamp(request.to) if request.HasField("to") else None,
            brands=list(request.brands),
        )
        return services_pb2.SatisfactionReportResponse(rows=rows)


def agent_states(assigner: Assigner, now: datetime) -> services_pb2.ListAgentStatesResponse:
    """The ListAgentStates answer from the assigner's state (the caller holds its lock)."""
    response = services_pb2.ListAgentStatesResponse()
    for agent in assigner.care.agents:
        status = response.agents.add(
            agent=agent.id,
            presence=assigner.presence_of(agent.id),
            load=assigner.load_of(agent.id),
            on_shift=assigner.on_shift(agent, now),
        )
        status.load_by_channel.update(assigner.load_by_channel(agent.id))
        state = assigner.agent_states.get(agent.id)
        if state is not None and state.HasField("presence_since"):
            status.presence_since.CopyFrom(state.presence_since)
        if state is not None and state.HasField("last_assigned_at"):
            status.last_assigned_at.CopyFrom(state.last_assigned_at)
    response.waiting_by_queue.update(assigner.waiting_by_queue())
    return response


USER_PERMISSIONS = {
    "socialcare.v1.CaseService": Permission.READ_CASES,
    "socialcare.v1.PrivacyService": Permission.MANAGE,
}
"""What a user's token needs, for every brand, to call routing's services directly (the
permissions of the gateway routes that read through them)."""


class CaseServer(GrpcServer):
    """The CaseService's gRPC server as a runtime Component; with `privacy`, the same server
    also serves the PrivacyService. `guard` refuses every call without a valid credential
    (`ServiceCallGuard`, normally with `USER_PERMISSIONS`)."""

    def __init__(
        self,
        servicer: CaseServicer,
        address: str,
        *,
        guard: ServiceCallGuard,
        workers: int = 8,
        privacy: PrivacyServicer | None = None,
    ) -> None:
        def register(server: grpc.Server) -> None:
            services_pb2_grpc.add_CaseServiceServicer_to_server(servicer, server)
            if privacy is not None:
                add_privacy_service(privacy)(server)

        super().__init__(
            "routing-case-service",
            address,
            register,
            service="CaseService",
            setting_hint="set SOCIALCARE_CASE_GRPC_ADDRESS to a free address",
            workers=workers,
            grace_s=2.0,
            interceptors=[guard],
        )


class PrivacyServicer(privacy_pb2_grpc.PrivacyServiceServicer):
    """Which cases hold a customer's identities, from the case books of the partitions this
    instance owns (the privacy API asks every routing instance and adds up the answers)."""

    def __init__(self, cases: CaseProcessor) -> None:
        self._cases = cases

    def FindCustomerCases(  # noqa: N802 (gRPC method name)
        self, request: privacy_pb2.FindCustomerCasesRequest, context: grpc.ServicerContext
    ) -> privacy_pb2.FindCustomerCasesResponse:
        if not request.brand:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a brand is required")
        if not any(identity.strip() for identity in request.identities):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "at least one identity is required")
        found = self._cases.find_customer_cases(request.brand, list(request.identities))
        return privacy_pb2.FindCustomerCasesResponse(
            cases=[
                privacy_pb2.CustomerCase(case_id=case_id, matched=matched)
                for case_id, matched in found
            ]
        )


def add_privacy_service(servicer: PrivacyServicer) -> Callable[[grpc.Server], None]:
    """What a `GrpcServer` registers to serve the PrivacyService beside the CaseService."""
    return lambda server: privacy_pb2_grpc.add_PrivacyServiceServicer_to_server(servicer, server)
