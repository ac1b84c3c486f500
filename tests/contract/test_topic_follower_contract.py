"""The shared topic follower on both backends (embedded and real Kafka), on fresh topics:
a follower started where a replay ended applies only what came later, none of the
replayed records again (on Kafka the first poll after an assignment may hand out what it
fetched before the seek); a follower that rebuilds on its own thread and waits to have
read what the topics held hands the history to the rebuild and only the rest to `apply`."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from socialcare.core.bus import Bus, Record
from socialcare.core.follower import TopicFollower, replay_to_end
from tests.contract.bus_backends import bus_backend


@pytest.fixture(params=["embedded", "kafka"])
def bus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bus]:
    with bus_backend(request, tmp_path) as bus:
        yield bus


def fresh_topic(bus: Bus, partitions: int = 3) -> str:
    topic = f"contract.follower.{uuid.uuid4().hex[:10]}"
    bus.create_topics([topic], partitions)
    return topic


def write(bus: Bus, topic: str, *values: str) -> None:
    producer = bus.producer("contract")
    for value in values:
        producer.send(topic, value.encode(), key=value.encode())
    producer.flush()
    producer.close()


def wait_until(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class Applied:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: list[str] = []

    def __call__(self, records: Iterable[Record]) -> None:
        got = [r.value.decode() for r in records]
        with self._lock:
            self._values.extend(got)

    def values(self) -> list[str]:
        with self._lock:
            return sorted(self._values)


@contextmanager
def running(follower: TopicFollower) -> Iterator[None]:
    follower.start()
    try:
        yield
    finally:
        follower.stop()
        follower.join(10)


def test_a_follower_from_the_replay_end_applies_only_later_records(bus: Bus) -> None:
    topic = fresh_topic(bus)
    old = [f"old{i}" for i in range(30)]
    write(bus, topic, *old)
    replayed = Applied()
    ends = replay_to_end(bus, topic, replayed)
    assert replayed.values() == sorted(old)
    applied = Applied()
    follower = TopicFollower(bus, [topic], applied, name="contract", group="contract", start=ends)
    with running(follower):
        new = [f"new{i}" for i in range(10)]
        write(bus, topic, *new)
        wait_until(lambda: len(applied.values()) >= len(new))
        write(bus, topic, "last")  # read after `new`: nothing else is still on its way
        wait_until(lambda: "last" in applied.values())
    assert applied.values() == sorted([*new, "last"])


def test_a_rebuild_on_the_follower_s_thread_then_the_rest(bus: Bus) -> None:
    topic = fresh_topic(bus)
    write(bus, topic, "a", "b", "c")
    rebuilt = Applied()
    live = Applied()
    caught_up = threading.Event()
    follower: TopicFollower

    def rebuild_once() -> None:
        if not rebuilt.values():
            follower.replay(rebuilt)

    follower = TopicFollower(
        bus,
        [topic],
        live,
        name="contract",
        group="contract",
        prepare=rebuild_once,
        on_caught_up=caught_up.set,
    )
    with running(follower):
        assert caught_up.wait(30)
        write(bus, topic, "d")
        wait_until(lambda: live.values() == ["d"])
    assert rebuilt.values() == ["a", "b", "c"]
    assert live.values() == ["d"]
