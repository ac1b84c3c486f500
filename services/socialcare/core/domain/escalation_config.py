"""The `escalation:` section of the care config: who hears about a case beyond its agent,
in which order, and how fast they must acknowledge.

Shape (every key optional; without the section the defaults below apply, so a config
written before escalations had policies loads and behaves sensibly):

* `contacts`: people who are not agents (managers, PR officers) with an e-mail address.
  Agents are contacts too, by their agent id.
* `on_call`: per tier, a list of `{who, calendar?, teams?, brands?}`. For a case, the first
  entry whose `teams`/`brands` include the case's (empty = any) and whose calendar is open
  at that moment (no calendar = always) is on call at that tier. Two fallbacks, because a
  tier without anyone on call would notify nobody: at the `agent` tier the case's assignee
  is on call before any entry (the warning goes to the person who can still act), and at
  `team_lead` the lead of the case's team is on call when no entry is.
* `policies`: ladders of tiers, each step with `acknowledge_within`: an escalation not
  acknowledged within it climbs to the next step (re-escalation); at the last step it
  stays, and stays open, until someone acknowledges it.
* `triggers`: which policy and step each trigger starts on. Keys: sla_warning,
  sla_at_risk, sla_breach, vip_negative, influencer_negative, agent_request, crisis.
  Keyword categories name their own policy and tier (below).
* `influencer_followers` (100000): a negative message from an author with at least this
  many followers escalates (`influencer_negative`).
* `vip_tiers` ([vip]): a negative message from a customer of one of these tiers escalates
  (`vip_negative`).
* `keywords`: categories of words per language (legal threats, safety by default) matched
  as whole words or phrases, Unicode case-folded (see escalation/triggers.py).

`check(care)` holds the cross-references (contacts, agents, calendars, teams, brands,
customer tiers) and raises ValueError naming the entry at fault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from socialcare.core.domain.calendars import ROUND_THE_CLOCK_NAME
from socialcare.core.domain.durations import parse_duration
from socialcare.core.domain.validators import NAME_PATTERN, check_language, check_unique

if TYPE_CHECKING:
    from socialcare.core.domain.care_config import CareConfig

Tier = Literal["agent", "team_lead", "specialist", "management", "pr"]
TIERS: tuple[Tier, ...] = get_args(Tier)

TriggerName = Literal[
    "sla_warning",
    "sla_at_risk",
    "sla_breach",
    "vip_negative",
    "influencer_negative",
    "agent_request",
    "crisis",
]
TRIGGER_NAMES: tuple[TriggerName, ...] = get_args(TriggerName)

# Keyword categories every config has unless it lists its own: words that mean a case
# can hurt someone or the brand beyond the customer (courts, regulators, injury, fire).
# The lists are starting points in the seven languages of the default roster; a stem
# ending in `*` matches every word that begins with it.
DEFAULT_KEYWORDS: dict[str, dict[str, list[str]]] = {
    "legal_threat": {
        "en": ["lawyer", "attorney", "sue", "suing", "lawsuit", "legal action", "court",
               "small claims", "ombudsman", "consumer protection", "trading standards"],
        "nl": ["advocaat", "rechtszaak", "rechter", "aanklagen", "juridische stappen",
               "gerechtelijke stappen", "ingebrekestelling", "consumentenbond",
               "geschillencommissie", "aangifte doen"],
        "de": ["anwalt", "rechtsanwalt", "klage", "verklagen", "gericht",
               "rechtliche schritte", "verbraucherzentrale", "abmahnung"],
        "fr": ["avocat", "procès", "tribunal", "porter plainte", "poursuivre en justice",
               "action en justice", "mise en demeure", "association de consommateurs"],
        "es": ["abogado", "demanda", "demandar", "tribunal", "juicio", "denuncia",
               "acciones legales", "consumo"],
        "it": ["avvocato", "denuncia", "causa legale", "tribunale", "querela",
               "azioni legali", "codacons"],
        "pt": ["advogado", "processo judicial", "processar", "tribunal", "procon",
               "ação judicial", "medidas legais"],
    },
    "safety": {
        "en": ["fire", "smoke", "burn*", "explod*", "electric shock", "injur*", "hospital",
               "poison*", "choking", "unsafe", "dangerous", "caught fire", "overheat*"],
        "nl": ["brand", "rook", "verbrand*", "ontplof*", "explodeer*", "geëxplodeerd",
               "stroomschok", "gewond", "letsel", "ziekenhuis", "vergiftig*", "gevaarlijk",
               "onveilig", "oververhit*"],
        "de": ["feuer", "brand", "rauch", "verbrenn*", "explodiert", "explosion",
               "stromschlag", "verletz*", "krankenhaus", "vergift*", "gefährlich",
               "überhitz*"],
        "fr": ["incendie", "feu", "fumée", "brûlure*", "brûlé", "explos*",
               "électrocut*", "blessé*", "blessure*", "hôpital", "empoisonn*",
               "dangereux", "surchauffe"],
        "es": ["incendio", "fuego", "humo", "quemadura*", "quemado", "explot*", "explosión",
               "descarga eléctrica", "herido*", "lesión", "hospital", "intoxicación",
               "peligroso", "sobrecalent*"],
        "it": ["incendio", "fuoco", "fumo", "ustion*", "bruciat*", "esplos*",
               "scossa elettrica", "ferit*", "ospedale", "avvelenament*", "pericoloso",
               "surriscald*"],
        "pt": ["incêndio", "fogo", "fumaça", "fumo", "queimadura*", "queimado", "explod*",
               "explosão", "choque elétrico", "ferido*", "hospital", "envenenament*",
               "perigoso", "superaquec*"],
    },
}  # fmt: skip


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Contact(_Section):
    """Someone notified about escalations who is not an agent (managers, PR)."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1)
    email: str = Field(default="", pattern=r"^$|^[^@\s]+@[^@\s]+$")


