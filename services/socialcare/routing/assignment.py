"""The assigner: the one writer of "which agent holds which case" (ADR 0005).

Pure: requests in, decisions and changelog records out, time passed in. Exactly one
routing instance runs it at a time (it consumes the single partition of
routing.assignment-requests; Kafka's consumer group hands that partition to another
instance when the holder dies, which rebuilds this state from the compacted
routing.assignments.changelog and routing.agents.changelog). Because every decision is
taken here, in one thread, from one ordered input, three rules hold by construction and
property tests check them:

* a case is held by at most one agent (`holdings` has one entry per case);
* no agent holds more cases than their capacity, in all and per channel (every grant, of
  every kind, checks `Agent.capacity` and `Agent.capacity_for(channel)`);
* only agents who are online and on shift get cases the assigner picks for them.

Requests (see routing.proto):

* QUEUE asks an owner for a case that (re)opened: the preferred agent (a reopened case's
  previous owner) when online, on shift and with room; else the best agent of the case's
  pool; else, when no team answering its queue is on shift and the queue's `after_hours`
  says "overflow", the best specialist on shift; else the case waits in the backlog and the
  decision says QUEUED with its place in its queue.
* TRANSFER moves a case to the agent a command named (rejected when they are full, on its
  channel or in all, offline, or do not serve the brand); CLAIM gives it to the agent who
  asked when nobody holds it (rejected naming the holder, or the capacity); REASSIGN takes it
  from a silent owner for the best other agent with room (nobody: nothing changes); RELEASE
  frees the case's agent (who then takes waiting cases) or its backlog place.
* PRESENCE (key "agent:<id>") sets an agent's presence: online agents get cases (and take
  waiting ones at once), away agents keep theirs and get none, offline agents get none and,
  after `routing.lifecycle.offline_grace`, lose theirs to the best other agent (ASSIGNED with
  `previous_agent`) or to the backlog (UNASSIGNED). Agents who never set one have
  `routing.lifecycle.default_presence`.

The best agent of a pool (the queue's answering teams' non-specialists who speak the
language and serve the brand, online, on shift, with room): the highest skill match (sum of
`Agent.proficiency` for language:<l>, channel:<c>, product:<p>, tier:<t>), then the one idle
longest (`AgentState.last_assigned_at`, never assigned first), then the id. Waiting cases go
out by priority score (higher first; an old record's level counts as its threshold), then
opening time, then id.

Breach prediction (routing/prediction.py): a case left waiting is predicted at once, the
whole backlog again on every tick (not per request: at 10,000 waiting cases that would cost
more than the decision). A case predicted to breach gets one SlaEvent AT_RISK on care.sla per
opening (the holding's `at_risk` mark, on the changelog, keeps a rebuilt assigner from
repeating it) and is offered to the overflow pool ahead of waiting for its own queue:
specialists and agents of other teams on shift who speak its language and serve its brand.
Such a decision has `overflow` set and the prediction as its reason.

Speed: the backlog is kept sorted per (queue, brand, language) and the pools' members are
computed once, so a decision looks at the agents of one pool and the heads of the backlogs
an agent can serve, not at every agent and every waiting case (bench/routing_decision.py).

Idempotency: a request about an older assignment epoch of a case than the one held is
stale and ignored; a QUEUE for the epoch already held repeats the decision already taken
(same decision id), so a request sent again after a crash or rebuild never grants twice.
Every id the assigner emits derives from the request (or, for the tick's work, from the
case opening, agent and instant that caused it).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain import erasure
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.domain.cases import channel_name
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone
from socialcare.core.events import InvalidRecordError, derived_id
from socialcare.routing.prediction import (
    Pools,
    PoolState,
    Prediction,
    ServiceTimes,
    Shifts,
    Staffing,
    WaitingCase,
    predict,
    predict_case,
    staffing,
)
from socialcare.v1 import case_pb2, routing_pb2, sla_pb2

QUEUE = routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE
TRANSFER = routing_pb2.ASSIGNMENT_REQUEST_KIND_TRANSFER
RELEASE = routing_pb2.ASSIGNMENT_REQUEST_KIND_RELEASE
CLAIM = routing_pb2.ASSIGNMENT_REQUEST_KIND_CLAIM
REASSIGN = routing_pb2.ASSIGNMENT_REQUEST_KIND_REASSIGN
PRESENCE = routing_pb2.ASSIGNMENT_REQUEST_KIND_PRESENCE

ONLINE = routing_pb2.PRESENCE_ONLINE
AWAY = routing_pb2.PRESENCE_AWAY
OFFLINE = routing_pb2.PRESENCE_OFFLINE
PRESENCES: dict[str, routing_pb2.Presence.ValueType] = {
    "online": ONLINE,
    "away": AWAY,
    "offline": OFFLINE,
}

ASSIGNED = routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED
REJECTED = routing_pb2.ASSIGNMENT_OUTCOME_REJECTED
QUEUED = routing_pb2.ASSIGNMENT_OUTCOME_QUEUED
UNASSIGNED = routing_pb2.ASSIGNMENT_OUTCOME_UNASSIGNED

# A waiting case's place in the give-out order: (-score, opened seconds, nanos, case id).
SortKey = tuple[float, int, int, str]
# Where a waiting case waits: (queue, brand, language).
BacklogKey = tuple[str, str, str]
NEVER = -math.inf  # the last_assigned_at of an agent who never got a case: idle longest


@dataclass
class Assigner:
    care: CareConfig
    holdings: dict[str, routing_pb2.AssignmentHolding] = field(default_factory=dict)
    # Presence and last grant per agent (routing.agents.changelog); absent: never set.
    agent_states: dict[str, routing_pb2.AgentState] = field(default_factory=dict)
    # Who works when (default: from the config's agents, teams and calendars).
    shifts: Shifts | None = None
    # Handle and first-reply times per language, learnt from releases (and re-learnt from
    # the released records of the changelog on a rebuild).
    times: ServiceTimes = field(default_factory=ServiceTimes)
    # Off: predict and emit AT_RISK, but leave at-risk cases to their own queue (the
    # baseline the prediction bench compares with).
    overflow: bool = True
    _cases_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _channel_load: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    _backlog: dict[BacklogKey, list[SortKey]] = field(default_factory=dict)
    _at_risk: dict[BacklogKey, list[SortKey]] = field(default_factory=dict)
    _order_of: dict[str, SortKey] = field(default_factory=dict)  # waiting case -> place
    _offline: dict[str, datetime] = field(default_factory=dict)  # offline agent -> since
    _last: dict[str, float] = field(default_factory=dict)  # agent -> last grant (epoch s)
    _skills: dict[tuple[str, str, int, str, str], int] = field(default_factory=dict)
    _pool_ids: dict[tuple[str, str, str], frozenset[str]] = field(default_factory=dict)
    _overlap: dict[tuple[tuple[str, str, str], tuple[str, str, str]], bool] = field(
        default_factory=dict
    )
    # Agents below their total capacity, and agents whose presence is set to other than
    # online: a full pool is answered from these small sets, not by looking at every member.
    _with_room: set[str] = field(default_factory=set)
    _not_online: set[str] = field(default_factory=set)
    # Per pool (its members tuple): member ids, and members grouped by calendar.
    _ids: dict[int, frozenset[str]] = field(default_factory=dict)
    _shift_groups: dict[int, list[tuple[Agent, int, int]]] = field(default_factory=dict)
    _pools: Pools = field(init=False)
    _shifts: Shifts = field(init=False)
    _default_presence: routing_pb2.Presence.ValueType = field(init=False)
    _floors: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        self._pools = Pools(self.care)
        self._shifts = self.shifts if self.shifts is not None else Shifts.from_config(self.care)
        self._default_presence = PRESENCES[self.care.routing.lifecycle.default_presence]
        self._with_room = {a.id for a in self.care.agents}
        levels = self.care.routing.priority.levels
        self._floors = {"urgent": levels.urgent, "high": levels.high, "normal": levels.normal}

    # -- rebuilding ----------------------------------------------------------------------
    def restore(self, holding: routing_pb2.AssignmentHolding) -> None:
        """Apply one changelog record (rebuild); the latest record of a case wins."""
        self._forget(holding.case_id)
        if holding.released:
            self._learn(holding)
        else:
            self._keep(holding)

    def drop(self, case_id: str) -> None:
        """A tombstone on the changelog (rebuild): the case was erased."""
        self._forget(case_id)

    def restore_agent(self, state: routing_pb2.AgentState) -> None:
        """Apply one routing.agents.changelog record (rebuild); the latest of an agent wins."""
        self._set_state(state)

    # -- queries ---------------------------------------------------------------------------
    def load_of(self, agent_id: str) -> int:
        return len(self._cases_of.get(agent_id, ()))

    def load_by_channel(self, agent_id: str) -> dict[str, int]:
        """Cases held per channel name (channels with none left out)."""
        return {c: n for c, n in self._channel_load.get(agent_id, {}).items() if n}

    def presence_of(self, agent_id: str) -> routing_pb2.Presence.ValueType:
        state = self.agent_states.get(agent_id)
        if state is None or state.presence == routing_pb2.PRESENCE_UNSPECIFIED:
            return self._default_presence
        return state.presence

    def on_shift(self, agent: Agent, now: datetime) -> bool:
        return self._shifts.on_shift(agent, now)

    def waiting(self) -> list[str]:
        """Case ids in the backlog, in the order they would be given out."""
        return [key[3] for key in sorted(self._order_of.values())]

    def waiting_by_queue(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for (queue, _brand, _language), entries in self._backlog.items():
            counts[queue] += len(entries)
        return {queue: n for queue, n in counts.items() if n}

    def predictions(self, now: datetime) -> list[Prediction]:
        """The current prediction for every waiting case with a response due time."""
        pools: dict[tuple[str, str, str], PoolState] = {}
        backlog: list[WaitingCase] = []
        for sort_key in sorted(self._order_of.values()):
            held = self.holdings[sort_key[3]]
            team = self._pools.pool_key(held.queue)
            key = (held.brand, held.language, team)
            if key not in pools:
                pools[key] = self._pool_state(held.language, held.brand, team)
            due = from_timestamp(held.response_due_at) if held.HasField("response_due_at") else None
            backlog.append(WaitingCase(held.case_id, held.language, held.brand, team, due))
        return predict(backlog, pools, self._shifts, self.times, now)

    # -- requests --------------------------------------------------------------------------
    def on_request(self, request: routing_pb2.AssignmentRequest, now: datetime) -> list[Emit]:
        if not request.case_id:
            raise InvalidRecordError(f"assignment request {request.request_id} has no case id")
        if request.kind == PRESENCE:
            return self._presence(request, now) + self._sweep_offline(now)
        held = self.holdings.get(request.case_id)
        if request.kind == RELEASE and request.erasure_id:
            return self._erase(held, request, now) + self._sweep_offline(now)
        if held is not None and held.epoch > request.epoch:
            return self._sweep_offline(now)  # about an earlier opening of the case
        if request.kind == QUEUE:
            effects = self._queue(held, request, now)
        elif request.kind == TRANSFER:
            effects = self._transfer(held, request, now)
        elif request.kind == RELEASE:
            effects = self._release(held, request, now)
        elif request.kind == CLAIM:
            effects = self._claim(held, request, now)
        elif request.kind == REASSIGN:
            effects = self._reassign(held, request, now)
        else:
            raise InvalidRecordError(f"assignment request {request.request_id} has no known kind")
        return effects + self._sweep_offline(now)

    def tick(self, now: datetime, *, predict: bool = True) -> list[Emit]:
        """Time-driven work: owners offline past the grace period lose their cases, waiting
        cases go to agents who came on shift, and (`predict`) breaches are predicted as
        queues age and the cases at risk overflow. The prediction costs time in proportion
        to the backlog (~0.1 s at 6,000 waiting cases), so the processor runs it less often
        than the rest."""
        effects = self._sweep_offline(now)
        if not self._order_of:
            return effects
        by_id = self.care.agents_by_id
        ready = [by_id[a] for a in self._with_room if self._online_on_shift(by_id[a], now)]
        for agent in sorted(ready, key=lambda a: (self._last.get(a.id, NEVER), a.id)):
            if not self._order_of:
                break
            effects += self._fill(agent.id, None, now)
        if not predict:
            return effects
        for prediction in self.predictions(now):
            held = self.holdings[prediction.case_id]
            if held.at_risk or not prediction.at_risk or prediction.due_at <= now:
                continue
            effects += self._mark_at_risk(held, prediction, now)
            if self.overflow:
                effects += self._overflow(prediction.case_id, now)
        return effects

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
            preferred = self._preferred(request.agent, held, now)
            if preferred is None:
                return [self._queued(held, now)]  # still waiting: the same answer
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
            response_clock=request.response_clock,
            response_cycle=request.response_cycle,
            channel=request.channel,
            customer_tier=request.customer_tier,
            priority_score=request.priority_score,
            product=request.product,
        )
        if request.HasField("response_due_at"):
            holding.response_due_at.CopyFrom(request.response_due_at)
        agent = self._preferred(request.agent, holding, now) or self._best(
            holding, now, self._normal_pool(holding)
        )
        if agent is not None:
            return effects + self._grant(holding, agent.id, request.request_id, now)
        if self._after_hours_overflow(holding.queue, now):
            helper = self._best(
                holding, now, self._pools.specialists(holding.language, holding.brand)
            )
            if helper is not None:
                return effects + self._grant(
                    holding, helper.id, request.request_id, now, overflow=True
                )
        holding.cause_id = request.request_id
        self._keep(holding)
        effects += [Emit(Topic.ASSIGNMENTS_CHANGELOG, holding), self._queued(holding, now)]
        return effects + self._predict_new(holding.case_id, now)

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
        if _stale(held, request):
            return []
        agent = self.care.agents_by_id.get(request.agent)
        refusal = self._refusal(agent, request.agent, held)
        if agent is None or refusal:
            return [self._rejected(request, refusal, now)]
        previous = held.agent
        effects = self._grant(
            held,
            agent.id,
            request.request_id,
            now,
            command_id=request.command_id,
            previous=previous,
            reason=request.reason,
            asked=request,
        )
        if previous:
            effects += self._fill(previous, request.request_id, now)
        return effects

    def _claim(
        self,
        held: routing_pb2.AssignmentHolding | None,
        request: routing_pb2.AssignmentRequest,
        now: datetime,
    ) -> list[Emit]:
        if held is None or held.epoch != request.epoch:
            return [self._rejected(request, "the case no longer waits for an agent", now)]
        if held.agent == request.agent:
            return [self._decision(held, now)]  # claimed twice, or already theirs
        if _stale(held, request):
            return []
        if held.agent:
            return [self._rejected(request, f"the case is held by {held.agent!r}", now)]
        agent = self.care.agents_by_id.get(request.agent)
        # Whoever claims is at work: only an agent who signed off (and would lose the case
        # again after the grace period) is refused, not one who never set a presence.
        refusal = self._refusal(agent, request.agent, held, presence=False)
        if not refusal and request.agent in self._offline:
            refusal = f"{request.agent!r} is offline"
        if agent is None or refusal:
            return [self._rejected(request, refusal, now)]
        return self._grant(
            held, agent.id, request.request_id, now, command_id=request.command_id, asked=request
        )

    def _reassign(
        self,
        held: routing_pb2.AssignmentHolding | None,
        request: routing_pb2.AssignmentRequest,
        now: datetime,
    ) -> list[Emit]:
        """A silent owner's case to the best other agent of its pool with room; nobody: the
        owner keeps it and nothing is emitted (the book asks again on a later silence)."""
        if held is None or held.epoch != request.epoch or not held.agent:
            return []
        if (request.agent and held.agent != request.agent) or _stale(held, request):
            return []  # moved since the book asked
        silent = held.agent
        helper = self._best(held, now, self._normal_pool(held), exclude=silent)
        if helper is None:
            return []
        reason = request.reason or f"{silent} did not answer the customer"
        effects = self._grant(
            held, helper.id, request.request_id, now, previous=silent, reason=reason, asked=request
        )
        return effects + self._fill(silent, request.request_id, now)

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

    def _erase(
        self,
        held: routing_pb2.AssignmentHolding | None,
        request: routing_pb2.AssignmentRequest,
        now: datetime,
    ) -> list[Emit]:
        """An erased case (issue 12): its holding, if any, is released (the owner's room is
        given to the next case) and the case tombstoned on the changelog, whatever its
        opening, so not even a released record of it is left once compaction ran."""
        effects: list[Emit] = [Tombstone.of(Topic.ASSIGNMENTS_CHANGELOG, request.case_id)]
        if held is not None:
            self._forget(held.case_id)
            if held.agent:
                effects += self._fill(held.agent, request.request_id, now)
        effects.append(
            erasure.step(
                request.erasure_id,
                erasure.ASSIGNMENTS,
                service="routing-assigner",
                items=1 if held is not None else 0,
                case_ids=[request.case_id],
                now=now,
                note="" if held is not None else "the case held no assignment",
            )
        )
        return effects

    # -- presence --------------------------------------------------------------------------
    def _presence(self, request: routing_pb2.AssignmentRequest, now: datetime) -> list[Emit]:
        agent = self.care.agents_by_id.get(request.agent)
        if agent is None or request.presence == routing_pb2.PRESENCE_UNSPECIFIED:
            return []  # the gateway checks both; a record from an older config changes nothing
        current = self.agent_states.get(agent.id)
        if current is not None and current.presence == request.presence:
            return []  # said again (or a retried request): nothing changes
        if (
            current is not None
            and request.HasField("requested_at")
            and current.HasField("presence_since")
            and request.requested_at.ToNanoseconds() < current.presence_since.ToNanoseconds()
        ):
            return []  # older than the presence set since: delivered again after a crash
        state = routing_pb2.AgentState()
        if current is not None:
            state.CopyFrom(current)
        state.agent = agent.id
        state.presence = request.presence
        state.presence_since.CopyFrom(
            request.requested_at if request.HasField("requested_at") else to_timestamp(now)
        )
        state.presence_by = request.by
        state.cause_id = request.request_id
        self._set_state(state)
        effects = [Emit(Topic.AGENTS_CHANGELOG, state)]
        if request.presence == ONLINE:
            effects += self._fill(agent.id, request.request_id, now)
        return effects

    def _sweep_offline(self, now: datetime) -> list[Emit]:
        """Owners offline for the grace period lose their cases: to the best other agent of
        each case's pool, else back to the backlog."""
        if not self._offline:
            return []
        grace = self.care.routing.lifecycle.grace
        effects: list[Emit] = []
        for agent_id, since in list(self._offline.items()):
            if not self._cases_of.get(agent_id) or now - since < grace:
                continue
            reason = f"owner {agent_id} offline since {since:%Y-%m-%d %H:%M} UTC"
            for case_id in sorted(self._cases_of[agent_id], key=self._opening_order):
                held = self.holdings[case_id]
                cause = derived_id("offline", case_id, str(held.epoch), agent_id, since.isoformat())
                helper = self._best(held, now, self._normal_pool(held), exclude=agent_id)
                if helper is not None:
                    effects += self._grant(
                        held, helper.id, cause, now, previous=agent_id, reason=reason
                    )
                else:
                    effects += self._unassign(held, cause, reason, now)
        return effects

    def _unassign(
        self, held: routing_pb2.AssignmentHolding, cause: str, reason: str, now: datetime
    ) -> list[Emit]:
        waiting = routing_pb2.AssignmentHolding()
        waiting.CopyFrom(held)
        waiting.agent = ""
        waiting.overflow = False
        waiting.cause_id = cause
        # On a waiting holding: when it lost its agent (a command from before is stale).
        waiting.assigned_at.CopyFrom(to_timestamp(now))
        self._forget(held.case_id)
        self._keep(waiting)
        decision = routing_pb2.AssignmentDecision(
            decision_id=derived_id("unassigned", held.case_id, str(held.epoch), cause),
            request_id=held.request_id,
            case_id=held.case_id,
            epoch=held.epoch,
            outcome=UNASSIGNED,
            previous_agent=held.agent,
            reason=reason,
            decided_at=to_timestamp(now),
            queue_position=self._position(waiting),
        )
        return [
            Emit(Topic.ASSIGNMENTS_CHANGELOG, waiting),
            Emit(Topic.ASSIGNMENT_DECISIONS, decision),
        ]

    # -- granting ----------------------------------------------------------------------------
    def _grant(
        self,
        held: routing_pb2.AssignmentHolding,
        agent_id: str,
        cause: str,
        now: datetime,
        *,
        command_id: str = "",
        overflow: bool = False,
        previous: str = "",
        reason: str = "",
        asked: routing_pb2.AssignmentRequest | None = None,
    ) -> list[Emit]:
        """`asked`: the command (TRANSFER, CLAIM, REASSIGN) granted: the holding's
        assigned_at is then when it was asked for (the book's clock), so that a command asked
        for before it is recognised as delivered again (`_stale`)."""
        holding = routing_pb2.AssignmentHolding()
        holding.CopyFrom(held)
        holding.agent = agent_id
        holding.cause_id = cause
        holding.overflow = overflow
        if asked is not None and asked.HasField("requested_at"):
            holding.assigned_at.CopyFrom(asked.requested_at)
        else:
            holding.assigned_at.CopyFrom(to_timestamp(now))
        self._forget(holding.case_id)
        self._keep(holding)
        state = routing_pb2.AgentState()
        current = self.agent_states.get(agent_id)
        if current is not None:
            state.CopyFrom(current)
        state.agent = agent_id
        state.last_assigned_at.CopyFrom(holding.assigned_at)
        state.cause_id = derived_id("granted", holding.case_id, str(holding.epoch), cause)
        self._set_state(state)
        return [
            Emit(Topic.ASSIGNMENTS_CHANGELOG, holding),
            Emit(Topic.AGENTS_CHANGELOG, state),
            self._decision(holding, now, command_id=command_id, previous=previous, reason=reason),
        ]

    def _fill(self, agent_id: str, cause: str | None, now: datetime) -> list[Emit]:
        """Give an agent online and on shift who has room the waiting cases they may take:
        those of their normal pools, after-hours cases (specialists) and at-risk cases they
        may take in overflow, in give-out order. `cause`: the request that freed the slot
        (None: the tick; each grant then gets its own cause)."""
        agent = self.care.agents_by_id.get(agent_id)
        if agent is None or not self._online_on_shift(agent, now):
            return []
        effects: list[Emit] = []
        while self._order_of and self.load_of(agent.id) < agent.capacity:
            pick = self._next_for(agent, now)
            if pick is None:
                break
            case_id, overflow = pick
            waiting = self.holdings[case_id]
            own = _tick_cause("overflow" if overflow else "on-shift", waiting, agent.id)
            effects += self._grant(waiting, agent.id, cause or own, now, overflow=overflow)
        return effects

    def _next_for(self, agent: Agent, now: datetime) -> tuple[str, bool] | None:
        """The first waiting case (in give-out order) `agent` may take, and whether as
        overflow; only the heads of the backlogs they can serve are looked at."""
        best: SortKey | None = None
        best_overflow = False
        for key, entries in self._backlog.items():
            if not entries:
                continue
            queue, brand, language = key
            if agent.id in self._pool_members(queue, brand, language):
                found = self._first_fit(entries, agent)
                if found is not None and (best is None or found < best):
                    best, best_overflow = found, False
                continue
            if not agent.speaks(language) or not agent.serves(brand):
                continue
            if agent.specialist and self._after_hours_overflow(queue, now):
                found = self._first_fit(entries, agent)
            elif self.overflow and self._pools.overflow(
                agent, language, brand, self._pools.pool_key(queue)
            ):
                found = self._first_fit(self._at_risk.get(key, []), agent)
            else:
                found = None
            if found is not None and (best is None or found < best):
                best, best_overflow = found, True
        return None if best is None else (best[3], best_overflow)

    def _first_fit(self, entries: Sequence[SortKey], agent: Agent) -> SortKey | None:
        """The first entry whose channel still has room for `agent`."""
        loads = self._channel_load.get(agent.id)
        for entry in entries:
            if not loads:
                return entry
            channel = channel_name(self.holdings[entry[3]].channel)
            if loads.get(channel, 0) < agent.capacity_for(channel):
                return entry
        return None

    def _overflow(self, case_id: str, now: datetime) -> list[Emit]:
        """An at-risk waiting case to the best agent of its overflow pool, if one has room."""
        held = self.holdings[case_id]
        pool = self._pools.members(
            held.language, held.brand, self._pools.pool_key(held.queue), overflow=True
        )
        helper = self._best(held, now, pool)
        if helper is None:
            return []
        cause = _tick_cause("overflow", held, helper.id)
        return self._grant(held, helper.id, cause, now, overflow=True)

    def _preferred(
        self, agent_id: str, held: routing_pb2.AssignmentHolding, now: datetime
    ) -> Agent | None:
        """The preferred agent (a reopened case's previous owner), if they speak the case's
        language, serve its brand and are online, on shift and with room."""
        agent = self.care.agents_by_id.get(agent_id) if agent_id else None
        if agent is None or not agent.speaks(held.language) or not agent.serves(held.brand):
            return None
        return agent if self._available(agent, channel_name(held.channel), now) else None

    def _best(
        self,
        held: routing_pb2.AssignmentHolding,
        now: datetime,
        pool: Sequence[Agent],
        *,
        exclude: str = "",
    ) -> Agent | None:
        """The agent of `pool` online, on shift and with room (in all and on the case's
        channel) who matches the case best: skill match, then idle longest, then id."""
        channel = channel_name(held.channel)
        best: Agent | None = None
        best_rank: tuple[int, float, str] | None = None
        agents = self.care.agents_by_id
        for agent_id in self._member_ids(pool) & self._with_room:
            agent = agents[agent_id]
            if agent_id == exclude or not self._available(agent, channel, now):
                continue
            rank = (-self._skill(agent, held, channel), self._last.get(agent.id, NEVER), agent.id)
            if best_rank is None or rank < best_rank:
                best, best_rank = agent, rank
        return best

    def _available(self, agent: Agent, channel: str, now: datetime) -> bool:
        return self._has_room(agent, channel) and self._online_on_shift(agent, now)

    def _online_on_shift(self, agent: Agent, now: datetime) -> bool:
        return self.presence_of(agent.id) == ONLINE and self._shifts.on_shift(agent, now)

    def _has_room(self, agent: Agent, channel: str) -> bool:
        if self.load_of(agent.id) >= agent.capacity:
            return False
        loads = self._channel_load.get(agent.id)
        return not loads or loads.get(channel, 0) < agent.capacity_for(channel)

    def _refusal(
        self,
        agent: Agent | None,
        agent_id: str,
        held: routing_pb2.AssignmentHolding,
        *,
        presence: bool = True,
    ) -> str:
        """Why `agent` may not be given the case by a command (transfer, claim); "" = may.
        `presence`: refuse an agent who is offline (a transfer to someone not at work)."""
        if agent is None:
            return f"unknown agent {agent_id!r}"
        if not agent.serves(held.brand):
            return f"{agent.id!r} does not serve {held.brand!r}"
        if presence and self.presence_of(agent.id) == OFFLINE:
            return f"{agent.id!r} is offline"
        load = self.load_of(agent.id)
        if load >= agent.capacity:
            return f"{agent.id!r} is at capacity ({load} of {agent.capacity} cases)"
        channel = channel_name(held.channel)
        on_channel = self._channel_load.get(agent.id, {}).get(channel, 0)
        if on_channel >= agent.capacity_for(channel):
            return (
                f"{agent.id!r} is at capacity on {channel} "
                f"({on_channel} of {agent.capacity_for(channel)} cases)"
            )
        return ""

    def _skill(self, agent: Agent, held: routing_pb2.AssignmentHolding, channel: str) -> int:
        """How well `agent` matches the case: the sum of their proficiency in its language,
        channel, product (if known) and customer tier (if known)."""
        key = (agent.id, held.language, held.channel, held.product, held.customer_tier)
        found = self._skills.get(key)
        if found is None:
            found = agent.proficiency(f"language:{held.language}") + agent.proficiency(
                f"channel:{channel}"
            )
            if held.product:
                found += agent.proficiency(f"product:{held.product}")
            if held.customer_tier:
                found += agent.proficiency(f"tier:{held.customer_tier}")
            self._skills[key] = found
        return found

    def _member_ids(self, pool: Sequence[Agent]) -> frozenset[str]:
        """The ids of a pool (the pools are tuples kept by `Pools`: one set per pool)."""
        found = self._ids.get(id(pool))
        if found is None:
            found = self._ids[id(pool)] = frozenset(a.id for a in pool)
        return found

    def _normal_pool(self, held: routing_pb2.AssignmentHolding) -> tuple[Agent, ...]:
        return self._pools.members(held.language, held.brand, self._pools.pool_key(held.queue))

    def _pool_members(self, queue: str, brand: str, language: str) -> frozenset[str]:
        key = (queue, brand, language)
        found = self._pool_ids.get(key)
        if found is None:
            found = self._pool_ids[key] = frozenset(
                a.id for a in self._pools.members(language, brand, self._pools.pool_key(queue))
            )
        return found

    def _after_hours_overflow(self, queue: str, now: datetime) -> bool:
        """Whether `queue` sends its cases to the specialist network now: it says so
        (`after_hours: overflow`) and none of its answering teams is on shift."""
        found = self.care.queue(queue)
        if found is None or found.after_hours != "overflow":
            return False
        teams = self._pools.queue_teams(queue)
        return bool(teams) and not any(self._shifts.team_on_shift(t, now) for t in teams)

    # -- prediction ------------------------------------------------------------------------
    def _pool_state(self, language: str, brand: str, team: str) -> PoolState:
        agents = [
            a
            for a in self._pools.members(language, brand, team)
            if self.presence_of(a.id) == ONLINE
        ]
        return PoolState(agents, {a.id: self.load_of(a.id) for a in agents})

    def _predict_new(self, case_id: str, now: datetime) -> list[Emit]:
        """Predict a case that just joined the backlog (its position counted from the
        sorted backlogs whose pools share an agent with its own); announce and overflow it
        when it is predicted to breach."""
        held = self.holdings[case_id]
        if not held.HasField("response_due_at") or held.at_risk:
            return []
        team = self._pools.pool_key(held.queue)
        mine = (held.brand, held.language, team)
        place = self._order_of[case_id]
        position = 0
        for (queue, brand, language), entries in self._backlog.items():
            if entries and self._overlaps(mine, (brand, language, self._pools.pool_key(queue))):
                position += bisect_left(entries, place)
        due = from_timestamp(held.response_due_at)
        case = WaitingCase(case_id, held.language, held.brand, team, due)
        prediction = predict_case(
            case, position, self._staffing(held.language, held.brand, team, now), self.times, now
        )
        if prediction is None or not prediction.at_risk or prediction.due_at <= now:
            return []
        effects = self._mark_at_risk(held, prediction, now)
        if self.overflow:
            effects += self._overflow(case_id, now)
        return effects

    def _staffing(self, language: str, brand: str, team: str, now: datetime) -> Staffing:
        """The pool's staffing as `prediction.staffing` works it out, from the pool's
        members grouped by calendar, the few agents not online and the agents with room,
        when someone of the pool is on shift now; else (the pool's next opening) in full."""
        members = self._pools.members(language, brand, team)
        if self._default_presence == ONLINE:
            groups = self._shift_groups.get(id(members))
            if groups is None:
                groups = self._shift_groups[id(members)] = self._group_by_calendar(members)
            agents = capacity = 0
            for first, count, slots in groups:
                if self._shifts.on_shift(first, now):
                    agents, capacity = agents + count, capacity + slots
            ids = self._member_ids(members)
            by_id = self.care.agents_by_id
            for agent_id in self._not_online & ids:
                if self._shifts.on_shift(by_id[agent_id], now):
                    agents, capacity = agents - 1, capacity - by_id[agent_id].capacity
            if agents > 0:
                free = 0
                for agent_id in ids & self._with_room:
                    agent = by_id[agent_id]
                    if agent_id not in self._not_online and self._shifts.on_shift(agent, now):
                        free += agent.capacity - self.load_of(agent_id)
                return Staffing(now, agents, capacity, free)
        return staffing(self._pool_state(language, brand, team), self._shifts, now)

    def _group_by_calendar(self, members: Sequence[Agent]) -> list[tuple[Agent, int, int]]:
        """(an agent of the group, agents, their capacity) per calendar the members use."""
        groups: dict[int, list[Agent]] = defaultdict(list)
        for agent in members:
            groups[id(self._shifts.calendars.get(agent.id))].append(agent)
        return [(g[0], len(g), sum(a.capacity for a in g)) for g in groups.values()]

    def _overlaps(self, one: tuple[str, str, str], other: tuple[str, str, str]) -> bool:
        """Whether cases of two pools (brand, language, team) compete for the same agents."""
        if one == other:
            return True
        pair = (one, other)
        found = self._overlap.get(pair)
        if found is None:
            ids = {a.id for a in self._pools.members(one[1], one[0], one[2])}
            found = self._overlap[pair] = any(
                a.id in ids for a in self._pools.members(other[1], other[0], other[2])
            )
        return found

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

    # -- answers ---------------------------------------------------------------------------
    def _decision(
        self,
        holding: routing_pb2.AssignmentHolding,
        now: datetime,
        *,
        command_id: str = "",
        previous: str = "",
        reason: str = "",
    ) -> Emit:
        if not reason and holding.overflow:
            reason = (
                f"overflow: {holding.at_risk_reason}"
                if holding.at_risk_reason
                else f"overflow: no team of queue {holding.queue!r} is on shift"
            )
        decision = routing_pb2.AssignmentDecision(
            # The grant's instant is part of the id: the same holding answers a repeated
            # request with the same decision, while a case handed back and forth again (a
            # command redelivered to the book comes back asked anew) gets a decision the book
            # has not applied yet, so the book follows the assigner's last word.
            decision_id=derived_id(
                "decision",
                holding.case_id,
                str(holding.epoch),
                holding.agent,
                holding.cause_id,
                str(holding.assigned_at.ToNanoseconds()),
            ),
            request_id=holding.request_id,
            case_id=holding.case_id,
            epoch=holding.epoch,
            outcome=ASSIGNED,
            agent=holding.agent,
            command_id=command_id,
            decided_at=to_timestamp(now),
            overflow=holding.overflow,
            reason=reason,
            previous_agent=previous,
        )
        return Emit(Topic.ASSIGNMENT_DECISIONS, decision)

    def _queued(self, holding: routing_pb2.AssignmentHolding, now: datetime) -> Emit:
        """The answer to a QUEUE that leaves the case waiting: its place in its queue."""
        teams = self._pools.queue_teams(holding.queue)
        if teams and not any(self._shifts.team_on_shift(t, now) for t in teams):
            reason = f"no team of queue {holding.queue!r} is on shift"
        else:
            reason = "no agent who can take the case has room"
        decision = routing_pb2.AssignmentDecision(
            decision_id=derived_id("queued", holding.case_id, str(holding.epoch), holding.cause_id),
            request_id=holding.request_id,
            case_id=holding.case_id,
            epoch=holding.epoch,
            outcome=QUEUED,
            decided_at=to_timestamp(now),
            queue_position=self._position(holding),
            reason=reason,
        )
        return Emit(Topic.ASSIGNMENT_DECISIONS, decision)

    @staticmethod
    def _rejected(request: routing_pb2.AssignmentRequest, reason: str, now: datetime) -> Emit:
        decision = routing_pb2.AssignmentDecision(
            # The reason is part of the id: a request delivered again after the case changed
            # hands is refused for another reason, which is another record.
            decision_id=derived_id("rejected", request.request_id, reason),
            request_id=request.request_id,
            case_id=request.case_id,
            epoch=request.epoch,
            outcome=REJECTED,
            agent=request.agent,
            reason=reason,
            command_id=request.command_id,
            decided_at=to_timestamp(now),
        )
        return Emit(Topic.ASSIGNMENT_DECISIONS, decision)

    # -- state -------------------------------------------------------------------------------
    def _position(self, holding: routing_pb2.AssignmentHolding) -> int:
        """How many waiting cases of the case's queue go out before it."""
        place = self._order_of.get(holding.case_id)
        if place is None:
            return 0
        return sum(
            bisect_left(entries, place)
            for (queue, _brand, _language), entries in self._backlog.items()
            if queue == holding.queue
        )

    def _sort_key(self, holding: routing_pb2.AssignmentHolding) -> SortKey:
        score = max(holding.priority_score, self._level_floor(holding.priority))
        return (-score, holding.opened_at.seconds, holding.opened_at.nanos, holding.case_id)

    def _level_floor(self, level: str) -> float:
        """The score a priority level starts at: old records carry only the level."""
        return self._floors.get(level, 0.0)

    def _opening_order(self, case_id: str) -> SortKey:
        return self._sort_key(self.holdings[case_id])

    def _set_state(self, state: routing_pb2.AgentState) -> None:
        self.agent_states[state.agent] = state
        if state.HasField("last_assigned_at"):
            stamp = state.last_assigned_at
            self._last[state.agent] = stamp.seconds + stamp.nanos / 1e9
        if state.presence == OFFLINE:
            self._offline[state.agent] = from_timestamp(state.presence_since)
        else:
            self._offline.pop(state.agent, None)
        if state.presence in (ONLINE, routing_pb2.PRESENCE_UNSPECIFIED):
            self._not_online.discard(state.agent)
        else:
            self._not_online.add(state.agent)

    def _room_changed(self, agent_id: str) -> None:
        agent = self.care.agents_by_id.get(agent_id)
        if agent is not None and self.load_of(agent_id) < agent.capacity:
            self._with_room.add(agent_id)
        else:
            self._with_room.discard(agent_id)

    def _keep(self, holding: routing_pb2.AssignmentHolding) -> None:
        self.holdings[holding.case_id] = holding
        if holding.agent:
            self._cases_of[holding.agent].add(holding.case_id)
            self._channel_load[holding.agent][channel_name(holding.channel)] += 1
            self._room_changed(holding.agent)
            return
        key = (holding.queue, holding.brand, holding.language)
        place = self._sort_key(holding)
        self._order_of[holding.case_id] = place
        insort(self._backlog.setdefault(key, []), place)
        if holding.at_risk:
            insort(self._at_risk.setdefault(key, []), place)

    def _forget(self, case_id: str) -> None:
        held = self.holdings.pop(case_id, None)
        if held is None:
            return
        if held.agent:
            self._cases_of[held.agent].discard(case_id)
            self._channel_load[held.agent][channel_name(held.channel)] -= 1
            self._room_changed(held.agent)
            return
        place = self._order_of.pop(case_id)
        key = (held.queue, held.brand, held.language)
        _remove(self._backlog[key], place)
        if held.at_risk:
            _remove(self._at_risk[key], place)


