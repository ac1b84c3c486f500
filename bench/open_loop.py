"""Open-loop benchmark: the highest constant arrival rate the platform keeps up with.

A closed loop (N clients, each waiting for its answer before sending again) measures
latency x N, not capacity: when the platform slows down, the clients slow down with it and
the queue the platform would face never forms. This generator is open-loop instead: message
i of a step is *scheduled* at `t0 + i / rate` and sent at that time whatever happened to the
earlier ones; a send that leaves late is recorded late, not skipped, and every latency is
measured from the scheduled time, so the generator's own stalls count against the platform
(no coordinated omission).

For each backend (`embedded`; `kafka` = Kafka + Elasticsearch started through
deploy/local/localinfra.py, and stopped afterwards if they were not running before):

1. the baseline: the raw bus produce+consume rate of 1 KB records (bench/bus_throughput),
   measured in the same run, against which the platform is compared;
2. `socialcare run all` as a subprocess (tests/e2e/platform.py) with a care config that has
   room for every case the run creates, warmed up with a few messages;
3. steps of constant offered rate (`--rates`, doubling by default, capped by `--max-rate`),
   each `--step-seconds` long, POSTed to /v1/messages with the admin's bearer token (from
   POST /v1/auth/token, once per platform) from `--clients` processes (asyncio, keep-alive
   connections, a minimal HTTP/1.1 writer so the generator spends little of the machine's
   CPU; at most 64 requests in flight per client, a send waiting for a free
   connection shows as lateness); a step stops sending `--step-seconds` after its last
   scheduled message (the rest is counted as not sent); with `--batch N` each client POSTs
   to /v1/messages:batch every 20 ms the messages due by then, at most N per POST (a
   message's wait for its batch counts in its latency);
4. latency per message: scheduled send time -> the ASSIGNED event of its case on care.cases,
   read by this process (an assigned case names its messages; its cause is the assigner's
   decision, not the message);
5. a step passes when nothing failed or stayed unsent, p99 <= 250 ms, and every accepted
   message was assigned within `--drain-seconds` after the step's last send; stepping stops
   at the first failing step;
6. CPU per message of each step: utime+stime from /proc of the platform process (and its
   descendants and reaped children) and, on Kafka, of the broker and the Elasticsearch node,
   from the step's start to the end of its drain, divided by the step's messages; beside
   them the generator's own CPU per message (to show it is not the bottleneck), and the
   cores each process burns idle after warm-up (polling, not work: it inflates the
   per-message figures of the low rates).

Printed per backend: a table per step (offered rate, achieved ingest rate, p99 lateness of
the generator's sends, p50/p99/max latency, errors, left behind, CPU ms per message, pass),
then the highest passing rate beside the raw bus rate and their ratio. Figures, never
assertions: the machine is noisy, compare ratios within one run.

    python bench/open_loop.py [--backends embedded,kafka] [--step-seconds 10]
        [--rates 50,100,200,...] [--max-rate 3200] [--clients 2] [--drain-seconds 5]
        [--batch 1] [--baseline-records 20000] [--profile RATE [--out-dir DIR]]

`--profile RATE` records the platform with py-spy (a dev dependency of the venv; it
attaches with ptrace) during the step offered at RATE, writes a speedscope file (open it at
https://www.speedscope.app) and prints the functions with most samples (py-spy's idle
filter is a heuristic: some waits still count as active).
The platform's log of each backend is kept in `--out-dir` (default .cache/bench).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import shutil
import subprocess
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
from urllib.parse import urlsplit

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

P99_LIMIT_MS = 250.0
DEFAULT_RATES = (50, 100, 200, 400, 800, 1600, 3200, 6400)
MIN_AGENTS = 20
MAX_CAPACITY = 1000
WARMUP_MESSAGES = 50
IDLE_SECONDS = 3.0
REQUEST_TIMEOUT_S = 10.0
BATCH_WINDOW_S = 0.02
POOL_IDLE_S = 2.0  # below uvicorn's keep-alive timeout (5 s)
CONNECTIONS_PER_CLIENT = 64

TEXTS = [
    "My order still has not arrived and nobody answers, this is really disappointing",
    "Mijn energierekening is veel hoger dan verwacht, hoe kan dat?",
    "Waarom is mijn pakket nog steeds niet bezorgd? Belachelijk!",
    "How do I apply for the energy subsidy for my home office?",
    "Meine Rechnung ist viel zu hoch, bitte helfen Sie mir",
]


def care_config(cases: int) -> str:
    """Every message comes from its own customer, so each opens a case: the agents together
    must have room for every case of the run (`cases`), or the later ones would wait in a
    queue. The config allows at most MAX_CAPACITY cases per agent, so agents are added."""
    agents = "".join(
        f"  - {{id: agent{i}, name: Agent {i}, languages: [en, nl, de, fr, es], "
        f"capacity: {MAX_CAPACITY}}}\n"
        for i in range(max(MIN_AGENTS, math.ceil(cases / MAX_CAPACITY) + 1))
    )
    return (
        "sla_policies:\n"
        '  - {name: first-response, languages: ["*"], first_response: 24h}\n'
        "queues:\n"
        "  - {name: care-en, languages: [en]}\n"
        "  - {name: care-nl, languages: [nl]}\n"
        '  - {name: care-global, languages: ["*"]}\n'
        "agents:\n" + agents
    )


def message_body(i: int, run: str) -> bytes:
    return json.dumps(
        {
            "channel": "x",
            "external_id": f"{run}-{i}",
            "author": {"id": f"{run}-author-{i}", "handle": f"@c{i}", "followers": i % 5000},
            "text": f"{TEXTS[i % len(TEXTS)]} (#{i})",
            "created_at": "2026-11-23T10:00:00Z",
        }
    ).encode()


class AssignedWatcher:
    """Reads care.cases in a thread and notes when each message's case was first assigned
    (monotonic clock, comparable with the client processes' on Linux)."""

    def __init__(self, bus: Bus) -> None:
        self.assigned_at: dict[str, float] = {}
        self._consumer = bus.consumer(f"bench-{uuid.uuid4().hex}", [Topic.CASES.value])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for record in self._consumer.poll(500, 0.05):
                if record.tombstone:
                    continue  # an erased case
                event = decode(record, case_pb2.CaseEvent)
                if event.type == case_pb2.CASE_EVENT_TYPE_ASSIGNED:
                    now = time.monotonic()
                    for message in event.case.messages:
                        self.assigned_at.setdefault(message.message_id, now)

    def wait_for(self, message_ids: list[str], deadline: float) -> None:
        """Return when every id is assigned, or at `deadline` (monotonic)."""
        pending = [m for m in message_ids if m not in self.assigned_at]
        while pending and time.monotonic() < deadline:
            time.sleep(0.05)
            pending = [m for m in pending if m not in self.assigned_at]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


# --- CPU accounting from /proc -------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces), so
    index 1 is the ppid, 11/12 utime/stime, 13/14 the reaped children's cutime/cstime."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by `pid` and its descendants (live, or reaped by one of them);
    NaN when `pid` is gone (a shared server restarted by another session, say)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    if _stat(pid) is None:
        return math.nan
    ticks = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        fields = _stat(current)
        if fields is not None:
            ticks += sum(int(f) for f in fields[11:15])
        todo.extend(children.get(current, []))
    return ticks / CLOCK_TICKS


# --- The open-loop generator (runs in client processes) ------------------------------------


@dataclass(frozen=True)
class Sent:
    """One scheduled message: its id (empty unless accepted), HTTP status (0: failed,
    -1: never sent, the step ran out of time), scheduled / sent / answered times, what
    went wrong if it was not accepted (the error code, or the exception), and its number in
    the run (its external id is `<run>-<index>`)."""

    message_id: str
    status: int
    scheduled: float
    sent: float
    answered: float
    problem: str = ""
    index: int = -1


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]


