"""The care organisation from configuration: agents, queues, teams, SLA policies, business
calendars and brands.

Loaded and validated once at start-up; a bad file stops the service with a message that
names the entry and field, because a silently wrong roster routes customers to nobody.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from socialcare.core.domain import (
    crisis_config,
    escalation_config,
    notification_config,
    routing_config,
    sla_config,
)
from socialcare.core.domain.brands import DEFAULT_BRAND, Brand, default_brand
from socialcare.core.domain.calendars import ROUND_THE_CLOCK_NAME, BusinessCalendar
from socialcare.core.domain.cases import CHANNEL_NAMES, REPLY_LIMITS
from socialcare.core.domain.crisis_config import CrisisConfig
from socialcare.core.domain.durations import parse_duration
from socialcare.core.domain.enrichment_config import EnrichmentConfig
from socialcare.core.domain.escalation_config import EscalationConfig
from socialcare.core.domain.notification_config import NotificationConfig
from socialcare.core.domain.routing_config import IntentDefinition, RoutingConfig
from socialcare.core.domain.sla_config import (
    DEFAULT_CUSTOMER_TIERS,
    PRIORITIES,
    Calendar,
    SlaPolicy,
    Team,
    policy_for,
)
from socialcare.core.domain.validators import (
    ANY_LANGUAGE,
    NAME_PATTERN,
    check_language,
    check_languages,
    check_time_zone,
    check_unique,
    one_of,
)
from socialcare.v1 import message_pb2

__all__ = ["Agent", "Brand", "Calendar", "CannedAnswer", "CareConfig", "CareConfigError"]
__all__ += ["ANY_LANGUAGE", "Queue", "SlaPolicy", "Team", "load_care_config", "parse_duration"]

# The label value for anything outside the configured vocabulary (bounded label sets).
OTHER_LABEL = "other"


class CareConfigError(Exception):
    """The care configuration file is missing or invalid; the message says where."""


class Queue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, pattern=NAME_PATTERN)
    languages: list[str]
    team: str | None = Field(
        default=None,
        description="The team answering the queue (a `teams` entry): its calendar is the "
        "default business-hours calendar of the queue's SLA clocks. None = round the clock.",
    )
    teams: list[str] = Field(
        default_factory=list,
        description="Follow-the-sun: the teams answering the queue, each in its own time zone "
        "and calendar; a case goes to a team on shift (the first listed when several are). "
        "`team` alone is the same as a list of one.",
    )
    brands: list[str] = Field(
        default_factory=list,
        description="Only cases of these brands go to this queue; empty = every brand.",
    )
    intents: list[str] = Field(
        default_factory=list,
        description="Cases with one of these intents go to this queue before the language "
        "queues (e.g. a sales queue for sales_lead, scenario 8).",
    )
    after_hours: Literal["wait", "overflow"] = Field(
        default="wait",
        description="When no team of the queue is on shift: wait for the next team to come "
        "on shift, or overflow at once to the specialist network (specialists on shift who "
        "speak the language).",
    )

    _check_languages = field_validator("languages")(check_languages)

    @property
    def answering_teams(self) -> list[str]:
        """The teams answering the queue, preferred first; empty = any agent."""
        if self.teams:
            return list(self.teams)
        return [self.team] if self.team else []

    def accepts(self, *, language: str, brand: str, intents: Sequence[str] = ()) -> bool:
        """Whether a case of this language, brand and intents belongs here (an intents
        queue takes only cases with one of its intents, in its languages)."""
        if self.brands and brand not in self.brands:
            return False
        if self.intents and not set(self.intents) & set(intents):
            return False
        return language in self.languages or ANY_LANGUAGE in self.languages


class Agent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1)
    languages: list[str]
    capacity: int = Field(ge=1, le=1000)
    brands: list[str] = Field(
        default_factory=list,
        description="The brands whose cases the agent answers (and sees); empty = every brand.",
    )
    team: str = Field(
        default="",
        max_length=100,
        description="The team the agent works in (the wall counts agents signed in per team).",
    )
    time_zone: str = Field(
        default="UTC",
        description="IANA time zone the agent works in, e.g. Europe/Amsterdam (follow-the-sun "
        "schedules; the wall counts agents signed in per time zone).",
    )
    specialist: bool = Field(
        default=False,
        description="Consulted on cases and pulled in when a breach is predicted; not in the "
        "normal assignment pool.",
    )
    skills: dict[str, int] = Field(
        default_factory=dict,
        description="Proficiency 1 (basic) .. 5 (expert) per skill: `language:<code>`, "
        "`channel:<name>`, `product:<name>`, `tier:<customer tier>`. Each of `languages` is a "
        "language skill at 3 unless listed here.",
    )
    channel_capacity: dict[str, int] = Field(
        default_factory=dict,
        description="At most this many open cases per channel (e.g. whatsapp: 3), within "
        "`capacity` in all; unlisted channels are bounded by `capacity` only.",
    )
    calendar: str | None = Field(
        default=None,
        description="The agent's own shifts (a `calendars` entry); unset = their team's "
        "calendar, else round the clock.",
    )

    _check_languages = field_validator("languages")(check_languages)

    _check_time_zone = field_validator("time_zone")(check_time_zone)

    @field_validator("skills")
    @classmethod
    def _skills(cls, value: dict[str, int]) -> dict[str, int]:
        for skill, level in value.items():
            kind, _, name = skill.partition(":")
            if kind not in SKILL_KINDS or not name:
                raise ValueError(
                    f"{skill!r}: a skill is <kind>:<name> with kind one of "
                    + ", ".join(SKILL_KINDS)
                )
            if not 1 <= level <= 5:
                raise ValueError(f"{skill}: proficiency must be 1..5, got {level}")
        return value

    @field_validator("channel_capacity")
    @classmethod
    def _channel_capacity(cls, value: dict[str, int]) -> dict[str, int]:
        for channel, cap in value.items():
            if channel not in REPLY_LIMITS:
                raise ValueError(f"{channel!r} is not a channel ({', '.join(REPLY_LIMITS)})")
            if cap < 0:
                raise ValueError(f"{channel}: capacity must be 0 or more")
        return value

    def speaks(self, language: str) -> bool:
        return language in self.languages

    def proficiency(self, skill: str) -> int:
        """The agent's level (1..5) in `skill` (`kind:name`), 0 when they lack it; a
        language of `languages` counts 3 unless `skills` says otherwise."""
        level = self.skills.get(skill)
        if level is not None:
            return level
        kind, _, name = skill.partition(":")
        return 3 if kind == "language" and name in self.languages else 0

    def capacity_for(self, channel: str) -> int:
        """How many open cases of `channel` (a channel name) the agent may hold."""
        return min(self.capacity, self.channel_capacity.get(channel, self.capacity))

    def serves(self, brand: str) -> bool:
        """Whether the agent answers cases of `brand` (a configured brand's name)."""
        return not self.brands or brand in self.brands

    @property
    def first_name(self) -> str:
        parts = self.name.split()
        return parts[0] if parts else self.name


# The kinds of skill an agent can have (`Agent.skills`).
SKILL_KINDS = ("language", "channel", "product", "tier")

# The variables a canned answer may use; filled in by the console when the agent picks it.
CANNED_VARIABLES = frozenset({"customer_first_name", "agent_first_name"})


class CannedAnswer(BaseModel):
    """A prepared answer to a frequent question (scenario 5), offered in the console's
    composer for cases of its brand, language and channel. The agent edits it before
    sending; the channel's limit and the brand's signature still apply to what is sent."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1, max_length=100, pattern=NAME_PATTERN)
    brand: str | None = Field(
        default=None, description="Only for this brand's cases; unset = every brand."
    )
    language: str = Field(description="ISO 639-1 code of the answer's language.")
    channel: str | None = Field(
        default=None, description="Only on this channel (e.g. x); unset = every channel."
    )
    title: str = Field(min_length=1, max_length=120)
    text: str = Field(
        min_length=1,
        max_length=4000,
        description="The answer; {customer_first_name} and {agent_first_name} are filled in.",
    )

    _check_language = field_validator("language")(check_language)
    _check_channel = field_validator("channel")(one_of("channel", REPLY_LIMITS))

    @field_validator("text")
    @classmethod
    def _variables(cls, value: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"braces do not pair up ({exc}); write {{{{ for a brace") from None
        unknown = names - CANNED_VARIABLES
        if unknown:
            raise ValueError(
                f"unknown variable {{{sorted(unknown)[0]}}}: only "
                + ", ".join(f"{{{n}}}" for n in sorted(CANNED_VARIABLES))
                + " may be used"
            )
        return value

    def fill(self, *, customer_first_name: str, agent_first_name: str) -> str:
        """The text with its variables filled in."""
        return self.text.format(
            customer_first_name=customer_first_name, agent_first_name=agent_first_name
        )

    def applies_to(self, *, brand: str, language: str, channel: str) -> bool:
        return (
            (self.brand is None or self.brand == brand)
            and self.language == language
            and (self.channel is None or self.channel == channel)
        )


class CareConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sla_policies: list[SlaPolicy] = Field(min_length=1)
    queues: list[Queue] = Field(min_length=1)
    agents: list[Agent] = Field(min_length=1)
    brands: list[Brand] = Field(
        default_factory=list,
        description="Brands and their channel accounts; without any, the connectors serve "
        "one brand, `default`, configured by the SOCIALCARE_META_* / SOCIALCARE_X_* variables.",
    )
    canned_answers: list[CannedAnswer] = Field(
        default_factory=list,
        description="Prepared answers the console's composer offers per brand, language and "
        "channel.",
    )
    calendars: list[Calendar] = Field(
        default_factory=list,
        description="Business-hours calendars SLA clocks can count on (teams and policies "
        "name them).",
    )
    teams: list[Team] = Field(
        default_factory=list,
        description="Teams answering queues: their calendar and lead.",
    )
    customer_tiers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CUSTOMER_TIERS),
        min_length=1,
        description="Customer tiers SLA policies and escalation rules can name; the first is "
        "the tier of a customer nobody classified.",
    )
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    notifications: NotificationConfig = Field(default_factory=NotificationConfig)
    crisis: CrisisConfig = Field(default_factory=CrisisConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    intents: list[IntentDefinition] = Field(
        default_factory=list,
        description="The taxonomy of questions and leads enrichment recognises per brand.",
    )
    enrichment: EnrichmentConfig = Field(
        default_factory=EnrichmentConfig,
        description="What enrichment derives beyond language, sentiment and intents: the "
        "reach tiers authors' followers fall into.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CareConfig:
        for kind, names in (
            ("agent id", [a.id for a in self.agents]),
            ("queue name", [q.name for q in self.queues]),
            ("policy name", [p.name for p in self.sla_policies]),
            ("brand name", [b.name for b in self.brands]),
            ("canned answer id", [c.id for c in self.canned_answers]),
        ):
            check_unique(kind, names)
        if not any(
            ANY_LANGUAGE in q.languages and not q.brands and not q.intents for q in self.queues
        ):
            raise ValueError(
                "one queue needs languages: ['*'] (and no brands or intents) to catch every "
                "other language"
            )
        # Not `effective_brands`: a cached property filled during validation would survive
        # a `model_copy` that changes the brands.
        brand_names = {b.name for b in self.brands} or {DEFAULT_BRAND}
        for answer in self.canned_answers:
            if answer.brand is not None and answer.brand not in brand_names:
                raise ValueError(
                    f"canned answer {answer.id!r}: brand {answer.brand!r} is not configured "
                    f"({', '.join(sorted(brand_names))})"
                )
        for agent in self.agents:
            unknown = sorted(set(agent.brands) - brand_names)
            if unknown:
                raise ValueError(
                    f"agent {agent.id!r}: brands {', '.join(unknown)} are not configured "
                    f"({', '.join(sorted(brand_names))})"
                )
        team_names = {t.name for t in self.teams}
        calendar_names = {c.name for c in self.calendars}
        for queue in self.queues:
            unknown = sorted(set(queue.answering_teams) - team_names)
            if unknown and queue.teams:
                raise ValueError(
                    f"queue {queue.name!r}: teams {', '.join(unknown)} are not configured"
                )
            unknown_brands = sorted(set(queue.brands) - brand_names)
            if unknown_brands:
                raise ValueError(
                    f"queue {queue.name!r}: brands {', '.join(unknown_brands)} are not configured"
                )
            unknown_intents = sorted(set(queue.intents) - {i.name for i in self.intents})
            if unknown_intents:
                raise ValueError(
                    f"queue {queue.name!r}: intents {', '.join(unknown_intents)} are not in "
                    "`intents`"
                )
        for agent in self.agents:
            if agent.calendar is not None and agent.calendar not in calendar_names:
                raise ValueError(
                    f"agent {agent.id!r}: calendar {agent.calendar!r} is not configured"
                )
            tiers = {s.partition(":")[2] for s in agent.skills if s.startswith("tier:")}
            unknown_tiers = sorted(tiers - set(self.customer_tiers))
            if unknown_tiers:
                raise ValueError(
                    f"agent {agent.id!r}: skill tier:{unknown_tiers[0]} names no customer tier"
                )
        for section in (
            sla_config,
            escalation_config,
            notification_config,
            crisis_config,
            routing_config,
        ):
            section.check(self)
        # A section check may have filled a cached property (e.g. `effective_brands`); drop
        # them so a `model_copy(update=...)` of this config never serves stale values.
        for name, attribute in vars(CareConfig).items():
            if isinstance(attribute, cached_property):
                self.__dict__.pop(name, None)
        return self

    @cached_property
    def agents_by_id(self) -> dict[str, Agent]:
        return {a.id: a for a in self.agents}

    def queue_for(self, language: str, brand: str = "", intents: Sequence[str] = ()) -> Queue:
        """The queue for a case in `language` of `brand` (a brand name) with `intents`: a
        queue listing one of the intents first (a sales queue), then one naming the language,
        then a '*' queue; brand-bound queues only for their brands."""
        if intents:
            for queue in self.queues:
                if queue.intents and queue.accepts(language=language, brand=brand, intents=intents):
                    return queue
        plain = [q for q in self.queues if not q.intents and (not q.brands or brand in q.brands)]
        return _first_match(plain or self.queues, language)

    def intents_for(self, brand: str) -> list[IntentDefinition]:
        """The taxonomy entries that apply to `brand`'s messages."""
        return [i for i in self.intents if not i.brands or brand in i.brands]

    def intent(self, name: str) -> IntentDefinition | None:
        for entry in self.intents:
            if entry.name == name:
                return entry
        return None

    def sla_policy_for(self, language: str) -> SlaPolicy:
        """The policy for a case known only by its language (no channel, priority, tier or
        brand conditions apply); see `policy_for`."""
        return self.policy_for(language)

    def policy_for(
        self,
        language: str,
        channel: str = "",
        priority: str = "normal",
        tier: str = "",
        brand: str = "",
    ) -> SlaPolicy:
        """The most specific SLA policy matching the case (precedence: `sla_config`).
        `channel` is a channel name (`cases.channel_name`), `tier` a customer tier (empty
        = the default tier), `brand` a brand name."""
        return policy_for(
            self.sla_policies,
            language=language,
            channel=channel,
            priority=priority,
            tier=self.tier(tier),
            brand=brand,
        )

    @property
    def default_tier(self) -> str:
        """The tier of a customer nobody classified: the first configured tier."""
        return self.customer_tiers[0]

    def tier(self, name: str) -> str:
        """`name` (lower-cased) if it is a configured tier, else the default tier: a tier a
        connector or CRM sends that the config does not know gets the default promise."""
        cleaned = name.strip().lower()
        return cleaned if cleaned in self.customer_tiers else self.default_tier

    @cached_property
    def calendars_by_name(self) -> dict[str, BusinessCalendar]:
        return {c.name: c.business for c in self.calendars}

    def calendar(self, name: str) -> BusinessCalendar | None:
        """The business calendar called `name`; None (round the clock) for "", "24/7" and a
        name no longer configured (a clock started on a calendar since removed keeps its
        due time and counts round the clock from then on)."""
        return self.calendars_by_name.get(name)

    def team(self, name: str) -> Team | None:
        for team in self.teams:
            if team.name == name:
                return team
        return None

    def queue(self, name: str) -> Queue | None:
        for queue in self.queues:
            if queue.name == name:
                return queue
        return None

    def calendar_for_queue(self, queue: str) -> str:
        """The name of the calendar of the team answering `queue`; "" (round the clock)
        when the queue has no team or the team no calendar."""
        found = self.queue(queue)
        team = self.team(found.team) if found is not None and found.team else None
        if team is None or team.calendar is None or team.calendar == ROUND_THE_CLOCK_NAME:
            return ""
        return team.calendar

    def clock_calendar(self, policy: SlaPolicy, queue: str) -> str:
        """The calendar name a clock of `policy` on a case in `queue` counts on ("" = round
        the clock): the policy's own calendar ('24/7' forces round the clock), else the
        queue's team's."""
        if policy.calendar == ROUND_THE_CLOCK_NAME:
            return ""
        if policy.calendar is not None:
            return policy.calendar
        return self.calendar_for_queue(queue)

    @cached_property
    def _metric_languages(self) -> frozenset[str]:
        named = {
            code
            for entries in (self.queues, self.sla_policies, self.agents)
            for entry in entries
            for code in entry.languages
        }
        return frozenset(named - {ANY_LANGUAGE})

    def metric_language(self, code: str) -> str:
        """A bounded label value for a language: `code` if a queue, policy or agent names
        it, else "other" (free-form detector output must not mint Prometheus series)."""
        return code if code in self._metric_languages else OTHER_LABEL

    def metric_queue(self, name: str) -> str:
        """A bounded label value for a queue: its name if configured, else "other"."""
        return name if self.queue(name) is not None else OTHER_LABEL

    @staticmethod
    def metric_channel(channel: message_pb2.Channel.ValueType) -> str:
        """A bounded label value for a channel enum value."""
        return CHANNEL_NAMES.get(channel, OTHER_LABEL)

    @staticmethod
    def metric_priority(priority: str) -> str:
        """A bounded label value for a priority: one of the four, else "other"."""
        return priority if priority in PRIORITIES else OTHER_LABEL

    @cached_property
    def effective_brands(self) -> tuple[Brand, ...]:
        """The configured brands, or the one `default` brand the environment describes."""
        return tuple(self.brands) or (default_brand(),)

    @cached_property
    def languages_by_brand(self) -> dict[str, tuple[str, ...]]:
        """Each brand's configured languages (`Brand.languages`, main one first), built once
        so enrichment finds a message's candidate languages with one dict lookup."""
        return {brand.name: tuple(brand.languages) for brand in self.effective_brands}

    def brand_languages(self, name: str) -> tuple[str, ...]:
        """The languages of the brand called `name`; () for a brand that configures none
        or is not configured (enrichment then considers every language it supports)."""
        return self.languages_by_brand.get(name, ())

    def brand(self, name: str) -> Brand:
        """The brand called `name`; the first brand for a message that names none (or one
        not configured), so a reply always has a signature and templates to go by."""
        for brand in self.effective_brands:
            if brand.name == name:
                return brand
        return self.effective_brands[0]

    def canned_answers_for(self, *, brand: str, language: str, channel: str) -> list[CannedAnswer]:
        """The canned answers for a case of this brand (its name, as `brand()` gives it),
        language and channel: the channel's own first, then those for every channel."""
        found = [
            c
            for c in self.canned_answers
            if c.applies_to(brand=brand, language=language, channel=channel)
        ]
        return sorted(found, key=lambda c: c.channel is None)


def _first_match(items: Sequence[Queue], language: str) -> Queue:
    for item in items:
        if language in item.languages:
            return item
    for item in items:
        if ANY_LANGUAGE in item.languages:
            return item
    raise LookupError(f"no entry for language {language!r}")  # prevented by validation


def load_care_config(path: Path | None = None) -> CareConfig:
    """The configuration at `path`, or the packaged default; CareConfigError if invalid."""
    if path is None:
        text = resources.files(__package__).joinpath("default_care.yaml").read_text()
        source = "packaged default_care.yaml"
    else:
        try:
            text = path.read_text()
        except OSError as exc:
            raise CareConfigError(f"cannot read care config {path}: {exc.strerror}") from exc
        source = str(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CareConfigError(f"{source} is not valid YAML: {exc}") from exc
    try:
        return CareConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise CareConfigError(f"{source} is invalid: {problems}") from exc
