"""Soak: the platform at a steady open-loop rate for an hour, its resources every minute.

A leak shows as a slope, not as a failure: a process that gains a few megabytes, file
descriptors or threads an hour, or a consumer group that falls behind by a few records a
minute, passes every functional test and every short bench. So this runs one constant
offered rate for `--minutes` (default 60) and prints, every minute (`--interval-seconds`):

* the load: messages offered, accepted, refused and left unsent by the open-loop generator of
  bench/open_loop.py (imported: message i scheduled at t0 + i / rate, latency measured from
  the scheduled time, so a stall of the platform counts against it); p99 of the ingest answer
  and of scheduled -> the case's ASSIGNED event on care.cases (and how many were not
  assigned within `--drain-seconds` after their minute); the agents' replies accepted by the
  gateway and the posts that reached the fake channel; the machine's 1-minute load
  average (on a shared machine, latency follows the neighbours as much as the platform);
* per process (the platform, or every service in its own process; on Kafka also the broker
  and the Elasticsearch node): resident memory (VmRSS of /proc/<pid>/status), open file
  descriptors (entries of /proc/<pid>/fd), threads, and the cores it used in the minute;
* per consumer group: its lag, summed over partitions, from the services' own gauge
  `socialcare_consumer_lag_records` on /metrics (the same on both backends; each consumer
  loop refreshes it every 5 s).

At the end, per metric and process: the least-squares slope over the minutes after
`--warmup-minutes` (loading models and filling caches are not leaks),
per hour, with its standard error, and a verdict: `growing` when the slope is above the
metric's threshold (THRESHOLDS, printed) and more than two standard errors from zero,
`falling` likewise below minus the threshold, else `flat`. Printed, never asserted. With
`--idle-minutes M` the sampling goes on for M minutes with nothing offered, and those
slopes are printed apart: growth without load is a leak whatever the cases hold. Every
case stays open (each message comes from a new customer, and agents have room for all), so
state that grows with the open cases is growth by design: beside the memory slope the end
prints it per case opened, to tell a per-case cost from a leak.

The workload: `--rate` messages/s (default 20: fixed rather than a fraction of a capacity
measured at start, so two soaks on different days offer the same load; well under what
`make bench` sustains on the embedded backend) POSTed to ingestion's /v1/messages by
`--clients` generator processes. One in `--reply-every` newly assigned cases (default 4)
gets a reply from its agent through the gateway (`POST /v1/cases/{id}/replies`), which
routing turns into care.outbound and ingestion's connectors post to a local fake of the
channels' APIs (tests/fakes/platforms.py; the messages are X posts), so every stage works:
ingestion, enrichment, routing and the assigner, sla (first responses), escalation, the
indexer, the webhooks' fan-out and the outbound connectors.

Backends: `--backend embedded` (default: `socialcare run all`, one process, nothing to
install) or `--backend kafka` (Kafka + Elasticsearch through deploy/local/localinfra.py,
started if needed and stopped afterwards only if this run started them), with
`--processes all` (one `socialcare run all`) or `each` (every service its own process, as
in production; the default on Kafka). The embedded backends cannot be shared between
processes that each have their own data directory, so `each` needs Kafka.

    python bench/soak.py [--backend embedded|kafka] [--processes all|each] [--rate 20]
        [--minutes 60] [--warmup-minutes 5] [--clients 1] [--reply-every 4]
        [--drain-seconds 10] [--interval-seconds 60] [--idle-minutes 0]
        [--out-dir .cache/soak]
        [--profile-interval N [--profile-process NAME]]

`--profile-interval N` (repeatable) samples one process with py-spy for 30 s of interval N
(through bench/open_loop.py's profiler) and prints its busiest functions: where a growing
latency or CPU comes from, comparing an early interval with a late one.

Every sample is also written as one JSON line to `--out-dir` (the path is printed), with
the platform's logs: `--from-samples FILE [--warmup-minutes M]` prints the slopes of a
finished run again, without running anything. Ctrl-C ends the run early and still
prints the slopes of the minutes so far.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import httpx
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from open_loop import (  # noqa: E402
    Sent,
    care_config,
    client,
    cpu_seconds,
    finish_profile,
    start_profile,
)

from socialcare.cli import SERVICES, load_localinfra  # noqa: E402
from socialcare.core.bus import Bus  # noqa: E402
from socialcare.core.bus.embedded import EmbeddedBus  # noqa: E402
from socialcare.core.domain.topics import Topic  # noqa: E402
from socialcare.core.events import decode  # noqa: E402
from socialcare.v1 import case_pb2  # noqa: E402
from tests.e2e.platform import Platform, as_service, make_platform  # noqa: E402
from tests.fakes.platforms import FakePlatforms  # noqa: E402

GIVE_UP_AFTER_S = 30.0
"""A minute's messages not sent this long after the minute ended are counted as unsent."""
TOKEN_TTL_S = 7 * 24 * 3600
"""The platform's token lifetime for the soak: the generator's processes get the token when
their minute is scheduled, so it must outlive the run rather than be renewed mid-minute."""
LAG_METRIC = "socialcare_consumer_lag_records"
REPLY_TEXT = "Thanks for reaching out, we are looking into it right now."
MB = 1024 * 1024
PROFILE_SECONDS = 30.0


