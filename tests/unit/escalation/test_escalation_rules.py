"""The case rules of the escalation commands, as the gateway applies them for a fast answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from socialcare.core.domain import case_rules
from socialcare.core.domain.care_config import load_care_config
from socialcare.core.domain.case_rules import CommandRejectedError, RejectionCode
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2
from tests.unit.factories import T0

CARE = load_care_config()
E = escalation_pb2


def escalate(
    reason: str = "needs a lead", tier: str = "", agent: str = "olivia"
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id="c-1",
        case_id="case-1",
        escalate=commands_pb2.EscalateCase(agent=agent, reason=reason, tier=tier),
    )


def test_an_escalation_request_is_an_agent_command_of_its_own() -> None:
    case = case_pb2.Case(id="case-1", status=case_pb2.CASE_STATUS_ASSIGNED)
    agent = case_rules.check_command(case, escalate(tier="specialist"), CARE, T0)
    assert agent.id == "olivia"


@pytest.mark.parametrize(
    ("command", "status", "code", "field"),
    [
        (escalate(reason="  "), case_pb2.CASE_STATUS_OPEN, RejectionCode.REASON_EMPTY, "reason"),
        (
            escalate(reason="x" * (case_rules.ESCALATION_REASON_MAX_CHARS + 1)),
            case_pb2.CASE_STATUS_OPEN,
            RejectionCode.REASON_TOO_LONG,
            "reason",
        ),
        (escalate(tier="pr"), case_pb2.CASE_STATUS_OPEN, RejectionCode.UNKNOWN_TIER, "tier"),
        (escalate(), case_pb2.CASE_STATUS_RESOLVED, RejectionCode.CASE_RESOLVED, None),
        (escalate(agent="nobody"), case_pb2.CASE_STATUS_OPEN, RejectionCode.UNKNOWN_AGENT, "agent"),
    ],
)
def test_what_an_escalation_request_needs(
    command: commands_pb2.AgentCommand,
    status: case_pb2.CaseStatus.ValueType,
    code: RejectionCode,
    field: str | None,
) -> None:
    case = case_pb2.Case(id="case-1", status=status)
    with pytest.raises(CommandRejectedError) as raised:
        case_rules.check_command(case, command, CARE, T0)
    assert (raised.value.code, raised.value.field) == (code, field)
    assert raised.value.is_conflict == (code == RejectionCode.CASE_RESOLVED)


def test_acknowledge_and_resolve_follow_the_escalation_as_the_case_shows_it() -> None:
    case = case_pb2.Case(id="case-1")
    case.escalations.add(id="e-open", status=E.ESCALATION_STATUS_OPEN)
    case.escalations.add(id="e-old")  # an older record without a status: open
    case.escalations.add(
        id="e-taken", status=E.ESCALATION_STATUS_ACKNOWLEDGED, acknowledged_by="sanne"
    )
    case.escalations.add(id="e-done", status=E.ESCALATION_STATUS_RESOLVED, resolved_by="mara")
    assert case_rules.escalation_on_case(case, "nope") is None
    for open_id in ("e-open", "e-old"):
        found = case_rules.escalation_on_case(case, open_id)
        assert found is not None
        case_rules.check_acknowledge(found)
        case_rules.check_resolve_escalation(found, commands_pb2.ResolveEscalation())
    taken = case_rules.escalation_on_case(case, "e-taken")
    assert taken is not None
    with pytest.raises(CommandRejectedError, match="acknowledged by sanne") as raised:
        case_rules.check_acknowledge(taken)
    assert raised.value.is_conflict
    case_rules.check_resolve_escalation(taken, commands_pb2.ResolveEscalation(note="done"))
    done = case_rules.escalation_on_case(case, "e-done")
    assert done is not None
    checks: list[Callable[[], None]] = [
        lambda: case_rules.check_acknowledge(done),
        lambda: case_rules.check_resolve_escalation(done, commands_pb2.ResolveEscalation()),
    ]
    for check in checks:
        with pytest.raises(CommandRejectedError, match=r"resolved.*\(by mara\)") as raised:
            check()
        assert raised.value.code == RejectionCode.ESCALATION_RESOLVED
    with pytest.raises(CommandRejectedError) as too_long:
        case_rules.check_resolve_escalation(
            taken, commands_pb2.ResolveEscalation(note="x" * (case_rules.NOTE_MAX_CHARS + 1))
        )
    assert (too_long.value.code, too_long.value.field) == (RejectionCode.NOTE_TOO_LONG, "note")
