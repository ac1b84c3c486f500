"""The event bus contract every service talks to, whatever the backend.

Semantics are Kafka's, so the embedded log and Apache Kafka are interchangeable:

* A topic has a fixed number of partitions; a record with a key always lands in the
  partition `murmur2(key) % partitions` (Kafka's default partitioner), which gives per-key
  ordering. Records without a key are spread round-robin.
* A record is durable once the `Delivery` that `Producer.send()` returned for it has
  waited successfully, or once a later `Producer.flush()` returned. A caller that promises
  "accepted" for its own records (ingestion's 202) waits for their deliveries: many callers'
  records still share one produce batch, and nobody waits for anyone else's. A caller
  that owns everything the producer sent (a consumer loop about to commit) flushes.
* Consumers in one group share the topics' partitions; each partition has one owner at a
  time. Partition number p of every topic a group subscribes to goes to the same member
  (Kafka's range assignment), so topics keyed alike can be joined on one member
  (co-partitioning). A member learns what it gained and lost through its
  `PartitionListener`, called inside `poll()`: `on_revoked` before a partition leaves (its
  pending offsets must then be dropped; a later commit for it raises `CommitFencedError`),
  `on_assigned` before the first record of a new partition is returned. Rebalances are
  incremental on both backends: only partitions that move are revoked and assigned.
* Fencing: a partition has at most one owner at a time. A new owner gets it only after
  the old one let it go (its `on_revoked` ran) or was dropped from the group (it stopped
  heartbeating, or did not poll for the max poll interval), and a commit naming a partition
  the member does not own at that moment commits nothing and raises `CommitFencedError`.
* Offsets are committed explicitly, as the *next* offset to read. A new group starts from
  the earliest record. A consumer that dies before committing leaves its records to be
  delivered again to whoever owns the partition next.
* Tombstones: `Producer.tombstone(topic, key=...)` writes a record with no value (Kafka's
  null value) meaning "this key is gone". Consumers and replays see it as a `Record` with
  `tombstone=True` and `value=b""`; `events.decode` refuses it, so it can never pass for an
  empty message. On a compacted topic, compaction drops every earlier record of the key,
  and later (after the bus's tombstone retention, Kafka's `delete.retention.ms`) the
  tombstone itself. Until then `replay` returns it, so a service rebuilding state from a
  changelog must apply it (forget the key); after it, a replay has no record of the key.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

Headers = tuple[tuple[str, bytes], ...]


class TopicPartition(NamedTuple):
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Record:
    """One record as read from a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers = ()
    timestamp_ms: int = 0
    # A tombstone: the key is deleted (Kafka's null value); `value` is then b"".
    tombstone: bool = False

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def header(self, name: str) -> bytes | None:
        """The last value of header `name`, or None (Kafka allows repeats; last wins)."""
        found: bytes | None = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: Headers = field(default=())
    tombstone: bool = False  # a null value: `value` is b"" and not written


class BusError(Exception):
    """The backend failed (broker unreachable, storage error). Retrying may help."""


MAX_RECORD_BYTES = 1_048_576
"""The largest record (key, value and headers, as the producer sizes it) the bus takes:
Kafka's default (the producer's `max.request.size`; the broker's `message.max.bytes` is a
few bytes more, so the producer refuses first). The embedded bus does not enforce it: a
limit there would refuse, in deployments and tests that run today, records the platform
makes (a long case's full changelog record, a service's state snapshot) that nobody has
sized yet; Kafka's refusal is checked on a real broker (tests/fuzz)."""


class RecordTooLargeError(BusError):
    """The bus refused a record for its size: sending it again fails the same way, so it is
    not an outage, though a `BusError` (callers that only tell "the backend failed" still
    see one). A consumer loop dead-letters the input record whose effect it was."""

    def __init__(self, topic: str, size: int, limit: int, refused_by: str = "") -> None:
        """`refused_by`: what refused it, in the backend's words (e.g. Kafka's error name),
        for the message only; a consumer loop's dead letter names the sizes alone."""
        self.topic = topic
        self.size = size
        self.limit = limit
        super().__init__(
            f"a record of {size:,} bytes for {topic!r} is over the bus's {limit:,}-byte "
            f"record limit{f' ({refused_by})' if refused_by else ''}"
        )


