"""The subscriptions directory: saved durably and applied at once, rebuilt by a new
process from webhooks.subscriptions, followed as other processes change it, matched per
brand and type (never another brand's), and deleted subscriptions out of every listing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.domain.topics import Topic
from socialcare.webhooks.subscriptions import (
    SubscriptionDirectory,
    SubscriptionsFollower,
    load_subscriptions,
)
from tests.unit.webhooks.world import open_bus, subscription, wait_until


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    bus = open_bus(tmp_path / "bus")
    yield bus
    bus.close()


def test_save_applies_at_once_and_a_new_process_rebuilds_it(bus: EmbeddedBus) -> None:
    producer = bus.producer("api")
    directory = SubscriptionDirectory(producer)
    first = subscription("https://a.example/hook", event_types=["case.opened"])
    directory.save(first)
    assert first.record_id
    got = directory.subscription(first.id)
    assert got == first
    got_copy = directory.subscription(first.id)
    assert got_copy is not None
    got_copy.url = "https://changed.example"  # a copy: the directory is unchanged
    assert directory.subscription(first.id) == first
    rebuilt, end = load_subscriptions(bus, None)
    assert rebuilt.subscription(first.id) == first
    assert end == 1
    with pytest.raises(RuntimeError, match="read-only"):
        rebuilt.save(subscription("https://b.example"))
    producer.close()


def test_every_change_gets_a_new_record_id_and_the_later_wins(bus: EmbeddedBus) -> None:
    producer = bus.producer("api")
    directory = SubscriptionDirectory(producer)
    sub = subscription("https://a.example/hook")
    directory.save(sub)
    first_record = sub.record_id
    sub.url = "https://b.example/hook"
    directory.save(sub)
    assert sub.record_id != first_record
    rebuilt, _ = load_subscriptions(bus, None)
    found = rebuilt.subscription(sub.id)
    assert found is not None and found.url == "https://b.example/hook"
    assert len(list(bus.replay(Topic.WEBHOOK_SUBSCRIPTIONS.value))) >= 1
    producer.close()


def test_matching_is_per_brand_and_type(bus: EmbeddedBus) -> None:
    directory = SubscriptionDirectory(bus.producer("api"))
    acme_all = subscription("https://a.example", brand="acme")
    acme_sla = subscription("https://b.example", brand="acme", event_types=["sla.breached"])
    other = subscription("https://c.example", brand="other")
    paused = subscription("https://d.example", brand="acme", active=False)
    for sub in (acme_all, acme_sla, other, paused):
        directory.save(sub)
    assert {s.id for s in directory.for_event("acme", "sla.breached")} == {
        acme_all.id,
        acme_sla.id,
    }
    assert {s.id for s in directory.for_event("acme", "case.opened")} == {acme_all.id}
    assert {s.id for s in directory.for_event("other", "sla.breached")} == {other.id}
    assert directory.for_event("nobody", "sla.breached") == []
    assert {s.id for s in directory.subscriptions("acme")} == {acme_all.id, acme_sla.id, paused.id}
    assert len(directory.subscriptions()) == 4
    # Moving a subscription to another brand moves it in the index too.
    acme_all.brand = "other"
    directory.save(acme_all)
    assert {s.id for s in directory.for_event("acme", "case.opened")} == set()
    assert {s.id for s in directory.for_event("other", "case.opened")} == {acme_all.id, other.id}


def test_deleted_subscriptions_leave_every_listing(bus: EmbeddedBus) -> None:
    directory = SubscriptionDirectory(bus.producer("api"))
    sub = subscription("https://a.example")
    directory.save(sub)
    sub.deleted = True
    sub.active = False
    directory.save(sub)
    assert directory.subscription(sub.id) is None
    known = directory.known(sub.id)
    assert known is not None and known.deleted
    assert directory.subscriptions() == [] == directory.for_event("acme", "case.opened")
    rebuilt, _ = load_subscriptions(bus, None)
    assert rebuilt.subscription(sub.id) is None


def test_a_follower_applies_another_process_s_changes(bus: EmbeddedBus) -> None:
    writer = SubscriptionDirectory(bus.producer("gateway"))
    early = subscription("https://a.example")
    writer.save(early)
    reader, end = load_subscriptions(bus, None)
    follower = SubscriptionsFollower(bus, reader, end)
    follower.start()
    try:
        later = subscription("https://b.example", brand="other")
        writer.save(later)
        assert wait_until(lambda: reader.subscription(later.id) is not None, 10)
        early.active = False
        writer.save(early)
        assert wait_until(lambda: reader.for_event("acme", "case.opened") == [], 10)
    finally:
        follower.stop()
        follower.join(5)
    assert follower.followed == 2


def test_a_tombstone_forgets_a_subscription(bus: EmbeddedBus) -> None:
    directory = SubscriptionDirectory(bus.producer("api"))
    sub = subscription("https://a.example")
    directory.save(sub)
    producer = bus.producer("cleanup")
    producer.tombstone(Topic.WEBHOOK_SUBSCRIPTIONS.value, key=sub.id.encode())
    producer.flush()
    producer.close()
    rebuilt, _ = load_subscriptions(bus, None)
    assert rebuilt.known(sub.id) is None
