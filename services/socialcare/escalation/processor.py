"""The escalation consumer-loop plug-in: SLA events in, escalations out.

Stateless: the escalation derives from the SLA event (its id from the event id), so a
redelivered or re-emitted breach yields the same escalation, which consumers upsert.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter

from socialcare.core.bus import Record
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.cases import escalation_json
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.escalation.domain import escalation_for_sla
from socialcare.v1 import sla_pb2

GROUP = "escalation"

ESCALATIONS_RAISED = Counter(
    "socialcare_escalations_total",
    "Escalations raised, by trigger, tier and queue.",
    ["trigger", "tier", "queue"],
)


class EscalationProcessor(TypedProcessor):
    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock
        self.on(Topic.SLA, sla_pb2.SlaEvent, self._on_sla)

    def _on_sla(self, event: sla_pb2.SlaEvent, record: Record) -> Sequence[Emit]:
        escalated = escalation_for_sla(event, self._clock())
        if escalated is None:
            return ()
        view = escalation_json(escalated.escalation)
        ESCALATIONS_RAISED.labels(view["trigger"], view["tier"], escalated.escalation.queue).inc()
        return [Emit(Topic.ESCALATIONS, escalated)]
