"""What escalates a case: the triggers read from SLA events, case events and agent commands.

Pure: each function looks at one input and returns the `Trigger`s it carries (usually none).
Deciding whether a trigger opens an escalation (one open escalation per case and family)
is the book's job (`escalation.domain`).

Families group triggers that are one concern for the people notified: a warning, the
at-risk prediction and the breach of one clock of a case are one story (`sla:<clock>`,
e.g. `sla:first_response`); a negative message
from a VIP or from an influencer is one (`negative`); each keyword category is its own
(`keyword:<name>`: a legal threat and a safety issue go to different desks in practice);
an agent's request (`agent_request`) and a crisis (`crisis`) are their own.

Keywords match the customer's message as whole words, phrases or `word*` prefixes with
Unicode case folding (the shared rules of `socialcare.core.domain.keywords`, which the
listening rules of the channels use too). The words of the
message's language apply, plus those listed under `*` and English (the lingua franca of
social media: "lawyer" in a Dutch tweet is still a legal threat). The language's own list
only, not every list: "brand" is Dutch for fire and English for a company.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from google.protobuf.timestamp_pb2 import Timestamp

from socialcare.core.clock import from_timestamp, rfc3339
from socialcare.core.domain.escalation_config import (
    EscalationConfig,
    KeywordCategory,
    Tier,
    TriggerName,
)
from socialcare.core.domain.keywords import Terms, fold
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2, message_pb2, sla_pb2

T = escalation_pb2

SLA_FAMILY = "sla"
NEGATIVE_FAMILY = "negative"
AGENT_REQUEST_FAMILY = "agent_request"
CRISIS_FAMILY = "crisis"

# The case events that add a customer message (their cause_id is that message's id).
INBOUND_EVENTS = frozenset(
    {
        case_pb2.CASE_EVENT_TYPE_OPENED,
        case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED,
        case_pb2.CASE_EVENT_TYPE_REOPENED,
    }
)

_SLA_TRIGGERS: dict[int, tuple[TriggerName, T.EscalationTrigger.ValueType]] = {
    sla_pb2.SLA_EVENT_TYPE_WARNING: ("sla_warning", T.ESCALATION_TRIGGER_SLA_WARNING),
    sla_pb2.SLA_EVENT_TYPE_AT_RISK: ("sla_at_risk", T.ESCALATION_TRIGGER_SLA_AT_RISK),
    sla_pb2.SLA_EVENT_TYPE_BREACHED: ("sla_breach", T.ESCALATION_TRIGGER_SLA_BREACH),
}

# The clock kinds as escalations name them; UNSPECIFIED is an older record's first response.
CLOCK_KEYS: dict[int, str] = {
    case_pb2.SLA_CLOCK_KIND_UNSPECIFIED: "first_response",
    case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE: "first_response",
    case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE: "next_response",
    case_pb2.SLA_CLOCK_KIND_RESOLUTION: "resolution",
}


def clock_of(event: sla_pb2.SlaEvent) -> tuple[str, int]:
    """The clock an SLA event is about: (kind key, cycle); an older record's cycle 0 is 1."""
    return CLOCK_KEYS.get(event.clock, "first_response"), event.cycle or 1


def family_of(escalation: escalation_pb2.Escalation) -> str:
    """The family of an escalation as raised (see the module docstring)."""
    kind = escalation.trigger
    if kind in (
        T.ESCALATION_TRIGGER_SLA_WARNING,
        T.ESCALATION_TRIGGER_SLA_AT_RISK,
        T.ESCALATION_TRIGGER_SLA_BREACH,
    ):
        return f"{SLA_FAMILY}:{escalation.clock or 'first_response'}"
    if kind in (T.ESCALATION_TRIGGER_VIP_NEGATIVE, T.ESCALATION_TRIGGER_INFLUENCER):
        return NEGATIVE_FAMILY
    if kind == T.ESCALATION_TRIGGER_KEYWORD:
        return f"keyword:{escalation.keyword_category}"
    if kind == T.ESCALATION_TRIGGER_NEGATIVE_SPIKE:
        return CRISIS_FAMILY
    return AGENT_REQUEST_FAMILY