async def _post(
    address: tuple[str, int], pool: list[Connection], request: bytes
) -> tuple[int, bytes]:
    """One POST on a pooled keep-alive connection; the connection goes back to the pool
    unless the server closes it or the exchange failed.

    A connection idle for longer than POOL_IDLE_S is not reused (the server closes idle
    keep-alive connections, and a request written as it does so is lost), and a request
    that fails on a reused connection before any answer is sent once more on a new one: the
    message carries its external id, so ingestion would answer a repeat as a duplicate.
    """
    while pool:
        reader, writer, last_used = pool.pop()
        if time.monotonic() - last_used < POOL_IDLE_S:
            try:
                return await _exchange(reader, writer, pool, request)
            except (OSError, asyncio.IncompleteReadError):
                break
        writer.close()
    reader, writer = await asyncio.open_connection(*address)
    return await _exchange(reader, writer, pool, request)


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    pool: list[Connection],
    request: bytes,
) -> tuple[int, bytes]:
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        keep = True
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
        body = await reader.readexactly(length)
    except BaseException:
        writer.close()
        raise
    if keep:
        pool.append((reader, writer, time.monotonic()))
    else:
        writer.close()
    return status, body


async def _generate(
    base_url: str,
    token: str,
    run: str,
    first: int,
    count: int,
    stride: int,
    offset: int,
    t0: float,
    rate: float,
    give_up_at: float,
    batch: int,
    connections: int = CONNECTIONS_PER_CLIENT,
) -> list[Sent]:
    url = urlsplit(base_url)
    address = (url.hostname or "127.0.0.1", url.port or 80)
    path = "/v1/messages" if batch == 1 else "/v1/messages:batch"
    header = (
        f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    pool: list[Connection] = []
    slots = asyncio.Semaphore(connections)
    results: list[Sent] = []

    async def send(indices: list[int]) -> None:
        bodies = [message_body(first + i, run) for i in indices]
        body = bodies[0] if batch == 1 else b'{"messages": [' + b", ".join(bodies) + b"]}"
        request = header + str(len(body)).encode() + b"\r\n\r\n" + body
        scheduled = [t0 + i / rate for i in indices]
        numbers = [first + i for i in indices]
        async with slots:
            sent = time.monotonic()
            if sent > give_up_at:
                results.extend(
                    Sent("", -1, at, sent, sent, index=n)
                    for at, n in zip(scheduled, numbers, strict=True)
                )
                return
            try:
                status, answer = await asyncio.wait_for(
                    _post(address, pool, request), REQUEST_TIMEOUT_S
                )
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                problem = type(exc).__name__
                failed = time.monotonic()
                results.extend(
                    Sent("", 0, at, sent, failed, problem, n)
                    for at, n in zip(scheduled, numbers, strict=True)
                )
                return
        answered = time.monotonic()
        if status not in (200, 202):
            code = ""
            with contextlib.suppress(ValueError, LookupError, TypeError):
                code = json.loads(answer)["error"]["code"]
            results.extend(
                Sent("", status, at, sent, answered, f"{status} {code}", n)
                for at, n in zip(scheduled, numbers, strict=True)
            )
            return
        items = [json.loads(answer)] if batch == 1 else json.loads(answer)["results"]
        for at, n, item in zip(scheduled, numbers, items, strict=True):
            if "message_id" in item:
                results.append(Sent(item["message_id"], status, at, sent, answered, index=n))
            else:
                problem = f"item {item.get('error', {}).get('code', '?')}"
                results.append(Sent("", 0, at, sent, answered, problem, n))

    tasks: set[asyncio.Task[None]] = set()
    mine = list(range(offset, count, stride))
    window = 0.0 if batch == 1 else BATCH_WINDOW_S
    sent_up_to = 0
    tick = -math.inf
    while sent_up_to < len(mine):
        # One message alone, or with --batch every message due by the tick, the ticks one
        # window apart: a message waits at most one window, counted in its latency.
        tick = max(tick + window, t0 + mine[sent_up_to] / rate)
        # Behind schedule, still yield once per send so earlier sends go out.
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
        cutoff = max(tick, time.monotonic())
        due = sent_up_to + 1
        while due < len(mine) and due - sent_up_to < batch and t0 + mine[due] / rate <= cutoff:
            due += 1
        if due - sent_up_to == batch > 1:
            tick -= window  # a full batch: what else is due goes out at once
        task = asyncio.create_task(send(mine[sent_up_to:due]))
        sent_up_to = due
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*list(tasks))
    for _, writer, _ in pool:
        writer.close()
    return results


