"""Routing without a bus: case books per partition and the assigner, wired by queues.

`Routing.deliver()` plays the bus: an effect on routing.assignment-requests goes to the
assigner, a decision to the book of the case's partition, everything else is recorded.
By default every request and decision is delivered at once (in order); tests that study
delays call `pump()` themselves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime

from socialcare.core.bus.partitioner import partition_for
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import author_key
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.routing.assignment import Assigner
from socialcare.routing.domain import CaseBook, partition_of_case
from socialcare.v1 import case_pb2, commands_pb2, delivery_pb2, message_pb2, routing_pb2
from tests.unit.factories import T0


class Routing:
    def __init__(self, care: CareConfig, partitions: int = 1, *, auto: bool = True) -> None:
        self.care = care
        self.partitions = partitions
        self.books = [CaseBook(care, p, partitions) for p in range(partitions)]
        self.assigner = Assigner(care)
        self.requests: deque[routing_pb2.AssignmentRequest] = deque()
        self.decisions: deque[routing_pb2.AssignmentDecision] = deque()
        self.published: list[Emit] = []
        self.auto = auto
        self.now = T0

    # -- inputs --------------------------------------------------------------------------
    def message(self, enriched: message_pb2.EnrichedMessage) -> list[Emit]:
        book = self.books[partition_for(author_key(enriched.message).encode(), self.partitions)]
        return self._take(book.on_message(enriched, self.now))

    def command(self, command: commands_pb2.AgentCommand) -> list[Emit]:
        return self._take(self.book_of(command.case_id).on_command(command, self.now))

    def delivery(self, report: delivery_pb2.ReplyDelivery) -> list[Emit]:
        return self._take(self.book_of(report.case_id).on_delivery(report, self.now))

    def book_of(self, case_id: str) -> CaseBook:
        return self.books[partition_of_case(case_id, self.partitions)]

    def case(self, case_id: str) -> case_pb2.Case:
        return self.book_of(case_id).cases[case_id]

    # -- the bus -------------------------------------------------------------------------
    def _take(self, effects: Sequence[Emit]) -> list[Emit]:
        produced = list(effects)
        for effect in produced:
            self.published.append(effect)
            if effect.topic == Topic.ASSIGNMENT_REQUESTS:
                assert isinstance(effect.message, routing_pb2.AssignmentRequest)
                self.requests.append(effect.message)
        if self.auto:
            produced += self.pump()
        return produced

    def deliver_request(self) -> list[Emit]:
        request = self.requests.popleft()
        produced: list[Emit] = []
        for effect in self.assigner.on_request(request, self.now):
            self.published.append(effect)
            produced.append(effect)
            if effect.topic == Topic.ASSIGNMENT_DECISIONS:
                assert isinstance(effect.message, routing_pb2.AssignmentDecision)
                self.decisions.append(effect.message)
        return produced

    def deliver_decision(self) -> list[Emit]:
        decision = self.decisions.popleft()
        effects = self.book_of(decision.case_id).on_decision(decision, self.now)
        produced = list(effects)
        for effect in produced:
            self.published.append(effect)
            if effect.topic == Topic.ASSIGNMENT_REQUESTS:
                assert isinstance(effect.message, routing_pb2.AssignmentRequest)
                self.requests.append(effect.message)
        return produced

    def pump(self) -> list[Emit]:
        """Deliver every pending request and decision, in order, until none is left."""
        produced: list[Emit] = []
        while self.requests or self.decisions:
            while self.requests:
                produced += self.deliver_request()
            while self.decisions:
                produced += self.deliver_decision()
        return produced

    def at(self, moment: datetime) -> Routing:
        self.now = moment
        return self


def case_events(effects: Sequence[Emit]) -> list[case_pb2.CaseEvent]:
    events = []
    for effect in effects:
        if effect.topic == Topic.CASES:
            assert isinstance(effect.message, case_pb2.CaseEvent)
            events.append(effect.message)
    return events


def reply(
    case_id: str,
    command_id: str,
    agent: str = "sanne",
    text: str = "Hoi Jan, Sanne hier!",
    template: commands_pb2.MessageTemplate | None = None,
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        reply=commands_pb2.ReplyToCase(agent=agent, text=text, template=template),
    )


def assign(case_id: str, command_id: str, agent: str) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id, case_id=case_id, assign=commands_pb2.AssignCase(agent=agent)
    )


def resolve(case_id: str, command_id: str, agent: str = "sanne") -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id, case_id=case_id, resolve=commands_pb2.ResolveCase(agent=agent)
    )