class OnCall(_Section):
    """One entry of a tier's on-call list: `who` (contact or agent id) is on call when the
    case's team and brand match (empty lists = any) and `calendar` (a configured business
    calendar) is open; without a calendar (or "24/7"), around the clock."""

    who: str = Field(min_length=1)
    calendar: str | None = None
    teams: list[str] = Field(default_factory=list)
    brands: list[str] = Field(default_factory=list)

    def covers(self, *, team: str, brand: str) -> bool:
        return (not self.teams or team in self.teams) and (not self.brands or brand in self.brands)


class Step(_Section):
    """One rung of a ladder: the tier, and how long it has to acknowledge."""

    tier: Tier
    acknowledge_within_seconds: float = Field(alias="acknowledge_within")

    _duration = field_validator("acknowledge_within_seconds", mode="before")(parse_duration)


class EscalationPolicy(_Section):
    """A ladder of tiers an escalation climbs while nobody acknowledges it."""

    name: str = Field(min_length=1, pattern=NAME_PATTERN)
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_tiers(self) -> EscalationPolicy:
        tiers = [s.tier for s in self.steps]
        if len(set(tiers)) != len(tiers):
            raise ValueError(f"policy {self.name!r} lists a tier twice: {', '.join(tiers)}")
        return self

    def level_of(self, tier: Tier) -> int:
        """The step index of `tier`; ValueError when the ladder does not have it."""
        for level, step in enumerate(self.steps):
            if step.tier == tier:
                return level
        raise ValueError(
            f"policy {self.name!r} has no tier {tier!r} "
            f"(it has {', '.join(s.tier for s in self.steps)})"
        )


class TriggerRule(_Section):
    """Where a trigger enters: the policy whose ladder it climbs and the first tier."""

    policy: str
    tier: Tier