# --- Pure parts (tests/unit/bench/test_soak.py) ---------------------------------------------


@dataclass(frozen=True)
class ProcessSample:
    """One process at one moment: resident bytes, open descriptors, threads, CPU seconds
    used since it started."""

    rss_bytes: int
    fds: int
    threads: int
    cpu_s: float


def parse_status(text: str) -> tuple[int, int]:
    """(VmRSS in bytes, Threads) from the text of /proc/<pid>/status.

    The kernel writes `VmRSS:\\t  123456 kB` (kibibytes, whatever the unit says) and
    `Threads:\\t12`. Raises ValueError when either line is missing: a kernel thread or a
    zombie has no VmRSS, and a figure of 0 would read as a huge drop in the slope."""
    rss: int | None = None
    threads: int | None = None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "VmRSS":
            number, _, unit = value.strip().partition(" ")
            if unit.strip() != "kB":
                raise ValueError(f"VmRSS in {unit.strip()!r}, expected kB")
            rss = int(number) * 1024
        elif name == "Threads":
            threads = int(value.strip())
    if rss is None or threads is None:
        raise ValueError("no VmRSS or Threads line (a kernel thread or a zombie?)")
    return rss, threads


def sample_process(pid: int) -> ProcessSample | None:
    """`pid` now, from /proc; None when it is gone (or not readable) by the time it is read."""
    try:
        rss, threads = parse_status(Path(f"/proc/{pid}/status").read_text())
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError):
        return None
    return ProcessSample(rss, fds, threads, cpu_seconds(pid))


def load_average(text: str) -> float:
    """The 1-minute load average from the text of /proc/loadavg (`0.52 0.58 0.59 2/345
    6789`): how busy the machine was, beside figures a shared machine disturbs."""
    return float(text.split()[0])


def consumer_lag(metrics_text: str) -> dict[str, float]:
    """Lag per consumer group (records, summed over the topics and partitions it owns) from
    a Prometheus text exposition of `socialcare_consumer_lag_records`."""
    lag: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != LAG_METRIC:
            continue
        for sample in family.samples:
            group = sample.labels.get("group", "")
            lag[group] = lag.get(group, 0.0) + sample.value
    return lag


