"""The customer's signals on their case (routing/customer_profile.py, core/domain/priority.py,
the VIP escalation): reach tier, tier, value and VIP flag from the enriched message; the
priority's customer-value share and its detail; vip_negative for a VIP case."""

from __future__ import annotations

from datetime import UTC, datetime

from socialcare.core.domain import priority
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import case_json
from socialcare.v1 import case_pb2, escalation_pb2, message_pb2
from tests.unit.escalation.support import book, case_event, one
from tests.unit.factories import T0, enriched
from tests.unit.routing.harness import Routing, case_events

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CARE = CareConfig.model_validate(
    {
        "sla_policies": [
            {
                "name": "vip-15m",
                "languages": ["*"],
                "customer_tiers": ["vip"],
                "first_response": "15m",
            },
            {"name": "default", "languages": ["*"], "first_response": "1h"},
        ],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [{"id": "ann", "name": "Ann", "languages": ["nl", "en"], "capacity": 5}],
        "customer_tiers": ["standard", "gold", "vip"],
    }
)


def with_signals(
    external_id: str,
    *,
    source: str = "crm",
    tier: str = "",
    value: float = 0.0,
    vip: bool = False,
    reach: str = "micro",
    **fields: object,
) -> message_pb2.EnrichedMessage:
    message = enriched(external_id, **fields)  # type: ignore[arg-type]
    message.reach_tier = reach
    message.customer.CopyFrom(
        message_pb2.CustomerProfile(tier=tier, value=value, vip=vip, source=source)
    )
    return message


def case_after(routing: Routing, message: message_pb2.EnrichedMessage) -> case_pb2.Case:
    events = case_events(routing.message(message))
    return routing.case(events[0].case.id)


# -- routing applies the profile ---------------------------------------------------------------
def test_a_new_case_takes_the_profile_before_its_policy_and_priority_are_chosen() -> None:
    routing = Routing(CARE)
    case = case_after(routing, with_signals("m1", tier="VIP", value=12_000, vip=True, reach="mid"))
    assert (case.customer_tier, case.customer_value, case.vip, case.reach_tier) == (
        "vip",
        12_000,
        True,
        "mid",
    )
    assert case.sla.policy == "vip-15m"  # the CRM's tier chose the SLA policy
    factors = {f.factor: f for f in case.priority_explanation.factors}
    assert factors["customer_value"].signal == 1.0
    assert factors["customer_value"].detail == "VIP (tier vip, CRM value 12,000)"
    assert factors["reach"].detail == "100 followers (mid)"


def test_an_unknown_tier_from_the_crm_is_the_default_tier() -> None:
    case = case_after(Routing(CARE), with_signals("m1", tier="platinum"))
    assert case.customer_tier == "standard"


def test_later_messages_update_the_case_and_a_fallback_never_lowers_it() -> None:
    routing = Routing(CARE)
    case = case_after(routing, with_signals("m1", tier="gold", value=5_000, vip=True))
    # The CRM was slow: the author's data only. The case keeps what it knew.
    case = case_after(routing, with_signals("m2", source="fallback", reach="nano"))
    assert (case.customer_tier, case.customer_value, case.vip, case.reach_tier) == (
        "gold",
        5_000,
        True,
        "nano",  # the reach tier is the latest message's
    )
    # The CRM again: the brand took the customer off its VIP list, their value rose.
    case = case_after(routing, with_signals("m3", source="crm_cache", tier="gold", value=8_000))
    assert (case.customer_value, case.vip) == (8_000, False)
    # A fallback may raise: the author's own tier on a case at the default tier.
    other = case_after(routing, with_signals("o1", author="77", source="fallback", tier="gold"))
    assert other.customer_tier == "gold"


def test_a_message_enriched_before_profiles_existed_leaves_the_case_as_it_was() -> None:
    routing = Routing(CARE)
    case_after(routing, with_signals("m1", tier="gold", value=5_000, vip=True))
    old = enriched("m2")
    assert not old.HasField("customer") and not old.reach_tier
    case = case_after(routing, old)
    assert (case.customer_tier, case.customer_value, case.vip, case.reach_tier) == (
        "gold",
        5_000,
        True,
        "micro",
    )


# -- priority --------------------------------------------------------------------------------
def priority_case(**fields: object) -> case_pb2.Case:
    author = message_pb2.Author(id="a1", followers=245_000, customer_value=2_000)
    return case_pb2.Case(id="c1", customer=author, **fields)  # type: ignore[arg-type]


def customer_factor(case: case_pb2.Case) -> case_pb2.PriorityFactor:
    explained = priority.explain(case, CARE, NOW)
    return next(f for f in explained.factors if f.factor == "customer_value")


def test_the_crm_value_replaces_the_stated_one_and_says_so() -> None:
    crm = customer_factor(priority_case(customer_value=4_000))
    assert crm.detail == "CRM value 4,000 (tier standard)"
    assert crm.signal == 4_000 / CARE.routing.priority.value_full_at
    stated = customer_factor(priority_case())
    assert stated.detail == "customer value 2,000 (tier standard)"
    same = customer_factor(priority_case(customer_value=2_000))
    assert same.detail == "customer value 2,000 (tier standard)"


def test_a_vip_counts_as_full_customer_value_whatever_the_tier() -> None:
    vip = customer_factor(priority_case(vip=True, customer_tier="standard"))
    assert (vip.signal, vip.detail) == (1.0, "VIP (customer value 2,000)")
    gold = customer_factor(priority_case(vip=True, customer_tier="gold"))
    assert gold.detail == "VIP (tier gold, customer value 2,000)"
    bare = case_pb2.Case(id="c2", customer=message_pb2.Author(id="a2"), vip=True)
    assert customer_factor(bare).detail == "VIP"
    # Scenario 5 with a VIP flag from the CRM: the customer before the influencer.
    influencer = priority.explain(priority_case(), CARE, NOW)
    valued = priority.explain(
        case_pb2.Case(id="c3", customer=message_pb2.Author(id="a3"), vip=True), CARE, NOW
    )
    assert valued.score > influencer.score


# -- escalation ------------------------------------------------------------------------------
def test_a_negative_message_on_a_vip_case_escalates_whatever_its_tier() -> None:
    escalations = book()
    event = case_event("Dit is schandalig", tier="standard")
    event.case.vip = True
    raised = one(escalations.on_case(event, T0)).escalation
    assert raised.trigger == escalation_pb2.ESCALATION_TRIGGER_VIP_NEGATIVE
    assert "negative message from VIP customer @kim" in raised.reason
    plain = case_event("Dit is schandalig", case_id="case-8", tier="standard")
    assert escalations.on_case(plain, T0) == []


# -- the case's JSON (REST, gRPC, search documents) ------------------------------------------
def test_the_case_json_shows_the_signals() -> None:
    case = case_after(Routing(CARE), with_signals("m1", tier="gold", value=12_000, vip=True))
    view = case_json(case, with_messages=False)
    assert (view["vip"], view["customer_value"], view["reach_tier"], view["customer_tier"]) == (
        True,
        12_000,
        "micro",
        "gold",
    )
    bare = case_json(case_pb2.Case(id="c1"))
    assert (bare["vip"], bare["customer_value"], bare["reach_tier"]) == (False, None, None)
