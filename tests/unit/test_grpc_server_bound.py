"""A gRPC server holds at most `workers` running calls and as many waiting: the next call
is refused at once with RESOURCE_EXHAUSTED instead of queueing without bound."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest

from socialcare.core.grpc_server import QUEUED_CALLS_PER_WORKER, GrpcServer

SERVICE = "socialcare.test.Bound"
WORKERS = 2


class Gate:
    """Holds every call in `Wait` until `open` is set, so calls pile up on the server."""

    def __init__(self) -> None:
        self.open = threading.Event()

    def wait(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.open.wait(10)
        return request


def _identity(data: bytes) -> bytes:
    return data


@pytest.fixture
def gated() -> Iterator[tuple[GrpcServer, Gate]]:
    gate = Gate()

    def register(server: grpc.Server) -> None:
        handler = grpc.unary_unary_rpc_method_handler(
            gate.wait, request_deserializer=_identity, response_serializer=_identity
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"Wait": handler}),)
        )

    server = GrpcServer(
        "bound",
        "127.0.0.1:0",
        register,
        service="Bound",
        setting_hint="(test)",
        workers=WORKERS,
        grace_s=1.0,
    )
    server.start()
    try:
        yield server, gate
    finally:
        gate.open.set()
        server.stop()
        server.join(5.0)


def test_calls_beyond_workers_and_their_queue_are_refused_at_once(
    gated: tuple[GrpcServer, Gate],
) -> None:
    server, gate = gated
    admitted, extra = WORKERS * (1 + QUEUED_CALLS_PER_WORKER), 3
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        wait: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{SERVICE}/Wait")
        calls: list[grpc.Future[bytes]] = [
            wait.future(b"%d" % i, timeout=20) for i in range(admitted + extra)
        ]
        # While the gate holds every worker, the calls over the bound come back at once;
        # those admitted stay pending, whichever order they reached the server in.
        done = first_finished(calls, count=extra, timeout_s=10)
        assert len(done) == extra
        assert {call.exception().code() for call in done} == {  # type: ignore[union-attr]
            grpc.StatusCode.RESOURCE_EXHAUSTED
        }
        gate.open.set()
        # Nothing admitted was dropped: every waiting call is answered once workers free up.
        answered = [call.result(timeout=20) for call in calls if call not in done]
        assert len(answered) == admitted
        assert wait(b"after", timeout=10) == b"after"


def first_finished(
    calls: list[grpc.Future[bytes]], *, count: int, timeout_s: float
) -> list[grpc.Future[bytes]]:
    """The calls finished once `count` of them did (fewer if `timeout_s` passes first)."""
    finished = threading.Semaphore(0)
    for call in calls:
        call.add_done_callback(lambda _: finished.release())
    for _ in range(count):
        if not finished.acquire(timeout=timeout_s):
            break
    return [call for call in calls if call.done()]
