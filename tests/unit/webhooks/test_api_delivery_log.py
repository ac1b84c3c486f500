"""The delivery log the webhook API reads (webhooks/delivery_log.py): what it keeps of each
subscription's deliveries, and its follower of `webhooks.deliveries` on a real embedded
bus (rebuilt from the topic, following new versions, forgetting tombstoned ones)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from socialcare.core.clock import to_timestamp
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone, publish_effects
from socialcare.core.runtime import Runtime
from socialcare.v1 import webhook_pb2
from socialcare.webhooks.delivery_log import (
    DEAD,
    DELIVERED,
    PENDING,
    DeliveryLog,
    DeliveryLogFollower,
    InvalidCursorError,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def delivery(
    n: int,
    *,
    subscription: str = "sub-a",
    state: int = PENDING,
    version: int = 1,
    attempts: int = 0,
) -> webhook_pb2.WebhookDelivery:
    return webhook_pb2.WebhookDelivery(
        delivery_id=f"d{n:04d}",
        subscription_id=subscription,
        brand="acme",
        event_type="case.opened",
        event_id=f"e{n}",
        case_id=f"case-{n}",
        body=b'{"n":%d}' % n,
        created_at=to_timestamp(T0 + timedelta(seconds=n)),
        state=state,  # type: ignore[arg-type]
        attempts=attempts,
        version=version,
        cause_id=f"c{n}-{version}",
    )


def ids(found: list[webhook_pb2.WebhookDelivery]) -> list[str]:
    return [d.delivery_id for d in found]


def test_the_newest_version_wins_and_older_ones_are_ignored() -> None:
    log = DeliveryLog()
    assert log.apply(delivery(1, version=1))
    assert log.apply(delivery(1, state=DEAD, version=3, attempts=5))
    assert not log.apply(delivery(1, state=PENDING, version=2))  # a late, older record
    assert not log.apply(delivery(1, state=PENDING, version=3))  # the same version again
    held = log.delivery("sub-a", "d0001")
    assert held is not None and held.state == DEAD and held.attempts == 5
    assert log.dead_ids("sub-a") == {"d0001"}
    # A replay of the dead letter is a newer version: pending again.
    assert log.apply(delivery(1, state=PENDING, version=4))
    assert log.dead_ids("sub-a") == set()


def test_pending_and_dead_are_all_kept_delivered_only_the_newest() -> None:
    log = DeliveryLog(keep_delivered=3)
    for n in range(10):
        log.apply(delivery(n, state=DELIVERED))
    for n in range(10, 15):
        log.apply(delivery(n, state=DEAD))
    for n in range(15, 17):
        log.apply(delivery(n))
    assert log.counts("sub-a") == {PENDING: 2, DELIVERED: 3, DEAD: 5}
    assert ids(log.page("sub-a", state=DELIVERED).deliveries) == ["d0009", "d0008", "d0007"]
    assert log.delivery("sub-a", "d0002") is None
    # An evicted delivery's older versions do not come back.
    assert not log.apply(delivery(2, state=PENDING))


def test_subscriptions_are_kept_apart() -> None:
    log = DeliveryLog()
    log.apply(delivery(1, subscription="sub-a", state=DEAD))
    log.apply(delivery(2, subscription="sub-b", state=DEAD))
    assert log.dead_ids("sub-a") == {"d0001"}
    assert log.delivery("sub-a", "d0002") is None
    assert ids(log.page("sub-b").deliveries) == ["d0002"]
    assert log.page("sub-none").deliveries == []


def test_pages_walk_every_delivery_once_newest_first() -> None:
    log = DeliveryLog()
    for n in range(23):
        log.apply(delivery(n, state=(PENDING, DELIVERED, DEAD)[n % 3]))
    # Two deliveries made at the same moment are ordered by id.
    twin = delivery(99)
    twin.created_at.CopyFrom(to_timestamp(T0 + timedelta(seconds=10)))
    log.apply(twin)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = log.page("sub-a", limit=5, cursor=cursor)
        seen += ids(page.deliveries)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 5
    expected = sorted(
        (*(f"d{n:04d}" for n in range(23)), "d0099"),
        key=lambda d: (10 if d == "d0099" else int(d[1:]), d),
        reverse=True,
    )
    assert seen == expected
    dead = log.page("sub-a", state=DEAD, limit=100).deliveries
    assert {d.state for d in dead} == {DEAD} and len(dead) == 7  # n % 3 == 2


@pytest.mark.parametrize("cursor", ["nonsense!", "bm8tY29sb24", "MTIzOg"])
def test_a_cursor_not_handed_out_is_refused(cursor: str) -> None:
    log = DeliveryLog()
    log.apply(delivery(1))
    with pytest.raises(InvalidCursorError):
        log.page("sub-a", cursor=cursor)


def test_forget_removes_a_delivery() -> None:
    log = DeliveryLog()
    log.apply(delivery(1, state=DEAD))
    log.apply(delivery(2, state=DELIVERED))
    log.forget("d0001")
    log.forget("d0002")
    log.forget("unknown")
    assert log.page("sub-a").deliveries == []
    # Forgotten means gone: a later new delivery under the key is taken again.
    assert log.apply(delivery(1, version=1))


# -- the follower, on a real embedded bus -----------------------------------------------------


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(PlatformSettings(data_dir=tmp_path, embedded_sync="normal"))
    yield runtime
    runtime.close()


def publish(runtime: Runtime, *effects: Emit | Tombstone) -> None:
    for sent in publish_effects(runtime.producer, effects, source="webhooks-sender"):
        sent.wait(10.0)


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20.0
    while not check():
        assert time.monotonic() < deadline, f"not within 20 s: {what}"
        time.sleep(0.02)


def test_the_follower_rebuilds_the_log_from_the_topic_then_follows_it(runtime: Runtime) -> None:
    topic = Topic.WEBHOOK_DELIVERIES
    publish(
        runtime,
        Emit(topic, delivery(1)),
        Emit(topic, delivery(1, state=DEAD, version=2, attempts=7)),
        Emit(topic, delivery(2, state=DELIVERED, version=2)),
        Emit(topic, delivery(3, subscription="sub-b")),
    )
    log = DeliveryLog()
    follower = DeliveryLogFollower(runtime.bus, log)
    assert not log.ready
    follower.start()
    try:
        assert log.wait_ready(20.0), "the log never caught up with the topic"
        assert log.dead_ids("sub-a") == {"d0001"}
        assert ids(log.page("sub-a").deliveries) == ["d0002", "d0001"]
        assert ids(log.page("sub-b").deliveries) == ["d0003"]
        # New versions and tombstones written later arrive.
        publish(
            runtime,
            Emit(topic, delivery(1, state=PENDING, version=3)),
            Tombstone.of(topic, "d0002"),
            Emit(topic, delivery(4, state=DEAD)),
        )
        eventually(lambda: log.dead_ids("sub-a") == {"d0004"}, "the new versions")
        eventually(lambda: log.delivery("sub-a", "d0002") is None, "the tombstone")
        held = log.delivery("sub-a", "d0001")
        assert held is not None and held.state == PENDING and held.version == 3
    finally:
        follower.stop()
        follower.join(5.0)


def test_an_empty_topic_is_ready_at_once(runtime: Runtime) -> None:
    log = DeliveryLog()
    follower = DeliveryLogFollower(runtime.bus, log)
    follower.start()
    try:
        assert log.wait_ready(20.0)
        assert log.page("sub-a").deliveries == []
    finally:
        follower.stop()
        follower.join(5.0)
