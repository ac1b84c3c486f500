"""Wiring for routing: the consumer loop over its inputs and the gRPC CaseService."""

from __future__ import annotations

import threading

from socialcare.core.clock import utc_now
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.routing.domain import CaseBook
from socialcare.routing.processor import INPUT_TOPICS, RoutingProcessor
from socialcare.routing.rpc import CaseServer, CaseServicer

GROUP = "routing"


def parts(runtime: Runtime) -> ServiceParts:
    book = CaseBook(runtime.care)
    lock = threading.RLock()
    loop = runtime.consumer_loop(
        GROUP,
        INPUT_TOPICS,
        lambda producer: RoutingProcessor(book, lock, runtime.bus, producer, utc_now),
    )
    server = CaseServer(CaseServicer(book, lock), runtime.settings.case_grpc_address)
    return ServiceParts(components=[loop, server])
