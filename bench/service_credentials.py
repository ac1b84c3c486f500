"""What a service credential costs a gRPC call between services (ADR 0014).

1. In-process, microseconds per call (timeit, best of `--repeat`):
   * `ServiceToken.metadata()`: what the gateway does per call (the cached token);
   * `ServiceCallGuard.caller()` with a token it has verified before (the cache: every call
     but the first of each token, one every ~7 minutes per caller process);
   * the same with the cache emptied before every call: a full HS256 verification, what
     each call would cost without the cache;
   * `TokenSigner.issue`: minting a token (once every ~7 minutes per caller).
2. Over loopback: sla's ReportService (`SlaReport` over a fixed one-row view) served twice
   in this process, bare (`GrpcServer` without the guard) and guarded (`ReportServer`, as
   `sla.main` builds it), each called `--calls` times from one client thread, the two
   alternating for `--rounds` rounds (noise on a small machine hits both). Printed: p50,
   p99 and mean microseconds per call, and the guarded/bare ratio of the means.

Figures only, never assertions.

    python bench/service_credentials.py [--calls 3000] [--rounds 3] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from datetime import UTC, datetime, timedelta

import grpc

from socialcare.core.auth.service_auth import ServiceCallGuard, ServiceToken
from socialcare.core.auth.tokens import TokenSigner
from socialcare.core.grpc_server import GrpcServer
from socialcare.sla.rpc import HourlyView, ReportServer, ReportServicer
from socialcare.v1 import services_pb2, services_pb2_grpc

SECRET = b"bench-service-credentials-secret-0123456789"
METHOD = "/socialcare.v1.ReportService/SlaReport"


def per_call_us(statement: object, number: int, repeat: int) -> float:
    """Best-of-`repeat` microseconds per call of `statement` (a callable)."""
    runs = timeit.repeat(statement, number=number, repeat=repeat)  # type: ignore[arg-type]
    return min(runs) / number * 1e6


def in_process(repeat: int) -> None:
    signer = TokenSigner(lambda: SECRET)
    token = ServiceToken(signer, "gateway")
    guard = ServiceCallGuard(signer, server="bench")
    metadata = token.metadata()
    guard.caller(METHOD, metadata)

    def uncached() -> None:
        guard.forget_verified()
        guard.caller(METHOD, metadata)

    rows = {
        "ServiceToken.metadata() (cached)": (token.metadata, 200_000),
        "guard.caller(), token cached": (lambda: guard.caller(METHOD, metadata), 100_000),
        "guard.caller(), verified every call": (uncached, 20_000),
        "TokenSigner.issue (a new token)": (
            lambda: signer.issue("service:gateway", "service", 600),
            20_000,
        ),
    }
    print(f"in process, microseconds per call (best of {repeat}):")
    for name, (statement, number) in rows.items():
        print(f"  {name:38s} {per_call_us(statement, number, repeat):8.2f}")


def read(start: datetime, end: datetime) -> HourlyView:
    return HourlyView(frozenset({0}), 1, [])


def request() -> services_pb2.SlaReportRequest:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    made = services_pb2.SlaReportRequest()
    made.start.FromDatetime(now - timedelta(hours=1))
    made.end.FromDatetime(now)
    return made


def timed_calls(
    stub: services_pb2_grpc.ReportServiceStub,
    calls: int,
    metadata: tuple[tuple[str, str], ...] | None,
) -> list[float]:
    asked = request()
    took = []
    for _ in range(calls):
        started = time.perf_counter()
        stub.SlaReport(asked, timeout=5, metadata=metadata)
        took.append((time.perf_counter() - started) * 1e6)
    return took


def over_loopback(calls: int, rounds: int) -> None:
    signer = TokenSigner(lambda: SECRET)
    token = ServiceToken(signer, "gateway")
    servicer = ReportServicer(read, retention=timedelta(days=35))
    bare = GrpcServer(
        "bench-bare",
        "127.0.0.1:0",
        lambda server: services_pb2_grpc.add_ReportServiceServicer_to_server(servicer, server),
        service="ReportService",
        setting_hint="",
        workers=4,
        grace_s=1.0,
    )
    guarded = ReportServer(servicer, "127.0.0.1:0", guard=ServiceCallGuard(signer, server="bench"))
    bare.start()
    guarded.start()
    samples: dict[str, list[float]] = {"bare": [], "guarded": []}
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{bare.port}") as to_bare,
            grpc.insecure_channel(f"127.0.0.1:{guarded.port}") as to_guarded,
        ):
            stubs = {
                "bare": (services_pb2_grpc.ReportServiceStub(to_bare), None),
                "guarded": (services_pb2_grpc.ReportServiceStub(to_guarded), "token"),
            }
            for name, (stub, _) in stubs.items():  # warm-up: connections, first verification
                timed_calls(stub, 200, token.metadata() if name == "guarded" else None)
            for _ in range(rounds):
                for name, (stub, _) in stubs.items():
                    metadata = token.metadata() if name == "guarded" else None
                    samples[name] += timed_calls(stub, calls, metadata)
    finally:
        for server in (bare, guarded):
            server.stop()
            server.join(5.0)
    print(f"over loopback, SlaReport, {rounds} x {calls} calls each, microseconds per call:")
    for name, took in samples.items():
        ordered = sorted(took)
        p99 = ordered[int(len(ordered) * 0.99) - 1]
        print(
            f"  {name:8s} p50 {statistics.median(took):8.1f}  p99 {p99:8.1f}  "
            f"mean {statistics.fmean(took):8.1f}"
        )
    ratio = statistics.fmean(samples["guarded"]) / statistics.fmean(samples["bare"])
    print(f"  guarded/bare (means) {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    in_process(args.repeat)
    over_loopback(args.calls, args.rounds)


if __name__ == "__main__":
    main()
