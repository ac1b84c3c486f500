"""The webhook engine's settings (environment variables, prefix SOCIALCARE_).

Shared by the `webhooks` service (fan-out and sender) and the gateway's webhook API (the
target policy: which URLs a subscription may name)."""

from __future__ import annotations

from pydantic import Field, field_validator

from socialcare.core.config import PlatformSettings
from socialcare.core.domain.durations import parse_duration


class WebhookSettings(PlatformSettings):
    webhook_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="SOCIALCARE_WEBHOOK_TIMEOUT_S: how long one delivery attempt may take "
        "(connect + send + the receiver's answer); past it the attempt counts as failed and "
        "is retried.",
    )
    webhook_retry_base_s: float = Field(
        default=10.0,
        gt=0,
        description="SOCIALCARE_WEBHOOK_RETRY_BASE_S: the wait after the first failed "
        "attempt (before jitter); doubled after each further failure up to "
        "SOCIALCARE_WEBHOOK_RETRY_MAX_S.",
    )
    webhook_retry_max_s: float = Field(
        default=3600.0,
        gt=0,
        description="SOCIALCARE_WEBHOOK_RETRY_MAX_S: the longest wait between two attempts "
        "(before jitter; a receiver's Retry-After may ask for more).",
    )
    webhook_retry_horizon: float = Field(
        default=72 * 3600.0,
        description="SOCIALCARE_WEBHOOK_RETRY_HORIZON: how long a failing delivery is "
        "retried, from its creation (or its replay), before it is dead: a duration such as "
        "`72h`, `3d` or seconds. At least 24 h in production.",
    )
    webhook_log_retention: float = Field(
        default=7 * 86400.0,
        description="SOCIALCARE_WEBHOOK_LOG_RETENTION: how long a delivered delivery stays "
        "in the delivery log (webhooks.deliveries) before it is tombstoned: `7d`, `12h`, ...",
    )
    webhook_max_in_flight: int = Field(
        default=8,
        ge=1,
        le=64,
        description="SOCIALCARE_WEBHOOK_MAX_IN_FLIGHT: attempts in progress at once per "
        "subscription (per sender instance), so one slow receiver cannot take every worker.",
    )
    webhook_workers: int = Field(
        default=32,
        ge=1,
        le=256,
        description="SOCIALCARE_WEBHOOK_WORKERS: delivery attempts in progress at once per "
        "sender instance (threads).",
    )
    webhook_allow_http: bool = Field(
        default=False,
        description="SOCIALCARE_WEBHOOK_ALLOW_HTTP: allow http:// subscription URLs (https "
        "only when unset).",
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="SOCIALCARE_WEBHOOK_ALLOW_PRIVATE_TARGETS: allow subscription URLs that "
        "resolve to loopback, private, link-local or unique-local addresses (development "
        "and tests; keep unset in production).",
    )

    @field_validator("webhook_retry_horizon", "webhook_log_retention", mode="before")
    @classmethod
    def _duration(cls, value: str | float) -> float:
        return parse_duration(value)

    @classmethod
    def from_platform(cls, platform: PlatformSettings) -> WebhookSettings:
        return cls(**platform.model_dump())
