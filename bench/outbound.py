#!/usr/bin/env python3
"""Replies delivered per second through the outbound connectors, with platform faults
beside a no-fault baseline; how long each reply stays posted without a durable delivery (the
window a crash re-posts); and the two counts that must be zero: replies lost, posted twice.

    python bench/outbound.py [--replies 2000] [--cases 500] [--fail-rate 0.10]
        [--throttle-rate 0.05] [--retry-after 1] [--latency-ms 20] [--concurrency 16]
        [--batch 100] [--partitions 4] [--against DIR]

Each run, on a fresh embedded bus: `replies` OutboundReply records (WhatsApp, X replies and
DMs, Facebook comments, Messenger, Instagram, LinkedIn, spread over `cases` cases) are put
on care.outbound; a real `ConsumerLoop` runs the connectors' `OutboundProcessor` (as the
service wires it) against tests/fakes/platforms.py, which answers after `latency-ms` like a
remote API. Timed from the loop's start until every reply has a delivery on
care.deliveries. Runs:

* baseline: no faults;
* faults: `fail-rate` 5xx and `throttle-rate` 429 with `Retry-After: retry-after` seconds;
* restart: a second consumer group reads the same care.outbound from the start (an instance
  that lost its committed offsets): every reply must be found handled and none posted;
* kill -9 (`--crashes N`, 3 by default; 0 skips it): the connectors run as a child process
  (this script, `--serve-connectors`) on the no-fault platform; it is killed with SIGKILL
  at N moments (counted in posts the fake took, seeded: the same on every run, not on batch
  boundaries) and started again on the same bus each time. "re-posts" counts the posts of a
  reply after its first: what the crashes re-posted.

"unrecorded ms" is, per reply, the time from the platform's answer (the delivery's
`occurred_at`, stamped when the answer came) to the delivery's append on care.deliveries
(the embedded log stamps the append time): how long a crash would have found the reply
posted but not recorded, so re-posted it. p50, p99 and the maximum over all replies.

`--against DIR`: the same runs first on the code of another checkout (DIR/services, e.g. a
`git worktree` of an earlier commit, or a copy of the tree before a change), in a
subprocess, then on this one, each after row beside its before with the ratio.

The fake does NOT honour Idempotency-Key here, so a reply the connectors posted twice shows
up as a second post ("posted twice"). "lost" counts replies without a SENT delivery or
without a post on the fake. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path


def _code_root() -> Path:
    """The checkout whose code the bench runs: this one, or `--code DIR` (how `--against`
    runs the same scenarios on another version; read before the imports below)."""
    if "--code" in sys.argv[:-1]:
        return Path(sys.argv[sys.argv.index("--code") + 1]).resolve()
    return Path(__file__).resolve().parents[1]


REPO = _code_root()
sys.path[:0] = [str(REPO / "services"), str(REPO)]

from socialcare.channels.outbound.processor import (  # noqa: E402
    GROUP,
    OutboundProcessor,
    OutboundSettings,
    outbound_processor,
)
from socialcare.core.bus.embedded import EmbeddedBus  # noqa: E402
from socialcare.core.clock import to_timestamp, utc_now  # noqa: E402
from socialcare.core.consumer_loop import ConsumerLoop  # noqa: E402
from socialcare.core.domain.care_config import CareConfig, load_care_config  # noqa: E402
from socialcare.core.domain.deliveries import SENT  # noqa: E402
from socialcare.core.domain.topics import Topic, topic_layouts  # noqa: E402
from socialcare.core.events import decode  # noqa: E402
from socialcare.v1 import commands_pb2, delivery_pb2, message_pb2  # noqa: E402
from tests.fakes.platforms import FakePlatforms, fake_brand  # noqa: E402

DM = message_pb2.MESSAGE_KIND_DIRECT_MESSAGE
COMMENT = message_pb2.MESSAGE_KIND_COMMENT
# (channel, kind, account id) of each reply in turn: a mix like a care desk's.
MIX = [
    (message_pb2.CHANNEL_WHATSAPP, DM, "106540352242922"),
    (message_pb2.CHANNEL_WHATSAPP, DM, "106540352242922"),
    (message_pb2.CHANNEL_X, message_pb2.MESSAGE_KIND_MENTION, "2244994945"),
    (message_pb2.CHANNEL_X, DM, "2244994945"),
    (message_pb2.CHANNEL_FACEBOOK, COMMENT, "1122334455"),
    (message_pb2.CHANNEL_FACEBOOK, DM, "1122334455"),
    (message_pb2.CHANNEL_INSTAGRAM, COMMENT, "17841400000000000"),
    (message_pb2.CHANNEL_LINKEDIN, COMMENT, "urn:li:organization:2414183"),
]


def replies(count: int, cases: int) -> list[commands_pb2.OutboundReply]:
    recent = to_timestamp(utc_now() - timedelta(minutes=10))
    made = []
    for n in range(count):
        channel, kind, account = MIX[n % len(MIX)]
        case = n % cases
        made.append(
            commands_pb2.OutboundReply(
                reply_id=f"reply-{n}",
                case_id=f"case-{case}",
                channel=channel,
                kind=kind,
                account_id=account,
                recipient_id=f"3161{case:07d}",
                in_reply_to=f"in-{n}",
                thread_id="urn:li:activity:7203756961220165633"
                if channel == message_pb2.CHANNEL_LINKEDIN
                else f"thread-{case}",
                text=f"Thanks for waiting, your parcel {n} is on its way. ^Anna",
                brand="bench",
                customer_last_message_at=recent,
            )
        )
    return made


def run_loop(
    bus: EmbeddedBus, processor: OutboundProcessor, group: str, batch: int, done: object
) -> float:
    producer = bus.producer(group)
    loop = ConsumerLoop(
        bus,
        group=group,
        topics=processor.topics,
        processor=processor,
        producer=producer,
        batch_size=batch,
        poll_timeout_s=0.05,
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    started = time.perf_counter()
    thread.start()
    assert callable(done)
    while not done():
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    loop.stop()
    thread.join(30)
    producer.close()
    return elapsed


def deliveries(bus: EmbeddedBus) -> list[delivery_pb2.ReplyDelivery]:
    return [decode(r, delivery_pb2.ReplyDelivery) for r in bus.replay(Topic.DELIVERIES)]


def unrecorded_ms(bus: EmbeddedBus) -> list[float]:
    """Per reply (its first delivery), ms from the platform's answer to the append."""
    first: dict[str, float] = {}
    for record in bus.replay(Topic.DELIVERIES):
        delivery = decode(record, delivery_pb2.ReplyDelivery)
        answered_ms = delivery.occurred_at.ToNanoseconds() / 1e6
        first.setdefault(delivery.reply_id, max(0.0, record.timestamp_ms - answered_ms))
    return sorted(first.values())


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(fraction * 1000) - 1]


