"""The shared topic follower on a real embedded bus: the replay to the end hands over every
record and says where it ended; a follower started there applies only what came later,
in order per partition; a rebuild on the follower's own thread hands the history to the
rebuild and the rest to `apply`, nothing twice; `on_caught_up` comes once the follower
has read what its topics held when it connected; a BusError from `apply` reconnects and
goes on after the last batch applied; what a backend hands out from before the seek is
skipped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from socialcare.core.bus import Bus, BusError, Consumer, PartitionListener, Record, TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.follower import TopicFollower, replay_to_end

TOPIC = "test.followed"
OTHER = "test.other"


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    bus = EmbeddedBus(tmp_path / "bus", default_partitions=2, sync="normal")
    bus.create_topics([TOPIC, OTHER], 2)
    yield bus
    bus.close()


def write(bus: Bus, topic: str, *values: str) -> None:
    producer = bus.producer("test")
    for value in values:
        producer.send(topic, value.encode(), key=value.encode())
    producer.flush()
    producer.close()


def wait_until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class Applied:
    """What `apply` got, thread-safe; values per partition in the order applied."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[Record] = []

    def __call__(self, records: Iterable[Record]) -> None:
        got = list(records)
        with self._lock:
            self.records.extend(got)

    def values(self) -> list[str]:
        with self._lock:
            return sorted(r.value.decode() for r in self.records)

    def per_partition(self) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        with self._lock:
            for record in self.records:
                found.setdefault(record.partition, []).append(record.value.decode())
        return found


@contextmanager
def running(follower: TopicFollower) -> Iterator[TopicFollower]:
    follower.start()
    try:
        yield follower
    finally:
        follower.stop()
        follower.join(5)


def test_replay_to_end_hands_over_every_record_and_says_where_it_ended(bus: EmbeddedBus) -> None:
    write(bus, TOPIC, *(f"v{i}" for i in range(10)))
    bus.producer("test").tombstone(TOPIC, key=b"v3").wait()
    applied = Applied()
    ends = replay_to_end(bus, TOPIC, applied)
    assert applied.values() == sorted(["", *(f"v{i}" for i in range(10))])
    assert any(r.tombstone for r in applied.records)
    assert ends == {
        TopicPartition(TOPIC, p): end for p, end in bus.end_offsets(TOPIC, [0, 1]).items()
    }
    assert replay_to_end(bus, OTHER, applied) == {}  # an empty topic: nothing read


def test_a_follower_started_at_the_replay_end_applies_only_what_came_later(
    bus: EmbeddedBus,
) -> None:
    write(bus, TOPIC, *(f"old{i}" for i in range(6)))
    ends = replay_to_end(bus, TOPIC, list)
    applied = Applied()
    follower = TopicFollower(bus, [TOPIC], applied, name="t", group="t", start=ends)
    with running(follower):
        later = [f"new{i}" for i in range(20)]
        write(bus, TOPIC, *later)
        wait_until(lambda: len(applied.values()) == len(later))
        assert applied.values() == sorted(later)
        assert follower.followed == len(later)
        # In log order per partition: each partition's offsets only grow.
        for record_list in _offsets_per_partition(applied.records).values():
            assert record_list == sorted(record_list)
        assert follower.next_offsets() == {
            TopicPartition(TOPIC, p): end for p, end in bus.end_offsets(TOPIC, [0, 1]).items()
        }


