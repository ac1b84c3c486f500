"""The enrichment section of the care config (`enrichment:`): the reach tiers an author's
followers fall into.

A tier is a name for a band of followers, so agents, filters and reports speak of "a
macro influencer" instead of a raw count, and the bands are the brand's to choose. The
defaults are the influencer-marketing trade's usual bands (Influencer Marketing Hub's and
Later's tier guides: nano 1k-10k, micro 10k-50k, mid-tier 50k-500k, macro 500k-1M, mega
1M+), with "none" below 1,000: at that size a post reaches about the author's friends.
Scenario 5's influencer with 245,000 followers is "mid".

Followers only name the tier here; how much reach weighs in a case's priority stays
`routing.priority` (`reach_from`, `reach_full_at`, the weights).
"""

from __future__ import annotations

from functools import cached_property
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field, field_validator

from socialcare.core.domain.validators import NAME_PATTERN, check_unique

__all__ = ["DEFAULT_REACH_TIERS", "EnrichmentConfig", "ReachTier"]


class ReachTier(BaseModel):
    """Authors with at least `min_followers` (and fewer than the next tier's) are `name`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=40, pattern=NAME_PATTERN)
    min_followers: int = Field(ge=0)


DEFAULT_REACH_TIERS = (
    ReachTier(name="none", min_followers=0),
    ReachTier(name="nano", min_followers=1_000),
    ReachTier(name="micro", min_followers=10_000),
    ReachTier(name="mid", min_followers=50_000),
    ReachTier(name="macro", min_followers=500_000),
    ReachTier(name="mega", min_followers=1_000_000),
)


class EnrichmentConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    reach_tiers: list[ReachTier] = Field(
        default_factory=lambda: list(DEFAULT_REACH_TIERS),
        description="Reach tiers by followers, ascending: the first starts at 0 (every "
        "author has a tier), each next one at strictly more followers; names unique. "
        "Default none 0, nano 1k, micro 10k, mid 50k, macro 500k, mega 1M.",
    )

    @field_validator("reach_tiers")
    @classmethod
    def _ascending(cls, tiers: list[ReachTier]) -> list[ReachTier]:
        if not tiers:
            raise ValueError("at least one reach tier is needed (the first at 0 followers)")
        if tiers[0].min_followers != 0:
            raise ValueError(
                f"the first reach tier ({tiers[0].name!r}) must start at min_followers 0, so "
                f"every author has a tier (it starts at {tiers[0].min_followers})"
            )
        check_unique("reach tier", [t.name for t in tiers])
        for before, after in pairwise(tiers):
            if after.min_followers <= before.min_followers:
                raise ValueError(
                    f"reach tier {after.name!r} must start at more followers than "
                    f"{before.name!r} ({after.min_followers} <= {before.min_followers}): "
                    "list the tiers ascending"
                )
        return tiers

    @cached_property
    def reach_thresholds(self) -> tuple[int, ...]:
        """Each tier's `min_followers`, ascending (for a bisect)."""
        return tuple(t.min_followers for t in self.reach_tiers)

    @cached_property
    def reach_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.reach_tiers)
