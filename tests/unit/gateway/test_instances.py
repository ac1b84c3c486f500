"""The instance pool shared by the CaseService and ReportService clients: where a due
re-resolution runs, and the client's own error when there is nothing to ask."""

from __future__ import annotations

import time

import grpc
import pytest

from socialcare.gateway.instances import UNREACHABLE, InstancePool
from tests.unit.gateway.test_gateway_case_client import ScriptedResolver, closed_port


class PoolError(Exception):
    """The error this test's client raises when no instance can be asked."""


class Pool(InstancePool[grpc.Channel]):
    name = "test-pool"

    def __init__(self, targets: str, resolver: ScriptedResolver, *, background: bool) -> None:
        super().__init__(
            targets,
            stub=lambda channel: channel,
            service="the test service",
            unavailable=PoolError,
            timeout_s=0.3,
            refresh_s=0.05,
            resolver=resolver,
            refresh_in_background=background,
        )

    def ping(self) -> list[bytes]:
        def method(channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
            return channel.unary_unary("/t.T/Ping")

        answers, failures = self.ask_all(method, b"")
        assert {failure.code for failure in failures} <= UNREACHABLE
        return answers


def test_a_due_re_resolution_runs_on_the_calling_thread_when_asked_to() -> None:
    first, second = f"127.0.0.1:{closed_port()}", f"127.0.0.1:{closed_port()}"
    resolver = ScriptedResolver([first])
    pool = Pool("svc:1", resolver, background=False)
    try:
        assert pool.ping() == []
        assert pool.addresses() == (first,)
        resolver.addresses = [second]
        time.sleep(0.1)  # past refresh_s
        pool.ping()
        assert pool.addresses() == (second,)  # resolved before the call, not after
        assert len(resolver.asked) == 2
    finally:
        pool.close()


def test_nothing_to_ask_is_the_clients_own_error() -> None:
    pool = Pool("svc:1", ScriptedResolver([]), background=True)
    with pytest.raises(PoolError, match=r"the test service targets 'svc:1' resolve to no"):
        pool.ping()
    pool.join(1.0)
    with pytest.raises(PoolError, match="the test service client is closed"):
        pool.ping()
