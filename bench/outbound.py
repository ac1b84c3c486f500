#!/usr/bin/env python3
"""Replies delivered per second through the outbound connectors, with platform faults
beside a no-fault baseline, and the two counts that must be zero: replies lost, posted twice.

    python bench/outbound.py [--replies 2000] [--cases 500] [--fail-rate 0.10]
        [--throttle-rate 0.05] [--retry-after 1] [--latency-ms 20] [--concurrency 16]
        [--batch 100] [--partitions 4]

Each run, on a fresh embedded bus: `replies` OutboundReply records (WhatsApp, X replies and
DMs, Facebook comments, Messenger, Instagram, LinkedIn, spread over `cases` cases) are put
on care.outbound; a real `ConsumerLoop` runs the connectors' `OutboundProcessor` (as the
service wires it) against tests/fakes/platforms.py, which answers after `latency-ms` like a
remote API. Timed from the loop's start until every reply has a delivery on
care.deliveries. Runs:

* baseline: no faults;
* faults: `fail-rate` 5xx and `throttle-rate` 429 with `Retry-After: retry-after` seconds;
* restart: a second consumer group reads the same care.outbound from the start (an instance
  that lost its committed offsets): every reply must be found handled and none posted.

The fake does NOT honour Idempotency-Key here, so a reply the connectors posted twice shows
up as a second post ("posted twice"). "lost" counts replies without a SENT delivery or
without a post on the fake. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
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
            "reasons": Counter(d.reason for d in settled if d.status != SENT),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replies", type=int, default=2000)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--fail-rate", type=float, default=0.10)
    parser.add_argument("--throttle-rate", type=float, default=0.05)
    parser.add_argument("--retry-after", type=int, default=1, help="seconds, as 429s say")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the fake's answer time")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # failures are summarised below instead
    print(
        f"{args.replies} replies over {args.cases} cases, {args.partitions} partitions, "
        f"batch {args.batch}, concurrency {args.concurrency}, platform latency "
        f"{args.latency_ms:g} ms; faults: {args.fail_rate:.0%} 5xx, {args.throttle_rate:.0%} "
        f"429 (Retry-After {args.retry_after} s)"
    )
    results = [
        scenario("baseline (no faults)", args, faults=False),
        scenario("faults", args, faults=True),
    ]
    base = results[0]["replies/s"]
    assert isinstance(base, float)
    header = (
        f"{'run':<22}{'replies/s':>10}{'vs base':>9}{'sent':>7}{'failed':>8}{'lost':>6}"
        f"{'twice':>7}{'calls':>7}{'5xx':>6}{'429':>6}{'restart: skipped':>18}{'in s':>7}"
    )
    print(header)
    for r in results:
        rate = r["replies/s"]
        assert isinstance(rate, float)
        print(
            f"{r['name']:<22}{rate:>10.1f}{rate / base:>8.2f}x{r['sent']:>7}{r['failed']:>8}"
            f"{r['lost']:>6}{r['posted twice']:>7}{r['calls']:>7}{r['5xx']:>6}{r['429']:>6}"
            f"{r['restart skipped']:>18}{r['restart s']:>7.2f}"
        )
    for r in results:
        reasons = r["reasons"]
        assert isinstance(reasons, Counter)
        for reason, count in reasons.most_common(5):
            print(f"  {r['name']}: {count} failed: {reason}")
    print(
        "twice = replies the fake saw posted more than once (it ignores Idempotency-Key here); "
        "lost = replies without a SENT delivery or without a post; restart = a second group "
        "re-reading care.outbound from the start posts nothing."
    )


if __name__ == "__main__":
    main()
