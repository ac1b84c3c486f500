"""The integrator webhook engine end to end: care.cases events -> signed POSTs at a receiver.

On a fresh embedded bus (a tmp dir per run), the engine as services/socialcare/webhooks/main.py
wires it: the fan-out ("webhooks-fanout") and the sender ("webhooks-sender", its commands
follower, the settings' default workers and per-subscription in-flight cap) in real
ConsumerLoops. `--events` CaseEvents (OPENED, one case each, spread over `--brands` brands)
are published in one burst to care.cases; each brand has `--subscriptions` subscriptions,
all to one real local receiver (a ThreadingHTTPServer in a process of its own that checks
every signature with the docs' snippet, services/socialcare/webhooks/snippets/verify.py),
so every event makes `--subscriptions` deliveries.

Runs, in one invocation:

a. baseline: the same number of signed POSTs (same bodies, same headers, a fresh signature
   each) made directly by a thread pool as large as the sender's, over one httpx client, to
   the same receiver: what HTTP and signing alone cost;
b. the engine, healthy receiver;
c. the engine, the receiver answering 500 to 20 % of the POSTs (seeded), short backoff
   (`--retry-base-s`); every delivery must still arrive exactly once as a 2xx;
d. restart: the sender is stopped when about half the deliveries arrived (the fan-out keeps
   running) and a new sender starts on the same bus (it rebuilds its partitions from
   webhooks.deliveries).

Printed per run: deliveries/s (first publish -> last 2xx), p50/p99/max latency from the
event's publish (the burst's start for the baseline) to the receiver's 2xx (in a burst this
is mostly queueing), CPU ms per delivery of the bench process (engine + bus; the receiver
runs elsewhere), its RSS, POSTs made, signatures that failed, and lost (never answered 2xx)
/ duplicated (answered 2xx more than once under one delivery id). Delivery is at least
once: an attempt in flight when a sender stops is made again by the next one, so run d
may show duplicates; receivers deduplicate on `X-Socialcare-Delivery`. Figures only,
never assertions; the machine is noisy, compare the ratios.

    python bench/webhook_delivery.py [--events 2000] [--subscriptions 3] [--brands 3]
        [--runs baseline,healthy,failing,restart] [--fail-rate 0.2] [--profile]

`--profile` samples the bench process with py-spy for the first `--profile-s` seconds of the
healthy run (see bench/open_loop.py) and prints where its time goes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from open_loop import finish_profile, start_profile  # noqa: E402

from socialcare.core.bus.embedded import EmbeddedBus  # noqa: E402
from socialcare.core.clock import to_timestamp, utc_now  # noqa: E402
from socialcare.core.consumer_loop import ConsumerLoop, RecordProcessor  # noqa: E402
from socialcare.core.domain.event_types import (  # noqa: E402
    ATTEMPT_HEADER,
    CONTENT_TYPE,
    DELIVERY_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    describe,
    event_body,
)
from socialcare.core.domain.topics import Topic  # noqa: E402
from socialcare.core.effects import Emit, publish_effects  # noqa: E402
from socialcare.core.events import new_event_id  # noqa: E402
from socialcare.v1 import case_pb2, webhook_pb2  # noqa: E402
from socialcare.webhooks import fanout, sender  # noqa: E402
from socialcare.webhooks.domain import DELIVERED, RetrySchedule  # noqa: E402
from socialcare.webhooks.settings import WebhookSettings  # noqa: E402
from socialcare.webhooks.subscriptions import SubscriptionDirectory  # noqa: E402
from tests.unit.webhooks.receivers import SNIPPET  # noqa: E402
from tests.unit.webhooks.world import care, latest_deliveries, open_bus  # noqa: E402

SECRET = "bench-webhook-secret"
RUNS = ("baseline", "healthy", "failing", "restart")


# -- the receiver (a process of its own) -------------------------------------------------
def _receiver_main(conn: Connection) -> None:
    """Serve POSTs; answer commands on `conn`: ("config", fail_rate, seed) resets the log,
    ("count",) -> distinct delivery ids answered 2xx, ("log",) -> every POST as
    (delivery id, subject, status, wall time, verified)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("webhook_verify_snippet", SNIPPET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    verify: Callable[..., bool] = module.verify_signature
    lock = threading.Lock()
    state: dict[str, Any] = {"fail": 0.0, "random": random.Random(0)}
    posts: list[tuple[str, str, int, float, bool]] = []
    accepted: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The status line and headers go out in one write, the body in another: with Nagle's
        # algorithm on, a kept-alive connection waits for the client's delayed ACK (~40 ms)
        # before the body, as no production web server would.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            verified = verify(SECRET, body, self.headers.get(SIGNATURE_HEADER))
            delivery = self.headers.get(DELIVERY_HEADER, "")
            subject = json.loads(body).get("subject", "")
            with lock:
                status = 500 if state["random"].random() < state["fail"] else 200
                if status == 200:
                    accepted.add(delivery)
                posts.append((delivery, subject, status, time.time(), verified))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256  # a burst of new connections is not refused

        def handle_error(self, request: Any, client_address: Any) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hung up
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[1])
    while True:
        command = conn.recv()
        if command[0] == "config":
            with lock:
                state["fail"], state["random"] = command[1], random.Random(command[2])
                posts.clear()
                accepted.clear()
            conn.send(True)
        elif command[0] == "count":
            with lock:
                conn.send(len(accepted))
        elif command[0] == "log":
            with lock:
                conn.send(list(posts))
        else:
            server.shutdown()
            conn.send(True)
            return


