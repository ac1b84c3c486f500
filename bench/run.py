"""End-to-end benchmark: ingest → case assigned, on the embedded backend and on Kafka.

For each backend it measures, in the same run:
  * the baseline: raw bus produce+consume throughput of 1 KB records (bench/bus_throughput);
  * the platform: `socialcare run all` as a subprocess; N messages from distinct customers
    POSTed to /v1/messages by `--concurrency` clients; latency per message from the POST to
    the ASSIGNED case event on care.cases (read by this process from the same bus).
Prints messages/s, p50/p99 latency, the platform's peak RSS, and the ratio to the baseline.
Figures, never assertions: the machines are noisy, compare ratios within one run.

    python bench/run.py [--messages 2000] [--concurrency 8] [--backends embedded,kafka]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from bus_throughput import measure  # noqa: E402

from socialcare.cli import load_localinfra  # noqa: E402
from socialcare.core.bus import Bus  # noqa: E402
from socialcare.core.bus.embedded import EmbeddedBus  # noqa: E402
from socialcare.core.domain.topics import Topic  # noqa: E402
from socialcare.core.events import decode  # noqa: E402
from socialcare.v1 import case_pb2  # noqa: E402
from tests.e2e.platform import Platform, make_platform  # noqa: E402

BENCH_CARE = """
sla_policies:
  - {name: first-response, languages: ["*"], first_response: 24h}
queues:
  - {name: care-en, languages: [en]}
  - {name: care-nl, languages: [nl]}
  - {name: care-global, languages: ["*"]}
agents:
""" + "".join(
    f"  - {{id: agent{i}, name: Agent {i}, languages: [en, nl, de, fr, es], capacity: 1000}}\n"
    for i in range(20)
)

PACED_RATE = 50.0
PACED_COUNT = 500

TEXTS = [
    "My order still has not arrived and nobody answers, this is really disappointing",
    "Mijn energierekening is veel hoger dan verwacht, hoe kan dat?",
    "Waarom is mijn pakket nog steeds niet bezorgd? Belachelijk!",
    "How do I apply for the energy subsidy for my home office?",
    "Meine Rechnung ist viel zu hoch, bitte helfen Sie mir",
]


def message(i: int, run: str) -> dict[str, Any]:
    return {
        "channel": "x",
        "external_id": f"{run}-{i}",
        "author": {"id": f"{run}-author-{i}", "handle": f"@c{i}", "followers": i % 5000},
        "text": f"{TEXTS[i % len(TEXTS)]} (#{i})",
        "created_at": "2026-11-23T10:00:00Z",
    }


class AssignedWatcher:
    """Reads care.cases and notes when each message's case was assigned."""

    def __init__(self, bus: Bus) -> None:
        self.assigned_at: dict[str, float] = {}
        self._consumer = bus.consumer(f"bench-{uuid.uuid4().hex}", [Topic.CASES.value])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for record in self._consumer.poll(500, 0.1):
                event = decode(record, case_pb2.CaseEvent)
                if event.type == case_pb2.CASE_EVENT_TYPE_ASSIGNED:
                    # The cause is the assigner's decision; the case names its messages.
                    now = time.monotonic()
                    for message in event.case.messages:
                        self.assigned_at.setdefault(message.message_id, now)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def send_chunk(base_url: str, run: str, indices: range, interval: float) -> list[tuple[str, float]]:
    """One HTTP client (in its own process): (message id, monotonic send time) per message."""
    sent: list[tuple[str, float]] = []
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        next_at = time.monotonic()
        for i in indices:
            if interval:
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))
            started = time.monotonic()
            answer = client.post("/v1/messages", json=message(i, run))
            answer.raise_for_status()
            sent.append((answer.json()["message_id"], started))
    return sent


