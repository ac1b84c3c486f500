"""Wiring for escalation: care.sla in, care.escalations out."""

from __future__ import annotations

from prometheus_client import Counter

from socialcare.core.bus import Producer, Record
from socialcare.core.cases import escalation_json
from socialcare.core.clock import Clock, utc_now
from socialcare.core.consumer_loop import RecordProcessor
from socialcare.core.events import decode, publish
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.core.topics import Topic
from socialcare.escalation.pipeline import escalation_for_sla
from socialcare.v1 import sla_pb2

GROUP = "escalation"

ESCALATIONS_RAISED = Counter(
    "socialcare_escalations_total",
    "Escalations raised, by trigger, tier and queue.",
    ["trigger", "tier", "queue"],
)


class EscalationProcessor(RecordProcessor):
    def __init__(self, producer: Producer, clock: Clock) -> None:
        self._producer = producer
        self._clock = clock

    def process(self, record: Record) -> None:
        event = escalation_for_sla(decode(record, sla_pb2.SlaEvent), self._clock())
        if event is None:
            return
        escalation = event.escalation
        publish(
            self._producer,
            Topic.ESCALATIONS,
            event,
            key=escalation.case_id,
            event_id=event.event_id,
            source="escalation",
        )
        view = escalation_json(escalation)
        ESCALATIONS_RAISED.labels(view["trigger"], view["tier"], escalation.queue).inc()


def parts(runtime: Runtime) -> ServiceParts:
    loop = runtime.consumer_loop(
        GROUP, [Topic.SLA.value], lambda producer: EscalationProcessor(producer, utc_now)
    )
    return ServiceParts(components=[loop])
