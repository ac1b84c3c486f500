"""The embedded event log: Kafka's semantics in one SQLite file, for `make run` and tests.

Why SQLite: it is in the standard library, durable (WAL + fsync on commit), and safe for
several processes on one machine, which is what "every service as its own process, no
server to install" needs. One database file holds all topics:

* `records(topic, partition, offset)` is the log. Offsets per partition grow from 0;
  compaction may leave gaps (as on Kafka), so readers ask for "the next record at or after
  an offset", never for an exact one. A tombstone is a row with `tombstone = 1` and an
  empty value (a column added to older files on open, so they need no rebuild).
* `partition_ends` keeps the next offset per partition so appends need no MAX() scan.
* `topics` holds each topic's partition count and whether it is compacted.
* `committed(grp, topic, partition)` holds each group's next offset to read.

Consumer groups need no coordinator process:

* `group_members(grp, member_id)` is the membership: each member's topics and the time of
  its last heartbeat. A background thread per consumer heartbeats every second while its
  owner keeps polling (a consumer that has not polled for `max_poll_interval_s` leaves the
  group, as Kafka's client does); a member whose heartbeat is `session_timeout_s` old is
  dead to the others.
* Each member computes the range assignment (`assignment.range_assignment`) over the live
  members itself, at most once a heartbeat interval, inside `poll()`.
* `partition_owners(grp, topic, partition)` fences: a member takes a partition only when
  it has no owner, or its owner is dead, and each take raises the partition's generation.
  A member gives a partition up only after its `on_revoked` ran, so a partition never has
  two owners. A commit checks, in its write transaction, that the member is alive and
  still holds every partition at the generation it took it with; otherwise nothing is
  committed (`CommitFencedError`).

Compaction: on a compacted topic, `replay()` first deletes the records of the partitions it
reads that a later record of the same key supersedes, so replay costs the live state, not
the history. Only records every group consuming the topic has committed past are deleted:
a slow consumer never misses an intermediate record it has not read yet. A tombstone
supersedes its key's earlier records like any record, and is itself deleted once it is
older than `tombstone_retention_s` (Kafka's `delete.retention.ms`, a day by default) and
every group has read it, so a consumer that is down for less than that still learns of
the deletion.

Every `sqlite3.Error` becomes a `BusError` naming the file and the action, at one boundary
(`EmbeddedBus.storage`). Producers append in groups: one transaction carries every record
buffered while the previous one was written (`EmbeddedProducer`). Consumers poll with
short sleeps when another process writes; inside one process a condition variable wakes
them at once.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sqlite3
import struct
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path

from socialcare.core.bus.assignment import range_assignment
from socialcare.core.bus.base import (
    Bus,
    BusError,
    CommitFencedError,
    Consumer,
    Delivery,
    Headers,
    OutgoingRecord,
    PartitionListener,
    Producer,
    Record,
    TopicPartition,
    check_record,
    select_partitions,
    start_offsets,
)
from socialcare.core.bus.partitioner import partition_for

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS partition_ends (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    key BLOB, value BLOB NOT NULL, headers BLOB NOT NULL, timestamp_ms INTEGER NOT NULL,
    tombstone INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, partition, offset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS committed (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_members (
    grp TEXT NOT NULL, member_id TEXT NOT NULL, topics TEXT NOT NULL, last_seen REAL NOT NULL,
    PRIMARY KEY (grp, member_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partition_owners (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, member_id TEXT,
    generation INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition)) WITHOUT ROWID;
"""

_HEADER = struct.Struct(">HI")
_BUSY_TIMEOUT_S = 30.0
_TOPIC_SEPARATOR = "\n"  # cannot occur in a topic name


def encode_headers(headers: Headers) -> bytes:
    parts: list[bytes] = []
    for name, value in headers:
        raw = name.encode()
        parts.append(_HEADER.pack(len(raw), len(value)))
        parts.append(raw)
        parts.append(value)
    return b"".join(parts)


def decode_headers(blob: bytes) -> Headers:
    out: list[tuple[str, bytes]] = []
    pos = 0
    while pos < len(blob):
        name_len, value_len = _HEADER.unpack_from(blob, pos)
        pos += _HEADER.size
        name = blob[pos : pos + name_len].decode()
        pos += name_len
        out.append((name, bytes(blob[pos : pos + value_len])))
        pos += value_len
    return tuple(out)