def _offsets_per_partition(records: Sequence[Record]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for record in records:
        found.setdefault(record.partition, []).append(record.offset)
    return found


def test_a_rebuild_on_the_follower_s_thread_then_follows_without_doubles(
    bus: EmbeddedBus,
) -> None:
    write(bus, TOPIC, "a", "b", "c")
    write(bus, OTHER, "x")
    rebuilt = Applied()
    live = Applied()
    ready = threading.Event()
    follower: TopicFollower

    def prepare() -> None:
        if not ready.is_set():
            follower.replay(rebuilt)
            ready.set()

    follower = TopicFollower(bus, [TOPIC, OTHER], live, name="t", group="t", prepare=prepare)
    with running(follower):
        assert ready.wait(10)
        assert rebuilt.values() == ["a", "b", "c", "x"]
        write(bus, TOPIC, "d")
        write(bus, OTHER, "y")
        wait_until(lambda: live.values() == ["d", "y"])
        assert follower.followed == 2
    assert rebuilt.values() == ["a", "b", "c", "x"]


def test_on_caught_up_comes_once_the_topic_s_content_at_connection_is_read(
    bus: EmbeddedBus,
) -> None:
    write(bus, TOPIC, *(f"v{i}" for i in range(50)))
    applied = Applied()
    seen_when_caught_up: list[int] = []

    def caught_up() -> None:
        seen_when_caught_up.append(len(applied.values()))

    follower = TopicFollower(
        bus, [TOPIC], applied, name="t", group="t", on_caught_up=caught_up, max_records=7
    )
    with running(follower):
        wait_until(lambda: bool(seen_when_caught_up))
        write(bus, TOPIC, "later")
        wait_until(lambda: len(applied.values()) == 51)
    assert seen_when_caught_up[0] >= 50
    assert len(seen_when_caught_up) == 1


def test_on_caught_up_comes_at_once_for_empty_topics(bus: EmbeddedBus) -> None:
    caught_up = threading.Event()
    follower = TopicFollower(
        bus, [TOPIC, OTHER], Applied(), name="t", group="t", on_caught_up=caught_up.set
    )
    with running(follower):
        assert caught_up.wait(10)
    assert follower.followed == 0


def test_a_bus_error_reconnects_and_goes_on_after_the_last_batch_applied(
    bus: EmbeddedBus,
) -> None:
    write(bus, TOPIC, "a", "b")
    applied = Applied()
    failures = [BusError("the broker went away")]
    connections = 0

    def apply(records: list[Record]) -> None:
        if failures and any(r.value == b"boom" for r in records):
            raise failures.pop()
        applied(records)

    def prepare() -> None:
        nonlocal connections
        connections += 1

    follower = TopicFollower(
        bus, [TOPIC], apply, name="t", group="t", prepare=prepare, retry_s=0.01
    )
    with running(follower):
        wait_until(lambda: applied.values() == ["a", "b"])
        write(bus, TOPIC, "boom")
        write(bus, TOPIC, "c", "d")
        wait_until(lambda: applied.values() == ["a", "b", "boom", "c", "d"])
    assert not failures
    assert connections == 2
    # Nothing before the failed batch was applied again.
    assert sorted(v for v in applied.values() if v in ("a", "b")) == ["a", "b"]


class _NoSeekBus(EmbeddedBus):
    """The embedded bus, but its consumers never hear of their assignments (so nobody seeks
    them): the first polls hand out a partition from its beginning, as Kafka's first poll
    after an assignment may hand out what it fetched before the seek."""

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        client_id: str = "socialcare",
        listener: PartitionListener | None = None,
    ) -> Consumer:
        return super().consumer(group, topics, client_id, None)


def test_records_from_before_the_start_are_skipped_when_a_backend_hands_them_out(
    tmp_path: Path,
) -> None:
    bus = _NoSeekBus(tmp_path / "bus", default_partitions=2, sync="normal")
    try:
        bus.create_topics([TOPIC], 2)
        write(bus, TOPIC, *(f"old{i}" for i in range(8)))
        ends = replay_to_end(bus, TOPIC, list)
        applied = Applied()
        follower = TopicFollower(bus, [TOPIC], applied, name="t", group="t", start=ends)
        with running(follower):
            write(bus, TOPIC, "new")
            wait_until(lambda: applied.values() == ["new"])
        assert applied.values() == ["new"]
        assert follower.followed == 1
    finally:
        bus.close()


def test_stop_ends_the_thread(bus: EmbeddedBus) -> None:
    follower = TopicFollower(bus, [TOPIC], Applied(), name="stopping", group="t")
    follower.start()
    assert any(t.name == "stopping" for t in threading.enumerate())
    follower.stop()
    follower.join(5)
    assert not any(t.name == "stopping" for t in threading.enumerate())
