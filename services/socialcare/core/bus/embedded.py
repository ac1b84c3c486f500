"""The embedded event log: Kafka's semantics in one SQLite file, for `make run` and tests.

Why SQLite: it is in the standard library, durable (WAL + fsync on commit), and safe for
several processes on one machine, which is what "every service as its own process, no
server to install" needs. One database file holds all topics:

* `records(topic, partition, offset)` is the log; offsets per partition are dense from 0.
* `partition_ends` keeps the next offset per partition so appends need no MAX() scan.
* `committed(group, topic, partition)` holds each group's next offset to read.
* `members(group, member_id)` is the group membership with heartbeats. Each consumer
  derives the assignment itself from the sorted list of live members (range over the
  sorted partitions, round-robin), so no coordinator process is needed. A member that
  stops heartbeating for `session_timeout_s` drops out and its partitions move on,
  resuming from the committed offsets: at-least-once, like Kafka.

Producers append in one transaction per flush. Consumers poll with short sleeps when
another process writes; inside one process a condition variable wakes them at once.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import struct
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from socialcare.core.bus.base import (
    Bus,
    BusError,
    Consumer,
    Headers,
    OutgoingRecord,
    Producer,
    Record,
    TopicPartition,
    check_record,
)
from socialcare.core.bus.partitioner import partition_for

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS partition_ends (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    key BLOB, value BLOB NOT NULL, headers BLOB NOT NULL, timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS committed (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    grp TEXT NOT NULL, member_id TEXT NOT NULL, last_seen REAL NOT NULL,
    PRIMARY KEY (grp, member_id)) WITHOUT ROWID;
"""

_HEADER = struct.Struct(">HI")
_BUSY_TIMEOUT_S = 30.0


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
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        default_partitions: int = 4,
        session_timeout_s: float = 10.0,
        sync: str = "full",
    ) -> None:
        if sync not in ("full", "normal"):
            raise ValueError(f"sync must be 'full' or 'normal', not {sync!r}")
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = str(directory / "bus.sqlite3")
        self.default_partitions = default_partitions
        self.session_timeout_s = session_timeout_s
        self.sync = sync
        self._shared = _Shared.for_path(self.path)
        with contextlib.closing(self.connect()) as conn:
            conn.executescript(_SCHEMA)

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

    def create_topics(self, topics: Sequence[str], partitions: int = 0) -> None:
        count = partitions or self.default_partitions
        for topic in topics:
            _validate_topic_name(topic)
        with contextlib.closing(self.connect()) as conn, self.write_transaction(conn):
            conn.executemany(
                "INSERT OR IGNORE INTO topics(name, partitions) VALUES (?, ?)",
                [(topic, count) for topic in topics],
            )

    def partitions_of(self, conn: sqlite3.Connection, topic: str) -> int:
        """Partition count of `topic`, creating it on first use (like Kafka's auto-create).

        Must not be called inside an open transaction on another connection.
        """
        row = conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
        if row is None:
            self.create_topics([topic])
            row = conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
        return int(row[0])

    def producer(self, client_id: str = "socialcare") -> Producer:
        return EmbeddedProducer(self)

    def consumer(
        self, group: str, topics: Sequence[str], client_id: str = "socialcare"
    ) -> Consumer:
        if not group:
            raise ValueError("a consumer needs a group name")
        self.create_topics(topics)
        return EmbeddedConsumer(self, group, topics)

    def replay(self, topic: str) -> Iterator[Record]:
        # The ends are read now, at the call (not lazily at the first next(), nor per
        # partition as the replay reaches it): records appended later are not replayed.
        with contextlib.closing(self.connect()) as conn:
            partitions = self.partitions_of(conn, topic)
            ends = [_end_offset(conn, topic, partition) for partition in range(partitions)]
        return self._replay(topic, ends)

    def _replay(self, topic: str, ends: list[int]) -> Iterator[Record]:
        conn = self.connect()
        try:
            for partition, end in enumerate(ends):
                position = 0
                while position < end:
                    batch = _read(conn, topic, partition, position, min(1000, end - position))
                    if not batch:
                        break
                    yield from batch
                    position = batch[-1].offset + 1
        finally:
            conn.close()

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
    conn: sqlite3.Connection, topic: str, partition: int, offset: int, limit: int
) -> list[Record]:
    rows = conn.execute(
        "SELECT offset, key, value, headers, timestamp_ms FROM records "
        "WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?",
        (topic, partition, offset, limit),
    ).fetchall()
    return [
        Record(topic, partition, row[0], row[1], row[2], decode_headers(row[3]), row[4])
        for row in rows
    ]


