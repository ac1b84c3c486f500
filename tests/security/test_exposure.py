"""What the whole platform (`socialcare run all`) exposes, read from the running process.

* Nothing listens beyond loopback unless configured: with the default hosts every listener
  (HTTP with /metrics, the gRPC servers of ingestion, routing, sla and the gateway) is bound
  to 127.0.0.1 or ::1; with SOCIALCARE_HTTP_HOST and the gRPC addresses set to 0.0.0.0 they
  are bound there, so the test sees the settings honoured, not a hard-coded loopback.
* Every gRPC method of every service in the published contracts (every `socialcare.v1`
  module's services, so a new one is covered without touching this test) is served by one
  of the servers and refuses a call without metadata (UNAUTHENTICATED), but the sign-in
  itself. Routing's CaseService and PrivacyService and sla's ReportService too: since ADR
  0014 they want a service credential, which the gateway sends.
* A service token (signed with the platform secret, as the gateway's is) opens exactly the
  internal servers, routing's and sla's, and nothing on the gateway's or ingestion's doors,
  which take users' tokens and API keys only.
  tests/unit cover each server's rules in-process; this covers all of them, over the real
  ports, at once.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor import FileDescriptor, MethodDescriptor

import socialcare.v1
from socialcare.core.auth.service_auth import ServiceToken
from socialcare.core.auth.tokens import TokenSigner
from tests.e2e.platform import AUTH_SECRET, Platform, free_port, make_platform, running
from tests.security.listeners import Listener, listening

GRPC_ADDRESSES = (
    "SOCIALCARE_CASE_GRPC_ADDRESS",
    "SOCIALCARE_SLA_GRPC_ADDRESS",
    "SOCIALCARE_GATEWAY_GRPC_ADDRESS",
)
"""The `host:port` settings of the gRPC servers; ingestion's binds SOCIALCARE_HTTP_HOST."""
INTERNAL_ADDRESSES = ("SOCIALCARE_CASE_GRPC_ADDRESS", "SOCIALCARE_SLA_GRPC_ADDRESS")
"""The servers only other services call (routing's, sla's): they take service tokens."""
PUBLIC_METHODS = {"socialcare.v1.AuthService/IssueToken"}
"""Methods a caller uses before it has a credential (the sign-in)."""


def contract_files() -> list[FileDescriptor]:
    """Every `socialcare.v1` proto module's file descriptor: the published contracts."""
    package = socialcare.v1
    return [
        importlib.import_module(f"{package.__name__}.{module.name}").DESCRIPTOR
        for module in pkgutil.iter_modules(package.__path__)
        if module.name.endswith("_pb2")
    ]


def contract_methods() -> dict[str, MethodDescriptor]:
    """`package.Service/Method` -> its descriptor, of every service in the contracts."""
    return {
        f"{service.full_name}/{method.name}": method
        for proto in contract_files()
        for service in proto.services_by_name.values()
        for method in service.methods
    }


def ports(platform: Platform) -> set[int]:
    """The ports the platform was told to listen on: HTTP and the four gRPC servers."""
    env = platform.env
    grpc_ports = {int(env[name].rsplit(":", 1)[1]) for name in GRPC_ADDRESSES}
    return {int(env["SOCIALCARE_HTTP_PORT"]), int(env["SOCIALCARE_INGEST_GRPC_PORT"])} | grpc_ports


def listeners_of(platform: Platform) -> set[Listener]:
    assert platform.process is not None
    return listening(platform.process.pid)


