"""Agent actions as `AgentCommand`s for routing: ids, time and the action, nothing more.

Whether a command applies to a case is not decided here: `core.domain.case_rules` is the
one home of those rules, used by the gateway (for a fast 4xx) and by routing (the final
judge). This module only builds the command a request asks for, with the id that makes a
retried request the same command.

Pure functions: no I/O.
"""

from __future__ import annotations

from datetime import datetime

from socialcare.core.clock import to_timestamp
from socialcare.core.events import derived_id, new_event_id
from socialcare.v1 import commands_pb2, escalation_pb2


def command_id(case_id: str, action: str, idempotency_key: str | None) -> str:
    """A fresh id, or with the client's idempotency key a stable one.

    Routing applies each command id at most once, so a client that retries a request with
    the same `Idempotency-Key` (after a timeout, say) cannot make the customer get the
    same reply twice.
    """
    if idempotency_key is None:
        return new_event_id()
    return derived_id("gateway", case_id, action, idempotency_key)


def reply(
    case_id: str,
    agent: str,
    text: str | None,
    *,
    template: commands_pb2.MessageTemplate | None = None,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """A ReplyToCase command: `agent` sends `text`, or the message `template`, to the
    customer on the case's channel."""
    command = _command(case_id, "reply", idempotency_key, now)
    command.reply.agent = agent
    command.reply.text = text or ""
    if template is not None:
        command.reply.template.CopyFrom(template)
    return command


def assign(
    case_id: str,
    agent: str,
    *,
    idempotency_key: str | None,
    now: datetime,
    reason: str = "",
    by: str = "",
) -> commands_pb2.AgentCommand:
    """An AssignCase command: `agent` becomes the case's owner; with a `reason` (a
    transfer) the reason is kept on the case for the next owner."""
    command = _command(case_id, "assign", idempotency_key, now)
    command.assign.agent = agent
    command.assign.reason = reason
    command.assign.by = by
    return command


def note(
    case_id: str,
    agent: str,
    text: str,
    *,
    consult: str = "",
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """An AddNote command: an internal note by `agent`, asking `consult` for advice when
    given."""
    command = _command(case_id, "note", idempotency_key, now)
    command.note.agent = agent
    command.note.text = text
    command.note.consult = consult
    return command


def resolve(
    case_id: str, agent: str, *, idempotency_key: str | None, now: datetime
) -> commands_pb2.AgentCommand:
    """A ResolveCase command: `agent` closes the case."""
    command = _command(case_id, "resolve", idempotency_key, now)
    command.resolve.agent = agent
    return command


def escalate(
    case_id: str,
    agent: str,
    reason: str,
    tier: str | None,
    *,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """An EscalateCase command: `agent` asks for help (`reason`, stripped) at `tier`, or
    without one where the agent-request policy starts."""
    command = _command(case_id, "escalate", idempotency_key, now)
    command.escalate.agent = agent
    command.escalate.reason = reason.strip()
    command.escalate.tier = tier or ""
    return command


def acknowledge_escalation(
    case_id: str, escalation: escalation_pb2.Escalation, by: str, *, now: datetime
) -> commands_pb2.AgentCommand:
    """An AcknowledgeEscalation command: `by` takes `escalation` (as its case shows it).

    One acknowledgement per escalation and revision: the id is derived from both, so a
    retry, from the REST route or the console, is the same command."""
    command = _command(
        case_id, "acknowledge_escalation", f"{escalation.id}:{escalation.revision}", now
    )
    command.acknowledge_escalation.escalation_id = escalation.id
    command.acknowledge_escalation.by = by
    return command


def resolve_escalation(
    case_id: str,
    escalation: escalation_pb2.Escalation,
    by: str,
    note: str | None,
    *,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """A ResolveEscalation command: `by` closes `escalation`, with a `note` (stripped) of
    what was done. One resolution per escalation: a retry, from the REST route or the
    console, is the same command."""
    command = _command(case_id, "resolve_escalation", f"{escalation.id}:resolve", now)
    command.resolve_escalation.escalation_id = escalation.id
    command.resolve_escalation.by = by
    command.resolve_escalation.note = (note or "").strip()
    return command


def _command(
    case_id: str, action: str, idempotency_key: str | None, now: datetime
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id(case_id, action, idempotency_key),
        case_id=case_id,
        issued_at=to_timestamp(now),
    )
