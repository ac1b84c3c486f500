"""Ingestion's own settings (environment, prefix `SOCIALCARE_`), on top of the platform's.

The platform settings `SOCIALCARE_HTTP_HOST` (the gRPC server binds it too) and
`SOCIALCARE_INGEST_GRPC_PORT` (0 = no gRPC server) also shape this service.
"""

from __future__ import annotations

from pydantic import Field

from socialcare.channels.webhooks import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PLATFORM_BURST,
    DEFAULT_PLATFORM_RATE_PER_S,
)
from socialcare.core.config import PlatformSettings
from socialcare.ingestion.admission import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DELAY_S,
    DEFAULT_MAX_REQUESTS,
    MIN_QUEUE,
)
from socialcare.ingestion.dedupe import DEFAULT_CAPACITY


class IngestionSettings(PlatformSettings):
    ingest_dedupe_max_ids: int = Field(
        default=DEFAULT_CAPACITY,
        ge=1,
        description="SOCIALCARE_INGEST_DEDUPE_MAX_IDS: message ids kept to recognise "
        "re-deliveries (the newest are kept; ~90 bytes each, ~180 MB at the default).",
    )
    ingest_flush_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="SOCIALCARE_INGEST_FLUSH_TIMEOUT_S: how long a request waits for the bus "
        "to make its message durable before answering 503 / UNAVAILABLE.",
    )
    ingest_max_in_flight: int = Field(
        default=DEFAULT_MAX_REQUESTS,
        ge=1,
        description="SOCIALCARE_INGEST_MAX_IN_FLIGHT: ingest requests (REST and gRPC, a "
        "batch counting as one) admitted and not yet answered; above it a request is "
        "refused at once with 503 `overloaded` / UNAVAILABLE and Retry-After "
        "(`ingestion.admission`).",
    )
    ingest_max_in_flight_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        ge=1024,
        description="SOCIALCARE_INGEST_MAX_IN_FLIGHT_BYTES: the same bound on the request "
        "bodies held (a batch weighs what its body does).",
    )
    ingest_max_delay_s: float = Field(
        default=DEFAULT_MAX_DELAY_S,
        gt=0,
        description="SOCIALCARE_INGEST_MAX_DELAY_S: when even the fastest ingest answer of "
        f"the last second took longer than this, with at least {MIN_QUEUE} requests in "
        "flight, requests queue faster than they drain and new ones are refused (503 "
        "`overloaded`) until the queue is gone.",
    )
    ingest_grpc_workers: int = Field(
        default=16,
        ge=1,
        description="SOCIALCARE_INGEST_GRPC_WORKERS: threads serving gRPC calls; a streaming "
        "call holds one for its duration, so this bounds concurrent streams.",
    )
    ingest_grpc_grace_s: float = Field(
        default=5.0,
        ge=0,
        description="SOCIALCARE_INGEST_GRPC_GRACE_S: on shutdown, how long in-flight gRPC "
        "calls may take to finish before they are cancelled.",
    )

    webhook_max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="SOCIALCARE_WEBHOOK_MAX_BODY_BYTES: the largest channel webhook body "
        "accepted (413 above it).",
    )
    webhook_platform_rate_per_s: float = Field(
        default=DEFAULT_PLATFORM_RATE_PER_S,
        gt=0,
        description="SOCIALCARE_WEBHOOK_PLATFORM_RATE_PER_S: sustained webhook requests per "
        "second taken from each platform (Meta, X, LinkedIn) before 429 + Retry-After; "
        "generic sources have their own rate in the care config.",
    )
    webhook_platform_burst: int = Field(
        default=DEFAULT_PLATFORM_BURST,
        ge=1,
        description="SOCIALCARE_WEBHOOK_PLATFORM_BURST: webhook requests a platform may send "
        "at once above its rate.",
    )
    feeds_enabled: bool = Field(
        default=True,
        description="SOCIALCARE_FEEDS_ENABLED: poll the care config's feeds in this process; "
        "with several ingestion replicas, enable it on one (the others would poll the same "
        "feeds, their items de-duplicated, for nothing).",
    )
    connectors_enabled: bool = Field(
        default=True,
        description="SOCIALCARE_CONNECTORS_ENABLED: send agents' replies to the channels from "
        "this process (consumer group `connectors` on care.outbound; replicas share the work "
        "by partition).",
    )

    @classmethod
    def from_platform(cls, platform: PlatformSettings) -> IngestionSettings:
        """The runtime's platform settings plus ingestion's own from the environment."""
        if isinstance(platform, cls):
            return platform
        return cls(**platform.model_dump())
