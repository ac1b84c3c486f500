"""Enrichment settings (environment variables, prefix SOCIALCARE_)."""

from __future__ import annotations

from pydantic import Field

from socialcare.core.config import PlatformSettings


class EnrichmentSettings(PlatformSettings):
    language_low_accuracy: bool = Field(
        default=False,
        description="SOCIALCARE_LANGUAGE_LOW_ACCURACY: obsolete since issue 7, accepted and "
        "ignored (a warning is logged): it chose lingua's small models; the detector now has "
        "one mode (py3langid, about 80 MB, ~0.05 ms per message).",
    )

    @classmethod
    def from_platform(cls, platform: PlatformSettings) -> EnrichmentSettings:
        return cls(**platform.model_dump())