def client(
    base_url: str,
    token: str,
    run: str,
    first: int,
    count: int,
    stride: int,
    offset: int,
    t0: float,
    rate: float,
    give_up_at: float,
    batch: int,
    connections: int = CONNECTIONS_PER_CLIENT,
) -> tuple[list[Sent], float]:
    """One client process's share of a step: messages offset, offset + stride, ... of
    `count`, message i scheduled at t0 + i / rate (numbered from `first` in the run), sent
    with the bearer `token`, at most `connections` requests in flight.
    With `batch` > 1 they go to /v1/messages:batch every BATCH_WINDOW_S, those due by then,
    at most `batch` per POST. Returns them with the CPU seconds this process spent sending."""
    cpu_before = time.process_time()
    sent = asyncio.run(
        _generate(
            base_url,
            token,
            run,
            first,
            count,
            stride,
            offset,
            t0,
            rate,
            give_up_at,
            batch,
            connections,
        )
    )
    return sent, time.process_time() - cpu_before


def _ready() -> None:
    """Run in every client process before the clock starts: spawning and importing this
    module would otherwise be part of the first step."""


# --- Steps ---------------------------------------------------------------------------------


@dataclass
class Step:
    offered: float
    scheduled: int
    accepted: int = 0
    errors: int = 0
    unsent: int = 0
    left_behind: int = 0
    ingest_rate: float = 0.0
    lateness_p99_ms: float = 0.0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    cpu_ms_per_msg: dict[str, float] = field(default_factory=dict)
    problems: Counter[str] = field(default_factory=Counter)

    @property
    def passed(self) -> bool:
        return (
            self.errors == 0
            and self.unsent == 0
            and self.left_behind == 0
            and self.p99_ms <= P99_LIMIT_MS
        )


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


