"""What the audit log and the log redaction cost: an admin action through the real gateway
with and without the audit middleware, and `core.pii.redact` per log line.

1. HTTP: the gateway as `socialcare run gateway` assembles it (`cli.assemble`, the real
   routes, sign-in and accounts, on a fresh embedded bus in a tmp dir; no gRPC port), built
   twice over the same runtime and components: one app with the installers (the audit
   middleware: every action's `AuditRecord` durable on audit.log before the answer goes
   out), one without. Each is served by uvicorn on loopback in this process; a closed-loop
   client in a process of its own (bench/webhooks.py's) sends `POST /v1/users` (an admin
   creating a user, a different username each, no password) with `--connections`
   keep-alive connections for `--seconds` after a warm-up. The two apps alternate for
   `--rounds` rounds (noise on a small machine hits both). Printed: requests/s, p50/p99/
   max ms, non-2xx, server CPU ms per request (this process only; the client is
   elsewhere), and audited/unaudited ratios.
2. Redaction: `pii.redact` on realistic log lines of about 100 and 1000 characters, with and
   without personal data (an e-mail address, a phone number, an IBAN, a card number), in
   microseconds per line; and `telemetry.JsonFormatter.format` on a log record with a
   message and fields, with the redaction as installed vs replaced by the identity.

Figures only, never assertions: compare the ratios within one run.

    python bench/audit_overhead.py [--seconds 5] [--connections 16] [--rounds 2]
        [--lines 20000] [--profile]

`--profile` samples this process with py-spy during the first audited round and prints
where its time goes (see bench/open_loop.py).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import timeit
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

# tests.unit.auth_support imports FastAPI's TestClient, which warns about httpx on import.
warnings.filterwarnings("ignore", message=".*httpx2.*")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from open_loop import finish_profile, start_profile  # noqa: E402
from webhooks import WARMUP_S, Figures, _client, row  # noqa: E402

from socialcare import cli  # noqa: E402
from socialcare.core import pii, telemetry  # noqa: E402
from socialcare.core.config import PlatformSettings  # noqa: E402
from socialcare.core.domain.topics import Topic  # noqa: E402
from socialcare.core.runtime import Runtime, build_app  # noqa: E402
from tests.e2e.platform import free_port  # noqa: E402
from tests.unit.auth_support import admin_headers, open_test_auth  # noqa: E402

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


# -- HTTP ----------------------------------------------------------------------------------
@contextmanager
def serve(app: Any) -> Iterator[str]:
    """`app` on uvicorn on a loopback port, in a thread of this process."""
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
        thread.join(10)


def user_requests(host: str, headers: dict[str, str], count: int, run: str) -> list[bytes]:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    out = []
    for i in range(count):
        body = f'{{"username":"bench-{run}-{i}","roles":["agent"]}}'.encode()
        out.append(
            (
                f"POST /v1/users HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"User-Agent: bench\r\n{head}Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    return out


def measure(
    url: str, requests: list[bytes], connections: int, seconds: float, profile: Path | None
) -> tuple[Figures, int]:
    """Warm up, then drive `url` from a separate process for `seconds`; the server's CPU
    is this process's (the client's is its own). Also the warm-up's request count."""
    context = multiprocessing.get_context("spawn")
    warm, rest = requests[:1000], requests[1000:]
    with context.Pool(1) as pool:
        warmed = pool.apply(_client, (url, warm, connections, WARMUP_S))[0]
        spy = start_profile(os.getpid(), seconds, profile) if profile else None
        before = time.process_time()
        done, elapsed, latencies, failures = pool.apply(_client, (url, rest, connections, seconds))
        cpu = time.process_time() - before
    if isinstance(spy, str):
        print(spy, flush=True)
    elif spy is not None and profile is not None:
        print(finish_profile(spy, profile), flush=True)
    return Figures(done, elapsed, latencies, failures, cpu), warmed


def merged(parts: list[Figures]) -> Figures:
    return Figures(
        sum(f.requests for f in parts),
        sum(f.seconds for f in parts),
        [ms for f in parts for ms in f.latencies_ms],
        {k: sum(f.failures.get(k, 0) for f in parts) for p in parts for k in p.failures},
        sum(f.server_cpu_s for f in parts),
    )


def http_figures(args: argparse.Namespace) -> dict[str, Figures]:
    os.environ["SOCIALCARE_GATEWAY_GRPC_ADDRESS"] = ""  # no gRPC port to bind
    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="socialcare-audit-bench-") as scratch:
        tmp = Path(scratch)
        care = tmp / "care.yaml"
        care.write_text(CARE)
        runtime = Runtime(
            PlatformSettings(data_dir=tmp / "data", embedded_sync="normal", care_config=care)
        )
        auth = open_test_auth(runtime)
        parts = cli.assemble(runtime, ["gateway"])
        components = [*auth.components, *parts.components]
        plain = build_app("gateway", parts.routers, components, auth.authenticator)
        audited = build_app("gateway", parts.routers, components, auth.authenticator)
        for install in parts.installers:
            install(audited)
        for component in components:
            component.start()
        headers = admin_headers(runtime)
        count = int(args.seconds * 4000) + 1000
        measured: dict[str, list[Figures]] = {"without audit": [], "with audit": []}
        audited_requests = 0
        try:
            with serve(plain) as plain_url, serve(audited) as audited_url:
                for round_ in range(args.rounds):
                    for name, url in (("without audit", plain_url), ("with audit", audited_url)):
                        host = url.removeprefix("http://")
                        requests = user_requests(host, headers, count, uuid.uuid4().hex[:8])
                        profile = None
                        if args.profile and round_ == 0 and name == "with audit":
                            profile = args.out_dir / "audit-overhead.speedscope.json"
                        figures, warmed = measure(
                            url, requests, args.connections, args.seconds, profile
                        )
                        if name == "with audit":
                            audited_requests += warmed + figures.requests
                        measured[name].append(figures)
                        print(row(f"POST /v1/users, {name}, round {round_ + 1}", figures))
            topic = Topic.AUDIT_LOG.value
            partitions = list(range(runtime.bus.partition_count(topic)))
            records = sum(runtime.bus.end_offsets(topic, partitions).values())
            print(
                f"\naudit.log records: {records} (the audited app answered {audited_requests}"
                " requests, warm-ups included)"
            )
        finally:
            for component in components:
                component.stop()
            for component in components:
                component.join(10.0)
            runtime.close()
    return {name: merged(parts) for name, parts in measured.items()}


