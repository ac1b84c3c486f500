"""The notification section of the care config (see CareConfig): who hears of escalations
and incidents, and how.

Two kinds of target: webhooks (Slack-compatible JSON, signed like our generic inbound
webhook so a receiver can check it came from us) and e-mail over SMTP. A target subscribes
to escalation tiers (`tiers`: an escalation raised or re-escalated to one of them is sent)
and/or to crisis incidents (`incidents: true`: opened and closed), optionally only for some
brands. Secrets never sit in this file: `secret_env`, `username_env`, `password_env` name
the environment variables that hold them. The default config sends nowhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from socialcare.core.domain.durations import parse_duration
from socialcare.core.domain.escalation_config import TIERS
from socialcare.core.domain.validators import check_unique

if TYPE_CHECKING:
    from socialcare.core.domain.care_config import CareConfig

_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


def _tiers(value: list[str]) -> list[str]:
    cleaned = [t.strip().lower() for t in value]
    unknown = [t for t in cleaned if t not in TIERS]
    if unknown:
        raise ValueError(f"unknown tier {unknown[0]!r} (one of {', '.join(TIERS)})")
    return cleaned


class Subscription(BaseModel):
    """What a target hears of: escalations of these tiers, incidents, these brands."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tiers: list[str] = Field(default_factory=list, description="Escalation tiers sent here.")
    incidents: bool = Field(default=False, description="Crisis incidents opened and closed.")
    brands: list[str] = Field(default_factory=list, description="Only these; empty = every brand.")

    _check_tiers = field_validator("tiers")(_tiers)

    def wants_tier(self, tier: str, brand: str) -> bool:
        return tier in self.tiers and self.wants_brand(brand)

    def wants_brand(self, brand: str) -> bool:
        return not self.brands or brand in self.brands


class Webhook(Subscription):
    name: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    url: str = Field(pattern=r"^https?://\S+$")
    secret_env: str = Field(
        pattern=_ENV_NAME,
        description="Name of the environment variable with the signing secret "
        "(X-Socialcare-Signature); the receiver checks it.",
    )


class SmtpServer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(default=True, description="Upgrade with STARTTLS before any auth.")
    username_env: str | None = Field(default=None, pattern=_ENV_NAME)
    password_env: str | None = Field(default=None, pattern=_ENV_NAME)
    sender: str = Field(alias="from", min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    timeout_seconds: float = Field(default=10.0, alias="timeout")

    @field_validator("timeout_seconds", mode="before")
    @classmethod
    def _duration(cls, value: str | float) -> float:
        return parse_duration(value)


class EmailRoute(Subscription):
    to: list[str] = Field(min_length=1)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if "@" not in address or any(c.isspace() for c in address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value


class EmailConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    smtp: SmtpServer
    routes: list[EmailRoute] = Field(default_factory=list)


class NotificationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    webhooks: list[Webhook] = Field(default_factory=list)
    email: EmailConfig | None = None
    max_elapsed_seconds: float = Field(
        default=3600.0,
        alias="max_elapsed",
        description="How long one notification is retried before it is given up (and its "
        "record dead-lettered with the reason).",
    )
    timeout_seconds: float = Field(default=10.0, alias="timeout", description="One HTTP call.")

    @field_validator("max_elapsed_seconds", "timeout_seconds", mode="before")
    @classmethod
    def _duration(cls, value: str | float) -> float:
        return parse_duration(value)


def check(care: CareConfig) -> None:
    """Cross-references to the rest of the config; ValueError names the entry at fault."""
    section = care.notifications
    brands = {b.name for b in care.effective_brands}
    names = [w.name for w in section.webhooks]
    check_unique("webhook name", names)
    targets: list[tuple[str, Subscription]] = [(f"webhook {w.name!r}", w) for w in section.webhooks]
    if section.email is not None:
        targets += [(f"e-mail route {i}", r) for i, r in enumerate(section.email.routes)]
    for label, target in targets:
        unknown = sorted(set(target.brands) - brands)
        if unknown:
            raise ValueError(
                f"{label}: brands {', '.join(unknown)} are not configured "
                f"({', '.join(sorted(brands))})"
            )
        if not target.tiers and not target.incidents:
            raise ValueError(f"{label}: subscribes to nothing (give tiers or incidents: true)")
