"""The sla processor in the real consumer loop (embedded bus, real time): a clock's
warnings and breach reach care.sla within a second of their instants at the loop's default
tick cadence (a tick after every poll, an idle poll returning after 0.2 s)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.clock import utc_now
from socialcare.core.consumer_loop import ConsumerLoop
from socialcare.core.domain import sla_clocks
from socialcare.core.domain.care_config import load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.events import decode
from socialcare.sla.processor import GROUP, SlaProcessor
from socialcare.v1 import sla_pb2
from tests.unit.sla.lives import FR, POLICY, Life

PARTITIONS = 2


def test_timers_fire_within_a_second_through_the_loop(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path, default_partitions=PARTITIONS, sync="normal")
    bus.create_topics([Topic.CASES.value], PARTITIONS, compacted=True)
    bus.create_topics([Topic.SLA.value], PARTITIONS)
    processor = SlaProcessor(load_care_config(), bus, utc_now)
    producer = bus.producer(GROUP)
    loop = ConsumerLoop(
        bus, group=GROUP, topics=processor.topics, processor=processor, producer=producer
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        assert loop.ready.wait(10)
        life = Life("fast")
        opened_at = utc_now() + timedelta(seconds=1)
        life.case.sla.CopyFrom(
            sla_clocks.start_clock(
                kind=FR,
                cycle=1,
                policy=POLICY,
                target_seconds=2.0,
                calendar_name="",
                calendar=None,
                at=opened_at,
            )
        )
        routing = bus.producer("routing")
        publish_effects(routing, [Emit(Topic.CASES, life.commit(opened_at))], source="routing")
        routing.flush()
        routing.close()

        seen: dict[str, tuple[sla_pb2.SlaEvent, float]] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(seen) < 4:
            for record in bus.replay(Topic.SLA.value):
                event = decode(record, sla_pb2.SlaEvent)
                seen.setdefault(event.event_id, (event, time.time()))
            time.sleep(0.02)
    finally:
        loop.stop()
        thread.join(10)
        producer.close()
        bus.close()

    types = sorted(sla_pb2.SlaEventType.Name(e.type) for e, _ in seen.values())
    assert types == [
        "SLA_EVENT_TYPE_BREACHED",
        "SLA_EVENT_TYPE_STARTED",
        "SLA_EVENT_TYPE_WARNING",
        "SLA_EVENT_TYPE_WARNING",
    ]
    for event, at in seen.values():
        if event.type in (sla_pb2.SLA_EVENT_TYPE_WARNING, sla_pb2.SLA_EVENT_TYPE_BREACHED):
            instant = event.occurred_at.ToDatetime(tzinfo=UTC)
            lag = at - instant.timestamp()
            assert 0 <= lag < 1.0, f"{sla_pb2.SlaEventType.Name(event.type)} {lag:.3f} s late"
            assert instant <= datetime.fromtimestamp(at, UTC)
