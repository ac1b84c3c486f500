"""An author's reach tier from their followers (care config `enrichment.reach_tiers`).

A bisect over the tiers' thresholds: a few hundred nanoseconds, whatever the number of
tiers. An unknown follower count (0, or a negative a connector sent) is the first tier.
"""

from __future__ import annotations

from bisect import bisect_right

from socialcare.core.domain.enrichment_config import EnrichmentConfig

__all__ = ["DEFAULT_CONFIG", "reach_tier"]

DEFAULT_CONFIG = EnrichmentConfig()


def reach_tier(followers: int, config: EnrichmentConfig = DEFAULT_CONFIG) -> str:
    """The name of the tier `followers` falls into: the last tier whose `min_followers` it
    reaches (tiers are validated ascending, the first at 0)."""
    index = bisect_right(config.reach_thresholds, followers) - 1
    return config.reach_names[max(index, 0)]
