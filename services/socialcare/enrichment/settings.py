"""Enrichment settings (environment variables, prefix SOCIALCARE_)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from socialcare.core.config import PlatformSettings


class EnrichmentSettings(PlatformSettings):
    language_low_accuracy: bool = Field(
        default=False,
        description="SOCIALCARE_LANGUAGE_LOW_ACCURACY: obsolete since issue 7, accepted and "
        "ignored (a warning is logged): it chose lingua's small models; the detector now has "
        "one mode (py3langid, about 80 MB, ~0.05 ms per message).",
    )

    # The CRM lookup (enrichment/customer.py, whose docstring states the protocol).
    crm_url: str = Field(
        default="",
        description="SOCIALCARE_CRM_URL: the CRM lookup endpoint (http or https), asked "
        "GET <url>?brand=&channel=&author_id=... per customer (enrichment/customer.py); "
        "empty = no lookup, the customer profile comes from the message's author only.",
    )
    crm_token: SecretStr | None = Field(
        default=None,
        description="SOCIALCARE_CRM_TOKEN: sent as `Authorization: Bearer <token>` to the CRM "
        "lookup; never logged. Unset = no Authorization header.",
    )
    crm_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="SOCIALCARE_CRM_TIMEOUT_S: how long one CRM request may take (connect, "
        "send, answer); past it the request failed (a timeout). Its answer still fills the "
        "cache when it comes after enrichment went on.",
    )
    crm_wait_s: float = Field(
        default=0.025,
        ge=0,
        le=1,
        description="SOCIALCARE_CRM_WAIT_S: how long enrichment waits for a CRM answer it "
        "does not have cached before it goes on with the author's own data (source "
        "`fallback`); the answer, when it comes, serves the customer's next messages. 0 = "
        "never wait (the first message of a customer always falls back).",
    )
    crm_cache_ttl_s: float = Field(
        default=900.0,
        gt=0,
        description="SOCIALCARE_CRM_CACHE_TTL_S: how long a CRM answer about a known customer "
        "is used before it is asked again (a tier or VIP change shows within this).",
    )
    crm_unknown_ttl_s: float = Field(
        default=300.0,
        gt=0,
        description="SOCIALCARE_CRM_UNKNOWN_TTL_S: how long a 404 (the CRM does not know the "
        "customer) is remembered before it is asked again.",
    )
    crm_cache_size: int = Field(
        default=100_000,
        ge=1,
        description="SOCIALCARE_CRM_CACHE_SIZE: customers kept in the lookup cache (least "
        "recently used dropped first); about 0.5 KB each.",
    )
    crm_workers: int = Field(
        default=8,
        ge=1,
        le=256,
        description="SOCIALCARE_CRM_WORKERS: CRM requests in progress at once (threads); at "
        "most 4x as many wait behind them, further lookups are skipped (outcome `busy`).",
    )
    crm_failures_to_open: int = Field(
        default=5,
        ge=1,
        description="SOCIALCARE_CRM_FAILURES_TO_OPEN: consecutive failed CRM requests "
        "(timeouts, errors, bad answers) that open the circuit: no requests for "
        "SOCIALCARE_CRM_COOLDOWN_S, then one probe.",
    )
    crm_cooldown_s: float = Field(
        default=30.0,
        gt=0,
        description="SOCIALCARE_CRM_COOLDOWN_S: how long an open circuit makes no CRM requests "
        "before one probe request tries again.",
    )

    @field_validator("crm_url")
    @classmethod
    def _crm_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            # Not echoed: a URL may carry credentials.
            raise ValueError("SOCIALCARE_CRM_URL must be an http:// or https:// URL")
        return value

    @classmethod
    def from_platform(cls, platform: PlatformSettings) -> EnrichmentSettings:
        return cls(**platform.model_dump())
