"""The webhook engine on a real embedded bus (a tmp dir): the subscriptions directory, the
fan-out and sender consumer loops in threads, and helpers to publish events and read the
deliveries' latest states back from webhooks.deliveries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf.message import Message

from socialcare.core.bus import Producer
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.clock import to_timestamp, utc_now
from socialcare.core.consumer_loop import ConsumerLoop, RecordProcessor
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.events import decode, new_event_id
from socialcare.v1 import webhook_pb2
from socialcare.webhooks import fanout, sender
from socialcare.webhooks.domain import RetrySchedule
from socialcare.webhooks.subscriptions import SubscriptionDirectory
from tests.unit.loop_support import laid_out_bus

PARTITIONS = 2


def open_bus(path: Path) -> EmbeddedBus:
    return laid_out_bus(path, PARTITIONS)


def publish(bus: EmbeddedBus, *messages: tuple[Topic, Message]) -> None:
    producer = bus.producer("test")
    publish_effects(producer, [Emit(topic, message) for topic, message in messages], source="test")
    producer.flush()
    producer.close()


def subscription(url: str, **fields: object) -> webhook_pb2.WebhookSubscription:
    base: dict[str, object] = {
        "id": new_event_id(),
        "brand": "acme",
        "url": url,
        "secret": "s3cret",
        "active": True,
        "created_at": to_timestamp(datetime.now(UTC)),
    }
    base.update(fields)
    return webhook_pb2.WebhookSubscription(**base)  # type: ignore[arg-type]


def latest_deliveries(bus: EmbeddedBus) -> dict[str, webhook_pb2.WebhookDelivery]:
    """Every delivery's latest version on webhooks.deliveries (tombstoned ones absent)."""
    found: dict[str, webhook_pb2.WebhookDelivery] = {}
    for record in bus.replay(Topic.WEBHOOK_DELIVERIES.value):
        key = (record.key or b"").decode()
        if record.tombstone:
            found.pop(key, None)
            continue
        delivery = decode(record, webhook_pb2.WebhookDelivery)
        if key not in found or found[key].version <= delivery.version:
            found[key] = delivery
    return found


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@dataclass
class Engine:
    bus: EmbeddedBus
    directory: SubscriptionDirectory
    sender: sender.SenderProcessor
    fanout: fanout.FanoutProcessor
    loops: list[ConsumerLoop] = field(default_factory=list)


def care() -> CareConfig:
    return load_care_config()


@contextmanager
def engine(
    bus: EmbeddedBus,
    directory: SubscriptionDirectory,
    *,
    schedule: RetrySchedule | None = None,
    options: sender.SenderOptions | None = None,
    with_fanout: bool = True,
) -> Iterator[Engine]:
    """The fan-out and sender loops (and the sender's command follower) running."""
    delivering = sender.SenderProcessor(
        directory,
        bus,
        utc_now,
        schedule=schedule or RetrySchedule(base_s=0.05, max_s=0.2, horizon_s=60),
        options=options
        or sender.SenderOptions(timeout_s=2.0, allow_private_targets=True, workers=8),
    )
    fan_out = fanout.FanoutProcessor(care(), directory, bus, utc_now)
    world = Engine(bus, directory, delivering, fan_out)
    producers: list[Producer] = []
    threads: list[threading.Thread] = []
    pairs: list[tuple[str, RecordProcessor, tuple[str, ...]]] = [
        (sender.GROUP, delivering, delivering.topics)
    ]
    if with_fanout:
        pairs.append((fanout.GROUP, fan_out, fan_out.topics))
    for group, processor, topics in pairs:
        producer = bus.producer(group)
        producers.append(producer)
        loop = ConsumerLoop(
            bus,
            group=group,
            topics=topics,
            processor=processor,
            producer=producer,
            poll_timeout_s=0.05,
            commit_interval_s=0.1,
            max_backoff_s=0.2,
        )
        world.loops.append(loop)
        threads.append(threading.Thread(target=loop.run, daemon=True))
    delivering.follower.start()
    for thread in threads:
        thread.start()
    try:
        yield world
    finally:
        for loop in world.loops:
            loop.stop()
        for thread in threads:
            thread.join(15)
        delivering.follower.stop()
        delivering.follower.join(5)
        delivering.close()
        for producer in producers:
            producer.close()