def quantile(values: Sequence[float], q: float) -> float:
    """The `q` quantile (nearest rank) of `values`; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(len(ordered) * q) - 1))]


@dataclass(frozen=True)
class Slope:
    """A least-squares line through (seconds, value) points, per hour: the slope, its
    standard error (NaN with fewer than three points: two points fit any line exactly)
    and the number of points."""

    per_hour: float
    stderr_per_hour: float
    points: int


def fit_slope(times_s: Sequence[float], values: Sequence[float]) -> Slope:
    """Ordinary least squares of `values` against `times_s` (seconds), scaled to per hour.
    NaN slope with fewer than two points or when every time is the same."""
    n = len(times_s)
    if n != len(values):
        raise ValueError(f"{n} times but {len(values)} values")
    if n < 2:
        return Slope(math.nan, math.nan, n)
    mean_t = sum(times_s) / n
    mean_v = sum(values) / n
    sxx = sum((t - mean_t) ** 2 for t in times_s)
    if sxx == 0:
        return Slope(math.nan, math.nan, n)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(times_s, values, strict=True)) / sxx
    if n < 3:
        return Slope(slope * 3600, math.nan, n)
    intercept = mean_v - slope * mean_t
    residuals = sum(
        (v - (intercept + slope * t)) ** 2 for t, v in zip(times_s, values, strict=True)
    )
    stderr = math.sqrt(residuals / (n - 2) / sxx)
    return Slope(slope * 3600, stderr * 3600, n)


@dataclass(frozen=True)
class Threshold:
    """How a metric is shown and how much growth an hour counts as growing: `scale`
    divides the raw value (bytes -> MB), `per_hour` is in the shown unit."""

    unit: str
    per_hour: float
    scale: float = 1.0


THRESHOLDS: dict[str, Threshold] = {
    # A process that gains 5 MB an hour gains more than a gigabyte in ten days of uptime.
    "rss": Threshold("MB", 5.0, MB),
    # Descriptors and threads are whole objects a steady load has no reason to add: more
    # than one every 15 minutes is a leak of sockets, files or threads.
    "fds": Threshold("fds", 4.0),
    "threads": Threshold("threads", 4.0),
    # A group that falls behind by more than 1,000 records an hour never catches up.
    "lag": Threshold("records", 1000.0),
    # Not a leak by itself, but a process doing more work per minute for the same load is.
    "cpu": Threshold("cores", 0.05),
}


def verdict(slope: Slope, threshold: float) -> str:
    """`growing` / `falling` when the slope is beyond +/- `threshold` per hour and more than
    two standard errors from zero (a steady trend, not the noise of a few samples); else
    `flat`. With fewer than three points there is no standard error: `too short`."""
    if slope.points < 3 or math.isnan(slope.stderr_per_hour):
        return "too short"
    significant = abs(slope.per_hour) > 2 * slope.stderr_per_hour
    if significant and slope.per_hour > threshold:
        return "growing"
    if significant and slope.per_hour < -threshold:
        return "falling"
    return "flat"


@dataclass(frozen=True)
class Point:
    """One reading of one metric of one process (or consumer group, for lag), taken
    `elapsed_s` after the load started."""

    elapsed_s: float
    owner: str
    metric: str
    value: float


def summarise(
    points: Sequence[Point], warmup_s: float, cases_per_hour: float, left_out: str = "warm-up"
) -> list[str]:
    """The end's table: per (owner, metric), in first-seen order, the slope over the
    readings taken after `warmup_s`, its standard error, the mean, and the verdict with its
    threshold. Memory slopes also per case opened (when `cases_per_hour` > 0)."""
    kept = [p for p in points if p.elapsed_s > warmup_s]
    series: dict[tuple[str, str], list[Point]] = {}
    for point in kept:
        series.setdefault((point.owner, point.metric), []).append(point)
    times = sorted({p.elapsed_s for p in kept})
    span = (
        f"{len(times)} readings from {times[0] / 60:.1f} to {times[-1] / 60:.1f} min"
        if times
        else "no readings"
    )
    width = max([len("process"), *(len(owner) for owner, _ in series)])
    lines = [
        f"slopes over {span} (the first {warmup_s / 60:.1f} min left out: {left_out}), least "
        "squares, per hour, +/- one standard error; growing/falling = beyond the threshold "
        "and more than 2 standard errors from zero:",
        f"  {'process':<{width}} {'metric':<8} {'slope /h':>18} {'+/- se':>9} "
        f"{'mean':>16}  {'verdict':<10} threshold",
    ]
    for (owner, metric), group in series.items():
        threshold = THRESHOLDS[metric]
        slope = fit_slope([p.elapsed_s for p in group], [p.value / threshold.scale for p in group])
        mean = sum(p.value for p in group) / len(group) / threshold.scale
        line = (
            f"  {owner:<{width}} {metric:<8} "
            f"{f'{slope.per_hour:+.2f} {threshold.unit}':>18} {slope.stderr_per_hour:>9.2f} "
            f"{f'{mean:.1f} {threshold.unit}':>16}  {verdict(slope, threshold.per_hour):<10} "
            f"+/-{threshold.per_hour:g} {threshold.unit}/h"
        )
        if metric == "rss" and cases_per_hour > 0 and not math.isnan(slope.per_hour):
            per_case_kb = slope.per_hour * threshold.scale / cases_per_hour / 1024
            line += f"; {per_case_kb:+.2f} KB per case"
        lines.append(line)
    return lines


# --- Watching cases and replying -------------------------------------------------------------


class CaseWatcher:
    """Reads care.cases on a thread: when each message's case was first assigned (monotonic
    clock, comparable with the generator processes' on Linux), and one in `reply_every`
    newly assigned cases, queued for its agent to reply to.

    Only cases of this run count: their messages' external ids start with `run_prefix`. A
    shared Kafka broker's care.cases holds other runs' cases too, which the platform's
    routing also knows (it rebuilds from the same topics) but this soak must not answer."""

    def __init__(self, bus: Bus, reply_every: int, run_prefix: str) -> None:
        self.to_reply: queue.Queue[tuple[str, str]] = queue.Queue()
        self._run_prefix = run_prefix
        self._assigned_at: dict[str, float] = {}
        self._cases_seen: set[str] = set()
        self._reply_every = reply_every
        self._lock = threading.Lock()
        self._consumer = bus.consumer(f"soak-{uuid.uuid4().hex}", [Topic.CASES.value])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-cases", daemon=True)
        self._thread.start()

    @property
    def cases_assigned(self) -> int:
        with self._lock:
            return len(self._cases_seen)

    def _run(self) -> None:
        while not self._stop.is_set():
            for record in self._consumer.poll(500, 0.05):
                if record.tombstone:
                    continue
                event = decode(record, case_pb2.CaseEvent)
                if event.type != case_pb2.CASE_EVENT_TYPE_ASSIGNED:
                    continue
                now = time.monotonic()
                case = event.case
                if not any(m.external_id.startswith(self._run_prefix) for m in case.messages):
                    continue
                with self._lock:
                    for message in case.messages:
                        self._assigned_at.setdefault(message.message_id, now)
                    if case.id in self._cases_seen:
                        continue
                    self._cases_seen.add(case.id)
                    wanted = len(self._cases_seen) % self._reply_every == 0
                if wanted and case.assignee:
                    self.to_reply.put((case.id, case.assignee))

    def take(self, message_ids: Sequence[str], deadline: float) -> dict[str, float]:
        """When each of `message_ids` was assigned, waiting until `deadline` (monotonic)
        for the missing ones; the ids found are forgotten (the watcher's memory stays
        bounded by the messages not yet reported)."""
        while True:
            with self._lock:
                missing = sum(m not in self._assigned_at for m in message_ids)
            if not missing or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        with self._lock:
            return {m: self._assigned_at.pop(m) for m in message_ids if m in self._assigned_at}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


class Replier:
    """Replies, as each case's agent, to the cases the watcher queued, through the gateway;
    counts the answers by status (0: no answer)."""

    def __init__(self, gateway: Platform, cases: queue.Queue[tuple[str, str]]) -> None:
        self.answers: Counter[int] = Counter()
        self._gateway = gateway
        self._cases = cases
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-replies", daemon=True)
        self._thread.start()

    def counts(self) -> Counter[int]:
        with self._lock:
            return Counter(self.answers)

    def _run(self) -> None:
        with httpx.Client(base_url=self._gateway.base_url, timeout=10.0) as http:
            while not self._stop.is_set():
                try:
                    case_id, agent = self._cases.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    answer = http.post(
                        f"/v1/cases/{case_id}/replies",
                        json={"agent": agent, "text": REPLY_TEXT},
                        headers=self._gateway.auth_headers(),
                    )
                    status = answer.status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    self.answers[status] += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(15)


# --- The platform ----------------------------------------------------------------------------


@dataclass
class Deployment:
    """The processes under test: `served` have an HTTP port (metrics, readiness), `pids`
    are every process sampled (servers included); `ingest` takes the messages and `gateway`
    the replies; `watch_bus` reads care.cases."""

    served: dict[str, Platform]
    ingest: Platform
    gateway: Platform
    watch_bus: Bus
    pids: dict[str, int] = field(default_factory=dict)


@contextmanager
def deployment(
    backend: str,
    processes: str,
    tmp: Path,
    cases: int,
    fake: FakePlatforms,
    keep_logs_as: Path,
    notes: list[str],
) -> Iterator[Deployment]:
    """The platform on `backend` (servers started here are stopped afterwards), every
    process started and ready; on exit every process stopped, then its log copied to
    `<keep_logs_as>-<process>.log` (a note says where)."""
    infra: ModuleType | None = None
    started_here = {"kafka": False, "elasticsearch": False}
    if backend == "embedded":
        base = make_platform(tmp, "embedded", "embedded", care_config(cases))
        watch_bus: Bus = EmbeddedBus(tmp / "data" / "bus")
    else:
        infra = load_localinfra()
        started_here = {server: not infra.is_running(server) for server in started_here}
        notes += [
            f"{server} was already running, maybe shared: its figures include whatever else used it"
            for server, started in started_here.items()
            if not started
        ]
        endpoints = infra.ensure_up(kafka=True, elasticsearch=True)
        from socialcare.core.bus.kafka import KafkaBus

        base = make_platform(
            tmp,
            f"kafka://{endpoints.kafka_bootstrap}",
            endpoints.elasticsearch_url,
            care_config(cases),
        )
        watch_bus = KafkaBus(endpoints.kafka_bootstrap)
    base.env.update({**fake.env(), "SOCIALCARE_ACCESS_TOKEN_TTL_S": str(TOKEN_TTL_S)})
    served = (
        {name: as_service(base, name) for name in SERVICES}
        if processes == "each"
        else {"platform": base}
    )
    try:
        for process in served.values():
            process.start(timeout_s=120)
        pids = {name: p.process.pid for name, p in served.items() if p.process is not None}
        if infra is not None:
            # localinfra keeps each server's pid (the JVM itself) in its run directory.
            for server, label in ((infra._Kafka(), "kafka"), (infra._Elasticsearch(), "es")):
                pid = infra._running_pid(server)
                if pid is not None:
                    pids[label] = pid
        yield Deployment(
            served=served,
            ingest=served.get("ingestion", base),
            gateway=served.get("gateway", base),
            watch_bus=watch_bus,
            pids=pids,
        )
    finally:
        for name, process in served.items():
            if process.process is not None and process.process.poll() is None:
                try:
                    process.stop()
                except AssertionError:
                    notes.append(f"{name} ignored SIGTERM and was killed")
            if process.log_path.exists():
                kept = keep_logs_as.with_name(f"{keep_logs_as.name}-{name}.log")
                shutil.copyfile(process.log_path, kept)
                notes.append(f"{name}'s log is kept in {kept}")
        watch_bus.close()
        if infra is not None and any(started_here.values()):
            infra.down(kafka=started_here["kafka"], elasticsearch=started_here["elasticsearch"])


# --- The run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    backend: str
    processes: str
    rate: float
    minutes: float
    warmup_minutes: float
    interval_s: float
    clients: int
    reply_every: int
    drain_seconds: float
    out_dir: Path
    profile_intervals: tuple[int, ...] = ()
    profile_process: str | None = None
    idle_minutes: float = 0.0

    @property
    def intervals(self) -> int:
        """Intervals with load."""
        return max(1, math.ceil(self.minutes * 60 / self.interval_s))

    @property
    def idle_intervals(self) -> int:
        """Intervals without load after them."""
        return math.ceil(self.idle_minutes * 60 / self.interval_s)


def _ready() -> None:
    """Run in every generator process before the clock starts, so spawning and importing
    are not part of the first interval."""


def _scrape_lag(served: Mapping[str, Platform]) -> dict[str, float] | None:
    """Lag per consumer group over every served process; None when one did not answer."""
    lag: dict[str, float] = {}
    for process in served.values():
        try:
            text = httpx.get(f"{process.base_url}/metrics", timeout=5.0).text
        except httpx.HTTPError:
            return None
        for group, records in consumer_lag(text).items():
            lag[group] = lag.get(group, 0.0) + records
    return lag


@dataclass
class Interval:
    """What one interval's messages became (latencies in ms from their scheduled time)."""

    offered: int
    accepted: int
    errors: int
    unsent: int
    problems: Counter[str]
    ingest_p99_ms: float
    assigned_p99_ms: float
    not_assigned: int
    late_p99_ms: float

    def as_json(self) -> dict[str, Any]:
        """The figures with NaN (no sample) as null, so the line is strict JSON."""
        return {
            name: (None if isinstance(value, float) and math.isnan(value) else value)
            for name, value in vars(self).items()
            if name != "problems"
        } | {"problems": dict(self.problems)}