TIER_VALUES: dict[Tier, T.EscalationTier.ValueType] = {
    "agent": T.ESCALATION_TIER_AGENT,
    "team_lead": T.ESCALATION_TIER_TEAM_LEAD,
    "specialist": T.ESCALATION_TIER_SPECIALIST,
    "management": T.ESCALATION_TIER_MANAGEMENT,
    "pr": T.ESCALATION_TIER_PR,
}
TIER_NAMES: dict[int, Tier] = {v: k for k, v in TIER_VALUES.items()}


@dataclass(frozen=True, slots=True)
class Trigger:
    """A reason to escalate a case: where it enters (policy, tier), and why."""

    kind: T.EscalationTrigger.ValueType
    family: str
    cause_id: str
    reason: str
    policy: str
    tier: Tier
    raised_by: str = ""
    incident_id: str = ""
    keyword_category: str = ""
    clock: str = ""
    clock_cycle: int = 0
    # When the cause happened (the SLA event, the case event, the command), so that an
    # escalation raised again after a crash has the same times; None: when processed.
    at: datetime | None = None


# -- keywords ----------------------------------------------------------------------------------


class KeywordMatcher:
    """One category's words, compiled once per language (pure; safe to share)."""

    def __init__(self, category: KeywordCategory) -> None:
        self.category = category

    @cached_property
    def _by_language(self) -> dict[str, Terms]:
        return {
            language: Terms(w for w in words if w.strip())
            for language, words in self.category.words.items()
        }

    def found(self, text: str, language: str) -> tuple[str, ...]:
        """The words of this category in `text` (in order of appearance, as configured):
        those of `language`, then those listed under `*` and English."""
        folded = fold(text)
        seen: dict[str, None] = {}
        for code in dict.fromkeys((language, "*", "en")):
            terms = self._by_language.get(code)
            if terms is not None:
                seen.update(dict.fromkeys(terms.found(folded)))
        return tuple(seen)


