"""Service credentials for tests of routing's and sla's gRPC servers (ADR 0014).

Those servers refuse every call without a credential, so a test that serves one passes
`guard=service_guard()` and calls it through `credentialed(channel)` (or gives a client
`credential=CREDENTIAL`). Both sign and check with `auth_support.AUTH_SECRET`, the key
`open_test_auth` puts on a test runtime's `auth.accounts`, so a gateway built on such a
runtime (`gateway.main.parts`) is accepted by a server guarded here too.

    server = ReportServer(servicer, "127.0.0.1:0", guard=service_guard())
    stub = ReportServiceStub(credentialed(grpc.insecure_channel(address)))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import grpc

from socialcare.core.auth.service_auth import ServiceCallGuard, ServiceToken
from socialcare.core.auth.tokens import TokenSigner
from tests.unit.auth_support import AUTH_SECRET

SIGNER = TokenSigner(lambda: AUTH_SECRET)
"""Signs and checks with the tests' platform secret."""
CREDENTIAL = ServiceToken(SIGNER, "tests").metadata
"""The metadata of a service token signed with the tests' secret (a client's `credential`)."""


def service_guard(server: str = "the server under test") -> ServiceCallGuard:
    """A guard taking service tokens signed with the tests' secret (no users)."""
    return ServiceCallGuard(SIGNER, server=server)


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _WithCredential(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the service token to every call's metadata."""

    def __init__(self, credential: Callable[[], tuple[tuple[str, str], ...]]) -> None:
        self._credential = credential

    def _details(self, details: Any) -> _Details:
        metadata = (*(details.metadata or ()), *self._credential())
        return _Details(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(
        self, continuation: Any, details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(
        self, continuation: Any, details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._details(details), requests)


def credentialed(
    channel: grpc.Channel, credential: Callable[[], tuple[tuple[str, str], ...]] = CREDENTIAL
) -> grpc.Channel:
    """`channel` with `credential` on every call (closing it closes `channel`)."""
    return grpc.intercept_channel(channel, _WithCredential(credential))