def run_platform(
    platform: Platform, bus: Bus, count: int, concurrency: int, rate: float | None = None
) -> dict[str, float]:
    """Send `count` messages from `concurrency` clients, flat out or paced at `rate` msg/s
    in total (latency at saturation is mostly queueing; paced shows the pipeline's own).

    Clients run in their own processes: in this one, the watcher's Kafka client threads
    would compete with them for the GIL and the bench would measure itself.
    """
    run = uuid.uuid4().hex[:8]
    watcher = AssignedWatcher(bus)
    interval = concurrency / rate if rate else 0.0
    step = max(1, -(-count // concurrency))
    chunks = [range(i, min(i + step, count)) for i in range(0, count, step)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(chunks), mp_context=context) as pool:
        # Start every client process before the clock starts.
        idle = len(chunks)
        list(
            pool.map(
                send_chunk,
                [platform.base_url] * idle,
                [run] * idle,
                [range(0)] * idle,
                [0.0] * idle,
            )
        )
        started = time.monotonic()
        results = pool.map(
            send_chunk,
            [platform.base_url] * len(chunks),
            [run] * len(chunks),
            chunks,
            [interval] * len(chunks),
        )
        sent_at = dict(pair for result in results for pair in result)
    ingest_done = time.monotonic()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if all(mid in watcher.assigned_at for mid in sent_at):
            break
        time.sleep(0.1)
    watcher.close()
    latencies = sorted(
        watcher.assigned_at[m] - sent_at[m] for m in sent_at if m in watcher.assigned_at
    )
    if len(latencies) < len(sent_at):
        raise SystemExit(f"only {len(latencies)}/{len(sent_at)} cases assigned in time")
    finished = max(watcher.assigned_at[m] for m in sent_at)
    assert platform.process is not None
    return {
        "messages": float(len(sent_at)),
        "ingest_msgs_per_s": len(sent_at) / (ingest_done - started),
        "e2e_msgs_per_s": len(sent_at) / (finished - started),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "platform_peak_rss_mib": peak_rss_mib(platform.process.pid),
    }


def bench_backend(name: str, count: int, concurrency: int, baseline_records: int) -> None:
    with tempfile.TemporaryDirectory(prefix=f"socialcare-bench-{name}-") as scratch:
        tmp = Path(scratch)
        infra = None
        if name == "embedded":
            platform = make_platform(tmp, "embedded", "embedded")
            baseline_bus: Bus = EmbeddedBus(tmp / "baseline", sync="normal")
        else:
            infra = load_localinfra()
            started_here = not infra.is_running("kafka") or not infra.is_running("elasticsearch")
            endpoints = infra.ensure_up(kafka=True, elasticsearch=True)
            from socialcare.core.bus.kafka import KafkaBus

            platform = make_platform(
                tmp, f"kafka://{endpoints.kafka_bootstrap}", endpoints.elasticsearch_url
            )
            baseline_bus = KafkaBus(endpoints.kafka_bootstrap)
        (tmp / "care.yaml").write_text(BENCH_CARE)
        try:
            baseline = measure(baseline_bus, baseline_records)
            platform.start()
            if name == "embedded":
                watch_bus: Bus = EmbeddedBus(tmp / "data" / "bus")
            else:
                watch_bus = baseline_bus
            figures = run_platform(platform, watch_bus, count, concurrency)
            paced = run_platform(platform, watch_bus, PACED_COUNT, concurrency, PACED_RATE)
            platform.stop()
        finally:
            if platform.process is not None and platform.process.poll() is None:
                platform.stop()
            if infra is not None and started_here:
                infra.down(kafka=True, elasticsearch=True)
        base = baseline["end_to_end_msg_s"]
        print(f"\n== {name} ==")
        print(
            f"baseline bus produce+consume (1 KB, {baseline_records} records): "
            f"{base:,.0f} msg/s (produce {baseline['produce_msg_s']:,.0f}, "
            f"consume {baseline['consume_msg_s']:,.0f})"
        )
        print(
            f"platform ingest → case assigned ({int(figures['messages'])} messages, "
            f"{concurrency} HTTP clients): {figures['e2e_msgs_per_s']:,.0f} msg/s "
            f"(HTTP ingest alone {figures['ingest_msgs_per_s']:,.0f} msg/s), "
            f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
            f"peak RSS {figures['platform_peak_rss_mib']:.0f} MiB"
        )
        print(
            f"platform paced at {PACED_RATE:.0f} msg/s ({PACED_COUNT} messages): "
            f"p50 {paced['p50_ms']:.1f} ms, p99 {paced['p99_ms']:.1f} ms"
        )
        print(f"ratio platform/baseline: {figures['e2e_msgs_per_s'] / base:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--baseline-records", type=int, default=20000)
    parser.add_argument("--backends", default="embedded,kafka")
    ns = parser.parse_args()
    for name in ns.backends.split(","):
        bench_backend(name.strip(), ns.messages, ns.concurrency, ns.baseline_records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
