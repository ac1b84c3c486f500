"""Builders for escalation tests: SLA events, case events and commands as the services
emit them, and a book over a small escalation config."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.calendars import BusinessCalendar
from socialcare.core.domain.escalation_config import EscalationConfig
from socialcare.core.effects import Emit
from socialcare.escalation.domain import EscalationBook
from socialcare.escalation.policy import Roster
from socialcare.escalation.triggers import Triggers
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2, message_pb2, sla_pb2
from tests.unit.factories import T0

DUE = T0 + timedelta(hours=1)

# Weekdays 09:00-17:00 in Amsterdam: T0 (Monday 23 Nov 2026, 09:00 UTC = 10:00 local) is open.
OFFICE = BusinessCalendar.from_hours(
    "office", "Europe/Amsterdam", {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
)

CONFIG: dict[str, Any] = {
    "contacts": [
        {"id": "lead-day", "name": "Dana Day", "email": "dana@example.com"},
        {"id": "lead-night", "name": "Nico Night", "email": "nico@example.com"},
        {"id": "boss", "name": "Mara Manager", "email": "mara@example.com"},
        {"id": "press", "name": "Pia PR", "email": "pia@example.com"},
    ],
    "on_call": {
        "team_lead": [
            {"who": "lead-day", "calendar": "office", "teams": ["benelux"]},
            {"who": "lead-night", "teams": ["benelux"]},
        ],
        "management": [{"who": "boss"}],
        "pr": [{"who": "press"}],
    },
}


def book(**changes: Any) -> EscalationBook:
    config = EscalationConfig.model_validate({**CONFIG, **changes})
    roster = Roster(config, {"office": OFFICE}, {"benelux": "sanne", "global": "olivia"})
    return EscalationBook(roster, Triggers(config))


def sla(
    kind: sla_pb2.SlaEventType.ValueType,
    *,
    case_id: str = "case-7",
    event_id: str | None = None,
    clock: case_pb2.SlaClockKind.ValueType = case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE,
    cycle: int = 1,
    assignee: str = "olivia",
    team: str = "benelux",
    threshold: float = 0.0,
    at: datetime = DUE,
) -> sla_pb2.SlaEvent:
    return sla_pb2.SlaEvent(
        event_id=event_id or f"sla-{case_id}-{kind}-{clock}-{cycle}-{threshold}",
        type=kind,
        case_id=case_id,
        policy="nl-1h",
        language="nl",
        channel=message_pb2.CHANNEL_X,
        queue="care-nl",
        due_at=to_timestamp(DUE),
        occurred_at=to_timestamp(at),
        assignee=assignee,
        clock=clock,
        cycle=cycle,
        threshold=threshold,
        brand="acme",
        team=team,
    )


def case_event(
    text: str,
    *,
    case_id: str = "case-7",
    kind: case_pb2.CaseEventType.ValueType = case_pb2.CASE_EVENT_TYPE_OPENED,
    version: int = 1,
    sentiment: message_pb2.SentimentLabel.ValueType = message_pb2.SENTIMENT_LABEL_NEGATIVE,
    language: str = "nl",
    followers: int = 100,
    tier: str = "",
    status: case_pb2.CaseStatus.ValueType = case_pb2.CASE_STATUS_OPEN,
    assignee: str = "olivia",
    at: datetime = T0,
) -> case_pb2.CaseEvent:
    case = case_pb2.Case(
        id=case_id,
        status=status,
        language=language,
        queue="care-nl",
        assignee=assignee,
        brand="acme",
        team="benelux",
        version=version,
        customer_tier=tier,
        customer=message_pb2.Author(id="9001", handle="@kim", followers=followers),
    )
    message_id = f"{case_id}-m{version}"
    case.messages.add(
        message_id=message_id,
        direction=case_pb2.DIRECTION_INBOUND,
        text=text,
        language=language,
        sentiment=message_pb2.Sentiment(label=sentiment),
    )
    return case_pb2.CaseEvent(
        event_id=f"ce-{case_id}-{version}",
        type=kind,
        case=case,
        cause_id=message_id,
        occurred_at=to_timestamp(at),
    )


def command(case_id: str = "case-7", command_id: str = "cmd-1", **action: Any) -> Any:
    built = commands_pb2.AgentCommand(
        command_id=command_id, case_id=case_id, issued_at=to_timestamp(T0), issued_by="u-1"
    )
    for name, fields in action.items():
        getattr(built, name).CopyFrom(fields)
    return built


def events(effects: list[Emit]) -> list[escalation_pb2.EscalationEvent]:
    found = []
    for effect in effects:
        assert isinstance(effect.message, escalation_pb2.EscalationEvent)
        found.append(effect.message)
    return found


def one(effects: list[Emit]) -> escalation_pb2.EscalationEvent:
    [event] = events(effects)
    return event
