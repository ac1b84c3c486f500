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

Breach prediction (routing/prediction.py): after every request and on every tick the
assigner predicts, for each waiting case with a response due time, when it will get its
first reply. A case predicted to breach gets one SlaEvent AT_RISK on care.sla per opening
(the holding's `at_risk` mark, on the changelog, keeps a rebuilt assigner from repeating
it) and is offered to the overflow pool ahead of waiting for its own queue: specialists and
agents of other teams on shift who speak its language and serve its brand. Such a decision
has `overflow` set and the prediction as its reason. Specialists are never in the normal
pool; agents off shift (their team's calendar closed) are given no new cases, and the tick
gives waiting cases to agents who came on shift.

Idempotency: a request about an older assignment epoch of a case than the one held is
stale and ignored; a QUEUE for the epoch already held repeats the decision already taken
(same decision id), so a request sent again after a crash or rebuild never grants twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, derived_id
from socialcare.routing.prediction import (
    Pools,
    PoolState,
    Prediction,
    ServiceTimes,
    Shifts,
    WaitingCase,
    predict,
)
from socialcare.v1 import case_pb2, routing_pb2, sla_pb2

QUEUE = routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE
TRANSFER = routing_pb2.ASSIGNMENT_REQUEST_KIND_TRANSFER
RELEASE = routing_pb2.ASSIGNMENT_REQUEST_KIND_RELEASE


@dataclass
class Assigner:
    care: CareConfig
    holdings: dict[str, routing_pb2.AssignmentHolding] = field(default_factory=dict)
    # Who works when (default: from the config's teams and calendars).
    shifts: Shifts | None = None
    # Handle and first-reply times per language, learnt from releases (and re-learnt from
    # the released records of the changelog on a rebuild).
    times: ServiceTimes = field(default_factory=ServiceTimes)
    # Off: predict and emit AT_RISK, but leave at-risk cases to their own queue (the
    # baseline the prediction bench compares with).
    overflow: bool = True
    _cases_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _waiting: dict[str, None] = field(default_factory=dict)
    _pools: Pools = field(init=False)
    _shifts: Shifts = field(init=False)

    def __post_init__(self) -> None:
        self._pools = Pools(self.care)
        self._shifts = self.shifts if self.shifts is not None else Shifts.from_config(self.care)

    # -- rebuilding ----------------------------------------------------------------------
    def restore(self, holding: routing_pb2.AssignmentHolding) -> None:
        """Apply one changelog record (rebuild); the latest record of a case wins."""
        self._forget(holding.case_id)
        if holding.released:
            self._learn(holding)
        else:
            self._keep(holding)

    # -- queries ---------------------------------------------------------------------------
    def load_of(self, agent_id: str) -> int:
        return len(self._cases_of.get(agent_id, ()))

    def waiting(self) -> list[str]:
        """Case ids in the backlog, in the order they would be given out."""
        return [h.case_id for h in self._backlog_order()]

    def predictions(self, now: datetime) -> list[Prediction]:
        """The current prediction for every waiting case with a response due time."""
        order = self._backlog_order()
        pools: dict[tuple[str, str, str], PoolState] = {}
        backlog: list[WaitingCase] = []
        for held in order:
            team = self._pools.queue_team(held.queue)
            key = (held.brand, held.language, team)
            if key not in pools:
                agents = [
                    a
                    for a in self.care.agents
                    if self._pools.normal(a, held.language, held.brand, team)
                ]
                pools[key] = PoolState(agents, {a.id: self.load_of(a.id) for a in agents})
            due = from_timestamp(held.response_due_at) if held.HasField("response_due_at") else None
            backlog.append(WaitingCase(held.case_id, held.language, held.brand, team, due))
        return predict(backlog, pools, self._shifts, self.times, now)

    # -- requests --------------------------------------------------------------------------
    def on_request(self, request: routing_pb2.AssignmentRequest, now: datetime) -> list[Emit]:
        if not request.case_id:
            raise InvalidRecordError(f"assignment request {request.request_id} has no case id")
        held = self.holdings.get(request.case_id)
        if held is not None and held.epoch > request.epoch:
            return []  # about an earlier opening of the case
        if request.kind == QUEUE:
            effects = self._queue(held, request, now)
        elif request.kind == TRANSFER:
            effects = self._transfer(held, request, now)
        elif request.kind == RELEASE:
            effects = self._release(held, request, now)
        else:
            raise InvalidRecordError(f"assignment request {request.request_id} has no known kind")
        return effects + self._reevaluate(now)

    def tick(self, now: datetime) -> list[Emit]:
        """Time-driven work: give waiting cases to agents who came on shift, predict
        breaches as queues age, and overflow the cases at risk."""
        return self._reevaluate(now)

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
            preferred = self._with_room(request.agent, held.language, held.brand, now)
            if preferred is None:
                return []  # still waiting
            return self._grant(held, preferred.id, request.request_id, now, overflow=False)
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
            response_clock=request.response_clock,
            response_cycle=request.response_cycle,
            channel=request.channel,
            customer_tier=request.customer_tier,
        )
        if request.HasField("response_due_at"):
            holding.response_due_at.CopyFrom(request.response_due_at)
        agent = self._with_room(request.agent, request.language, request.brand, now) or (
            self._best_agent(holding, now, overflow=False)
        )
        if agent is None:
            holding.cause_id = request.request_id
            self._keep(holding)
            return [*effects, Emit(Topic.ASSIGNMENTS_CHANGELOG, holding)]
        return effects + self._grant(holding, agent.id, request.request_id, now, overflow=False)

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
            held, agent.id, request.request_id, now, command_id=request.command_id, overflow=False
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
        if held.agent:
            released.released_at.CopyFrom(
                request.requested_at if request.HasField("requested_at") else to_timestamp(now)
            )
            if request.HasField("first_reply_at"):
                released.first_reply_at.CopyFrom(request.first_reply_at)
            self._learn(released)
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
        overflow: bool,
    ) -> list[Emit]:
        holding = routing_pb2.AssignmentHolding()
        holding.CopyFrom(held)
        holding.agent = agent_id
        holding.cause_id = cause
        holding.overflow = overflow
        holding.assigned_at.CopyFrom(to_timestamp(now))
        self._forget(holding.case_id)
        self._keep(holding)
        return [
            Emit(Topic.ASSIGNMENTS_CHANGELOG, holding),
            self._decision(holding, now, command_id=command_id),
        ]

    def _fill(
        self,
        agent_id: str,
        cause: str | None,
        now: datetime,
        order: list[routing_pb2.AssignmentHolding] | None = None,
    ) -> list[Emit]:
        """Give an agent on shift who has room the waiting cases of their pools: the cases
        of their normal pool, and the at-risk cases they may take in overflow. `cause`: the
        request that freed the slot (None: the tick; each grant then gets its own cause).
        `order`: the backlog in give-out order, when the caller has it already."""
        agent = self.care.agents_by_id.get(agent_id)
        if agent is None or not self._shifts.on_shift(agent, now):
            return []
        effects: list[Emit] = []
        for entry in self._backlog_order() if order is None else order:
            if self.load_of(agent.id) >= agent.capacity:
                break
            if entry.case_id not in self._waiting:
                continue  # given out meanwhile (`order` is a snapshot)
            waiting = self.holdings[entry.case_id]
            team = self._pools.queue_team(waiting.queue)
            normal = self._pools.normal(agent, waiting.language, waiting.brand, team)
            overflow = (
                not normal
                and self.overflow
                and waiting.at_risk
                and self._pools.overflow(agent, waiting.language, waiting.brand, team)
            )
            if normal or overflow:
                own = _tick_cause("overflow" if overflow else "on-shift", waiting, agent.id)
                effects += self._grant(waiting, agent.id, cause or own, now, overflow=overflow)
        return effects

    def _with_room(self, agent_id: str, language: str, brand: str, now: datetime) -> Agent | None:
        """The preferred agent (a reopened case's previous owner), if on shift with room."""
        agent = self.care.agents_by_id.get(agent_id) if agent_id else None
        if agent is None or not agent.speaks(language) or not agent.serves(brand):
            return None
        if not self._shifts.on_shift(agent, now):
            return None
        return agent if self.load_of(agent.id) < agent.capacity else None

    def _best_agent(
        self, held: routing_pb2.AssignmentHolding, now: datetime, *, overflow: bool
    ) -> Agent | None:
        """The agent of the case's normal (or overflow) pool, on shift, with the most spare
        capacity (by share, then id)."""
        team = self._pools.queue_team(held.queue)
        eligible = self._pools.overflow if overflow else self._pools.normal
        candidates = [
            a
            for a in self.care.agents
            if eligible(a, held.language, held.brand, team)
            and self.load_of(a.id) < a.capacity
            and self._shifts.on_shift(a, now)
        ]
        if not candidates:
            return None
        return min(
            candidates, key=lambda a: (self.load_of(a.id) / a.capacity, self.load_of(a.id), a.id)
        )

    # -- prediction ------------------------------------------------------------------------
    def _reevaluate(self, now: datetime) -> list[Emit]:
        """Fill agents on shift with room, mark (once per opening) and announce the waiting
        cases predicted to breach, and offer the at-risk ones to the overflow pool."""
        if not self._waiting:
            return []
        effects: list[Emit] = []
        order = self._backlog_order()
        for agent in self.care.agents:
            if self.load_of(agent.id) < agent.capacity and self._waiting:
                effects += self._fill(agent.id, None, now, order)
        for prediction in self.predictions(now):
            held = self.holdings[prediction.case_id]
            if held.at_risk or not prediction.at_risk or prediction.due_at <= now:
                continue
            effects += self._mark_at_risk(held, prediction, now)
        if self.overflow:
            for held in self._backlog_order():
                if not held.at_risk:
                    continue
                helper = self._best_agent(held, now, overflow=True)
                if helper is not None:
                    cause = _tick_cause("overflow", held, helper.id)
                    effects += self._grant(held, helper.id, cause, now, overflow=True)
        return effects

    def _mark_at_risk(
        self, held: routing_pb2.AssignmentHolding, prediction: Prediction, now: datetime
    ) -> list[Emit]:
        marked = routing_pb2.AssignmentHolding()
        marked.CopyFrom(held)
        marked.at_risk = True
        marked.at_risk_reason = prediction.reason(now)
        marked.cause_id = derived_id("at-risk", held.case_id, str(held.epoch))
        self._forget(held.case_id)
        self._keep(marked)
        event = sla_pb2.SlaEvent(
            event_id=derived_id(
                "sla-at-risk",
                held.case_id,
                str(held.response_clock),
                str(held.response_cycle),
                str(held.epoch),
            ),
            type=sla_pb2.SLA_EVENT_TYPE_AT_RISK,
            case_id=held.case_id,
            language=held.language,
            channel=held.channel,
            queue=held.queue,
            due_at=held.response_due_at,
            occurred_at=to_timestamp(now),
            elapsed_seconds=(now - from_timestamp(held.opened_at)).total_seconds(),
            clock=held.response_clock or case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE,
            cycle=held.response_cycle,
            priority=held.priority,
            brand=held.brand,
            team=self._pools.queue_team(held.queue),
            customer_tier=held.customer_tier,
            reason=marked.at_risk_reason,
        )
        if prediction.predicted_response_at is not None:
            event.predicted_response_at.CopyFrom(to_timestamp(prediction.predicted_response_at))
        return [Emit(Topic.ASSIGNMENTS_CHANGELOG, marked), Emit(Topic.SLA, event)]

    def _learn(self, released: routing_pb2.AssignmentHolding) -> None:
        """Feed the handle-time and first-reply estimates from a released holding."""
        if not released.HasField("assigned_at") or not released.HasField("released_at"):
            return
        assigned = from_timestamp(released.assigned_at)
        self.times.observe_handle(
            released.language, (from_timestamp(released.released_at) - assigned).total_seconds()
        )
        if released.HasField("first_reply_at"):
            replied = from_timestamp(released.first_reply_at)
            if replied >= assigned:
                self.times.observe_first_reply(
                    released.language, (replied - assigned).total_seconds()
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
            overflow=holding.overflow,
            reason=f"overflow: {holding.at_risk_reason}" if holding.overflow else "",
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


def _tick_cause(kind: str, held: routing_pb2.AssignmentHolding, agent_id: str) -> str:
    """The cause of a grant the tick makes (no request caused it): one per case opening and
    agent, so the changelog record and decision keep their ids if made again."""
    return derived_id(kind, held.case_id, str(held.epoch), agent_id)