class UnknownTopicError(BusError):
    """A topic was used that does not exist and could not be created."""


class CommitFencedError(BusError):
    """A commit named a partition this member no longer owns (the group rebalanced, or this
    member was too slow and was dropped). Nothing was committed for it; its records go to
    the new owner. The member should drop its pending work for that partition and poll on,
    which rejoins the group."""


class PartitionListener(abc.ABC):
    """Told which partitions a consumer gains and loses. Both hooks run on the thread that
    calls `Consumer.poll()`, inside that call, so they need no locks against the loop.

    Each hook is told only the partitions that changed (never empty sets). An exception a
    hook raises propagates out of `poll()`; the consumer's own bookkeeping is done by then
    (a revoked partition is gone, an assigned one owned), so the hook is not called again
    for that change. `Consumer.close()` calls neither hook: the owner is finished anyway.
    """

    @abc.abstractmethod
    def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        """These partitions are leaving this member: drop their pending offsets and state.
        Called before another member can read them from the committed offsets."""

    @abc.abstractmethod
    def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        """These partitions are now this member's, starting at their committed offsets:
        rebuild their state (may block, e.g. to replay a changelog partition)."""


def start_offsets(start: Mapping[int, int] | None, partitions: Collection[int]) -> dict[int, int]:
    """The first offset to replay of each partition: `start`'s, else 0."""
    chosen = {partition: 0 for partition in partitions}
    for partition, offset in (start or {}).items():
        if offset < 0:
            raise ValueError(f"replay start offset {offset} of partition {partition} is negative")
        if partition in chosen:
            chosen[partition] = offset
    return chosen


def select_partitions(topic: str, count: int, partitions: Collection[int] | None) -> list[int]:
    """The partitions of `topic` (which has `count`) that a replay reads, in order: all of
    them, or those named, each checked to exist."""
    if partitions is None:
        return list(range(count))
    chosen = sorted(set(partitions))
    wrong = [p for p in chosen if not 0 <= p < count]
    if wrong:
        raise ValueError(f"topic {topic!r} has partitions 0..{count - 1}, not {wrong}")
    return chosen


def check_record(value: object, key: object, headers: Headers) -> None:
    """Reject a malformed record at `send()`, like Kafka's client does: found at flush time
    it would fail the whole batch, other callers' records included."""
    if not isinstance(value, bytes | bytearray):
        raise BusError(f"record value must be bytes, not {type(value).__name__}")
    if key is not None and not isinstance(key, bytes | bytearray):
        raise BusError(f"record key must be bytes or None, not {type(key).__name__}")
    for name, data in headers:
        if not isinstance(name, str) or not isinstance(data, bytes | bytearray):
            raise BusError(f"record headers must be (str, bytes) pairs, not {(name, data)!r}")


class Delivery(abc.ABC):
    """The fate of one record `Producer.send()` queued: a per-record acknowledgement.

    Waiting never makes anyone else wait: a backend batches the records of many senders
    into one append (a group commit on the embedded log, a produce request on Kafka), and a
    waiter returns as soon as the batch holding its record is durable.
    """

    @abc.abstractmethod
    def wait(self, timeout_s: float = 30.0) -> None:
        """Block until this record is durable, at most about `timeout_s` seconds.

        Raises BusError when it failed or was not acknowledged in time. The record is then
        not known to be durable, but may still become so (the embedded log keeps it for
        its next append): a caller that retries may publish it twice, never lose it.
        Thread-safe, and may be called again (it returns at once once durable).
        """


class Delivered(Delivery):
    """A record already durable when `send()` returned (a producer that writes at once, a
    test double)."""

    def wait(self, timeout_s: float = 30.0) -> None:
        """Returns at once: there is nothing left to wait for."""


