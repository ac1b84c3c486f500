"""Erasure and retention settings (environment variables, prefix SOCIALCARE_).

Read by routing (the retention sweep of cases, the erasure report's note on the topics that
are not compacted) and by the indexer (the retention sweep of message documents)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from socialcare.core.config import PlatformSettings
from socialcare.core.domain.durations import parse_duration
from socialcare.routing.erasure import RetentionPolicy


class ErasureSettings(PlatformSettings):
    retention_sweep_interval: float = Field(
        default=3600.0,
        description="SOCIALCARE_RETENTION_SWEEP_INTERVAL: how often routing (per case "
        "partition) and the indexer look for what is past a brand's `retention_days`: "
        "`1h`, `15m`, ... or seconds.",
    )
    retention_sweep_batch: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="SOCIALCARE_RETENTION_SWEEP_BATCH: at most this many cases a routing "
        "partition erases per sweep for retention (the rest wait for the next sweep).",
    )
    topic_retention: float = Field(
        default=7 * 86400.0,
        description="SOCIALCARE_TOPIC_RETENTION: how long the topics that are not compacted "
        "keep records (the brokers' retention.ms; Kafka's default is 7d). Erasure reports "
        "say that an erased case's records on them expire by then: `7d`, `168h`, ...",
    )

    @field_validator("retention_sweep_interval", "topic_retention", mode="before")
    @classmethod
    def _duration(cls, value: str | float) -> float:
        return parse_duration(value)

    @classmethod
    def from_platform(cls, platform: PlatformSettings) -> ErasureSettings:
        return cls(**platform.model_dump())

    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            interval=timedelta(seconds=self.retention_sweep_interval),
            batch=self.retention_sweep_batch,
            topic_retention=timedelta(seconds=self.topic_retention),
        )
