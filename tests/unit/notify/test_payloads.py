"""What is announced, and how: raised and re-escalated escalations, incidents opened and
closed; acknowledgements, resolutions and incident updates are not paged."""

from __future__ import annotations

import json

from socialcare.escalation.notify.payloads import for_escalation, for_incident
from socialcare.v1 import escalation_pb2, incident_pb2


def escalation_event(
    kind: escalation_pb2.EscalationEventType.ValueType,
) -> escalation_pb2.EscalationEvent:
    return escalation_pb2.EscalationEvent(
        event_id="e1",
        type=kind,
        escalation=escalation_pb2.Escalation(
            id="esc-1",
            case_id="case-9",
            tier=escalation_pb2.ESCALATION_TIER_TEAM_LEAD,
            trigger=escalation_pb2.ESCALATION_TRIGGER_VIP_NEGATIVE,
            on_call=["sanne"],
            level=2,
        ),
    )


def test_a_re_escalation_names_the_tier_trigger_and_who_is_on_call() -> None:
    note = for_escalation(escalation_event(escalation_pb2.ESCALATION_EVENT_TYPE_RE_ESCALATED))
    assert note is not None
    assert note.subject == "Re-escalated to team lead: case case-9 (vip_negative)"
    assert "On call: sanne" in note.text and note.tier == "team_lead"
    body = json.loads(note.webhook_body())
    assert body["socialcare"]["type"] == "escalation.re_escalated"
    assert body["socialcare"]["escalation"]["level"] == 2


def test_acknowledged_and_resolved_escalations_are_not_paged() -> None:
    for kind in (
        escalation_pb2.ESCALATION_EVENT_TYPE_ACKNOWLEDGED,
        escalation_pb2.ESCALATION_EVENT_TYPE_RESOLVED,
    ):
        assert for_escalation(escalation_event(kind)) is None


def test_a_closed_incident_says_it_is_over_and_an_update_is_not_paged() -> None:
    incident = incident_pb2.Incident(
        id="inc-1",
        brand="acme",
        topic="outage",
        language="nl",
        case_count=250,
        case_ids=[f"c{i}" for i in range(200)],
    )
    closed = for_incident(
        incident_pb2.IncidentEvent(
            event_id="i3", type=incident_pb2.INCIDENT_EVENT_TYPE_CLOSED, incident=incident
        )
    )
    assert closed is not None
    assert closed.subject == "Crisis over: outage for acme (nl)"
    assert "and 240 more" in closed.text  # ten listed, the rest counted
    mail = closed.email(sender="a@example.com", to=["b@example.com"], delivery_id="d1")
    assert mail["Message-ID"] == "<d1@socialcare>"
    updated = incident_pb2.IncidentEvent(
        event_id="i2", type=incident_pb2.INCIDENT_EVENT_TYPE_UPDATED, incident=incident
    )
    assert for_incident(updated) is None
