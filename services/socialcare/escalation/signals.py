"""Crisis signals: care.cases in, one CrisisSignal per new inbound message out.

The crisis detector needs every inbound message once, in one ordered stream (one
partition), classified by brand, topic and language. care.cases carries the whole case
after every change; an event that added an inbound message (OPENED, MESSAGE_ADDED,
REOPENED) names that message as its `cause_id`, so the new message is the case's inbound
message with that id; other events (replies, assignments, SLA changes) add none.

Stateless: the signal's id is the message id, so a redelivered case event produces the
same signal, which the detector counts once. Label values are bounded: brands that are
configured (else `other`), topics from the crisis config (else `other`), languages the
care config names (else `other`), so a flood of odd languages cannot grow the detector's
keys without bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from socialcare.core.bus import Record
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.crisis_config import OTHER_TOPIC
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.v1 import case_pb2, incident_pb2, message_pb2

GROUP = "crisis-signals"

_ADDS_INBOUND = frozenset(
    {
        case_pb2.CASE_EVENT_TYPE_OPENED,
        case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED,
        case_pb2.CASE_EVENT_TYPE_REOPENED,
    }
)


def signal_for(care: CareConfig, event: case_pb2.CaseEvent) -> incident_pb2.CrisisSignal | None:
    """The signal for the inbound message `event` added, or None (no new inbound message,
    or crisis detection is off)."""
    if not care.crisis.enabled or event.type not in _ADDS_INBOUND or not event.cause_id:
        return None
    case = event.case
    message = next(
        (
            m
            for m in reversed(case.messages)
            if m.message_id == event.cause_id and m.direction == case_pb2.DIRECTION_INBOUND
        ),
        None,
    )
    if message is None:
        return None
    brands = {b.name for b in care.effective_brands}
    brand = case.brand if case.brand in brands else OTHER_TOPIC
    signal = incident_pb2.CrisisSignal(
        signal_id=message.message_id,
        brand=brand,
        topic=care.crisis.topic_of(case.brand, message.text),
        language=care.metric_language(message.language or case.language),
        negative=message.sentiment.label == message_pb2.SENTIMENT_LABEL_NEGATIVE,
        case_id=case.id,
    )
    signal.at.CopyFrom(message.created_at if message.created_at.seconds else event.occurred_at)
    return signal


class SignalsProcessor(TypedProcessor):
    """Group `crisis-signals`: care.cases -> escalation.crisis-signals (see module doc)."""

    def __init__(self, care: CareConfig) -> None:
        super().__init__()
        self._care = care
        self.on(Topic.CASES, case_pb2.CaseEvent, self._on_case)

    def _on_case(self, event: case_pb2.CaseEvent, record: Record) -> Sequence[Emit]:
        signal = signal_for(self._care, event)
        return [] if signal is None else [Emit(Topic.CRISIS_SIGNALS, signal)]
