"""Reach tiers (care config `enrichment.reach_tiers`, enrichment/reach.py): followers to a
tier name, and the section's validation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from socialcare.core.domain.care_config import load_care_config
from socialcare.core.domain.enrichment_config import EnrichmentConfig
from socialcare.enrichment.reach import reach_tier


@pytest.mark.parametrize(
    ("followers", "tier"),
    [
        (-5, "none"),
        (0, "none"),
        (999, "none"),
        (1_000, "nano"),
        (9_999, "nano"),
        (10_000, "micro"),
        (49_999, "micro"),
        (50_000, "mid"),
        (245_000, "mid"),  # scenario 5's influencer
        (499_999, "mid"),
        (500_000, "macro"),
        (999_999, "macro"),
        (1_000_000, "mega"),
        (10**12, "mega"),
    ],
)
def test_default_tiers(followers: int, tier: str) -> None:
    assert reach_tier(followers) == tier


def test_the_packaged_care_config_has_the_default_tiers() -> None:
    config = load_care_config().enrichment
    assert config.reach_names == ("none", "nano", "micro", "mid", "macro", "mega")
    assert reach_tier(245_000, config) == "mid"


def tiers(*pairs: tuple[str, int]) -> dict[str, Any]:
    return {"reach_tiers": [{"name": n, "min_followers": f} for n, f in pairs]}


def test_a_brand_chooses_its_own_bands() -> None:
    config = EnrichmentConfig.model_validate(tiers(("small", 0), ("big", 100_000)))
    assert reach_tier(99_999, config) == "small"
    assert reach_tier(100_000, config) == "big"
    one = EnrichmentConfig.model_validate(tiers(("everyone", 0)))
    assert reach_tier(5_000_000, one) == "everyone"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (tiers(("nano", 1_000), ("micro", 10_000)), "must start at min_followers 0"),
        (tiers(("none", 0), ("big", 500), ("small", 100)), "list the tiers ascending"),
        (tiers(("none", 0), ("same", 100), ("again", 100)), "list the tiers ascending"),
        (tiers(("none", 0), ("big", 10), ("big", 20)), "duplicate reach tier: big"),
        ({"reach_tiers": []}, "at least one reach tier"),
        (tiers(("Mega Stars", 0)), "should match pattern"),
        (tiers(("none", -1)), "greater than or equal to 0"),
        ({"reach_tiers": [{"name": "none"}]}, "min_followers"),
        ({"tiers": []}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_sections_are_refused_saying_why(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EnrichmentConfig.model_validate(section)