def scenario(name: str, args: argparse.Namespace, *, faults: bool) -> dict[str, object]:
    fake = FakePlatforms(
        fail_rate=args.fail_rate if faults else 0.0,
        throttle_rate=args.throttle_rate if faults else 0.0,
        retry_after_s=args.retry_after,
        latency_s=args.latency_ms / 1000,
        honour_idempotency_key=False,
        seed=1,
    )
    with fake, tempfile.TemporaryDirectory(prefix="bench-outbound-") as tmp:
        os.environ.update(fake.env())
        care = CareConfig.model_validate(
            {**load_care_config().model_dump(by_alias=True), "brands": [fake_brand(fake, "bench")]}
        )
        bus = EmbeddedBus(Path(tmp), default_partitions=args.partitions, sync="normal")
        for (partitions, compacted), topics in topic_layouts(args.partitions).items():
            bus.create_topics(topics, partitions, compacted=compacted)
        made = replies(args.replies, args.cases)
        producer = bus.producer("bench")
        for reply in made:
            producer.send(Topic.OUTBOUND, reply.SerializeToString(), key=reply.case_id.encode())
        producer.flush()
        producer.close()
        settings = OutboundSettings(concurrency=args.concurrency, batch_size=args.batch)

        processor = outbound_processor(bus, care, utc_now, settings)
        elapsed = run_loop(
            bus, processor, GROUP, args.batch, lambda: len(deliveries(bus)) >= len(made)
        )
        processor.close()
        restart = outbound_processor(bus, care, utc_now, settings)
        restart_s = run_loop(
            bus, restart, f"{GROUP}-restart", args.batch, lambda: restart.skipped >= len(made)
        )
        restart.close()

        settled = deliveries(bus)
        window = unrecorded_ms(bus)
        statuses = Counter(d.status for d in settled)
        posted = {r.idempotency_key for r in fake.sent()}
        sent_ok = {d.reply_id for d in settled if d.status == SENT}
        lost = sum(1 for r in made if r.reply_id not in sent_ok or r.reply_id not in posted)
        per_reply = Counter(d.reply_id for d in settled)
        attempts = Counter(r.outcome for r in fake.requests())
        bus.close()
        return {
            "name": name,
            "replies/s": len(made) / elapsed,
            "seconds": elapsed,
            "sent": statuses[SENT],
            "failed": len(settled) - statuses[SENT],
            "lost": lost,
            "posted twice": fake.posted_twice(),
            "reported twice": sum(1 for n in per_reply.values() if n > 1),
            "calls": sum(attempts.values()),
            "5xx": attempts["failed"],
            "429": attempts["throttled"],
            "restart skipped": restart.skipped,
            "restart s": restart_s,
            "unrecorded p50": percentile(window, 0.5),
            "unrecorded p99": percentile(window, 0.99),
            "unrecorded max": window[-1] if window else 0.0,
            "reasons": dict(Counter(d.reason for d in settled if d.status != SENT)),
        }