class _Shared:
    """What every connection to one database file in this process shares.

    `wakeup` lets in-process consumers wake as soon as records are appended. `writer`
    queues in-process writers in Python: SQLite's own busy handler sleeps in growing steps
    (1, 2, 5, 10 … ms) while another connection holds the write lock, which under load
    costs far more than the write itself. Other processes still meet SQLite's lock.
    """

    _registry_lock = threading.Lock()
    _registry: dict[str, _Shared] = {}

    def __init__(self) -> None:
        self.wakeup = threading.Condition()
        self.writer = threading.Lock()

    @classmethod
    def for_path(cls, path: str) -> _Shared:
        with cls._registry_lock:
            return cls._registry.setdefault(path, cls())


class EmbeddedBus(Bus):
    """A durable, multi-process event log in `<data_dir>/bus.sqlite3`.

    `sync="full"` fsyncs every commit (durable across power loss); `"normal"` is durable
    across process crashes only, and several times faster for tiny transactions.
    `session_timeout_s`: how long a member may miss heartbeats before the others take its
    partitions. `max_poll_interval_s`: how long a member may go without polling before it
    leaves the group (Kafka's `max.poll.interval.ms`; the loop's processing and partition
    rebuilds must fit in it). `heartbeat_interval_s`: how often members heartbeat and look
    for a changed membership. `tombstone_retention_s`: how long compaction keeps a
    tombstone after it superseded its key's records (Kafka's `delete.retention.ms`).
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        default_partitions: int = 4,
        session_timeout_s: float = 10.0,
        max_poll_interval_s: float = 120.0,
        heartbeat_interval_s: float = 1.0,
        sync: str = "full",
        tombstone_retention_s: float = 24 * 60 * 60,
    ) -> None:
        if sync not in ("full", "normal"):
            raise ValueError(f"sync must be 'full' or 'normal', not {sync!r}")
        if default_partitions < 1:
            raise ValueError("default_partitions must be at least 1")
        if not 0 < heartbeat_interval_s < session_timeout_s:
            raise ValueError("heartbeat_interval_s must be positive and below session_timeout_s")
        if tombstone_retention_s < 0:
            raise ValueError("tombstone_retention_s must not be negative")
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = str(directory / "bus.sqlite3")
        self.default_partitions = default_partitions
        self.session_timeout_s = session_timeout_s
        self.max_poll_interval_s = max_poll_interval_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.sync = sync
        self.tombstone_retention_s = tombstone_retention_s
        self._shared = _Shared.for_path(self.path)
        with self.storage("creating the schema"), contextlib.closing(self.connect()) as conn:
            conn.executescript(_SCHEMA)
            with self.write_transaction(conn):
                columns = {row[1] for row in conn.execute("PRAGMA table_info(topics)")}
                if "compacted" not in columns:
                    conn.execute(
                        "ALTER TABLE topics ADD COLUMN compacted INTEGER NOT NULL DEFAULT 0"
                    )
                records = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
                if "tombstone" not in records:
                    conn.execute(
                        "ALTER TABLE records ADD COLUMN tombstone INTEGER NOT NULL DEFAULT 0"
                    )
                # Membership before fencing existed; its rows mean nothing to this version.
                conn.execute("DROP TABLE IF EXISTS members")

    # -- shared plumbing ----------------------------------------------------------------
    @contextlib.contextmanager
    def storage(self, action: str) -> Iterator[None]:
        """The one place SQLite's errors become BusError: a locked, full, corrupt or vanished
        file is a backend failure the caller may retry, never a crash of its thread."""
        try:
            yield
        except sqlite3.Error as exc:
            raise BusError(
                f"embedded log {self.path}: {action} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def connect(self) -> sqlite3.Connection:
        """A new connection; each producer/consumer owns one (sqlite objects are per thread)."""
        conn = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.sync.upper()}")
        return conn

    def notify(self) -> None:
        with self._shared.wakeup:
            self._shared.wakeup.notify_all()

    def wait_for_records(self, timeout_s: float) -> None:
        with self._shared.wakeup:
            self._shared.wakeup.wait(timeout_s)

    @contextlib.contextmanager
    def write_transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT on `conn`, rolled back on any error, one writer at a time."""
        with self._shared.writer:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- topics ---------------------------------------------------------------------------
    def create_topics(
        self, topics: Sequence[str], partitions: int = 0, *, compacted: bool = False
    ) -> None:
        count = partitions or self.default_partitions
        if count < 1:
            raise ValueError(f"a topic needs at least one partition, not {count}")
        for topic in topics:
            _validate_topic_name(topic)
        with (
            self.storage(f"creating topics {list(topics)}"),
            contextlib.closing(self.connect()) as conn,
            self.write_transaction(conn),
        ):
            conn.executemany(
                "INSERT OR IGNORE INTO topics(name, partitions, compacted) VALUES (?, ?, ?)",
                [(topic, count, int(compacted)) for topic in topics],
            )

    def partition_count(self, topic: str) -> int:
        _validate_topic_name(topic)
        with self.storage(f"reading topic {topic!r}"), contextlib.closing(self.connect()) as conn:
            return self.partitions_of(conn, topic)

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        _validate_topic_name(topic)
        with self.storage(f"reading topic {topic!r}"), contextlib.closing(self.connect()) as conn:
            count = self.partitions_of(conn, topic)
            chosen = select_partitions(topic, count, partitions)
            return {partition: _end_offset(conn, topic, partition) for partition in chosen}

    def offsets_for_time(
        self, topic: str, partitions: Sequence[int], timestamp_ms: int
    ) -> dict[int, int]:
        _validate_topic_name(topic)
        with self.storage(f"reading topic {topic!r}"), contextlib.closing(self.connect()) as conn:
            count = self.partitions_of(conn, topic)
            found: dict[int, int] = {}
            for partition in select_partitions(topic, count, partitions):
                # Timestamps are the append time, so they grow with the offset (a clock
                # stepping back could break that; the first such record still counts).
                row = conn.execute(
                    "SELECT MIN(offset) FROM records WHERE topic = ? AND partition = ? "
                    "AND timestamp_ms >= ?",
                    (topic, partition, timestamp_ms),
                ).fetchone()
                found[partition] = (
                    _end_offset(conn, topic, partition) if row[0] is None else int(row[0])
                )
            return found

    def partitions_of(self, conn: sqlite3.Connection, topic: str) -> int:
        """Partition count of `topic`, creating it on first use (like Kafka's auto-create).

        Must not be called inside an open transaction on another connection.
        """
        return self._topic(conn, topic)[0]

    def _topic(self, conn: sqlite3.Connection, topic: str) -> tuple[int, bool]:
        """(partition count, compacted) of `topic`, created with the defaults if missing."""
        query = "SELECT partitions, compacted FROM topics WHERE name = ?"
        row = conn.execute(query, (topic,)).fetchone()
        if row is None:
            self.create_topics([topic])
            row = conn.execute(query, (topic,)).fetchone()
        return int(row[0]), bool(row[1])

    # -- clients --------------------------------------------------------------------------
    def producer(self, client_id: str = "socialcare") -> Producer:
        return EmbeddedProducer(self)

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
        self.create_topics(topics)
        return EmbeddedConsumer(self, group, topics, listener)

    # -- replay and compaction ------------------------------------------------------------
    def replay(
        self,
        topic: str,
        partitions: Collection[int] | None = None,
        start: Mapping[int, int] | None = None,
    ) -> Iterator[Record]:
        # The ends are read now, at the call (not lazily at the first next(), nor per
        # partition as the replay reaches it): records appended later are not replayed.
        _validate_topic_name(topic)
        with self.storage(f"replaying {topic!r}"), contextlib.closing(self.connect()) as conn:
            count, compacted = self._topic(conn, topic)
            chosen = select_partitions(topic, count, partitions)
            if compacted:
                for partition in chosen:
                    self._compact(conn, topic, partition)
            ends = {partition: _end_offset(conn, topic, partition) for partition in chosen}
        return self._replay(topic, ends, start_offsets(start, chosen))

    def _replay(
        self, topic: str, ends: Mapping[int, int], starts: Mapping[int, int]
    ) -> Iterator[Record]:
        with self.storage(f"replaying {topic!r}"), contextlib.closing(self.connect()) as conn:
            for partition, end in ends.items():
                position = starts[partition]
                while position < end:
                    batch = _read(conn, topic, partition, position, 1000, end=end)
                    if not batch:
                        break
                    yield from batch
                    position = batch[-1].offset + 1

    def _compact(self, conn: sqlite3.Connection, topic: str, partition: int) -> int:
        """Delete the records of one partition that a later record with the same key
        supersedes, below the lowest offset any group consuming `topic` has committed for it
        (a group that committed on other partitions only counts as at 0 here). Offsets never
        change; the deleted ones become gaps. Returns how many records went."""
        with self.write_transaction(conn):
            row = conn.execute(
                "SELECT MIN(COALESCE(c.next_offset, 0)) "
                "FROM (SELECT DISTINCT grp FROM committed WHERE topic = ?1) AS g "
                "LEFT JOIN committed AS c "
                "ON c.grp = g.grp AND c.topic = ?1 AND c.partition = ?2",
                (topic, partition),
            ).fetchone()
            floor = _end_offset(conn, topic, partition) if row[0] is None else int(row[0])
            deleted = conn.execute(
                "DELETE FROM records WHERE topic = ?1 AND partition = ?2 AND offset < ?3 "
                "AND key IS NOT NULL AND offset NOT IN ("
                "  SELECT MAX(offset) FROM records WHERE topic = ?1 AND partition = ?2 "
                "  AND key IS NOT NULL GROUP BY key)",
                (topic, partition, floor),
            ).rowcount
            # Tombstones past their retention that every group has read: the key is gone.
            horizon_ms = int((time.time() - self.tombstone_retention_s) * 1000)
            deleted += conn.execute(
                "DELETE FROM records WHERE topic = ? AND partition = ? AND offset < ? "
                "AND tombstone = 1 AND timestamp_ms <= ?",
                (topic, partition, floor, horizon_ms),
            ).rowcount
        if deleted:
            log.debug(
                "compacted partition",
                extra={"topic": topic, "partition": partition, "deleted": deleted},
            )
        return int(deleted)

    def close(self) -> None:
        """Nothing shared to release: each producer and consumer owns its connection."""


