"""Wiring for routing: the case loop, the assigner loop, the identity linker loop and the
gRPC CaseService.

Every routing instance runs all four; the consumer groups decide what each one does: the
`routing` group spreads the case partitions over the instances, the `routing-assigner`
group gives its single partition to one of them (ADR 0005), and the `routing-linker` group
its single partition of identity claims to one of them (ADR 0011).
"""

from __future__ import annotations

from socialcare.core.clock import utc_now
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.routing.assigner_processor import ASSIGNER_GROUP, AssignerProcessor
from socialcare.routing.linker import LINKER_GROUP, LinkerProcessor
from socialcare.routing.processor import CASE_GROUP, CaseProcessor
from socialcare.routing.rpc import CaseServer, CaseServicer


def parts(runtime: Runtime) -> ServiceParts:
    cases = CaseProcessor(runtime.care, runtime.bus, utc_now)
    assigner = AssignerProcessor(runtime.care, runtime.bus, utc_now)
    linker = LinkerProcessor(runtime.bus, utc_now)
    server = CaseServer(CaseServicer(cases, assigner=assigner), runtime.settings.case_grpc_address)
    return ServiceParts(
        components=[
            runtime.consumer_loop(CASE_GROUP, cases),
            runtime.consumer_loop(ASSIGNER_GROUP, assigner),
            runtime.consumer_loop(LINKER_GROUP, linker),
            server,
        ]
    )
