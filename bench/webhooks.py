"""Signed webhooks per ingestion process: requests/s and latency to "acknowledged on the bus".

What a channel connector costs on top of serving HTTP at all. In the same run, against the
same client:

1. the baseline: a trivial FastAPI endpoint (`POST /trivial`, reads the body, answers a
   small JSON) served by one uvicorn process configured as the platform's;
2. `socialcare run ingestion` (one process, no gRPC server) with the default brand's Meta
   app secret set, sent WhatsApp Cloud API webhooks, each a different customer message,
   signed with `X-Hub-Signature-256`. A 200 means the message, the raw payload and nothing
   less are durable on the bus (`social.messages.raw`, `social.payloads.raw`).

The client is closed-loop with `--connections` keep-alive connections (asyncio, a minimal
HTTP/1.1 writer, bodies and signatures made before the clock starts), `--seconds` long
after a warm-up, in one process of its own: throughput is what one server process gives at
that concurrency, latency is request written -> answer read (at saturation it is mostly
queueing: Little's law, connections / throughput). Printed: requests/s, p50/p99/max ms,
non-2xx answers, server CPU ms per request, and the webhook/trivial ratio. Figures only,
never assertions: compare ratios within one run.

    python bench/webhooks.py [--backends embedded,kafka] [--seconds 10] [--connections 32]
        [--rows webhook,messages,healthz] [--profile [--gil]]

`--rows` adds, on the same ingestion process after the webhook, `POST /v1/messages` (the
same Ingestor behind the REST door) and `GET /healthz` (what any request costs there).

`--profile` samples the ingestion process with py-spy during the measured run (as
bench/open_loop.py does) and prints where its time goes. With `--gil` only the thread
holding the GIL is sampled: where the CPU goes, without the threads that wait (the
threadpool's idle workers, `Condition.wait`, the event loop's `select`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from open_loop import (  # noqa: E402
    Connection,
    _post,
    cpu_seconds,
    finish_profile,
    start_profile,
)

from socialcare.channels.signatures import meta_signature  # noqa: E402
from socialcare.cli import load_localinfra  # noqa: E402
from tests.e2e.platform import Platform, free_port, make_platform  # noqa: E402

SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "106540352242922"
WARMUP_S = 2.0

TRIVIAL_APP = """
import sys, uvicorn
from fastapi import FastAPI, Request
app = FastAPI()
@app.post("/trivial")
async def trivial(request: Request) -> dict[str, bool]:
    await request.body()
    return {"ok": True}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None,
            access_log=False, lifespan="off")
