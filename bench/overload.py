"""Overload benchmark: the open loop of bench/open_loop.py at 1.5x the knee, then back down.

What it shows: whether ingestion refuses what it cannot take (503 `overloaded` with
`Retry-After`, `ingestion.admission`) instead of queueing it in memory, whether anything it
accepted goes missing, and whether latency comes back once the burst is over.

For each backend (`embedded`; `kafka` = Kafka + Elasticsearch through
deploy/local/localinfra.py, as bench/open_loop.py; run it under
`flock /tmp/plan14/kafka.lock` when other sessions share the servers):

1. `socialcare run all` as a subprocess, warmed up as bench/open_loop.py does;
2. the knee, unless `--knee` gives it: the open-loop steps (`--rates`, `--step-seconds`),
   the highest passing rate. `--knee-of pipeline` (the default) is bench/open_loop.py's
   criterion (p99 scheduled -> ASSIGNED <= 250 ms, nothing failed or left behind): the
   platform's capacity. `--knee-of door` takes the answers only (every POST 200/202, p99
   scheduled -> answer <= 250 ms), ignoring how far behind the pipeline falls: the
   capacity of ingestion's HTTP door, above which its admission control has work to do;
3. phases of constant offered rate, one after the other: `before` (`--before` s at 0.5x
   the knee), `burst` (`--duration` s, default 300, at `--factor` x the knee, default 1.5),
   `recovery` (`--recovery` s at 0.5x the knee); then up to `--drain-seconds` for every
   accepted message to be assigned;
4. per 10 s of each phase (by scheduled send time): offered, accepted, shed (503
   `overloaded` or any 429), other errors (other statuses, timeouts, refused connections),
   p50/p99 answer latency (scheduled -> HTTP answer) and p50/p99 end-to-end latency
   (scheduled -> ASSIGNED) of the accepted, p99 lateness of the generator's own sends
   (scheduled -> written: a starved generator shows here, not as the platform), the
   platform process's peak RSS (in `run all` ingestion shares it with every other service)
   and the machine's 1-minute load average;
5. at the end: sent, accepted, shed, 5xx other than shed, other failures; then
   `social.messages.raw` read from the start by a fresh consumer, every message id counted:
   lost = accepted but not on the topic, duplicated = on the topic more than once,
   shed-but-written = refused yet on the topic (must be none: a refusal writes nothing),
   failed-but-written = no answer (timeout) yet on the topic (accepted, the client could
   not know); RSS before / peak / after; p99 before / during / after; ingestion's own count
   of refusals (`socialcare_ingest_shed_total` from /metrics) beside the client's.

The generator keeps up to `--connections` requests in flight per client process (default
512, against bench/open_loop.py's 64) so that the platform, not the generator's pool,
meets the excess. Figures, never assertions: the machine is shared and noisy; compare the
ratios against the knee measured in the same run.

    python bench/overload.py [--backends embedded,kafka] [--knee RATE]
        [--knee-of pipeline|door] [--duration 300] [--factor 1.5] [--before 30]
        [--recovery 120] [--drain-seconds 60] [--clients 2] [--connections 512]
        [--rates 25,50,100,...] [--step-seconds 10] [--max-in-flight N] [--max-delay-s S]

`--max-in-flight` and `--max-delay-s` set the platform's SOCIALCARE_INGEST_MAX_IN_FLIGHT and
SOCIALCARE_INGEST_MAX_DELAY_S; huge values (`--max-in-flight 1000000 --max-delay-s 3600`)
switch admission control off, for the same run without it.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from open_loop import (  # noqa: E402
    P99_LIMIT_MS,
    REQUEST_TIMEOUT_S,
    AssignedWatcher,
    Bench,
    Sent,
    Step,
    _format_table,
    _quantile,
    _ready,
    care_config,
)

from socialcare.cli import load_localinfra  # noqa: E402
from socialcare.core.bus import Bus  # noqa: E402
from socialcare.core.bus.embedded import EmbeddedBus  # noqa: E402
from socialcare.core.domain.topics import Topic  # noqa: E402
from socialcare.core.events import decode  # noqa: E402
from socialcare.ingestion.domain import message_id_for  # noqa: E402
from socialcare.v1 import message_pb2  # noqa: E402
from tests.e2e.platform import Platform, make_platform  # noqa: E402

DEFAULT_RATES = (25, 50, 100, 200, 400, 800, 1600, 3200)
ROW_S = 10.0
RSS_EVERY_S = 0.5
OK = (200, 202)


def shed(sent: Sent) -> bool:
    """Refused by admission control (or any rate limit): the client should come back."""
    return sent.status == 429 or (sent.status == 503 and sent.problem.endswith("overloaded"))


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MB (NaN when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return math.nan
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else math.nan


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class Sampler:
    """The platform's RSS and the machine's load average every RSS_EVERY_S, in a thread."""

    def __init__(self, pid: int) -> None:
        self.samples: list[tuple[float, float, float]] = []  # (monotonic, RSS MB, load)
        self._pid = pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(RSS_EVERY_S):
            self.samples.append((time.monotonic(), rss_mb(self._pid), load_average()))

    def between(self, start: float, end: float) -> list[tuple[float, float, float]]:
        return [s for s in self.samples if start <= s[0] < end]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class Phase:
    name: str
    rate: float
    seconds: float
    sent: list[Sent] = field(default_factory=list)
    started: float = 0.0


def _peak(values: list[float]) -> float:
    return max(values, default=math.nan)


def _ms(values: list[float], q: float) -> float:
    return _quantile(sorted(values), q)


def door_step(bench: Bench, rate: float, seconds: float) -> tuple[bool, str]:
    """One step judged by the answers only (see the module docstring)."""
    sent, _ = bench.send(rate, max(1, round(rate * seconds)), seconds)
    ok = [s for s in sent if s.status in OK]
    p99 = _ms([(s.answered - s.scheduled) * 1000 for s in ok], 0.99)
    failed = Counter(s.problem or str(s.status) for s in sent if s.status not in OK)
    passed = not failed and p99 <= P99_LIMIT_MS
    return passed, (
        f"{rate:>8,.0f} msg/s offered: {len(ok)}/{len(sent)} answered 200/202, answer p99 "
        f"{p99:.1f} ms, failed {dict(failed) or 0}: {'pass' if passed else 'FAIL'}"
    )


def find_knee(bench: Bench, options: Options, name: str) -> tuple[float, list[str]]:
    """The highest passing step (see the module docstring); 0 when none passes."""
    lines: list[str] = []
    knee = 0.0
    steps: list[Step] = []
    for rate in options.rates:
        if options.knee_of == "door":
            passed, line = door_step(bench, rate, options.step_seconds)
            lines.append(line)
            print(f"  [{name}] knee (door) {line}", flush=True)
        else:
            step = bench.step(rate, options.step_seconds, 5.0)
            steps.append(step)
            passed = step.passed
            print(
                f"  [{name}] knee (pipeline) {rate:,.0f} msg/s: p99 {step.p99_ms:.1f} ms, "
                f"errors {step.errors}, left {step.left_behind}: {'pass' if passed else 'FAIL'}",
                flush=True,
            )
        if not passed:
            break
        knee = rate
    if steps:
        lines = _format_table(steps, list(steps[0].cpu_ms_per_msg)).splitlines()
    return knee, lines


def phase_rows(
    phase: Phase, watcher: AssignedWatcher, sampler: Sampler, origin: float
) -> list[str]:
    """One row per ROW_S of the phase, messages by scheduled time."""
    rows = []
    buckets = max(1, math.ceil(phase.seconds / ROW_S))
    for b in range(buckets):
        start = phase.started + b * ROW_S
        end = start + ROW_S
        inside = [s for s in phase.sent if start <= s.scheduled < end]
        span = min(ROW_S, phase.seconds - b * ROW_S)
        ok = [s for s in inside if s.status in OK]
        refused = sum(shed(s) for s in inside)
        others = sum(1 for s in inside if s.status not in OK and not shed(s))
        answer = [(s.answered - s.scheduled) * 1000 for s in ok]
        e2e = [
            (watcher.assigned_at[s.message_id] - s.scheduled) * 1000
            for s in ok
            if s.message_id in watcher.assigned_at
        ]
        samples = sampler.between(start, end + REQUEST_TIMEOUT_S if b == buckets - 1 else end)
        rss = max((s[1] for s in samples), default=math.nan)
        load = max((s[2] for s in samples), default=math.nan)
        late = [(s.sent - s.scheduled) * 1000 for s in inside if s.status != -1]
        rows.append(
            f"{start - origin:>7.0f} {phase.name:>9} {len(inside) / span:>8.1f} "
            f"{len(ok) / span:>8.1f} {refused / span:>8.1f} {others / span:>7.1f} "
            f"{_ms(answer, 0.5):>8.1f} {_ms(answer, 0.99):>8.1f} "
            f"{_ms(e2e, 0.5):>9.1f} {_ms(e2e, 0.99):>9.1f} {_ms(late, 0.99):>9.1f} "
            f"{rss:>8.1f} {load:>5.2f}"
        )
    return rows


def topic_counts(bus: Bus) -> Counter[str]:
    """Every message id on social.messages.raw, with how many records carry it."""
    consumer = bus.consumer(f"overload-{uuid.uuid4().hex}", [Topic.MESSAGES_RAW.value])
    counts: Counter[str] = Counter()
    empty = 0
    try:
        while empty < 3:
            records = consumer.poll(2000, 1.0)
            empty = 0 if records else empty + 1
            for record in records:
                if not record.tombstone:
                    counts[decode(record, message_pb2.SocialMessage).message_id] += 1
    finally:
        consumer.close()
    return counts


def shed_on_server(platform: Platform) -> Counter[str]:
    """`socialcare_ingest_shed_total` by the bound that refused (summed over the doors),
    from the platform's /metrics."""
    counts: Counter[str] = Counter()
    for line in platform.get("/metrics").text.splitlines():
        if found := re.match(r'socialcare_ingest_shed_total\{.*limit="(\w+)".*\} (\S+)$', line):
            counts[found.group(1)] += round(float(found.group(2)))
    return counts