class Receiver:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_receiver_main, args=(child,), daemon=True)
        self._process.start()
        self.url = f"http://127.0.0.1:{self._conn.recv()}/hook"

    def _ask(self, *command: object) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def configure(self, fail_rate: float, seed: int = 12) -> None:
        self._ask("config", fail_rate, seed)

    def accepted(self) -> int:
        count: int = self._ask("count")
        return count

    def log(self) -> list[tuple[str, str, int, float, bool]]:
        posts: list[tuple[str, str, int, float, bool]] = self._ask("log")
        return posts

    def close(self) -> None:
        self._ask("stop")
        self._process.join(5)


# -- the figures ---------------------------------------------------------------------------
@dataclass
class Figures:
    expected: int
    seconds: float
    latencies_ms: list[float]
    cpu_s: float
    rss_mb: float
    posts: int
    unverified: int
    lost: int
    duplicated: int
    note: str = ""

    @property
    def per_second(self) -> float:
        return (self.expected - self.lost) / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def figures_from(
    posts: list[tuple[str, str, int, float, bool]],
    published: dict[str, float],
    expected: int,
    began: float,
    cpu_s: float,
    note: str = "",
) -> Figures:
    """Latency per delivery id from its event's publish to its first 2xx; lost and
    duplicated counted on the receiver's log."""
    answered: Counter[str] = Counter()
    first: dict[str, float] = {}
    for delivery, subject, status, at, _ in posts:
        if 200 <= status < 300:
            answered[delivery] += 1
            first.setdefault(delivery, at - published.get(subject, began))
    last = max((at for _, _, status, at, _ in posts if status < 300), default=began)
    return Figures(
        expected=expected,
        seconds=last - began,
        latencies_ms=[1000 * s for s in first.values()],
        cpu_s=cpu_s,
        rss_mb=rss_mb(),
        posts=len(posts),
        unverified=sum(not verified for *_, verified in posts),
        lost=max(0, expected - len(answered)),
        duplicated=sum(1 for n in answered.values() if n > 1),
        note=note,
    )


# -- the events and subscriptions --------------------------------------------------------
def brands(count: int) -> list[str]:
    configured = [b.name for b in care().brands]
    names = configured[:count]
    return names + [f"bench-brand-{i}" for i in range(count - len(names))]


def case_event(i: int, brand: str, run: str) -> case_pb2.CaseEvent:
    event = case_pb2.CaseEvent(
        event_id=new_event_id(),
        type=case_pb2.CASE_EVENT_TYPE_OPENED,
        occurred_at=to_timestamp(datetime.now(UTC)),
    )
    event.case.id = f"case-{run}-{i:07d}"
    event.case.brand = brand
    return event


def subscriptions(url: str, brand_names: list[str], per_brand: int) -> list[Any]:
    made = []
    for brand in brand_names:
        for n in range(per_brand):
            made.append(
                webhook_pb2.WebhookSubscription(
                    id=new_event_id(),
                    brand=brand,
                    url=url,
                    secret=SECRET,
                    active=True,
                    description=f"bench {brand} {n}",
                    created_at=to_timestamp(datetime.now(UTC)),
                )
            )
    return made


def publish_burst(bus: EmbeddedBus, events: list[case_pb2.CaseEvent]) -> dict[str, float]:
    """Publish `events` to care.cases in chunks; the wall time each was handed over."""
    producer = bus.producer("bench")
    published: dict[str, float] = {}
    for start in range(0, len(events), 100):
        chunk = events[start : start + 100]
        now = time.time()
        for event in chunk:
            published[event.case.id] = now
        publish_effects(producer, [Emit(Topic.CASES, e) for e in chunk], source="bench")
        producer.flush()
    producer.close()
    return published