def outcome(sent: Sequence[Sent], assigned_at: Mapping[str, float]) -> Interval:
    """The figures of one interval's messages, `assigned_at` their ASSIGNED times."""
    accepted = [s for s in sent if s.message_id]
    failed = [s for s in sent if s.status not in (-1, 200, 202)]
    return Interval(
        offered=len(sent),
        accepted=len(accepted),
        errors=len(failed),
        unsent=sum(s.status == -1 for s in sent),
        problems=Counter(s.problem for s in failed),
        ingest_p99_ms=quantile([(s.answered - s.scheduled) * 1000 for s in accepted], 0.99),
        assigned_p99_ms=quantile(
            [
                (assigned_at[s.message_id] - s.scheduled) * 1000
                for s in accepted
                if s.message_id in assigned_at
            ],
            0.99,
        ),
        not_assigned=sum(s.message_id not in assigned_at for s in accepted),
        late_p99_ms=quantile([(s.sent - s.scheduled) * 1000 for s in sent if s.status != -1], 0.99),
    )


def readings(
    elapsed_s: float,
    taken: Mapping[str, ProcessSample | None],
    before: Mapping[str, tuple[float, float]],
    lag: Mapping[str, float] | None,
) -> list[Point]:
    """The points of one sampling: per live process its memory, descriptors, threads and
    the cores it used since `before` ((elapsed_s, cpu_s) of the previous sampling), per
    consumer group its lag."""
    points: list[Point] = []
    for name, sample in taken.items():
        if sample is None:
            continue
        points += [
            Point(elapsed_s, name, "rss", float(sample.rss_bytes)),
            Point(elapsed_s, name, "fds", float(sample.fds)),
            Point(elapsed_s, name, "threads", float(sample.threads)),
        ]
        then, cpu_then = before.get(name, (math.nan, math.nan))
        cores = (sample.cpu_s - cpu_then) / (elapsed_s - then) if elapsed_s > then else math.nan
        if not math.isnan(cores):
            points.append(Point(elapsed_s, name, "cpu", cores))
    for group, records in sorted((lag or {}).items()):
        points.append(Point(elapsed_s, group, "lag", records))
    return points


