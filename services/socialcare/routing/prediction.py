"""Breach prediction for cases waiting in the assigner's backlog (pure: time passed in).

The assigner is the one place that sees every queue's backlog and every agent's load, so it
can tell, before the SLA clock does, that a waiting case will not get an answer in time:
the clock only warns at fixed fractions of the target, whatever the queue looks like,
whereas a surge on an understaffed language is visible here the moment it builds up.

The model (deliberately simple, so its reason text can be checked by a person):

* Who can take a case: its *pool*, the agents online and on shift who speak its language,
  serve its brand and are not specialists (and belong to one of its queue's answering teams
  when the queue names any: follow-the-sun).
* Its *position*: the waiting cases ahead of it in the order the assigner gives them out
  that compete for the same agents (their pools share an agent).
* With F free slots in the pool, the case gets an agent at once when position < F; else it
  waits for the (position - F + 1)-th slot to free up. A busy slot frees after a handle time
  H (an EWMA per language of assignment -> release), so C slots free one every H / C
  seconds on average: wait = (position - F + 1) * H / C.
* Nobody on shift: the count starts when the pool's first calendar next opens, with the
  agents on shift then.
* Predicted response = start + wait + R, R the time from assignment to the first reply
  (an EWMA per language too). After the clock's due time: AT RISK.

`ServiceTimes` keeps the two EWMAs; `Shifts` knows whose calendar is open when; `Pools` says
who could take a case normally and who could in overflow (specialists, other teams).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from socialcare.core.domain.calendars import BusinessCalendar
from socialcare.core.domain.care_config import Agent, CareConfig

# Priors used until a language has observations: a typical social-care conversation keeps
# an agent busy half an hour, and an assigned agent answers within five minutes.
HANDLE_PRIOR_SECONDS = 1800.0
FIRST_REPLY_PRIOR_SECONDS = 300.0
# Weight of the newest observation: about the last ten cases of a language matter.
EWMA_ALPHA = 0.2
# No calendar of a pool opens within this horizon: treat the pool as empty.
OPENING_HORIZON = timedelta(days=14)


@dataclass
class Ewma:
    """An exponentially weighted moving average that answers `prior` until it has data."""

    prior: float
    alpha: float = EWMA_ALPHA
    value: float | None = None
    samples: int = 0

    def observe(self, sample: float) -> None:
        sample = max(0.0, sample)
        self.value = (
            sample if self.value is None else self.value + self.alpha * (sample - self.value)
        )
        self.samples += 1

    @property
    def estimate(self) -> float:
        return self.prior if self.value is None else self.value


@dataclass
class ServiceTimes:
    """Per language: how long an agent keeps a case (handle time) and how long an assigned
    case waits for its first reply."""

    handle_prior: float = HANDLE_PRIOR_SECONDS
    first_reply_prior: float = FIRST_REPLY_PRIOR_SECONDS
    alpha: float = EWMA_ALPHA
    _handle: dict[str, Ewma] = field(default_factory=dict)
    _first_reply: dict[str, Ewma] = field(default_factory=dict)

    def observe_handle(self, language: str, seconds: float) -> None:
        self._ewma(self._handle, language, self.handle_prior).observe(seconds)

    def observe_first_reply(self, language: str, seconds: float) -> None:
        self._ewma(self._first_reply, language, self.first_reply_prior).observe(seconds)

    def handle(self, language: str) -> float:
        found = self._handle.get(language)
        return self.handle_prior if found is None else found.estimate

    def first_reply(self, language: str) -> float:
        found = self._first_reply.get(language)
        return self.first_reply_prior if found is None else found.estimate

    def _ewma(self, table: dict[str, Ewma], language: str, prior: float) -> Ewma:
        found = table.get(language)
        if found is None:
            found = table[language] = Ewma(prior, self.alpha)
        return found


@dataclass
class Shifts:
    """Which agents are on shift when: an agent works while their own calendar is open, else
    (no calendar of their own) while their team's is; neither means always on shift.

    The answers for the latest instant asked about are remembered per calendar: the assigner
    asks about many agents at one `now`, they share a few calendars, and a calendar lookup is
    not free."""

    calendars: Mapping[str, BusinessCalendar]  # agent id -> calendar (absent: 24/7)
    # team name -> calendar (absent: 24/7): whether a queue's answering team is on shift.
    teams: Mapping[str, BusinessCalendar] = field(default_factory=dict)
    _at: datetime | None = field(default=None, init=False, repr=False, compare=False)
    _open: dict[int, bool] = field(default_factory=dict, init=False, repr=False, compare=False)
    _next: dict[int, datetime] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_config(cls, care: CareConfig) -> Shifts:
        calendars: dict[str, BusinessCalendar] = {}
        for agent in care.agents:
            if agent.calendar:
                calendar = care.calendar(agent.calendar)
            else:
                team = care.team(agent.team) if agent.team else None
                calendar = (
                    care.calendar(team.calendar) if team is not None and team.calendar else None
                )
            if calendar is not None:
                calendars[agent.id] = calendar
        teams = {
            team.name: found
            for team in care.teams
            if team.calendar and (found := care.calendar(team.calendar)) is not None
        }
        return cls(calendars, teams)

    def on_shift(self, agent: Agent, now: datetime) -> bool:
        calendar = self.calendars.get(agent.id)
        return True if calendar is None else self._is_open(calendar, now)

    def team_on_shift(self, team: str, now: datetime) -> bool:
        """Whether the team's calendar is open (a team without one works round the clock)."""
        calendar = self.teams.get(team)
        return True if calendar is None else self._is_open(calendar, now)

    def next_on_shift(self, agent: Agent, now: datetime) -> datetime:
        """`now` if the agent is on shift, else when their calendar next opens."""
        calendar = self.calendars.get(agent.id)
        if calendar is None:
            return now
        self._remember(now)
        found = self._next.get(id(calendar))
        if found is None:
            found = self._next[id(calendar)] = calendar.next_open(now)
        return found

    def _is_open(self, calendar: BusinessCalendar, now: datetime) -> bool:
        # Kept per calendar, not per agent: a thousand agents share a handful of calendars.
        self._remember(now)
        found = self._open.get(id(calendar))
        if found is None:
            found = self._open[id(calendar)] = calendar.is_open(now)
        return found

    def _remember(self, now: datetime) -> None:
        if now != self._at:
            self._at = now
            self._open.clear()
            self._next.clear()


