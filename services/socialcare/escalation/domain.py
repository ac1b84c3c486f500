"""Escalation policy: which SLA events escalate a case, to whom, and why.

Pure and stateless: the escalation id derives from the triggering event, so a redelivered
breach yields the same escalation, which consumers upsert.
"""

from __future__ import annotations

from datetime import datetime

from socialcare.core.clock import from_timestamp, rfc3339, to_timestamp
from socialcare.core.events import derived_id
from socialcare.v1 import escalation_pb2, sla_pb2


def escalation_for_sla(
    event: sla_pb2.SlaEvent, now: datetime
) -> escalation_pb2.EscalationEvent | None:
    """A first-response breach goes to the team lead of the case's queue."""
    if event.type != sla_pb2.SLA_EVENT_TYPE_BREACHED:
        return None
    overdue = (now - from_timestamp(event.due_at)).total_seconds()
    who = f"assigned to {event.assignee}" if event.assignee else "not assigned to anyone"
    escalation = escalation_pb2.Escalation(
        id=derived_id("escalation", event.event_id)[:20],
        case_id=event.case_id,
        trigger=escalation_pb2.ESCALATION_TRIGGER_SLA_BREACH,
        tier=escalation_pb2.ESCALATION_TIER_TEAM_LEAD,
        reason=(
            f"first response overdue: policy {event.policy} was due at "
            f"{rfc3339(event.due_at)} ({max(0, round(overdue))}s ago); case {who}, "
            f"queue {event.queue}, language {event.language}"
        ),
        language=event.language,
        queue=event.queue,
        raised_at=to_timestamp(now),
        cause_id=event.event_id,
    )
    return escalation_pb2.EscalationEvent(
        event_id=derived_id("escalation-event", escalation.id), escalation=escalation
    )
