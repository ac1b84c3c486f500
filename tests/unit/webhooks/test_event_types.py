"""The event catalogue: every public event type has a name and a description, and a record
becomes a CloudEvents 1.0 envelope with deterministic bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from google.protobuf.descriptor import EnumDescriptor

from socialcare.core.clock import to_timestamp
from socialcare.core.domain import event_types
from socialcare.core.domain.event_types import (
    EVENT_TYPES,
    SOURCES,
    describe,
    event_body,
    subscribed,
    unknown_event_types,
)
from socialcare.core.domain.topics import REGISTRY, Topic
from socialcare.v1 import case_pb2, delivery_pb2, escalation_pb2, incident_pb2, sla_pb2

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

ENUMS = [
    (Topic.CASES, case_pb2.CaseEventType.DESCRIPTOR, "case"),
    (Topic.SLA, sla_pb2.SlaEventType.DESCRIPTOR, "sla"),
    (Topic.ESCALATIONS, escalation_pb2.EscalationEventType.DESCRIPTOR, "escalation"),
    (Topic.INCIDENTS, incident_pb2.IncidentEventType.DESCRIPTOR, "incident"),
    (Topic.DELIVERIES, delivery_pb2.DeliveryStatus.DESCRIPTOR, "reply"),
]


@pytest.mark.parametrize(("topic", "enum", "noun"), ENUMS)
def test_every_enum_value_has_a_described_event_type(
    topic: Topic, enum: EnumDescriptor, noun: str
) -> None:
    for value in enum.values:
        if value.number == 0:
            continue
        name = f"{noun}.{value.name.split('_', 3 if noun != 'reply' else 2)[-1].lower()}"
        assert name in EVENT_TYPES, value.name
        assert EVENT_TYPES[name].topic is topic
        assert name in event_types.DESCRIPTIONS, f"describe {name} in DESCRIPTIONS"


def test_catalogue_names_the_issue_s_examples_and_only_public_topics() -> None:
    for name in (
        "case.opened",
        "case.message_added",
        "case.assigned",
        "sla.started",
        "sla.warning",
        "sla.breached",
        "sla.met",
        "escalation.raised",
        "incident.opened",
        "reply.sent",
        "reply.delivered",
        "reply.read",
        "reply.failed",
    ):
        assert name in EVENT_TYPES
    assert set(event_types.DESCRIPTIONS) == set(EVENT_TYPES)
    for source in SOURCES.values():
        assert REGISTRY[source.topic].public
        assert REGISTRY[source.topic].message_type is source.message_type
    assert len(EVENT_TYPES) == len({t.name for t in EVENT_TYPES.values()})


def test_unknown_types_and_matching() -> None:
    assert unknown_event_types(["case.opened", "case.exploded", "sla.met"]) == ["case.exploded"]
    assert subscribed([], "sla.met")
    assert subscribed(["sla.met"], "sla.met")
    assert not subscribed(["sla.breached"], "sla.met")


def _case_event() -> case_pb2.CaseEvent:
    event = case_pb2.CaseEvent(
        event_id="ev-1",
        type=case_pb2.CASE_EVENT_TYPE_ASSIGNED,
        occurred_at=to_timestamp(T0),
        cause_id="cmd-9",
    )
    event.case.id = "case-1"
    event.case.brand = "acme"
    event.case.version = 7
    event.case.status = case_pb2.CASE_STATUS_ASSIGNED
    event.case.assignee = "agent-é"
    return event


def test_case_event_envelope_golden() -> None:
    event = describe(Topic.CASES, _case_event())
    assert event is not None
    assert (event.id, event.type, event.case_id, event.brand) == (
        "ev-1",
        "case.assigned",
        "case-1",
        "acme",
    )
    body = event_body(event, brand="acme")
    assert (
        body
        == (
            '{"brand":"acme","data":{"case":{"assignee":"agent-é","brand":"acme","id":"case-1",'
            '"status":"CASE_STATUS_ASSIGNED","version":"7"},"cause_id":"cmd-9","event_id":"ev-1",'
            '"occurred_at":"2026-11-23T09:00:00Z","type":"CASE_EVENT_TYPE_ASSIGNED"},'
            '"datacontenttype":"application/json","id":"ev-1","source":"socialcare/care.cases",'
            '"specversion":"1.0","subject":"case-1","time":"2026-11-23T09:00:00Z",'
            '"type":"case.assigned"}'
        ).encode()
    )
    # Deterministic: the same record gives the same bytes.
    again = describe(Topic.CASES, _case_event())
    assert again is not None
    assert event_body(again, brand="acme") == body


def test_each_source_yields_its_subject_case_and_brand() -> None:
    sla = sla_pb2.SlaEvent(
        event_id="s1", type=sla_pb2.SLA_EVENT_TYPE_BREACHED, case_id="c1", brand="b1"
    )
    esc = escalation_pb2.EscalationEvent(
        event_id="e1", type=escalation_pb2.ESCALATION_EVENT_TYPE_RAISED
    )
    esc.escalation.case_id = "c2"
    esc.escalation.brand = "b2"
    inc = incident_pb2.IncidentEvent(event_id="i1", type=incident_pb2.INCIDENT_EVENT_TYPE_CLOSED)
    inc.incident.id = "inc-1"
    inc.incident.brand = "b3"
    rep = delivery_pb2.ReplyDelivery(
        event_id="d1", case_id="c4", status=delivery_pb2.DELIVERY_STATUS_READ
    )
    got = [
        describe(t, m)
        for t, m in [
            (Topic.SLA, sla),
            (Topic.ESCALATIONS, esc),
            (Topic.INCIDENTS, inc),
            (Topic.DELIVERIES, rep),
        ]
    ]
    summary = [(e.type, e.subject, e.case_id, e.brand, e.id) for e in got if e is not None]
    assert summary == [
        ("sla.breached", "c1", "c1", "b1", "s1"),
        ("escalation.raised", "c2", "c2", "b2", "e1"),
        ("incident.closed", "inc-1", "", "b3", "i1"),
        ("reply.read", "c4", "c4", None, "d1"),
    ]
    inc_event = got[2]
    assert inc_event is not None
    envelope = json.loads(event_body(inc_event, brand="b3", time=T0))
    assert envelope["time"] == "2026-11-23T09:00:00Z"  # the fallback time
    assert envelope["subject"] == "inc-1"


def test_records_without_a_public_type_are_no_events() -> None:
    assert describe(Topic.CASES, case_pb2.CaseEvent(event_id="x")) is None
    assert describe(Topic.COMMANDS, case_pb2.CaseEvent(event_id="x")) is None
    assert describe("no.such.topic", case_pb2.CaseEvent(event_id="x")) is None


def test_noun_patterns_match_every_type_of_the_noun() -> None:
    assert subscribed(["sla.*"], "sla.breached")
    assert not subscribed(["sla.*"], "case.opened")
    assert not subscribed(["sl.*"], "sla.breached")
    assert unknown_event_types(["sla.*", "case.*", "nothing.*", "*"]) == ["nothing.*", "*"]


def test_event_type_names_its_data_message() -> None:
    assert EVENT_TYPES["case.opened"].message_type is case_pb2.CaseEvent
    assert EVENT_TYPES["reply.failed"].message_type is delivery_pb2.ReplyDelivery


def test_ping_body() -> None:
    body = event_types.ping_body(subscription_id="sub-1", brand="acme", event_id="p1", now=T0)
    assert json.loads(body) == {
        "specversion": "1.0",
        "id": "p1",
        "source": "socialcare/webhooks",
        "type": "webhook.ping",
        "time": "2026-11-23T09:00:00Z",
        "subject": "sub-1",
        "datacontenttype": "application/json",
        "brand": "acme",
        "data": {"subscription_id": "sub-1", "brand": "acme"},
    }
