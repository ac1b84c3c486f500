#!/usr/bin/env python3
"""The cost of acknowledging an ingested message: producer-wide flush vs its own delivery.

    python bench/ingest_path.py [--messages 2000] [--threads 8] [--sync full|normal]
        [--kafka [--bootstrap 127.0.0.1:9092]]

`Ingestor.ingest` answers "accepted" only once the message is durable. It used to call
`producer.flush()` for that, which waits for every record anyone sent; it now waits for its
own record's `Delivery`, which returns as soon as the group append holding that record is
done. Both are measured in one run, on the embedded bus (each on a fresh data directory),
with `threads` request handlers each ingesting its share of `messages` distinct messages:

* baseline "flush": the same `Ingestor`, given a producer whose deliveries wait by calling
  the producer-wide `flush()`, which is exactly what `ingest` did before;
* "own delivery": the `Ingestor` as it is.

With `--kafka`, the same two acknowledgements are also measured on Kafka at the producer
level (each handler sends one record, then flushes or waits for its delivery), on a fresh
topic: `Ingestor` always writes `social.messages.raw`, which on a broker shared with tests
is not the bench's to fill. Without `--bootstrap` the local broker is started through
deploy/local/localinfra.py and stopped afterwards if it was not running before.

Printed per mode: messages/s, wall time per message, p50/p99 latency of one call, CPU time
of this process per message, and the ratio to the baseline. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from socialcare.cli import load_localinfra
from socialcare.core.bus import Bus, Headers, Producer
from socialcare.core.bus.base import Delivery
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.ingestion.dedupe import SeenMessageIds
from socialcare.ingestion.ingestor import Ingestor
from socialcare.ingestion.models import MessageAuthor, MessageCreate


class _FlushDelivery(Delivery):
    def __init__(self, producer: Producer) -> None:
        self._producer = producer

    def wait(self, timeout_s: float = 30.0) -> None:
        self._producer.flush(timeout_s)


class FlushingProducer(Producer):
    """The old acknowledgement: a record is waited for by flushing the whole producer."""

    def __init__(self, inner: Producer) -> None:
        self._inner = inner

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        self._inner.send(topic, value, key=key, headers=headers)
        return _FlushDelivery(self._inner)

    def flush(self, timeout_s: float = 30.0) -> None:
        self._inner.flush(timeout_s)

    def close(self) -> None:
        self._inner.close()


def payloads(run: str, count: int) -> list[MessageCreate]:
    created = datetime(2024, 11, 5, 9, 14, 3, tzinfo=UTC)
    return [
        MessageCreate(
            channel="x",
            external_id=f"{run}-{i}",
            author=MessageAuthor(id=f"author-{i % 500}", followers=i % 1000),
            text="Mijn energierekening is veel hoger dan verwacht. Wat is mijn energielabel?",
            created_at=created,
        )
        for i in range(count)
    ]


def measure(
    name: str, wrap: Callable[[Producer], Producer], messages: int, threads: int, sync: str
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as data_dir:
        bus = EmbeddedBus(Path(data_dir), sync=sync)
        inner = bus.producer()
        ingestor = Ingestor(wrap(inner), SeenMessageIds(messages + 1))
        work = payloads(name, messages)
        ingestor.ingest(payloads(f"{name}-warm", 1)[0])  # topic created, connection warm
        latencies: list[float] = []
        lock = threading.Lock()

        def handler(share: list[MessageCreate]) -> None:
            mine: list[float] = []
            for payload in share:
                started = time.perf_counter()
                ingestor.ingest(payload)
                mine.append(time.perf_counter() - started)
            with lock:
                latencies.extend(mine)

        figures = _timed(lambda n: handler(work[n::threads]), threads, messages, latencies)
        inner.close()
        bus.close()
    return figures


def measure_kafka(bootstrap: str, messages: int, threads: int) -> dict[str, dict[str, float]]:
    """Producer level on Kafka: send one record, then flush() or wait for its delivery."""
    from socialcare.core.bus.kafka import KafkaBus

    bus = KafkaBus(bootstrap)
    try:
        return {
            name: _kafka_mode(bus, name.startswith("flush"), messages, threads)
            for name in ("flush (before)", "own delivery")
        }
    finally:
        bus.close()


def _kafka_mode(bus: Bus, flush: bool, messages: int, threads: int) -> dict[str, float]:
    topic = f"bench-ingest-path-{uuid.uuid4().hex[:10]}"
    bus.create_topics([topic])
    producer = bus.producer("bench-ingest-path")
    producer.send(topic, b"warm", key=b"warm").wait()
    latencies: list[float] = []
    lock = threading.Lock()

    def handler(n: int) -> None:
        mine: list[float] = []
        for i in range(n, messages, threads):
            started = time.perf_counter()
            delivery = producer.send(topic, b"m" * 300, key=f"author-{i % 500}".encode())
            if flush:
                producer.flush()
            else:
                delivery.wait()
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    try:
        return _timed(handler, threads, messages, latencies)
    finally:
        producer.close()


def _timed(
    handler: Callable[[int], None], threads: int, messages: int, latencies: list[float]
) -> dict[str, float]:
    workers = [threading.Thread(target=handler, args=(n,)) for n in range(threads)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    latencies.sort()
    return {
        "rate": messages / wall,
        "wall_ms": wall / messages * 1000,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "cpu_ms": cpu / messages * 1000,
    }


def report(title: str, results: dict[str, dict[str, float]]) -> None:
    base = results["flush (before)"]
    print(title)
    print(
        f"{'mode':<16}{'msg/s':>9}{'ms/msg':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU ms/msg':>12}{'x base':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:<16}{r['rate']:>9.0f}{r['wall_ms']:>9.3f}{r['p50_ms']:>9.2f}"
            f"{r['p99_ms']:>9.2f}{r['cpu_ms']:>12.3f}{r['rate'] / base['rate']:>8.2f}"
        )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sync", choices=("full", "normal"), default="full")
    parser.add_argument("--kafka", action="store_true", help="also measure on Kafka")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: start local)")
    args = parser.parse_args(argv)
    modes: dict[str, Callable[[Producer], Producer]] = {
        "flush (before)": FlushingProducer,
        "own delivery": lambda producer: producer,
    }
    results = {
        name: measure(name.split()[0], wrap, args.messages, args.threads, args.sync)
        for name, wrap in modes.items()
    }
    report(
        f"Ingestor.ingest, embedded bus (sync={args.sync}), {args.messages} messages "
        f"from {args.threads} threads",
        results,
    )
    if not args.kafka:
        return
    infra: ModuleType | None = None
    started_here = False
    bootstrap = args.bootstrap
    if bootstrap is None:
        infra = load_localinfra()
        started_here = not infra.is_running("kafka")
        bootstrap = infra.ensure_up(kafka=True, elasticsearch=False).kafka_bootstrap
    try:
        kafka = measure_kafka(bootstrap, args.messages, args.threads)
    finally:
        if infra is not None and started_here:
            infra.down(kafka=True, elasticsearch=False)
    print()
    report(
        f"Producer send + acknowledge, Kafka ({bootstrap}), {args.messages} records "
        f"from {args.threads} threads",
        kafka,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