def _remove(entries: list[SortKey], place: SortKey) -> None:
    index = bisect_left(entries, place)
    if index < len(entries) and entries[index] == place:
        del entries[index]


def _stale(held: routing_pb2.AssignmentHolding, request: routing_pb2.AssignmentRequest) -> bool:
    """A command (TRANSFER, CLAIM, REASSIGN) asked for before the case last changed hands:
    delivered again after the assigner crashed between flushing its effects and committing
    the request (at-least-once), so already applied, and applying it again would hand the
    case back to an earlier agent with a decision the book has not seen, while the later
    request's decision, the same as the first time, is ignored as already applied. The rare
    fresh command overtaken by another change of hands is dropped too: the case has moved on
    since it was asked (the book shows who holds it)."""
    if not request.HasField("requested_at") or not held.HasField("assigned_at"):
        return False
    asked, changed = request.requested_at, held.assigned_at
    return (asked.seconds, asked.nanos) < (changed.seconds, changed.nanos)


def _tick_cause(kind: str, held: routing_pb2.AssignmentHolding, agent_id: str) -> str:
    """The cause of a grant the tick makes (no request caused it): one per case opening and
    agent, so the changelog record and decision keep their ids if made again."""
    return derived_id(kind, held.case_id, str(held.epoch), agent_id)
