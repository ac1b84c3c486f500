"""The Bus contract (socialcare.core.bus.base), checked on both backends with the same tests.

`TestBusContract` runs every test against the embedded SQLite log and against a real local
Apache Kafka broker (started once per session by the `kafka_bootstrap` fixture); the
behaviour must be the same, down to the partition a key lands in and the member a
partition goes to. That includes partition assignment: the listener hears what a member
gains and loses before it reads or another member reads, partition p of every topic goes
to the same member, and a commit for a partition the member lost is fenced.
`TestEmbeddedLog` covers what only the embedded log promises: durability across a restart,
several processes on one file, compaction that never drops what a group has not read, and
storage errors surfacing as BusError; `TestKafkaBackend` what only Kafka does: a broker that
rejects a record.

Every test uses fresh topic and group names. Waits are polling loops with deadlines, never
fixed sleeps: Kafka rebalances take a few seconds.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sqlite3
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import pytest

from socialcare.core.bus import (
    Bus,
    BusError,
    CommitFencedError,
    Consumer,
    PartitionListener,
    Producer,
    Record,
    TopicPartition,
)
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.bus.partitioner import partition_for
from socialcare.core.events import InvalidRecordError, decode
from socialcare.v1.case_pb2 import CaseEvent

PARTITIONS = 4
DEADLINE_S = 30.0
EMBEDDED_SESSION_TIMEOUT_S = 3.0
# A member that closed must not hold its partitions until its session times out (3 s on the
# embedded log, 6 s on Kafka): a new member gets them well within this.
LEAVE_BOUND_S = 2.5


def unique(kind: str) -> str:
    return f"contract-{kind}-{uuid.uuid4().hex[:10]}"


def keyed(count: int, prefix: str = "case") -> list[bytes]:
    return [f"{prefix}-{i}".encode() for i in range(count)]


def all_partitions(topic: str, count: int = PARTITIONS) -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(topic, p) for p in range(count))


class Clients:
    """Opens producers and consumers on one bus and closes whatever is left at teardown."""

    def __init__(self, bus: Bus, stack: contextlib.ExitStack) -> None:
        self.bus = bus
        self._stack = stack

    def producer(self) -> Producer:
        producer = self.bus.producer("contract-test")
        self._stack.callback(producer.close)
        return producer

    def consumer(
        self, group: str, topics: Sequence[str], listener: PartitionListener | None = None
    ) -> Consumer:
        consumer = self.bus.consumer(group, topics, client_id="contract-test", listener=listener)
        self._stack.callback(consumer.close)
        return consumer

    def produce(
        self, topic: str, values: Sequence[bytes], keys: Sequence[bytes | None] | None = None
    ) -> None:
        producer = self.producer()
        for i, value in enumerate(values):
            producer.send(topic, value, key=keys[i] if keys is not None else None)
        producer.flush()
        producer.close()


def poll_until(
    consumers: Sequence[Consumer],
    done: Callable[[], bool],
    *,
    on_records: Callable[[Consumer, list[Record]], None] | None = None,
    timeout_s: float = DEADLINE_S,
    what: str | Callable[[], str] = "condition",
) -> None:
    """Poll every consumer in turn (short polls, so all of them join rebalances) until
    `done()`; fail the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            waited_for = what if isinstance(what, str) else what()
            pytest.fail(f"timed out after {timeout_s} s waiting for {waited_for}")
        for consumer in consumers:
            records = consumer.poll(500, 0.2)
            if records and on_records is not None:
                on_records(consumer, records)


def drain(
    consumer: Consumer,
    count: int,
    *,
    commit: bool = False,
    settle_s: float = 0.0,
    timeout_s: float = DEADLINE_S,
) -> list[Record]:
    """Poll until `count` records arrived (committing each batch if asked), then keep
    polling for `settle_s` to catch anything delivered beyond `count`."""
    received: list[Record] = []

    def take(c: Consumer, records: list[Record]) -> None:
        received.extend(records)
        if commit:
            c.commit(next_offsets(records))

    poll_until(
        [consumer],
        lambda: len(received) >= count,
        on_records=take,
        timeout_s=timeout_s,
        what=lambda: f"{count} records (got {len(received)})",
    )
    end = time.monotonic() + settle_s
    while time.monotonic() < end:
        take(consumer, consumer.poll(500, 0.2))
    return received


def next_offsets(records: Sequence[Record]) -> dict[TopicPartition, int]:
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = record.topic_partition
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


def commit_once_settled(
    consumer: Consumer, offsets: dict[TopicPartition, int], members: Sequence[Consumer]
) -> None:
    """Commit offsets of partitions `consumer` owns. While the group still finishes a
    rebalance (on Kafka a member completes it in its next poll) the commit is fenced:
    poll the members and try again, as the consumer loop does."""
    committed = False

    def attempt() -> bool:
        nonlocal committed
        try:
            consumer.commit(offsets)
        except CommitFencedError:
            return False
        committed = True
        return True

    def no_records(_: Consumer, records: list[Record]) -> None:
        pytest.fail(f"expected no records while settling, got {len(records)}")

    poll_until(members, attempt, on_records=no_records, what="the commit to go through")
    assert committed


def wait_for_assignment(consumer: Consumer, expected: frozenset[TopicPartition]) -> None:
    """Poll an idle consumer until it owns `expected` (no records may arrive meanwhile)."""

    def unexpected(_: Consumer, records: list[Record]) -> None:
        pytest.fail(f"expected no records while joining, got {len(records)}")

    poll_until(
        [consumer],
        lambda: consumer.assignment() == expected,
        on_records=unexpected,
        what=lambda: f"assignment {sorted(expected)} (have {sorted(consumer.assignment())})",
    )


class Recorder(PartitionListener):
    """A member's listener: writes what it hears into a log shared by the test's members
    (so the order across members shows), and keeps the partitions it was told it owns."""

    def __init__(self, name: str, journal: list[tuple[str, str, frozenset[TopicPartition]]]):
        self.name = name
        self.journal = journal
        self.owned: set[TopicPartition] = set()

    def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        assert partitions, "a listener is never told of an empty change"
        assert partitions <= self.owned, f"{self.name} revoked {partitions} it did not own"
        self.owned -= partitions
        self.journal.append((self.name, "revoked", partitions))

    def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        assert partitions, "a listener is never told of an empty change"
        assert not partitions & self.owned, f"{self.name} assigned {partitions} twice"
        self.owned |= partitions
        self.journal.append((self.name, "assigned", partitions))

    def heard(self, kind: str) -> list[frozenset[TopicPartition]]:
        return [parts for name, what, parts in self.journal if name == self.name and what == kind]


def told_before(
    journal: list[tuple[str, str, frozenset[TopicPartition]]], name: str, kind: str
) -> set[TopicPartition]:
    """The partitions `name` has been told `kind` of so far."""
    return {tp for who, what, parts in journal if who == name and what == kind for tp in parts}


BackendSpec = tuple[str, str]  # ("embedded", data dir) or ("kafka", bootstrap servers)


def open_bus(spec: BackendSpec, *, max_poll_interval_s: float | None = None) -> Bus:
    kind, where = spec
    if kind == "embedded":
        if max_poll_interval_s is None:
            return EmbeddedBus(where, session_timeout_s=EMBEDDED_SESSION_TIMEOUT_S)
        return EmbeddedBus(
            where,
            session_timeout_s=EMBEDDED_SESSION_TIMEOUT_S,
            max_poll_interval_s=max_poll_interval_s,
            heartbeat_interval_s=0.2,
        )
    from socialcare.core.bus.kafka import KafkaBus

    if max_poll_interval_s is None:
        return KafkaBus(where)
    return KafkaBus(where, max_poll_interval_ms=int(max_poll_interval_s * 1000))


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> BackendSpec:
    if request.param == "embedded":
        return ("embedded", str(tmp_path / "bus"))
    return ("kafka", request.getfixturevalue("kafka_bootstrap"))