def sample_line(
    number: int,
    phase: str,
    elapsed: float,
    load: Interval,
    replies: Counter[int],
    posted: int,
    machine_load: float,
    cases_assigned: int,
    taken: Mapping[str, ProcessSample | None],
    lag: Mapping[str, float] | None,
) -> str:
    """One interval as a line of JSON (the samples file; `points_from_samples` reads it).
    `phase`: `load`, or `idle` for the intervals of `--idle-minutes` after it."""
    record = {
        "interval": number,
        "phase": phase,
        "elapsed_s": round(elapsed, 3),
        "load": load.as_json(),
        "replies": {str(status): n for status, n in replies.items()},
        "posted": posted,
        "load_average_1m": machine_load,
        "cases_assigned_total": cases_assigned,
        "processes": {
            name: vars(sample) if sample is not None else None for name, sample in taken.items()
        },
        "lag": lag,
    }
    return json.dumps(record) + "\n"


@dataclass
class Samples:
    """A run's points with load and after it (`--idle-minutes`), the cases assigned and the
    seconds elapsed when the load ended."""

    load: list[Point] = field(default_factory=list)
    idle: list[Point] = field(default_factory=list)
    cases: int = 0
    load_elapsed_s: float = 0.0


def points_from_samples(lines: Iterable[str]) -> Samples:
    """The points a soak's JSON lines (its `--out-dir` file) hold: what `--from-samples`
    recomputes the slopes from (with another warm-up, say)."""
    samples = Samples()
    before: dict[str, tuple[float, float]] = {}
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        elapsed = float(record["elapsed_s"])
        taken = {
            name: ProcessSample(**sample) if sample is not None else None
            for name, sample in record["processes"].items()
        }
        now = readings(elapsed, taken, before, record["lag"])
        if record.get("phase", "load") == "idle":
            samples.idle += now
        else:
            samples.load += now
            samples.cases = int(record["cases_assigned_total"])
            samples.load_elapsed_s = elapsed
        # A process unreadable at one sampling keeps its previous reading as the base.
        before.update((name, (elapsed, s.cpu_s)) for name, s in taken.items() if s is not None)
    return samples


