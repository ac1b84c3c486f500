"""The care organisation from configuration: agents, queues, SLA policies and brands.

Loaded and validated once at start-up; a bad file stops the service with a message that
names the entry and field, because a silently wrong roster routes customers to nobody.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from socialcare.core.domain import crisis_config, escalation_config, notification_config
from socialcare.core.domain.brands import DEFAULT_BRAND, Brand, default_brand
from socialcare.core.domain.cases import REPLY_LIMITS
from socialcare.core.domain.crisis_config import CrisisConfig
from socialcare.core.domain.durations import parse_duration
from socialcare.core.domain.escalation_config import EscalationConfig
from socialcare.core.domain.notification_config import NotificationConfig

ANY_LANGUAGE = "*"


__all__ = ["Agent", "Brand", "CannedAnswer", "CareConfig", "CareConfigError", "Queue", "SlaPolicy"]
__all__ += ["load_care_config", "parse_duration"]


class CareConfigError(Exception):
    """The care configuration file is missing or invalid; the message says where."""


def _languages(value: Sequence[str]) -> list[str]:
    cleaned = [v.strip().lower() for v in value]
    for code in cleaned:
        if code != ANY_LANGUAGE and not re.fullmatch(r"[a-z]{2}", code):
            raise ValueError(f"{code!r} is not an ISO 639-1 code (two letters) or '*'")
    if not cleaned:
        raise ValueError("at least one language is needed")
    return cleaned


class SlaPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1)
    languages: list[str]
    first_response_seconds: float = Field(alias="first_response")

    _check_languages = field_validator("languages")(_languages)

    @field_validator("first_response_seconds", mode="before")
    @classmethod
    def _duration(cls, value: str | float) -> float:
        return parse_duration(value)


class Queue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    languages: list[str]

    _check_languages = field_validator("languages")(_languages)


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

    _check_languages = field_validator("languages")(_languages)

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (e.g. Europe/Amsterdam)"
            ) from None
        return value

    def speaks(self, language: str) -> bool:
        return language in self.languages

    def serves(self, brand: str) -> bool:
        """Whether the agent answers cases of `brand` (a configured brand's name)."""
        return not self.brands or brand in self.brands

    @property
    def first_name(self) -> str:
        parts = self.name.split()
        return parts[0] if parts else self.name


# The variables a canned answer may use; filled in by the console when the agent picks it.
CANNED_VARIABLES = frozenset({"customer_first_name", "agent_first_name"})


class CannedAnswer(BaseModel):
    """A prepared answer to a frequent question (scenario 5), offered in the console's
    composer for cases of its brand, language and channel. The agent edits it before
    sending; the channel's limit and the brand's signature still apply to what is sent."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
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

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        code = value.strip().lower()
        if not re.fullmatch(r"[a-z]{2}", code):
            raise ValueError(f"{code!r} is not an ISO 639-1 code (two letters)")
        return code

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and value not in REPLY_LIMITS:
            raise ValueError(f"{value!r} is not a channel ({', '.join(REPLY_LIMITS)})")
        return value

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
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    notifications: NotificationConfig = Field(default_factory=NotificationConfig)
    crisis: CrisisConfig = Field(default_factory=CrisisConfig)

    @model_validator(mode="after")
    def _consistent(self) -> CareConfig:
        for kind, names in (
            ("agent id", [a.id for a in self.agents]),
            ("queue name", [q.name for q in self.queues]),
            ("policy name", [p.name for p in self.sla_policies]),
            ("brand name", [b.name for b in self.brands]),
            ("canned answer id", [c.id for c in self.canned_answers]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind}: {', '.join(duplicates)}")
        if not any(ANY_LANGUAGE in q.languages for q in self.queues):
            raise ValueError("one queue needs languages: ['*'] to catch every other language")
        if not any(ANY_LANGUAGE in p.languages for p in self.sla_policies):
            raise ValueError("one SLA policy needs languages: ['*'] as the default")
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
        for section in (escalation_config, notification_config, crisis_config):
            section.check(self)
        return self

    @cached_property
    def agents_by_id(self) -> dict[str, Agent]:
        return {a.id: a for a in self.agents}

    def queue_for(self, language: str) -> Queue:
        """The queue for a case in `language`: an exact match first, else the '*' queue."""
        return _first_match(self.queues, language)

    def sla_policy_for(self, language: str) -> SlaPolicy:
        return _first_match(self.sla_policies, language)

    @cached_property
    def effective_brands(self) -> tuple[Brand, ...]:
        """The configured brands, or the one `default` brand the environment describes."""
        return tuple(self.brands) or (default_brand(),)

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


LanguageScoped = TypeVar("LanguageScoped", Queue, SlaPolicy)


def _first_match(items: Sequence[LanguageScoped], language: str) -> LanguageScoped:
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
