"""Agent actions as `AgentCommand`s for routing: ids, time and the action, nothing more.

Whether a command applies to a case is not decided here: `core.domain.case_rules` is the
one home of those rules, used by the gateway (for a fast 4xx) and by routing (the final
judge). This module only builds the command a request asks for, with the id that makes a
retried request the same command.

Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    answers: Sequence[str] = (),
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """A ReplyToCase command: `agent` sends `text`, or the message `template`, to the
    customer on the case's channel; `answers` names the case's questions (intent names)
    it answers, so a case with two questions is not proposed as solved after one."""
    command = _command(case_id, "reply", idempotency_key, now)
    command.reply.agent = agent
    command.reply.text = text or ""
    if template is not None:
        command.reply.template.CopyFrom(template)
    command.reply.answers.extend(_distinct(answers))
    return command


def claim(
    case_id: str, agent: str, *, idempotency_key: str | None, now: datetime
) -> commands_pb2.AgentCommand:
    """A ClaimCase command: `agent` takes a queued case for themselves (the assigner
    grants it when nobody holds it and the agent has room)."""
    command = _command(case_id, "claim", idempotency_key, now)
    command.claim.agent = agent
    return command


def transfer(
    case_id: str,
    agent: str,
    reason: str,
    *,
    by: str,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """An AssignCase command with a reason: `by` hands the case to `agent`; the reason
    (stripped) is kept on the case for its next owner."""
    return assign(
        case_id, agent, idempotency_key=idempotency_key, now=now, reason=reason.strip(), by=by
    )


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
    case_id: str,
    agent: str,
    *,
    note: str | None = None,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """A ResolveCase command: `agent` proposes the case as solved (routing asks the
    customer to confirm), with a `note` (stripped) of what solved it."""
    command = _command(case_id, "resolve", idempotency_key, now)
    command.resolve.agent = agent
    command.resolve.note = (note or "").strip()
    return command


def consult(
    case_id: str,
    agent: str,
    specialist: str,
    question: str,
    *,
    product: str | None = None,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """A ConsultSpecialist command: `agent` asks `specialist` `question` (stripped) about
    `product`; the owner keeps the case. The command id is the consultation's id."""
    command = _command(case_id, "consult", idempotency_key, now)
    command.consult.agent = agent
    command.consult.specialist = specialist
    command.consult.question = question.strip()
    command.consult.product = product or ""
    return command


def answer_consultation(
    case_id: str,
    specialist: str,
    consultation_id: str,
    answer: str,
    *,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """An AnswerConsultation command: `specialist` answers consultation `consultation_id`
    (stripped text); the answer comes back onto the case for its owner.

    Without a client key the id is derived from the consultation: one answer per
    specialist and consultation, so a double submit does not answer twice."""
    key = idempotency_key or f"{consultation_id}:{specialist}"
    command = _command(case_id, "answer_consultation", key, now)
    command.answer_consultation.specialist = specialist
    command.answer_consultation.consultation_id = consultation_id
    command.answer_consultation.answer = answer.strip()
    return command


def await_customer(
    case_id: str,
    agent: str,
    *,
    note: str | None = None,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """An AwaitCustomer command: the ball is with the customer (the resolution clock
    pauses) without a reply on the channel; `note` (stripped) says what is awaited."""
    command = _command(case_id, "await_customer", idempotency_key, now)
    command.await_customer.agent = agent
    command.await_customer.note = (note or "").strip()
    return command


def reopen(
    case_id: str,
    agent: str,
    *,
    reason: str | None = None,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """A ReopenCase command: `agent` reopens a resolved, not yet closed, case."""
    command = _command(case_id, "reopen", idempotency_key, now)
    command.reopen.agent = agent
    command.reopen.reason = (reason or "").strip()
    return command


def merge(
    case_id: str,
    agent: str,
    into_case_id: str,
    *,
    reason: str | None = None,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """A MergeCase command: case `case_id` joins `into_case_id` and closes.

    Without a client key the id is derived from both cases: merging the same pair twice
    is one merge."""
    key = idempotency_key or f"into:{into_case_id}"
    command = _command(case_id, "merge", key, now)
    command.merge.agent = agent
    command.merge.into_case_id = into_case_id
    command.merge.reason = (reason or "").strip()
    return command


def link_identity(
    case_id: str,
    agent: str,
    kind: str,
    value: str,
    *,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """A LinkIdentity command: `agent` links a way to reach the customer (`kind`: email,
    phone, crm or a channel name). One link per case, kind and value: the id is derived
    from them unless the client gives a key."""
    kind, value = kind.strip().lower(), value.strip()
    key = idempotency_key or f"{kind}:{value}"
    command = _command(case_id, "link_identity", key, now)
    command.link_identity.agent = agent
    command.link_identity.kind = kind
    command.link_identity.value = value
    return command


def refer(
    case_id: str,
    agent: str,
    to: str,
    *,
    note: str | None = None,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """A ReferCase command: the case was referred to `to` (another department); recorded
    as an internal note, the case stays open for its owner."""
    command = _command(case_id, "refer", idempotency_key, now)
    command.refer.agent = agent
    command.refer.to = to.strip()
    command.refer.note = (note or "").strip()
    return command


def set_priority(
    case_id: str,
    agent: str,
    level: str | None,
    *,
    reason: str | None = None,
    idempotency_key: str | None,
    now: datetime,
) -> commands_pb2.AgentCommand:
    """A SetPriority command: `agent` sets the case's priority `level` by hand; None or
    empty goes back to the computed one."""
    command = _command(case_id, "set_priority", idempotency_key, now)
    command.set_priority.agent = agent
    command.set_priority.level = (level or "").strip().lower()
    command.set_priority.reason = (reason or "").strip()
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


def _distinct(values: Sequence[str]) -> list[str]:
    """The non-empty values, stripped, each once, in their order."""
    seen: dict[str, None] = {}
    for value in values:
        if value.strip():
            seen.setdefault(value.strip(), None)
    return list(seen)


def _command(
    case_id: str, action: str, idempotency_key: str | None, now: datetime
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id(case_id, action, idempotency_key),
        case_id=case_id,
        issued_at=to_timestamp(now),
    )
