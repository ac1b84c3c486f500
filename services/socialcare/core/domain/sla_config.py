"""The SLA part of the care config: policies, business-hours calendars and teams.

A policy promises a first response, optionally each next response and the resolution,
within targets that count on a calendar (the team's opening hours, or round the clock).
Which policy a case gets depends on its brand, customer tier, priority, channel and
language; the most specific matching policy wins, so a catch-all default and a handful of
sharper promises ("VIPs on X within 1h") can sit side by side without ordering puzzles:

  specificity compares, in order, whether a policy constrains the brand, the customer tier,
  the priority, the channel, and whether it names the case's language (rather than
  matching it with '*'): a constrained dimension beats an unconstrained one, brand first;
  ties go to the policy written first.

A config without the new fields resolves exactly as before: the first policy naming the
language, else the first '*' policy.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from socialcare.core.domain.brands import DEFAULT_BRAND
from socialcare.core.domain.calendars import ROUND_THE_CLOCK_NAME, BusinessCalendar, parse_hours
from socialcare.core.domain.cases import CHANNELS
from socialcare.core.domain.validators import (
    ANY_LANGUAGE,
    NAME_PATTERN,
    check_languages,
    check_time_zone,
    check_unique,
    one_of,
    optional_duration,
)

if TYPE_CHECKING:
    from socialcare.core.domain.care_config import CareConfig

__all__ = [
    "DEFAULT_CUSTOMER_TIERS",
    "DEFAULT_WARNINGS",
    "PRIORITIES",
    "Calendar",
    "SlaPolicy",
    "Team",
    "check",
    "policy_for",
]

PRIORITIES = ("low", "normal", "high", "urgent")
DEFAULT_WARNINGS = (0.75, 0.9)
DEFAULT_CUSTOMER_TIERS = ("standard", "vip")


class Calendar(BaseModel):
    """Business hours: weekly opening hours in a time zone, minus holidays (local dates).

    `hours` maps weekdays (mon..sun) to "HH:MM-HH:MM" or a list of them; a day left out is
    closed. A clock on the calendar only counts open time."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=NAME_PATTERN)
    time_zone: str
    hours: dict[str, str | list[str]]
    holidays: list[date] = Field(default_factory=list)

    _check_time_zone = field_validator("time_zone")(check_time_zone)

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        parse_hours(value)
        return value

    @model_validator(mode="after")
    def _has_open_hours(self) -> Calendar:
        # Not `business`: a cached value filled during validation would outlive a
        # `model_copy` that changes the hours.
        BusinessCalendar.from_hours(self.name, self.time_zone, self.hours, self.holidays)
        return self

    @cached_property
    def business(self) -> BusinessCalendar:
        """The calendar arithmetic for this entry."""
        return BusinessCalendar.from_hours(self.name, self.time_zone, self.hours, self.holidays)


class Team(BaseModel):
    """A team answering one or more queues: its calendar (none = 24/7) and its lead (an
    agent id; escalation's team-lead tier notifies them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    calendar: str | None = None
    lead: str | None = None


class SlaPolicy(BaseModel):
    """One promise: targets per clock, the cases it applies to, and how it is watched.

    An empty dimension (channels, priorities, customer_tiers, brands) matches everything;
    languages ['*'] matches every language."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1)
    languages: list[str]
    channels: list[str] = Field(default_factory=list)
    priorities: list[str] = Field(default_factory=list)
    customer_tiers: list[str] = Field(default_factory=list)
    brands: list[str] = Field(default_factory=list)
    first_response_seconds: float = Field(alias="first_response")
    next_response_seconds: float | None = Field(default=None, alias="next_response")
    resolution_seconds: float | None = Field(default=None, alias="resolution")
    warnings: tuple[float, ...] = DEFAULT_WARNINGS
    calendar: str | None = Field(
        default=None,
        description="Calendar the targets count on; '24/7' forces round the clock; unset = "
        "the calendar of the team of the case's queue, else 24/7.",
    )
    attainment_target: float = Field(default=0.9, gt=0, le=1)

    _check_languages = field_validator("languages")(check_languages)

    _durations = field_validator(
        "first_response_seconds", "next_response_seconds", "resolution_seconds", mode="before"
    )(optional_duration)
    _channels = field_validator("channels")(one_of("channel", CHANNELS))
    _priorities = field_validator("priorities")(one_of("priority", PRIORITIES))

    @field_validator("warnings")
    @classmethod
    def _warnings(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        for threshold in value:
            if not 0 < threshold < 1:
                raise ValueError(
                    f"warning {threshold} is not a fraction of the target between 0 and 1 "
                    "(e.g. 0.75)"
                )
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"warnings must be ascending without repeats, not {list(value)}")
        return value

    @property
    def catch_all(self) -> bool:
        """Matches every case: languages ['*'] and no other dimension."""
        return (
            ANY_LANGUAGE in self.languages
            and not self.channels
            and not self.priorities
            and not self.customer_tiers
            and not self.brands
        )

    def matches(self, *, language: str, channel: str, priority: str, tier: str, brand: str) -> bool:
        return (
            (language in self.languages or ANY_LANGUAGE in self.languages)
            and (not self.channels or channel in self.channels)
            and (not self.priorities or priority in self.priorities)
            and (not self.customer_tiers or tier in self.customer_tiers)
            and (not self.brands or brand in self.brands)
        )

    def specificity(self, language: str) -> tuple[bool, bool, bool, bool, bool]:
        """Precedence key (higher wins): see the module docstring."""
        return (
            bool(self.brands),
            bool(self.customer_tiers),
            bool(self.priorities),
            bool(self.channels),
            language in self.languages,
        )