@dataclass
class Bench:
    platform: Platform
    watcher: AssignedWatcher
    pool: ProcessPoolExecutor
    clients: int
    cpu_pids: dict[str, int]
    batch: int
    connections: int = CONNECTIONS_PER_CLIENT
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    next_index: int = 0

    def send(self, rate: float, count: int, grace_s: float) -> tuple[list[Sent], float]:
        """Offer `count` messages at `rate`; what was sent, and the generator's CPU seconds."""
        # An admin's bearer token, signed in once per platform and renewed near its expiry
        # (before the clock starts: argon2 is slow on purpose).
        token = self.platform.token()
        t0 = time.monotonic() + 0.5
        give_up_at = t0 + count / rate + grace_s
        first, self.next_index = self.next_index, self.next_index + count
        futures = [
            self.pool.submit(
                client,
                self.platform.base_url,
                token,
                self.run,
                first,
                count,
                self.clients,
                k,
                t0,
                rate,
                give_up_at,
                self.batch,
                self.connections,
            )
            for k in range(self.clients)
        ]
        results = [future.result() for future in futures]
        return [s for sent, _ in results for s in sent], sum(cpu for _, cpu in results)

    def warm_up(self) -> None:
        """A few messages of every text at a low rate: loads the language models and joins
        the watcher's consumer group before anything is measured."""
        sent, _ = self.send(25.0, WARMUP_MESSAGES, 30.0)
        accepted = [s.message_id for s in sent if s.message_id]
        self.watcher.wait_for(accepted, time.monotonic() + 120.0)
        assigned = sum(m in self.watcher.assigned_at for m in accepted)
        if assigned < WARMUP_MESSAGES:
            raise SystemExit(
                f"warm-up: {assigned}/{WARMUP_MESSAGES} messages assigned\n"
                f"{self.platform.log_tail()}"
            )

    def idle_cpu(self, seconds: float) -> dict[str, float]:
        """Cores each measured process uses with nothing offered: the part of the per-message
        figures at low rates that is polling, not work."""
        before = {name: cpu_seconds(pid) for name, pid in self.cpu_pids.items()}
        time.sleep(seconds)
        return {
            name: (cpu_seconds(pid) - before[name]) / seconds for name, pid in self.cpu_pids.items()
        }

    def step(self, rate: float, seconds: float, drain_s: float) -> Step:
        count = max(1, round(rate * seconds))
        cpu_before = {name: cpu_seconds(pid) for name, pid in self.cpu_pids.items()}
        sent, generator_cpu = self.send(rate, count, seconds)
        accepted = [s for s in sent if s.message_id]
        last_send = max(s.sent for s in sent)
        self.watcher.wait_for([s.message_id for s in accepted], last_send + drain_s)
        cpu_after = {name: cpu_seconds(pid) for name, pid in self.cpu_pids.items()}
        assigned_at = self.watcher.assigned_at
        latencies = sorted(
            (assigned_at[s.message_id] - s.scheduled) * 1000
            for s in accepted
            if s.message_id in assigned_at
        )
        lateness = sorted((s.sent - s.scheduled) * 1000 for s in sent if s.status != -1)
        first_scheduled = min(s.scheduled for s in sent)
        last_answer = max(s.answered for s in accepted) if accepted else first_scheduled
        return Step(
            offered=rate,
            scheduled=count,
            accepted=len(accepted),
            errors=sum(s.status not in (-1, 200, 202) for s in sent),
            problems=Counter(s.problem for s in sent if s.status not in (-1, 200, 202)),
            unsent=sum(s.status == -1 for s in sent),
            left_behind=len(accepted) - len(latencies),
            ingest_rate=len(accepted) / max(1e-9, last_answer - first_scheduled),
            lateness_p99_ms=_quantile(lateness, 0.99),
            p50_ms=_quantile(latencies, 0.50),
            p99_ms=_quantile(latencies, 0.99),
            max_ms=latencies[-1] if latencies else math.nan,
            cpu_ms_per_msg={
                **{
                    name: (cpu_after[name] - cpu_before[name]) * 1000 / count
                    for name in self.cpu_pids
                },
                "generator": generator_cpu * 1000 / count,
            },
        )


