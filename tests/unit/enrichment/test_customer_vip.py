"""VIP flags (Brand.vip, core/domain/vip.py) and the profile enrichment puts on a message
(enrichment/customer.py without a CRM, enrich(), the processor)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from socialcare.core.domain.brands import Brand
from socialcare.core.domain.care_config import CareConfig
from socialcare.enrichment.customer import CustomerLookup, customer_of
from socialcare.enrichment.domain import enrich
from socialcare.enrichment.processor import EnrichmentProcessor
from socialcare.v1 import message_pb2
from tests.unit.factories import T0

VIPS = [
    "x:1234567",
    "instagram:@Jan_DV",
    "email:CEO@Example.com",
    "phone:+31 6 1234 5678",
    "crm:C-42",
]


def care(vip: list[str] = VIPS, **section: Any) -> CareConfig:
    return CareConfig.model_validate(
        {
            "sla_policies": [{"name": "default", "languages": ["*"], "first_response": "1h"}],
            "queues": [{"name": "care", "languages": ["*"]}],
            "agents": [{"id": "ann", "name": "Ann", "languages": ["nl"], "capacity": 5}],
            "brands": [
                {"name": "acme", "vip": vip, "phone_country": "31"},
                {"name": "other"},
            ],
            **section,
        }
    )


def message(
    channel: message_pb2.Channel.ValueType = message_pb2.CHANNEL_X,
    brand: str = "acme",
    **author: Any,
) -> message_pb2.SocialMessage:
    author.setdefault("id", "999")
    return message_pb2.SocialMessage(
        message_id="m1",
        channel=channel,
        brand=brand,
        text="Waar blijft mijn pakket?",
        author=message_pb2.Author(**author),
    )


def test_references_are_written_one_way() -> None:
    brand = Brand(name="acme", vip=[*VIPS, "X:@Kim ", "whatsapp:31612345678", " CRM :  A  1 "])
    assert brand.vip == [
        "x:1234567",
        "instagram:@jan_dv",
        "email:ceo@example.com",
        "phone:+31612345678",
        "crm:C-42",
        "x:@kim",
        "whatsapp:31612345678",
        "crm:A 1",
    ]


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("1234567", "is not a customer reference"),
        ("x:", "is not a customer reference"),
        ("tiktok:123", "'tiktok' is not a reference kind"),
        ("email:not-an-address", "is not an e-mail address"),
        ("phone:06 1234 5678", "with its country code"),
        ("x:@", "is not a handle"),
        ("x:12 34", "no spaces"),
    ],
)
def test_a_bad_reference_is_refused_naming_it(reference: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Brand(name="acme", vip=[reference])


@pytest.mark.parametrize(
    ("channel", "author"),
    [
        (message_pb2.CHANNEL_X, {"id": "1234567"}),
        (message_pb2.CHANNEL_INSTAGRAM, {"id": "55", "handle": "@JAN_dv"}),
        (message_pb2.CHANNEL_FACEBOOK, {"id": "55", "email": "ceo@example.com"}),
        (message_pb2.CHANNEL_EMAIL, {"id": "Boss <CEO@example.com>"}),
        (message_pb2.CHANNEL_FACEBOOK, {"id": "55", "phone": "06-12345678"}),  # national, NL
        (message_pb2.CHANNEL_WHATSAPP, {"id": "31612345678"}),
        (message_pb2.CHANNEL_FORUM, {"id": "u1", "crm_id": " C-42 "}),
    ],
)
def test_the_brands_list_makes_a_vip(channel: message_pb2.Channel.ValueType, author: Any) -> None:
    profile = customer_of(message(channel, **author), care()).profile
    assert profile.vip
    assert profile.source == "author"


def test_only_the_brands_own_list_counts_and_near_misses_are_no_vips() -> None:
    config = care()
    assert not customer_of(message(id="1234567", brand="other"), config).profile.vip
    assert not customer_of(message(message_pb2.CHANNEL_FACEBOOK, id="1234567"), config).profile.vip
    assert not customer_of(message(id="123456"), config).profile.vip
    assert not customer_of(message(id="9", email="not an address"), config).profile.vip


def test_a_vip_tier_or_the_crms_id_makes_a_vip() -> None:
    config = care(vip=["crm:C-42"])
    assert customer_of(message(id="9", tier=" Vip"), config).profile.vip
    lookup = CustomerLookup(config)
    assert lookup._listed(message(id="9"), "C-42")  # the id the CRM answered
    assert not lookup._listed(message(id="9"), "C-43")


def test_without_a_care_config_the_profile_is_the_authors_alone() -> None:
    customer = customer_of(message(id="1234567", tier="gold", customer_value=10.5, crm_id="C1"))
    assert customer.profile == message_pb2.CustomerProfile(
        tier="gold", value=10.5, vip=False, source="author", crm_id="C1"
    )


def test_nonsense_stated_values_count_as_unknown() -> None:
    assert customer_of(message(customer_value=-3)).profile.value == 0
    assert customer_of(message(customer_value=float("nan"))).profile.value == 0


def test_enrich_fills_the_reach_tier_and_the_profile() -> None:
    config = care(
        enrichment={
            "reach_tiers": [
                {"name": "small", "min_followers": 0},
                {"name": "big", "min_followers": 10_000},
            ]
        }
    )
    raw = message(id="1234567", followers=245_000)
    enriched = enrich(raw, T0, care=config, customers=CustomerLookup(config))
    assert enriched.reach_tier == "big"
    assert enriched.customer.vip and enriched.customer.source == "author"
    # Without a care config: the default tiers, the author's data.
    plain = enrich(raw, T0)
    assert plain.reach_tier == "mid"
    assert plain.customer == message_pb2.CustomerProfile(source="author")


def test_the_processor_puts_the_profile_on_every_enriched_message() -> None:
    processor = EnrichmentProcessor(lambda: T0, care())
    raw = message(id="1234567", followers=12_000)
    [effect] = processor._on_message(raw, None)  # type: ignore[arg-type]
    enriched = effect.message
    assert isinstance(enriched, message_pb2.EnrichedMessage)
    assert enriched.reach_tier == "micro"
    assert enriched.customer.vip