@dataclass(frozen=True)
class Pools:
    """Who may take a case of (brand, language) from a queue, by the queue's answering teams.

    Normal: non-specialists who speak the language and serve the brand, of one of the
    queue's answering teams when it names any (follow-the-sun: `Queue.teams`, or `team`).
    Overflow (for a case predicted to breach): specialists who speak the language and serve
    the brand, and such agents of other teams. The configuration does not change while the
    assigner runs, so the member lists are computed once per key and kept."""

    care: CareConfig
    _members: dict[tuple[str, str, str, bool], tuple[Agent, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _teams: dict[str, tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def queue_teams(self, queue: str) -> tuple[str, ...]:
        """The teams answering `queue`, preferred first (empty = every team's agents)."""
        found = self._teams.get(queue)
        if found is None:
            configured = self.care.queue(queue)
            found = tuple(configured.answering_teams) if configured is not None else ()
            self._teams[queue] = found
        return found

    def queue_team(self, queue: str) -> str:
        """The first team answering `queue` ("" = none), for labels (events, metrics)."""
        teams = self.queue_teams(queue)
        return teams[0] if teams else ""

    def pool_key(self, queue: str) -> str:
        """What tells pools of one (brand, language) apart: the queue's answering teams."""
        return ",".join(self.queue_teams(queue))

    def normal(self, agent: Agent, language: str, brand: str, team: str) -> bool:
        """`team`: a pool key (the answering teams, comma-separated; "" = any team)."""
        return (
            not agent.specialist
            and agent.speaks(language)
            and agent.serves(brand)
            and (not team or agent.team in team.split(","))
        )

    def overflow(self, agent: Agent, language: str, brand: str, team: str) -> bool:
        if not agent.speaks(language) or not agent.serves(brand):
            return False
        return agent.specialist or bool(team and agent.team not in team.split(","))

    def members(
        self, language: str, brand: str, team: str, *, overflow: bool = False
    ) -> tuple[Agent, ...]:
        """The agents of the normal (or overflow) pool of (brand, language, team), in
        configuration order."""
        key = (language, brand, team, overflow)
        found = self._members.get(key)
        if found is None:
            eligible = self.overflow if overflow else self.normal
            found = tuple(a for a in self.care.agents if eligible(a, language, brand, team))
            self._members[key] = found
        return found

    def specialists(self, language: str, brand: str) -> tuple[Agent, ...]:
        """The specialist network for a case of (brand, language): after-hours overflow."""
        key = (language, brand, "\x00specialists", True)
        found = self._members.get(key)
        if found is None:
            found = tuple(
                a
                for a in self.care.agents
                if a.specialist and a.speaks(language) and a.serves(brand)
            )
            self._members[key] = found
        return found


@dataclass(frozen=True)
class WaitingCase:
    """A backlog entry as the model sees it (in the order the assigner gives cases out)."""

    case_id: str
    language: str
    brand: str
    team: str  # the pool key of its queue (`Pools.pool_key`: answering teams, "" = any)
    due_at: datetime | None  # None: no running response clock, nothing to predict


@dataclass(frozen=True)
class Prediction:
    case_id: str
    due_at: datetime
    position: int  # competing cases ahead
    free_slots: int
    agents: int  # in the pool, on shift at `start`
    capacity: int  # their total capacity
    handle_seconds: float
    first_reply_seconds: float
    start: datetime  # when the pool's agents are on shift (now, or the next opening)
    predicted_response_at: datetime | None  # None: no agent can take it

    @property
    def at_risk(self) -> bool:
        return self.predicted_response_at is None or self.predicted_response_at > self.due_at

    def reason(self, now: datetime) -> str:
        """The numbers behind the prediction, for people (console, escalation)."""
        if self.predicted_response_at is None:
            return (
                f"no agent who can take the case is on shift within {OPENING_HORIZON.days} days; "
                f"{self.position} cases ahead"
            )
        shift = "" if self.start <= now else f" from {self.start:%Y-%m-%d %H:%M} UTC"
        late = (self.predicted_response_at - self.due_at).total_seconds()
        verdict = f"{_minutes(late)} late" if late > 0 else f"{_minutes(-late)} early"
        return (
            f"{self.position} cases ahead, {self.free_slots} free of {self.capacity} slots "
            f"({self.agents} agents on shift{shift}), handle time {_minutes(self.handle_seconds)}, "
            f"first reply {_minutes(self.first_reply_seconds)}: predicted response at "
            f"{self.predicted_response_at:%H:%M:%S}, {verdict} for the due time "
            f"{self.due_at:%H:%M:%S}"
        )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


@dataclass(frozen=True)
class PoolState:
    """The agents of a pool and their spare room, as the assigner knows it."""

    agents: Sequence[Agent]
    load: Mapping[str, int]


def predict(
    backlog: Sequence[WaitingCase],
    pools: Mapping[tuple[str, str, str], PoolState],
    shifts: Shifts,
    times: ServiceTimes,
    now: datetime,
) -> list[Prediction]:
    """A prediction for each waiting case with a due time, `backlog` in give-out order.

    `pools[(brand, language, team)]` holds the agents of the normal pool of such cases
    (shift not yet applied) and the current load of every agent."""
    ahead: dict[tuple[str, str, str], int] = {}
    members = {key: frozenset(a.id for a in pool.agents) for key, pool in pools.items()}
    overlaps: dict[tuple[tuple[str, str, str], tuple[str, str, str]], bool] = {}
    staffing: dict[tuple[str, str, str], Staffing] = {}
    predictions: list[Prediction] = []
    for case in backlog:
        key = (case.brand, case.language, case.team)
        position = 0
        for other, count in ahead.items():
            pair = (key, other)
            if pair not in overlaps:
                overlaps[pair] = other == key or bool(
                    members.get(key, frozenset()) & members.get(other, frozenset())
                )
            if overlaps[pair]:
                position += count
        ahead[key] = ahead.get(key, 0) + 1
        if case.due_at is None:
            continue
        if key not in staffing:
            staffing[key] = _staffing(pools.get(key, PoolState((), {})), shifts, now)
        predictions.append(_predict_one(case, case.due_at, position, staffing[key], times, now))
    return predictions


@dataclass(frozen=True)
class Staffing:
    """A pool's agents on shift from `start`: how many, their slots, and how many are free."""

    start: datetime | None  # when the pool is first on shift (None: not within the horizon)
    agents: int
    capacity: int
    free: int


def predict_case(
    case: WaitingCase,
    position: int,
    staffing: Staffing,
    times: ServiceTimes,
    now: datetime,
) -> Prediction | None:
    """The prediction for one waiting case whose `position` (competing cases ahead) and
    pool `staffing` the caller worked out: the numbers `predict` gives it within the whole
    backlog. None when the case has no due time."""
    if case.due_at is None:
        return None
    return _predict_one(case, case.due_at, position, staffing, times, now)


def staffing(pool: PoolState, shifts: Shifts, now: datetime) -> Staffing:
    """The pool's staffing from its first shift on (now, or its next opening)."""
    return _staffing(pool, shifts, now)


def _staffing(pool: PoolState, shifts: Shifts, now: datetime) -> Staffing:
    start = _first_shift(pool.agents, shifts, now)
    working = [] if start is None else [a for a in pool.agents if shifts.on_shift(a, start)]
    return Staffing(
        start=start,
        agents=len(working),
        capacity=sum(a.capacity for a in working),
        free=sum(max(0, a.capacity - pool.load.get(a.id, 0)) for a in working),
    )


def _predict_one(
    case: WaitingCase,
    due_at: datetime,
    position: int,
    staffing: Staffing,
    times: ServiceTimes,
    now: datetime,
) -> Prediction:
    handle = times.handle(case.language)
    first_reply = times.first_reply(case.language)
    start, capacity, free = staffing.start, staffing.capacity, staffing.free
    predicted: datetime | None = None
    if start is not None and capacity > 0:
        slots_needed = position - free + 1
        wait = 0.0 if slots_needed <= 0 else slots_needed * handle / capacity
        predicted = start + timedelta(seconds=wait + first_reply)
    return Prediction(
        case_id=case.case_id,
        due_at=due_at,
        position=position,
        free_slots=free,
        agents=staffing.agents,
        capacity=capacity,
        handle_seconds=handle,
        first_reply_seconds=first_reply,
        start=start or now,
        predicted_response_at=predicted,
    )


def _first_shift(agents: Iterable[Agent], shifts: Shifts, now: datetime) -> datetime | None:
    """The first instant from `now` at which one of `agents` is on shift (None: not within
    the horizon)."""
    starts = [shifts.next_on_shift(agent, now) for agent in agents]
    earliest = min(starts, default=None)
    if earliest is None or earliest - now > OPENING_HORIZON:
        return None
    return earliest
