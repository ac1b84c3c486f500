"""A case's priority and why: five signals (0..1), weighted, summed into a score (0..1)
that falls into a level (low, normal, high, urgent).

Scenario 5: a complaint from a very valuable customer against one from an influencer with
245,000 followers who never bought anything. Which comes first is a policy, not a fact, so
the weights are configuration (`routing.priority`) and the case carries every signal's
share (`PriorityExplanation`): a supervisor sees *why* a case ranks where it does and can
change the weights instead of arguing with a black box.

The signals:
* urgency: the most urgent open question of the case (its taxonomy entry's `urgency`) or
  the urgency enrichment read in the latest customer message ("urgent", "!!!"),
  whichever is higher;
* sentiment: how negative the case reads (0 for neutral or positive);
* reach: the author's followers on a log scale between `reach_from` (0) and
  `reach_full_at` (1): 10x the followers is the same step anywhere on the scale;
* customer_value: 1 for a VIP (`Case.vip`: the CRM, the brand's `vip` list or a "vip"
  tier said so), else the larger of the customer's tier value and their value
  (`Case.customer_value`, from the CRM or the author, else Author.customer_value) against
  `value_full_at`; the detail says "CRM value" when the case's value is not the one the
  author's message stated (only the CRM lookup sets another);
* sla: the share of the response clock's target used (1 when breached); 0 while nobody
  owes the customer an answer (clock stopped or paused).

score = sum(weight * signal) / sum(weights); each factor's contribution is its term, so
the contributions add up to the score. Pure: `now` is passed in.
"""

from __future__ import annotations

import math
from datetime import datetime

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.routing_config import FACTORS, LEVELS, PriorityConfig
from socialcare.core.domain.sla_clocks import business_seconds, is_running
from socialcare.v1 import case_pb2, message_pb2

__all__ = ["explain", "level", "message_urgency", "score", "tier_value"]

_NEGATIVE = message_pb2.SENTIMENT_LABEL_NEGATIVE
_POSITIVE = message_pb2.SENTIMENT_LABEL_POSITIVE


def explain(
    case: case_pb2.Case, care: CareConfig, now: datetime, urgency: float | None = None
) -> case_pb2.PriorityExplanation:
    """The case's priority score, level and each factor's share at `now`.

    `urgency` is the latest customer message's urgency (EnrichedMessage.urgency, 0..1);
    None (a re-evaluation without a new message, e.g. the book's tick) keeps the one the
    case's current explanation was made with (`message_urgency`). The level honours the
    case's `priority_override`.
    """
    config = care.routing.priority
    signals = _signals(case, care, now, urgency)
    total = sum(config.weights.of(f) for f in FACTORS)
    factors = []
    for factor in FACTORS:
        signal, detail = signals[factor]
        weight = config.weights.of(factor)
        factors.append(
            case_pb2.PriorityFactor(
                factor=factor,
                signal=signal,
                weight=weight,
                contribution=weight * signal / total,
                detail=detail,
            )
        )
    # Largest share first; a tie keeps FACTORS' order (sorted is stable).
    factors.sort(key=lambda f: -f.contribution)
    explanation = case_pb2.PriorityExplanation(
        score=min(sum(f.contribution for f in factors), 1.0),
        factors=factors,
        computed_at=to_timestamp(now),
    )
    explanation.level = level(care, explanation, case.priority_override)
    return explanation


def score(
    case: case_pb2.Case, care: CareConfig, now: datetime, urgency: float | None = None
) -> float:
    """`explain(...).score` without building the explanation's messages: for a sweep over
    every open case that only wants to know whether its level moved."""
    weights = care.routing.priority.weights
    signals = _signals(case, care, now, urgency)
    total = sum(weights.of(f) for f in FACTORS)
    return min(sum(weights.of(f) * signals[f][0] for f in FACTORS) / total, 1.0)


def level(care: CareConfig, explanation: case_pb2.PriorityExplanation, override: str = "") -> str:
    """The case's priority: an agent's override (one of LEVELS) wins; otherwise the level
    `routing.priority.levels` give the explanation's score."""
    if override in LEVELS:
        return override
    return care.routing.priority.levels.level(explanation.score)


def message_urgency(case: case_pb2.Case) -> float:
    """The urgency signal of the case's current explanation (0 when it has none): what a
    re-evaluation without a new customer message carries on. It may include the urgency
    of questions answered since; the next customer message replaces it."""
    for factor in case.priority_explanation.factors:
        if factor.factor == "urgency":
            return _unit(factor.signal)
    return 0.0