class EmbeddedProducer(Producer):
    """Buffers records in memory; `flush()` appends them in one durable transaction."""

    _max_buffer = 1000

    def __init__(self, bus: EmbeddedBus) -> None:
        self._bus = bus
        self._conn = bus.connect()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._buffer: list[OutgoingRecord] = []
        self._round_robin = itertools.count()
        self._partitions: dict[str, int] = {}
        self._closed = False

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        check_record(value, key, headers)
        with self._lock:
            if self._closed:
                raise BusError("producer is closed")
            self._buffer.append(
                OutgoingRecord(
                    topic,
                    bytes(value),
                    bytes(key) if key is not None else None,
                    tuple((name, bytes(data)) for name, data in headers),
                )
            )
            full = len(self._buffer) >= self._max_buffer
        if full:
            self.flush()

    def flush(self, timeout_s: float = 30.0) -> None:
        """Group commit: one caller writes everything buffered so far while the others wait on
        `_flushing` and then usually find nothing left. Sends only ever wait for `_lock`,
        which is never held during a write."""
        with self._flushing:
            with self._lock:
                pending, self._buffer = self._buffer, []
            if not pending:
                return
            try:
                self._append(pending)
            except BaseException as exc:
                # Keep the records, in order, for the next flush, whatever failed.
                with self._lock:
                    self._buffer = pending + self._buffer
                if isinstance(exc, sqlite3.Error):
                    raise BusError(f"embedded log append failed: {exc}") from exc
                raise
        self._bus.notify()

    def _append(self, pending: list[OutgoingRecord]) -> None:
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
                    )
                )
            conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
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
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.flush()
        finally:
            with self._flushing:
                self._conn.close()


class EmbeddedConsumer(Consumer):
    """One member of a consumer group on the embedded log."""

    _heartbeat_interval_s = 1.0

    def __init__(self, bus: EmbeddedBus, group: str, topics: Sequence[str]) -> None:
        self._bus = bus
        self._group = group
        self._topics = tuple(dict.fromkeys(topics))
        self._member_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._conn = bus.connect()
        self._positions: dict[TopicPartition, int] = {}
        self._assignment: frozenset[TopicPartition] = frozenset()
        self._last_heartbeat = 0.0
        self._closed = False
        self._heartbeat(force=True)

    # -- membership -------------------------------------------------------------------
    def _heartbeat(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_heartbeat < self._heartbeat_interval_s:
            return
        self._last_heartbeat = now
        conn = self._conn
        with self._bus.write_transaction(conn):
            conn.execute(
                "INSERT INTO members(grp, member_id, last_seen) VALUES (?, ?, ?) "
                "ON CONFLICT(grp, member_id) DO UPDATE SET last_seen = excluded.last_seen",
                (self._group, self._member_id, now),
            )
            conn.execute(
                "DELETE FROM members WHERE grp = ? AND last_seen < ?",
                (self._group, now - self._bus.session_timeout_s),
            )
            members = [
                row[0]
                for row in conn.execute(
                    "SELECT member_id FROM members WHERE grp = ? ORDER BY member_id",
                    (self._group,),
                )
            ]
        self._rebalance(members)

    def _rebalance(self, members: list[str]) -> None:
        every = sorted(
            TopicPartition(topic, p)
            for topic in self._topics
            for p in range(self._bus.partitions_of(self._conn, topic))
        )
        index = members.index(self._member_id)
        mine = frozenset(tp for i, tp in enumerate(every) if i % len(members) == index)
        if mine == self._assignment:
            return
        gained = mine - self._assignment
        self._assignment = mine
        self._positions = {tp: pos for tp, pos in self._positions.items() if tp in mine}
        for tp in gained:
            self._positions[tp] = self._committed(tp)

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
        deadline = time.monotonic() + timeout_s
        pause = 0.002
        while True:
            try:
                self._heartbeat()
                batch = self._fetch(max_records)
            except sqlite3.Error as exc:
                raise BusError(f"embedded log read failed: {exc}") from exc
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0:
                return batch
            # Same-process producers wake us at once; other processes within `pause`.
            self._bus.wait_for_records(min(pause, remaining))
            pause = min(pause * 2, 0.05)

    def _fetch(self, max_records: int) -> list[Record]:
        batch: list[Record] = []
        for tp in sorted(self._assignment):
            room = max_records - len(batch)
            if room <= 0:
                break
            records = _read(self._conn, tp.topic, tp.partition, self._positions[tp], room)
            if records:
                self._positions[tp] = records[-1].offset + 1
                batch.extend(records)
        return batch

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        conn = self._conn
        try:
            with self._bus.write_transaction(conn):
                conn.executemany(
                    "INSERT INTO committed(grp, topic, partition, next_offset) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(grp, topic, partition) "
                    "DO UPDATE SET next_offset = excluded.next_offset",
                    [(self._group, tp.topic, tp.partition, off) for tp, off in offsets.items()],
                )
        except sqlite3.Error as exc:
            raise BusError(f"embedded offset commit failed: {exc}") from exc

    def seek(self, offsets: Mapping[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            if tp in self._assignment:
                self._positions[tp] = offset

    def assignment(self) -> frozenset[TopicPartition]:
        return self._assignment

    def lag(self) -> dict[TopicPartition, int]:
        return {
            tp: max(0, _end_offset(self._conn, tp.topic, tp.partition) - position)
            for tp, position in self._positions.items()
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.execute(
                "DELETE FROM members WHERE grp = ? AND member_id = ?",
                (self._group, self._member_id),
            )
        finally:
            self._conn.close()
