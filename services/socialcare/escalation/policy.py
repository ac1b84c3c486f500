"""Who is on call at a tier, and the rungs of an escalation policy's ladder.

Pure: the time is passed in, and the calendars and team leads are plain data taken from
the care config once (`Roster.of`). On call at a tier, for a case of `team` and `brand`:

1. at the `agent` tier, the case's assignee (the person who can still act on a warning);
2. the first `escalation.on_call.<tier>` entry that covers the team and brand and whose
   calendar is open at that moment (an entry without a calendar is always open);
3. at the `team_lead` tier, the lead of the case's team;
4. nobody: the escalation still goes out to whatever is subscribed to its tier (webhooks,
   e-mail routes) and, unacknowledged, climbs to the next tier in time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from socialcare.core.domain.calendars import BusinessCalendar
from socialcare.core.domain.escalation_config import EscalationConfig, EscalationPolicy, Step, Tier

if TYPE_CHECKING:
    from socialcare.core.domain.care_config import CareConfig


@dataclass(frozen=True)
class Roster:
    """The escalation section with the calendars and team leads it refers to."""

    config: EscalationConfig
    calendars: Mapping[str, BusinessCalendar] = field(default_factory=dict)
    team_leads: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, care: CareConfig) -> Roster:
        leads = {t.name: t.lead for t in care.teams if t.lead}
        return cls(care.escalation, care.calendars_by_name, leads)

    def on_call(
        self, tier: Tier, *, team: str, brand: str, assignee: str, at: datetime
    ) -> list[str]:
        """Who is on call at `tier` for a case of `team` and `brand` at `at` (see the
        module docstring); empty when nobody is."""
        if tier == "agent" and assignee:
            return [assignee]
        for entry in self.config.on_call.get(tier, ()):
            if not entry.covers(team=team, brand=brand):
                continue
            calendar = self.calendars.get(entry.calendar) if entry.calendar else None
            if calendar is None or calendar.is_open(at):
                return [entry.who]
        if tier == "team_lead":
            lead = self.team_leads.get(team)
            if lead:
                return [lead]
        return []

    def policy(self, name: str) -> EscalationPolicy:
        return self.config.policy(name)

    def has_policy(self, name: str) -> bool:
        """False for an escalation raised under a policy the config no longer has (or an
        older record without one): it stays where it is."""
        return any(p.name == name for p in self.config.policies)

    def step(self, policy: str, level: int) -> Step:
        """The rung `level` of `policy` (clamped to the ladder: a policy edited to fewer
        steps while an escalation was on a higher one keeps it on its top rung)."""
        steps = self.config.policy(policy).steps
        return steps[min(max(level, 0), len(steps) - 1)]

    def next_level(self, policy: str, level: int) -> int | None:
        """The rung above `level`, or None at the top of the ladder."""
        steps = self.config.policy(policy).steps
        return level + 1 if level + 1 < len(steps) else None
