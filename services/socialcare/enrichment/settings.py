"""Enrichment settings (environment variables, prefix SOCIALCARE_)."""

from __future__ import annotations

from pydantic import Field

from socialcare.core.config import PlatformSettings


class EnrichmentSettings(PlatformSettings):
    language_low_accuracy: bool = Field(
        default=False,
        description="SOCIALCARE_LANGUAGE_LOW_ACCURACY: lingua's low-accuracy mode: about 35 MB "
        "instead of about 340 MB of language models, a few points less accurate on short texts.",
    )

    @classmethod
    def from_platform(cls, platform: PlatformSettings) -> EnrichmentSettings:
        return cls(**platform.model_dump())
