"""Wiring for routing: the case loop, the assigner loop, the identity linker loop and the
gRPC CaseService and PrivacyService (which cases hold a customer's identities).

Every routing instance runs all four; the consumer groups decide what each one does: the
`routing` group spreads the case partitions over the instances, the `routing-assigner`
group gives its single partition to one of them (ADR 0005), and the `routing-linker` group
its single partition of identity claims to one of them (ADR 0011).
"""

from __future__ import annotations

from socialcare.core.auth.service_auth import service_guard
from socialcare.core.clock import utc_now
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.routing.assigner_processor import ASSIGNER_GROUP, AssignerProcessor
from socialcare.routing.linker import LINKER_GROUP, LinkerProcessor
from socialcare.routing.processor import CASE_GROUP, CaseProcessor
from socialcare.routing.rpc import USER_PERMISSIONS, CaseServer, CaseServicer, PrivacyServicer
from socialcare.routing.settings import ErasureSettings


def parts(runtime: Runtime) -> ServiceParts:
    erasure = ErasureSettings.from_platform(runtime.settings)
    cases = CaseProcessor(runtime.care, runtime.bus, utc_now, retention=erasure.retention_policy())
    assigner = AssignerProcessor(runtime.care, runtime.bus, utc_now)
    linker = LinkerProcessor(runtime.bus, utc_now)
    server = CaseServer(
        CaseServicer(cases, assigner=assigner),
        runtime.settings.case_grpc_address,
        # Every call needs a credential (ADR 0014): the gateway's service token.
        guard=service_guard(
            runtime.auth(bootstrap=False).authenticator,
            server="routing's CaseService",
            user_permissions=USER_PERMISSIONS,
        ),
        privacy=PrivacyServicer(cases),
    )
    return ServiceParts(
        components=[
            runtime.consumer_loop(CASE_GROUP, cases),
            runtime.consumer_loop(ASSIGNER_GROUP, assigner),
            runtime.consumer_loop(LINKER_GROUP, linker),
            server,
        ]
    )
