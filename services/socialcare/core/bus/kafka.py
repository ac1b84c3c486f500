"""The Apache Kafka backend of the bus, on kafka-python (3.x, talking to Kafka 4.x).

Why these settings:

* Producer: `acks="all"` + idempotence, so a record is durable once `flush()` returned and
  broker-side retries never duplicate or reorder records within a partition. `linger_ms=5`
  and 256 KiB batches trade 5 ms of latency for much larger produce requests (kafka-python
  is pure Python: fewer, larger requests is where its throughput comes from). No
  compression: lz4/zstd need extra packages, and the records are small.
* Partitioning is kafka-python's DefaultPartitioner (murmur2, as the Java client), which
  is `partitioner.partition_for`: a key lands in the same partition number on Kafka and on
  the embedded log. Topics are created up front with the bus's partition count; broker
  auto-creation is off because it would create topics with the broker's default count.
* Sends are asynchronous. Each returns a `Delivery` on the record's own future, which a
  request handler waits for before it acknowledges; errbacks also count failures for
  `flush()`, which a consumer loop calls before it commits.
* Consumer: manual commits (the *next* offset), `auto_offset_reset="earliest"` so a new
  group starts at the beginning, a 6 s session with 1 s heartbeats so the partitions of a
  member that died move on within seconds, and `close()` sends LeaveGroup so a clean
  shutdown hands its partitions over at once (it never commits: the loop commits).
* Assignment: range assignment (co-partitioning, the same rule as the embedded log:
  `assignment.range_assignment`) run as a KIP-429 *cooperative* protocol. Kafka's own
  RangeAssignor is eager: every rebalance revokes every partition of every member, so each
  member would forget and rebuild all its state whenever anyone joins. Cooperatively, only
  partitions that move are revoked; a moving partition is first withheld from its new
  owner, the old owner revokes it and rejoins, and the second round hands it over. So the
  old owner's `on_revoked` has run before the new owner can read it.
* kafka-python calls rebalance callbacks on its IO thread. `_Rebalances` only records them
  (and stops commits for revoked partitions at once); the consumer replays them to the
  bus's `PartitionListener` on the polling thread, inside `poll()`, before it returns
  records. A callback of ours can therefore neither block heartbeats nor be swallowed by
  kafka-python.
* Commits are fenced twice: locally, a partition not owned now (revoked, or the member was
  dropped) is refused before anything is sent; and the broker refuses a commit from a stale
  generation or an unknown member. Both become `CommitFencedError`.
* Compacted topics get `cleanup.policy=compact`. Kafka compacts only closed segments, and
  only records older than `min.compaction.lag.ms`: segments roll hourly and records stay a
  day, so a consumer down for less than a day still sees every intermediate record, and a
  replay reads at most a day of history beyond the live state. A tombstone (a null value)
  stays `delete.retention.ms` (a day) after its key was compacted, then goes too; the
  bus's `compaction_config` overrides these settings (tests use seconds).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.abstract import AbstractPartitionAssignor, RebalanceProtocol
from kafka.errors import (
    CommitFailedError,
    FencedInstanceIdError,
    IllegalGenerationError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RebalanceInProgressError,
    RetriableError,
    TopicAlreadyExistsError,
    UnknownMemberIdError,
)
from kafka.protocol.consumer.metadata import (
    ConsumerProtocolAssignment,
    ConsumerProtocolSubscription,
)
from kafka.structs import MemberState, OffsetAndMetadata

from socialcare.core.bus.assignment import range_assignment
from socialcare.core.bus.base import (
    MAX_RECORD_BYTES,
    Bus,
    BusError,
    CommitFencedError,
    Consumer,
    Delivery,
    Headers,
    PartitionListener,
    Producer,
    Record,
    RecordTooLargeError,
    TopicPartition,
    UnknownTopicError,
    check_record,
    select_partitions,
    start_offsets,
)

log = logging.getLogger(__name__)

_BOOTSTRAP_TIMEOUT_MS = 10_000
_REQUEST_TIMEOUT_MS = 30_000
_TOPIC_READY_TIMEOUT_MS = 30_000
_SESSION_TIMEOUT_MS = 6_000
_HEARTBEAT_INTERVAL_MS = 1_000
# Also the rebalance timeout: how long a rebalance waits for a member that is busy between
# two polls. Handlers that take longer than this lose their partitions.
_MAX_POLL_INTERVAL_MS = 120_000
_CLOSE_TIMEOUT_MS = 5_000
_REPLAY_STALL_S = 60.0
_COMPACTED_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": str(60 * 60 * 1000),
    "min.compaction.lag.ms": str(24 * 60 * 60 * 1000),
    "delete.retention.ms": str(24 * 60 * 60 * 1000),
}
# A commit the group refused because this member is not (or no longer) its owner.
_FENCED_COMMIT_ERRORS = (
    CommitFailedError,
    RebalanceInProgressError,
    IllegalGenerationError,
    UnknownMemberIdError,
    FencedInstanceIdError,
)


def _unreachable(exc: BaseException) -> bool:
    text = str(exc)
    return "Unable to bootstrap" in text or type(exc).__name__ in (
        "KafkaConnectionError",
        "NodeNotReadyError",
        "NoBrokersAvailable",
    )


def _record_size(value: bytes | None, key: bytes | None, headers: Headers) -> int:
    """A record's payload in bytes (key, value, header names and values): what a refusal
    names when the client's own message gives no size (a broker's refusal)."""
    size = len(value or b"") + len(key or b"")
    return size + sum(len(name.encode()) + len(data) for name, data in headers)


def _too_large(topic: str, size: int, exc: BaseException) -> RecordTooLargeError:
    """kafka-python's MessageSizeTooLargeError as the bus's refusal: the size the client
    computed when its message says (at send), else the record's payload (a broker refusal
    on the ack)."""
    match = re.search(r"message is (\d+) bytes", str(exc))
    return RecordTooLargeError(
        topic,
        int(match.group(1)) if match else size,
        MAX_RECORD_BYTES,
        f"Kafka: {type(exc).__name__}",
    )


def _bus_error(bootstrap: str, action: str, exc: BaseException) -> BusError:
    """A BusError that says what failed and what to check."""
    if _unreachable(exc):
        return BusError(
            f"Kafka at {bootstrap} is unreachable ({action}): is the broker running? "
            "(make infra-up)"
        )
    if isinstance(exc, KafkaTimeoutError):
        return BusError(
            f"Kafka at {bootstrap} timed out ({action}): {exc}; is the broker overloaded or "
            "restarting?"
        )
    return BusError(f"Kafka {action} failed: {type(exc).__name__}: {exc}")


def _validate_topic_name(topic: str) -> None:
    if not topic or len(topic) > 249 or not all(c.isalnum() or c in "._-" for c in topic):
        raise BusError(f"invalid topic name {topic!r}: use letters, digits, '.', '_' or '-'")


def _to_record(message: Any) -> Record:
    """A kafka-python ConsumerRecord as a bus Record."""
    headers: Headers = tuple(
        (str(name), bytes(value) if value is not None else b"")
        for name, value in (message.headers or ())
    )
    value = message.value
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=bytes(message.key) if message.key is not None else None,
        value=bytes(value) if value is not None else b"",
        headers=headers,
        timestamp_ms=int(message.timestamp),
        tombstone=value is None,
    )


class KafkaBus(Bus):
    """Producers and consumers on an Apache Kafka cluster at `bootstrap_servers`.

    `session_timeout_ms`: how long a member may miss heartbeats before the group drops it;
    `max_poll_interval_ms`: how long it may go without polling before it leaves the group
    (processing a batch and rebuilding partitions must fit in it). `compaction_config`:
    topic settings for compacted topics, over the defaults above (e.g. short
    `delete.retention.ms` and `segment.ms` where a test must see compaction happen).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        default_partitions: int = 4,
        replication_factor: int = 1,
        client_id_prefix: str = "socialcare",
        session_timeout_ms: int = _SESSION_TIMEOUT_MS,
        max_poll_interval_ms: int = _MAX_POLL_INTERVAL_MS,
        compaction_config: Mapping[str, str] | None = None,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        if default_partitions < 1:
            raise ValueError("default_partitions must be at least 1")
        self.bootstrap_servers = bootstrap_servers
        self.session_timeout_ms = session_timeout_ms
        self.max_poll_interval_ms = max_poll_interval_ms
        self.default_partitions = default_partitions
        self.replication_factor = replication_factor
        self.client_id_prefix = client_id_prefix
        self.compaction_config = {**_COMPACTED_TOPIC_CONFIG, **(compaction_config or {})}
        # kafka-python's TLS/SASL options (security_protocol, sasl_mechanism, ...), for
        # every client: admin, producers, consumers and replays.
        self.security = dict(security or {})
        self._lock = threading.Lock()
        self._admin: Any = None
        self._known_topics: set[str] = set()

    # -- shared plumbing ----------------------------------------------------------------
    def client_id(self, name: str) -> str:
        prefix = self.client_id_prefix
        return name if not prefix or name.startswith(prefix) else f"{prefix}-{name}"

    def error(self, action: str, exc: BaseException) -> BusError:
        return _bus_error(self.bootstrap_servers, action, exc)

    def common_config(self, client_id: str) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "client_id": self.client_id(client_id),
            "bootstrap_timeout_ms": _BOOTSTRAP_TIMEOUT_MS,
            "request_timeout_ms": _REQUEST_TIMEOUT_MS,
            **self.security,
        }

    def _admin_client(self) -> Any:
        """The shared admin client (callers hold self._lock)."""
        if self._admin is None:
            try:
                self._admin = KafkaAdminClient(**self.common_config("admin"))
            except KafkaError as exc:
                raise self.error("connecting the admin client", exc) from exc
        return self._admin

    # -- Bus ------------------------------------------------------------------------------
    def create_topics(
        self, topics: Sequence[str], partitions: int = 0, *, compacted: bool = False
    ) -> None:
        count = partitions or self.default_partitions
        if count < 1:
            raise ValueError(f"a topic needs at least one partition, not {count}")
        for topic in topics:
            _validate_topic_name(topic)
        with self._lock:
            missing = [t for t in dict.fromkeys(topics) if t not in self._known_topics]
            if not missing:
                return
            admin = self._admin_client()
            try:
                result = admin.create_topics(
                    {
                        topic: {
                            "num_partitions": count,
                            "replication_factor": self.replication_factor,
                            "configs": dict(self.compaction_config) if compacted else {},
                        }
                        for topic in missing
                    },
                    timeout_ms=_TOPIC_READY_TIMEOUT_MS,
                    raise_errors=False,
                )
                for entry in result.get("topics", ()):
                    code = int(entry.get("error_code", 0))
                    if code not in (0, TopicAlreadyExistsError.errno):
                        raise UnknownTopicError(
                            f"Kafka could not create topic {entry.get('name')!r}: error "
                            f"{code} {entry.get('error_message') or ''}".rstrip()
                        )
                # CreateTopics only means "accepted"; wait until every partition has a leader.
                admin.wait_for_topics(missing, timeout_ms=_TOPIC_READY_TIMEOUT_MS)
            except KafkaError as exc:
                raise self.error(f"creating topics {missing}", exc) from exc
            self._known_topics.update(missing)

    def ensure_topic(self, topic: str) -> None:
        """Create `topic` with the default partition count unless already seen (cheap)."""
        if topic not in self._known_topics:
            self.create_topics([topic])

    def partition_count(self, topic: str) -> int:
        _validate_topic_name(topic)
        self.ensure_topic(topic)
        return len(self.partitions_of(topic))

    def partitions_of(self, topic: str) -> list[int]:
        with self._lock:
            admin = self._admin_client()
            try:
                described = admin.describe_topics([topic])
            except KafkaError as exc:
                raise self.error(f"describing topic {topic!r}", exc) from exc
        for entry in described:
            if entry.get("name") == topic and not entry.get("error_code"):
                return sorted(int(p["partition_index"]) for p in entry.get("partitions") or ())
        raise UnknownTopicError(f"topic {topic!r} does not exist on Kafka")

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        _validate_topic_name(topic)
        self.ensure_topic(topic)
        chosen = select_partitions(topic, len(self.partitions_of(topic)), partitions)
        return self._end_offsets(topic, chosen) if chosen else {}

    def _end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        specs = {KafkaTopicPartition(topic, p): OffsetSpec.LATEST for p in partitions}
        with self._lock:
            admin = self._admin_client()
            try:
                found = admin.list_partition_offsets(specs, timeout_ms=_REQUEST_TIMEOUT_MS)
            except KafkaError as exc:
                raise self.error(f"listing end offsets of {topic!r}", exc) from exc
        return {tp.partition: int(spec.offset) for tp, spec in found.items()}

    def offsets_for_time(
        self, topic: str, partitions: Sequence[int], timestamp_ms: int
    ) -> dict[int, int]:
        _validate_topic_name(topic)
        self.ensure_topic(topic)
        chosen = select_partitions(topic, len(self.partitions_of(topic)), partitions)
        if not chosen:
            return {}
        # A non-negative spec is a timestamp: the first offset at or after it, or -1 when
        # no record is that recent (then the end offset, as on the embedded log).
        specs = {KafkaTopicPartition(topic, p): max(0, int(timestamp_ms)) for p in chosen}
        with self._lock:
            admin = self._admin_client()
            try:
                found = admin.list_partition_offsets(specs, timeout_ms=_REQUEST_TIMEOUT_MS)
            except KafkaError as exc:
                raise self.error(f"listing offsets of {topic!r} by time", exc) from exc
        offsets = {tp.partition: int(spec.offset) for tp, spec in found.items()}
        missing = [p for p in chosen if offsets.get(p, -1) < 0]
        if missing:
            offsets.update(self._end_offsets(topic, missing))
        return offsets

    def producer(self, client_id: str = "socialcare") -> Producer:
        return KafkaBusProducer(self, client_id)

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        client_id: str = "socialcare",
        listener: PartitionListener | None = None,
    ) -> Consumer:
        if not group:
            raise ValueError("a consumer needs a group name")
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        # Create first: subscribing to a missing topic would leave the member without
        # partitions until the next metadata refresh.
        self.create_topics(topics)
        return KafkaBusConsumer(self, group, topics, client_id, listener)

    def replay(
        self,
        topic: str,
        partitions: Collection[int] | None = None,
        start: Mapping[int, int] | None = None,
    ) -> Iterator[Record]:
        # The end offsets are taken now, at the call, not at the first next().
        _validate_topic_name(topic)
        self.ensure_topic(topic)
        existing = self.partitions_of(topic)
        chosen = select_partitions(topic, len(existing), partitions)
        starts = start_offsets(start, chosen)
        ends = self._end_offsets(topic, chosen) if chosen else {}
        wanted = {p: ends[p] for p in chosen if ends.get(p, 0) > starts[p]}
        return self._replay(topic, wanted, starts)

    def _replay(
        self, topic: str, ends: dict[int, int], starts: Mapping[int, int]
    ) -> Iterator[Record]:
        if not ends:
            return
        remaining = {KafkaTopicPartition(topic, p): end for p, end in sorted(ends.items())}
        try:
            consumer = KafkaConsumer(
                **self.common_config("replay"),
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                allow_auto_create_topics=False,
            )
        except KafkaError as exc:
            raise self.error(f"replaying {topic!r}", exc) from exc
        try:
            consumer.assign(list(remaining))
            consumer.seek_to_beginning(*remaining)
            for tp in remaining:
                if starts[tp.partition] > 0:
                    # Seeking past the log start of a compacted or trimmed partition is
                    # fine: the broker answers from the first offset at or after it.
                    consumer.seek(tp, starts[tp.partition])
            last_progress = time.monotonic()
            while True:
                for tp in list(remaining):
                    position = consumer.position(tp, timeout_ms=_REQUEST_TIMEOUT_MS)
                    if position is not None and position >= remaining[tp]:
                        consumer.pause(tp)
                        del remaining[tp]
                if not remaining:
                    return
                polled = consumer.poll(timeout_ms=500, max_records=1000)
                if polled:
                    last_progress = time.monotonic()
                elif time.monotonic() - last_progress > _REPLAY_STALL_S:
                    raise BusError(
                        f"replay of {topic!r} made no progress for {_REPLAY_STALL_S:.0f} s "
                        f"(Kafka at {self.bootstrap_servers}); is the broker healthy?"
                    )
                for tp, messages in polled.items():
                    end = remaining.get(tp)
                    if end is None:
                        continue
                    for message in messages:
                        if message.offset >= end:
                            break
                        yield _to_record(message)
        except KafkaError as exc:
            raise self.error(f"replaying {topic!r}", exc) from exc
        finally:
            consumer.close(autocommit=False, timeout_ms=_CLOSE_TIMEOUT_MS)

    def close(self) -> None:
        with self._lock:
            admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()


