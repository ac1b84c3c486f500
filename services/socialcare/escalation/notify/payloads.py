"""What a notification says: one `Notification` per escalation or incident event, rendered
as Slack-compatible JSON for webhooks (`text` for clients that show one line, `blocks`
for those that show more, and a `socialcare` object with the structured event for
receivers that act on it) and as a plain-text e-mail.

Pure: the same event always renders the same body, so a retried delivery carries the
same bytes (only the signature's timestamp changes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from socialcare.core.clock import rfc3339
from socialcare.core.domain.cases import escalation_json
from socialcare.v1 import escalation_pb2, incident_pb2

ESCALATION = "escalation"
INCIDENT = "incident"

_ANNOUNCED_ESCALATIONS = {
    escalation_pb2.ESCALATION_EVENT_TYPE_RAISED: "raised",
    escalation_pb2.ESCALATION_EVENT_TYPE_RE_ESCALATED: "re_escalated",
}
_ANNOUNCED_INCIDENTS = {
    incident_pb2.INCIDENT_EVENT_TYPE_OPENED: "opened",
    incident_pb2.INCIDENT_EVENT_TYPE_CLOSED: "closed",
}


@dataclass(frozen=True, slots=True)
class Notification:
    """One event to tell targets about. `event_id` is the event's own id: with the
    target's name it makes the delivery id receivers deduplicate on."""

    event_id: str
    kind: str  # ESCALATION or INCIDENT
    brand: str
    tier: str  # the escalation's tier; "" for an incident
    subject: str
    text: str
    data: dict[str, Any]
    # A crisis incident's escalation just raised: targets that take incidents already got
    # the incident's own page for it (its re-escalations still go to everyone).
    covered_by_incident: bool = False

    def webhook_body(self) -> bytes:
        """The JSON body, bytes as signed and sent (compact, keys in a fixed order)."""
        blocks = [
            {"type": "header", "text": {"type": "plain_text", "text": self.subject[:150]}},
            # Slack's limits: 150 characters in a header, 3000 in a section.
            {"type": "section", "text": {"type": "mrkdwn", "text": self.text[:3000]}},
        ]
        body = {"text": self.subject, "blocks": blocks, "socialcare": self.data}
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    def email(self, *, sender: str, to: list[str], delivery_id: str) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = self.subject
        message["From"] = sender
        message["To"] = ", ".join(to)
        # Stable per event and route: a re-sent mail threads with (or is dropped as) the first.
        message["Message-ID"] = f"<{delivery_id}@socialcare>"
        message["X-Socialcare-Delivery"] = delivery_id
        message.set_content(f"{self.text}\n\n{json.dumps(self.data, indent=2)}\n")
        return message


def for_escalation(event: escalation_pb2.EscalationEvent) -> Notification | None:
    """The notification for a raised or re-escalated escalation; None for other events
    (acknowledged and resolved are seen in the console, nobody needs paging for them)."""
    action = _ANNOUNCED_ESCALATIONS.get(event.type)
    if action is None:
        return None
    view = escalation_json(event.escalation)
    tier = view["tier"]
    verb = "Escalated" if action == "raised" else "Re-escalated"
    subject = f"{verb} to {tier.replace('_', ' ')}: case {view['case_id']} ({view['trigger']})"
    due = rfc3339(event.escalation.acknowledge_by)
    lines = [
        f"*{subject}*",
        f"Reason: {view['reason'] or '-'}",
        f"Queue: {view['queue'] or '-'}, language: {view['language'] or '-'}, "
        f"brand: {view['brand'] or '-'}, level {view['level']}",
    ]
    if due:
        lines.append(f"Acknowledge by {due}")
    if view["on_call"]:
        lines.append(f"On call: {', '.join(view['on_call'])}")
    return Notification(
        event_id=event.event_id,
        kind=ESCALATION,
        brand=event.escalation.brand,
        tier=tier,
        subject=subject,
        text="\n".join(lines),
        data={"type": f"escalation.{action}", "event_id": event.event_id, "escalation": view},
        covered_by_incident=action == "raised" and bool(event.escalation.incident_id),
    )


def for_incident(event: incident_pb2.IncidentEvent) -> Notification | None:
    """The notification for an incident opened or closed; None for updates (too chatty to
    page on; the console shows them)."""
    action = _ANNOUNCED_INCIDENTS.get(event.type)
    if action is None:
        return None
    incident = event.incident
    subject = (
        f"Crisis {'opened' if action == 'opened' else 'over'}: {incident.topic} "
        f"for {incident.brand} ({incident.language})"
    )
    listed = ", ".join(list(incident.case_ids)[:10])
    more = incident.case_count - min(10, len(incident.case_ids))
    text = "\n".join(
        [
            f"*{subject}*",
            incident.summary,
            f"{incident.negative_per_hour:.0f} negative/h against a baseline of "
            f"{incident.baseline_per_hour:.0f}/h",
            f"Cases: {listed}{f' and {more} more' if more > 0 else ''}",
        ]
    )
    data = {
        "type": f"incident.{action}",
        "event_id": event.event_id,
        "incident": {
            "id": incident.id,
            "brand": incident.brand,
            "topic": incident.topic,
            "language": incident.language,
            "status": "closed" if action == "closed" else "open",
            "opened_at": rfc3339(incident.opened_at),
            "closed_at": rfc3339(incident.closed_at),
            "negative_per_hour": incident.negative_per_hour,
            "baseline_per_hour": incident.baseline_per_hour,
            "negatives_in_window": incident.negatives_in_window,
            "case_ids": list(incident.case_ids),
            "case_count": incident.case_count,
            "revision": incident.revision,
            "summary": incident.summary,
        },
    }
    return Notification(
        event_id=event.event_id,
        kind=INCIDENT,
        brand=incident.brand,
        tier="",
        subject=subject,
        text=text,
        data=data,
    )