class Triggers:
    """The trigger rules of one care config, with its keyword lists compiled."""

    def __init__(self, config: EscalationConfig) -> None:
        self.config = config
        self.keywords = [KeywordMatcher(c) for c in config.keywords]

    def _entry(
        self,
        name: TriggerName,
        kind: T.EscalationTrigger.ValueType,
        family: str,
        cause_id: str,
        reason: str,
        at: datetime | None,
    ) -> Trigger:
        rule = self.config.trigger(name)
        return Trigger(kind, family, cause_id, reason, rule.policy, rule.tier, at=at)

    def from_sla(self, event: sla_pb2.SlaEvent) -> list[Trigger]:
        """A warning, an at-risk prediction or a breach of any clock."""
        known = _SLA_TRIGGERS.get(event.type)
        if known is None:
            return []
        name, kind = known
        clock_key, cycle = clock_of(event)
        clock = clock_key.replace("_", " ")
        who = f"assigned to {event.assignee}" if event.assignee else "not assigned to anyone"
        if event.type == sla_pb2.SLA_EVENT_TYPE_WARNING:
            what = f"{clock} at {event.threshold:.0%} of its target"
        elif event.type == sla_pb2.SLA_EVENT_TYPE_AT_RISK:
            predicted = (
                f", predicted answer {rfc3339(event.predicted_response_at)}"
                if event.HasField("predicted_response_at")
                else ""
            )
            what = f"{clock} predicted to breach{predicted}"
        else:
            what = f"{clock} overdue"
        reason = (
            f"{what}: policy {event.policy} due at {rfc3339(event.due_at) or '(no due time)'}; "
            f"case {who}, "
            f"queue {event.queue}, language {event.language}"
        )
        if event.reason:
            reason += f" ({event.reason})"
        rule = self.config.trigger(name)
        return [
            Trigger(
                kind,
                f"{SLA_FAMILY}:{clock_key}",
                event.event_id,
                reason,
                rule.policy,
                rule.tier,
                clock=clock_key,
                clock_cycle=cycle,
                at=_when(event.occurred_at),
            )
        ]

    def from_case(self, event: case_pb2.CaseEvent) -> list[Trigger]:
        """A new customer message that is negative and from a VIP or an influencer, or that
        holds words of a keyword category. Only the message the event added counts (its
        id is the event's cause), so a later change to the case does not trigger again."""
        message = new_inbound(event)
        if message is None:
            return []
        case = event.case
        at = _when(event.occurred_at)
        found: list[Trigger] = []
        if message.sentiment.label == message_pb2.SENTIMENT_LABEL_NEGATIVE:
            followers = case.customer.followers
            handle = case.customer.handle or case.customer.id
            if followers >= self.config.influencer_followers:
                found.append(
                    self._entry(
                        "influencer_negative",
                        T.ESCALATION_TRIGGER_INFLUENCER,
                        NEGATIVE_FAMILY,
                        message.message_id,
                        f"negative message from {handle} ({followers} followers, threshold "
                        f"{self.config.influencer_followers}): {_quote(message.text)}",
                        at,
                    )
                )
            elif case.vip or customer_tier(case) in self.config.vip_tiers:
                found.append(
                    self._entry(
                        "vip_negative",
                        T.ESCALATION_TRIGGER_VIP_NEGATIVE,
                        NEGATIVE_FAMILY,
                        message.message_id,
                        f"negative message from {_vip_kind(case)} customer {handle}: "
                        f"{_quote(message.text)}",
                        at,
                    )
                )
        language = message.language or case.language
        for matcher in self.keywords:
            words = matcher.found(message.text, language)
            if words:
                category = matcher.category
                found.append(
                    Trigger(
                        T.ESCALATION_TRIGGER_KEYWORD,
                        f"keyword:{category.name}",
                        message.message_id,
                        f"{category.name.replace('_', ' ')}: "
                        f"{', '.join(repr(w) for w in words)} in {_quote(message.text)}",
                        category.policy,
                        category.tier,
                        keyword_category=category.name,
                        at=at,
                    )
                )
        return found

    def from_command(self, command: commands_pb2.AgentCommand) -> list[Trigger]:
        """An agent asks for help (`escalate`: the tier asked for, when the policy's ladder
        has it, else the rule's first tier), or a crisis incident opened on the case
        (`incident`, not closed)."""
        action = command.WhichOneof("action")
        if action == "incident" and not command.incident.closed:
            incident = command.incident
            rule = self.config.trigger("crisis")
            return [
                Trigger(
                    T.ESCALATION_TRIGGER_NEGATIVE_SPIKE,
                    CRISIS_FAMILY,
                    incident.incident_id,
                    f"crisis incident {incident.incident_id}: "
                    f"{incident.summary.strip() or 'a spike of negative messages'}",
                    rule.policy,
                    rule.tier,
                    incident_id=incident.incident_id,
                    at=_when(command.issued_at),
                )
            ]
        if action != "escalate":
            return []
        request = command.escalate
        rule = self.config.trigger("agent_request")
        tier: Tier = rule.tier
        if request.tier:
            asked = requested_tier(self.config, request.tier)
            if asked is not None:
                tier = asked
        agent = request.agent or command.issued_by
        return [
            Trigger(
                T.ESCALATION_TRIGGER_AGENT_REQUEST,
                AGENT_REQUEST_FAMILY,
                command.command_id,
                f"{agent} asks for help: {request.reason.strip() or 'no reason given'}",
                rule.policy,
                tier,
                raised_by=agent,
                at=_when(command.issued_at),
            )
        ]


def requested_tier(config: EscalationConfig, name: str) -> Tier | None:
    """The tier an agent asked for when the agent-request ladder has it, else None."""
    policy = config.policy(config.trigger("agent_request").policy)
    for step in policy.steps:
        if step.tier == name:
            return step.tier
    return None


def new_inbound(event: case_pb2.CaseEvent) -> case_pb2.CaseMessage | None:
    """The customer message this case event added, or None."""
    if event.type not in INBOUND_EVENTS or not event.case.messages:
        return None
    message = event.case.messages[-1]
    if message.direction != case_pb2.DIRECTION_INBOUND:
        return None
    if event.cause_id and message.message_id != event.cause_id:
        return None
    return message


def _vip_kind(case: case_pb2.Case) -> str:
    """How the escalation names a VIP: "VIP" when the CRM or the brand's list says so (the
    tier may be any), else their tier."""
    tier = customer_tier(case)
    return "VIP" if case.vip and tier != "vip" else tier


def customer_tier(case: case_pb2.Case) -> str:
    """The case's customer tier: the case's own, else the author's as the channel gave it."""
    return case.customer_tier or case.customer.tier


def _when(stamp: Timestamp) -> datetime | None:
    return from_timestamp(stamp) if stamp.seconds or stamp.nanos else None


def _quote(text: str, limit: int = 140) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")
