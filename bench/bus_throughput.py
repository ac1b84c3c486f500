#!/usr/bin/env python3
"""Raw throughput of one bus backend: produce N keyed records, then consume them all.

    python bench/bus_throughput.py --backend embedded|kafka --records 50000 \\
        [--size 1024] [--bootstrap 127.0.0.1:9092] [--sync full|normal] [--json]

One producer sends N records of `size` random (incompressible) bytes with 1,000 distinct
keys and flushes once at the end; then one consumer in a fresh group reads them all,
committing after every batch, as the consumer loop does. Printed, never asserted:

* produce msg/s: send() of every record up to the end of the final flush();
* consume msg/s: from creating the consumer (so including the group join) to the last
  record's commit;
* end-to-end msg/s: N / (produce + consume time), and the same in MB/s (10^6 bytes);
* peak RSS of this process (the Kafka broker is a separate process, not counted).

`measure(bus, records, size)` is the baseline other benchmarks import. With
`--backend kafka` and no `--bootstrap`, the local broker is started through
deploy/local/localinfra.py and stopped afterwards if it was not running before.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType

from socialcare.cli import load_localinfra
from socialcare.core.bus import Bus, Record, TopicPartition

REPO = Path(__file__).resolve().parents[1]
KEYS = 1000
CONSUME_STALL_S = 60.0


def _next_offsets(records: list[Record]) -> dict[TopicPartition, int]:
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        offsets[record.topic_partition] = record.offset + 1
    return offsets


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure(bus: Bus, records: int, size: int = 1024) -> dict[str, float]:
    """Produce `records` keyed records of `size` bytes to a fresh topic, then consume them
    all in a fresh group (commit per batch). Returns seconds, msg/s, MB/s and peak RSS."""
    if records < 1 or size < 0:
        raise ValueError("records must be positive and size non-negative")
    run = uuid.uuid4().hex[:10]
    topic, group = f"bench-throughput-{run}", f"bench-throughput-{run}"
    bus.create_topics([topic])
    value = os.urandom(size)
    keys = [f"key-{i}".encode() for i in range(KEYS)]

    producer = bus.producer("bench")
    started = time.perf_counter()
    for i in range(records):
        producer.send(topic, value, key=keys[i % KEYS])
    producer.flush(timeout_s=600.0)
    produce_s = time.perf_counter() - started
    producer.close()

    started = time.perf_counter()
    consumer = bus.consumer(group, [topic], client_id="bench")
    first_record_s = 0.0
    received = 0
    last_progress = time.monotonic()
    try:
        while received < records:
            batch = consumer.poll(500, 1.0)
            if not batch:
                if time.monotonic() - last_progress > CONSUME_STALL_S:
                    raise RuntimeError(
                        f"consumer stalled at {received}/{records} records "
                        f"for {CONSUME_STALL_S:.0f} s"
                    )
                continue
            if not received:
                first_record_s = time.perf_counter() - started
            last_progress = time.monotonic()
            consumer.commit(_next_offsets(batch))
            received += len(batch)
        consume_s = time.perf_counter() - started
    finally:
        consumer.close()

    megabytes = records * size / 1e6
    total_s = produce_s + consume_s
    return {
        "records": float(records),
        "size_bytes": float(size),
        "produce_s": produce_s,
        "consume_s": consume_s,
        "consume_first_record_s": first_record_s,
        "produce_msg_s": records / produce_s,
        "consume_msg_s": records / consume_s,
        "end_to_end_msg_s": records / total_s,
        "produce_mb_s": megabytes / produce_s,
        "consume_mb_s": megabytes / consume_s,
        "end_to_end_mb_s": megabytes / total_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def _report(backend: str, figures: dict[str, float]) -> str:
    return "\n".join(
        [
            f"bus throughput, backend={backend}, {int(figures['records'])} records "
            f"x {int(figures['size_bytes'])} B",
            f"  produce     {figures['produce_msg_s']:>10,.0f} msg/s "
            f"{figures['produce_mb_s']:>8.1f} MB/s  ({figures['produce_s']:.2f} s)",
            f"  consume     {figures['consume_msg_s']:>10,.0f} msg/s "
            f"{figures['consume_mb_s']:>8.1f} MB/s  ({figures['consume_s']:.2f} s, "
            f"first record after {figures['consume_first_record_s']:.2f} s)",
            f"  end-to-end  {figures['end_to_end_msg_s']:>10,.0f} msg/s "
            f"{figures['end_to_end_mb_s']:>8.1f} MB/s",
            f"  peak RSS    {figures['peak_rss_mb']:>10.0f} MiB (this process)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("embedded", "kafka"), required=True)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=1024, help="record value size in bytes")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: start local)")
    parser.add_argument(
        "--sync", choices=("full", "normal"), default="full", help="embedded: SQLite sync mode"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    if args.backend == "embedded":
        from socialcare.core.bus.embedded import EmbeddedBus

        with tempfile.TemporaryDirectory(prefix="bench-bus-") as data_dir:
            bus: Bus = EmbeddedBus(data_dir, sync=args.sync)
            try:
                figures = measure(bus, args.records, args.size)
            finally:
                bus.close()
        label = f"embedded (sync={args.sync})"
    else:
        from socialcare.core.bus.kafka import KafkaBus

        infra: ModuleType | None = None
        started_here = False
        bootstrap = args.bootstrap
        if bootstrap is None:
            infra = load_localinfra()
            started_here = not infra.is_running("kafka")
            bootstrap = infra.ensure_up(kafka=True, elasticsearch=False).kafka_bootstrap
        try:
            bus = KafkaBus(bootstrap)
            try:
                figures = measure(bus, args.records, args.size)
            finally:
                bus.close()
        finally:
            if infra is not None and started_here:
                infra.down(kafka=True, elasticsearch=False)
        label = f"kafka ({bootstrap})"

    if args.json:
        print(json.dumps({"backend": label, **figures}, indent=2))
    else:
        print(_report(label, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