@pytest.fixture(scope="module")
def default_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The platform with the shipped host defaults: make_platform sets only ports, and the
    gRPC addresses on 127.0.0.1, which is also their default."""
    made = make_platform(tmp_path_factory.mktemp("loopback"), "embedded", "embedded")
    made.env.pop("SOCIALCARE_HTTP_HOST", None)
    with running(made) as started:
        yield started


def test_every_listener_is_on_loopback_by_default(default_platform: Platform) -> None:
    found = listeners_of(default_platform)
    assert ports(default_platform) <= {port for _, port in found}, found
    beyond = sorted(f"{address}:{port}" for address, port in found if not address.is_loopback)
    assert beyond == [], f"listening beyond loopback: {beyond}\n{default_platform.log_tail()}"


def test_the_hosts_are_honoured_when_configured(tmp_path: Path) -> None:
    made = make_platform(tmp_path, "embedded", "embedded")
    made.env["SOCIALCARE_HTTP_HOST"] = "0.0.0.0"
    for name in GRPC_ADDRESSES:
        made.env[name] = f"0.0.0.0:{free_port()}"
    with running(made) as started:
        found = listeners_of(started)
    # gRPC binds 0.0.0.0 as [::] (dual-stack): both are "every address".
    assert {port for address, port in found if address.is_unspecified} >= ports(made), found


def raw(message: bytes) -> bytes:
    """Requests and answers as bytes, unparsed."""
    return message


def call(
    channel: grpc.Channel,
    path: str,
    method: MethodDescriptor,
    metadata: tuple[tuple[str, str], ...] | None = None,
) -> str:
    """The status code's name of `path` called with an empty request and `metadata` (the
    empty message is b"", so no message class is needed)."""
    kinds = {"request_serializer": raw, "response_deserializer": raw}
    try:
        if method.client_streaming and method.server_streaming:
            next(
                iter(
                    channel.stream_stream(path, **kinds)(iter([b""]), timeout=10, metadata=metadata)
                )
            )
        elif method.client_streaming:
            channel.stream_unary(path, **kinds)(iter([b""]), timeout=10, metadata=metadata)
        elif method.server_streaming:
            next(iter(channel.unary_stream(path, **kinds)(b"", timeout=10, metadata=metadata)))
        else:
            channel.unary_unary(path, **kinds)(b"", timeout=10, metadata=metadata)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return str(code.name)
    return "OK"


def grpc_addresses(platform: Platform) -> dict[str, str]:
    """Setting name -> `host:port` of every gRPC server of the platform."""
    env = platform.env
    return {name: env[name] for name in GRPC_ADDRESSES} | {
        "SOCIALCARE_INGEST_GRPC_PORT": f"127.0.0.1:{env['SOCIALCARE_INGEST_GRPC_PORT']}"
    }


def answers_at(
    address: str,
    methods: dict[str, MethodDescriptor],
    metadata: tuple[tuple[str, str], ...] | None = None,
) -> dict[str, str]:
    """Each method's status code name at `address`."""
    with grpc.insecure_channel(address) as channel:
        return {
            path: call(channel, f"/{path}", method, metadata) for path, method in methods.items()
        }


def test_every_grpc_method_wants_a_credential(default_platform: Platform) -> None:
    methods = contract_methods()
    assert "socialcare.v1.CaseService/GetCase" in methods  # the contracts were found
    answers: dict[str, set[str]] = {path: set() for path in methods}
    for address in grpc_addresses(default_platform).values():
        for path, code in answers_at(address, methods).items():
            answers[path].add(code)
    guarded = set(methods) - PUBLIC_METHODS
    # Served on one port and refused there; UNIMPLEMENTED on the other servers' ports.
    assert {path: answers[path] for path in guarded} == {
        path: {"UNAUTHENTICATED", "UNIMPLEMENTED"} for path in guarded
    }
    # The sign-in is served (so the loopback test covers its port) and answers.
    assert all(answers[path] - {"UNIMPLEMENTED"} for path in PUBLIC_METHODS)


def test_a_service_token_opens_the_internal_servers_only(default_platform: Platform) -> None:
    """With the platform's service token every method routing's and sla's servers serve
    answers (their own answer to an empty request: NOT_FOUND, INVALID_ARGUMENT, ...), and
    every method the gateway and ingestion serve still refuses it."""
    token = ServiceToken(TokenSigner(lambda: AUTH_SECRET.encode()), "exposure-test")
    methods = contract_methods()
    served: dict[str, dict[str, str]] = {}
    for name, address in grpc_addresses(default_platform).items():
        with_token = answers_at(address, methods, token.metadata())
        served[name] = {path: code for path, code in with_token.items() if code != "UNIMPLEMENTED"}
    internal = {path: code for name in INTERNAL_ADDRESSES for path, code in served[name].items()}
    assert internal, served
    refused = {
        path: code
        for path, code in internal.items()
        if code in {"UNAUTHENTICATED", "PERMISSION_DENIED"}
    }
    assert refused == {}, internal
    public = {
        path: code
        for name, answers in served.items()
        if name not in INTERNAL_ADDRESSES
        for path, code in answers.items()
        if path not in PUBLIC_METHODS
    }
    assert public, served
    assert set(public.values()) == {"UNAUTHENTICATED"}, public