class KeywordCategory(_Section):
    """Words (per language; `*` = any language) whose presence in a customer's message
    escalates the case, and where that escalation enters."""

    name: str = Field(min_length=1, pattern=NAME_PATTERN)
    words: dict[str, list[str]] = Field(min_length=1)
    policy: str = "reputation"
    tier: Tier = "management"

    @field_validator("words")
    @classmethod
    def _languages(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for language, words in value.items():
            check_language(language, any_allowed=True)
            if not any(w.strip() for w in words):
                raise ValueError(f"language {language!r} lists no words")
        return value


def _default_policies() -> list[EscalationPolicy]:
    def ladder(name: str, *steps: tuple[Tier, str]) -> EscalationPolicy:
        return EscalationPolicy.model_validate(
            {"name": name, "steps": [{"tier": t, "acknowledge_within": w} for t, w in steps]}
        )

    return [
        ladder(
            "standard",
            ("agent", "15m"),
            ("team_lead", "30m"),
            ("specialist", "1h"),
            ("management", "2h"),
        ),
        ladder("reputation", ("management", "30m"), ("pr", "1h")),
        ladder("crisis", ("pr", "15m"), ("management", "30m")),
    ]


DEFAULT_TRIGGERS: dict[TriggerName, TriggerRule] = {
    "sla_warning": TriggerRule(policy="standard", tier="agent"),
    "sla_at_risk": TriggerRule(policy="standard", tier="team_lead"),
    "sla_breach": TriggerRule(policy="standard", tier="team_lead"),
    "vip_negative": TriggerRule(policy="standard", tier="team_lead"),
    "influencer_negative": TriggerRule(policy="reputation", tier="management"),
    "agent_request": TriggerRule(policy="standard", tier="team_lead"),
    "crisis": TriggerRule(policy="crisis", tier="pr"),
}


def _default_keywords() -> list[KeywordCategory]:
    return [
        KeywordCategory(name=name, words=words, policy="reputation", tier="management")
        for name, words in DEFAULT_KEYWORDS.items()
    ]


class EscalationConfig(_Section):
    contacts: list[Contact] = Field(default_factory=list)
    on_call: dict[Tier, list[OnCall]] = Field(default_factory=dict)
    policies: list[EscalationPolicy] = Field(default_factory=_default_policies)
    triggers: dict[TriggerName, TriggerRule] = Field(default_factory=dict)
    influencer_followers: int = Field(default=100_000, ge=1)
    vip_tiers: list[str] = Field(default_factory=lambda: ["vip"])
    keywords: list[KeywordCategory] = Field(default_factory=_default_keywords)

    @model_validator(mode="after")
    def _consistent(self) -> EscalationConfig:
        for kind, names in (
            ("contact id", [c.id for c in self.contacts]),
            ("escalation policy", [p.name for p in self.policies]),
            ("keyword category", [k.name for k in self.keywords]),
        ):
            check_unique(kind, names)
        policies = {p.name: p for p in self.policies}
        entries: list[tuple[str, str, Tier]] = [
            (f"triggers.{name}", rule.policy, rule.tier)
            for name, rule in self.effective_triggers.items()
        ]
        entries += [(f"keywords {k.name!r}", k.policy, k.tier) for k in self.keywords]
        for where, policy_name, tier in entries:
            policy = policies.get(policy_name)
            if policy is None:
                raise ValueError(
                    f"{where}: no escalation policy {policy_name!r} "
                    f"(policies: {', '.join(sorted(policies))})"
                )
            try:
                policy.level_of(tier)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        return self

    @property
    def effective_triggers(self) -> dict[TriggerName, TriggerRule]:
        """The configured trigger rules over the defaults (a config lists only changes)."""
        return {**DEFAULT_TRIGGERS, **self.triggers}

    def policy(self, name: str) -> EscalationPolicy:
        for policy in self.policies:
            if policy.name == name:
                return policy
        raise LookupError(f"no escalation policy {name!r}")  # prevented by validation

    def trigger(self, name: TriggerName) -> TriggerRule:
        return self.effective_triggers[name]

    def keyword_category(self, name: str) -> KeywordCategory | None:
        for category in self.keywords:
            if category.name == name:
                return category
        return None

    def contact_ids(self) -> set[str]:
        return {c.id for c in self.contacts}


def check(care: CareConfig) -> None:
    """Cross-references to the rest of the config; ValueError names the entry at fault."""
    section = care.escalation
    people = section.contact_ids() | {a.id for a in care.agents}
    overlap = sorted(section.contact_ids() & {a.id for a in care.agents})
    if overlap:
        raise ValueError(
            f"escalation.contacts: {', '.join(overlap)} are agents already "
            "(agents are contacts by their id; list only people who are not)"
        )
    calendars = {c.name for c in care.calendars} | {ROUND_THE_CLOCK_NAME}
    teams = {t.name for t in care.teams}
    brands = {b.name for b in care.effective_brands}
    for tier, entries in section.on_call.items():
        for n, entry in enumerate(entries):
            where = f"escalation.on_call.{tier}[{n}]"
            if entry.who not in people:
                raise ValueError(f"{where}: {entry.who!r} is neither a contact nor an agent")
            if entry.calendar is not None and entry.calendar not in calendars:
                raise ValueError(
                    f"{where}: no calendar {entry.calendar!r} "
                    f"(calendars: {', '.join(sorted(calendars)) or 'none'})"
                )
            unknown = sorted(set(entry.teams) - teams)
            if unknown:
                raise ValueError(
                    f"{where}: teams {', '.join(unknown)} are not configured "
                    f"({', '.join(sorted(teams)) or 'no teams'})"
                )
            unknown_brands = sorted(set(entry.brands) - brands)
            if unknown_brands:
                raise ValueError(
                    f"{where}: brands {', '.join(unknown_brands)} are not configured "
                    f"({', '.join(sorted(brands))})"
                )
    unknown_tiers = sorted(set(section.vip_tiers) - set(care.customer_tiers))
    if unknown_tiers:
        raise ValueError(
            f"escalation.vip_tiers: {', '.join(unknown_tiers)} are not customer tiers "
            f"({', '.join(care.customer_tiers)})"
        )
