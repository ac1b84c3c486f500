"""Platform settings, read once from the environment (prefix `SOCIALCARE_`).

Every setting is listed here with its variable, so `env | grep SOCIALCARE_` and this file
tell the whole story. Service-specific settings live in each service's `settings.py` and
extend this class.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOCIALCARE_", extra="ignore")

    bus: str = Field(
        default="embedded",
        description="SOCIALCARE_BUS: `embedded` (a log under data_dir) or "
        "`kafka://host:port[,host:port]` for Apache Kafka.",
    )
    search: str = Field(
        default="embedded",
        description="SOCIALCARE_SEARCH: `embedded` (a full-text store under data_dir) or an "
        "Elasticsearch 8 URL such as `http://127.0.0.1:9200`.",
    )
    search_index_prefix: str = Field(
        default="socialcare-",
        description="SOCIALCARE_SEARCH_INDEX_PREFIX: Elasticsearch index prefix.",
    )
    data_dir: Path = Field(
        default=Path("data"),
        description="SOCIALCARE_DATA_DIR: where the embedded backends keep their files.",
    )
    care_config: Path | None = Field(
        default=None,
        description="SOCIALCARE_CARE_CONFIG: YAML with agents, queues and SLA policies; "
        "the packaged default (services/socialcare/core/domain/default_care.yaml) when unset.",
    )
    http_host: str = Field(default="127.0.0.1", description="SOCIALCARE_HTTP_HOST")
    http_port: int = Field(
        default=8080,
        description="SOCIALCARE_HTTP_PORT: REST API, /metrics, /healthz and /readyz.",
    )
    ready_max_lag: int = Field(
        default=10_000,
        ge=0,
        description="SOCIALCARE_READY_MAX_LAG: /readyz answers 503 while a consumer loop has "
        "more records than this left to read in its partitions (it is catching up).",
    )
    loop_stall_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="SOCIALCARE_LOOP_STALL_TIMEOUT_S: /healthz answers 503 when a consumer "
        "loop has not finished an iteration for this long (stuck), unless it is rebuilding "
        "partition state.",
    )
    ingest_grpc_port: int = Field(
        default=50051, description="SOCIALCARE_INGEST_GRPC_PORT: gRPC IngestService (0 = off)."
    )
    case_grpc_address: str = Field(
        default="127.0.0.1:50052",
        description="SOCIALCARE_CASE_GRPC_ADDRESS: where routing serves the gRPC CaseService "
        "and where the gateway reaches it.",
    )
    sla_grpc_address: str = Field(
        default="127.0.0.1:50053",
        description="SOCIALCARE_SLA_GRPC_ADDRESS: where the sla service serves the gRPC "
        "ReportService (SLA attainment and percentiles) and where the gateway reaches it.",
    )
    topic_partitions: int = Field(
        default=4, description="SOCIALCARE_TOPIC_PARTITIONS: partitions of topics we create."
    )
    embedded_sync: str = Field(
        default="full",
        description="SOCIALCARE_EMBEDDED_SYNC: `full` (fsync each commit) or `normal`.",
    )
    log_level: str = Field(default="INFO", description="SOCIALCARE_LOG_LEVEL")
    otlp_endpoint: str | None = Field(
        default=None,
        description="SOCIALCARE_OTLP_ENDPOINT: OTLP/HTTP traces endpoint, e.g. "
        "http://collector:4318/v1/traces; traces are not exported when unset.",
    )

    @field_validator("bus")
    @classmethod
    def _bus_url(cls, value: str) -> str:
        if value != "embedded" and not value.startswith("kafka://"):
            raise ValueError("SOCIALCARE_BUS must be `embedded` or `kafka://host:port`")
        return value

    @field_validator("search")
    @classmethod
    def _search_url(cls, value: str) -> str:
        if value != "embedded" and not value.startswith(("http://", "https://")):
            raise ValueError("SOCIALCARE_SEARCH must be `embedded` or an http(s):// URL")
        return value

    @field_validator("embedded_sync")
    @classmethod
    def _sync(cls, value: str) -> str:
        if value not in ("full", "normal"):
            raise ValueError("SOCIALCARE_EMBEDDED_SYNC must be `full` or `normal`")
        return value
