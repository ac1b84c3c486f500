"""What enrichment learnt about the customer, onto their case: the reach tier of the latest
message, and the customer profile's tier, value and VIP flag (scenario 5: the valued
customer against the influencer), before the case's queue, SLA policy and priority are
chosen from them.

A profile enrichment built without the CRM's answer (source "fallback": the CRM was slow
or down) knows less, not that the customer is worth less: it may raise what the case
knows (a VIP flag, a value, a tier on a case still at the default tier) but never lowers
it. Every other profile (the CRM's, fresh or cached, or the author's when no CRM is set
up) is the current truth: a customer the brand took off its VIP list is no VIP on their
next message. A value of 0 means unknown and never replaces one.
"""

from __future__ import annotations

from socialcare.core.domain.care_config import CareConfig
from socialcare.v1 import case_pb2, message_pb2

__all__ = ["apply_profile"]

# CustomerProfile.source of a profile made without the CRM's answer (enrichment/customer.py).
FALLBACK = "fallback"


def apply_profile(
    case: case_pb2.Case, enriched: message_pb2.EnrichedMessage, care: CareConfig
) -> None:
    """The message's reach tier and customer profile onto `case` (in place). A message
    enriched before profiles existed (no `customer`) leaves the case as it is."""
    if enriched.reach_tier:
        case.reach_tier = enriched.reach_tier
    if not enriched.HasField("customer"):
        return
    profile = enriched.customer
    current = profile.source != FALLBACK
    if profile.tier and (current or case.customer_tier in ("", care.default_tier)):
        case.customer_tier = care.tier(profile.tier)
    if profile.value > 0:
        case.customer_value = profile.value
    if profile.vip or current:
        case.vip = profile.vip
