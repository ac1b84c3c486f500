"""An author's reach tier from their followers (care config `enrichment.reach_tiers`).

A bisect over the tiers' thresholds: a few hundred nanoseconds, whatever the number of
tiers. An unknown follower count (0, or a negative a connector sent) is the first tier.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from socialcare.core.domain.enrichment_config import EnrichmentConfig

if TYPE_CHECKING:
    from socialcare.core.domain.care_config import CareConfig

__all__ = ["DEFAULT_CONFIG", "author_reach", "reach_tier"]

DEFAULT_CONFIG = EnrichmentConfig()


def reach_tier(followers: int, config: EnrichmentConfig = DEFAULT_CONFIG) -> str:
    """The name of the tier `followers` falls into: the last tier whose `min_followers` it
    reaches (tiers are validated ascending, the first at 0)."""
    index = bisect_right(config.reach_thresholds, followers) - 1
    return config.reach_names[max(index, 0)]


def author_reach(followers: int, care: CareConfig | None) -> str:
    """The tier of `followers` by the care config's tiers (the defaults without one)."""
    return reach_tier(followers, care.enrichment if care is not None else DEFAULT_CONFIG)
