"""The assigner: the one writer of "which agent holds which case" (ADR 0005).

Pure: requests in, decisions and changelog records out, time passed in. Exactly one
routing instance runs it at a time (it consumes the single partition of
routing.assignment-requests; Kafka's consumer group hands that partition to another
instance when the holder dies, which rebuilds this state from the compacted
routing.assignments.changelog). Because every decision is taken here, in one thread, from
one ordered input, two rules hold by construction and a property test checks them:

* a case is held by at most one agent (`holdings` has one entry per case);
* no agent holds more cases than their capacity (every grant checks it).

Requests (see routing.proto): QUEUE asks an owner for a case that (re)opened — the preferred
agent when they have room, else the speaker of its language with the most spare capacity,
else the case waits in its queue's backlog; TRANSFER moves a case to the agent a command
named, or is rejected when that agent is full; RELEASE frees the case's agent (who then takes
the oldest waiting case in their languages, high priority first) or its backlog place.

Idempotency: a request about an older assignment epoch of a case than the one held is
stale and ignored; a QUEUE for the epoch already held repeats the decision already taken
(same decision id), so a request sent again after a crash or rebuild never grants twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, derived_id
from socialcare.v1 import routing_pb2

QUEUE = routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE
TRANSFER = routing_pb2.ASSIGNMENT_REQUEST_KIND_TRANSFER
RELEASE = routing_pb2.ASSIGNMENT_REQUEST_KIND_RELEASE


@dataclass
class Assigner:
    care: CareConfig
    holdings: dict[str, routing_pb2.AssignmentHolding] = field(default_factory=dict)
    _cases_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _waiting: dict[str, None] = field(default_factory=dict)

    # -- rebuilding ----------------------------------------------------------------------
    def restore(self, holding: routing_pb2.AssignmentHolding) -> None:
        """Apply one changelog record (rebuild); the latest record of a case wins."""
        self._forget(holding.case_id)
        if not holding.released:
            self._keep(holding)

    # -- queries ---------------------------------------------------------------------------
    def load_of(self, agent_id: str) -> int:
        return len(self._cases_of.get(agent_id, ()))

    def waiting(self) -> list[str]:
        """Case ids in the backlog, in the order they would be given out."""
        return [h.case_id for h in self._backlog_order()]

    # -- requests --------------------------------------------------------------------------
    def on_request(self, request: routing_pb2.AssignmentRequest, now: datetime) -> list[Emit]:
        if not request.case_id:
            raise InvalidRecordError(f"assignment request {request.request_id} has no case id")
        held = self.holdings.get(request.case_id)
        if held is not None and held.epoch > request.epoch:
            return []  # about an earlier opening of the case
        if request.kind == QUEUE:
            return self._queue(held, request, now)
        if request.kind == TRANSFER:
            return self._transfer(held, request, now)
        if request.kind == RELEASE:
            return self._release(held, request, now)
        raise InvalidRecordError(f"assignment request {request.request_id} has no known kind")

    def _queue(
        self,
        held: routing_pb2.AssignmentHolding | None,
        request: routing_pb2.AssignmentRequest,
        now: datetime,
    ) -> list[Emit]:
        effects: list[Emit] = []
        if held is not None and held.epoch == request.epoch:
            if held.agent:
                return [self._decision(held, now)]  # asked again: the same answer
            preferred = self._with_room(request.agent, held.language, held.brand)
            if preferred is None:
                return []  # still waiting
            return self._grant(held, preferred.id, request.request_id, now)
        if held is not None:
            # A newer opening of a case whose release never arrived: free the old one first.
            effects += self._release(held, request, now)
        holding = routing_pb2.AssignmentHolding(
            case_id=request.case_id,
            epoch=request.epoch,
            language=request.language,
            queue=request.queue,
            priority=request.priority,
            opened_at=request.opened_at,
            request_id=request.request_id,
            brand=request.brand,
        )
        agent = self._with_room(request.agent, request.language, request.brand) or (
            self._best_agent(request.language, request.brand)
        )
        if agent is None:
            holding.cause_id = request.request_id
            self._keep(holding)
            return [*effects, Emit(Topic.ASSIGNMENTS_CHANGELOG, holding)]
        return effects + self._grant(holding, agent.id, request.request_id, now)

    def _transfer(
        self,
        held: routing_pb2.AssignmentHolding | None,
        request: routing_pb2.AssignmentRequest,
        now: datetime,
    ) -> list[Emit]:
        if held is None or held.epoch != request.epoch:
            return [self._rejected(request, "the case no longer waits for or holds an agent", now)]
        if held.agent == request.agent:
            return [self._decision(held, now)]
        agent = self.care.agents_by_id.get(request.agent)
        if agent is None:
            return [self._rejected(request, f"unknown agent {request.agent!r}", now)]
        if not agent.serves(held.brand):
            return [self._rejected(request, f"{agent.id!r} does not serve {held.brand!r}", now)]
        load = self.load_of(agent.id)
        if load >= agent.capacity:
            return [
                self._rejected(
                    request,
                    f"{agent.id!r} is at capacity ({load} of {agent.capacity} cases)",
                    now,
                )
            ]
        previous = held.agent
        effects = self._grant(
            held, agent.id, request.request_id, now, command_id=request.command_id
        )
        if previous:
            effects += self._fill(previous, request.request_id, now)
        return effects

    def _release(
        self,
        held: routing_pb2.AssignmentHolding | None,
        request: routing_pb2.AssignmentRequest,
        now: datetime,
    ) -> list[Emit]:
        if held is None:
            return []
        self._forget(held.case_id)
        released = routing_pb2.AssignmentHolding()
        released.CopyFrom(held)
        released.released = True
        released.cause_id = request.request_id
        effects = [Emit(Topic.ASSIGNMENTS_CHANGELOG, released)]
        if held.agent:
            effects += self._fill(held.agent, request.request_id, now)
        return effects

    # -- granting ----------------------------------------------------------------------------
    def _grant(
        self,
        held: routing_pb2.AssignmentHolding,
        agent_id: str,
        cause: str,
        now: datetime,
        *,
        command_id: str = "",
    ) -> list[Emit]:
        holding = routing_pb2.AssignmentHolding()
        holding.CopyFrom(held)
        holding.agent = agent_id
        holding.cause_id = cause
        self._forget(holding.case_id)
        self._keep(holding)
        return [
            Emit(Topic.ASSIGNMENTS_CHANGELOG, holding),
            self._decision(holding, now, command_id=command_id),
        ]

    def _fill(self, agent_id: str, cause: str, now: datetime) -> list[Emit]:
        """Give an agent who has room the waiting cases in their languages."""
        agent = self.care.agents_by_id.get(agent_id)
        if agent is None:
            return []
        effects: list[Emit] = []
        for waiting in self._backlog_order():
            if self.load_of(agent.id) >= agent.capacity:
                break
            if agent.speaks(waiting.language) and agent.serves(waiting.brand):
                effects += self._grant(waiting, agent.id, cause, now)
        return effects

    def _with_room(self, agent_id: str, language: str, brand: str) -> Agent | None:
        agent = self.care.agents_by_id.get(agent_id) if agent_id else None
        if agent is None or not agent.speaks(language) or not agent.serves(brand):
            return None
        return agent if self.load_of(agent.id) < agent.capacity else None

    def _best_agent(self, language: str, brand: str) -> Agent | None:
        """The speaker of `language` serving `brand` with the most spare capacity (by share,
        then id)."""
        candidates = [
            a
            for a in self.care.agents
            if a.speaks(language) and a.serves(brand) and self.load_of(a.id) < a.capacity
        ]
        if not candidates:
            return None
        return min(
            candidates, key=lambda a: (self.load_of(a.id) / a.capacity, self.load_of(a.id), a.id)
        )

    def _backlog_order(self) -> list[routing_pb2.AssignmentHolding]:
        waiting = [self.holdings[case_id] for case_id in self._waiting]
        return sorted(
            waiting,
            key=lambda h: (
                h.priority != "high",
                h.opened_at.seconds,
                h.opened_at.nanos,
                h.case_id,
            ),
        )

    # -- answers ---------------------------------------------------------------------------
    @staticmethod
    def _decision(
        holding: routing_pb2.AssignmentHolding, now: datetime, *, command_id: str = ""
    ) -> Emit:
        decision = routing_pb2.AssignmentDecision(
            decision_id=derived_id(
                "decision", holding.case_id, str(holding.epoch), holding.agent, holding.cause_id
            ),
            request_id=holding.request_id,
            case_id=holding.case_id,
            epoch=holding.epoch,
            outcome=routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED,
            agent=holding.agent,
            command_id=command_id,
            decided_at=to_timestamp(now),
        )
        return Emit(Topic.ASSIGNMENT_DECISIONS, decision)

    @staticmethod
    def _rejected(request: routing_pb2.AssignmentRequest, reason: str, now: datetime) -> Emit:
        decision = routing_pb2.AssignmentDecision(
            decision_id=derived_id("rejected", request.request_id),
            request_id=request.request_id,
            case_id=request.case_id,
            epoch=request.epoch,
            outcome=routing_pb2.ASSIGNMENT_OUTCOME_REJECTED,
            agent=request.agent,
            reason=reason,
            command_id=request.command_id,
            decided_at=to_timestamp(now),
        )
        return Emit(Topic.ASSIGNMENT_DECISIONS, decision)

    # -- state -------------------------------------------------------------------------------
    def _keep(self, holding: routing_pb2.AssignmentHolding) -> None:
        self.holdings[holding.case_id] = holding
        if holding.agent:
            self._cases_of[holding.agent].add(holding.case_id)
        else:
            self._waiting[holding.case_id] = None

    def _forget(self, case_id: str) -> None:
        held = self.holdings.pop(case_id, None)
        if held is None:
            return
        if held.agent:
            self._cases_of[held.agent].discard(case_id)
        else:
            self._waiting.pop(case_id, None)