def serve_connectors(bus_dir: str, care_file: str, batch: int, concurrency: int) -> None:
    """The connectors alone, as the service wires them, until this process is killed."""
    care = CareConfig.model_validate_json(Path(care_file).read_text())
    bus = EmbeddedBus(Path(bus_dir), sync="normal")
    settings = OutboundSettings(concurrency=concurrency, batch_size=batch)
    run_loop(bus, outbound_processor(bus, care, utc_now, settings), GROUP, batch, lambda: False)


def crashes(args: argparse.Namespace) -> dict[str, object]:
    """kill -9 of the connectors `args.crashes` times while they post; see the docstring."""
    fake = FakePlatforms(latency_s=args.latency_ms / 1000, honour_idempotency_key=False, seed=1)
    with fake, tempfile.TemporaryDirectory(prefix="bench-outbound-crash-") as tmp:
        os.environ.update(fake.env())
        care = CareConfig.model_validate(
            {**load_care_config().model_dump(by_alias=True), "brands": [fake_brand(fake, "bench")]}
        )
        care_file = Path(tmp) / "care.json"
        care_file.write_text(care.model_dump_json(by_alias=True))
        bus = EmbeddedBus(Path(tmp) / "bus", default_partitions=args.partitions, sync="normal")
        for (partitions, compacted), topics in topic_layouts(args.partitions).items():
            bus.create_topics(topics, partitions, compacted=compacted)
        made = replies(args.replies, args.cases)
        producer = bus.producer("bench")
        for reply in made:
            producer.send(Topic.OUTBOUND, reply.SerializeToString(), key=reply.case_id.encode())
        producer.flush()
        producer.close()
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--code",
            str(REPO),
            "--serve-connectors",
            str(Path(tmp) / "bus"),
            str(care_file),
            "--batch",
            str(args.batch),
            "--concurrency",
            str(args.concurrency),
        ]
        log = Path(tmp) / "connectors.log"
        # One kill somewhere in each of `crashes` equal stretches of the posts, the same
        # moments on every run (and for before and after), not on batch boundaries.
        rand = random.Random(args.crashes)
        stretch = len(made) / (args.crashes + 1)
        marks = [int(stretch * (n + rand.uniform(0.5, 1.5))) for n in range(args.crashes)]
        # The fake's server prints a traceback for every connection a killed child reset.
        with (Path(tmp) / "fake.log").open("w") as noise, contextlib.redirect_stderr(noise):
            killed_at = kill_and_restart(fake, command, log, marks, bus, len(made))
        posts = Counter(r.idempotency_key for r in fake.sent())
        recorded = {d.reply_id for d in deliveries(bus)}
        bus.close()
        return {
            "killed at": killed_at,
            "re-posts": sum(n - 1 for n in posts.values() if n > 1),
            "replies re-posted": sum(1 for n in posts.values() if n > 1),
            "lost": sum(1 for r in made if r.reply_id not in recorded or r.reply_id not in posts),
        }


def kill_and_restart(
    fake: FakePlatforms,
    command: list[str],
    log: Path,
    marks: list[int],
    bus: EmbeddedBus,
    count: int,
) -> list[int]:
    """Run `command` (the connectors), kill -9 it once the fake has taken each mark's number
    of posts and start it again, then wait until all `count` replies have a delivery; the
    numbers of posts at the kills."""
    killed_at: list[int] = []
    with log.open("ab") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            for mark in marks:
                while len(fake.sent()) < mark:
                    time.sleep(0.002)
                child.send_signal(signal.SIGKILL)
                child.wait()
                killed_at.append(len(fake.sent()))
                child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                if len({d.reply_id for d in deliveries(bus)}) >= count:
                    break
                time.sleep(0.1)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    return killed_at


