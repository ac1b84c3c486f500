"""A case's priority and its explanation (core/domain/priority.py): the five signals, their
weights, the level, and scenario 5 (the valued customer against the influencer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcare.core.clock import to_timestamp
from socialcare.core.domain import priority
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.routing_config import FACTORS
from socialcare.v1 import case_pb2, message_pb2

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NEGATIVE = message_pb2.SENTIMENT_LABEL_NEGATIVE


def care(**priority_section: Any) -> CareConfig:
    return CareConfig.model_validate(
        {
            "sla_policies": [{"name": "default", "languages": ["*"], "first_response": "1h"}],
            "queues": [{"name": "care", "languages": ["*"]}],
            "agents": [{"id": "ann", "name": "Ann", "languages": ["en"], "capacity": 5}],
            "customer_tiers": ["standard", "gold", "vip"],
            "routing": {"priority": priority_section},
            "intents": [
                {"name": "outage", "keywords": {"en": ["outage"]}, "urgency": 0.8},
                {"name": "billing", "keywords": {"en": ["invoice"]}, "urgency": 0.3},
            ],
        }
    )


def case(
    *,
    followers: int = 0,
    tier: str = "",
    value: float = 0.0,
    sentiment: float = 0.0,
    intents: tuple[tuple[str, bool], ...] = (),
    override: str = "",
) -> case_pb2.Case:
    label = (
        NEGATIVE
        if sentiment < -0.05
        else message_pb2.SENTIMENT_LABEL_POSITIVE
        if sentiment > 0.05
        else message_pb2.SENTIMENT_LABEL_NEUTRAL
    )
    return case_pb2.Case(
        id="c1",
        customer=message_pb2.Author(id="a1", followers=followers, tier=tier, customer_value=value),
        customer_tier=tier,
        sentiment=message_pb2.Sentiment(score=sentiment, label=label),
        intents=[case_pb2.CaseIntent(name=n, answered=a) for n, a in intents],
        priority_override=override,
    )


def factors(explanation: case_pb2.PriorityExplanation) -> dict[str, case_pb2.PriorityFactor]:
    return {f.factor: f for f in explanation.factors}


# -- scenario 5 ----------------------------------------------------------------------------
VIP = case(tier="vip", sentiment=-0.6)
INFLUENCER = case(followers=245_000, sentiment=-0.6)


def test_with_the_default_weights_the_valued_customer_comes_before_the_influencer() -> None:
    vip = priority.explain(VIP, care(), NOW)
    influencer = priority.explain(INFLUENCER, care(), NOW)
    assert vip.score > influencer.score
    # Why: the VIP's biggest share is their value, the influencer's is reach (then sentiment).
    assert vip.factors[0].factor == "customer_value"
    assert vip.factors[0].detail == "tier vip"
    assert factors(vip)["reach"].signal == 0
    assert factors(influencer)["reach"].detail == "245,000 followers"
    assert factors(influencer)["customer_value"].signal == 0
    assert factors(influencer)["customer_value"].detail == "tier standard"
    assert factors(influencer)["sentiment"].detail == "negative (-0.60)"


def test_with_reach_weighted_up_the_influencer_comes_first() -> None:
    config = care(weights={"reach": 3.0})
    vip = priority.explain(VIP, config, NOW)
    influencer = priority.explain(INFLUENCER, config, NOW)
    assert influencer.score > vip.score
    assert influencer.factors[0].factor == "reach"


# -- the arithmetic -------------------------------------------------------------------------
def test_contributions_add_up_to_the_score_and_come_largest_first() -> None:
    subject = case(followers=50_000, tier="gold", value=4_000, sentiment=-0.9)
    subject.intents.add(name="outage")
    explanation = priority.explain(subject, care(), NOW, urgency=0.5)
    contributions = [f.contribution for f in explanation.factors]
    assert contributions == sorted(contributions, reverse=True)
    assert sum(contributions) == pytest.approx(explanation.score)
    total = sum(f.weight for f in explanation.factors)
    for factor in explanation.factors:
        assert 0 <= factor.signal <= 1
        assert factor.contribution == pytest.approx(factor.weight * factor.signal / total)
    assert {f.factor for f in explanation.factors} == set(FACTORS)
    assert explanation.computed_at == to_timestamp(NOW)


def test_the_score_alone_is_the_explanations() -> None:
    subject = case(followers=245_000, tier="gold", value=3_000, sentiment=-0.4)
    subject.intents.add(name="billing")
    subject.sla.CopyFrom(running_clock(NOW - timedelta(minutes=20)))
    for urgency in (None, 0.0, 0.9):
        assert priority.score(subject, care(), NOW, urgency) == pytest.approx(
            priority.explain(subject, care(), NOW, urgency).score
        )


def test_a_case_with_no_signals_is_low_and_ties_keep_the_factor_order() -> None:
    explanation = priority.explain(case(), care(), NOW)
    assert explanation.score == 0
    assert explanation.level == "low"
    assert [f.factor for f in explanation.factors] == list(FACTORS)


def test_reach_grows_with_the_logarithm_of_followers_between_its_bounds() -> None:
    config = care(reach_from=1_000, reach_full_at=1_000_000)
    signal = {
        n: factors(priority.explain(case(followers=n), config, NOW))["reach"].signal
        for n in (0, 999, 1_000, 10_000, 100_000, 1_000_000, 50_000_000)
    }
    assert signal[0] == signal[999] == signal[1_000] == 0
    assert signal[10_000] == pytest.approx(1 / 3)
    assert signal[100_000] == pytest.approx(2 / 3)
    assert signal[1_000_000] == signal[50_000_000] == 1


def test_reach_from_zero_still_has_a_scale() -> None:
    explanation = priority.explain(case(followers=1_000), care(reach_from=0), NOW)
    assert factors(explanation)["reach"].signal == pytest.approx(0.5)


def test_customer_value_is_the_larger_of_tier_and_value() -> None:
    config = care(value_full_at=20_000)
    gold = factors(priority.explain(case(tier="gold"), config, NOW))["customer_value"]
    assert gold.signal == pytest.approx(0.5)  # the middle of three tiers
    rich = factors(priority.explain(case(tier="gold", value=12_000), config, NOW))
    assert rich["customer_value"].signal == pytest.approx(0.6)
    assert rich["customer_value"].detail == "customer value 12,000 (tier gold)"
    poor = factors(priority.explain(case(tier="gold", value=2_000), config, NOW))
    assert poor["customer_value"].signal == pytest.approx(0.5)
    assert poor["customer_value"].detail == "tier gold (customer value 2,000)"


def test_configured_tier_values_replace_the_spread_and_unknown_tiers_are_the_default() -> None:
    config = care(tier_values={"gold": 0.9, "standard": 0.1})
    assert priority.tier_value(config, "gold") == 0.9
    assert priority.tier_value(config, "vip") == 1.0
    assert priority.tier_value(config, "platinum") == 0.1  # unknown -> standard
    assert priority.tier_value(config, " VIP ") == 1.0


def test_only_negative_sentiment_weighs() -> None:
    positive = factors(priority.explain(case(sentiment=0.7), care(), NOW))["sentiment"]
    assert (positive.signal, positive.detail) == (0, "positive (0.70)")
    neutral = factors(priority.explain(case(), care(), NOW))["sentiment"]
    assert (neutral.signal, neutral.detail) == (0, "neutral (0.00)")
    negative = factors(priority.explain(case(sentiment=-0.82), care(), NOW))["sentiment"]
    assert negative.signal == pytest.approx(0.82)
    assert negative.detail == "negative (-0.82)"


def test_urgency_is_the_most_urgent_open_question_or_the_message() -> None:
    config = care()
    both = case(intents=(("billing", False), ("outage", False)))
    urgency = factors(priority.explain(both, config, NOW, urgency=0.2))["urgency"]
    assert urgency.signal == pytest.approx(0.8)
    assert urgency.detail == "intent outage (0.80)"
    answered = case(intents=(("billing", False), ("outage", True)))
    urgency = factors(priority.explain(answered, config, NOW, urgency=0.0))["urgency"]
    assert urgency.signal == pytest.approx(0.3)
    assert urgency.detail == "intent billing (0.30)"
    shouting = factors(priority.explain(answered, config, NOW, urgency=0.9))["urgency"]
    assert shouting.signal == pytest.approx(0.9)
    assert shouting.detail == "urgent wording (0.90)"
    unknown = case(intents=(("no_longer_configured", False),))
    urgency = factors(priority.explain(unknown, config, NOW))["urgency"]
    assert urgency.signal == 0
    assert urgency.detail == "no urgent question or wording"


def test_a_re_evaluation_without_a_message_keeps_the_message_urgency() -> None:
    subject = case()
    subject.priority_explanation.CopyFrom(priority.explain(subject, care(), NOW, urgency=0.9))
    assert priority.message_urgency(subject) == pytest.approx(0.9)
    later = priority.explain(subject, care(), NOW + timedelta(minutes=5))
    assert factors(later)["urgency"].signal == pytest.approx(0.9)
    calmer = priority.explain(subject, care(), NOW + timedelta(minutes=5), urgency=0.0)
    assert factors(calmer)["urgency"].signal == 0
    assert priority.message_urgency(case()) == 0


@pytest.mark.parametrize("bad", [float("nan"), -3.0, 7.0])
def test_out_of_range_urgency_is_clamped(bad: float) -> None:
    signal = factors(priority.explain(case(), care(), NOW, urgency=bad))["urgency"].signal
    assert 0 <= signal <= 1


def running_clock(started: datetime, target_seconds: float = 3600) -> case_pb2.SlaClock:
    return case_pb2.SlaClock(
        policy="default",
        started_at=to_timestamp(started),
        run_started_at=to_timestamp(started),
        due_at=to_timestamp(started + timedelta(seconds=target_seconds)),
        state=case_pb2.SLA_STATE_RUNNING,
        target_seconds=target_seconds,
        kind=case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE,
        cycle=1,
    )


def test_sla_is_the_share_of_the_response_target_used() -> None:
    subject = case()
    subject.sla.CopyFrom(running_clock(NOW - timedelta(minutes=37, seconds=12)))
    sla = factors(priority.explain(subject, care(), NOW))["sla"]
    assert sla.signal == pytest.approx(0.62)
    assert sla.detail == "62% of the 1h target used"
    later = priority.explain(subject, care(), NOW + timedelta(hours=1))
    assert factors(later)["sla"].signal == 1
    assert factors(later)["sla"].detail == "the 1h target passed"


def test_sla_counts_nothing_while_nobody_owes_an_answer() -> None:
    subject = case()
    assert factors(priority.explain(subject, care(), NOW))["sla"].detail == "no response clock"
    subject.sla.CopyFrom(running_clock(NOW - timedelta(minutes=50)))
    subject.sla.state = case_pb2.SLA_STATE_PAUSED
    subject.sla.paused_at.CopyFrom(to_timestamp(NOW - timedelta(minutes=10)))
    sla = factors(priority.explain(subject, care(), NOW))["sla"]
    assert (sla.signal, sla.detail) == (0, "response clock paused")
    subject.sla.state = case_pb2.SLA_STATE_MET
    subject.sla.stopped_at.CopyFrom(to_timestamp(NOW - timedelta(minutes=5)))
    sla = factors(priority.explain(subject, care(), NOW))["sla"]
    assert (sla.signal, sla.detail) == (0, "response clock stopped")


def test_the_sla_detail_names_longer_targets_readably() -> None:
    subject = case()
    subject.sla.CopyFrom(running_clock(NOW - timedelta(hours=12), target_seconds=2 * 86400))
    assert factors(priority.explain(subject, care(), NOW))["sla"].detail == (
        "25% of the 2d target used"
    )
    subject.sla.CopyFrom(running_clock(NOW - timedelta(minutes=45), target_seconds=5400))
    assert factors(priority.explain(subject, care(), NOW))["sla"].detail == (
        "50% of the 1h30m target used"
    )


# -- levels ---------------------------------------------------------------------------------
def test_the_score_falls_into_the_configured_levels() -> None:
    config = care(weights={"urgency": 1, "sentiment": 0, "reach": 0, "customer_value": 0, "sla": 0})
    for urgency, expected in ((0.05, "low"), (0.1, "normal"), (0.5, "high"), (0.7, "urgent")):
        explanation = priority.explain(case(), config, NOW, urgency=urgency)
        assert explanation.score == pytest.approx(urgency)
        assert explanation.level == expected
        assert priority.level(config, explanation) == expected


def test_an_override_wins_over_the_computed_level() -> None:
    explanation = priority.explain(case(override="urgent"), care(), NOW)
    assert explanation.score == 0
    assert explanation.level == "urgent"
    assert priority.level(care(), explanation, "high") == "high"
    assert priority.level(care(), explanation, "bogus") == "low"


def test_the_packaged_default_config_explains_a_case() -> None:
    from socialcare.core.domain.care_config import load_care_config

    explanation = priority.explain(INFLUENCER, load_care_config(), NOW)
    assert explanation.level in ("low", "normal", "high", "urgent")
    assert sum(f.contribution for f in explanation.factors) == pytest.approx(explanation.score)


ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=300, deadline=None)
@given(
    followers=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    value=ANY_FLOAT,
    sentiment=ANY_FLOAT,
    urgency=st.none() | ANY_FLOAT,
    target=ANY_FLOAT,
    minutes=st.integers(min_value=-10_000, max_value=10_000),
    tier=st.sampled_from(["", "vip", "gold", "standard", "Platinum"]),
    answered=st.booleans(),
)
def test_any_case_gets_a_score_in_range_that_its_factors_add_up_to(
    followers: int,
    value: float,
    sentiment: float,
    urgency: float | None,
    target: float,
    minutes: int,
    tier: str,
    answered: bool,
) -> None:
    subject = case_pb2.Case(
        id="c1",
        customer=message_pb2.Author(id="a", followers=followers, tier=tier, customer_value=value),
        sentiment=message_pb2.Sentiment(score=sentiment),
        intents=[case_pb2.CaseIntent(name="outage", answered=answered)],
    )
    subject.sla.CopyFrom(running_clock(NOW - timedelta(minutes=minutes)))
    subject.sla.target_seconds = target
    explanation = priority.explain(subject, care(), NOW, urgency)
    assert 0 <= explanation.score <= 1
    assert sum(f.contribution for f in explanation.factors) == pytest.approx(explanation.score)
    assert all(0 <= f.signal <= 1 and f.detail for f in explanation.factors)
    assert explanation.level in ("low", "normal", "high", "urgent")
    assert priority.score(subject, care(), NOW, urgency) == pytest.approx(explanation.score)
