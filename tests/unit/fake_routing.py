"""A fake of routing's gRPC CaseService for the tests of its callers (gateway, console,
escalations), served on a free loopback port by `serve`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent import futures

import grpc

from socialcare.v1 import case_pb2, services_pb2, services_pb2_grpc


class FakeRouting(services_pb2_grpc.CaseServiceServicer):
    """routing's CaseService over `cases` (read on every call: a test may add cases while
    it serves).

    `agents`: what the assigner answers to ListAgentStates; None: this instance does not
    run the assigner (FAILED_PRECONDITION, as a real instance without it answers).
    `satisfaction`: the survey rows SatisfactionReport answers; the requests it got are in
    `satisfaction_requests`.
    """

    def __init__(
        self,
        cases: Mapping[str, case_pb2.Case],
        *,
        agents: services_pb2.ListAgentStatesResponse | None = None,
        satisfaction: Sequence[services_pb2.SatisfactionRow] = (),
    ) -> None:
        self.cases = cases
        self.agents = agents
        self.satisfaction = satisfaction
        self.satisfaction_requests: list[services_pb2.SatisfactionReportRequest] = []

    def GetCase(  # noqa: N802 (gRPC method name)
        self, request: services_pb2.GetCaseRequest, context: grpc.ServicerContext
    ) -> case_pb2.Case:
        case = self.cases.get(request.case_id)
        if case is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"case {request.case_id} not found")
        return case

    def ListCases(  # noqa: N802
        self, request: services_pb2.ListCasesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListCasesResponse:
        """As routing's: the cases matching the filters (empty = any), newest opened first
        (then by id), at most `limit` (100 when unset or out of bounds)."""
        limit = request.limit if 0 < request.limit <= 1000 else 100
        matching = [
            case
            for case in self.cases.values()
            if (not request.status or case.status == request.status)
            and (not request.language or case.language == request.language)
            and (not request.queue or case.queue == request.queue)
        ]
        matching.sort(key=lambda c: (c.opened_at.seconds, c.opened_at.nanos, c.id), reverse=True)
        return services_pb2.ListCasesResponse(cases=matching[:limit])

    def ListAgentStates(  # noqa: N802
        self, request: services_pb2.ListAgentStatesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListAgentStatesResponse:
        if self.agents is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the assigner runs elsewhere")
        return self.agents

    def SatisfactionReport(  # noqa: N802
        self, request: services_pb2.SatisfactionReportRequest, context: grpc.ServicerContext
    ) -> services_pb2.SatisfactionReportResponse:
        self.satisfaction_requests.append(request)
        return services_pb2.SatisfactionReportResponse(rows=list(self.satisfaction))


def serve(
    servicer: services_pb2_grpc.CaseServiceServicer, *, workers: int = 4
) -> tuple[grpc.Server, str]:
    """`servicer` served on a free loopback port: the started server and its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    services_pb2_grpc.add_CaseServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"