def print_summary(samples: Samples, warmup_minutes: float) -> None:
    """The slopes with load (after the warm-up), then those without it (after the first
    idle reading, which still holds the end of the load)."""
    elapsed = samples.load_elapsed_s
    cases_per_hour = samples.cases / (elapsed / 3600) if elapsed > 0 else 0.0
    for line in summarise(samples.load, warmup_minutes * 60, cases_per_hour):
        print(line)
    print(
        f"load: {elapsed / 60:.1f} min, {samples.cases:,} cases assigned "
        f"({cases_per_hour:,.0f} an hour); every case stays open (a new customer per "
        "message), and the processes keep cases in memory by design (routing's case books, "
        "the console's board, ingestion's seen ids), so memory grows with them: compare the "
        "KB per case between runs and processes; a leak is growth beyond it, or growth "
        "without load"
    )
    if samples.idle:
        print("\nwithout load (--idle-minutes): nothing should grow here")
        first = min(p.elapsed_s for p in samples.idle)
        for line in summarise(samples.idle, first, 0.0, "the end of the load"):
            print(line)


def soak(options: Options) -> int:
    per_interval = max(1, round(options.rate * options.interval_s))
    intervals = options.intervals
    cases = per_interval * intervals + 100
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    options.out_dir.mkdir(parents=True, exist_ok=True)
    name = f"soak-{options.backend}-{options.processes}-{stamp}"
    samples_path = options.out_dir / f"{name}.jsonl"
    notes: list[str] = []
    points: list[Point] = []
    done = 0
    elapsed = 0.0
    load_elapsed = 0.0
    cases_assigned = 0
    print(
        f"soak: {options.backend}, processes {options.processes}, {options.rate:g} msg/s for "
        f"{options.minutes:g} min ({per_interval:,} messages every {options.interval_s:g} s), "
        f"{options.clients} generator process(es), a reply to one in {options.reply_every} "
        f"assigned cases; samples in {samples_path}",
        flush=True,
    )
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="socialcare-soak-")))
        fake = stack.enter_context(FakePlatforms(seed=0))
        out: TextIO = stack.enter_context(samples_path.open("w"))
        platform = stack.enter_context(
            deployment(
                options.backend,
                options.processes,
                scratch,
                cases,
                fake,
                options.out_dir / name,
                notes,
            )
        )
        run = uuid.uuid4().hex[:8]
        watcher = CaseWatcher(platform.watch_bus, options.reply_every, f"{run}-")
        stack.callback(watcher.close)
        replier = Replier(platform.gateway, watcher.to_reply)
        stack.callback(replier.close)
        # Two intervals in flight: the next one's processes wait for their start time while
        # the current one's last answers come in, so the offered rate has no gap.
        pool = stack.enter_context(
            ProcessPoolExecutor(
                2 * options.clients, mp_context=multiprocessing.get_context("spawn")
            )
        )
        for ready in [pool.submit(_ready) for _ in range(4 * options.clients)]:
            ready.result()
        start = time.monotonic() + 2.0

        def schedule(k: int) -> list[Future[tuple[list[Sent], float]]]:
            t0 = start + k * options.interval_s
            token = platform.ingest.token()
            return [
                pool.submit(
                    client,
                    platform.ingest.base_url,
                    token,
                    run,
                    k * per_interval,
                    per_interval,
                    options.clients,
                    offset,
                    t0,
                    options.rate,
                    t0 + options.interval_s + GIVE_UP_AFTER_S,
                    1,
                )
                for offset in range(options.clients)
            ]

        scheduled = {k: schedule(k) for k in range(min(2, intervals))}
        idle: list[Point] = []
        profile = IntervalProfile(options, platform.pids, options.out_dir / name, notes)
        profile.begin(1)
        before = {name: (0.0, cpu_seconds(pid)) for name, pid in platform.pids.items()}
        replies_before: Counter[int] = Counter()
        posts_before = 0
        try:
            for k in range(intervals + options.idle_intervals):
                interval_end = start + (k + 1) * options.interval_s
                phase = "load" if k < intervals else "idle"
                if phase == "load":
                    sent = [s for future in scheduled.pop(k) for s in future.result()[0]]
                    if k + 2 < intervals:
                        scheduled[k + 2] = schedule(k + 2)
                    assigned_at = watcher.take(
                        [s.message_id for s in sent if s.message_id],
                        max(interval_end, max(s.answered for s in sent)) + options.drain_seconds,
                    )
                else:
                    sent, assigned_at = [], {}
                    time.sleep(max(0.0, interval_end - time.monotonic()))
                load = outcome(sent, assigned_at)
                elapsed = time.monotonic() - start
                taken = {name: sample_process(pid) for name, pid in platform.pids.items()}
                machine_load = load_average(Path("/proc/loadavg").read_text())
                lag = _scrape_lag(platform.served)
                replies = replier.counts()
                posts = len(fake.sent())
                now_points = readings(elapsed, taken, before, lag)
                if phase == "load":
                    points += now_points
                    cases_assigned = watcher.cases_assigned
                    load_elapsed = elapsed
                else:
                    idle += now_points
                _print_interval(
                    k + 1,
                    phase,
                    intervals + options.idle_intervals,
                    elapsed,
                    load,
                    replies - replies_before,
                    posts - posts_before,
                    machine_load,
                    taken,
                    now_points,
                    lag,
                )
                out.write(
                    sample_line(
                        k + 1,
                        phase,
                        elapsed,
                        load,
                        replies - replies_before,
                        posts - posts_before,
                        machine_load,
                        cases_assigned,
                        taken,
                        lag,
                    )
                )
                out.flush()
                # A process unreadable at one sampling keeps its previous reading as the base.
                before.update(
                    (name, (elapsed, sample.cpu_s))
                    for name, sample in taken.items()
                    if sample is not None
                )
                replies_before, posts_before = replies, posts
                done = k + 1
                profile.end(k + 1)
                profile.begin(k + 2)
        except KeyboardInterrupt:
            print("\ninterrupted: the slopes of the intervals so far", flush=True)
            for futures in scheduled.values():
                for future in futures:
                    future.cancel()
        print()
        print_summary(Samples(points, idle, cases_assigned, load_elapsed), options.warmup_minutes)
        if min(done, intervals) * options.interval_s < 3600:
            notes.append(
                f"shortened: {min(done, intervals) * options.interval_s / 60:g} min of load "
                "instead of an hour; the slopes are per hour, extrapolated from them"
            )
    for note in notes:
        print(f"\n{note}")
    return 0


