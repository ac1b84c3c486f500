"""The escalation consumer-loop plug-in: decode inputs, apply the domain, emit effects."""

from __future__ import annotations

from prometheus_client import Counter

from socialcare.core.bus import Producer, Record
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import RecordProcessor
from socialcare.core.domain.cases import escalation_json
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode, publish
from socialcare.escalation.domain import escalation_for_sla
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