"""


def whatsapp_webhook(i: int, run: str) -> bytes:
    """One WhatsApp Cloud API `messages` webhook, as Meta documents it."""
    wa_id = f"316{i:08d}"
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [{"profile": {"name": "Fleur Jansen"}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": f"wamid.bench{run}{i:010d}",
                                    "timestamp": str(1_764_150_000 + i),
                                    "type": "text",
                                    "text": {
                                        "body": "Mijn meterstand klopt niet en de rekening is "
                                        "veel te hoog, kunnen jullie even kijken?"
                                    },
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def requests_for(path: str, host: str, bodies: list[bytes], signed: bool) -> list[bytes]:
    out = []
    for body in bodies:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        if signed:
            head += f"X-Hub-Signature-256: {meta_signature(SECRET, body)}\r\n"
        out.append(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return out


@dataclass
class Figures:
    requests: int
    seconds: float
    latencies_ms: list[float]
    failures: dict[str, int]
    server_cpu_s: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _drive(
    url: str, requests: list[bytes], connections: int, seconds: float
) -> tuple[int, float, list[float], dict[str, int]]:
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    queue = iter(requests)
    latencies: list[float] = []
    failures: dict[str, int] = {}
    done = 0
    stop_at = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        pool: list[Connection] = []
        while time.monotonic() < stop_at:
            request = next(queue, None)
            if request is None:
                return
            started = time.monotonic()
            try:
                status, _ = await _post(address, pool, request)
            except (OSError, asyncio.IncompleteReadError) as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                continue
            latencies.append((time.monotonic() - started) * 1000)
            if status >= 300:
                failures[str(status)] = failures.get(str(status), 0) + 1
            done += 1
        for _, writer, _ in pool:
            writer.close()

    began = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return done, time.monotonic() - began, latencies, failures


def _client(
    url: str, requests: list[bytes], connections: int, seconds: float
) -> tuple[int, float, list[float], dict[str, int]]:
    return asyncio.run(_drive(url, requests, connections, seconds))


def _start_profile(
    pid: int, seconds: float, output: Path, gil: bool
) -> subprocess.Popen[bytes] | str:
    """`open_loop.start_profile`, or the same py-spy sampling only the GIL holder."""
    if not gil:
        return start_profile(pid, seconds, output)
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        return "py-spy is not installed (make venv installs it with the dev dependencies)"
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [str(py_spy), "record", "--pid", str(pid), "--duration", str(math.ceil(seconds))]
    command += ["--rate", "200", "--nonblocking", "--gil", "--format", "speedscope"]
    return subprocess.Popen(
        [*command, "-o", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def measure(
    url: str,
    requests: list[bytes],
    connections: int,
    seconds: float,
    server_pid: int,
    profile: Path | None = None,
    gil: bool = False,
) -> Figures:
    """Warm up, then drive the server from a separate process for `seconds` (sampled by
    py-spy into `profile` when given, only the GIL holder if `gil`)."""
    context = multiprocessing.get_context("spawn")
    warm, rest = requests[:2000], requests[2000:]
    with context.Pool(1) as pool:
        pool.apply(_client, (url, warm, connections, WARMUP_S))
        spy = _start_profile(server_pid, seconds, profile, gil) if profile else None
        cpu_before = cpu_seconds(server_pid)
        done, elapsed, latencies, failures = pool.apply(_client, (url, rest, connections, seconds))
        cpu = cpu_seconds(server_pid) - cpu_before
    if isinstance(spy, str):
        print(spy, flush=True)
    elif spy is not None and profile is not None:
        print(finish_profile(spy, profile), flush=True)
    return Figures(done, elapsed, latencies, failures, cpu)


def trivial_figures(connections: int, seconds: float, count: int) -> Figures:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", TRIVIAL_APP, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        url = f"http://127.0.0.1:{port}"
        body = whatsapp_webhook(0, "trivial")
        requests = requests_for("/trivial", f"127.0.0.1:{port}", [body] * count, signed=False)
        return measure(url, requests, connections, seconds, server.pid)
    finally:
        server.terminate()
        server.wait(10)


ROWS = ("webhook", "messages", "healthz")
TITLES = {
    "webhook": "signed Meta webhook",
    "messages": "POST /v1/messages",
    "healthz": "GET /healthz",
}
"""What can be measured on the ingestion process, one row each: the signed Meta webhook;
`POST /v1/messages` (the same Ingestor behind the REST door, one X message per request;
it needs the `ingest` permission since e5036c8 and the bench sends no credential yet, so
this row now measures the 401);
`GET /healthz` (what any request costs in this process: the platform's app, middleware
and tracing, nothing of ingestion)."""


def x_message(i: int, run: str) -> bytes:
    """One `POST /v1/messages` body, a different X message each."""
    body = {
        "channel": "x",
        "external_id": f"tw-bench{run}{i:010d}",
        "author": {"id": f"48{i:08d}", "handle": "@jvdberg_zzp", "name": "Jeroen van den Berg"},
        "text": "@Energieloket Mijn energierekening is veel hoger dan verwacht. "
        "Wat is mijn energielabel en hoe vraag ik subsidie aan?",
        "created_at": "2026-11-05T09:14:03+01:00",
        "brand": "energieloket",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def ingestion_figures(
    platform: Platform,
    rows: list[str],
    connections: int,
    seconds: float,
    count: int,
    profile: Path | None = None,
    gil: bool = False,
) -> dict[str, Figures]:
    """Each of `rows` measured in turn on one ingestion process (profiled into `profile`,
    suffixed by the row's name unless it is the webhook's)."""
    platform.env.update(
        {
            "SOCIALCARE_META_APP_SECRET": SECRET,
            "SOCIALCARE_INGEST_GRPC_PORT": "0",
            # One sender at full speed: the per-brand cap (1000/s by default) would answer
            # its excess with 429s, and the bench would measure the rate limiter.
            "SOCIALCARE_WEBHOOK_PLATFORM_RATE_PER_S": "1000000",
        }
    )
    platform.service = "ingestion"
    platform.start()
    try:
        assert platform.process is not None
        run = uuid.uuid4().hex[:8]
        host = urlsplit(platform.base_url).netloc
        figures = {}
        for name in rows:
            if name == "webhook":
                bodies = [whatsapp_webhook(i, run) for i in range(count)]
                requests = requests_for("/v1/channels/meta/webhook", host, bodies, signed=True)
            elif name == "messages":
                bodies = [x_message(i, run) for i in range(count)]
                requests = requests_for("/v1/messages", host, bodies, signed=False)
            else:
                get = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
                requests = [get] * count
            sampled = profile
            if profile is not None and name != "webhook":
                sampled = profile.with_name(
                    profile.name.replace(".speedscope", f"-{name}.speedscope")
                )
            figures[name] = measure(
                platform.base_url,
                requests,
                connections,
                seconds,
                platform.process.pid,
                sampled,
                gil,
            )
        return figures
    finally:
        platform.stop()


def _wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"the trivial server did not listen on {port}")


def row(name: str, figures: Figures) -> str:
    failures = ", ".join(f"{k}: {v}" for k, v in sorted(figures.failures.items())) or "0"
    cpu_ms = 1000 * figures.server_cpu_s / max(1, figures.requests)
    return (
        f"| {name} | {figures.per_second:,.0f} | {figures.quantile(0.5):.1f} | "
        f"{figures.quantile(0.99):.1f} | {max(figures.latencies_ms, default=0):.1f} | "
        f"{cpu_ms:.2f} | {failures} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="embedded,kafka")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--gil", action="store_true", help="profile only the GIL holder")
    parser.add_argument("--out-dir", type=Path, default=REPO / ".cache" / "bench")
    parser.add_argument(
        "--rows",
        default="webhook",
        help=f"what to measure on each backend's ingestion process, of {','.join(ROWS)}",
    )
    args = parser.parse_args()
    rows = args.rows.split(",")
    if unknown := set(rows) - set(ROWS):
        raise SystemExit(f"unknown rows {sorted(unknown)}: use {','.join(ROWS)}")
    # Enough distinct messages for the fastest server to never run out within the run.
    count = int(args.seconds * 6000) + 2000
    print(f"closed loop, {args.connections} connections, {args.seconds:.0f} s per row\n")
    print("| server | requests/s | p50 ms | p99 ms | max ms | server CPU ms/request | non-2xx |")
    print("|---|---|---|---|---|---|---|")
    trivial = trivial_figures(args.connections, args.seconds, count)
    print(row("trivial FastAPI endpoint", trivial), flush=True)
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix=f"socialcare-webhooks-{backend}-") as scratch:
            tmp = Path(scratch)
            if backend == "embedded":
                platform = make_platform(tmp, "embedded", "embedded")
            elif backend == "kafka":
                infra = load_localinfra()
                endpoints = infra.ensure_up(kafka=True, elasticsearch=False)
                platform = make_platform(tmp, f"kafka://{endpoints.kafka_bootstrap}", "embedded")
            else:
                raise SystemExit(f"unknown backend {backend!r}: use embedded or kafka")
            profile = args.out_dir / f"webhooks-{backend}.speedscope.json" if args.profile else None
            measured = ingestion_figures(
                platform, rows, args.connections, args.seconds, count, profile, args.gil
            )
            for name, figures in measured.items():
                print(row(f"{TITLES[name]}, {backend}", figures), flush=True)
            print()
            for name, figures in measured.items():
                print(
                    f"{backend}, {TITLES[name]}: {figures.per_second / trivial.per_second:.2f} x "
                    "the trivial endpoint's requests/s",
                    flush=True,
                )
            print()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("SOCIALCARE_LOG_LEVEL", "WARNING")
    raise SystemExit(main())