def tier_value(care: CareConfig, tier: str) -> float:
    """The value signal (0..1) of a customer tier: `tier_values` when set, else its place
    in `customer_tiers` (the first 0, the last 1); an unknown tier is the default tier."""
    name = care.tier(tier)
    configured = care.routing.priority.tier_values.get(name)
    if configured is not None:
        return configured
    tiers = care.customer_tiers
    if len(tiers) < 2:
        return 0.0
    return tiers.index(name) / (len(tiers) - 1)


def _signals(
    case: case_pb2.Case, care: CareConfig, now: datetime, urgency: float | None
) -> dict[str, tuple[float, str]]:
    message = message_urgency(case) if urgency is None else _unit(urgency)
    return {
        "urgency": _urgency(case, care, message),
        "sentiment": _sentiment(case.sentiment),
        "reach": _reach(case.customer.followers, care.routing.priority, case.reach_tier),
        "customer_value": _customer_value(case, care),
        "sla": _sla(case, care, now),
    }


def _urgency(case: case_pb2.Case, care: CareConfig, message: float) -> tuple[float, str]:
    best, best_name = 0.0, ""
    for intent in case.intents:
        if intent.answered:
            continue
        entry = care.intent(intent.name)
        if entry is not None and entry.urgency > best:
            best, best_name = entry.urgency, intent.name
    if best_name and best >= message:
        return best, f"intent {best_name} ({best:.2f})"
    if message > 0:
        return message, f"urgent wording ({message:.2f})"
    return 0.0, "no urgent question or wording"


def _sentiment(sentiment: message_pb2.Sentiment) -> tuple[float, str]:
    score = sentiment.score
    if sentiment.label == _NEGATIVE or score < -0.05:
        return _unit(-score), f"negative ({score:.2f})"
    if sentiment.label == _POSITIVE or score > 0.05:
        return 0.0, f"positive ({score:.2f})"
    return 0.0, f"neutral ({score:.2f})"


def _reach(followers: int, config: PriorityConfig, tier: str = "") -> tuple[float, str]:
    detail = f"{followers:,} followers" if followers != 1 else "1 follower"
    if tier:
        detail += f" ({tier})"
    if followers < config.reach_from or followers <= 0:
        return 0.0, detail
    if followers >= config.reach_full_at:
        return 1.0, detail
    start = max(config.reach_from, 1)
    return _unit(math.log(followers / start) / math.log(config.reach_full_at / start)), detail


def _customer_value(case: case_pb2.Case, care: CareConfig) -> tuple[float, str]:
    tier = care.tier(case.customer_tier or case.customer.tier)
    stated = case.customer.customer_value
    amount = case.customer_value if case.customer_value > 0 else stated
    named = "CRM value" if amount != stated else "customer value"
    if case.vip:
        parts = [f"tier {tier}"] if tier != care.default_tier else []
        parts += [f"{named} {amount:,.0f}"] if amount > 0 else []
        return 1.0, "VIP" + (f" ({', '.join(parts)})" if parts else "")
    by_tier = tier_value(care, tier)
    by_value = _unit(amount / care.routing.priority.value_full_at) if amount > 0 else 0.0
    if by_value > by_tier:
        return by_value, f"{named} {amount:,.0f} (tier {tier})"
    if amount > 0:
        return by_tier, f"tier {tier} ({named} {amount:,.0f})"
    return by_tier, f"tier {tier}"


def _sla(case: case_pb2.Case, care: CareConfig, now: datetime) -> tuple[float, str]:
    clock = case.sla
    if not clock.HasField("started_at") or not 0 < clock.target_seconds < math.inf:
        return 0.0, "no response clock"
    if not is_running(clock):
        state = {
            case_pb2.SLA_STATE_PAUSED: "paused",
            case_pb2.SLA_STATE_CANCELLED: "cancelled",
        }.get(clock.state, "stopped")
        return 0.0, f"response clock {state}"
    used = business_seconds(clock, care.calendar(clock.calendar), now) / clock.target_seconds
    target = _duration(clock.target_seconds)
    if used >= 1 or clock.state == case_pb2.SLA_STATE_BREACHED:
        return 1.0, f"the {target} target passed"
    return _unit(used), f"{used:.0%} of the {target} target used"


def _duration(seconds: float) -> str:
    """`3600` -> "1h", `5400` -> "1h30m", `172800` -> "2d", `90` -> "1m30s"."""
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2]) or "0s"


def _unit(value: float) -> float:
    """`value` clamped to 0..1 (NaN counts 0)."""
    if not value > 0:
        return 0.0
    return min(float(value), 1.0)
