"""Agent actions turned into `AgentCommand`s for routing, after the checks the gateway can make.

The gateway checks what it can know before accepting: the agent is on the roster, the case
exists and is open for the action, the reply fits the channel, the assignee speaks the
language. Routing stays the final judge (the case may change between our read and its
apply) and ignores a command it cannot apply; these checks exist so that an agent gets a
clear error at once for the common mistakes instead of a reply that silently never goes out.

Pure functions: no I/O, so the rules are tested without a bus or a routing service.
"""

from __future__ import annotations

from datetime import datetime

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.domain.cases import REPLY_LIMITS, channel_name
from socialcare.core.events import derived_id, new_event_id
from socialcare.v1 import case_pb2, commands_pb2

# Case languages no agent can be expected to list: any agent may take such a case.
_UNKNOWN_LANGUAGES = frozenset({"", "und"})


class InvalidCommandError(Exception):
    """The request cannot become a command; `field` names the request field at fault."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class CaseResolvedError(Exception):
    """The case is resolved, so the action no longer applies (HTTP 409)."""


def command_id(case_id: str, action: str, idempotency_key: str | None) -> str:
    """A fresh id, or with the client's idempotency key a stable one.

    Routing applies each command id at most once, so a client that retries a request with
    the same `Idempotency-Key` (after a timeout, say) cannot make the customer get the
    same reply twice.
    """
    if idempotency_key is None:
        return new_event_id()
    return derived_id("gateway", case_id, action, idempotency_key)


def roster_agent(care: CareConfig, agent_id: str) -> Agent:
    """The agent with this id; InvalidCommandError naming `agent` if there is none."""
    agent = care.agents_by_id.get(agent_id)
    if agent is None:
        raise InvalidCommandError("agent", f"unknown agent {agent_id!r}")
    return agent


def reply(
    case: case_pb2.Case, agent: Agent, text: str, *, command_id: str, now: datetime
) -> commands_pb2.AgentCommand:
    """A ReplyToCase command; the text must fit the channel's reply limit."""
    _require_open(case, "reply to")
    channel = channel_name(case.channel)
    limit = REPLY_LIMITS.get(channel)
    if limit is not None and len(text) > limit:
        raise InvalidCommandError("text", f"{len(text)} characters, {channel} allows {limit}")
    command = _command(case, command_id, now)
    command.reply.agent = agent.id
    command.reply.text = text
    return command


def assign(
    case: case_pb2.Case, agent: Agent, *, command_id: str, now: datetime
) -> commands_pb2.AgentCommand:
    """An AssignCase command; the agent must speak the case's language (when it is known)."""
    _require_open(case, "assign")
    if case.language not in _UNKNOWN_LANGUAGES and not agent.speaks(case.language):
        raise InvalidCommandError(
            "agent",
            f"{agent.id!r} does not speak {case.language!r} (speaks {', '.join(agent.languages)})",
        )
    command = _command(case, command_id, now)
    command.assign.agent = agent.id
    return command


def resolve(
    case: case_pb2.Case, agent: Agent, *, command_id: str, now: datetime
) -> commands_pb2.AgentCommand:
    """A ResolveCase command; resolving a resolved case is a conflict, not a no-op, so
    the agent learns that someone else closed it."""
    _require_open(case, "resolve")
    command = _command(case, command_id, now)
    command.resolve.agent = agent.id
    return command


def _require_open(case: case_pb2.Case, action: str) -> None:
    if case.status == case_pb2.CASE_STATUS_RESOLVED:
        raise CaseResolvedError(
            f"case {case.id} is resolved; cannot {action} it "
            "(it reopens when the customer writes again)"
        )


def _command(case: case_pb2.Case, command_id: str, now: datetime) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id, case_id=case.id, issued_at=to_timestamp(now)
    )
