"""Routing's state machine: messages, commands, SLA and escalation events in; case events out.

Pure: no I/O, time passed in. `CaseBook` holds every case plus the indexes routing needs
(open case per thread and per customer, message ids seen, each agent's load, each queue's
backlog). Every change goes through `_replace`, which un-indexes the old snapshot and
indexes the new one, so the indexes cannot drift from the cases.

Idempotency: an inbound message is applied once (its id is remembered with its case); a
command, SLA or escalation event once per case (`applied_ids`). Case event ids derive from
(case id, version), so replaying the same input after a crash yields the same events.

Threading rules (what joins what) follow webcare practice: a message in the same thread,
or answering a message of a case, joins that case (reopening it if resolved); otherwise a
message from the same customer on the same channel joins their open case; otherwise a new
case opens in the queue of its language and goes to the least-loaded agent who speaks it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from google.protobuf.message import Message

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.domain.cases import author_key, channel_name, thread_key
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError, derived_id
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2, message_pb2, sla_pb2

RESOLVED = case_pb2.CASE_STATUS_RESOLVED
INFLUENCER_FOLLOWERS = 100_000


@dataclass(frozen=True, slots=True)
class Emitted:
    """An event to publish: routing's only kind of effect."""

    topic: str
    key: str
    event_id: str
    event: Message