class Producer(abc.ABC):
    """Sends records. Thread-safe: one producer may serve many request handlers."""

    @abc.abstractmethod
    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        """Queue one record and return its `Delivery`; may block briefly when the backend's
        buffer is full. Waiting for the delivery is optional: `flush()` covers it too.

        Raises BusError when the record can never be delivered (e.g. too large, or the
        producer is closed).
        """

    def tombstone(self, topic: str, *, key: bytes, headers: Headers = ()) -> Delivery:
        """Queue a tombstone for `key` (a record with a null value: the key is deleted) and
        return its `Delivery`, like `send`. A producer that cannot write tombstones (a test
        double) raises BusError; both backends can."""
        raise BusError(f"{type(self).__name__} cannot write tombstones (topic {topic!r})")

    @abc.abstractmethod
    def flush(self, timeout_s: float = 30.0) -> None:
        """Block until every record sent so far (by anyone) is durable; raise BusError if
        one failed or not in time."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release resources."""


class Consumer(abc.ABC):
    """Reads records for one member of a consumer group. Not thread-safe: one loop owns it."""

    @abc.abstractmethod
    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        """Return up to max_records records, waiting up to timeout_s for the first one.

        Also keeps the membership alive (heartbeats) and follows rebalances: partitions that
        move to this member resume from their committed offsets.
        """

    @abc.abstractmethod
    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Durably store the next offset to read for each partition, all or nothing.

        Raises CommitFencedError (and commits nothing) when this member does not own one of
        the partitions now (it was revoked, or the group dropped this member), BusError on
        other failures.
        """

    @abc.abstractmethod
    def seek(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Make the next poll read these partitions from these offsets (to retry a batch)."""

    @abc.abstractmethod
    def assignment(self) -> frozenset[TopicPartition]:
        """Partitions this member currently owns."""

    @abc.abstractmethod
    def lag(self) -> dict[TopicPartition, int]:
        """Records not yet read per owned partition (end offset minus position)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Leave the group without committing; owned partitions go to other members."""


class Bus(abc.ABC):
    """Factory for producers and consumers of one backend."""

    @abc.abstractmethod
    def create_topics(
        self, topics: Sequence[str], partitions: int = 0, *, compacted: bool = False
    ) -> None:
        """Create topics that do not exist yet (`partitions=0`: the bus default); existing
        topics are left as they are. A compacted topic keeps at least the latest record of
        every key (Kafka's `cleanup.policy=compact`), so replaying it costs the size of the
        live state, not of its history."""

    @abc.abstractmethod
    def partition_count(self, topic: str) -> int:
        """How many partitions `topic` has (created with the default count if missing)."""

    @abc.abstractmethod
    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        """The offset the next record of each partition will get, now. With `replay`'s
        `start`, a service reads a bounded tail of a topic (e.g. what it published just
        before a restart) without reading its history."""

    @abc.abstractmethod
    def offsets_for_time(
        self, topic: str, partitions: Sequence[int], timestamp_ms: int
    ) -> dict[int, int]:
        """Per partition, the offset of the first record whose timestamp is at or after
        `timestamp_ms` (Kafka's `offsets_for_times`), or the end offset when no record is
        that recent. With `replay`'s `start` (or a consumer's `seek`), a service reads a
        topic from a point in time. Raises ValueError for a partition the topic lacks."""

    @abc.abstractmethod
    def producer(self, client_id: str = "socialcare") -> Producer:
        """A new producer; the caller closes it."""

    @abc.abstractmethod
    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        client_id: str = "socialcare",
        listener: PartitionListener | None = None,
    ) -> Consumer:
        """A new member of `group` subscribed to `topics` (created if missing); `listener`
        hears of every partition it gains or loses."""

    @abc.abstractmethod
    def replay(
        self,
        topic: str,
        partitions: Collection[int] | None = None,
        start: Mapping[int, int] | None = None,
    ) -> Iterator[Record]:
        """Every record of `topic` (or of these of its partitions) from the beginning up to
        the end at the time of the call, ordered per partition. Stateful services rebuild
        the state of the partitions they are given from it; it joins no group and commits
        nothing. On a compacted topic, records superseded by a later one of the same key
        may or may not be returned (as on Kafka, where compaction runs in the background),
        so offsets may have gaps. Tombstones are returned (as `Record.tombstone`) until
        the tombstone retention has passed, then neither they nor any earlier record of
        their key are: a rebuild must treat a tombstone as "forget this key". `start`
        gives, per partition, the first offset to return instead of the beginning: a
        service that keeps a snapshot of its state replays only what came after it.
        Raises ValueError for a partition the topic does not have, or a negative start."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release shared resources; producers and consumers are closed by their owners."""