# -- redaction ----------------------------------------------------------------------------
CLEAN_100 = (
    "case c-20261126-0042 assigned to agent sanne (queue care-global, brand acme) after 3.2s"
)
PII_100 = "reply to jan.jansen@example.nl failed: +31 6 1234 5678 unreachable (case c-0042)"
FILLER = (
    " routing decided queue care-global for brand acme, language nl, sentiment negative,"
    " priority 2, sla first_response 1h, version 7, partition 3, offset 120934;"
)


def line(length: int, personal: bool) -> str:
    """A log line of about `length` characters, with personal data spread in when asked."""
    text = PII_100 if personal else CLEAN_100
    extra = [
        " customer wrote from IBAN NL91 ABNA 0417 1643 00 with card 4111 1111 1111 1111;",
        " e-mail piet.de.vries@voorbeeld.nl, phone 06-12345678;",
    ]
    n = 0
    while len(text) < length:
        text += extra[n % 2] if personal and n % 4 == 0 else FILLER
        n += 1
    return text[:length]


def per_call_us(fn: Callable[[], object], number: int) -> float:
    """The best of three runs of `number` calls, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6


def redaction_rows(lines: int) -> list[tuple[str, float, float]]:
    """(what, us/line, found) rows for `pii.redact`."""
    out = []
    for length in (100, 1000):
        for personal in (False, True):
            text = line(length, personal)
            found = len(pii.find(text))
            us = per_call_us(lambda text=text: pii.redact(text), lines)  # type: ignore[misc]
            what = f"pii.redact, {len(text)} chars, {'with' if personal else 'without'} PII"
            out.append((what, us, float(found)))
    return out


def formatter_rows(lines: int) -> list[tuple[str, float]]:
    """`JsonFormatter.format` per record, redaction installed vs the identity."""
    formatter = telemetry.JsonFormatter()
    out = []
    for length in (100, 1000):
        record = logging.LogRecord(
            "socialcare.bench", logging.INFO, __file__, 1, line(length, True), None, None
        )
        record.case_id = "c-20261126-0042"
        record.brand = "acme"
        record.customer = "jan.jansen@example.nl"
        installed = per_call_us(lambda r=record: formatter.format(r), lines)  # type: ignore[misc]
        # The formatter calls the module's `redact_value`: swapped for the identity.
        original = getattr(telemetry, "redact_value")  # noqa: B009
        setattr(telemetry, "redact_value", lambda value: value)  # noqa: B010
        try:
            bare = per_call_us(lambda r=record: formatter.format(r), lines)  # type: ignore[misc]
        finally:
            setattr(telemetry, "redact_value", original)  # noqa: B010
        out.append((f"JsonFormatter, {length}-char message + 3 fields, with PII", installed))
        out.append(("JsonFormatter, same record, redaction replaced by identity", bare))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--lines", type=int, default=20000, help="calls per redaction timing")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args()
    if not args.skip_http:
        print(
            f"closed loop, {args.connections} connections, {args.seconds:g} s per row, "
            f"{args.rounds} rounds\n"
        )
        print("| app | requests/s | p50 ms | p99 ms | max ms | server CPU ms/request | non-2xx |")
        print("|---|---|---|---|---|---|---|")
        total = http_figures(args)
        for name, figures in total.items():
            print(row(f"POST /v1/users, {name}, all rounds", figures))
        plain, audited = total["without audit"], total["with audit"]
        plain_cpu = plain.server_cpu_s / max(1, plain.requests)
        audited_cpu = audited.server_cpu_s / max(1, audited.requests)
        print(
            f"\naudited/unaudited: throughput {audited.per_second / plain.per_second:.2f}x, "
            f"p50 {audited.quantile(0.5) / max(0.001, plain.quantile(0.5)):.2f}x, "
            f"p99 {audited.quantile(0.99) / max(0.001, plain.quantile(0.99)):.2f}x, "
            f"CPU per request {audited_cpu / max(1e-9, plain_cpu):.2f}x "
            f"(+{1000 * (audited_cpu - plain_cpu):.2f} ms)\n"
        )
    print("| what | us per line | matches |")
    print("|---|---|---|")
    rows = redaction_rows(args.lines)
    for what, us, found in rows:
        print(f"| {what} | {us:.1f} | {found:.0f} |")
    formatted = formatter_rows(args.lines // 4)
    for what, us in formatted:
        print(f"| {what} | {us:.1f} | |")
    print()
    for length, at in ((100, 0), (1000, 2)):
        installed, bare = formatted[at][1], formatted[at + 1][1]
        print(
            f"JsonFormatter {length}-char line: redaction adds {installed - bare:.1f} us "
            f"({installed / bare:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