@dataclass
class CaseBook:
    care: CareConfig
    cases: dict[str, case_pb2.Case] = field(default_factory=dict)
    _case_of_message: dict[str, str] = field(default_factory=dict)
    _case_of_external: dict[str, str] = field(default_factory=dict)
    _open_by_thread: dict[str, str] = field(default_factory=dict)
    _open_by_author: dict[str, str] = field(default_factory=dict)
    _load: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _backlog: dict[str, dict[str, None]] = field(default_factory=lambda: defaultdict(dict))

    # -- rebuilding --------------------------------------------------------------------
    def clear(self) -> None:
        """Forget everything (before a replay of the changelog)."""
        for index in (
            self.cases,
            self._case_of_message,
            self._case_of_external,
            self._open_by_thread,
            self._open_by_author,
            self._load,
            self._backlog,
        ):
            index.clear()

    def restore(self, event: case_pb2.CaseEvent) -> None:
        """Apply one changelog event from care.cases (start-up replay); stale ones are ignored."""
        current = self.cases.get(event.case.id)
        if current is None or event.case.version > current.version:
            snapshot = case_pb2.Case()
            snapshot.CopyFrom(event.case)
            self._replace(current, snapshot)

    # -- inputs ------------------------------------------------------------------------
    def on_message(self, enriched: message_pb2.EnrichedMessage, now: datetime) -> list[Emitted]:
        message = enriched.message
        if not message.message_id:
            raise InvalidRecordError("enriched message has no message_id")
        if message.message_id in self._case_of_message:
            return []
        inbound = case_pb2.CaseMessage(
            message_id=message.message_id,
            direction=case_pb2.DIRECTION_INBOUND,
            external_id=message.external_id,
            author=message.author.handle or message.author.name or message.author.id,
            text=message.text,
            created_at=message.created_at,
            sentiment=enriched.sentiment,
            language=enriched.language,
        )
        existing = self._find_case(message)
        if existing is None:
            return self._open(enriched, inbound, now)
        case = self._copy(existing)
        case.messages.append(inbound)
        case.sentiment.CopyFrom(enriched.sentiment)
        if case.status == RESOLVED:
            case.status = case_pb2.CASE_STATUS_OPEN
            case.sla.CopyFrom(self._clock(case.language, _received(message, now)))
            kind = case_pb2.CASE_EVENT_TYPE_REOPENED
        else:
            kind = case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED
            if case.status == case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER:
                case.status = case_pb2.CASE_STATUS_ASSIGNED
        self._mark_priority(case, message, enriched.sentiment)
        out = [self._commit(existing, case, kind, message.message_id, now)]
        if case.status == case_pb2.CASE_STATUS_OPEN and not case.assignee:
            out.extend(self._assign_if_possible(case.id, now, message.message_id))
        return out

    def on_command(self, command: commands_pb2.AgentCommand, now: datetime) -> list[Emitted]:
        current = self.cases.get(command.case_id)
        if current is None:
            raise InvalidRecordError(
                f"command {command.command_id}: case {command.case_id!r} does not exist"
            )
        if command.command_id in current.applied_ids:
            return []
        action = command.WhichOneof("action")
        if action == "reply":
            return self._reply(current, command, now)
        if action == "assign":
            return self._reassign(current, command, now)
        if action == "resolve":
            return self._resolve(current, command, now)
        raise InvalidRecordError(f"command {command.command_id} has no action")

    def on_sla(self, event: sla_pb2.SlaEvent, now: datetime) -> list[Emitted]:
        current = self.cases.get(event.case_id)
        if current is None or event.type != sla_pb2.SLA_EVENT_TYPE_BREACHED:
            return []
        if event.event_id in current.applied_ids or current.sla.due_at != event.due_at:
            return []  # applied already, or about a clock that has since been restarted
        if current.sla.state != case_pb2.SLA_STATE_RUNNING:
            return []
        case = self._copy(current)
        case.sla.state = case_pb2.SLA_STATE_BREACHED
        case.applied_ids.append(event.event_id)
        return [
            self._commit(current, case, case_pb2.CASE_EVENT_TYPE_SLA_CHANGED, event.event_id, now)
        ]

    def on_escalation(self, event: escalation_pb2.EscalationEvent, now: datetime) -> list[Emitted]:
        escalation = event.escalation
        current = self.cases.get(escalation.case_id)
        if current is None or escalation.id in current.escalation_ids:
            return []
        case = self._copy(current)
        case.escalation_ids.append(escalation.id)
        case.priority = "high"
        return [self._commit(current, case, case_pb2.CASE_EVENT_TYPE_ESCALATED, escalation.id, now)]

    # -- commands ------------------------------------------------------------------------
    def _agent(self, agent_id: str, command_id: str) -> Agent:
        agent = self.care.agents_by_id.get(agent_id)
        if agent is None:
            raise InvalidRecordError(f"command {command_id}: unknown agent {agent_id!r}")
        return agent

    def _reply(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emitted]:
        reply = command.reply
        agent = self._agent(reply.agent, command.command_id)
        if not reply.text.strip():
            raise InvalidRecordError(f"command {command.command_id}: reply text is empty")
        case = self._copy(current)
        case.messages.append(
            case_pb2.CaseMessage(
                message_id=command.command_id,
                direction=case_pb2.DIRECTION_OUTBOUND,
                author=agent.id,
                text=reply.text,
                created_at=to_timestamp(now),
                language=case.language,
            )
        )
        if not case.assignee:
            case.assignee = agent.id
        case.status = case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
        if not case.sla.HasField("first_response_at"):
            case.sla.first_response_at.CopyFrom(to_timestamp(now))
            if case.sla.state == case_pb2.SLA_STATE_RUNNING:
                case.sla.state = (
                    case_pb2.SLA_STATE_MET
                    if now <= from_timestamp(case.sla.due_at)
                    else case_pb2.SLA_STATE_BREACHED
                )
        case.applied_ids.append(command.command_id)
        events = [
            self._commit(current, case, case_pb2.CASE_EVENT_TYPE_REPLIED, command.command_id, now)
        ]
        last_inbound = next(
            (m for m in reversed(case.messages) if m.direction == case_pb2.DIRECTION_INBOUND), None
        )
        outbound = commands_pb2.OutboundReply(
            reply_id=command.command_id,
            case_id=case.id,
            channel=case.channel,
            in_reply_to=last_inbound.external_id if last_inbound else "",
            thread_id=case.conversation_key.partition(":thread:")[2],
            agent=agent.id,
            text=reply.text,
            created_at=to_timestamp(now),
        )
        events.append(Emitted(Topic.OUTBOUND, case.id, command.command_id, outbound))
        return events

    def _reassign(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emitted]:
        agent = self._agent(command.assign.agent, command.command_id)
        if current.status == RESOLVED:
            raise InvalidRecordError(f"command {command.command_id}: case {current.id} is resolved")
        previous = current.assignee
        case = self._copy(current)
        case.assignee = agent.id
        if case.status == case_pb2.CASE_STATUS_OPEN:
            case.status = case_pb2.CASE_STATUS_ASSIGNED
        case.applied_ids.append(command.command_id)
        events = [
            self._commit(current, case, case_pb2.CASE_EVENT_TYPE_ASSIGNED, command.command_id, now)
        ]
        if previous and previous != agent.id:
            events.extend(self._fill_capacity(previous, now, command.command_id))
        return events

    def _resolve(
        self, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Emitted]:
        self._agent(command.resolve.agent, command.command_id)
        case = self._copy(current)
        case.status = RESOLVED
        case.applied_ids.append(command.command_id)
        events = [
            self._commit(current, case, case_pb2.CASE_EVENT_TYPE_RESOLVED, command.command_id, now)
        ]
        if current.assignee:
            events.extend(self._fill_capacity(current.assignee, now, command.command_id))
        return events

    # -- opening and assignment -------------------------------------------------------------
    def _find_case(self, message: message_pb2.SocialMessage) -> case_pb2.Case | None:
        channel = channel_name(message.channel)
        candidates = [
            self._open_by_thread.get(thread_key(message) or ""),
            self._case_of_external.get(f"{channel}:{message.in_reply_to}")
            if message.in_reply_to
            else None,
            self._open_by_author.get(author_key(message)),
        ]
        for case_id in candidates:
            if case_id is not None:
                return self.cases[case_id]
        return None

    def _open(
        self, enriched: message_pb2.EnrichedMessage, inbound: case_pb2.CaseMessage, now: datetime
    ) -> list[Emitted]:
        message = enriched.message
        language = enriched.language or "und"
        case = case_pb2.Case(
            id=derived_id("case", message.message_id)[:20],
            status=case_pb2.CASE_STATUS_OPEN,
            language=language,
            channel=message.channel,
            queue=self.care.queue_for(language).name,
            sentiment=enriched.sentiment,
            conversation_key=enriched.conversation_key,
            customer=message.author,
            sla=self._clock(language, _received(message, now)),
            opened_at=to_timestamp(now),
            brand=message.brand,
            priority="normal",
        )
        case.messages.append(inbound)
        self._mark_priority(case, message, enriched.sentiment)
        opened = self._commit(None, case, case_pb2.CASE_EVENT_TYPE_OPENED, message.message_id, now)
        return [opened, *self._assign_if_possible(case.id, now, message.message_id)]

    def _clock(self, language: str, started: datetime) -> case_pb2.SlaClock:
        policy = self.care.sla_policy_for(language)
        return case_pb2.SlaClock(
            policy=policy.name,
            started_at=to_timestamp(started),
            due_at=to_timestamp(started + timedelta(seconds=policy.first_response_seconds)),
            state=case_pb2.SLA_STATE_RUNNING,
            target_seconds=policy.first_response_seconds,
        )

    @staticmethod
    def _mark_priority(
        case: case_pb2.Case, message: message_pb2.SocialMessage, sentiment: message_pb2.Sentiment
    ) -> None:
        negative = sentiment.label == message_pb2.SENTIMENT_LABEL_NEGATIVE
        if negative and message.author.followers >= INFLUENCER_FOLLOWERS:
            case.priority = "high"

    def _assign_if_possible(self, case_id: str, now: datetime, cause: str) -> list[Emitted]:
        current = self.cases[case_id]
        agent = self._best_agent(current.language)
        if agent is None:
            return []
        case = self._copy(current)
        case.assignee = agent.id
        case.status = case_pb2.CASE_STATUS_ASSIGNED
        return [self._commit(current, case, case_pb2.CASE_EVENT_TYPE_ASSIGNED, cause, now)]

    def _best_agent(self, language: str) -> Agent | None:
        """The agent who speaks `language` with the most spare capacity (by share, then id)."""
        candidates = [
            a for a in self.care.agents if a.speaks(language) and self._load[a.id] < a.capacity
        ]
        if not candidates:
            return None
        return min(
            candidates, key=lambda a: (self._load[a.id] / a.capacity, self._load[a.id], a.id)
        )

    def _fill_capacity(self, agent_id: str, now: datetime, cause: str) -> list[Emitted]:
        """Give the agent waiting cases in their languages, oldest first, while they have room."""
        agent = self.care.agents_by_id.get(agent_id)
        if agent is None:
            return []
        waiting = sorted(
            (
                self.cases[case_id]
                for queue in self._backlog.values()
                for case_id in queue
                if agent.speaks(self.cases[case_id].language)
            ),
            key=lambda c: (c.opened_at.seconds, c.opened_at.nanos, c.id),
        )
        events: list[Emitted] = []
        for waiting_case in waiting:
            if self._load[agent.id] >= agent.capacity:
                break
            case = self._copy(waiting_case)
            case.assignee = agent.id
            case.status = case_pb2.CASE_STATUS_ASSIGNED
            events.append(
                self._commit(waiting_case, case, case_pb2.CASE_EVENT_TYPE_ASSIGNED, cause, now)
            )
        return events

    # -- bookkeeping -------------------------------------------------------------------------
    @staticmethod
    def _copy(case: case_pb2.Case) -> case_pb2.Case:
        clone = case_pb2.Case()
        clone.CopyFrom(case)
        return clone

    def _commit(
        self,
        previous: case_pb2.Case | None,
        case: case_pb2.Case,
        kind: case_pb2.CaseEventType.ValueType,
        cause: str,
        now: datetime,
    ) -> Emitted:
        case.version = (previous.version if previous else 0) + 1
        case.updated_at.CopyFrom(to_timestamp(now))
        self._replace(previous, case)
        event_id = derived_id("case-event", case.id, str(case.version))
        event = case_pb2.CaseEvent(
            event_id=event_id, type=kind, case=case, occurred_at=to_timestamp(now), cause_id=cause
        )
        return Emitted(Topic.CASES, case.id, event_id, event)

    def _replace(self, previous: case_pb2.Case | None, case: case_pb2.Case) -> None:
        if previous is not None:
            self._unindex(previous)
        self.cases[case.id] = case
        self._index(case)

    def _index(self, case: case_pb2.Case) -> None:
        channel = channel_name(case.channel)
        for message in case.messages:
            self._case_of_message[message.message_id] = case.id
            if message.external_id:
                self._case_of_external[f"{channel}:{message.external_id}"] = case.id
        if case.status == RESOLVED:
            return
        if ":thread:" in case.conversation_key:
            self._open_by_thread[case.conversation_key] = case.id
        self._open_by_author[f"{channel}:author:{case.customer.id}"] = case.id
        if case.assignee:
            self._load[case.assignee] += 1
        else:
            self._backlog[case.queue][case.id] = None

    def _unindex(self, case: case_pb2.Case) -> None:
        if case.status == RESOLVED:
            return
        channel = channel_name(case.channel)
        for index, key in (
            (self._open_by_thread, case.conversation_key),
            (self._open_by_author, f"{channel}:author:{case.customer.id}"),
        ):
            if index.get(key) == case.id:
                del index[key]
        if case.assignee:
            self._load[case.assignee] -= 1
        else:
            self._backlog[case.queue].pop(case.id, None)

    # -- queries ---------------------------------------------------------------------------
    def load_of(self, agent_id: str) -> int:
        return self._load[agent_id]

    def backlog(self, queue: str) -> list[str]:
        return list(self._backlog[queue])

    def matching(
        self, *, status: int = 0, language: str = "", queue: str = "", limit: int = 100
    ) -> Iterable[case_pb2.Case]:
        found = 0
        for case in sorted(
            self.cases.values(), key=lambda c: (c.opened_at.seconds, c.id), reverse=True
        ):
            if status and case.status != status:
                continue
            if language and case.language != language:
                continue
            if queue and case.queue != queue:
                continue
            yield case
            found += 1
            if found >= limit:
                return


def _received(message: message_pb2.SocialMessage, now: datetime) -> datetime:
    """When the SLA clock starts: when the platform received the message (not when the
    customer's device says it was written, which may be long ago or skewed)."""
    if message.HasField("received_at"):
        return from_timestamp(message.received_at)
    return now
