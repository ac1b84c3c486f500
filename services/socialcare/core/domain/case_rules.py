"""Which agent command applies to which case: the one home of the case command rules.

Two places judge a command and must agree. The gateway checks a request against the case
as routing last showed it, to answer a common mistake at once (409 for a resolved case,
422 naming the field). Routing is the final judge when it applies the command to the
case as it is now (it may have changed in between); a command it cannot apply becomes a
visible `CASE_EVENT_TYPE_COMMAND_REJECTED` event with the same code and reason, never a
silent change. Both call `check_command`, so a rule added here holds on both sides.

Capacity is not a rule here: whether an agent has room is known only to routing's
assigner, which rejects a transfer to a full agent the same visible way.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from enum import StrEnum

from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.domain.cases import REPLY_LIMITS, channel_name
from socialcare.v1 import case_pb2, commands_pb2

RESOLVED = case_pb2.CASE_STATUS_RESOLVED
# Case languages no agent can be expected to list: any agent may take such a case.
UNKNOWN_LANGUAGES = frozenset({"", "und"})


class RejectionCode(StrEnum):
    """Why a command does not apply; also the `code` of the REST error body."""

    CASE_RESOLVED = "case_resolved"
    UNKNOWN_AGENT = "unknown_agent"
    LANGUAGE_NOT_SPOKEN = "language_not_spoken"
    REPLY_EMPTY = "reply_empty"
    REPLY_TOO_LONG = "reply_too_long"
    NO_ACTION = "no_action"
    AGENT_AT_CAPACITY = "agent_at_capacity"


# Codes that are about the case's state (HTTP 409) rather than the request (HTTP 422).
CONFLICTS = frozenset({RejectionCode.CASE_RESOLVED, RejectionCode.AGENT_AT_CAPACITY})


class CommandRejectedError(Exception):
    """The command does not apply to the case; `field` names the command field at fault."""

    def __init__(self, code: RejectionCode, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.field = field

    @property
    def is_conflict(self) -> bool:
        """True when the case's state is the problem (409), not the request (422)."""
        return self.code in CONFLICTS


def roster_agent(care: CareConfig, agent_id: str) -> Agent:
    """The agent with this id, or a rejection naming `agent`."""
    agent = care.agents_by_id.get(agent_id)
    if agent is None:
        raise CommandRejectedError(
            RejectionCode.UNKNOWN_AGENT, f"unknown agent {agent_id!r}", field="agent"
        )
    return agent


def check_reply(case: case_pb2.Case, agent: Agent, text: str) -> None:
    """A reply needs an open case and a non-blank text that fits the channel's limit."""
    _require_open(case, "reply to")
    if not text.strip():
        raise CommandRejectedError(RejectionCode.REPLY_EMPTY, "must not be blank", field="text")
    channel = channel_name(case.channel)
    limit = REPLY_LIMITS.get(channel)
    if limit is not None and len(text) > limit:
        raise CommandRejectedError(
            RejectionCode.REPLY_TOO_LONG,
            f"{len(text)} characters, {channel} allows {limit}",
            field="text",
        )


def check_assign(case: case_pb2.Case, agent: Agent) -> None:
    """An assignment needs an open case and an agent who speaks its language (when known)."""
    _require_open(case, "assign")
    if case.language not in UNKNOWN_LANGUAGES and not agent.speaks(case.language):
        raise CommandRejectedError(
            RejectionCode.LANGUAGE_NOT_SPOKEN,
            f"{agent.id!r} does not speak {case.language!r} (speaks {', '.join(agent.languages)})",
            field="agent",
        )


def check_resolve(case: case_pb2.Case, agent: Agent) -> None:
    """Resolving a resolved case is a conflict, not a no-op, so the agent learns that
    someone else closed it."""
    _require_open(case, "resolve")


def check_command(
    case: case_pb2.Case, command: commands_pb2.AgentCommand, care: CareConfig
) -> Agent:
    """The acting agent if `command` applies to `case`; CommandRejectedError otherwise."""
    action = command.WhichOneof("action")
    if action == "reply":
        agent = roster_agent(care, command.reply.agent)
        check_reply(case, agent, command.reply.text)
    elif action == "assign":
        agent = roster_agent(care, command.assign.agent)
        check_assign(case, agent)
    elif action == "resolve":
        agent = roster_agent(care, command.resolve.agent)
        check_resolve(case, agent)
    else:
        raise CommandRejectedError(RejectionCode.NO_ACTION, "the command names no action")
    return agent


def _require_open(case: case_pb2.Case, action: str) -> None:
    if case.status == RESOLVED:
        raise CommandRejectedError(
            RejectionCode.CASE_RESOLVED,
            f"case {case.id} is resolved; cannot {action} it "
            "(it reopens when the customer writes again)",
        )