class KafkaBusProducer(Producer):
    """A KafkaProducer (thread-safe itself) plus delivery bookkeeping.

    Each send returns a `Delivery` on kafka-python's own future for the record (its `get`
    follows the record when a batch is split after MESSAGE_TOO_LARGE), so a request handler
    waits for its record only, while batching puts many handlers' records in one produce
    request. While anyone waits, batches are sent without lingering (`_send_now`). For `flush()`
    every send also gets an id that stays pending until its future completed. A failure is
    reported once: by the record's `Delivery.wait` when its sender waits for it, otherwise by
    the next `flush()` (so a consumer loop's flush does not fail on a request handler's record
    that its handler already answered 503 for). Which of the errback (IO thread) and the waiter
    sees a failure first varies; whichever comes second finishes the bookkeeping.

    kafka-python 3.0.x moves an idempotent producer into a fatal state on any non-retriable
    produce error (e.g. MESSAGE_TOO_LARGE from the broker): every later record then fails at
    once. Such a failure marks the producer poisoned, and the next `send()` or `flush()`
    replaces it. Only failures of the current producer poison: the records still queued in a
    replaced one fail too, and must not replace its successor again.
    """

    def __init__(self, bus: KafkaBus, client_id: str) -> None:
        self._bus = bus
        self._cond = threading.Condition()
        self._next_id = 0
        self._pending: set[int] = set()
        self._failures: dict[int, str] = {}  # record id -> failure nobody reported yet
        self._reported: set[int] = set()  # failures a waiter raised before the errback ran
        self._generation = 0  # which KafkaProducer is current (raised on every replacement)
        self._poisoned = False
        self._closed = False
        self._client_id = client_id
        self._producer = self._new_producer()

    def _new_producer(self) -> Any:
        try:
            return KafkaProducer(
                **self._bus.common_config(self._client_id),
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                batch_size=256 * 1024,
                max_request_size=MAX_RECORD_BYTES,
                max_block_ms=30_000,
                delivery_timeout_ms=120_000,
                allow_auto_create_topics=False,
            )
        except KafkaError as exc:
            raise self._bus.error("starting a producer", exc) from exc

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        return self._send(topic, value, key=key, headers=headers)

    def _send(
        self, topic: str, value: bytes | None, *, key: bytes | None, headers: Headers
    ) -> Delivery:
        # `value=None` only from `tombstone()`: Kafka's null value.
        check_record(b"" if value is None else value, key, headers)
        self._bus.ensure_topic(topic)
        self._replace_if_poisoned()
        with self._cond:
            if self._closed:
                raise BusError("producer is closed")
            record_id = self._next_id
            self._next_id += 1
            self._pending.add(record_id)
            producer, generation = self._producer, self._generation
        try:
            future = producer.send(
                topic,
                value=None if value is None else bytes(value),
                key=bytes(key) if key is not None else None,
                headers=[(name, bytes(data)) for name, data in headers],
            )
        except MessageSizeTooLargeError as exc:
            # The client's own check, before anything was queued: nothing is poisoned.
            self._on_done(record_id)
            raise _too_large(topic, _record_size(value, key, headers), exc) from exc
        except (KafkaError, ValueError, TypeError) as exc:
            self._on_done(record_id)
            raise self._bus.error(f"sending to {topic!r}", exc) from exc
        future.add_callback(self._on_success, record_id)
        future.add_errback(self._on_failure, record_id, topic, generation)
        size = _record_size(value, key, headers)
        return _KafkaDelivery(self, record_id, topic, generation, future, producer, size)

    def tombstone(self, topic: str, *, key: bytes, headers: Headers = ()) -> Delivery:
        if key is None:
            raise BusError("a tombstone needs a key")
        return self._send(topic, None, key=key, headers=headers)

    def _on_success(self, record_id: int, _metadata: Any) -> None:
        self._on_done(record_id)

    def _on_failure(self, record_id: int, topic: str, generation: int, exc: BaseException) -> None:
        with self._cond:
            self._note_poison(generation, exc)
            if record_id in self._reported:
                self._reported.discard(record_id)
            else:
                self._failures[record_id] = f"{topic}: {type(exc).__name__}: {exc}"
        self._on_done(record_id)

    def reported_by_waiter(self, record_id: int, generation: int, exc: BaseException) -> None:
        """A `Delivery.wait` raised this record's failure: flush() need not report it."""
        with self._cond:
            self._note_poison(generation, exc)
            if self._failures.pop(record_id, None) is None:
                self._reported.add(record_id)

    def _note_poison(self, generation: int, exc: BaseException) -> None:
        """(Holding `_cond`.) A non-retriable failure of the current producer poisons it."""
        if not isinstance(exc, RetriableError) and generation == self._generation:
            self._poisoned = True

    def _on_done(self, record_id: int) -> None:
        with self._cond:
            self._pending.discard(record_id)
            self._cond.notify_all()

    def flush(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            target = self._next_id  # every id below this was sent before the flush
            producer = self._producer
        try:
            producer.flush(timeout=timeout_s)
        except KafkaTimeoutError as exc:
            raise BusError(
                f"Kafka at {self._bus.bootstrap_servers} did not acknowledge every record "
                f"within {timeout_s} s: is the broker up and healthy? ({exc})"
            ) from exc
        except KafkaError as exc:
            # kafka-python 3.0.x gives up with "Future not done" when a batch was split
            # after MESSAGE_TOO_LARGE (its records move to new batches); the wait below
            # still covers every record.
            log.debug("KafkaProducer.flush failed (%s); waiting on the records", exc)
        with self._cond:
            while self._pending and min(self._pending) < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    waiting = sum(1 for record_id in self._pending if record_id < target)
                    raise BusError(
                        f"Kafka at {self._bus.bootstrap_servers} did not acknowledge "
                        f"{waiting} record(s) within {timeout_s} s: is the broker up and healthy?"
                    )
                self._cond.wait(remaining)
            failures, self._failures = self._failures, {}
        self._replace_if_poisoned()
        if failures:
            raise BusError(
                f"{len(failures)} record(s) were not delivered to Kafka at "
                f"{self._bus.bootstrap_servers}; first: {failures[min(failures)]}"
            )

    def _replace_if_poisoned(self) -> None:
        """Swap in a fresh KafkaProducer if the current one failed fatally (once, however
        many callers notice)."""
        with self._cond:
            if not self._poisoned or self._closed:
                return
            self._poisoned = False
            generation = self._generation
        fresh = self._new_producer()
        with self._cond:
            old, self._producer = self._producer, fresh
            self._generation = generation + 1
        # Records still queued in the old producer fail; their deliveries and the next
        # flush() report them.
        old.close(timeout=5)

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
        try:
            self.flush()
        finally:
            self._producer.close(timeout=5)


def _send_now(client: Any) -> Callable[[], None] | None:
    """Make `client`'s buffered batches ready to send at once, as `KafkaProducer.flush()`
    does (without waiting for them all); returns the call that ends it, or None when this
    kafka-python has no such hook (then linger_ms applies).

    Why: a waiter would otherwise sit out `linger_ms` whenever its batch is not full,
    which at a handful of concurrent requests costs more than the batching gains; while
    someone waits, batches go out as soon as the connection takes them, and records that
    arrive meanwhile still share the next request.
    """
    accumulator: Any = getattr(client, "_accumulator", None)
    sender: Any = getattr(client, "_sender", None)
    counter: Any = getattr(accumulator, "_flushes_in_progress", None)
    if not (
        hasattr(accumulator, "begin_flush")
        and hasattr(counter, "decrement")
        and hasattr(sender, "wakeup")
    ):
        return None
    accumulator.begin_flush()
    sender.wakeup()
    done: Callable[[], None] = counter.decrement
    return done


class _KafkaDelivery(Delivery):
    """One record's kafka-python future, and the producer's bookkeeping for it."""

    __slots__ = (
        "_client",
        "_future",
        "_generation",
        "_producer",
        "_record_id",
        "_reported",
        "_size",
        "_topic",
    )

    def __init__(
        self,
        producer: KafkaBusProducer,
        record_id: int,
        topic: str,
        generation: int,
        future: Any,
        client: Any,
        size: int,
    ) -> None:
        self._client = client  # the KafkaProducer it was sent with
        self._size = size
        self._producer = producer
        self._record_id = record_id
        self._topic = topic
        self._generation = generation
        self._future = future
        self._reported = False

    def wait(self, timeout_s: float = 30.0) -> None:
        bootstrap = self._producer._bus.bootstrap_servers
        done_sending = None if self._future.is_done else _send_now(self._client)
        try:
            self._future.get(timeout=timeout_s)
        except Exception as exc:  # the future fails with whatever the client raised
            if not self._future.is_done:  # our own timeout, not the record's fate
                raise BusError(
                    f"Kafka at {bootstrap} did not acknowledge a record of {self._topic!r} "
                    f"within {timeout_s} s: is the broker up and healthy?"
                ) from exc
            if not self._reported:
                self._reported = True
                self._producer.reported_by_waiter(self._record_id, self._generation, exc)
            if isinstance(exc, MessageSizeTooLargeError):  # the broker refused it for its size
                raise _too_large(self._topic, self._size, exc) from exc
            raise _bus_error(bootstrap, f"delivering to {self._topic!r}", exc) from exc
        finally:
            if done_sending is not None:
                done_sending()


class _Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]
    """What kafka-python reports about this member's partitions, from its IO thread.

    It keeps `owned` (what the coordinator says we own right now, which commits are checked
    against and the assignor advertises) and a queue of changes the consumer replays to the
    bus listener on the polling thread. Nothing here can raise or block.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owned: set[TopicPartition] = set()
        self._changes: list[tuple[bool, frozenset[TopicPartition]]] = []

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._record(False, revoked)

    def on_partitions_lost(self, lost: Any) -> None:
        # Dropped from the group (session expired, max poll interval exceeded): the same
        # for us as a revocation, except that nothing could have been committed anyway.
        self._record(False, lost)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._record(True, assigned)

    def _record(self, assigned: bool, partitions: Any) -> None:
        changed = frozenset(TopicPartition(tp.topic, tp.partition) for tp in partitions or ())
        if not changed:
            return
        log.debug(
            "partitions %s by the group coordinator",
            "assigned" if assigned else "revoked",
            extra={"partitions": [f"{tp.topic}[{tp.partition}]" for tp in sorted(changed)]},
        )
        with self._lock:
            if assigned:
                self._owned |= changed
            else:
                self._owned -= changed
            self._changes.append((assigned, changed))

    def owned(self) -> frozenset[TopicPartition]:
        with self._lock:
            return frozenset(self._owned)

    def take(self) -> list[tuple[bool, frozenset[TopicPartition]]]:
        """The changes since the last call, oldest first: (assigned?, partitions)."""
        with self._lock:
            changes, self._changes = self._changes, []
        return changes

    def put_back(self, changes: list[tuple[bool, frozenset[TopicPartition]]]) -> None:
        """Changes taken but not delivered: first in line again."""
        with self._lock:
            self._changes[:0] = changes


class _CooperativeRangeAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    """Range assignment (`assignment.range_assignment`) under the cooperative protocol.

    The group leader computes the range assignment, then withholds every partition whose
    current owner (as the members advertise in their subscriptions) is another member, or
    that two members both claim: the owner sees it missing, revokes it and rejoins, and the
    next round gives it to its new owner. One instance per consumer: it advertises what
    that consumer owns.
    """

    name = "socialcare-cooperative-range"
    version = 1  # ConsumerProtocolSubscription v1 carries the owned partitions

    def __init__(self, owned: Callable[[], frozenset[TopicPartition]]) -> None:
        self._owned = owned

    def supported_protocols(self) -> list[Any]:
        return [RebalanceProtocol.COOPERATIVE]

    def metadata(self, topics: Any) -> Any:
        by_topic: dict[str, list[int]] = {}
        for tp in self._owned():
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        return ConsumerProtocolSubscription(
            version=self.version,
            topics=sorted(topics),
            user_data=b"",
            owned_partitions=[
                ConsumerProtocolSubscription.TopicPartition(topic=topic, partitions=sorted(ps))
                for topic, ps in sorted(by_topic.items())
            ],
        )

    def on_assignment(self, assignment: Any, generation: Any) -> None:
        """Nothing to keep: what we own comes from the rebalance listener."""

    def assign(self, cluster: Any, members: Any) -> dict[str, Any]:
        subscriptions = {m.member_id: tuple(m.metadata.topics) for m in members}
        counts: dict[str, int] = {}
        for topic in {t for topics in subscriptions.values() for t in topics}:
            partitions = cluster.partitions_for_topic(topic)
            if partitions:
                counts[topic] = len(partitions)
            else:
                log.warning("no partition metadata for topic %s; not assigned", topic)
        claims: dict[TopicPartition, set[str]] = {}
        for member in members:
            for entry in getattr(member.metadata, "owned_partitions", None) or ():
                for partition in entry.partitions:
                    claims.setdefault(TopicPartition(entry.topic, partition), set()).add(
                        member.member_id
                    )
        result: dict[str, Any] = {}
        for member_id, target in range_assignment(subscriptions, counts).items():
            now: dict[str, list[int]] = {}
            for tp in sorted(target):
                holders = claims.get(tp, set())
                if holders <= {member_id}:
                    now.setdefault(tp.topic, []).append(tp.partition)
            result[member_id] = ConsumerProtocolAssignment(
                version=0,
                assigned_partitions=[
                    ConsumerProtocolAssignment.TopicPartition(topic=topic, partitions=ps)
                    for topic, ps in sorted(now.items())
                ],
                user_data=b"",
            )
        return result


def _finish_joins_completed_in_background(coordinator: Any) -> None:
    """Work around kafka-python 3.0.x losing a join that completed between two polls.

    Its `join_group_async` sends JoinGroup/SyncGroup as a background task and waits for it
    only as long as the current `poll()` lasts. When the task finishes while nobody waits
    (the member is busy between polls, or polls briefly), the next poll finds it done and
    sends a new JoinGroup instead of using its assignment; when the group leader does that,
    the broker starts yet another rebalance, and the group can rebalance forever. This
    wrapper completes such a join the way kafka-python completes one it waited for. It only
    touches the coordinator's join state, and does nothing on a version without it.
    """
    original = getattr(coordinator, "join_group_async", None)
    needed = ("_join_task", "_lock", "_enable_heartbeat", "_on_join_complete_async")
    if original is None or not all(hasattr(coordinator, name) for name in needed):
        log.warning("kafka-python changed: joins completed between polls are not recovered")
        return

    async def join_group_async(timeout_ms: Any = None) -> Any:
        task = coordinator._join_task
        if (
            task is not None
            and task.is_done
            and task.succeeded()
            and coordinator.state is MemberState.REBALANCING
        ):
            coordinator._join_task = None
            with coordinator._lock:
                coordinator.rejoining = False
                coordinator.rejoin_needed = False
                coordinator.state = MemberState.STABLE
                coordinator._enable_heartbeat()
            generation = coordinator._generation
            await coordinator._on_join_complete_async(
                generation.generation_id, generation.member_id, generation.protocol, task.value
            )
            return True
        return await original(timeout_ms)

    coordinator.join_group_async = join_group_async


class KafkaBusConsumer(Consumer):
    """One member of a consumer group: a subscribed KafkaConsumer with manual commits, the
    cooperative range assignor and rebalance callbacks replayed on the polling thread."""

    def __init__(
        self,
        bus: KafkaBus,
        group: str,
        topics: Sequence[str],
        client_id: str,
        listener: PartitionListener | None,
    ) -> None:
        self._bus = bus
        self._group = group
        self._listener = listener
        self._closed = False
        self._rebalances = _Rebalances()
        self._told: set[TopicPartition] = set()  # what the listener knows we own
        try:
            self._consumer = KafkaConsumer(
                **bus.common_config(client_id),
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=bus.session_timeout_ms,
                heartbeat_interval_ms=_HEARTBEAT_INTERVAL_MS,
                max_poll_interval_ms=bus.max_poll_interval_ms,
                allow_auto_create_topics=False,
                partition_assignment_strategy=[_CooperativeRangeAssignor(self._rebalances.owned)],
            )
        except KafkaError as exc:
            raise bus.error(f"joining group {group!r}", exc) from exc
        _finish_joins_completed_in_background(self._consumer._coordinator)
        try:
            self._consumer.subscribe(topics=list(dict.fromkeys(topics)), listener=self._rebalances)
            # Load the topics' metadata before the first join: a group leader without it
            # assigns nothing for the topic, and the group rebalances again once it arrives.
            for topic in topics:
                self._consumer.partitions_for_topic(topic)
        except KafkaError as exc:
            self._consumer.close(autocommit=False, timeout_ms=_CLOSE_TIMEOUT_MS)
            raise bus.error(f"subscribing group {group!r} to {list(topics)}", exc) from exc

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        if self._closed:
            raise BusError("consumer is closed")
        try:
            polled = self._consumer.poll(
                timeout_ms=max(0, int(timeout_s * 1000)), max_records=max_records
            )
        except KafkaError as exc:
            self._tell_listener()
            raise self._bus.error(f"polling for group {self._group!r}", exc) from exc
        try:
            self._tell_listener()
        except BaseException:
            # The records fetched are not handed out: read them again next time.
            self._consumer_seek(
                {tp: messages[0].offset for tp, messages in polled.items() if messages}
            )
            raise
        # Records fetched just before a revocation are not ours to hand out any more.
        return [
            _to_record(message)
            for tp, messages in polled.items()
            if TopicPartition(tp.topic, tp.partition) in self._told
            for message in messages
        ]

    def _tell_listener(self) -> None:
        """Replay what changed during the poll, in order, to the bus listener. If a hook
        raises, the changes after it wait for the next poll."""
        changes = self._rebalances.take()
        for index, (assigned, partitions) in enumerate(changes):
            if assigned:
                changed = partitions - self._told
                self._told |= changed
            else:
                changed = partitions & self._told
                self._told -= changed
            if not changed or self._listener is None:
                continue
            try:
                if assigned:
                    self._listener.on_assigned(frozenset(changed))
                else:
                    self._listener.on_revoked(frozenset(changed))
            except BaseException:
                self._rebalances.put_back(changes[index + 1 :])
                raise

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._closed:
            raise BusError("consumer is closed")
        if not offsets:
            return
        owned = self._rebalances.owned()
        unowned = sorted(tp for tp in offsets if tp not in owned or tp not in self._told)
        if unowned:
            raise CommitFencedError(
                f"group {self._group!r}: not committed, this member does not own {unowned}"
            )
        kafka_offsets = {
            KafkaTopicPartition(tp.topic, tp.partition): OffsetAndMetadata(offset, "", -1)
            for tp, offset in offsets.items()
        }
        try:
            self._consumer.commit(kafka_offsets, timeout_ms=_REQUEST_TIMEOUT_MS)
        except _FENCED_COMMIT_ERRORS as exc:
            raise CommitFencedError(
                f"group {self._group!r}: not committed, the group rebalanced or dropped this "
                f"member ({type(exc).__name__}: {exc}); poll to rejoin"
            ) from exc
        except KafkaError as exc:
            raise self._bus.error(f"committing offsets of group {self._group!r}", exc) from exc

    def seek(self, offsets: Mapping[TopicPartition, int]) -> None:
        owned = self.assignment() & self._rebalances.owned()
        self._consumer_seek(
            {
                KafkaTopicPartition(tp.topic, tp.partition): offset
                for tp, offset in offsets.items()
                if tp in owned
            }
        )

    def _consumer_seek(self, offsets: Mapping[Any, int]) -> None:
        """Seek kafka-python's partitions (those it still has) to these offsets."""
        assigned = self._consumer.assignment() or set()
        try:
            for tp, offset in offsets.items():
                if tp in assigned:
                    self._consumer.seek(tp, offset)
        except KafkaError as exc:
            raise self._bus.error(f"seeking in group {self._group!r}", exc) from exc

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(self._told)

    def lag(self) -> dict[TopicPartition, int]:
        current = {
            KafkaTopicPartition(tp.topic, tp.partition)
            for tp in self._told & self._rebalances.owned()
        }
        owned = [tp for tp in self._consumer.assignment() or () if tp in current]
        if not owned:
            return {}
        try:
            ends = self._consumer.end_offsets(owned, timeout_ms=_REQUEST_TIMEOUT_MS)
            lags: dict[TopicPartition, int] = {}
            for tp in owned:
                position = self._consumer.position(tp, timeout_ms=_REQUEST_TIMEOUT_MS)
                end = ends.get(tp)
                if position is not None and end is not None:
                    lags[TopicPartition(tp.topic, tp.partition)] = max(0, int(end) - position)
            return lags
        except KafkaError as exc:
            raise self._bus.error(f"reading the lag of group {self._group!r}", exc) from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._consumer.close(autocommit=False, timeout_ms=_CLOSE_TIMEOUT_MS)
        except KafkaError as exc:
            log.warning("closing the Kafka consumer of group %r failed: %s", self._group, exc)
