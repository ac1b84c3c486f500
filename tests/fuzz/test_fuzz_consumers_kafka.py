"""The consumer fuzz of `test_fuzz_consumers` on a real Kafka broker (issue 14).

The same loops (every service's, from `cli.assemble`), the same corpus (`records.poison`)
and the same checks (`fuzz_every_loop`: valid records processed, poison in `<topic>.dlq`
exactly once with a reason, no crash, a restart over the poisoned log), with the bus on
Apache Kafka and the search index embedded (the runtime opens each backend from its own
setting, so only the bus is real here).

The broker is this module's own (`tests.faults.cluster.DedicatedInfra`, Kafka only), not
the session's `kafka_bootstrap`: poison on care.cases there would reach every other suite
that reads it, and the topic names are fixed. It starts once for the module, is wiped and
started again (seconds, with the jars cached) before a fuzz run that would find another's
records, and is torn down (its data wiped) however the module ends.

What Kafka adds to the corpus:

* Null keys: a record without a key reaches the loops on a topic that is not compacted
  (it is in the corpus); on a compacted topic the broker refuses it at produce time
  (INVALID_RECORD), so no consumer can be handed one: checked per compacted topic here.
* Header values that are not UTF-8 (the corpus's garbled headers) travel as bytes, as on
  the embedded bus.
* A record over the broker's size limit (`message.max.bytes`, ~1 MiB by default) is
  refused at produce time: the platform's producer refuses it before it leaves the
  process (kafka-python's `max_request_size`, the same 1 MiB), and a producer that lets
  it through gets the broker's MESSAGE_TOO_LARGE. That is the producer's error, never a
  consumer's: nothing is appended, so there is nothing to dead-letter.

A record with a ~900 KB string decodes, and routing's and the assigner's effects of it (the
case, the assignment changelog, which hold the string two or three times) are over the
producer's 1 MiB limit: the bus refuses them (`RecordTooLargeError`), and the loop
dead-letters that record once, with the sizes as the reason, and goes on
(`test_huge_string_fields_on_kafka`). The main test holds those records out; the embedded
bus has no size limit, so the embedded test does not see it.

Figures per consumer group (as the embedded test prints):
`.venv/bin/pytest tests/fuzz/test_fuzz_consumers_kafka.py -s` (about a minute and a half,
two broker starts included).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaError

from socialcare.core.bus import BusError, Headers
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.topics import REGISTRY, Topic
from socialcare.core.runtime import Runtime
from tests.faults.cluster import DedicatedInfra
from tests.fuzz.records import HUGE_STRING, Outgoing, record_of, valid
from tests.fuzz.test_fuzz_consumers import check, fuzz_every_loop, report

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]

OVERSIZE_BYTES = 2 * 1024 * 1024
"""A value twice Kafka's default record limit."""
STUCK_WAIT_S = 20.0
"""How long the huge-string test waits for loops that may be stuck (normally seconds)."""


@dataclass
class Broker:
    """The module's broker, and whether a fuzz run has written to it since it started."""

    infra: DedicatedInfra
    used: bool = False


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A Kafka broker of this module's own, up for the module, down (wiped) at its end."""
    infra = DedicatedInfra(tmp_path_factory.mktemp("fuzz-kafka-infra"))
    try:
        print(f"\nbroker up on {infra.kafka_bootstrap} in {infra.up(('kafka',)):.1f} s")
        yield Broker(infra)
    finally:
        infra.down()


@pytest.fixture
def broker(module_broker: Broker) -> DedicatedInfra:
    """The module's broker with no records: wiped and started again (seconds) if a fuzz
    run wrote to it before. A fuzz run needs empty topics: its records are found by
    content, and its loops' groups must not start from another run's offsets."""
    infra = module_broker.infra
    if module_broker.used:
        infra.down()
        print(f"\nbroker wiped and up again in {infra.up(('kafka',)):.1f} s")
    module_broker.used = True
    return infra


def open_runtime(data_dir: Path, bootstrap: str) -> Runtime:
    return Runtime(
        PlatformSettings(
            bus=f"kafka://{bootstrap}",
            search="embedded",
            data_dir=data_dir,
            topic_partitions=2,
            ingest_grpc_port=0,
            # Nothing but the consumer loops is started; these addresses are never bound.
            case_grpc_address="127.0.0.1:1",
            sla_grpc_address="127.0.0.1:1",
        )
    )


@dataclass
class Refused:
    """The corpus's records this bus refuses at produce time, and what it said; and the
    records held out of the run (`hold_out`)."""

    errors: dict[tuple[str, str], str] = field(default_factory=dict)  # (topic, kind) -> error
    held_out: int = 0

    def prepare(self, runtime: Runtime, plan: dict[Topic, list[Outgoing]]) -> None:
        """The main test's corpus: the null keys checked apart, the huge strings held out."""
        self.take_null_keys(runtime, plan)
        for records in plan.values():
            huge = [r for r in records if r.kind == HUGE_STRING]
            self.held_out += len(huge)
            for r in huge:
                records.remove(r)

    def take_null_keys(self, runtime: Runtime, plan: dict[Topic, list[Outgoing]]) -> None:
        """Take the records without a key out of the compacted topics' plan and check the
        broker refuses each (one producer per record: a refusal makes kafka-python's
        idempotent producer fatal, and the bus replaces it)."""
        for topic, records in plan.items():
            if not REGISTRY[topic].compacted:
                continue
            for r in [r for r in records if r.key is None and r.value is not None]:
                records.remove(r)
                assert r.value is not None
                self.errors[(topic.value, r.kind)] = refusal(
                    runtime, topic.value, r.value, headers=r.headers
                )


