"""What the whole platform (`socialcare run all`) exposes, read from the running process.

* Nothing listens beyond loopback unless configured: with the default hosts every listener
  (HTTP with /metrics, the gRPC servers of ingestion, routing, sla and the gateway) is bound
  to 127.0.0.1 or ::1; with SOCIALCARE_HTTP_HOST and the gRPC addresses set to 0.0.0.0 they
  are bound there, so the test sees the settings honoured, not a hard-coded loopback.
* Every gRPC method of every server the process runs refuses a call without metadata
  (UNAUTHENTICATED), but the sign-in itself and the internal services ADR 0007 keeps without
  credentials (routing's CaseService and PrivacyService, sla's ReportService: only the
  gateway calls them, after checking its caller; a deployment keeps their ports off the
  public network, the chart's NetworkPolicy). That is why the loopback default matters.
  tests/unit cover the gateway's methods and ingestion's in-process; this covers all of
  them, over the real ports, at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor import FileDescriptor, MethodDescriptor

from socialcare.v1 import privacy_pb2, services_pb2
from tests.e2e.platform import Platform, free_port, make_platform, running
from tests.security.listeners import Listener, listening

GRPC_ADDRESSES = (
    "SOCIALCARE_CASE_GRPC_ADDRESS",
    "SOCIALCARE_SLA_GRPC_ADDRESS",
    "SOCIALCARE_GATEWAY_GRPC_ADDRESS",
)
"""The `host:port` settings of the gRPC servers; ingestion's binds SOCIALCARE_HTTP_HOST."""
PUBLIC_METHODS = {"socialcare.v1.AuthService/IssueToken"}
"""Methods a caller uses before it has a credential (the sign-in)."""
INTERNAL_SERVICES = {
    "socialcare.v1.CaseService",
    "socialcare.v1.PrivacyService",
    "socialcare.v1.ReportService",
}
"""Services without credentials by design (ADR 0007): reachable by the gateway only."""
PROTO_FILES: tuple[FileDescriptor, ...] = (services_pb2.DESCRIPTOR, privacy_pb2.DESCRIPTOR)


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


def call_without_metadata(channel: grpc.Channel, path: str, method: MethodDescriptor) -> str:
    """The status code's name of `path` called with an empty request and no metadata (the
    empty message is b"", so no message class is needed)."""
    kinds = {"request_serializer": raw, "response_deserializer": raw}
    try:
        if method.client_streaming and method.server_streaming:
            next(iter(channel.stream_stream(path, **kinds)(iter([b""]), timeout=10)))
        elif method.client_streaming:
            channel.stream_unary(path, **kinds)(iter([b""]), timeout=10)
        elif method.server_streaming:
            next(iter(channel.unary_stream(path, **kinds)(b"", timeout=10)))
        else:
            channel.unary_unary(path, **kinds)(b"", timeout=10)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return str(code.name)
    return "OK"


def test_every_grpc_method_wants_a_credential(default_platform: Platform) -> None:
    env = default_platform.env
    addresses = [env[name] for name in GRPC_ADDRESSES] + [
        f"127.0.0.1:{env['SOCIALCARE_INGEST_GRPC_PORT']}"
    ]
    methods = {
        f"{service.full_name}/{method.name}": method
        for proto in PROTO_FILES
        for service in proto.services_by_name.values()
        for method in service.methods
    }
    answers: dict[str, set[str]] = {path: set() for path in methods}
    for address in addresses:
        with grpc.insecure_channel(address) as channel:
            for path, method in methods.items():
                answers[path].add(call_without_metadata(channel, f"/{path}", method))
    guarded = {
        path
        for path in methods
        if path not in PUBLIC_METHODS and path.split("/")[0] not in INTERNAL_SERVICES
    }
    # Served on one port and refused there; UNIMPLEMENTED on the other servers' ports.
    assert {path: answers[path] for path in guarded} == {
        path: {"UNAUTHENTICATED", "UNIMPLEMENTED"} for path in guarded
    }
    # The exceptions are served (so the loopback test covers their ports) and answer.
    assert all(answers[path] - {"UNIMPLEMENTED"} for path in set(methods) - guarded)
