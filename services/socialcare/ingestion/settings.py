"""Ingestion's own settings (environment, prefix `SOCIALCARE_`), on top of the platform's.

The platform settings `SOCIALCARE_HTTP_HOST` (the gRPC server binds it too) and
`SOCIALCARE_INGEST_GRPC_PORT` (0 = no gRPC server) also shape this service.
"""

from __future__ import annotations

from pydantic import Field

from socialcare.core.config import PlatformSettings
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

    @classmethod
    def from_platform(cls, platform: PlatformSettings) -> IngestionSettings:
        """The runtime's platform settings plus ingestion's own from the environment."""
        if isinstance(platform, cls):
            return platform
        return cls(**platform.model_dump())