class IntervalProfile:
    """py-spy on one process for PROFILE_SECONDS from the start of each interval named by
    `--profile-interval` (bench/open_loop.py's profiler; the top functions are printed when
    the interval's line is). Where a growing latency or CPU comes from, once a soak shows
    one: profile an early and a late interval and compare. The sampling itself costs the
    profiled process some CPU in those intervals."""

    def __init__(
        self, options: Options, pids: Mapping[str, int], output_stem: Path, notes: list[str]
    ) -> None:
        self._at = set(options.profile_intervals)
        self._notes = notes
        self._process: subprocess.Popen[bytes] | None = None
        self._name = options.profile_process or next(iter(pids), "")
        self._pid = pids.get(self._name)
        self._stem = output_stem
        if self._at and self._pid is None:
            notes.append(f"--profile-process {self._name!r}: no such process ({', '.join(pids)})")
            self._at = set()

    def _output(self, number: int) -> Path:
        return self._stem.with_name(f"{self._stem.name}-{self._name}-{number}.speedscope.json")

    def begin(self, number: int) -> None:
        """Called as interval `number` starts (or is under way: the first seconds of the
        interval pass while the previous one is counted)."""
        if number not in self._at or self._pid is None:
            return
        started = start_profile(self._pid, PROFILE_SECONDS, self._output(number))
        if isinstance(started, str):
            self._notes.append(started)
        else:
            self._process = started

    def end(self, number: int) -> None:
        if number in self._at and self._process is not None:
            profile = finish_profile(self._process, self._output(number))
            print(f"interval {number}, {self._name} {profile}", flush=True)
            self._process = None