# --- Profiling -----------------------------------------------------------------------------


def start_profile(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes] | str:
    """py-spy sampling `pid` for `seconds` (non-blocking: the platform is not paused per
    sample), or why it cannot run."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return "py-spy is not installed (make venv installs it with the dev dependencies)"
    output.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(math.ceil(seconds)),
            "--rate",
            "200",
            "--nonblocking",
            "--format",
            "speedscope",
            "-o",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish_profile(process: subprocess.Popen[bytes], output: Path) -> str:
    """Wait for py-spy; the top self-time and inclusive-time functions of the profile."""
    _, stderr = process.communicate(timeout=120)
    if process.returncode != 0 or not output.exists():
        return f"py-spy failed ({process.returncode}): {stderr.decode(errors='replace')[-500:]}"
    data = json.loads(output.read_text())
    frames = data["shared"]["frames"]
    own: Counter[int] = Counter()
    inclusive: Counter[int] = Counter()
    total = 0
    for profile in data["profiles"]:
        for stack in profile["samples"]:
            if not stack:
                continue
            total += 1
            own[stack[-1]] += 1
            for frame in set(stack):
                inclusive[frame] += 1

    def name(index: int) -> str:
        frame = frames[index]
        file = str(frame.get("file", "")).split("site-packages/")[-1].split("services/")[-1]
        return f"{frame['name']} ({file}:{frame.get('line', '?')})"

    # py-spy drops idle threads only by a heuristic: some waits (select, Condition.wait)
    # still show up, so these are shares of samples, not of CPU time.
    lines = [
        f"profile: {output} ({total} samples of non-idle threads; py-spy still counts some "
        "waits, e.g. select and Condition.wait, as active)",
        "  top self time:",
    ]
    lines += [f"    {n * 100 / total:5.1f} %  {name(i)}" for i, n in own.most_common(12)]
    lines.append("  top inclusive time (socialcare frames):")
    ours = [
        (i, n) for i, n in inclusive.most_common() if "socialcare" in str(frames[i].get("file"))
    ]
    lines += [f"    {n * 100 / total:5.1f} %  {name(i)}" for i, n in ours[:15]]
    return "\n".join(lines)


# --- One backend ---------------------------------------------------------------------------


@dataclass
class Options:
    rates: list[float]
    step_seconds: float
    drain_seconds: float
    clients: int
    batch: int
    baseline_records: int
    profile_rate: float | None
    out_dir: Path


def _format_table(steps: list[Step], cpu_names: list[str]) -> str:
    header = (
        f"{'offered':>8} {'ingest':>8} {'late p99':>9} {'p50':>8} {'p99':>8} {'max':>8} "
        f"{'errors':>6} {'unsent':>6} {'left':>6} "
        + " ".join(f"{'cpu ' + n:>14}" for n in cpu_names)
        + "  result"
    )
    units = (
        f"{'msg/s':>8} {'msg/s':>8} {'ms':>9} {'ms':>8} {'ms':>8} {'ms':>8} "
        f"{'':>6} {'':>6} {'':>6} " + " ".join(f"{'ms/msg':>14}" for _ in cpu_names)
    )
    rows = [header, units]
    for s in steps:
        rows.append(
            f"{s.offered:>8,.0f} {s.ingest_rate:>8,.0f} {s.lateness_p99_ms:>9.1f} "
            f"{s.p50_ms:>8.1f} {s.p99_ms:>8.1f} {s.max_ms:>8.1f} "
            f"{s.errors:>6} {s.unsent:>6} {s.left_behind:>6} "
            + " ".join(f"{s.cpu_ms_per_msg[n]:>14.3f}" for n in cpu_names)
            + f"  {'pass' if s.passed else 'FAIL'}"
        )
        if s.problems:
            rows.append(
                f"{'':>8} errors: " + ", ".join(f"{n} x {p}" for p, n in s.problems.items())
            )
    return "\n".join(rows)


def bench_backend(name: str, options: Options) -> list[str]:
    """Run the baseline and the steps on one backend; return what to print at the end."""
    notes: list[str] = []
    cases = round(sum(r * options.step_seconds for r in options.rates)) + WARMUP_MESSAGES
    with tempfile.TemporaryDirectory(prefix=f"socialcare-bench-{name}-") as scratch:
        tmp = Path(scratch)
        infra: ModuleType | None = None
        # Only the servers this run starts are stopped: the others are shared (a test
        # session, another bench) and stay as they were found.
        started_here = {"kafka": False, "elasticsearch": False}
        if name == "embedded":
            platform = make_platform(tmp, "embedded", "embedded")
            baseline_bus: Bus = EmbeddedBus(tmp / "baseline", sync="normal")
        elif name == "kafka":
            infra = load_localinfra()
            started_here = {server: not infra.is_running(server) for server in started_here}
            notes += [
                f"{name}: {server} was already running, maybe shared: its CPU figures include "
                "whatever else used it"
                for server, started in started_here.items()
                if not started
            ]
            endpoints = infra.ensure_up(kafka=True, elasticsearch=True)
            from socialcare.core.bus.kafka import KafkaBus

            platform = make_platform(
                tmp, f"kafka://{endpoints.kafka_bootstrap}", endpoints.elasticsearch_url
            )
            baseline_bus = KafkaBus(endpoints.kafka_bootstrap)
        else:
            raise SystemExit(f"unknown backend {name!r}: use embedded or kafka")
        (tmp / "care.yaml").write_text(care_config(cases))
        steps: list[Step] = []
        idle: dict[str, float] = {}
        watcher: AssignedWatcher | None = None
        context = multiprocessing.get_context("spawn")
        try:
            baseline = measure(baseline_bus, options.baseline_records)
            platform.start()
            assert platform.process is not None
            cpu_pids = {"platform": platform.process.pid}
            if infra is not None:
                # localinfra keeps each server's pid (the JVM itself) in its run directory.
                for server, label in ((infra._Kafka(), "kafka"), (infra._Elasticsearch(), "es")):
                    pid = infra._running_pid(server)
                    if pid is not None:
                        cpu_pids[label] = pid
            watch_bus: Bus = (
                EmbeddedBus(tmp / "data" / "bus") if name == "embedded" else baseline_bus
            )
            watcher = AssignedWatcher(watch_bus)
            with ProcessPoolExecutor(options.clients, mp_context=context) as pool:
                for future in [pool.submit(_ready) for _ in range(options.clients * 2)]:
                    future.result()
                bench = Bench(platform, watcher, pool, options.clients, cpu_pids, options.batch)
                bench.warm_up()
                idle = bench.idle_cpu(IDLE_SECONDS)
                for rate in options.rates:
                    profiler: subprocess.Popen[bytes] | str | None = None
                    output = options.out_dir / f"open-loop-{name}-{rate:.0f}.speedscope.json"
                    if options.profile_rate == rate:
                        profiler = start_profile(platform.process.pid, options.step_seconds, output)
                    step = bench.step(rate, options.step_seconds, options.drain_seconds)
                    steps.append(step)
                    print(
                        f"  [{name}] {rate:,.0f} msg/s: ingest {step.ingest_rate:,.0f} msg/s, "
                        f"p99 {step.p99_ms:.1f} ms, left {step.left_behind}, "
                        f"{'pass' if step.passed else 'FAIL'}",
                        flush=True,
                    )
                    if isinstance(profiler, str):
                        notes.append(f"{name}: {profiler}")
                    elif profiler is not None:
                        notes.append(
                            f"{name} at {rate:,.0f} msg/s " + finish_profile(profiler, output)
                        )
                    if not step.passed:
                        break
        finally:
            if watcher is not None:
                watcher.close()
            if platform.process is not None and platform.process.poll() is None:
                try:
                    platform.stop()
                except AssertionError:
                    notes.append(f"{name}: the platform ignored SIGTERM and was killed")
            baseline_bus.close()
            if platform.log_path.exists():
                options.out_dir.mkdir(parents=True, exist_ok=True)
                kept = options.out_dir / f"open-loop-{name}-platform.log"
                shutil.copyfile(platform.log_path, kept)
                notes.append(f"{name}: the platform's log is kept in {kept}")
            if infra is not None and any(started_here.values()):
                infra.down(kafka=started_here["kafka"], elasticsearch=started_here["elasticsearch"])
    base = baseline["end_to_end_msg_s"]
    passing = [s.offered for s in steps if s.passed]
    best = max(passing) if passing else 0.0
    cpu_names = list(steps[0].cpu_ms_per_msg) if steps else []
    print(f"\n== {name} ==")
    print(
        f"baseline bus produce+consume (1 KB, {options.baseline_records} records): "
        f"{base:,.0f} msg/s (produce {baseline['produce_msg_s']:,.0f}, "
        f"consume {baseline['consume_msg_s']:,.0f})"
    )
    print(
        f"open loop, {options.step_seconds:g} s per step, {options.clients} client processes, "
        + (f"{options.batch} messages per batch POST, " if options.batch > 1 else "")
        + f"pass = p99 <= {P99_LIMIT_MS:.0f} ms and all assigned within "
        f"{options.drain_seconds:g} s of the last send:"
    )
    print(_format_table(steps, cpu_names))
    print(
        "idle (nothing offered, after warm-up), cores: "
        + ", ".join(f"{n} {c:.3f}" for n, c in idle.items())
    )
    print(
        f"highest passing rate: {best:,.0f} msg/s; raw bus {base:,.0f} msg/s; "
        f"ratio {best / base:.4f}"
    )
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="embedded,kafka", help="comma-separated")
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument(
        "--rates",
        default=",".join(str(r) for r in DEFAULT_RATES),
        help="offered rates to step through, msg/s, comma-separated",
    )
    parser.add_argument("--max-rate", type=float, default=3200.0, help="skip higher rates")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--drain-seconds", type=float, default=5.0)
    parser.add_argument(
        "--batch", type=int, default=1, help="messages per POST /v1/messages:batch (1: none)"
    )
    parser.add_argument("--baseline-records", type=int, default=20000)
    parser.add_argument("--profile", type=float, metavar="RATE", help="py-spy the step at RATE")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=REPO / ".cache" / "bench",
        help="where profiles and the platform's logs are kept",
    )
    ns = parser.parse_args()
    rates = [float(r) for r in ns.rates.split(",") if float(r) <= ns.max_rate]
    if not rates or ns.step_seconds <= 0 or ns.clients < 1 or not 1 <= ns.batch <= 500:
        parser.error(
            "need at least one rate <= --max-rate, --step-seconds > 0, --clients >= 1 "
            "and 1 <= --batch <= 500"
        )
    options = Options(
        rates=rates,
        step_seconds=ns.step_seconds,
        drain_seconds=ns.drain_seconds,
        clients=ns.clients,
        batch=ns.batch,
        baseline_records=ns.baseline_records,
        profile_rate=ns.profile,
        out_dir=ns.out_dir,
    )
    notes: list[str] = []
    for name in ns.backends.split(","):
        notes += bench_backend(name.strip(), options)
    for note in notes:
        print(f"\n{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