@dataclass
class Options:
    knee: float | None
    knee_of: str
    rates: list[float]
    step_seconds: float
    factor: float
    duration: float
    before: float
    recovery: float
    drain_seconds: float
    clients: int
    connections: int
    max_in_flight: int | None
    max_delay_s: float | None


def summary(
    phases: list[Phase],
    watcher: AssignedWatcher,
    sampler: Sampler,
    on_topic: Counter[str],
    run: str,
    server_shed: Counter[str],
    knee: float,
) -> list[str]:
    sent = [s for p in phases for s in p.sent]
    ok = [s for s in sent if s.status in OK]
    refused = [s for s in sent if shed(s)]
    five_xx = [s for s in sent if s.status >= 500 and not shed(s)]
    failed = [s for s in sent if s.status in (0, -1)]
    other = [s for s in sent if s.status not in OK and not shed(s) and s.status < 500]
    other = [s for s in other if s.status not in (0, -1)]

    def written(s: Sent) -> bool:
        return on_topic[message_id_for("x", f"{run}-{s.index}")] > 0

    lost = [s for s in ok if on_topic[s.message_id] == 0]
    duplicated = sum(1 for s in ok if on_topic[s.message_id] > 1)
    unassigned = sum(1 for s in ok if s.message_id not in watcher.assigned_at)
    by_name = {p.name: p for p in phases}
    first = phases[0].started
    last = phases[-1].started + phases[-1].seconds
    before_rss = [s[1] for s in sampler.between(first, by_name["burst"].started)]
    during_rss = [s[1] for s in sampler.samples if s[0] >= first]
    after_rss = [s[1] for s in sampler.between(last - 10.0, math.inf)]

    def p99s(phase: Phase) -> tuple[float, float]:
        accepted = [s for s in phase.sent if s.status in OK]
        answer = _ms([(s.answered - s.scheduled) * 1000 for s in accepted], 0.99)
        e2e = _ms(
            [
                (watcher.assigned_at[s.message_id] - s.scheduled) * 1000
                for s in accepted
                if s.message_id in watcher.assigned_at
            ],
            0.99,
        )
        return answer, e2e

    def p99(phase: Phase) -> str:
        answer, e2e = p99s(phase)
        base_answer, base_e2e = p99s(by_name["before"])
        return (
            f"{phase.name} answer {answer:,.1f} ms ({answer / base_answer:.1f}x before), "
            f"end-to-end {e2e:,.1f} ms ({e2e / base_e2e:.1f}x)"
        )

    burst = by_name["burst"]
    burst_ok = sum(s.status in OK for s in burst.sent)
    tail = [s for s in by_name["recovery"].sent if s.scheduled >= last - ROW_S and s.status in OK]
    tail_e2e = _ms(
        [
            (watcher.assigned_at[s.message_id] - s.scheduled) * 1000
            for s in tail
            if s.message_id in watcher.assigned_at
        ],
        0.99,
    )
    return [
        f"sent {len(sent):,}: accepted {len(ok):,}, shed {len(refused):,} (server counted "
        f"{server_shed.total():,} by bound {dict(server_shed) or 0}), other 5xx "
        f"{len(five_xx):,}, other 4xx {len(other):,}, "
        f"no answer / not sent {len(failed):,} "
        f"({dict(Counter(s.problem or 'unsent' for s in failed)) or 0})",
        f"burst: {burst_ok / burst.seconds:,.1f} msg/s accepted of {burst.rate:,.1f} offered "
        f"= {burst_ok / burst.seconds / knee:.2f}x the knee ({knee:,.0f} msg/s); "
        f"{sum(shed(s) for s in burst.sent) / max(1, len(burst.sent)):.1%} of it shed",
        f"lost (accepted, not on social.messages.raw): {len(lost)}; duplicated on the topic: "
        f"{duplicated}; shed but written: {sum(written(s) for s in refused)}; no answer but "
        f"written: {sum(written(s) for s in failed)}; accepted but not assigned by the end: "
        f"{unassigned}",
        f"platform RSS: before the burst {_peak(before_rss):,.1f} MB, peak "
        f"{_peak(during_rss):,.1f} MB ({_peak(during_rss) / _peak(before_rss):.2f}x), after "
        f"{_peak(after_rss):,.1f} MB; growth per accepted message "
        f"{(_peak(after_rss) - _peak(before_rss)) * 1024 / max(1, len(ok)):,.1f} KB (every "
        "message opens a case: routing, SLA and search state grow with them, shed or not)",
        "p99: " + "; ".join(p99(p) for p in phases),
        f"end-to-end p99 of the recovery's last {ROW_S:.0f} s: {tail_e2e:,.1f} ms",
    ]


