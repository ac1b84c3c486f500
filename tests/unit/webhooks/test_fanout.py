"""The fan-out: one PENDING delivery per event and matching subscription (brand, type,
active), the same ids and bytes when a record comes again, reply reports routed by their
case's brand, and replays from a point in time; then the whole engine from a case event to
a real receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.message import Message

from socialcare.core.bus import TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import new_event_id
from socialcare.v1 import case_pb2, delivery_pb2, incident_pb2, sla_pb2, webhook_pb2
from socialcare.webhooks.domain import DELIVERED, PENDING, delivery_id
from socialcare.webhooks.fanout import FanoutProcessor
from socialcare.webhooks.subscriptions import SubscriptionDirectory
from tests.unit.webhooks.receivers import receiver
from tests.unit.webhooks.world import (
    PARTITIONS,
    care,
    engine,
    latest_deliveries,
    open_bus,
    publish,
    subscription,
    wait_until,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    bus = open_bus(tmp_path / "bus")
    yield bus
    bus.close()


@pytest.fixture
def directory(bus: EmbeddedBus) -> Iterator[SubscriptionDirectory]:
    producer = bus.producer("directory")
    yield SubscriptionDirectory(producer)
    producer.close()


def case_event(
    case_id: str,
    *,
    brand: str = "acme",
    kind: case_pb2.CaseEventType.ValueType = case_pb2.CASE_EVENT_TYPE_OPENED,
    at: datetime = NOW,
) -> case_pb2.CaseEvent:
    event = case_pb2.CaseEvent(
        event_id=new_event_id(),
        type=kind,
        occurred_at=to_timestamp(at),
    )
    event.case.id = case_id
    event.case.brand = brand
    return event


def sla_event(case_id: str, *, brand: str = "acme", at: datetime = NOW) -> sla_pb2.SlaEvent:
    return sla_pb2.SlaEvent(
        event_id=new_event_id(),
        type=sla_pb2.SLA_EVENT_TYPE_BREACHED,
        case_id=case_id,
        brand=brand,
        occurred_at=to_timestamp(at),
    )


def reply_report(case_id: str, status: int = delivery_pb2.DELIVERY_STATUS_READ) -> Message:
    return delivery_pb2.ReplyDelivery(
        event_id=new_event_id(),
        reply_id="r1",
        case_id=case_id,
        status=status,  # type: ignore[arg-type]
        occurred_at=to_timestamp(NOW),
    )


def fanout(bus: EmbeddedBus, directory: SubscriptionDirectory) -> FanoutProcessor:
    processor = FanoutProcessor(care(), directory, bus, lambda: NOW)
    processor.assigned(
        frozenset(TopicPartition(t, p) for t in processor.topics for p in range(PARTITIONS))
    )
    return processor


def run(
    processor: FanoutProcessor, bus: EmbeddedBus, *messages: tuple[Topic, Message]
) -> list[webhook_pb2.WebhookDelivery]:
    """Publish `messages`, then hand the records to the processor as the loop would."""
    ends = {
        topic: bus.end_offsets(topic.value, list(range(bus.partition_count(topic.value))))
        for topic, _ in messages
    }
    publish(bus, *messages)
    made: list[webhook_pb2.WebhookDelivery] = []
    for topic, start in ends.items():
        for record in bus.replay(topic.value, start=start):
            for effect in processor.process(record):
                assert isinstance(effect, Emit) and effect.topic is Topic.WEBHOOK_DELIVERIES
                assert isinstance(effect.message, webhook_pb2.WebhookDelivery)
                made.append(effect.message)
    return made


def test_a_subscription_gets_only_its_brand_and_types(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    every = subscription("https://a.example/hook")
    sla_only = subscription("https://b.example/hook", event_types=["sla.*"])
    other = subscription("https://c.example/hook", brand="other")
    paused = subscription("https://d.example/hook", active=False)
    deleted = subscription("https://e.example/hook", deleted=True)
    default = subscription("https://f.example/hook", brand="default")
    for sub in (every, sla_only, other, paused, deleted, default):
        directory.save(sub)
    processor = fanout(bus, directory)
    made = run(
        processor,
        bus,
        (Topic.CASES, case_event("c-acme")),
        (Topic.SLA, sla_event("c-acme")),
        (Topic.SLA, sla_event("c-other", brand="other")),
        (Topic.CASES, case_event("c-unnamed", brand="")),
    )
    got = sorted((d.subscription_id, d.event_type, d.case_id) for d in made)
    assert got == sorted(
        [
            (every.id, "case.opened", "c-acme"),
            (every.id, "sla.breached", "c-acme"),
            (sla_only.id, "sla.breached", "c-acme"),
            (other.id, "sla.breached", "c-other"),
            (default.id, "case.opened", "c-unnamed"),  # no brand named: the first configured
        ]
    )
    for delivery in made:
        owner = directory.subscription(delivery.subscription_id)
        assert owner is not None and delivery.brand == owner.brand  # never another brand's
        assert json.loads(delivery.body)["brand"] == owner.brand
        assert (delivery.state, delivery.attempts, delivery.version) == (PENDING, 0, 1)
        assert from_timestamp(delivery.next_attempt_at) == NOW
        assert delivery.source.startswith(("care.cases/", "care.sla/"))


def test_a_record_seen_again_makes_the_same_deliveries(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    sub = subscription("https://a.example/hook")
    directory.save(sub)
    event = case_event("c1")
    first = run(fanout(bus, directory), bus, (Topic.CASES, event))
    second = run(fanout(bus, directory), bus, (Topic.CASES, event))
    assert [(d.delivery_id, d.body) for d in first] == [(d.delivery_id, d.body) for d in second]
    assert first[0].delivery_id == delivery_id(sub.id, event.event_id)


def test_reply_reports_follow_their_case_s_brand(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    acme = subscription("https://a.example/hook", event_types=["reply.*"])
    other = subscription("https://b.example/hook", brand="other", event_types=["reply.*"])
    directory.save(acme)
    directory.save(other)
    # A case known before this instance started: learnt from care.cases on assignment.
    publish(bus, (Topic.CASES, case_event("c-old", brand="other")))
    processor = fanout(bus, directory)
    made = run(
        processor,
        bus,
        (Topic.CASES, case_event("c-new")),
        (Topic.DELIVERIES, reply_report("c-new")),
        (Topic.DELIVERIES, reply_report("c-old", delivery_pb2.DELIVERY_STATUS_FAILED)),
        (Topic.DELIVERIES, reply_report("c-unknown")),
    )
    assert sorted((d.subscription_id, d.event_type, d.case_id) for d in made) == sorted(
        [(acme.id, "reply.read", "c-new"), (other.id, "reply.failed", "c-old")]
    )
    # An erased case (a tombstone on care.cases) is forgotten.
    producer = bus.producer("eraser")
    producer.tombstone(Topic.CASES.value, key=b"c-new")
    producer.flush()
    producer.close()
    for record in bus.replay(Topic.CASES.value):
        if record.tombstone:
            assert processor.process(record) == ()
    assert run(processor, bus, (Topic.DELIVERIES, reply_report("c-new"))) == []


def test_replay_from_a_time_sends_the_window_again_with_the_replay_id(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    sub = subscription("https://a.example/hook", event_types=["sla.*", "incident.*"])
    directory.save(sub)
    since, until = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    inside = sla_event("c1", at=NOW - timedelta(minutes=90))
    before = sla_event("c2", at=NOW - timedelta(hours=3))
    after = sla_event("c3", at=NOW - timedelta(minutes=30))
    other_brand = sla_event("c4", brand="other", at=NOW - timedelta(minutes=90))
    untyped = case_event("c5", at=NOW - timedelta(minutes=90))
    incident = incident_pb2.IncidentEvent(
        event_id=new_event_id(),
        type=incident_pb2.INCIDENT_EVENT_TYPE_OPENED,
        occurred_at=to_timestamp(NOW - timedelta(minutes=80)),
    )
    incident.incident.id = "inc-1"
    incident.incident.brand = "acme"
    processor = fanout(bus, directory)
    live = run(
        processor,
        bus,
        (Topic.SLA, inside),
        (Topic.SLA, before),
        (Topic.SLA, after),
        (Topic.SLA, other_brand),
        (Topic.CASES, untyped),
        (Topic.INCIDENTS, incident),
    )
    assert len(live) == 4  # the live fan-out: inside, before, after, incident
    command = webhook_pb2.WebhookCommand(
        command_id="replay-7",
        subscription_id=sub.id,
        issued_at=to_timestamp(NOW),
        replay_since=webhook_pb2.ReplayFromTime(
            since=to_timestamp(since), until=to_timestamp(until)
        ),
    )
    replayed = run(processor, bus, (Topic.WEBHOOK_COMMANDS, command))
    assert sorted(d.event_id for d in replayed) == sorted([inside.event_id, incident.event_id])
    for delivery in replayed:
        assert delivery.replay_id == "replay-7"
        assert delivery.delivery_id == delivery_id(sub.id, delivery.event_id, "replay-7")
    live_ids = {d.delivery_id for d in live}
    assert not live_ids & {d.delivery_id for d in replayed}  # a replay sends again
    # The same bytes as the live delivery of the same event.
    by_event = {d.event_id: d.body for d in live}
    assert all(by_event[d.event_id] == d.body for d in replayed)
    # A replay for an unknown subscription does nothing.
    stray = webhook_pb2.WebhookCommand(
        command_id="replay-8",
        subscription_id="nobody",
        replay_since=webhook_pb2.ReplayFromTime(since=to_timestamp(since)),
    )
    assert run(processor, bus, (Topic.WEBHOOK_COMMANDS, stray)) == []


def test_from_a_case_event_to_the_receiver(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver() as acme_hook, receiver() as other_hook:
        acme = subscription(acme_hook.url, event_types=["case.opened", "sla.breached"])
        other = subscription(other_hook.url, brand="other")
        directory.save(acme)
        directory.save(other)
        with engine(bus, directory):
            publish(
                bus,
                (Topic.CASES, case_event("c1")),
                (Topic.CASES, case_event("c2", kind=case_pb2.CASE_EVENT_TYPE_ASSIGNED)),
                (Topic.SLA, sla_event("c1")),
                (Topic.CASES, case_event("c3", brand="other")),
            )
            assert wait_until(
                lambda: len(acme_hook.accepted) == 2 and len(other_hook.accepted) == 1
            )
            assert wait_until(
                lambda: sum(d.state == DELIVERED for d in latest_deliveries(bus).values()) == 3
            )
        acme_types = sorted(json.loads(r.body)["type"] for r in acme_hook.accepted)
        assert acme_types == ["case.opened", "sla.breached"]
        [got] = other_hook.accepted
        assert json.loads(got.body)["subject"] == "c3"
        assert all(r.verified for r in (*acme_hook.received, *other_hook.received))


def test_the_fan_out_refuses_topics_that_are_not_co_partitioned(tmp_path: Path) -> None:
    lopsided = EmbeddedBus(tmp_path / "lopsided", default_partitions=2, sync="normal")
    try:
        lopsided.create_topics([Topic.CASES.value], 2, compacted=True)
        lopsided.create_topics([Topic.DELIVERIES.value], 3)
        processor = FanoutProcessor(care(), SubscriptionDirectory(), lopsided, lambda: NOW)
        with pytest.raises(RuntimeError, match="co-partitioned"):
            processor.prepare()
    finally:
        lopsided.close()


def test_the_fan_out_accepts_co_partitioned_topics(bus: EmbeddedBus) -> None:
    FanoutProcessor(care(), SubscriptionDirectory(), bus, lambda: NOW).prepare()
