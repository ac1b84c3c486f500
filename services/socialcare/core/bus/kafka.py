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
* Sends are asynchronous; errbacks collect failures and `flush()` raises them, which is
  what callers rely on before they acknowledge anything.
* Consumer: manual commits (the *next* offset), `auto_offset_reset="earliest"` so a new
  group starts at the beginning, a 6 s session with 1 s heartbeats so the partitions of a
  member that died move on within seconds, and `close()` sends LeaveGroup so a clean
  shutdown hands its partitions over at once (it never commits: the loop commits).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec
from kafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    RetriableError,
    TopicAlreadyExistsError,
)
from kafka.structs import OffsetAndMetadata

from socialcare.core.bus.base import (
    Bus,
    BusError,
    Consumer,
    Headers,
    Producer,
    Record,
    TopicPartition,
    UnknownTopicError,
    check_record,
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


def _unreachable(exc: BaseException) -> bool:
    text = str(exc)
    return "Unable to bootstrap" in text or type(exc).__name__ in (
        "KafkaConnectionError",
        "NodeNotReadyError",
        "NoBrokersAvailable",
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
    )


class KafkaBus(Bus):
    """Producers and consumers on an Apache Kafka cluster at `bootstrap_servers`."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        default_partitions: int = 4,
        replication_factor: int = 1,
        client_id_prefix: str = "socialcare",
    ) -> None:
        if default_partitions < 1:
            raise ValueError("default_partitions must be at least 1")
        self.bootstrap_servers = bootstrap_servers
        self.default_partitions = default_partitions
        self.replication_factor = replication_factor
        self.client_id_prefix = client_id_prefix
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
    def create_topics(self, topics: Sequence[str], partitions: int = 0) -> None:
        count = partitions or self.default_partitions
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
        specs = {KafkaTopicPartition(topic, p): OffsetSpec.LATEST for p in partitions}
        with self._lock:
            admin = self._admin_client()
            try:
                found = admin.list_partition_offsets(specs, timeout_ms=_REQUEST_TIMEOUT_MS)
            except KafkaError as exc:
                raise self.error(f"listing end offsets of {topic!r}", exc) from exc
        return {tp.partition: int(spec.offset) for tp, spec in found.items()}

    def producer(self, client_id: str = "socialcare") -> Producer:
        return KafkaBusProducer(self, client_id)

    def consumer(
        self, group: str, topics: Sequence[str], client_id: str = "socialcare"
    ) -> Consumer:
        if not group:
            raise ValueError("a consumer needs a group name")
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        # Create first: subscribing to a missing topic would leave the member without
        # partitions until the next metadata refresh.
        self.create_topics(topics)
        return KafkaBusConsumer(self, group, topics, client_id)

    def replay(self, topic: str) -> Iterator[Record]:
        # The end offsets are taken now, at the call, not at the first next().
        self.create_topics([topic])
        ends = self.end_offsets(topic, self.partitions_of(topic))
        return self._replay(topic, {p: end for p, end in ends.items() if end > 0})

    def _replay(self, topic: str, ends: dict[int, int]) -> Iterator[Record]:
        if not ends:
            return
        remaining = {KafkaTopicPartition(topic, p): end for p, end in ends.items()}
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
    """A KafkaProducer (thread-safe itself) plus delivery bookkeeping for `flush()`: every
    send gets an id that stays pending until its future completed, and failures are kept
    until a flush reports them."""

    def __init__(self, bus: KafkaBus, client_id: str) -> None:
        self._bus = bus
        self._cond = threading.Condition()
        self._next_id = 0
        self._pending: set[int] = set()
        self._failures: list[str] = []
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
                max_block_ms=30_000,
                delivery_timeout_ms=120_000,
                allow_auto_create_topics=False,
            )
        except KafkaError as exc:
            raise self._bus.error("starting a producer", exc) from exc

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        check_record(value, key, headers)
        self._bus.ensure_topic(topic)
        with self._cond:
            if self._closed:
                raise BusError("producer is closed")
            record_id = self._next_id
            self._next_id += 1
            self._pending.add(record_id)
        try:
            future = self._producer.send(
                topic,
                value=bytes(value),
                key=bytes(key) if key is not None else None,
                headers=[(name, bytes(data)) for name, data in headers],
            )
        except (KafkaError, ValueError, TypeError) as exc:
            self._on_done(record_id)
            raise self._bus.error(f"sending to {topic!r}", exc) from exc
        future.add_callback(self._on_success, record_id)
        future.add_errback(self._on_failure, record_id, topic)

    def _on_success(self, record_id: int, _metadata: Any) -> None:
        self._on_done(record_id)

    def _on_failure(self, record_id: int, topic: str, exc: BaseException) -> None:
        with self._cond:
            self._failures.append(f"{topic}: {type(exc).__name__}: {exc}")
            # kafka-python 3.0.x moves an idempotent producer into a fatal state on any
            # non-retriable produce error (e.g. MESSAGE_TOO_LARGE from the broker): every
            # later record then fails at once. The next flush() replaces the producer.
            if not isinstance(exc, RetriableError):
                self._poisoned = True
        self._on_done(record_id)

    def _on_done(self, record_id: int) -> None:
        with self._cond:
            self._pending.discard(record_id)
            self._cond.notify_all()

    def flush(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            target = self._next_id  # every id below this was sent before the flush
        try:
            self._producer.flush(timeout=timeout_s)
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
            failures, self._failures = self._failures, []
            poisoned, self._poisoned = self._poisoned, False
        if poisoned:
            self._replace_producer()
        if failures:
            raise BusError(
                f"{len(failures)} record(s) were not delivered to Kafka at "
                f"{self._bus.bootstrap_servers}; first: {failures[0]}"
            )

    def _replace_producer(self) -> None:
        fresh = self._new_producer()
        with self._cond:
            old, self._producer = self._producer, fresh
        # Records still queued in the old producer fail; the next flush() reports them.
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


class KafkaBusConsumer(Consumer):
    """One member of a consumer group: a subscribed KafkaConsumer with manual commits."""

    def __init__(self, bus: KafkaBus, group: str, topics: Sequence[str], client_id: str) -> None:
        self._bus = bus
        self._group = group
        self._closed = False
        try:
            self._consumer = KafkaConsumer(
                **bus.common_config(client_id),
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=_SESSION_TIMEOUT_MS,
                heartbeat_interval_ms=_HEARTBEAT_INTERVAL_MS,
                max_poll_interval_ms=_MAX_POLL_INTERVAL_MS,
                allow_auto_create_topics=False,
            )
        except KafkaError as exc:
            raise bus.error(f"joining group {group!r}", exc) from exc
        try:
            self._consumer.subscribe(topics=list(dict.fromkeys(topics)))
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
            raise self._bus.error(f"polling for group {self._group!r}", exc) from exc
        return [_to_record(message) for messages in polled.values() for message in messages]

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        kafka_offsets = {
            KafkaTopicPartition(tp.topic, tp.partition): OffsetAndMetadata(offset, "", -1)
            for tp, offset in offsets.items()
        }
        try:
            self._consumer.commit(kafka_offsets, timeout_ms=_REQUEST_TIMEOUT_MS)
        except KafkaError as exc:
            raise self._bus.error(f"committing offsets of group {self._group!r}", exc) from exc

    def seek(self, offsets: Mapping[TopicPartition, int]) -> None:
        owned = self.assignment()
        try:
            for tp, offset in offsets.items():
                if tp in owned:
                    self._consumer.seek(KafkaTopicPartition(tp.topic, tp.partition), offset)
        except KafkaError as exc:
            raise self._bus.error(f"seeking in group {self._group!r}", exc) from exc

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(
            TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment() or ()
        )

    def lag(self) -> dict[TopicPartition, int]:
        owned = list(self._consumer.assignment() or ())
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
