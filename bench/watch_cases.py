"""WatchCases over gRPC vs the console's server-sent events, on one case board.

The assembled platform of tests/unit/test_access.py (tests/unit/gateway/rpc_world.py: the
gateway's routers and its gRPC server on a loopback port, a fake routing CaseService, a
fresh embedded bus in a tmp dir) with one console board shared by both doors. `--changes`
case changes (CaseEvents over `--cases` cases, versions in order) are applied to the board
by a thread at each of `--rates` changes/s (a run per rate; the highest is past what one
stream keeps up with, so its backlog fills and resyncs show); per door, `--streams` admin
streams read them:

a. SSE: `GET /v1/stream/cases` over HTTP (the app on uvicorn on loopback in this process,
   httpx streaming clients in threads) - the baseline, what the console uses;
b. gRPC: `CaseViewService.WatchCases` on the gateway's gRPC server (grpcio channels).

Printed per door: changes/s received per stream (first apply -> last change read), p50/
p99/max latency from a change's apply to its reading on a stream, resyncs (a stream fell
behind and dropped changes) and changes missing, CPU ms per change delivered (this
process: board, server and clients), and gRPC/SSE ratios. Figures only, never assertions.

    python bench/watch_cases.py [--changes 5000] [--cases 200] [--rates 2000,5000,20000]
        [--streams 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import uvicorn

warnings.filterwarnings("ignore", message=".*httpx2.*")  # FastAPI's TestClient on import
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from socialcare.core.clock import to_timestamp  # noqa: E402
from socialcare.v1 import case_pb2, services_pb2  # noqa: E402
from tests.e2e.platform import free_port  # noqa: E402
from tests.unit.fake_routing import FakeRouting, serve  # noqa: E402
from tests.unit.gateway.rpc_world import RpcWorld, open_world  # noqa: E402
from tests.unit.test_access import CASES_BY_ID, T0, make_case  # noqa: E402


def change(case_id: str, version: int) -> case_pb2.CaseEvent:
    case = make_case(case_id, brand="acme", assignee="sanne")
    case.version = version
    case.updated_at.CopyFrom(to_timestamp(T0 + timedelta(seconds=version)))
    return case_pb2.CaseEvent(
        event_id=f"ev-{case_id}-{version}",
        type=case_pb2.CASE_EVENT_TYPE_REPLIED,
        case=case,
        occurred_at=case.updated_at,
    )


@dataclass
class Stream:
    """What one stream read: (case id, version) -> wall time, and its resyncs."""

    got: dict[tuple[str, int], float] = field(default_factory=dict)
    resyncs: int = 0
    ready: threading.Event = field(default_factory=threading.Event)
    error: str = ""


@dataclass
class Figures:
    streams: list[Stream]
    applied: dict[tuple[str, int], float]
    cpu_s: float

    def latencies_ms(self) -> list[float]:
        return sorted(
            1000 * (at - self.applied[key])
            for s in self.streams
            for key, at in s.got.items()
            if key in self.applied
        )

    def per_stream_per_s(self) -> float:
        began = min(self.applied.values())
        rates = [len(s.got) / max(1e-6, max(s.got.values()) - began) for s in self.streams if s.got]
        return sum(rates) / len(rates) if rates else 0.0

    def missing(self) -> int:
        return sum(len(self.applied.keys() - s.got.keys()) for s in self.streams)

    def delivered(self) -> int:
        return sum(len(s.got) for s in self.streams)


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


# -- the doors -----------------------------------------------------------------------------
def read_sse(url: str, headers: dict[str, str], stream: Stream, stop: threading.Event) -> None:
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(60.0, read=None)) as client,
            client.stream("GET", f"{url}/v1/stream/cases", headers=headers) as answer,
        ):
            for text in answer.iter_lines():
                if stop.is_set():
                    return
                if not text.startswith("data: "):
                    continue
                data = json.loads(text[6:])
                if data["type"] == "ready":
                    stream.ready.set()
                elif data["type"] == "resync":
                    stream.resyncs += 1
                elif data.get("case"):
                    stream.got[(data["case"]["id"], data["case"]["version"])] = time.time()
    except (httpx.HTTPError, OSError) as exc:
        stream.error = f"{type(exc).__name__}: {exc}"
        stream.ready.set()


def read_grpc(world: RpcWorld, stream: Stream, stop: threading.Event) -> Callable[[], None]:
    """Start reading a WatchCases stream on a thread; returns its cancel."""
    call: Any = world.cases.WatchCases(
        services_pb2.WatchCasesRequest(), metadata=world.metadata("admin")
    )

    def run() -> None:
        try:
            for message in call:
                kind = message.WhichOneof("kind")
                if kind == "ready":
                    stream.ready.set()
                elif kind == "resync":
                    stream.resyncs += 1
                elif kind == "change":
                    case = message.change.case
                    stream.got[(case.id, case.version)] = time.time()
                if stop.is_set():
                    return
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                stream.error = f"{exc.code().name}: {exc.details()}"
            stream.ready.set()

    threading.Thread(target=run, daemon=True).start()
    cancel: Callable[[], None] = call.cancel
    return cancel


@contextmanager
def served(app: Any) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True  # open SSE streams end at their next keep-alive otherwise
        thread.join(5)


def apply_paced(world: RpcWorld, events: list[case_pb2.CaseEvent], rate: float) -> dict[Any, float]:
    applied: dict[tuple[str, int], float] = {}
    began = time.monotonic()
    for n, event in enumerate(events):
        wait = began + n / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        applied[(event.case.id, event.case.version)] = time.time()
        world.board.apply(event)
    return applied


def run_door(
    world: RpcWorld, door: str, url: str, args: argparse.Namespace, offset: int, rate: float
) -> Figures:
    stop = threading.Event()
    streams = [Stream() for _ in range(args.streams)]
    cancels: list[Callable[[], None]] = []
    for stream in streams:
        if door == "sse":
            threading.Thread(
                target=read_sse, args=(url, world.people["admin"], stream, stop), daemon=True
            ).start()
        else:
            cancels.append(read_grpc(world, stream, stop))
    for stream in streams:
        stream.ready.wait(30)
    # Versions continue from the previous door's: the board takes only newer versions.
    events = [
        change(f"watch-{n % args.cases}", offset + 1 + n // args.cases) for n in range(args.changes)
    ]
    before = time.process_time()
    applied = apply_paced(world, events, rate)
    # Until every stream read every change; a stream that fell behind (resync) or failed
    # will not get the changes it dropped, so it is given a few seconds only.
    deadline = time.monotonic() + 30
    short = time.monotonic() + 3
    while time.monotonic() < deadline:
        waiting = [s for s in streams if applied.keys() - s.got.keys()]
        if not waiting or (time.monotonic() > short and all(s.resyncs or s.error for s in waiting)):
            break
        time.sleep(0.02)
    cpu = time.process_time() - before
    stop.set()
    for cancel in cancels:
        cancel()
    for stream in streams:
        if stream.error:
            print(f"{door} stream: {stream.error}", flush=True)
    return Figures(streams, applied, cpu)


def row(name: str, f: Figures) -> str:
    ordered = f.latencies_ms()
    return (
        f"| {name} | {f.per_stream_per_s():,.0f} | {quantile(ordered, 0.5):.1f} | "
        f"{quantile(ordered, 0.99):.1f} | {max(ordered, default=0):.1f} | "
        f"{sum(s.resyncs for s in f.streams)} | {f.missing()} | "
        f"{1000 * f.cpu_s / max(1, f.delivered()):.3f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=5000)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument(
        "--rates", default="2000,5000,20000", help="changes applied per second, one run per rate"
    )
    parser.add_argument("--streams", type=int, default=2)
    args = parser.parse_args()
    print(
        f"{args.changes} changes over {args.cases} cases per run, "
        f"{args.streams} admin streams per door\n"
    )
    print(
        "| door | changes/s per stream | p50 ms | p99 ms | max ms | resyncs | missing "
        "| CPU ms/change delivered |"
    )
    print("|---|---|---|---|---|---|---|---|")
    routing, address = serve(FakeRouting(dict(CASES_BY_ID)))
    results: dict[tuple[float, str], Figures] = {}
    rates = [float(r) for r in args.rates.split(",")]
    try:
        with (
            tempfile.TemporaryDirectory(prefix="socialcare-watch-bench-") as scratch,
            contextmanager(open_world)(
                Path(scratch), address, max_watches=max(4, args.streams), keepalive_s=5.0
            ) as world,
            served(world.app) as url,
        ):
            offset = 0
            for rate in rates:
                for door, title in (("sse", "SSE GET /v1/stream/cases"), ("grpc", "WatchCases")):
                    figures = run_door(world, door, url, args, offset, rate)
                    results[(rate, door)] = figures
                    offset += args.changes // args.cases + 1
                    print(row(f"{title}, {rate:,.0f}/s applied", figures), flush=True)
    finally:
        routing.stop(grace=None).wait()
    print()
    for rate in rates:
        sse, rpc = results[(rate, "sse")], results[(rate, "grpc")]
        sse_ms, rpc_ms = sse.latencies_ms(), rpc.latencies_ms()
        sse_cpu = sse.cpu_s / max(1, sse.delivered())
        rpc_cpu = rpc.cpu_s / max(1, rpc.delivered())
        print(
            f"gRPC/SSE at {rate:,.0f}/s: throughput per stream "
            f"{rpc.per_stream_per_s() / max(1e-9, sse.per_stream_per_s()):.2f}x, "
            f"p50 {quantile(rpc_ms, 0.5) / max(1e-3, quantile(sse_ms, 0.5)):.2f}x, "
            f"p99 {quantile(rpc_ms, 0.99) / max(1e-3, quantile(sse_ms, 0.99)):.2f}x, "
            f"CPU per change {rpc_cpu / max(1e-9, sse_cpu):.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