@pytest.fixture
def bus(backend: BackendSpec) -> Iterator[Bus]:
    opened = open_bus(backend)
    yield opened
    opened.close()


@pytest.fixture
def clients(bus: Bus) -> Iterator[Clients]:
    with contextlib.ExitStack() as stack:
        yield Clients(bus, stack)


class TestBusContract:
    def test_per_key_order_and_partition(self, clients: Clients) -> None:
        topic, group = unique("order"), unique("group")
        clients.bus.create_topics([topic], PARTITIONS)
        keys = [b"case-1", b"case-2", b"case-3"]
        expected_partitions = {key: partition_for(key, PARTITIONS) for key in keys}
        assert len(set(expected_partitions.values())) > 1, "keys should spread over partitions"

        producer = clients.producer()
        for i in range(200):
            for key in keys:
                producer.send(topic, f"{key.decode()}:{i}".encode(), key=key)
        producer.flush()

        records = drain(clients.consumer(group, [topic]), 600, settle_s=0.5)

        assert len(records) == 600
        sequence: dict[bytes, list[int]] = defaultdict(list)
        last_offset: dict[int, int] = {}
        for record in records:
            assert record.key is not None
            assert record.partition == expected_partitions[record.key], record
            assert record.offset > last_offset.get(record.partition, -1), "offsets go backwards"
            last_offset[record.partition] = record.offset
            name, index = record.value.decode().split(":")
            assert name.encode() == record.key
            sequence[record.key].append(int(index))
        assert {key: sequence[key] for key in keys} == {key: list(range(200)) for key in keys}

    def test_uncommitted_records_are_redelivered_after_a_consumer_dies(
        self, clients: Clients
    ) -> None:
        topic, group = unique("redeliver"), unique("group")
        clients.bus.create_topics([topic], PARTITIONS)
        clients.produce(topic, [f"r{i}".encode() for i in range(120)], keyed(120))

        first = clients.consumer(group, [topic])
        seen = drain(first, 120)
        by_partition: dict[int, list[Record]] = defaultdict(list)
        for record in seen:
            by_partition[record.partition].append(record)
        assert len(by_partition) == PARTITIONS
        # Commit only the first half of what each partition delivered, then die.
        committed = {
            TopicPartition(topic, p): records[len(records) // 2].offset
            for p, records in by_partition.items()
        }
        first.commit(committed)
        first.close()

        expected = {
            (record.partition, record.offset)
            for record in seen
            if record.offset >= committed[record.topic_partition]
        }
        second = clients.consumer(group, [topic])
        joined_at = time.monotonic()
        again = drain(second, len(expected))
        took_s = time.monotonic() - joined_at
        again += drain(second, 0, settle_s=1.0)

        # close() leaves the group at once: no waiting for the session to time out.
        assert took_s < LEAVE_BOUND_S, f"took {took_s:.1f} s: did close() leave the group?"

        assert sorted((r.partition, r.offset) for r in again) == sorted(expected)
        assert second.assignment() == all_partitions(topic)

    def test_two_members_share_the_partitions(self, clients: Clients) -> None:
        topic, group = unique("share"), unique("group")
        clients.bus.create_topics([topic], PARTITIONS)
        one = clients.consumer(group, [topic])
        two = clients.consumer(group, [topic])

        def balanced() -> bool:
            a, b = one.assignment(), two.assignment()
            return bool(a) and bool(b) and not (a & b) and (a | b) == all_partitions(topic)

        poll_until([one, two], balanced, what="both members to own disjoint partitions")

        clients.produce(topic, [f"s{i}".encode() for i in range(400)], keyed(400))
        received: dict[Consumer, list[Record]] = {one: [], two: []}

        def take(consumer: Consumer, records: list[Record]) -> None:
            received[consumer].extend(records)
            consumer.commit(next_offsets(records))

        poll_until(
            [one, two],
            lambda: sum(len(r) for r in received.values()) >= 400,
            on_records=take,
            what="400 records across both members",
        )
        settle = time.monotonic() + 1.0
        while time.monotonic() < settle:
            for consumer in (one, two):
                take(consumer, consumer.poll(500, 0.1))

        assert balanced(), "the assignment changed while consuming"
        for consumer, records in received.items():
            assert records, "each member should get records"
            assert {r.topic_partition for r in records} <= consumer.assignment()
        everything = Counter(
            (r.partition, r.offset) for records in received.values() for r in records
        )
        assert len(everything) == 400
        assert max(everything.values()) == 1, "a record was delivered twice"
        assert sorted(r.value for rs in received.values() for r in rs) == sorted(
            f"s{i}".encode() for i in range(400)
        )

        # No commit was lost: a member of the same group finds nothing left to read.
        one.close()
        two.close()
        third = clients.consumer(group, [topic])
        wait_for_assignment(third, all_partitions(topic))
        assert third.lag() == dict.fromkeys(all_partitions(topic), 0)

    def test_headers_and_keys_round_trip(self, clients: Clients) -> None:
        topic, group = unique("headers"), unique("group")
        traceparent = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        binary = bytes(range(256))
        sent: dict[bytes, tuple[bytes | None, tuple[tuple[str, bytes], ...]]] = {
            b"with-headers": (
                b"case-42",
                (
                    ("traceparent", traceparent),
                    ("binary", binary),
                    ("empty", b""),
                    ("repeated", b"first"),
                    ("repeated", b"last"),
                    ("n\u00e4me", "v\u00e4lue".encode()),
                ),
            ),
            b"no-key": (None, ()),
            b"binary-key": (b"\x00\xff\x80 key", (("traceparent", traceparent),)),
            b"empty-key": (b"", ()),
            binary: (b"binary-value", ()),
        }
        producer = clients.producer()
        before_ms = int(time.time() * 1000) - 60_000
        for value, (key, headers) in sent.items():
            producer.send(topic, value, key=key, headers=headers)
        producer.flush()

        records = drain(clients.consumer(group, [topic]), len(sent), settle_s=0.5)

        assert len(records) == len(sent)
        got = {r.value: r for r in records}
        assert set(got) == set(sent)
        for value, (key, headers) in sent.items():
            record = got[value]
            assert record.key == key
            assert record.headers == headers
            if key is not None:
                assert record.partition == partition_for(key, PARTITIONS)
            assert before_ms < record.timestamp_ms < before_ms + 120_000
        assert got[b"with-headers"].header("traceparent") == traceparent
        assert got[b"with-headers"].header("repeated") == b"last"
        assert got[b"with-headers"].header("binary") == binary
        assert got[b"no-key"].header("traceparent") is None

    def test_invalid_records_are_rejected_by_send_and_spoil_nothing(self, clients: Clients) -> None:
        topic, group = unique("invalid"), unique("group")
        producer = clients.producer()
        producer.send(topic, b"before", key=b"k")
        bad: list[dict[str, Any]] = [
            {"value": "text"},
            {"value": b"v", "key": "text-key"},
            {"value": b"v", "headers": (("traceparent", "text"),)},
            {"value": b"v", "headers": (("count", 5),)},
        ]
        for record in bad:
            with pytest.raises(BusError):
                producer.send(
                    topic, record["value"], **{k: v for k, v in record.items() if k != "value"}
                )
        producer.send(topic, b"after", key=b"k")
        producer.flush()

        records = drain(clients.consumer(group, [topic]), 2, settle_s=0.5)
        assert [r.value for r in records] == [b"before", b"after"]

    def test_a_delivery_returns_once_its_record_is_durable(self, clients: Clients) -> None:
        topic = unique("delivery")
        clients.bus.create_topics([topic], PARTITIONS)
        producer = clients.producer()
        first = producer.send(topic, b"first", key=b"k")

        first.wait(DEADLINE_S)

        # Durable: a replay from the log (no group, nothing cached) sees it.
        assert [r.value for r in clients.bus.replay(topic)] == [b"first"]
        first.wait(DEADLINE_S)  # again: returns at once
        # A record nobody waited for is made durable by close(); its delivery still answers.
        later = producer.send(topic, b"later", key=b"k")
        producer.close()
        later.wait(DEADLINE_S)
        assert [r.value for r in clients.bus.replay(topic)] == [b"first", b"later"]
        with pytest.raises(BusError, match="closed"):
            producer.send(topic, b"too late", key=b"k")

    def test_concurrent_senders_each_wait_for_their_own_records(self, clients: Clients) -> None:
        topic = unique("senders")
        clients.bus.create_topics([topic], PARTITIONS)
        producer = clients.producer()
        senders, per_sender = 16, 25
        waited: list[str] = []

        def sender(n: int) -> None:
            for i in range(per_sender):
                producer.send(topic, f"{n}:{i}".encode(), key=f"sender-{n}".encode()).wait(
                    DEADLINE_S
                )
                # Durable before the next is sent: per-key order is send order.
                waited.append(f"{n}:{i}")

        with ThreadPoolExecutor(senders) as pool:
            list(pool.map(sender, range(senders)))

        assert len(waited) == senders * per_sender
        replayed = [r.value.decode() for r in clients.bus.replay(topic)]
        assert sorted(replayed) == sorted(waited)
        per_key: dict[str, list[int]] = defaultdict(list)
        for value in replayed:
            n, i = value.split(":")
            per_key[n].append(int(i))
        assert all(indices == list(range(per_sender)) for indices in per_key.values())

    def test_a_record_that_fails_raises_from_its_delivery_and_the_producer_recovers(
        self, backend: BackendSpec, clients: Clients
    ) -> None:
        """Embedded: the log's file cannot be written (its table is gone), which fails the
        whole append. Kafka: the broker rejects one record as too large for its topic."""
        kind, _ = backend
        topic = unique("failing")
        producer = clients.producer()
        if kind == "embedded":
            assert isinstance(clients.bus, EmbeddedBus)
            path = clients.bus.path
            clients.bus.create_topics([topic], PARTITIONS)
            producer.send(topic, b"before", key=b"k").wait(DEADLINE_S)
            with contextlib.closing(sqlite3.connect(path)) as raw:
                raw.execute("ALTER TABLE records RENAME TO broken_records")
                raw.commit()
            failing = producer.send(topic, b"in the failed append", key=b"k")
            with pytest.raises(BusError, match="embedded log"):
                failing.wait(DEADLINE_S)
            with contextlib.closing(sqlite3.connect(path)) as raw:
                raw.execute("ALTER TABLE broken_records RENAME TO records")
                raw.commit()
        else:
            create_topic_with_limit(backend[1], topic, max_message_bytes=2000)
            producer.send(topic, b"before", key=b"k").wait(DEADLINE_S)
            failing = producer.send(topic, b"x" * 50_000, key=b"k")  # over this topic's limit
            with pytest.raises(BusError, match="MessageSizeTooLarge"):
                failing.wait(DEADLINE_S)

        after = producer.send(topic, b"after", key=b"other")
        after.wait(DEADLINE_S)

        values = [r.value for r in clients.bus.replay(topic)]
        assert b"before" in values and b"after" in values

    def test_committed_offsets_survive_and_new_groups_start_at_the_beginning(
        self, clients: Clients
    ) -> None:
        topic, group = unique("committed"), unique("group")
        clients.produce(topic, [f"old{i}".encode() for i in range(50)], keyed(50))

        first = clients.consumer(group, [topic])
        assert len(drain(first, 50, commit=True)) == 50
        first.close()

        clients.produce(topic, [f"new{i}".encode() for i in range(20)], keyed(20, "later"))

        second = clients.consumer(group, [topic])
        resumed = drain(second, 20, commit=True, settle_s=1.0)
        assert sorted(r.value for r in resumed) == sorted(f"new{i}".encode() for i in range(20))

        fresh = clients.consumer(unique("fresh-group"), [topic])
        everything = drain(fresh, 70, settle_s=0.5)
        assert sorted(r.value for r in everything) == sorted(
            [f"old{i}".encode() for i in range(50)] + [f"new{i}".encode() for i in range(20)]
        )

    def test_seek_rewinds_to_retry_a_batch(self, clients: Clients) -> None:
        topic, group = unique("seek"), unique("group")
        clients.produce(topic, [f"v{i}".encode() for i in range(60)], keyed(60))
        consumer = clients.consumer(group, [topic])
        first = drain(consumer, 60)
        rewind = {tp: offset - 5 for tp, offset in next_offsets(first).items()}
        rewind[next(iter(rewind))] = 0

        expected = sorted(
            (r.partition, r.offset) for r in first if r.offset >= rewind[r.topic_partition]
        )
        consumer.seek(rewind)
        again = drain(consumer, len(expected), settle_s=0.5)

        assert sorted((r.partition, r.offset) for r in again) == expected

    def test_replay_reads_everything_up_to_the_end_at_call_time(self, clients: Clients) -> None:
        topic = unique("replay")
        clients.bus.create_topics([topic], PARTITIONS)
        assert list(clients.bus.replay(topic)) == []

        clients.produce(topic, [f"p{i}".encode() for i in range(150)], keyed(150))
        replay = clients.bus.replay(topic)
        # Written after the call: not part of this replay, even before the first next().
        clients.produce(topic, [f"late{i}".encode() for i in range(30)], keyed(30))

        records = list(replay)

        assert sorted(r.value for r in records) == sorted(f"p{i}".encode() for i in range(150))
        offsets: dict[int, list[int]] = defaultdict(list)
        for record in records:
            offsets[record.partition].append(record.offset)
            assert record.partition == partition_for(record.key or b"", PARTITIONS)
        for partition, seen in offsets.items():
            assert seen == list(range(len(seen))), f"partition {partition} out of order"
        assert len(list(clients.bus.replay(topic))) == 180

    def test_a_killed_member_loses_its_partitions_to_the_survivor(
        self, backend: BackendSpec, clients: Clients
    ) -> None:
        topic, group = unique("killed"), unique("group")
        clients.bus.create_topics([topic], PARTITIONS)
        survivor = clients.consumer(group, [topic])
        received: list[Record] = []

        def take(consumer: Consumer, records: list[Record]) -> None:
            received.extend(records)
            consumer.commit(next_offsets(records))

        context = multiprocessing.get_context("spawn")
        to_parent: Queue[Any] = context.Queue()
        to_child: Queue[Any] = context.Queue()
        child = context.Process(
            target=member_that_gets_killed,
            args=(backend, group, topic, to_parent, to_child),
            daemon=True,
        )
        child_owns: frozenset[TopicPartition] = frozenset()
        report: list[Any] = []

        def listen(message: Any) -> None:
            nonlocal child_owns
            if message[0] == "assignment":
                child_owns = frozenset(TopicPartition(*tp) for tp in message[1])
            else:
                report.append(message)

        def balanced() -> bool:
            mine = survivor.assignment()
            return (
                bool(mine and child_owns)
                and not (mine & child_owns)
                and (mine | child_owns) == all_partitions(topic)
            )

        child.start()
        try:
            pump(to_parent, child, survivor, take, listen, balanced, "a stable 2-member group")
            doomed = child_owns
            keys = keyed(160)
            clients.produce(topic, [f"k{i}".encode() for i in range(160)], keys)
            counts = Counter(partition_for(key, PARTITIONS) for key in keys)
            doomed_numbers = {tp.partition for tp in doomed}
            to_child.put(sum(counts[p] for p in doomed_numbers))
            pump(to_parent, child, survivor, take, listen, lambda: bool(report), "the commit")
            _, committed, delivered_to_child = report[0]
            assert child_owns == doomed, "the child's partitions moved while it was reading"
            os.kill(child.pid or 0, signal.SIGKILL)  # no LeaveGroup, no more heartbeats
            child.join(DEADLINE_S)
            killed_at = time.monotonic()

            # The survivor reads all of its own partitions, and the dead member's partitions
            # from the offsets it committed: the uncommitted half again, nothing below it.
            expected = {
                (p, o)
                for p in range(PARTITIONS)
                for o in range(committed[p] if p in doomed_numbers else 0, counts[p])
            }
            poll_until(
                [survivor],
                lambda: (
                    survivor.assignment() == all_partitions(topic)
                    and len({(r.partition, r.offset) for r in received}) >= len(expected)
                ),
                on_records=take,
                what="the survivor to take over the dead member's partitions",
            )
            took_over_s = time.monotonic() - killed_at
            settle = time.monotonic() + 0.5
            while time.monotonic() < settle:
                take(survivor, survivor.poll(500, 0.1))
        finally:
            if child.is_alive():
                child.kill()
                child.join()

        assert sorted(delivered_to_child) == sorted(
            (p, o) for p in doomed_numbers for o in range(counts[p])
        )
        delivered = Counter((r.partition, r.offset) for r in received)
        assert set(delivered) == expected
        assert max(delivered.values()) == 1, "a record was delivered twice"
        assert took_over_s < 15, f"took {took_over_s:.1f} s to take over the partitions"

    def test_a_paused_process_cannot_commit_over_the_member_that_took_its_partitions(
        self, backend: BackendSpec, clients: Clients
    ) -> None:
        topic, group = unique("paused"), unique("group")
        clients.bus.create_topics([topic], PARTITIONS)
        clients.produce(topic, [f"p{i}".encode() for i in range(40)], keyed(40))
        context = multiprocessing.get_context("spawn")
        to_parent: Queue[Any] = context.Queue()
        to_child: Queue[Any] = context.Queue()
        child = context.Process(
            target=member_that_gets_paused,
            args=(backend, group, topic, to_parent, to_child),
            daemon=True,
        )
        child.start()
        try:
            assert to_parent.get(timeout=2 * DEADLINE_S) == ("owns", PARTITIONS)
            os.kill(child.pid or 0, signal.SIGSTOP)  # frozen: no polls, no heartbeats
            try:
                survivor = clients.consumer(group, [topic])
                ends = next_offsets(drain(survivor, 40, timeout_s=2 * DEADLINE_S))
                assert survivor.assignment() == all_partitions(topic)
                survivor.commit(ends)
            finally:
                os.kill(child.pid or 0, signal.SIGCONT)
            to_child.put("commit")
            outcome = to_parent.get(timeout=2 * DEADLINE_S)
        finally:
            if child.is_alive():
                child.kill()
            child.join(DEADLINE_S)

        assert outcome[0] == "fenced", outcome
        survivor.close()
        reader = clients.consumer(group, [topic])
        wait_for_assignment(reader, all_partitions(topic))
        assert reader.lag() == dict.fromkeys(all_partitions(topic), 0), "the stale commit landed"

    def test_lag_counts_unread_records(self, clients: Clients) -> None:
        topic, group = unique("lag"), unique("group")
        clients.bus.create_topics([topic], PARTITIONS)
        consumer = clients.consumer(group, [topic])
        wait_for_assignment(consumer, all_partitions(topic))
        assert consumer.lag() == dict.fromkeys(all_partitions(topic), 0)

        keys = keyed(40)
        clients.produce(topic, [f"l{i}".encode() for i in range(40)], keys)
        per_partition = Counter(partition_for(key, PARTITIONS) for key in keys)
        expected = {TopicPartition(topic, p): per_partition[p] for p in range(PARTITIONS)}
        assert consumer.lag() == expected

        first: list[Record] = []
        deadline = time.monotonic() + DEADLINE_S
        while not first and time.monotonic() < deadline:
            first = consumer.poll(10, 0.2)
        assert 0 < len(first) <= 10, "poll must honour max_records"
        read = Counter(r.topic_partition for r in first)
        assert consumer.lag() == {tp: count - read[tp] for tp, count in expected.items()}

        rest = drain(consumer, 40 - len(first), commit=True)
        assert len(first) + len(rest) == 40
        assert consumer.lag() == dict.fromkeys(all_partitions(topic), 0)

    def test_the_listener_hears_partitions_move_before_anyone_reads_them(
        self, clients: Clients
    ) -> None:
        topic, group = unique("listen"), unique("group")
        clients.bus.create_topics([topic], PARTITIONS)
        journal: list[tuple[str, str, frozenset[TopicPartition]]] = []
        first_ears, second_ears = Recorder("first", journal), Recorder("second", journal)
        ears = {"first": first_ears, "second": second_ears}
        first = clients.consumer(group, [topic], first_ears)
        names: dict[Consumer, str] = {first: "first"}
        wait_for_assignment(first, all_partitions(topic))
        assert journal == [("first", "assigned", all_partitions(topic))]

        clients.produce(topic, [f"m{i}".encode() for i in range(80)], keyed(80))
        received: dict[str, list[Record]] = {"first": [], "second": []}
        gone: set[str] = set()  # closed: told nothing, and no longer reading

        def take(consumer: Consumer, records: list[Record]) -> None:
            name = names[consumer]
            for record in records:
                # Told before it reads: the partition is its own by what it heard, and the
                # other member has been told it lost the partition, if it ever had it.
                assert record.topic_partition in ears[name].owned, (name, record)
                for other in ears:
                    if other in gone or other == name:
                        continue
                    if record.topic_partition in told_before(journal, other, "assigned"):
                        assert record.topic_partition in told_before(journal, other, "revoked")
            received[name].extend(records)

        poll_until(
            [first], lambda: len(received["first"]) >= 80, on_records=take, what="80 records"
        )
        second = clients.consumer(group, [topic], second_ears)
        names[second] = "second"

        def balanced() -> bool:
            a, b = first.assignment(), second.assignment()
            return bool(a) and bool(b) and not (a & b) and (a | b) == all_partitions(topic)

        poll_until([first, second], balanced, on_records=take, what="a balanced group")
        moved = second.assignment()
        # Only what moved was revoked (incremental on both backends), and the listeners
        # agree with assignment().
        assert first_ears.heard("revoked") == [moved]
        assert set(moved) == told_before(journal, "second", "assigned")
        assert first_ears.owned == set(first.assignment())
        assert second_ears.owned == set(second.assignment())
        revoked_at = journal.index(("first", "revoked", moved))
        assigned_at = min(
            i for i, (who, what, _) in enumerate(journal) if who == "second" and what == "assigned"
        )
        assert revoked_at < assigned_at, journal
        # The second member read the moved partitions again from the committed offsets
        # (nothing was committed), and nothing the first member still owns.
        poll_until(
            [first, second],
            lambda: {r.topic_partition for r in received["second"]} == set(moved),
            on_records=take,
            what="the second member to read its partitions",
        )

        second.close()
        gone.add("second")
        poll_until(
            [first],
            lambda: first.assignment() == all_partitions(topic),
            on_records=take,
            what="the first member to get back the partitions of the one that left",
        )
        assert first_ears.heard("assigned") == [all_partitions(topic), moved]
        assert second_ears.heard("revoked") == [], "close() calls no listener"

    def test_a_failing_listener_fails_the_poll_once_and_the_change_still_holds(
        self, clients: Clients
    ) -> None:
        topic, group = unique("listener-fails"), unique("group")
        clients.bus.create_topics([topic], PARTITIONS)
        clients.produce(topic, [f"x{i}".encode() for i in range(20)], keyed(20))

        class FailsOnce(PartitionListener):
            def __init__(self) -> None:
                self.assigned: list[frozenset[TopicPartition]] = []

            def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
                raise AssertionError(f"nothing should be revoked, got {partitions}")

            def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
                self.assigned.append(partitions)
                if len(self.assigned) == 1:
                    raise RuntimeError("rebuild bug")

        listener = FailsOnce()
        consumer = clients.consumer(group, [topic], listener)
        deadline = time.monotonic() + DEADLINE_S
        with pytest.raises(RuntimeError, match="rebuild bug"):
            while time.monotonic() < deadline:
                assert consumer.poll(500, 0.2) == [], "no records before the listener heard"
        # The assignment took effect although the hook failed; it is not repeated.
        assert consumer.assignment() == all_partitions(topic)
        assert len(drain(consumer, 20, settle_s=0.3)) == 20
        assert listener.assigned == [all_partitions(topic)]

    def test_partition_p_of_every_topic_goes_to_the_same_member(self, clients: Clients) -> None:
        topics = [unique("copart-a"), unique("copart-b"), unique("copart-c")]
        group = unique("group")
        clients.bus.create_topics(topics, PARTITIONS)
        members = [clients.consumer(group, topics) for _ in range(3)]
        every = frozenset(TopicPartition(t, p) for t in topics for p in range(PARTITIONS))

        def settled() -> bool:
            owned = [m.assignment() for m in members]
            return (
                all(owned)
                and sum(len(o) for o in owned) == len(every)
                and (frozenset().union(*owned) == every)
            )

        poll_until(members, settled, what="three members sharing three topics")
        numbers = []
        for member in members:
            per_topic = [
                sorted(tp.partition for tp in member.assignment() if tp.topic == topic)
                for topic in topics
            ]
            assert per_topic[0] == per_topic[1] == per_topic[2], per_topic
            run = per_topic[0]
            assert run == list(range(run[0], run[0] + len(run))), "range assignment is contiguous"
            numbers.append(run)
        # 4 partitions over 3 members: 2, 1, 1 (the first in member-id order gets the extra).
        assert sorted(len(run) for run in numbers) == [1, 1, 2]

    def test_a_commit_for_a_lost_partition_is_fenced_and_keeps_the_new_owners_offset(
        self, clients: Clients
    ) -> None:
        topic, group = unique("fenced"), unique("group")
        clients.bus.create_topics([topic], PARTITIONS)
        clients.produce(topic, [f"f{i}".encode() for i in range(60)], keyed(60))
        first = clients.consumer(group, [topic])
        seen_first = drain(first, 60)  # read everything, commit nothing yet
        stale = {tp: 1 for tp in all_partitions(topic)}

        second = clients.consumer(group, [topic])
        seen_second: list[Record] = []

        def take(consumer: Consumer, records: list[Record]) -> None:
            if consumer is second:
                seen_second.extend(records)
            else:
                seen_first.extend(records)

        poll_until(
            [first, second],
            lambda: (
                bool(second.assignment())
                and not (first.assignment() & second.assignment())
                and (first.assignment() | second.assignment()) == all_partitions(topic)
            ),
            on_records=take,
            what="a balanced group",
        )
        lost = second.assignment()
        ends = next_offsets(seen_first)
        poll_until(
            [first, second],
            lambda: (
                {tp: o for tp, o in next_offsets(seen_second).items() if tp in lost}
                == {tp: ends[tp] for tp in lost}
            ),
            on_records=take,
            what="the new owner to read its partitions",
        )
        commit_once_settled(second, {tp: ends[tp] for tp in lost}, [first, second])

        with pytest.raises(CommitFencedError):
            first.commit(stale)  # includes partitions it lost: nothing is committed
        commit_once_settled(first, {tp: ends[tp] for tp in first.assignment()}, [first, second])

        first.close()
        second.close()
        third = clients.consumer(group, [topic])
        wait_for_assignment(third, all_partitions(topic))
        # Had the fenced commit gone through, the moved partitions would be back at 1.
        assert third.lag() == dict.fromkeys(all_partitions(topic), 0)

    def test_a_member_that_stops_polling_is_dropped_and_hears_it_at_its_next_poll(
        self, backend: BackendSpec
    ) -> None:
        topic, group = unique("stalled"), unique("group")
        max_poll_interval_s = 1.0 if backend[0] == "embedded" else 6.0
        bus = open_bus(backend, max_poll_interval_s=max_poll_interval_s)
        with contextlib.ExitStack() as stack:
            stack.callback(bus.close)
            clients = Clients(bus, stack)
            bus.create_topics([topic], PARTITIONS)
            clients.produce(topic, [f"s{i}".encode() for i in range(40)], keyed(40))
            journal: list[tuple[str, str, frozenset[TopicPartition]]] = []
            slow_ears = Recorder("slow", journal)
            slow = clients.consumer(group, [topic], slow_ears)
            seen = drain(slow, 40)
            assert slow.assignment() == all_partitions(topic)

            # The slow member does not poll for longer than the max poll interval; another
            # member joins meanwhile and gets every partition.
            other = clients.consumer(group, [topic])
            poll_until(
                [other],
                lambda: other.assignment() == all_partitions(topic),
                timeout_s=max_poll_interval_s + DEADLINE_S,
                what="the other member to take over the stalled member's partitions",
            )
            with pytest.raises(CommitFencedError):
                slow.commit(next_offsets(seen))

            # Its next polls tell it what it lost, then it rejoins and gets its share again.
            poll_until(
                [slow, other],
                lambda: bool(slow_ears.heard("revoked")) and bool(slow.assignment()),
                what="the stalled member to hear it was dropped and rejoin",
            )
            assert slow_ears.heard("revoked")[0] == all_partitions(topic)
            assert slow_ears.owned == set(slow.assignment())

    def test_a_compacted_topic_replays_the_latest_record_of_every_key(
        self, backend: BackendSpec, clients: Clients
    ) -> None:
        topic = unique("compacted")
        clients.bus.create_topics([topic], PARTITIONS, compacted=True)
        keys = keyed(12, "case")
        versions = 5
        producer = clients.producer()
        for version in range(versions):
            for key in keys:
                producer.send(topic, f"{key.decode()}:v{version}".encode(), key=key)
            producer.flush()

        records = list(clients.bus.replay(topic))

        latest: dict[bytes, bytes] = {}
        last_offset: dict[int, int] = {}
        for record in records:
            assert record.key is not None
            assert record.partition == partition_for(record.key, PARTITIONS)
            assert record.offset > last_offset.get(record.partition, -1), "order per partition"
            last_offset[record.partition] = record.offset
            latest[record.key] = record.value
        assert latest == {key: f"{key.decode()}:v{versions - 1}".encode() for key in keys}
        if backend[0] == "embedded":
            # Superseded records are gone; offsets keep their numbers, with gaps.
            assert len(records) == len(keys)
            assert max(r.offset for r in records) >= versions - 1
        else:
            # Kafka compacts closed segments in the background, later.
            assert len(keys) <= len(records) <= len(keys) * versions

        # A group reading the compacted topic from the start steps over the gaps.
        group_read = drain(clients.consumer(unique("group"), [topic]), len(records), settle_s=0.5)
        assert sorted((r.partition, r.offset) for r in group_read) == sorted(
            (r.partition, r.offset) for r in records
        )

    def test_replay_reads_only_the_partitions_asked_for(self, clients: Clients) -> None:
        topic = unique("replay-some")
        clients.bus.create_topics([topic], PARTITIONS)
        keys = keyed(100)
        clients.produce(topic, [f"r{i}".encode() for i in range(100)], keys)
        per_partition = Counter(partition_for(key, PARTITIONS) for key in keys)

        some = list(clients.bus.replay(topic, [1, 3]))

        assert {r.partition for r in some} == {1, 3}
        assert Counter(r.partition for r in some) == {1: per_partition[1], 3: per_partition[3]}
        for partition in (1, 3):
            offsets = [r.offset for r in some if r.partition == partition]
            assert offsets == list(range(per_partition[partition]))
        assert list(clients.bus.replay(topic, [])) == []
        assert len(list(clients.bus.replay(topic, range(PARTITIONS)))) == 100
        with pytest.raises(ValueError, match=r"partitions 0\.\.3"):
            clients.bus.replay(topic, [PARTITIONS])

    def test_end_offsets_are_where_the_next_records_go(self, clients: Clients) -> None:
        topic = unique("ends")
        clients.bus.create_topics([topic], PARTITIONS)
        assert clients.bus.end_offsets(topic, [0, 1]) == {0: 0, 1: 0}
        keys = keyed(40)
        clients.produce(topic, [f"e{i}".encode() for i in range(40)], keys)
        per_partition = Counter(partition_for(key, PARTITIONS) for key in keys)
        ends = clients.bus.end_offsets(topic, range(PARTITIONS))
        assert ends == {p: per_partition[p] for p in range(PARTITIONS)}
        busy = max(per_partition, key=lambda p: per_partition[p])
        tail = list(clients.bus.replay(topic, [busy], start={busy: ends[busy] - 2}))
        assert [r.offset for r in tail] == [ends[busy] - 2, ends[busy] - 1]
        with pytest.raises(ValueError, match=r"partitions 0\.\.3"):
            clients.bus.end_offsets(topic, [PARTITIONS])

    def test_replay_from_start_offsets_reads_only_what_came_after(self, clients: Clients) -> None:
        topic = unique("replay-from")
        clients.bus.create_topics([topic], PARTITIONS)
        keys = keyed(80)
        clients.produce(topic, [f"s{i}".encode() for i in range(80)], keys)
        per_partition = Counter(partition_for(key, PARTITIONS) for key in keys)
        busy = max(per_partition, key=lambda p: per_partition[p])
        middle = per_partition[busy] // 2

        tail = list(clients.bus.replay(topic, [busy], start={busy: middle}))

        assert [r.offset for r in tail] == list(range(middle, per_partition[busy]))
        everything = list(clients.bus.replay(topic, start={busy: middle}))
        assert len(everything) == 80 - middle  # other partitions from their beginning
        past_the_end = {busy: per_partition[busy] + 5}
        assert list(clients.bus.replay(topic, [busy], start=past_the_end)) == []
        with pytest.raises(ValueError, match="negative"):
            clients.bus.replay(topic, [busy], start={busy: -1})

    def test_partition_count(self, clients: Clients) -> None:
        three, missing = unique("three"), unique("missing")
        clients.bus.create_topics([three], 3)
        assert clients.bus.partition_count(three) == 3
        clients.bus.create_topics([three], 8)  # an existing topic is left as it is
        assert clients.bus.partition_count(three) == 3
        assert clients.bus.partition_count(missing) == PARTITIONS  # created with the default


def create_topic_with_limit(bootstrap: str, topic: str, *, max_message_bytes: int) -> None:
    """A Kafka topic whose broker refuses records larger than `max_message_bytes`."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics(
            {
                topic: {
                    "num_partitions": PARTITIONS,
                    "replication_factor": 1,
                    "configs": {"max.message.bytes": str(max_message_bytes)},
                }
            },
            wait_for_metadata=True,
        )
    finally:
        admin.close()


def produce_from_another_process(data_dir: str, topic: str, count: int) -> None:
    """Runs in a spawned child process: an independent EmbeddedBus on the same file."""
    bus = EmbeddedBus(data_dir)
    producer = bus.producer("child")
    for i in range(count):
        producer.send(topic, f"child{i}".encode(), key=f"child-{i % 7}".encode())
        if i % 50 == 49:
            producer.flush()
    producer.close()
    bus.close()


def pump(
    channel: Queue[Any],
    child: Any,
    consumer: Consumer,
    on_records: Callable[[Consumer, list[Record]], None],
    on_message: Callable[[Any], None],
    done: Callable[[], bool],
    what: str,
) -> None:
    """Keep `consumer` polling (so it follows rebalances) and hand every message of the
    child to `on_message`, until `done()`."""
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {DEADLINE_S} s waiting for {what}")
        if not child.is_alive():
            pytest.fail(f"the child process exited early ({child.exitcode}) waiting for {what}")
        records = consumer.poll(500, 0.1)
        if records:
            on_records(consumer, records)
        with contextlib.suppress(queue.Empty):
            while True:
                on_message(channel.get_nowait())


def member_that_gets_paused(
    spec: BackendSpec, group: str, topic: str, to_parent: Queue[Any], to_child: Queue[Any]
) -> None:
    """Runs in a spawned child: owns every partition of `topic` and reads it, reports, and
    waits (the parent freezes it meanwhile). Told to commit, it tries to commit offset 1 of
    every partition, which the group must refuse, and reports what happened."""
    bus = open_bus(spec)
    consumer = bus.consumer(group, [topic], client_id="paused")
    received: list[Record] = []
    deadline = time.monotonic() + 2 * DEADLINE_S
    while (len(received) < 40 or len(consumer.assignment()) < PARTITIONS) and (
        time.monotonic() < deadline
    ):
        received.extend(consumer.poll(500, 0.1))
    to_parent.put(("owns", len(consumer.assignment())))
    to_child.get(timeout=4 * DEADLINE_S)
    try:
        consumer.commit({TopicPartition(topic, p): 1 for p in range(PARTITIONS)})
    except CommitFencedError as exc:
        to_parent.put(("fenced", str(exc)))
    except BusError as exc:
        to_parent.put(("failed", f"{type(exc).__name__}: {exc}"))
    else:
        to_parent.put(("committed", ""))
    time.sleep(3600)


def member_that_gets_killed(
    spec: BackendSpec, group: str, topic: str, to_parent: Queue[Any], to_child: Queue[Any]
) -> None:
    """Runs in a spawned child: joins `group` and reports every change of its partitions
    until the parent says how many records it will get; reads them, commits only the first
    half of each partition, reports, then idles as a live member until it is killed."""
    bus = open_bus(spec)
    consumer = bus.consumer(group, [topic], client_id="doomed")
    deadline = time.monotonic() + 2 * DEADLINE_S
    owned: frozenset[TopicPartition] = frozenset()
    expected: int | None = None
    received: list[Record] = []
    while expected is None and time.monotonic() < deadline:
        received.extend(consumer.poll(500, 0.1))
        if consumer.assignment() != owned:
            owned = consumer.assignment()
            to_parent.put(("assignment", sorted(owned)))
        with contextlib.suppress(queue.Empty):
            expected = to_child.get_nowait()
    while expected is not None and len(received) < expected and time.monotonic() < deadline:
        received.extend(consumer.poll(500, 0.1))
    by_partition: dict[int, list[Record]] = defaultdict(list)
    for record in received:
        by_partition[record.partition].append(record)
    committed = {p: records[len(records) // 2].offset for p, records in by_partition.items()}
    consumer.commit({TopicPartition(topic, p): offset for p, offset in committed.items()})
    to_parent.put(("committed", committed, [(r.partition, r.offset) for r in received]))
    time.sleep(3600)


class TestEmbeddedLog:
    """What only the embedded backend promises (Kafka gives it by being a server)."""

    def test_log_and_offsets_survive_a_restart(self, tmp_path: Path) -> None:
        topic, group = unique("restart"), unique("group")
        first = EmbeddedBus(tmp_path, session_timeout_s=3.0)
        producer = first.producer()
        for i in range(30):
            producer.send(topic, f"d{i}".encode(), key=f"k{i}".encode())
        producer.close()
        consumer = first.consumer(group, [topic])
        records = drain(consumer, 30)
        halfway = next_offsets(records[:15])
        consumer.commit(halfway)
        consumer.close()
        first.close()

        second = EmbeddedBus(tmp_path, session_timeout_s=3.0)
        assert sorted(r.value for r in second.replay(topic)) == sorted(
            f"d{i}".encode() for i in range(30)
        )
        resumed = second.consumer(group, [topic])
        try:
            again = drain(resumed, 30 - sum(halfway.values()), settle_s=0.3)
            assert all(r.offset >= halfway.get(r.topic_partition, 0) for r in again)
            assert len(again) + sum(halfway.values()) == 30
        finally:
            resumed.close()
            second.close()

    def test_two_processes_share_the_log(self, tmp_path: Path) -> None:
        topic, group = unique("processes"), unique("group")
        bus = EmbeddedBus(tmp_path, session_timeout_s=3.0)
        consumer = bus.consumer(group, [topic])  # creates the topic; polling before the child
        context = multiprocessing.get_context("spawn")
        child = context.Process(
            target=produce_from_another_process, args=(str(tmp_path), topic, 300)
        )
        child.start()
        try:
            received = drain(consumer, 300, settle_s=0.3)
        finally:
            child.join(DEADLINE_S)
            consumer.close()
            bus.close()
        assert child.exitcode == 0
        assert sorted(r.value for r in received) == sorted(f"child{i}".encode() for i in range(300))
        per_key: dict[bytes | None, list[int]] = defaultdict(list)
        for record in received:
            per_key[record.key].append(int(record.value.decode()[5:]))
        assert all(values == sorted(values) for values in per_key.values())

    def test_a_log_from_before_tombstones_opens_and_takes_them(self, tmp_path: Path) -> None:
        topic = unique("old-file")
        with contextlib.closing(sqlite3.connect(tmp_path / "bus.sqlite3")) as conn:
            # The records table as it was before tombstones, with one record in it.
            conn.executescript(
                "CREATE TABLE topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL, "
                "compacted INTEGER NOT NULL DEFAULT 0);"
                "CREATE TABLE partition_ends (topic TEXT NOT NULL, partition INTEGER NOT NULL, "
                "next_offset INTEGER NOT NULL, PRIMARY KEY (topic, partition)) WITHOUT ROWID;"
                "CREATE TABLE records (topic TEXT NOT NULL, partition INTEGER NOT NULL, "
                "offset INTEGER NOT NULL, key BLOB, value BLOB NOT NULL, headers BLOB NOT NULL, "
                "timestamp_ms INTEGER NOT NULL, PRIMARY KEY (topic, partition, offset)) "
                "WITHOUT ROWID;"
            )
            conn.execute("INSERT INTO topics VALUES (?, 1, 1)", (topic,))
            conn.execute(
                "INSERT INTO records VALUES (?, 0, 0, ?, ?, ?, 1)", (topic, b"k", b"v", b"")
            )
            conn.execute("INSERT INTO partition_ends VALUES (?, 0, 1)", (topic,))
            conn.commit()
        bus = EmbeddedBus(tmp_path, session_timeout_s=3.0, tombstone_retention_s=3600.0)
        try:
            producer = bus.producer()
            producer.tombstone(topic, key=b"k").wait()
            producer.close()
            records = list(bus.replay(topic))
            assert [(r.offset, r.key, r.value, r.tombstone) for r in records] == [
                (1, b"k", b"", True)  # compacted: the old record went, the tombstone stays
            ]
        finally:
            bus.close()

    def test_compaction_keeps_what_a_group_has_not_read(self, tmp_path: Path) -> None:
        topic, reader, other = unique("compact-floor"), unique("group"), unique("group")
        bus = EmbeddedBus(tmp_path, session_timeout_s=3.0)
        bus.create_topics([topic], 1, compacted=True)
        producer = bus.producer()
        for version in range(6):
            producer.send(topic, f"v{version}".encode(), key=b"case-1")
        producer.send(topic, b"only", key=b"case-2")
        producer.close()
        # One group has read up to offset 3 of the partition; another has read all of it.
        slow = bus.consumer(reader, [topic])
        fast = bus.consumer(other, [topic])
        try:
            drain(slow, 7)
            drain(fast, 7, commit=True)
            slow.commit({TopicPartition(topic, 0): 3})
        finally:
            slow.close()
            fast.close()

        replayed = [(r.offset, r.value) for r in bus.replay(topic)]

        # Superseded and read by every group: gone. Superseded but not yet read by the slow
        # group (3, 4): kept, so it still sees every version it has not processed.
        assert replayed == [(3, b"v3"), (4, b"v4"), (5, b"v5"), (6, b"only")]
        resumed = bus.consumer(reader, [topic])
        try:
            again = drain(resumed, 4, settle_s=0.3)
        finally:
            resumed.close()
        assert [r.value for r in again] == [b"v3", b"v4", b"v5", b"only"]

    def test_storage_failures_are_bus_errors_and_the_consumer_recovers(
        self, tmp_path: Path
    ) -> None:
        topic, group = unique("storage"), unique("group")
        bus = EmbeddedBus(tmp_path, session_timeout_s=3.0, heartbeat_interval_s=0.2)
        producer = bus.producer()
        producer.send(topic, b"before", key=b"k")
        producer.flush()
        consumer = bus.consumer(group, [topic])
        try:
            assert [r.value for r in drain(consumer, 1)] == [b"before"]
            tables = (
                "records",
                "partition_ends",
                "partition_owners",
                "group_members",
                "committed",
                "topics",
            )
            with contextlib.closing(sqlite3.connect(bus.path)) as raw:
                for table in tables:
                    raw.execute(f"ALTER TABLE {table} RENAME TO broken_{table}")
                raw.commit()
            producer.send(topic, b"after", key=b"k")
            failing: list[Callable[[], object]] = [
                producer.flush,
                lambda: consumer.poll(10, 0.1),
                lambda: consumer.commit({TopicPartition(topic, 0): 1}),
                consumer.lag,
                lambda: bus.create_topics([unique("new")]),
                lambda: bus.partition_count(topic),
                lambda: list(bus.replay(topic)),
                lambda: bus.consumer(unique("group"), [topic]),
            ]
            for call in failing:
                with pytest.raises(BusError, match=r"embedded log .* failed: OperationalError"):
                    call()
            with contextlib.closing(sqlite3.connect(bus.path)) as raw:
                for table in tables:
                    raw.execute(f"ALTER TABLE broken_{table} RENAME TO {table}")
                raw.commit()
            producer.flush()  # the records kept for the next flush are appended now
            again = drain(consumer, 1)
            assert [r.value for r in again] == [b"after"]
        finally:
            consumer.close()
            producer.close()
            bus.close()


@pytest.mark.kafka
class TestKafkaBackend:
    """What only the Kafka backend has to handle: the broker rejecting a record."""

    def test_a_rejected_record_fails_flush_and_the_producer_recovers(
        self, kafka_bootstrap: str
    ) -> None:
        from kafka.admin import KafkaAdminClient

        from socialcare.core.bus.kafka import KafkaBus

        topic, group = unique("rejected"), unique("group")
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.create_topics(
                {
                    topic: {
                        "num_partitions": PARTITIONS,
                        "replication_factor": 1,
                        "configs": {"max.message.bytes": "2000"},
                    }
                },
                wait_for_metadata=True,
            )
        finally:
            admin.close()

        bus = KafkaBus(kafka_bootstrap)
        with contextlib.ExitStack() as stack:
            stack.callback(bus.close)
            clients = Clients(bus, stack)
            producer = clients.producer()
            producer.send(topic, b"small-1", key=b"k")
            producer.send(topic, b"x" * 50_000, key=b"k")  # over the topic's limit only
            with pytest.raises(BusError, match="MessageSizeTooLarge"):
                producer.flush()
            # kafka-python would fail every later record of this producer; ours recovers.
            producer.send(topic, b"small-2", key=b"k")
            producer.send(topic, b"small-3", key=b"other")
            producer.flush()

            records = drain(clients.consumer(group, [topic]), 3, settle_s=0.5)
            assert sorted(r.value for r in records) == [b"small-1", b"small-2", b"small-3"]


# -- tombstones and reading from a point in time ------------------------------------------

# Compaction settings under which a Kafka broker compacts (and drops tombstones) within
# seconds: segments roll after 100 ms, any dirty share is worth cleaning, tombstones stay
# 100 ms. The broker's cleaner still wakes only every `log.cleaner.backoff.ms` (15 s).
FAST_COMPACTION = {
    "segment.ms": "100",
    "min.compaction.lag.ms": "0",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "100",
}
COMPACTION_DEADLINE_S = 120.0


def open_compacting_bus(spec: BackendSpec, *, tombstone_retention_s: float) -> Bus:
    """A bus whose compacted topics drop tombstones after `tombstone_retention_s` (on
    Kafka: after FAST_COMPACTION's 100 ms, whatever is asked)."""
    kind, where = spec
    if kind == "embedded":
        return EmbeddedBus(
            where,
            session_timeout_s=EMBEDDED_SESSION_TIMEOUT_S,
            tombstone_retention_s=tombstone_retention_s,
        )
    from socialcare.core.bus.kafka import KafkaBus

    return KafkaBus(where, compaction_config=FAST_COMPACTION)


class TestTombstonesAndTime:
    """Tombstones (`Producer.tombstone`, `Record.tombstone`), their compaction, and
    `Bus.offsets_for_time`, the same on both backends."""

    def test_a_tombstone_round_trips_and_never_decodes(self, clients: Clients) -> None:
        topic, group = unique("tombstone"), unique("group")
        clients.bus.create_topics([topic], PARTITIONS)
        producer = clients.producer()
        producer.send(topic, b"alive", key=b"case-1", headers=(("event-id", b"e1"),))
        producer.tombstone(topic, key=b"case-1", headers=(("producer", b"test"),)).wait()
        producer.send(topic, b"other", key=b"case-2")
        producer.flush()

        received = drain(clients.consumer(group, [topic]), 3, settle_s=0.3)
        by_key: dict[bytes | None, list[Record]] = defaultdict(list)
        for record in received:
            by_key[record.key].append(record)
        first, gone = by_key[b"case-1"]
        assert (first.value, first.tombstone) == (b"alive", False)
        assert (gone.value, gone.tombstone) == (b"", True)
        assert gone.offset > first.offset
        assert gone.partition == partition_for(b"case-1", PARTITIONS)
        assert gone.header("producer") == b"test"
        assert [r.tombstone for r in by_key[b"case-2"]] == [False]
        # The replay of a topic that is not compacted returns it too.
        replayed = [r for r in clients.bus.replay(topic) if r.key == b"case-1"]
        assert [(r.value, r.tombstone) for r in replayed] == [(b"alive", False), (b"", True)]
        # A tombstone is never taken for an (empty) message of any type.
        with pytest.raises(InvalidRecordError, match="tombstone"):
            decode(gone, CaseEvent)
        assert decode(Record(topic, 0, 0, b"k", b"", ()), CaseEvent) == CaseEvent()

    def test_a_tombstone_needs_a_key(self, clients: Clients) -> None:
        topic = unique("tombstone-nokey")
        producer = clients.producer()
        with pytest.raises(BusError, match="key"):
            producer.tombstone(topic, key=None)  # type: ignore[arg-type]

    def test_compaction_drops_the_tombstoned_key_then_the_tombstone(
        self, backend: BackendSpec
    ) -> None:
        topic = unique("tombstone-compacted")
        keep = open_compacting_bus(backend, tombstone_retention_s=3600.0)
        with contextlib.ExitStack() as stack:
            stack.callback(keep.close)
            clients = Clients(keep, stack)
            keep.create_topics([topic], PARTITIONS, compacted=True)
            producer = clients.producer()
            keys = keyed(6, "case")
            for version in range(3):
                for key in keys:
                    producer.send(topic, f"{key.decode()}:v{version}".encode(), key=key)
            producer.tombstone(topic, key=keys[0])
            producer.tombstone(topic, key=keys[1])
            producer.flush()
            survivors = {key: f"{key.decode()}:v2".encode() for key in keys[2:]}

            def live(records: list[Record]) -> dict[bytes, bytes]:
                state: dict[bytes, bytes] = {}
                for record in records:
                    assert record.key is not None
                    if record.tombstone:
                        state.pop(record.key, None)
                    else:
                        state[record.key] = record.value
                return state

            records = list(keep.replay(topic))
            # Whatever compaction did so far, applying tombstones gives the live state.
            assert live(records) == survivors
            if backend[0] == "embedded":
                # Compacted at once: of an erased key only its tombstone is left.
                erased = [r for r in records if r.key in (keys[0], keys[1])]
                assert sorted((r.key or b"", r.tombstone) for r in erased) == [
                    (keys[0], True),
                    (keys[1], True),
                ]
                assert all(r.value == b"" for r in erased)

        # Past the tombstone retention the key is gone altogether.
        drop = open_compacting_bus(backend, tombstone_retention_s=0.0)
        fillers = [
            next(
                key
                for key in (f"filler-{n}".encode() for n in range(1000))
                if partition_for(key, PARTITIONS) == partition
            )
            for partition in range(PARTITIONS)
        ]
        try:
            deadline = time.monotonic() + COMPACTION_DEADLINE_S
            filler = drop.producer("contract-test")
            try:
                while True:
                    records = list(drop.replay(topic))
                    erased = [r for r in records if r.key in (keys[0], keys[1])]
                    if not erased:
                        break
                    if time.monotonic() > deadline:
                        pytest.fail(f"the erased keys are still there: {erased}")
                    # Kafka compacts closed segments only: roll every partition's active
                    # segment with a later record (of a key of its own).
                    for key in fillers:
                        filler.send(topic, b"filler", key=key)
                    filler.flush()
                    time.sleep(0.5)
            finally:
                filler.close()
            assert live([r for r in records if r.key not in fillers]) == survivors
            assert {r.key for r in records} - set(fillers) == set(survivors)
        finally:
            drop.close()

    def test_offsets_for_time_finds_the_first_record_at_or_after_it(self, clients: Clients) -> None:
        topic = unique("by-time")
        clients.bus.create_topics([topic], PARTITIONS)
        keys = keyed(12, "case")
        clients.produce(topic, [b"before"] * len(keys), keys)
        before = list(clients.bus.replay(topic))
        assert len(before) == len(keys)
        newest_before = max(r.timestamp_ms for r in before)
        while int(time.time() * 1000) <= newest_before:
            time.sleep(0.002)  # the next record must carry a later millisecond
        cut = int(time.time() * 1000)
        clients.produce(topic, [b"after"] * len(keys), keys)
        everything = list(clients.bus.replay(topic))
        assert all(r.timestamp_ms >= cut for r in everything if r.value == b"after")

        partitions = list(range(PARTITIONS))
        found = clients.bus.offsets_for_time(topic, partitions, cut)
        first_after = {
            p: min(r.offset for r in everything if r.partition == p and r.value == b"after")
            for p in {r.partition for r in everything}
        }
        ends = clients.bus.end_offsets(topic, partitions)
        assert found == {p: first_after.get(p, ends[p]) for p in partitions}
        # Reading from there gives exactly the later records.
        tail = list(clients.bus.replay(topic, start=found))
        assert sorted(r.value for r in tail) == [b"after"] * len(keys)
        # From the beginning of time: the first offsets; from the future: the ends.
        assert clients.bus.offsets_for_time(topic, partitions, 0) == dict.fromkeys(partitions, 0)
        future = int(time.time() * 1000) + 3_600_000
        assert clients.bus.offsets_for_time(topic, partitions, future) == ends
        assert clients.bus.offsets_for_time(topic, [1], 0) == {1: 0}
        with pytest.raises(ValueError, match="partitions"):
            clients.bus.offsets_for_time(topic, [PARTITIONS], 0)