def bench_backend(name: str, options: Options) -> list[str]:
    """Knee, phases and the topic count on one backend; what to print at the end."""
    notes: list[str] = []
    duration = options.before + options.duration + options.recovery
    rates_total = sum(r * options.step_seconds for r in options.rates)
    peak = options.knee if options.knee is not None else max(options.rates)
    cases = round(rates_total + duration * options.factor * peak) + 1000
    with tempfile.TemporaryDirectory(prefix=f"socialcare-overload-{name}-") as scratch:
        tmp = Path(scratch)
        infra: ModuleType | None = None
        started_here = {"kafka": False, "elasticsearch": False}
        if name == "embedded":
            platform = make_platform(tmp, "embedded", "embedded")
        elif name == "kafka":
            infra = load_localinfra()
            started_here = {server: not infra.is_running(server) for server in started_here}
            endpoints = infra.ensure_up(kafka=True, elasticsearch=True)
            platform = make_platform(
                tmp, f"kafka://{endpoints.kafka_bootstrap}", endpoints.elasticsearch_url
            )
        else:
            raise SystemExit(f"unknown backend {name!r}: use embedded or kafka")
        (tmp / "care.yaml").write_text(care_config(cases))
        if options.max_in_flight is not None:
            platform.env["SOCIALCARE_INGEST_MAX_IN_FLIGHT"] = str(options.max_in_flight)
        if options.max_delay_s is not None:
            platform.env["SOCIALCARE_INGEST_MAX_DELAY_S"] = str(options.max_delay_s)
        watcher: AssignedWatcher | None = None
        sampler: Sampler | None = None
        bus: Bus | None = None
        lines: list[str] = []
        context = multiprocessing.get_context("spawn")
        try:
            platform.start()
            assert platform.process is not None
            if name == "embedded":
                bus = EmbeddedBus(tmp / "data" / "bus")
            else:
                from socialcare.core.bus.kafka import KafkaBus

                bus = KafkaBus(endpoints.kafka_bootstrap)
            watcher = AssignedWatcher(bus)
            sampler = Sampler(platform.process.pid)
            with ProcessPoolExecutor(options.clients, mp_context=context) as pool:
                for future in [pool.submit(_ready) for _ in range(options.clients * 2)]:
                    future.result()
                bench = Bench(
                    platform,
                    watcher,
                    pool,
                    options.clients,
                    {"platform": platform.process.pid},
                    1,
                    options.connections,
                )
                bench.warm_up()
                knee = options.knee
                if knee is None:
                    knee, knee_lines = find_knee(bench, options, name)
                    lines += [f"knee by {options.knee_of} steps of {options.step_seconds:g} s:"]
                    lines += knee_lines
                    if knee <= 0:
                        raise SystemExit(f"{name}: no step passed; nothing to overload")
                    # Let the pipeline catch up on what the failing step left behind.
                    time.sleep(options.step_seconds)
                phases = [
                    Phase("before", 0.5 * knee, options.before),
                    Phase("burst", options.factor * knee, options.duration),
                    Phase("recovery", 0.5 * knee, options.recovery),
                ]
                for phase in phases:
                    count = max(1, round(phase.rate * phase.seconds))
                    phase.sent, _ = bench.send(phase.rate, count, REQUEST_TIMEOUT_S)
                    phase.started = min(s.scheduled for s in phase.sent)
                    print(
                        f"  [{name}] {phase.name}: {phase.rate:,.1f} msg/s for "
                        f"{phase.seconds:g} s, {sum(s.status in OK for s in phase.sent):,} "
                        f"accepted, {sum(shed(s) for s in phase.sent):,} shed",
                        flush=True,
                    )
                accepted = [s.message_id for p in phases for s in p.sent if s.status in OK]
                watcher.wait_for(accepted, time.monotonic() + options.drain_seconds)
                server_shed = shed_on_server(platform)
                origin = phases[0].started
                lines.append(
                    f"per {ROW_S:.0f} s (by scheduled time; latencies of the accepted, in ms; "
                    "late = the generator's sends; RSS of the platform process, the peak; "
                    "load = the machine's 1-minute load average, 2 cores shared with other "
                    "sessions):"
                )
                lines.append(
                    f"{'t s':>7} {'phase':>9} {'offered':>8} {'accepted':>8} {'shed':>8} "
                    f"{'other':>7} {'ans p50':>8} {'ans p99':>8} {'e2e p50':>9} {'e2e p99':>9} "
                    f"{'late p99':>9} {'RSS MB':>8} {'load':>5}"
                )
                for phase in phases:
                    lines += phase_rows(phase, watcher, sampler, origin)
                on_topic = topic_counts(bus)
                lines += summary(phases, watcher, sampler, on_topic, bench.run, server_shed, knee)
        finally:
            if sampler is not None:
                sampler.close()
            if watcher is not None:
                watcher.close()
            if platform.process is not None and platform.process.poll() is None:
                try:
                    platform.stop()
                except AssertionError:
                    notes.append(f"{name}: the platform ignored SIGTERM and was killed")
            if bus is not None:
                bus.close()
            if platform.log_path.exists():
                out = REPO / ".cache" / "bench"
                out.mkdir(parents=True, exist_ok=True)
                kept = out / f"overload-{name}-platform.log"
                shutil.copyfile(platform.log_path, kept)
                notes.append(f"{name}: the platform's log is kept in {kept}")
            if infra is not None and any(started_here.values()):
                infra.down(kafka=started_here["kafka"], elasticsearch=started_here["elasticsearch"])
    print(f"\n== {name} ==")
    print(
        f"knee {knee:,.0f} msg/s ({'given' if options.knee else options.knee_of}); burst "
        f"{options.factor:g}x for {options.duration:g} s; {options.clients} client processes x "
        f"{options.connections} connections; cpu count {os.cpu_count()}"
    )
    print("\n".join(lines))
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="embedded", help="comma-separated")
    parser.add_argument("--knee", type=float, help="msg/s; found by steps when not given")
    parser.add_argument("--knee-of", choices=("pipeline", "door"), default="pipeline")
    parser.add_argument("--rates", default=",".join(str(r) for r in DEFAULT_RATES))
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--before", type=float, default=30.0)
    parser.add_argument("--recovery", type=float, default=120.0)
    parser.add_argument("--drain-seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--connections", type=int, default=512, help="per client process")
    parser.add_argument(
        "--max-in-flight", type=int, help="SOCIALCARE_INGEST_MAX_IN_FLIGHT for the platform"
    )
    parser.add_argument(
        "--max-delay-s", type=float, help="SOCIALCARE_INGEST_MAX_DELAY_S for the platform"
    )
    ns = parser.parse_args()
    options = Options(
        knee=ns.knee,
        knee_of=ns.knee_of,
        rates=[float(r) for r in ns.rates.split(",")],
        step_seconds=ns.step_seconds,
        factor=ns.factor,
        duration=ns.duration,
        before=ns.before,
        recovery=ns.recovery,
        drain_seconds=ns.drain_seconds,
        clients=ns.clients,
        connections=ns.connections,
        max_in_flight=ns.max_in_flight,
        max_delay_s=ns.max_delay_s,
    )
    if min(options.duration, options.before, options.recovery, options.step_seconds) <= 0:
        parser.error("--duration, --before, --recovery and --step-seconds must be > 0")
    notes: list[str] = []
    for name in ns.backends.split(","):
        notes += bench_backend(name.strip(), options)
    for note in notes:
        print(f"\n{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
