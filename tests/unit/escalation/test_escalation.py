"""Escalation over real records: a breach on care.sla becomes one escalation on
care.escalations (same one when the breach comes again); anything else, none."""

from __future__ import annotations

from datetime import timedelta

import pytest

from socialcare.core.bus import Record
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, derived_id
from socialcare.escalation.processor import EscalationProcessor
from socialcare.v1 import escalation_pb2, message_pb2, sla_pb2
from tests.unit.factories import T0
from tests.unit.memory_log import MemoryLog
from tests.unit.metrics import sample

DUE = T0 + timedelta(hours=1)
NOW = DUE + timedelta(minutes=5)


def sla_event(kind: sla_pb2.SlaEventType.ValueType, *, assignee: str = "") -> sla_pb2.SlaEvent:
    return sla_pb2.SlaEvent(
        event_id=f"sla-{kind}",
        type=kind,
        case_id="case-7",
        policy="en-1h",
        language="en",
        channel=message_pb2.CHANNEL_X,
        queue="care-en",
        due_at=to_timestamp(DUE),
        occurred_at=to_timestamp(DUE),
        elapsed_seconds=3600,
        assignee=assignee,
    )


def raised() -> float:
    return sample(
        "socialcare_escalations_total", trigger="sla_breach", tier="team_lead", queue="care-en"
    )


@pytest.fixture
def processor() -> EscalationProcessor:
    return EscalationProcessor(lambda: NOW)


def test_it_handles_care_sla(processor: EscalationProcessor) -> None:
    assert processor.topics == (Topic.SLA.value,)


def test_a_breach_escalates_to_the_team_lead_of_the_queue(processor: EscalationProcessor) -> None:
    breach = sla_event(sla_pb2.SLA_EVENT_TYPE_BREACHED, assignee="olivia")
    record = MemoryLog(3).record(Emit(Topic.SLA, breach))
    before = raised()
    [effect] = processor.process(record)
    assert effect.topic is Topic.ESCALATIONS and effect.key == "case-7"
    assert isinstance(effect.message, escalation_pb2.EscalationEvent)
    escalation = effect.message.escalation
    assert escalation.id == derived_id("escalation", breach.event_id)[:20]
    assert effect.event_id == derived_id("escalation-event", escalation.id)
    assert (escalation.case_id, escalation.cause_id, escalation.queue) == (
        "case-7",
        breach.event_id,
        "care-en",
    )
    assert escalation.trigger == escalation_pb2.ESCALATION_TRIGGER_SLA_BREACH
    assert escalation.tier == escalation_pb2.ESCALATION_TIER_TEAM_LEAD
    assert "(300s ago)" in escalation.reason and "assigned to olivia" in escalation.reason
    assert raised() == before + 1


def test_the_same_breach_again_is_the_same_escalation(processor: EscalationProcessor) -> None:
    record = MemoryLog(3).record(Emit(Topic.SLA, sla_event(sla_pb2.SLA_EVENT_TYPE_BREACHED)))
    [first] = processor.process(record)
    [again] = processor.process(record)
    assert again.event_id == first.event_id
    assert isinstance(first.message, escalation_pb2.EscalationEvent)
    assert isinstance(again.message, escalation_pb2.EscalationEvent)
    assert again.message.escalation.id == first.message.escalation.id
    assert "not assigned to anyone" in first.message.escalation.reason


def test_a_met_sla_escalates_nothing(processor: EscalationProcessor) -> None:
    record = MemoryLog(3).record(Emit(Topic.SLA, sla_event(sla_pb2.SLA_EVENT_TYPE_MET)))
    before = raised()
    assert processor.process(record) == ()
    assert raised() == before


def test_a_record_of_another_type_is_poison(processor: EscalationProcessor) -> None:
    record = Record(
        topic=Topic.SLA.value,
        partition=0,
        offset=0,
        key=b"case-7",
        value=b"\x0a\x01x",
        headers=(("event-type", b"socialcare.v1.CaseEvent"),),
    )
    with pytest.raises(InvalidRecordError):
        processor.process(record)