def _print_interval(
    number: int,
    phase: str,
    intervals: int,
    elapsed: float,
    load: Interval,
    replies: Counter[int],
    posted: int,
    machine_load: float,
    taken: Mapping[str, ProcessSample | None],
    points: Sequence[Point],
    lag: Mapping[str, float] | None,
) -> None:
    ok = replies[202] + replies[200]
    lines = [
        f"[{number:>3}/{intervals}] {elapsed / 60:6.1f} min  "
        + ("idle (no load)  " if phase == "idle" else "")
        + f"offered {load.offered:,}  accepted {load.accepted:,}  errors {load.errors}  "
        f"unsent {load.unsent}  "
        f"ingest p99 {load.ingest_p99_ms:.1f} ms  assigned p99 {load.assigned_p99_ms:.1f} ms "
        f"(not assigned {load.not_assigned})  send lateness p99 {load.late_p99_ms:.1f} ms  "
        f"replies {ok} ok / {sum(replies.values()) - ok} not  posted to channel {posted}  "
        f"machine load {machine_load:.1f}"
    ]
    if load.problems:
        lines.append("    errors: " + ", ".join(f"{n} x {p}" for p, n in load.problems.items()))
    refused = {status: n for status, n in replies.items() if status not in (200, 202)}
    if refused:
        lines.append(
            "    replies not accepted: "
            + ", ".join(f"{n} x {status or 'no answer'}" for status, n in refused.items())
        )
    cores = {p.owner: p.value for p in points if p.metric == "cpu"}
    for name, sample in taken.items():
        if sample is None:
            lines.append(f"    {name:<12} gone")
            continue
        lines.append(
            f"    {name:<12} rss {sample.rss_bytes / MB:8.1f} MB  fds {sample.fds:5}  "
            f"threads {sample.threads:4}  cpu {cores.get(name, math.nan):5.2f} cores"
        )
    if lag is None:
        lines.append("    lag          (a process did not answer /metrics)")
    else:
        lines.append(
            "    lag          " + "  ".join(f"{g} {v:,.0f}" for g, v in sorted(lag.items()))
        )
    print("\n".join(lines), flush=True)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each option's default."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--backend",
        choices=("embedded", "kafka"),
        default="embedded",
        help="kafka: Kafka + Elasticsearch from deploy/local (started when not running)",
    )
    parser.add_argument(
        "--processes",
        choices=("all", "each"),
        default=argparse.SUPPRESS,
        help="one `socialcare run all` or every service its own process (default: all on "
        "embedded, each on kafka; each needs kafka)",
    )
    parser.add_argument("--rate", type=float, default=20.0, help="offered messages/s")
    parser.add_argument("--minutes", type=float, default=60.0, help="how long the load lasts")
    parser.add_argument("--warmup-minutes", type=float, default=5.0, help="left out of the slopes")
    parser.add_argument(
        "--idle-minutes",
        type=float,
        default=0.0,
        help="keep sampling this long after the load, with nothing offered (slopes apart)",
    )
    parser.add_argument(
        "--interval-seconds", type=float, default=60.0, help="one line of readings per interval"
    )
    parser.add_argument("--clients", type=int, default=1, help="generator processes")
    parser.add_argument(
        "--reply-every", type=int, default=4, help="reply to one in N assigned cases"
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=10.0,
        help="how long after its interval a message may take to be assigned",
    )
    parser.add_argument(
        "--profile-interval",
        type=int,
        action="append",
        metavar="N",
        help=f"py-spy one process for {PROFILE_SECONDS:g} s in interval N (1 = the first); "
        "may be given more than once (an early and a late interval, to compare)",
    )
    parser.add_argument(
        "--profile-process",
        help="which process --profile-interval samples (platform, a service, kafka, es; "
        "default the platform, or ingestion with --processes each)",
    )
    parser.add_argument(
        "--from-samples",
        type=Path,
        metavar="JSONL",
        help="no run: print the slopes of an earlier run's samples (with --warmup-minutes)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=REPO / ".cache" / "soak",
        help="where the samples (JSON lines) and the platform's logs are kept",
    )
    ns = parser.parse_args(argv)
    if ns.from_samples is not None:
        with ns.from_samples.open() as samples:
            read = points_from_samples(samples)
        print_summary(read, ns.warmup_minutes)
        return 0
    processes = getattr(ns, "processes", "each" if ns.backend == "kafka" else "all")
    if processes == "each" and ns.backend == "embedded":
        parser.error(
            "--processes each needs --backend kafka: each service would get its own data "
            "directory, so its own embedded log and search store"
        )
    if ns.rate <= 0 or ns.minutes <= 0 or ns.warmup_minutes < 0 or ns.clients < 1:
        parser.error("need --rate > 0, --minutes > 0, --warmup-minutes >= 0, --clients >= 1")
    if ns.idle_minutes < 0:
        parser.error("need --idle-minutes >= 0")
    if ns.interval_seconds < 5 or ns.reply_every < 1:
        parser.error("need --interval-seconds >= 5 and --reply-every >= 1")
    return soak(
        Options(
            backend=ns.backend,
            processes=processes,
            rate=ns.rate,
            minutes=ns.minutes,
            warmup_minutes=ns.warmup_minutes,
            interval_s=ns.interval_seconds,
            clients=ns.clients,
            reply_every=ns.reply_every,
            drain_seconds=ns.drain_seconds,
            out_dir=ns.out_dir,
            profile_intervals=tuple(ns.profile_interval or ()),
            profile_process=ns.profile_process,
            idle_minutes=ns.idle_minutes,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
