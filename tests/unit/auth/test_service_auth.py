"""Service credentials (ADR 0014): the token a service sends, and the guard of routing's and
sla's gRPC servers, over a real ReportServer on loopback and the platform's authenticator.

The guard is checked through the wire (status codes and details as a client sees them);
its cache by counting the signer's verifications.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from socialcare.core.auth.principal import Permission, Role
from socialcare.core.auth.service_auth import (
    ServiceCallGuard,
    ServiceToken,
    service_guard,
    service_token,
)
from socialcare.core.auth.tokens import TokenClaims, TokenSigner, TokenType
from socialcare.core.errors import UnauthenticatedError
from socialcare.core.runtime import Runtime
from socialcare.sla.rpc import USER_PERMISSIONS, HourlyView, ReportServer, ReportServicer
from socialcare.v1 import services_pb2, services_pb2_grpc
from tests.unit.auth_support import (
    AUTH_SECRET,
    api_key_headers,
    care_runtime,
    open_test_auth,
    user_headers,
)

CARE = """
sla_policies:
  - {name: any, languages: ["*"], first_response: 1h}
queues:
  - {name: care-global, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne de Vries, languages: [nl, en], capacity: 8}
brands:
  - {name: acme}
  - {name: globex}
"""
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


class CountingSigner(TokenSigner):
    """The platform's signer, counting what it signs and verifies."""

    def __init__(self, secret: bytes, clock: Callable[[], float]) -> None:
        super().__init__(lambda: secret, clock=clock)
        self.issued = 0
        self.verified = 0

    def issue(
        self,
        subject: str,
        token_type: TokenType,
        ttl_s: int,
        *,
        epoch: int = 0,
        session_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> tuple[str, TokenClaims]:
        self.issued += 1
        return super().issue(
            subject, token_type, ttl_s, epoch=epoch, session_id=session_id, extra=extra
        )

    def verify(self, token: str, token_type: TokenType) -> TokenClaims:
        self.verified += 1
        return super().verify(token, token_type)


def read(start: datetime, end: datetime) -> HourlyView:
    return HourlyView(frozenset({0}), 1, [])


def serve(guard: ServiceCallGuard) -> Iterator[services_pb2_grpc.ReportServiceStub]:
    server = ReportServer(
        ReportServicer(read, retention=timedelta(days=35), clock=lambda: NOW),
        "127.0.0.1:0",
        guard=guard,
    )
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield services_pb2_grpc.ReportServiceStub(channel)
    finally:
        channel.close()
        server.stop()
        server.join(5.0)


def report_request() -> services_pb2.SlaReportRequest:
    request = services_pb2.SlaReportRequest()
    request.start.FromDatetime(NOW - timedelta(hours=1))
    request.end.FromDatetime(NOW)
    return request


def call(
    stub: services_pb2_grpc.ReportServiceStub, metadata: tuple[tuple[str, str], ...] | None
) -> tuple[str, str]:
    """(status code name, details) of one SlaReport call with `metadata`."""
    try:
        stub.SlaReport(report_request(), metadata=metadata, timeout=5)
    except grpc.RpcError as exc:
        return exc.code().name, exc.details() or ""
    return "OK", ""


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


class Clock:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(clock: Clock) -> CountingSigner:
    return CountingSigner(AUTH_SECRET, clock)


@pytest.fixture
def stub(signer: CountingSigner, clock: Clock) -> Iterator[services_pb2_grpc.ReportServiceStub]:
    yield from serve(ServiceCallGuard(signer, server="the ReportService", clock=clock))


def test_a_service_token_is_reused_and_renewed_before_it_expires(
    signer: CountingSigner, clock: Clock
) -> None:
    token = ServiceToken(signer, "gateway", ttl_s=600, clock=clock)
    first = token.metadata()
    assert [token.metadata() for _ in range(100)] == [first] * 100
    assert signer.issued == 1
    clock.now += 399  # two thirds of its life: still reused
    assert token.metadata() == first
    clock.now += 2  # a third left: the next one, well before this one expires
    second = token.metadata()
    assert second != first
    assert signer.issued == 2
    claims = signer.verify(second[0][1].removeprefix("Bearer "), "service")
    assert claims.subject == "service:gateway"
    assert claims.expires_at == int(clock.now) + 600


def test_a_call_without_a_credential_is_refused_with_what_to_send(
    stub: services_pb2_grpc.ReportServiceStub,
) -> None:
    code, details = call(stub, None)
    assert code == "UNAUTHENTICATED"
    assert "the ReportService needs a credential" in details
    assert "authorization: Bearer <service token>" in details
    assert call(stub, (("authorization", "Basic c2VydmljZQ=="),))[0] == "UNAUTHENTICATED"
    assert call(stub, bearer("not-a-token"))[0] == "UNAUTHENTICATED"


def test_a_service_token_is_accepted(
    stub: services_pb2_grpc.ReportServiceStub, signer: CountingSigner, clock: Clock
) -> None:
    token = ServiceToken(signer, "gateway", clock=clock)
    assert call(stub, token.metadata()) == ("OK", "")


def test_a_token_signed_with_another_secret_is_refused(
    stub: services_pb2_grpc.ReportServiceStub, clock: Clock
) -> None:
    other = TokenSigner(lambda: b"another-platform-secret-0123456789abcdef", clock=clock)
    code, details = call(stub, ServiceToken(other, "gateway", clock=clock).metadata())
    assert (code, details) == ("UNAUTHENTICATED", "the token is not valid")


def test_an_expired_service_token_is_refused(
    stub: services_pb2_grpc.ReportServiceStub, signer: CountingSigner, clock: Clock
) -> None:
    clock.now -= 700  # minted 700 s ago, so it expired 100 s ago
    metadata = ServiceToken(signer, "gateway", ttl_s=600, clock=clock).metadata()
    clock.now += 700
    assert call(stub, metadata) == ("UNAUTHENTICATED", "the token has expired; sign in again")


def test_a_cached_token_is_refused_once_it_expires(
    stub: services_pb2_grpc.ReportServiceStub, signer: CountingSigner, clock: Clock
) -> None:
    metadata = ServiceToken(signer, "gateway", ttl_s=600, clock=clock).metadata()
    assert call(stub, metadata)[0] == "OK"
    clock.now += 601 + 5  # past its expiry and the signer's 5 s leeway
    assert call(stub, metadata)[0] == "UNAUTHENTICATED"


def test_a_service_token_is_verified_once_then_found_in_the_cache(
    stub: services_pb2_grpc.ReportServiceStub, signer: CountingSigner, clock: Clock
) -> None:
    metadata = ServiceToken(signer, "gateway", clock=clock).metadata()
    answers = [call(stub, metadata)[0] for _ in range(20)]
    assert answers == ["OK"] * 20
    assert signer.verified == 1


def test_other_kinds_of_token_are_not_service_tokens(
    stub: services_pb2_grpc.ReportServiceStub, signer: CountingSigner
) -> None:
    """A user's access token where only service tokens are taken, and a token typed
    `service` whose subject names no service (not one the platform mints)."""
    access, _ = signer.issue("admin", "access", 600)
    assert call(stub, bearer(access))[0] == "UNAUTHENTICATED"
    odd, _ = signer.issue("admin", "service", 600)
    assert call(stub, bearer(odd)) == ("UNAUTHENTICATED", "the token is not valid here")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = care_runtime(tmp_path, CARE)
    open_test_auth(runtime)
    yield runtime
    runtime.close()


def header_metadata(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return (("authorization", headers["Authorization"]),)


def test_users_for_every_brand_with_the_permission_may_call_directly(runtime: Runtime) -> None:
    """The wiring of sla's server: service tokens, and users with read_operations over every
    brand; a brand-restricted user or an API key (always one brand) is told to use the
    gateway, which applies their brands."""
    authenticator = runtime.auth().authenticator
    guard = service_guard(
        authenticator, server="sla's ReportService", user_permissions=USER_PERMISSIONS
    )
    operations_everywhere = user_headers(
        runtime, "ops-all", roles=[Role.OPERATIONS.value], all_brands=True
    )
    operations_acme = user_headers(
        runtime, "ops-acme", roles=[Role.OPERATIONS.value], brands=["acme"]
    )
    agent_everywhere = user_headers(runtime, "agent-all", roles=[Role.AGENT.value], all_brands=True)
    key = api_key_headers(runtime, brand="acme", permissions=[Permission.READ_CASES.value])
    for stub in serve(guard):
        assert call(stub, service_token(authenticator, "gateway").metadata())[0] == "OK"
        assert call(stub, header_metadata(operations_everywhere))[0] == "OK"
        code, details = call(stub, header_metadata(operations_acme))
        assert code == "PERMISSION_DENIED"
        assert "call the gateway" in details
        assert call(stub, header_metadata(agent_everywhere))[0] == "PERMISSION_DENIED"
        assert call(stub, header_metadata(key))[0] == "PERMISSION_DENIED"


def test_a_service_token_is_no_user_credential(runtime: Runtime) -> None:
    """The gateway's REST and gRPC doors take access tokens and API keys only: a service
    token there is refused, so it opens nothing but the internal servers."""
    authenticator = runtime.auth().authenticator
    token = service_token(authenticator, "gateway").metadata()[0][1].removeprefix("Bearer ")
    with pytest.raises(UnauthenticatedError):
        authenticator.principal_from_bearer(token)