def policy_for(
    policies: Sequence[SlaPolicy],
    *,
    language: str,
    channel: str = "",
    priority: str = "normal",
    tier: str = "",
    brand: str = "",
) -> SlaPolicy:
    """The most specific policy matching the case; ties go to the first in the list.

    LookupError when none matches, which validation prevents (a catch-all is required)."""
    best: SlaPolicy | None = None
    best_key: tuple[bool, bool, bool, bool, bool] | None = None
    for policy in policies:
        if not policy.matches(
            language=language, channel=channel, priority=priority, tier=tier, brand=brand
        ):
            continue
        key = policy.specificity(language)
        if best_key is None or key > best_key:
            best, best_key = policy, key
    if best is None:
        raise LookupError(f"no SLA policy matches language {language!r}")
    return best


def check(care: CareConfig) -> None:
    """Cross-references between policies, calendars, teams, queues, tiers, brands and
    agents; ValueError names the entry at fault."""
    calendars = {c.name for c in care.calendars}
    if ROUND_THE_CLOCK_NAME in calendars:
        raise ValueError(f"calendar name {ROUND_THE_CLOCK_NAME!r} is reserved for round the clock")
    teams = {t.name for t in care.teams}
    # Not the cached properties (`effective_brands`, `agents_by_id`): see CareConfig.
    brand_names = {b.name for b in care.brands} or {DEFAULT_BRAND}
    agent_ids = {a.id for a in care.agents}
    tiers = set(care.customer_tiers)
    for kind, names in (
        ("calendar name", [c.name for c in care.calendars]),
        ("team name", [t.name for t in care.teams]),
        ("customer tier", list(care.customer_tiers)),
    ):
        check_unique(kind, names)
    for tier in care.customer_tiers:
        if not re.fullmatch(NAME_PATTERN, tier):
            raise ValueError(f"customer tier {tier!r}: use lower-case letters, digits, - and _")
    for team in care.teams:
        if team.calendar is not None and team.calendar not in calendars | {ROUND_THE_CLOCK_NAME}:
            raise ValueError(
                f"team {team.name!r}: calendar {team.calendar!r} is not configured "
                f"({', '.join(sorted(calendars)) or 'no calendars'})"
            )
        if team.lead is not None and team.lead not in agent_ids:
            raise ValueError(f"team {team.name!r}: lead {team.lead!r} is not an agent id")
    for queue in care.queues:
        if queue.team is not None and queue.team not in teams:
            raise ValueError(
                f"queue {queue.name!r}: team {queue.team!r} is not configured "
                f"({', '.join(sorted(teams)) or 'no teams'})"
            )
    for policy in care.sla_policies:
        where = f"SLA policy {policy.name!r}"
        if policy.calendar is not None and policy.calendar not in calendars | {
            ROUND_THE_CLOCK_NAME
        }:
            raise ValueError(
                f"{where}: calendar {policy.calendar!r} is not configured "
                f"({', '.join(sorted(calendars | {ROUND_THE_CLOCK_NAME}))})"
            )
        unknown_tiers = sorted(set(policy.customer_tiers) - tiers)
        if unknown_tiers:
            raise ValueError(
                f"{where}: customer tier {unknown_tiers[0]!r} is not in customer_tiers "
                f"({', '.join(care.customer_tiers)})"
            )
        unknown_brands = sorted(set(policy.brands) - brand_names)
        if unknown_brands:
            raise ValueError(
                f"{where}: brand {unknown_brands[0]!r} is not configured "
                f"({', '.join(sorted(brand_names))})"
            )
    if not any(p.catch_all for p in care.sla_policies):
        raise ValueError(
            "one SLA policy needs languages: ['*'] and no other condition (channels, "
            "priorities, customer_tiers, brands), as the default for every case"
        )