def refusal(
    runtime: Runtime, topic: str, value: bytes, key: bytes | None = None, headers: Headers = ()
) -> str:
    """What the platform's producer says when it sends this record; it must refuse it, at
    send or at flush, and the topic must not grow."""
    before = ends(runtime, topic)
    producer = runtime.bus.producer("fuzz-refused")
    try:
        with pytest.raises(BusError) as refused:
            producer.send(topic, value, key=key, headers=headers)
            producer.flush(30.0)
    finally:
        with contextlib.suppress(BusError):  # its flush reports the same refusal again
            producer.close()
    after = ends(runtime, topic)
    assert after == before, f"{topic}: the refused record was appended"
    return str(refused.value)


def ends(runtime: Runtime, topic: str) -> dict[int, int]:
    """The end offset of each partition of `topic`."""
    return runtime.bus.end_offsets(topic, range(runtime.bus.partition_count(topic)))


def test_every_consumer_loop_survives_poison_records_on_kafka(
    broker: DedicatedInfra, tmp_path: Path
) -> None:
    refused = Refused()
    started = time.monotonic()
    tallies = fuzz_every_loop(
        lambda: open_runtime(tmp_path, broker.kafka_bootstrap), refused.prepare
    )
    report(tallies)
    print(f"refused by the broker at produce time ({len(refused.errors)}):")
    for (topic, kind), error in sorted(refused.errors.items()):
        print(f"  {topic} {kind!r}: {error[:160]}")
    print(f"held out ({HUGE_STRING!r}, see test_huge_string_fields_on_kafka): {refused.held_out}")
    print(f"fuzz on kafka: {time.monotonic() - started:.1f} s")
    check(tallies)
    compacted = {t.value for t in REGISTRY if REGISTRY[t].compacted}
    consumed_compacted = {topic for topic, _ in refused.errors}
    assert consumed_compacted, "no compacted topic consumed: the null-key refusal went unchecked"
    assert consumed_compacted <= compacted


def test_a_record_over_the_size_limit_is_refused_at_produce_time(
    module_broker: Broker, tmp_path: Path
) -> None:
    """The producer's error, not a consumer's: the platform's producer refuses it before
    it leaves the process, and a producer that lets it go out gets the broker's refusal."""
    broker = module_broker.infra  # appends nothing, so the next test may have it as it is
    runtime = open_runtime(tmp_path, broker.kafka_bootstrap)
    topic = Topic.MESSAGES_RAW
    sample = record_of(topic, valid(topic, 1))
    assert sample.value is not None
    huge = sample.value + b"\x00" * OVERSIZE_BYTES
    try:
        error = refusal(runtime, topic.value, huge, key=sample.key)
        print(f"\nplatform producer, {len(huge):,} bytes: {error[:200]}")
        assert "MessageSizeTooLarge" in error, error

        # Past the client's own limit, the broker's (message.max.bytes) refuses it.
        before = ends(runtime, topic.value)
        lenient = KafkaProducer(
            bootstrap_servers=broker.kafka_bootstrap, max_request_size=4 * OVERSIZE_BYTES
        )
        try:
            with pytest.raises(KafkaError) as by_broker:
                lenient.send(topic.value, huge, key=sample.key).get(timeout=30)
        finally:
            lenient.close(timeout=5)
        print(f"broker, {len(huge):,} bytes: {type(by_broker.value).__name__}: {by_broker.value}")
        assert "MessageSizeTooLarge" in type(by_broker.value).__name__
        after = ends(runtime, topic.value)
        assert after == before, f"{topic.value}: the refused record was appended"
    finally:
        runtime.close()


def only_huge_strings(_runtime: Runtime, plan: dict[Topic, list[Outgoing]]) -> None:
    """The corpus cut to its valid records and the ~900 KB strings."""
    for records in plan.values():
        records[:] = [r for r in records if r.kind in ("valid", HUGE_STRING)]


def test_huge_string_fields_on_kafka(broker: DedicatedInfra, tmp_path: Path) -> None:
    """Every loop, handed a ~900 KB string in a field of each topic's message (between
    valid records), processes or dead-letters it once and goes on."""
    started = time.monotonic()
    tallies = fuzz_every_loop(
        lambda: open_runtime(tmp_path, broker.kafka_bootstrap), only_huge_strings, STUCK_WAIT_S
    )
    report(tallies)
    print(f"huge strings on kafka: {time.monotonic() - started:.1f} s")
    problems = [p for t in tallies.values() for p in t.problems]
    assert not problems, "\n".join(problems[:20])