def _validate_topic_name(topic: str) -> None:
    if not topic or len(topic) > 249 or not all(c.isalnum() or c in "._-" for c in topic):
        raise BusError(f"invalid topic name {topic!r}: use letters, digits, '.', '_' or '-'")


def _end_offset(conn: sqlite3.Connection, topic: str, partition: int) -> int:
    row = conn.execute(
        "SELECT next_offset FROM partition_ends WHERE topic = ? AND partition = ?",
        (topic, partition),
    ).fetchone()
    return int(row[0]) if row else 0


def _read(
    conn: sqlite3.Connection,
    topic: str,
    partition: int,
    offset: int,
    limit: int,
    *,
    end: int | None = None,
) -> list[Record]:
    """Up to `limit` records from the first one at or after `offset` (compaction leaves
    gaps) and, when `end` is given, before it."""
    rows = conn.execute(
        "SELECT offset, key, value, headers, timestamp_ms, tombstone FROM records "
        "WHERE topic = ? AND partition = ? AND offset >= ? AND offset < ? "
        "ORDER BY offset LIMIT ?",
        (topic, partition, offset, (1 << 62) if end is None else end, limit),
    ).fetchall()
    return [
        Record(
            topic,
            partition,
            row[0],
            row[1],
            b"" if row[5] else row[2],
            decode_headers(row[3]),
            row[4],
            bool(row[5]),
        )
        for row in rows
    ]


