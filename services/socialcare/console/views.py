"""What the console shows, decided without HTTP: who sees which case, the inbox's order,
the composer's limits and canned answers (measured against the channel), a case's SLA
clocks and escalations (and who may escalate; who may acknowledge or resolve is
`gateway.access`'s rule), its identities, questions, priority explanation, lifecycle,
survey, consultations and referrals, which actions a viewer gets, agents by presence, and
the wall's figures.

Pure functions over the board's summaries, one case from routing, the care config and the
principal; the routes (`console.routes`) fetch, call these and render.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp

from socialcare.console.access import Permission, Principal
from socialcare.console.board import CaseSummary, status_name
from socialcare.core.clock import from_timestamp
from socialcare.core.domain.care_config import ANY_LANGUAGE, Agent, CareConfig
from socialcare.core.domain.case_rules import (
    TEMPLATE_CHANNELS,
    UNKNOWN_LANGUAGES,
    WHATSAPP_WINDOW,
)
from socialcare.core.domain.cases import (
    CLOCK_KIND_NAMES,
    REPLY_LIMITS,
    SLA_STATE_NAMES,
    channel_name,
)
from socialcare.gateway.access import may_handle_escalation
from socialcare.gateway.agents import SpecialistChoice
from socialcare.gateway.models import AgentRead
from socialcare.v1 import case_pb2, escalation_pb2

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
# Statuses of a case waiting for an owner: just opened (the assigner has not answered) or
# queued.
WAITING = frozenset({"new", "open"})
INBOX_LIMIT = 100


# -- who sees what ---------------------------------------------------------------------------


def roster_agent(care: CareConfig, principal: Principal) -> Agent | None:
    return care.agents_by_id.get(principal.agent_id) if principal.agent_id else None


def agent_name(care: CareConfig, agent_id: str) -> str:
    """The roster name of `agent_id` ("Anna Jansen"), or the id itself for someone not on
    the roster (an agent since removed, a customer's handle)."""
    agent = care.agents_by_id.get(agent_id) if agent_id else None
    return agent.name if agent is not None else agent_id


def serves_any(agent: Agent, brands: frozenset[str] | None) -> bool:
    """Whether `agent` works for one of `brands` (None: every brand), so a viewer of those
    brands may see them (the wall's presence, transfer and consult lists)."""
    if brands is None:
        return True
    return any(agent.serves(brand) for brand in brands)


def agent_queues(care: CareConfig, agent: Agent) -> list[str]:
    """The queues that receive cases in the agent's languages (the catch-all queue for a
    language without a queue of its own), in roster order."""
    names: list[str] = []
    for language in agent.languages:
        name = care.queue_for(language).name
        if name not in names:
            names.append(name)
    return names


def sees_all_queues(principal: Principal) -> bool:
    """Leads, operations and admins see every case of their brands; agents their own,
    their queues' and those they were consulted on."""
    return any(
        principal.can(p)
        for p in (Permission.REASSIGN, Permission.READ_OPERATIONS, Permission.MANAGE)
    )


def in_my_queues(care: CareConfig, agent: Agent, case: CaseSummary) -> bool:
    """Waiting for an agent in one of the agent's queues, in a language they speak."""
    return case.queue in agent_queues(care, agent) and (
        case.language in agent.languages or case.language in UNKNOWN_LANGUAGES
    )


def visible(care: CareConfig, principal: Principal, case: CaseSummary) -> bool:
    """May `principal` see `case` (its page, its stream events)? Never across brands."""
    if not principal.can(Permission.READ_CASES) or not principal.sees_brand(case.brand):
        return False
    if sees_all_queues(principal):
        return True
    agent = roster_agent(care, principal)
    if agent is None:
        return False
    return (
        case.assignee == agent.id
        or agent.id in case.consultants
        or (
            case.queue in agent_queues(care, agent)
            and (case.language in agent.languages or case.language in UNKNOWN_LANGUAGES)
        )
    )


# -- inbox -----------------------------------------------------------------------------------


def urgency(case: CaseSummary) -> tuple[int, float, str]:
    """Inbox order: priority first, then least SLA time left (no deadline last)."""
    due = (
        case.sla_due_at.timestamp() if case.sla_due_at and case.sla_state == "running" else math.inf
    )
    return (PRIORITY_RANK.get(case.priority, 2), due, case.id)


@dataclass(frozen=True)
class Inbox:
    mine: list[CaseSummary]
    queued: list[CaseSummary]
    consulted: list[CaseSummary]
    queues: list[str]
    languages: list[str]


def inbox(care: CareConfig, principal: Principal, cases: Iterable[CaseSummary]) -> Inbox:
    """My open cases, then what waits in my queues in my languages, each by `urgency`;
    then cases I was consulted on. Empty for a principal who is not a roster agent."""
    agent = roster_agent(care, principal)
    if agent is None:
        return Inbox([], [], [], [], [])
    mine: list[CaseSummary] = []
    queued: list[CaseSummary] = []
    consulted: list[CaseSummary] = []
    for case in cases:
        if not case.open or not principal.sees_brand(case.brand):
            continue
        if case.assignee == agent.id:
            mine.append(case)
        elif case.status in WAITING and not case.assignee and in_my_queues(care, agent, case):
            queued.append(case)
        elif agent.id in case.consultants:
            consulted.append(case)
    return Inbox(
        mine=sorted(mine, key=urgency)[:INBOX_LIMIT],
        queued=sorted(queued, key=urgency)[:INBOX_LIMIT],
        consulted=sorted(consulted, key=urgency)[:INBOX_LIMIT],
        queues=agent_queues(care, agent),
        languages=list(agent.languages),
    )


# -- composer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComposerLimits:
    """What the live counter enforces: the channel's limit (None: none) and the signature
    the brand appends (with its separator), both as `core.domain.brands.Brand.sign` does."""

    limit: int | None
    signature: str
    separator_always_newline: bool

    @property
    def overhead(self) -> int:
        """Characters the signature takes, separator included."""
        return len(self.signature) + 1 if self.signature else 0


def composer_limits(care: CareConfig, brand: str, channel: str, agent_name: str) -> ComposerLimits:
    signed = care.brand(brand).sign("x", agent_name)
    signature = signed[2:] if len(signed) > 1 else ""
    return ComposerLimits(
        limit=REPLY_LIMITS.get(channel),
        signature=signature,
        separator_always_newline=len(signature) > 16,
    )


@dataclass(frozen=True)
class CannedOption:
    id: str
    title: str
    text: str


def canned_options(
    care: CareConfig,
    *,
    brand: str,
    language: str,
    channel: str,
    customer_name: str,
    agent_name: str,
) -> list[CannedOption]:
    """The canned answers for this case with their variables filled in."""
    customer_first = customer_name.split()[0] if customer_name.split() else ""
    agent_first = agent_name.split()[0] if agent_name.split() else agent_name
    return [
        CannedOption(
            answer.id,
            answer.title,
            answer.fill(customer_first_name=customer_first, agent_first_name=agent_first),
        )
        for answer in care.canned_answers_for(brand=brand, language=language, channel=channel)
    ]


def transfer_targets(care: CareConfig, brand: str, language: str, exclude: str) -> list[Agent]:
    """Agents who could take a case of `brand` in `language` (routing still checks
    capacity; an agent of another brand would be refused, `brand_not_served`)."""
    return [
        a
        for a in care.agents
        if a.id != exclude
        and a.serves(brand)
        and (language in UNKNOWN_LANGUAGES or a.speaks(language))
    ]


def brand_agents(care: CareConfig, brand: str) -> list[Agent]:
    """The roster agents who serve `brand`, in roster order."""
    return [a for a in care.agents if a.serves(brand)]


# -- WhatsApp templates ----------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateOption:
    """An approved WhatsApp template the composer offers: `value` is `name:language`."""

    name: str
    language: str

    @property
    def value(self) -> str:
        return f"{self.name}:{self.language}"


def needs_template(channel: str, customer_last_message_at: datetime | None, now: datetime) -> bool:
    """Whether free text would be refused now: on WhatsApp, 24 hours or more after the
    customer's last message (or with no dated message), as `case_rules` judges it."""
    if channel not in TEMPLATE_CHANNELS:
        return False
    return customer_last_message_at is None or now - customer_last_message_at >= WHATSAPP_WINDOW


def template_options(care: CareConfig, brand: str, language: str) -> list[TemplateOption]:
    """The brand's approved WhatsApp templates (care config `meta.whatsapp_templates`),
    those in the case's `language` first (`en_US` counts as `en`), else in config order."""
    meta = care.brand(brand).meta
    if meta is None:
        return []
    options = [TemplateOption(t.name, t.language) for t in meta.whatsapp_templates]
    return sorted(options, key=lambda o: o.language.split("_")[0] != language)


# -- SLA clocks and escalations of one case --------------------------------------------------


def _moment(stamp: Timestamp) -> datetime | None:
    return from_timestamp(stamp) if stamp.seconds or stamp.nanos else None


@dataclass(frozen=True)
class ClockView:
    """One SLA clock as the case page shows it.

    `kind`: first_response, next_response or resolution; `state`: running, paused (the
    customer has the ball), met or breached; `warned`: the warning thresholds passed, as
    fractions of the target (of the policy's `thresholds`); `left_s`: while paused, the
    target's time still unused."""

    kind: str
    cycle: int
    state: str
    policy: str
    target_s: float
    due_at: datetime | None
    stopped_at: datetime | None
    paused_at: datetime | None
    left_s: float | None
    thresholds: tuple[float, ...]
    warned: tuple[float, ...]
    at_risk: bool

    @property
    def label_key(self) -> str:
        """The i18n key of the clock's name ("Next response #{cycle}" takes the cycle)."""
        return f"clock_{self.kind}"


def clock_view(clock: case_pb2.SlaClock) -> ClockView:
    state = SLA_STATE_NAMES.get(clock.state, "running")
    left = max(0.0, clock.target_seconds - clock.consumed_seconds) if state == "paused" else None
    return ClockView(
        kind=CLOCK_KIND_NAMES.get(clock.kind, "first_response"),
        cycle=clock.cycle or 1,
        state=state,
        policy=clock.policy,
        target_s=clock.target_seconds,
        due_at=_moment(clock.due_at),
        stopped_at=_moment(clock.stopped_at),
        paused_at=_moment(clock.paused_at),
        left_s=left,
        thresholds=tuple(clock.warning_thresholds),
        warned=tuple(sorted(clock.warned)),
        # A prediction about a clock that still counts; a stopped clock's is history.
        at_risk=clock.at_risk and state in ("running", "paused"),
    )


def case_clocks(case: case_pb2.Case) -> list[ClockView]:
    """The case's response clock (first response, or the latest next response) and its
    resolution clock, those the case has (a case from before clocks had kinds shows its
    one clock as the first response)."""
    clocks = []
    if case.HasField("sla") and (case.sla.policy or case.sla.HasField("started_at")):
        clocks.append(clock_view(case.sla))
    if case.HasField("resolution_sla"):
        clocks.append(clock_view(case.resolution_sla))
    return clocks


def _enum_name(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower()


def may_escalate(principal: Principal, agent: Agent | None, assignee: str) -> bool:
    """May `principal` raise an escalation on a case owned by `assignee`? The agent who
    owns it, and leads (and admins) on any case of their brands, as the REST route says."""
    if not principal.can(Permission.ACT):
        return False
    return principal.can(Permission.REASSIGN) or (agent is not None and assignee == agent.id)


def person_name(care: CareConfig, principal: Principal, who: str) -> str:
    """Whom an escalation names (on call, raised, acknowledged or resolved by), for people:
    a roster agent's or escalation contact's name, the viewer's own name for their own
    account id (what a lead who is not on the roster acts as), else the id."""
    if not who:
        return ""
    if who in care.agents_by_id:
        return care.agents_by_id[who].name
    for contact in care.escalation.contacts:
        if contact.id == who:
            return contact.name
    return principal.name if who == principal.id else who


@dataclass(frozen=True)
class EscalationView:
    """One escalation as its case shows it (the latest revision routing applied); the
    people it names by their names (`person_name`)."""

    id: str
    trigger: str
    tier: str
    status: str
    level: int
    reason: str
    raised_at: datetime | None
    raised_by: str
    on_call: tuple[str, ...]
    acknowledge_by: datetime | None
    acknowledged_by: str
    acknowledged_at: datetime | None
    resolved_by: str
    resolved_at: datetime | None
    resolution: str
    may_acknowledge: bool
    may_resolve: bool


def escalation_view(
    care: CareConfig, principal: Principal, escalation: escalation_pb2.Escalation
) -> EscalationView:
    status = _enum_name(
        escalation_pb2.EscalationStatus.Name(
            escalation.status or escalation_pb2.ESCALATION_STATUS_OPEN
        ),
        "ESCALATION_STATUS_",
    )
    handles = may_handle_escalation(principal, escalation)

    def person(who: str) -> str:
        return person_name(care, principal, who)

    return EscalationView(
        id=escalation.id,
        trigger=_enum_name(
            escalation_pb2.EscalationTrigger.Name(escalation.trigger), "ESCALATION_TRIGGER_"
        ),
        tier=_enum_name(escalation_pb2.EscalationTier.Name(escalation.tier), "ESCALATION_TIER_"),
        status=status,
        level=escalation.level,
        reason=escalation.reason,
        raised_at=_moment(escalation.raised_at),
        raised_by=person(escalation.raised_by),
        on_call=tuple(person(who) for who in escalation.on_call),
        acknowledge_by=_moment(escalation.acknowledge_by) if status == "open" else None,
        acknowledged_by=person(escalation.acknowledged_by),
        acknowledged_at=_moment(escalation.acknowledged_at),
        resolved_by=person(escalation.resolved_by),
        resolved_at=_moment(escalation.resolved_at),
        resolution=escalation.resolution,
        may_acknowledge=handles and status == "open",
        may_resolve=handles and status != "resolved",
    )


def case_escalations(
    care: CareConfig, principal: Principal, case: case_pb2.Case
) -> list[EscalationView]:
    """The case's escalations, those still to be handled first (open, then acknowledged),
    each group newest first."""
    views = [escalation_view(care, principal, e) for e in case.escalations]
    order = {"open": 0, "acknowledged": 1, "resolved": 2}
    views.sort(key=lambda v: v.raised_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    views.sort(key=lambda v: order.get(v.status, 3))
    return views


def escalation_tiers(care: CareConfig) -> list[str]:
    """The tiers an agent may ask for: the ladder of the agent-request policy."""
    section = care.escalation
    return [step.tier for step in section.policy(section.trigger("agent_request").policy).steps]


# -- wall ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageSla:
    language: str
    cases: int
    met: int
    breached: int
    open: int
    at_risk_open: int
    overdue_open: int
    p50_s: float | None
    p90_s: float | None
    target_s: float

    @property
    def attainment(self) -> float | None:
        decided = self.met + self.breached
        return self.met / decided if decided else None


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    waiting: int
    in_progress: int
    waiting_on_customer: int
    oldest_waiting_since: datetime | None


@dataclass(frozen=True)
class TeamPresence:
    team: str
    time_zone: str
    present: list[str]
    roster: int
    local_time: str


@dataclass(frozen=True)
class SentimentHour:
    hour: datetime
    average: float
    messages: int


@dataclass(frozen=True)
class Wall:
    languages: list[LanguageSla]
    queues: list[QueueDepth]
    presence: list[TeamPresence]
    sentiment: list[SentimentHour]
    window: timedelta = field(default=timedelta(hours=24))


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (`fraction` in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def wall(
    care: CareConfig,
    cases: Iterable[CaseSummary],
    present_agents: set[str],
    now: datetime,
    *,
    brands: frozenset[str] | None = None,
    window: timedelta = timedelta(hours=24),
    trend_hours: int = 12,
) -> Wall:
    """The wall's figures over `cases` (already filtered to the viewer's `brands`; None:
    every brand):

    * per language, over cases opened in `window`: SLA met / breached (a running clock past
      its due time counts as breached: it cannot be met any more), first-response p50/p90,
      open cases and those overdue now; the target is the language's SLA policy;
    * per queue: waiting for an agent, with an agent, waiting on the customer, and since
      when the oldest waits;
    * agents with a console open, per team and time zone, beside the roster: only agents
      who serve one of `brands` (another brand's people are not the viewer's to see);
    * the average sentiment of customer messages per hour, last `trend_hours` hours.
    """
    since = now - window
    by_language: dict[str, list[CaseSummary]] = {}
    queues: dict[str, list[CaseSummary]] = {q.name: [] for q in care.queues}
    hours: dict[datetime, list[float]] = {}
    trend_since = (now - timedelta(hours=trend_hours - 1)).replace(
        minute=0, second=0, microsecond=0
    )
    for case in cases:
        if case.opened_at >= since:
            by_language.setdefault(case.language or "und", []).append(case)
        if case.open:
            queues.setdefault(case.queue, []).append(case)
        for when, score in case.inbound_sentiment:
            if when >= trend_since:
                hours.setdefault(when.replace(minute=0, second=0, microsecond=0), []).append(score)

    languages: list[LanguageSla] = []
    for language, group in sorted(by_language.items(), key=lambda item: (-len(item[1]), item[0])):
        met = sum(1 for c in group if c.sla_state == "met")
        overdue = [
            c for c in group if c.sla_state == "running" and c.sla_due_at and c.sla_due_at < now
        ]
        breached = sum(1 for c in group if c.sla_state == "breached") + len(overdue)
        firsts = [c.first_response_s for c in group if c.first_response_s is not None]
        languages.append(
            LanguageSla(
                language=language,
                cases=len(group),
                met=met,
                breached=breached,
                open=sum(1 for c in group if c.open),
                at_risk_open=sum(1 for c in group if c.open and c.sla_at_risk and c not in overdue),
                overdue_open=sum(1 for c in overdue if c.open),
                p50_s=percentile(firsts, 0.5),
                p90_s=percentile(firsts, 0.9),
                target_s=care.sla_policy_for(language).first_response_seconds,
            )
        )

    depths = []
    for name, group in queues.items():
        waiting = [c for c in group if c.status in WAITING and not c.assignee]
        depths.append(
            QueueDepth(
                queue=name,
                waiting=len(waiting),
                in_progress=sum(1 for c in group if c.status == "assigned"),
                waiting_on_customer=sum(1 for c in group if c.status == "waiting_on_customer"),
                oldest_waiting_since=min((c.opened_at for c in waiting), default=None),
            )
        )

    teams: dict[tuple[str, str], list[Agent]] = {}
    for agent in care.agents:
        if not serves_any(agent, brands):
            continue
        teams.setdefault((agent.team or "—", agent.time_zone), []).append(agent)
    presence = [
        TeamPresence(
            team=team,
            time_zone=zone,
            present=[a.name for a in members if a.id in present_agents],
            roster=len(members),
            local_time=now.astimezone(ZoneInfo(zone)).strftime("%H:%M"),
        )
        for (team, zone), members in sorted(teams.items())
    ]

    sentiment = [
        SentimentHour(hour, sum(scores) / len(scores), len(scores))
        for hour, scores in sorted(hours.items())
    ]
    return Wall(languages, depths, presence, sentiment, window)


def language_names(languages: Iterable[str]) -> list[str]:
    return [code for code in languages if code != ANY_LANGUAGE]


def count_by(values: Iterable[str]) -> dict[str, int]:
    return dict(Counter(values))


# -- the customer, questions, priority and lifecycle of one case -----------------------------

RESOLUTION_OUTCOMES: dict[int, str] = {
    case_pb2.RESOLUTION_OUTCOME_PENDING: "pending",
    case_pb2.RESOLUTION_OUTCOME_CONFIRMED: "confirmed",
    case_pb2.RESOLUTION_OUTCOME_TIMED_OUT: "timed_out",
    case_pb2.RESOLUTION_OUTCOME_DECLINED: "declined",
    case_pb2.RESOLUTION_OUTCOME_AGENT: "agent",
}
SURVEY_KINDS: dict[int, str] = {
    case_pb2.SURVEY_KIND_CSAT: "csat",
    case_pb2.SURVEY_KIND_NPS: "nps",
}
# The highest score of each survey kind (CSAT 1..5, NPS 0..10).
SURVEY_SCALE = {"csat": 5, "nps": 10}
# The presences an agent can set (PUT /v1/agents/{id}/presence).
PRESENCES = ("online", "away", "offline")
# What an agent may link by hand (LinkIdentity.kind), besides a channel name.
LINKABLE_KINDS = ("email", "phone", "crm")
# Statuses in which a case is over: no claim, reply or resolve; reopen only while resolved.
CLOSED_STATUSES = frozenset({"resolved", "closed"})


@dataclass(frozen=True)
class IdentityView:
    """One way to reach the customer (scenario 6: their X handle, e-mail and phone on one
    case); `display` as a person reads it."""

    kind: str
    value: str
    display: str
    linked_at: datetime | None
    source: str

    @property
    def kind_label(self) -> str:
        """The kind to name it by: a @handle on a channel by its channel ("handle:x": x)."""
        return self.kind.removeprefix("handle:")


def case_identities(case: case_pb2.Case) -> list[IdentityView]:
    """Every identity linked to the case, the channel author first (as routing keeps
    them); a case from before identities were kept shows its channel author."""
    if case.identities:
        return [
            IdentityView(
                kind=i.kind,
                value=i.value,
                display=i.display or i.value,
                linked_at=_moment(i.linked_at),
                source=i.source,
            )
            for i in case.identities
        ]
    if not case.customer.id:
        return []
    handle = case.customer.handle or case.customer.id
    return [
        IdentityView(
            kind=channel_name(case.channel),
            value=case.customer.id,
            display=handle,
            linked_at=_moment(case.opened_at),
            source="",
        )
    ]


@dataclass(frozen=True)
class QuestionView:
    """One of the customer's questions (or a sales lead) and whether a reply answered it."""

    name: str
    question: str
    answered: bool
    sales: bool
    product: str
    confidence: float
    # False for an intent the taxonomy does not count as a question (e.g. a compliment):
    # it never holds up resolving.
    must_answer: bool


def case_questions(care: CareConfig, case: case_pb2.Case) -> list[QuestionView]:
    """The case's intents in the order they were asked."""
    shown = []
    for intent in case.intents:
        definition = care.intent(intent.name)
        shown.append(
            QuestionView(
                name=intent.name,
                question=intent.question,
                answered=intent.answered,
                sales=intent.sales,
                product=intent.product,
                confidence=intent.confidence,
                must_answer=definition.question if definition is not None else True,
            )
        )
    return shown


def open_questions(questions: Sequence[QuestionView]) -> list[QuestionView]:
    """The questions still holding up a resolution (what the reply's ticks offer first)."""
    return [q for q in questions if q.must_answer and not q.answered]


@dataclass(frozen=True)
class FactorView:
    factor: str
    signal: float
    weight: float
    contribution: float
    # The factor's share of the score (contribution / score), 0..1.
    share: float
    detail: str


@dataclass(frozen=True)
class PriorityView:
    """Why the case has its priority (scenario 5): the score, the level it falls in, and
    each factor's signal, weight and share, largest first."""

    level: str
    score: float
    factors: list[FactorView]
    computed_at: datetime | None
    override: str


def case_priority(case: case_pb2.Case) -> PriorityView | None:
    """The priority explanation routing computed; None for a case without one."""
    explanation = case.priority_explanation
    if not case.HasField("priority_explanation") and not case.priority_override:
        return None
    score = explanation.score
    factors = sorted(
        (
            FactorView(
                factor=f.factor,
                signal=f.signal,
                weight=f.weight,
                contribution=f.contribution,
                share=f.contribution / score if score > 0 else 0.0,
                detail=f.detail,
            )
            for f in explanation.factors
        ),
        key=lambda f: (-f.contribution, f.factor),
    )
    return PriorityView(
        level=case.priority or explanation.level or "normal",
        score=score,
        factors=factors,
        computed_at=_moment(explanation.computed_at),
        override=case.priority_override,
    )


@dataclass(frozen=True)
class ResolutionView:
    """The latest "has this been solved?" round: pending until `due_at` (then it resolves
    by itself), or how it ended."""

    outcome: str
    proposed_by: str
    asked_at: datetime | None
    due_at: datetime | None
    answered_at: datetime | None
    note: str
    round: int


def case_resolution(case: case_pb2.Case) -> ResolutionView | None:
    if not case.HasField("resolution_check"):
        return None
    check = case.resolution_check
    return ResolutionView(
        outcome=RESOLUTION_OUTCOMES.get(check.outcome, "pending"),
        proposed_by=check.proposed_by,
        asked_at=_moment(check.asked_at),
        due_at=_moment(check.due_at),
        answered_at=_moment(check.answered_at),
        note=check.note,
        round=check.round or 1,
    )


@dataclass(frozen=True)
class SurveyView:
    kind: str
    scale: int
    sent_at: datetime | None
    due_at: datetime | None
    answered: bool
    score: int
    answered_at: datetime | None
    comment: str


def case_survey(case: case_pb2.Case) -> SurveyView | None:
    """The satisfaction question after resolution and its answer; None until it went out."""
    if not case.HasField("survey"):
        return None
    survey = case.survey
    kind = SURVEY_KINDS.get(survey.kind, "csat")
    return SurveyView(
        kind=kind,
        scale=SURVEY_SCALE[kind],
        sent_at=_moment(survey.sent_at),
        due_at=_moment(survey.due_at),
        answered=survey.answered,
        score=survey.score,
        answered_at=_moment(survey.answered_at),
        comment=survey.comment,
    )


@dataclass(frozen=True)
class ConsultationView:
    """A specialist asked for advice (scenario 3) and their answer; `may_answer`: the
    viewer is that specialist and it is unanswered (the answer form shows)."""

    id: str
    specialist: str
    asked_by: str
    question: str
    product: str
    asked_at: datetime | None
    answer: str
    answered_at: datetime | None
    may_answer: bool


def case_consultations(
    case: case_pb2.Case, principal: Principal, agent: Agent | None
) -> list[ConsultationView]:
    """The case's consultations, oldest first. Only the specialist asked answers, in their
    own name (`Permission.ACT`), on an open case."""
    acting = principal.can(Permission.ACT) and agent is not None
    open_case = _status_name(case) not in CLOSED_STATUSES
    return [
        ConsultationView(
            id=c.id,
            specialist=c.specialist,
            asked_by=c.asked_by,
            question=c.question,
            product=c.product,
            asked_at=_moment(c.asked_at),
            answer=c.answer,
            answered_at=_moment(c.answered_at),
            may_answer=acting
            and open_case
            and agent is not None
            and c.specialist == agent.id
            and not c.answer,
        )
        for c in case.consultations
    ] + [
        # Asked through a note's `consult` (before consultations had their own command):
        # no question or answer of their own, the notes carry them.
        ConsultationView(
            id="",
            specialist=specialist,
            asked_by="",
            question="",
            product="",
            asked_at=None,
            answer="",
            answered_at=None,
            may_answer=False,
        )
        for specialist in dict.fromkeys(case.consultants)
        if specialist not in {c.specialist for c in case.consultations}
    ]


@dataclass(frozen=True)
class ReferralView:
    to: str
    by: str
    note: str
    at: datetime | None


def case_referrals(case: case_pb2.Case) -> list[ReferralView]:
    return [ReferralView(r.to, r.by, r.note, _moment(r.at)) for r in case.referrals]


@dataclass(frozen=True)
class LifecycleView:
    """Where the case stands beyond its status: resolved and closed times, the reopen
    window, the cases merged into it or it into, and the case it follows."""

    status: str
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_until: datetime | None
    merged_into: str
    merged_from: tuple[str, ...]
    previous_case_id: str
    queue_position: int
    assigned_at: datetime | None


def _status_name(case: case_pb2.Case) -> str:
    return status_name(case.status)


def case_lifecycle(case: case_pb2.Case) -> LifecycleView:
    status = _status_name(case)
    return LifecycleView(
        status=status,
        resolved_at=_moment(case.resolved_at),
        closed_at=_moment(case.closed_at),
        reopen_until=_moment(case.reopen_until) if status == "resolved" else None,
        merged_into=case.merged_into,
        merged_from=tuple(case.merged_from),
        previous_case_id=case.previous_case_id,
        queue_position=case.queue_position if status in ("new", "open") else 0,
        assigned_at=_moment(case.assigned_at),
    )


@dataclass(frozen=True)
class CaseActions:
    """Which of the case's actions the viewer gets (routing still judges each command)."""

    claim: bool
    reply: bool
    transfer: bool
    consult: bool
    note: bool
    await_customer: bool
    resolve: bool
    reopen: bool
    merge: bool
    link_identity: bool
    refer: bool
    set_priority: bool

    @property
    def key(self) -> str:
        """The actions offered, as one string: the page re-renders its action buttons when
        it changes (a proposal pending, a claim, a reopening)."""
        return ",".join(name for name, allowed in vars(self).items() if allowed)


def case_actions(
    principal: Principal,
    agent: Agent | None,
    status: str,
    assignee: str,
    *,
    may_act: bool,
    confirmation_pending: bool = False,
) -> CaseActions:
    """What the buttons offer, as the REST routes allow it: claiming a case someone else
    (or nobody) holds; the owner (or a lead, `reassign`) transfers, merges and proposes
    resolution; anyone acting on the case notes, consults, links and refers; only a resolved
    case (not a closed one) reopens."""
    live = status not in CLOSED_STATUSES
    owner = agent is not None and assignee == agent.id
    lead = principal.can(Permission.REASSIGN)
    steer = may_act and live and (owner or lead)
    return CaseActions(
        claim=may_act and live and agent is not None and not owner,
        reply=may_act and live,
        transfer=steer,
        consult=may_act and live,
        note=may_act and live,
        await_customer=steer and status != "waiting_on_customer",
        # Already proposed: the customer has been asked, routing refuses a second round.
        resolve=steer and not confirmation_pending,
        reopen=may_act and status == "resolved" and (owner or lead or not assignee),
        merge=steer,
        link_identity=may_act and live,
        refer=steer,
        set_priority=steer,
    )


# -- canned answers, measured -----------------------------------------------------------------


@dataclass(frozen=True)
class MeasuredCanned:
    """A canned answer with its variables filled, as the customer would get it: its
    length with the agent's signature and whether that fits the channel's limit."""

    id: str
    title: str
    text: str
    signed_length: int
    limit: int | None

    @property
    def fits(self) -> bool:
        return self.limit is None or self.signed_length <= self.limit


def measure_canned(options: Sequence[CannedOption], limits: ComposerLimits) -> list[MeasuredCanned]:
    """Each option's length once signed (`Brand.sign`: the text without trailing space,
    a separator, the signature), against the channel's limit."""
    return [
        MeasuredCanned(
            id=o.id,
            title=o.title,
            text=o.text,
            signed_length=len(o.text.strip()) + limits.overhead,
            limit=limits.limit,
        )
        for o in options
    ]


# -- presence ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamStates:
    """One team's agents by presence, as routing's assigner has them (who gets new cases:
    online; who keeps theirs: away; who loses them after the grace period: offline)."""

    team: str
    time_zone: str
    online: list[str]
    away: list[str]
    offline: list[str]
    on_shift: int
    roster: int


def presence_by_team(agents: Iterable[AgentRead]) -> list[TeamStates]:
    """The agents (already those the viewer may see) grouped per team and time zone."""
    teams: dict[tuple[str, str], list[AgentRead]] = {}
    for agent in agents:
        teams.setdefault((agent.team or "—", agent.time_zone), []).append(agent)
    return [
        TeamStates(
            team=team,
            time_zone=zone,
            online=[a.name for a in members if a.presence == "online"],
            away=[a.name for a in members if a.presence == "away"],
            offline=[a.name for a in members if a.presence == "offline"],
            on_shift=sum(1 for a in members if a.on_shift),
            roster=len(members),
        )
        for (team, zone), members in sorted(teams.items())
    ]


def presence_of(agents: Iterable[AgentRead], agent_id: str) -> str | None:
    """`agent_id`'s presence among `agents`; None when routing's view does not list them."""
    for agent in agents:
        if agent.id == agent_id:
            return agent.presence
    return None


@dataclass(frozen=True)
class PickerEntry:
    """One entry of the consult picker: who, and why they are where they are in the list."""

    id: str
    name: str
    on_shift: bool
    proficiency: int
    team: str
    time_zone: str
    local_time: str
    presence: str


def specialist_choices(
    ranked: Iterable[SpecialistChoice], exclude: str, now: datetime
) -> list[PickerEntry]:
    """The ranked specialists (`gateway.agents.rank_specialists`, the order `GET
    /v1/specialists` gives) without the asking agent, with their local time."""
    return [
        PickerEntry(
            id=s.id,
            name=s.name,
            on_shift=s.on_shift,
            proficiency=s.score,
            team=s.agent.team,
            time_zone=s.time_zone,
            local_time=now.astimezone(ZoneInfo(s.time_zone)).strftime("%H:%M"),
            presence=s.presence,
        )
        for s in ranked
        if s.id != exclude
    ]
