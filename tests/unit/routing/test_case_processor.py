"""The case processor over real records: delivery reports on care.deliveries reach the book
of their case's partition (co-partitioned by case id), count once in
socialcare_reply_deliveries_total, and stay applied once across a rebuild from care.cases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from socialcare.core.bus import TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.domain.deliveries import DELIVERED, FAILED, delivery_event
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.routing.processor import CaseProcessor
from socialcare.v1 import case_pb2, message_pb2
from tests.unit.factories import T0
from tests.unit.memory_log import MemoryLog
from tests.unit.metrics import sample
from tests.unit.routing.harness import case_events, reply
from tests.unit.routing.test_channel_replies import CARE, WAMID, whatsapp

PARTITIONS = 3


def every_partition(processor: CaseProcessor) -> frozenset[TopicPartition]:
    return frozenset(
        TopicPartition(topic, p) for topic in processor.topics for p in range(PARTITIONS)
    )


def deliveries_counted(status: str) -> float:
    return sample("socialcare_reply_deliveries_total", channel="whatsapp", status=status)


def test_deliveries_reach_their_case_count_once_and_survive_a_rebuild(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path, default_partitions=PARTITIONS, sync="normal")
    try:
        producer = bus.producer("routing")
        records = MemoryLog(PARTITIONS)  # the buses' partitioner: where each record lands
        processor = CaseProcessor(CARE, bus, lambda: T0 + timedelta(minutes=5))
        assert Topic.DELIVERIES.value in processor.topics
        processor.prepare()
        processor.assigned(every_partition(processor))

        def process(effect: Emit) -> list[Emit]:
            effects = list(processor.process(records.record(effect)))
            # What the loop does with the effects: care.cases is routing's changelog.
            publish_effects(
                producer, [e for e in effects if e.topic == Topic.CASES], source="routing"
            )
            producer.flush()
            return effects

        opened = case_events(process(Emit(Topic.MESSAGES_ENRICHED, whatsapp("in1", written=T0))))
        case_id = opened[0].case.id
        process(Emit(Topic.COMMANDS, reply(case_id, "reply-1")))

        before = deliveries_counted("delivered")
        delivered = delivery_event(
            reply_id="reply-1",
            case_id=case_id,
            channel=message_pb2.CHANNEL_WHATSAPP,
            status=DELIVERED,
            occurred_at=T0 + timedelta(minutes=6),
            platform_message_id=WAMID,
        )
        [event] = case_events(process(Emit(Topic.DELIVERIES, delivered)))
        assert event.type == case_pb2.CASE_EVENT_TYPE_REPLY_DELIVERY
        assert process(Emit(Topic.DELIVERIES, delivered)) == []  # redelivered
        assert deliveries_counted("delivered") == before + 1

        # A failed flush: the book is rebuilt from care.cases and still knows the report.
        processor.discard()
        processor.assigned(every_partition(processor))
        rebuilt = processor.get_case(case_id)
        assert rebuilt is not None and rebuilt.messages[-1].delivery.status == DELIVERED
        assert process(Emit(Topic.DELIVERIES, delivered)) == []
        assert deliveries_counted("delivered") == before + 1
        failed_before = deliveries_counted("failed")
        failed = delivery_event(
            reply_id="reply-1",
            case_id=case_id,
            channel=message_pb2.CHANNEL_WHATSAPP,
            status=FAILED,
            occurred_at=T0 + timedelta(minutes=7),
            reason="Message undeliverable",
            error_code="131026",
        )
        [event] = case_events(process(Emit(Topic.DELIVERIES, failed)))
        assert event.type == case_pb2.CASE_EVENT_TYPE_REPLY_FAILED
        assert deliveries_counted("failed") == failed_before + 1
        shown = processor.get_case(case_id)
        assert shown is not None
        assert shown.messages[-1].delivery.error_code == "131026"
        producer.close()
    finally:
        bus.close()