def before(args: argparse.Namespace) -> list[dict[str, object]]:
    """The same runs on the code at `args.against`, in a subprocess (its own imports)."""
    options = {
        "replies": args.replies,
        "cases": args.cases,
        "fail-rate": args.fail_rate,
        "throttle-rate": args.throttle_rate,
        "retry-after": args.retry_after,
        "latency-ms": args.latency_ms,
        "concurrency": args.concurrency,
        "batch": args.batch,
        "partitions": args.partitions,
        "crashes": args.crashes,
        "code": Path(args.against).resolve(),
    }
    argv = [sys.executable, str(Path(__file__).resolve()), "--json"]
    for name, value in options.items():
        argv += [f"--{name}", str(value)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    results: list[dict[str, object]] = json.loads(done.stdout)
    return results


def crash_row(label: str, r: dict[str, object]) -> str:
    killed = r["killed at"]
    assert isinstance(killed, list)
    return (
        f"{label:<30}{r['re-posts']:>10}{r['replies re-posted']:>18}{r['lost']:>6}   "
        f"{', '.join(str(n) for n in killed)}"
    )


def row(label: str, r: dict[str, object], base: float, reference: dict[str, object] | None) -> str:
    rate, p99 = r["replies/s"], r["unrecorded p99"]
    assert isinstance(rate, float) and isinstance(p99, float)
    versus = ""
    if reference is not None:
        was_rate, was_p99 = reference["replies/s"], reference["unrecorded p99"]
        assert isinstance(was_rate, float) and isinstance(was_p99, float)
        versus = f"  (x{rate / was_rate:.2f} replies/s, x{p99 / max(was_p99, 0.001):.2g} p99)"
    return (
        f"{label:<30}{rate:>10.1f}{rate / base:>8.2f}x{r['unrecorded p50']:>10.1f}"
        f"{p99:>8.1f}{r['unrecorded max']:>8.0f}{r['sent']:>7}{r['failed']:>8}{r['lost']:>6}"
        f"{r['posted twice']:>7}{r['calls']:>7}{r['5xx']:>6}{r['429']:>6}"
        f"{r['restart skipped']:>9}{r['restart s']:>7.2f}{versus}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--replies", type=int, default=2000)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--fail-rate", type=float, default=0.10)
    parser.add_argument("--throttle-rate", type=float, default=0.05)
    parser.add_argument("--retry-after", type=int, default=1, help="seconds, as 429s say")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the fake's answer time")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--against", help="a checkout whose code to run first, as the before of a comparison"
    )
    parser.add_argument("--crashes", type=int, default=3, help="kill -9 of the connectors")
    parser.add_argument("--code", help=argparse.SUPPRESS)  # read by _code_root
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-connectors", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # failures are summarised below instead
    if args.serve_connectors:
        bus_dir, care_file = args.serve_connectors
        serve_connectors(bus_dir, care_file, args.batch, args.concurrency)
        return
    earlier = before(args) if args.against else None
    results = [
        scenario("baseline (no faults)", args, faults=False),
        scenario("faults", args, faults=True),
    ]
    if args.crashes:
        results.append({"name": "kill -9", **crashes(args)})
    if args.json:
        print(json.dumps(results))
        return
    print(
        f"{args.replies} replies over {args.cases} cases, {args.partitions} partitions, "
        f"batch {args.batch}, concurrency {args.concurrency}, platform latency "
        f"{args.latency_ms:g} ms; faults: {args.fail_rate:.0%} 5xx, {args.throttle_rate:.0%} "
        f"429 (Retry-After {args.retry_after} s)"
    )
    if earlier is not None:
        print(f"before: the code at {Path(args.against).resolve()}; after: {REPO}")
    base = (earlier or results)[0]["replies/s"]
    assert isinstance(base, float)
    print(
        f"{'run':<30}{'replies/s':>10}{'vs base':>9}{'unrec p50':>10}{'p99':>8}"
        f"{'max':>8}{'sent':>7}{'failed':>8}{'lost':>6}{'twice':>7}{'calls':>7}{'5xx':>6}"
        f"{'429':>6}{'skipped':>9}{'in s':>7}"
    )
    for index, r in enumerate(results[:2]):
        if earlier is not None:
            print(row(f"{r['name']}, before", earlier[index], base, None))
        label = f"{r['name']}, after" if earlier is not None else str(r["name"])
        print(row(label, r, base, earlier[index] if earlier is not None else None))
    if args.crashes:
        print(
            f"\n{'kill -9 of the connectors':<30}{'re-posts':>10}{'replies re-posted':>18}"
            f"{'lost':>6}   killed after this many posts"
        )
        if earlier is not None:
            print(crash_row("before", earlier[2]))
        print(crash_row("after" if earlier is not None else "", results[2]))
    for r in results[:2]:
        reasons = r["reasons"]
        assert isinstance(reasons, dict)
        for reason, count in Counter(reasons).most_common(5):
            print(f"  {r['name']}: {count} failed: {reason}")
    print(
        "unrec p50/p99/max = ms from the platform's answer to the delivery's append (while "
        "a crash would re-post the reply); twice = replies the fake saw posted more than "
        "once (it ignores Idempotency-Key here); lost = replies without a SENT delivery or "
        "without a post; skipped, in s = a second group re-reading care.outbound from the "
        "start: replies it found handled (posting none), and how long that took."
    )


if __name__ == "__main__":
    main()