# -- the engine ----------------------------------------------------------------------------
@dataclass
class Running:
    loop: ConsumerLoop
    thread: threading.Thread
    close: Callable[[], None]


def run_loop(
    bus: EmbeddedBus, group: str, processor: RecordProcessor, topics: tuple[str, ...], batch: int
) -> Running:
    producer = bus.producer(group)
    loop = ConsumerLoop(
        bus, group=group, topics=topics, processor=processor, producer=producer, batch_size=batch
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()

    def close() -> None:
        loop.stop()
        thread.join(30)
        producer.close()

    return Running(loop, thread, close)


def start_sender(
    bus: EmbeddedBus, directory: SubscriptionDirectory, settings: WebhookSettings, base_s: float
) -> Running:
    delivering = sender.SenderProcessor(
        directory,
        bus,
        utc_now,
        schedule=RetrySchedule(base_s=base_s, max_s=base_s * 4, horizon_s=3600),
        options=sender.SenderOptions(
            timeout_s=settings.webhook_timeout_s,
            max_in_flight=settings.webhook_max_in_flight,
            workers=settings.webhook_workers,
            allow_private_targets=True,
        ),
    )
    delivering.follower.start()
    running = run_loop(bus, sender.GROUP, delivering, delivering.topics, 200)
    stop_loop = running.close

    def close() -> None:
        stop_loop()
        delivering.follower.stop()
        delivering.follower.join(5)
        delivering.close()

    running.close = close
    return running


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def engine_run(
    receiver: Receiver,
    args: argparse.Namespace,
    *,
    fail_rate: float,
    restart: bool,
    profile: Path | None = None,
) -> Figures:
    settings = WebhookSettings()
    receiver.configure(fail_rate)
    with tempfile.TemporaryDirectory(prefix="socialcare-webhook-delivery-") as scratch:
        bus = open_bus(Path(scratch) / "bus")
        directory_producer = bus.producer("directory")
        directory = SubscriptionDirectory(directory_producer)
        names = brands(args.brands)
        for sub in subscriptions(receiver.url, names, args.subscriptions):
            directory.save(sub)
        run = new_event_id()[:8]
        events = [case_event(i, names[i % len(names)], run) for i in range(args.events)]
        expected = args.events * args.subscriptions
        fan_out = fanout.FanoutProcessor(care(), directory, bus, utc_now)
        loops = [run_loop(bus, fanout.GROUP, fan_out, fan_out.topics, 500)]
        delivering = start_sender(bus, directory, settings, args.retry_base_s)
        time.sleep(1.0)  # both groups assigned before the clock starts
        cpu_before = time.process_time()
        spy = start_profile(os.getpid(), args.profile_s, profile) if profile else None
        began = time.time()
        published = publish_burst(bus, events)
        note = ""
        if restart:
            wait_for(lambda: receiver.accepted() >= expected // 2, args.timeout_s)
            at = receiver.accepted()
            delivering.close()
            delivering = start_sender(bus, directory, settings, args.retry_base_s)
            note = f"sender restarted at {at}/{expected}"
        done = wait_for(lambda: receiver.accepted() >= expected, args.timeout_s)
        # Settled on the bus too (no attempt's result left to record), then a moment for
        # anything sent twice to arrive.
        wait_for(
            lambda: sum(d.state == DELIVERED for d in latest_deliveries(bus).values()) >= expected,
            args.timeout_s if done else 1.0,
        )
        cpu = time.process_time() - cpu_before
        time.sleep(0.5)
        if isinstance(spy, str):
            print(spy, flush=True)
        elif spy is not None and profile is not None:
            print(finish_profile(spy, profile), flush=True)
        delivering.close()
        for running in loops:
            running.close()
        directory_producer.close()
        bus.close()
    if not done:
        note = (note + "; " if note else "") + f"timed out after {args.timeout_s:g}s"
    return figures_from(receiver.log(), published, expected, began, cpu, note)


def baseline_run(receiver: Receiver, args: argparse.Namespace) -> Figures:
    """The same signed POSTs, straight from a pool of the sender's size."""
    settings = WebhookSettings()
    receiver.configure(0.0)
    names = brands(args.brands)
    subs = subscriptions(receiver.url, names, args.subscriptions)
    by_brand = {b: [s for s in subs if s.brand == b] for b in names}
    work: list[tuple[webhook_pb2.WebhookSubscription, bytes, str, str]] = []
    run = new_event_id()[:8]
    for i in range(args.events):
        event = case_event(i, names[i % len(names)], run)
        described = describe(Topic.CASES, event)
        assert described is not None
        for sub in by_brand[event.case.brand]:
            body = event_body(described, brand=sub.brand)
            work.append((sub, body, described.type, new_event_id()))
    client = httpx.Client(
        timeout=settings.webhook_timeout_s,
        follow_redirects=False,
        headers={"User-Agent": sender.USER_AGENT},
    )

    def post(item: tuple[webhook_pb2.WebhookSubscription, bytes, str, str]) -> None:
        sub, body, kind, delivery = item
        headers = {
            "Content-Type": CONTENT_TYPE,
            SIGNATURE_HEADER: sender.signature(sub, body, utc_now()),
            DELIVERY_HEADER: delivery,
            EVENT_TYPE_HEADER: kind,
            ATTEMPT_HEADER: "1",
        }
        with client.stream("POST", sub.url, content=body, headers=headers):
            pass

    cpu_before = time.process_time()
    began = time.time()
    with ThreadPoolExecutor(settings.webhook_workers) as pool:
        list(pool.map(post, work))
    cpu = time.process_time() - cpu_before
    client.close()
    return figures_from(receiver.log(), {}, len(work), began, cpu)


def row(name: str, f: Figures) -> str:
    cpu_ms = 1000 * f.cpu_s / max(1, f.expected - f.lost)
    return (
        f"| {name} | {f.per_second:,.0f} | {f.quantile(0.5):.0f} | {f.quantile(0.99):.0f} | "
        f"{max(f.latencies_ms, default=0):.0f} | {cpu_ms:.2f} | {f.rss_mb:.0f} | {f.posts} | "
        f"{f.unverified} | {f.lost}/{f.duplicated} |"
    )


@dataclass
class Results:
    rows: dict[str, Figures] = field(default_factory=dict)


TITLES = {
    "baseline": "baseline: signed POSTs from a thread pool",
    "healthy": "engine, healthy receiver",
    "failing": "engine, receiver failing {pct:.0f} % (500)",
    "restart": "engine, sender restarted mid-way",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--subscriptions", type=int, default=3, help="per brand")
    parser.add_argument("--brands", type=int, default=3)
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--fail-rate", type=float, default=0.2)
    parser.add_argument("--retry-base-s", type=float, default=0.05)
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-s", type=float, default=5.0, help="how long py-spy samples")
    parser.add_argument("--out-dir", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args()
    runs = args.runs.split(",")
    if unknown := set(runs) - set(RUNS):
        raise SystemExit(f"unknown runs {sorted(unknown)}: use {','.join(RUNS)}")
    settings = WebhookSettings()
    print(
        f"{args.events} care.cases events x {args.subscriptions} subscriptions "
        f"({args.brands} brands) = {args.events * args.subscriptions} deliveries per run; "
        f"{settings.webhook_workers} sender workers, {settings.webhook_max_in_flight} in "
        f"flight per subscription\n"
    )
    print(
        "| run | deliveries/s | p50 ms | p99 ms | max ms | CPU ms/delivery | RSS MB | POSTs "
        "| bad signatures | lost/duplicated |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    receiver = Receiver()
    results = Results()
    try:
        for name in runs:
            if name == "baseline":
                figures = baseline_run(receiver, args)
            else:
                profile = (
                    args.out_dir / "webhook-delivery.speedscope.json"
                    if args.profile and name == "healthy"
                    else None
                )
                figures = engine_run(
                    receiver,
                    args,
                    fail_rate=args.fail_rate if name == "failing" else 0.0,
                    restart=name == "restart",
                    profile=profile,
                )
            results.rows[name] = figures
            title = TITLES[name].format(pct=100 * args.fail_rate)
            print(row(title, figures), flush=True)
    finally:
        receiver.close()
    print()
    for name, figures in results.rows.items():
        if figures.note:
            print(f"{name}: {figures.note}")
    base = results.rows.get("baseline")
    if base is not None and base.per_second:
        for name, figures in results.rows.items():
            if name == "baseline":
                continue
            base_cpu = base.cpu_s / max(1, base.expected - base.lost)
            cpu = figures.cpu_s / max(1, figures.expected - figures.lost)
            print(
                f"{name}/baseline: throughput {figures.per_second / base.per_second:.2f}x, "
                f"p50 latency {figures.quantile(0.5) / max(0.001, base.quantile(0.5)):.2f}x, "
                f"CPU per delivery {cpu / max(1e-9, base_cpu):.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