class EmbeddedProducer(Producer):
    """Buffers records in memory and appends them in groups, one durable transaction each.

    Group commit: records get consecutive sequence numbers, and `_durable` is the number of
    them appended so far (the buffer always holds exactly the ones after it, in order). A
    caller that needs record n durable (a `Delivery.wait`, or `flush()` for everything sent
    so far) returns at once if n is below `_durable`; otherwise, if no append is running, it
    becomes the appender and writes *everything* buffered in one transaction; if one is
    running it waits for it to finish and looks again. So however many request handlers
    wait, there is one append at a time, each carrying every record that arrived during the
    previous one, and a waiter returns as soon as the append holding its own record is done.
    Sends only ever wait for `_cond`'s lock, which is never held during a write.

    A failed append puts its records back, in order, for the next one, and every caller
    waiting for a record of that group gets its BusError (nobody retries a broken file on
    another caller's behalf); a caller whose record was not in it tries again itself.
    """

    _max_buffer = 1000

    def __init__(self, bus: EmbeddedBus) -> None:
        self._bus = bus
        with bus.storage("opening a producer"):
            self._conn = bus.connect()
        self._cond = threading.Condition()
        self._buffer: list[OutgoingRecord] = []
        self._sent = 0  # sequence number of the next record
        self._durable = 0  # records [0, _durable) are appended
        self._appending = False
        self._attempts = 0  # appends started so far
        # The last failed append: (its attempt number, records up to which it covered, error)
        self._failure: tuple[int, int, BusError] | None = None
        self._round_robin = itertools.count()
        self._partitions: dict[str, int] = {}
        self._closed = False
        self._released = False  # the connection is closed: nothing can be appended any more

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        check_record(value, key, headers)
        _validate_topic_name(topic)
        record = OutgoingRecord(
            topic,
            bytes(value),
            bytes(key) if key is not None else None,
            tuple((name, bytes(data)) for name, data in headers),
        )
        return self._queue(record)

    def tombstone(self, topic: str, *, key: bytes, headers: Headers = ()) -> Delivery:
        if key is None:
            raise BusError("a tombstone needs a key")
        check_record(b"", key, headers)
        _validate_topic_name(topic)
        record = OutgoingRecord(
            topic,
            b"",
            bytes(key),
            tuple((name, bytes(data)) for name, data in headers),
            tombstone=True,
        )
        return self._queue(record)

    def _queue(self, record: OutgoingRecord) -> Delivery:
        with self._cond:
            if self._closed:
                raise BusError("producer is closed")
            self._buffer.append(record)
            self._sent += 1
            sequence = self._sent
            full = len(self._buffer) >= self._max_buffer
        if full:
            self.flush()
        return _EmbeddedDelivery(self, sequence)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Group commit of everything sent so far (see the class docstring)."""
        with self._cond:
            sent = self._sent
        self.wait_until(sent, timeout_s)

    def wait_until(self, count: int, timeout_s: float) -> None:
        """Return once the first `count` records sent are appended, appending them (and
        whatever else is buffered) if no other caller is. Raises BusError when the append
        holding one of them failed, the producer was closed without appending them, or
        `timeout_s` passed while other appends ran (an append itself is bounded by SQLite's
        busy timeout, not by `timeout_s`)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            # An append running now counts as one after the call: if it fails, the records
            # it carried fail with it.
            attempts_seen = self._attempts - (1 if self._appending else 0)
            while True:
                if self._durable >= count:
                    return
                failure = self._failure
                if failure is not None and failure[0] > attempts_seen and failure[1] >= count:
                    raise failure[2]
                if self._released:
                    raise BusError(
                        f"embedded log {self._bus.path}: the producer was closed before "
                        "the record was appended"
                    )
                if not self._appending:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BusError(
                        f"embedded log {self._bus.path}: records not appended within "
                        f"{timeout_s} s; is another process holding the file?"
                    )
                self._cond.wait(remaining)
            self._appending = True
            self._attempts += 1
            attempt = self._attempts
            pending, self._buffer = self._buffer, []
        try:
            with self._bus.storage(f"appending {len(pending)} record(s)"):
                self._append(pending)
        except BaseException as exc:
            # Keep the records, in order, for the next append, whatever failed.
            error = exc if isinstance(exc, BusError) else BusError(f"append failed: {exc!r}")
            with self._cond:
                self._buffer = pending + self._buffer
                self._failure = (attempt, self._durable + len(pending), error)
                self._appending = False
                self._cond.notify_all()
            raise
        with self._cond:
            self._durable += len(pending)
            self._appending = False
            self._cond.notify_all()
        self._bus.notify()

    def _append(self, pending: list[OutgoingRecord]) -> None:
        if not pending:
            return
        conn = self._conn
        now_ms = int(time.time() * 1000)
        counts = {topic: self._partition_count(topic) for topic in {r.topic for r in pending}}
        with self._bus.write_transaction(conn):
            ends: dict[tuple[str, int], int] = {}
            rows = []
            for record in pending:
                partitions = counts[record.topic]
                if record.key is None:
                    partition = next(self._round_robin) % partitions
                else:
                    partition = partition_for(record.key, partitions)
                slot = (record.topic, partition)
                if slot not in ends:
                    ends[slot] = _end_offset(conn, record.topic, partition)
                offset = ends[slot]
                ends[slot] = offset + 1
                rows.append(
                    (
                        record.topic,
                        partition,
                        offset,
                        record.key,
                        record.value,
                        encode_headers(record.headers),
                        now_ms,
                        int(record.tombstone),
                    )
                )
            conn.executemany(
                "INSERT INTO records(topic, partition, offset, key, value, headers, "
                "timestamp_ms, tombstone) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany(
                "INSERT INTO partition_ends(topic, partition, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                [(topic, partition, end) for (topic, partition), end in ends.items()],
            )

    def _partition_count(self, topic: str) -> int:
        count = self._partitions.get(topic)
        if count is None:
            count = self._bus.partitions_of(self._conn, topic)
            self._partitions[topic] = count
        return count

    def close(self) -> None:
        # Closed first, then flushed: a send() racing with close() either fails or is flushed,
        # never buffered after the last flush and lost.
        with self._cond:
            if self._closed:
                return
            self._closed = True
        try:
            self.flush()
        finally:
            with self._cond:
                while self._appending:
                    self._cond.wait()
                self._released = True
                self._cond.notify_all()
            with self._bus.storage("closing a producer"):
                self._conn.close()


class _EmbeddedDelivery(Delivery):
    """Record number `sequence` (counted from 1) of one producer."""

    __slots__ = ("_producer", "_sequence")

    def __init__(self, producer: EmbeddedProducer, sequence: int) -> None:
        self._producer = producer
        self._sequence = sequence

    def wait(self, timeout_s: float = 30.0) -> None:
        self._producer.wait_until(self._sequence, timeout_s)


class EmbeddedConsumer(Consumer):
    """One member of a consumer group on the embedded log (see the module docstring for the
    membership and fencing design). Not thread-safe, like every Consumer; its heartbeat
    thread only touches the database."""

    # While a partition this member should own is still held by another (live) member,
    # look again this often: the holder lets go at its next membership check.
    _claim_retry_s = 0.1

    def __init__(
        self,
        bus: EmbeddedBus,
        group: str,
        topics: Sequence[str],
        listener: PartitionListener | None,
    ) -> None:
        self._bus = bus
        self._group = group
        self._topics = tuple(dict.fromkeys(topics))
        self._listener = listener
        self._member_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._owned: dict[TopicPartition, int] = {}  # partition -> generation of our claim
        self._positions: dict[TopicPartition, int] = {}
        self._next_sync = 0.0
        self._last_poll = time.monotonic()
        self._closed = False
        with bus.storage(f"joining group {group!r}"):
            self._conn = bus.connect()
            try:
                self._partitions = {t: bus.partitions_of(self._conn, t) for t in self._topics}
                with bus.write_transaction(self._conn):
                    self._register(time.time())
            except BaseException:
                self._conn.close()
                raise
        self._stop_heartbeat = threading.Event()
        self._start_heartbeat()

    # -- membership -------------------------------------------------------------------
    def _register(self, now: float) -> None:
        """Insert or refresh this member's row (inside a write transaction)."""
        self._conn.execute(
            "INSERT INTO group_members(grp, member_id, topics, last_seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(grp, member_id) DO UPDATE SET last_seen = excluded.last_seen",
            (self._group, self._member_id, _TOPIC_SEPARATOR.join(self._topics), now),
        )

    def _start_heartbeat(self) -> None:
        self._heartbeat_thread = threading.Thread(
            target=self._heartbeat_loop, name=f"bus-heartbeat-{self._group}", daemon=True
        )
        self._heartbeat_thread.start()

    def _heartbeat_loop(self) -> None:
        """Keeps the membership alive while the owner polls. Once the owner has not polled
        for `max_poll_interval_s` (it is stuck or too slow: its partitions should move on)
        it leaves the group and ends; the next poll starts a new heartbeat and rejoins.
        Failures are logged and retried at the next beat."""
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop_heartbeat.wait(self._bus.heartbeat_interval_s):
                stalled = time.monotonic() - self._last_poll > self._bus.max_poll_interval_s
                try:
                    with self._bus.storage(f"heartbeat of group {self._group!r}"):
                        if conn is None:
                            conn = self._bus.connect()
                        with self._bus.write_transaction(conn):
                            if stalled:
                                self._leave(conn)
                            else:
                                conn.execute(
                                    "UPDATE group_members SET last_seen = ? "
                                    "WHERE grp = ? AND member_id = ?",
                                    (time.time(), self._group, self._member_id),
                                )
                except BusError as exc:
                    log.warning(
                        "consumer heartbeat failed", extra={"group": self._group, "error": str(exc)}
                    )
                    continue
                if stalled:
                    log.warning(
                        "consumer left its group: not polled within the max poll interval",
                        extra={"group": self._group, "seconds": self._bus.max_poll_interval_s},
                    )
                    return
        finally:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()

    def _leave(self, conn: sqlite3.Connection) -> None:
        """Drop this member and free its partitions (inside a write transaction)."""
        conn.execute(
            "DELETE FROM group_members WHERE grp = ? AND member_id = ?",
            (self._group, self._member_id),
        )
        conn.execute(
            "UPDATE partition_owners SET member_id = NULL WHERE grp = ? AND member_id = ?",
            (self._group, self._member_id),
        )

    def _live_members(self, now: float) -> dict[str, tuple[str, ...]]:
        rows = self._conn.execute(
            "SELECT member_id, topics FROM group_members WHERE grp = ? AND last_seen >= ?",
            (self._group, now - self._bus.session_timeout_s),
        )
        return {row[0]: tuple(row[1].split(_TOPIC_SEPARATOR)) for row in rows}

    def _owners(self) -> dict[TopicPartition, tuple[str | None, int]]:
        rows = self._conn.execute(
            "SELECT topic, partition, member_id, generation FROM partition_owners WHERE grp = ?",
            (self._group,),
        )
        subscribed = set(self._topics)
        return {
            TopicPartition(row[0], row[1]): (row[2], int(row[3]))
            for row in rows
            if row[0] in subscribed
        }

    def _sync(self) -> None:
        """Follow the group: learn what this member lost (its session ended, or another
        member fenced it), give up what the range assignment now gives to others (after
        `on_revoked`), take what it should own and nobody live holds (then `on_assigned`)."""
        now = time.time()
        with self._bus.storage(f"reading the membership of group {self._group!r}"):
            live = self._live_members(now)
            owners = self._owners()
        me = self._member_id
        alive = me in live
        if alive:
            lost = {tp for tp, gen in self._owned.items() if owners.get(tp) != (me, gen)}
        else:
            lost = set(self._owned)  # our session ended: what we held is, or may be, gone
        live[me] = self._topics
        target = range_assignment(live, self._partitions)[me]
        leaving = lost | (set(self._owned) - target)
        if leaving:
            for tp in leaving:
                del self._owned[tp]
                self._positions.pop(tp, None)
            if self._listener is not None:
                self._listener.on_revoked(frozenset(leaving))
        # Rows still in our name that we no longer hold: released only now, after the
        # listener heard, so no other member reads them before we stopped.
        release = [
            tp for tp, (owner, gen) in owners.items() if owner == me and self._owned.get(tp) != gen
        ]
        wanted = target - set(self._owned)
        claimable = [
            tp
            for tp in sorted(wanted)
            if tp not in owners or owners[tp][0] in (None, me) or owners[tp][0] not in live
        ]
        claimed: dict[TopicPartition, tuple[int, int]] = {}
        if not alive or release or claimable:
            with (
                self._bus.storage(f"rebalancing group {self._group!r}"),
                self._bus.write_transaction(self._conn),
            ):
                claimed = self._write_membership(now, release, claimable)
        for tp, (generation, position) in claimed.items():
            self._owned[tp] = generation
            self._positions[tp] = position
        self._next_sync = time.monotonic() + (
            self._claim_retry_s if len(claimed) < len(wanted) else self._bus.heartbeat_interval_s
        )
        if claimed and self._listener is not None:
            self._listener.on_assigned(frozenset(claimed))

    def _write_membership(
        self, now: float, release: Sequence[TopicPartition], claimable: Sequence[TopicPartition]
    ) -> dict[TopicPartition, tuple[int, int]]:
        """In one write transaction: refresh our row, free `release`, and take each of
        `claimable` that is still free (no owner, ours, or its owner dead) with a new
        generation. Returns the partitions taken, each with its generation and the group's
        committed offset (where reading resumes)."""
        conn = self._conn
        self._register(now)
        conn.executemany(
            "UPDATE partition_owners SET member_id = NULL "
            "WHERE grp = ? AND topic = ? AND partition = ? AND member_id = ?",
            [(self._group, tp.topic, tp.partition, self._member_id) for tp in release],
        )
        conn.execute(
            "DELETE FROM group_members WHERE grp = ? AND last_seen < ?",
            (self._group, now - self._bus.session_timeout_s),
        )
        live = set(self._live_members(now))
        claimed: dict[TopicPartition, tuple[int, int]] = {}
        for tp in claimable:
            row = conn.execute(
                "SELECT member_id, generation FROM partition_owners "
                "WHERE grp = ? AND topic = ? AND partition = ?",
                (self._group, tp.topic, tp.partition),
            ).fetchone()
            if row is not None and row[0] not in (None, self._member_id) and row[0] in live:
                continue  # its owner has not let go yet
            generation = 1 if row is None else int(row[1]) + 1
            conn.execute(
                "INSERT INTO partition_owners(grp, topic, partition, member_id, generation) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(grp, topic, partition) DO UPDATE SET "
                "member_id = excluded.member_id, generation = excluded.generation",
                (self._group, tp.topic, tp.partition, self._member_id, generation),
            )
            claimed[tp] = (generation, self._committed(tp))
        return claimed

    def _committed(self, tp: TopicPartition) -> int:
        row = self._conn.execute(
            "SELECT next_offset FROM committed WHERE grp = ? AND topic = ? AND partition = ?",
            (self._group, tp.topic, tp.partition),
        ).fetchone()
        return int(row[0]) if row else 0

    # -- reading ------------------------------------------------------------------------
    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        if self._closed:
            raise BusError("consumer is closed")
        self._last_poll = time.monotonic()
        deadline = self._last_poll + timeout_s
        pause = 0.002
        while True:
            if not self._heartbeat_thread.is_alive():
                # It left the group while we did not poll: hear what we lost, and rejoin.
                self._start_heartbeat()
                self._next_sync = 0.0
            if time.monotonic() >= self._next_sync:
                self._sync()
            with self._bus.storage(f"reading for group {self._group!r}"):
                batch = self._fetch(max_records)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0:
                return batch
            # Same-process producers wake us at once; other processes within `pause`.
            self._bus.wait_for_records(min(pause, remaining, self._claim_retry_s))
            pause = min(pause * 2, 0.05)

    def _fetch(self, max_records: int) -> list[Record]:
        """Read only the owned partitions whose end moved past our position: one query for
        the ends, then one per partition with records, instead of one per owned partition
        on every poll (a routing member owns ~5 topics x its partitions and polls often)."""
        if not self._owned:
            return []
        ends = self._ends()
        batch: list[Record] = []
        for tp in sorted(self._owned):
            room = max_records - len(batch)
            if room <= 0:
                break
            if ends.get(tp, 0) <= self._positions[tp]:
                continue
            records = _read(self._conn, tp.topic, tp.partition, self._positions[tp], room)
            if records:
                self._positions[tp] = records[-1].offset + 1
                batch.extend(records)
        return batch

    def _ends(self) -> dict[TopicPartition, int]:
        """The next offset to be written of every partition of the subscribed topics."""
        marks = ",".join("?" * len(self._topics))
        rows = self._conn.execute(
            f"SELECT topic, partition, next_offset FROM partition_ends WHERE topic IN ({marks})",
            self._topics,
        )
        return {TopicPartition(row[0], row[1]): int(row[2]) for row in rows}

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._closed:
            raise BusError("consumer is closed")
        if not offsets:
            return
        unowned = sorted(tp for tp in offsets if tp not in self._owned)
        if unowned:
            raise CommitFencedError(
                f"group {self._group!r}: not committed, this member does not own {unowned}"
            )
        conn = self._conn
        with (
            self._bus.storage(f"committing offsets of group {self._group!r}"),
            self._bus.write_transaction(conn),
        ):
            now = time.time()
            row = conn.execute(
                "SELECT last_seen FROM group_members WHERE grp = ? AND member_id = ?",
                (self._group, self._member_id),
            ).fetchone()
            if row is None or row[0] < now - self._bus.session_timeout_s:
                raise CommitFencedError(
                    f"group {self._group!r}: not committed, this member's session ended "
                    "(it did not poll or heartbeat in time); its partitions move on"
                )
            owners = self._owners()
            moved = sorted(
                tp for tp in offsets if owners.get(tp) != (self._member_id, self._owned[tp])
            )
            if moved:
                raise CommitFencedError(
                    f"group {self._group!r}: not committed, {moved} moved to another member"
                )
            conn.executemany(
                "INSERT INTO committed(grp, topic, partition, next_offset) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(grp, topic, partition) "
                "DO UPDATE SET next_offset = excluded.next_offset",
                [(self._group, tp.topic, tp.partition, off) for tp, off in offsets.items()],
            )

    def seek(self, offsets: Mapping[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            if tp in self._owned:
                self._positions[tp] = offset

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(self._owned)

    def lag(self) -> dict[TopicPartition, int]:
        with self._bus.storage(f"reading the lag of group {self._group!r}"):
            return {
                tp: max(0, _end_offset(self._conn, tp.topic, tp.partition) - position)
                for tp, position in self._positions.items()
            }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_heartbeat.set()
        self._heartbeat_thread.join()
        try:
            with (
                self._bus.storage(f"leaving group {self._group!r}"),
                self._bus.write_transaction(self._conn),
            ):
                self._leave(self._conn)
        finally:
            self._owned.clear()
            self._positions.clear()
            with self._bus.storage("closing a consumer"):
                self._conn.close()
