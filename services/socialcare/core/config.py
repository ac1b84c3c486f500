"""Platform settings, read once from the environment (prefix `SOCIALCARE_`).

Every setting is listed here with its variable, so `env | grep SOCIALCARE_` and this file
tell the whole story. Service-specific settings live in each service's `settings.py` and
extend this class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
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
    topic_replication: int = Field(
        default=1,
        ge=1,
        le=32,
        description="SOCIALCARE_TOPIC_REPLICATION: replication factor of the topics the "
        "platform creates (1 for a single local broker; 3 on a production cluster).",
    )
    kafka_security_protocol: str = Field(
        default="PLAINTEXT",
        description="SOCIALCARE_KAFKA_SECURITY_PROTOCOL: PLAINTEXT, SSL, SASL_PLAINTEXT or "
        "SASL_SSL (Strimzi's TLS listener: SSL, or SASL_SSL with SCRAM).",
    )
    kafka_sasl_mechanism: str = Field(
        default="SCRAM-SHA-512",
        description="SOCIALCARE_KAFKA_SASL_MECHANISM: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 "
        "(Strimzi's KafkaUser `scram-sha-512`).",
    )
    kafka_sasl_username: str | None = Field(
        default=None, description="SOCIALCARE_KAFKA_SASL_USERNAME"
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="SOCIALCARE_KAFKA_SASL_PASSWORD"
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="SOCIALCARE_KAFKA_SSL_CAFILE: PEM of the CA that signed the brokers' "
        "certificates (Strimzi: secret <cluster>-cluster-ca-cert, key ca.crt); unset: the "
        "system's CAs.",
    )
    search_username: str | None = Field(
        default=None, description="SOCIALCARE_SEARCH_USERNAME: Elasticsearch basic auth user."
    )
    search_password: SecretStr | None = Field(
        default=None,
        description="SOCIALCARE_SEARCH_PASSWORD: Elasticsearch basic auth password (ECK: "
        "secret <name>-es-elastic-user, key elastic).",
    )
    search_ca_certs: Path | None = Field(
        default=None,
        description="SOCIALCARE_SEARCH_CA_CERTS: PEM of the CA of Elasticsearch's HTTPS "
        "certificate (ECK: secret <name>-es-http-certs-public, key ca.crt); unset: certifi's.",
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

    @field_validator("kafka_security_protocol")
    @classmethod
    def _kafka_protocol(cls, value: str) -> str:
        if value not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise ValueError(
                "SOCIALCARE_KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL, SASL_PLAINTEXT or "
                "SASL_SSL"
            )
        return value

    def kafka_security(self) -> dict[str, Any]:
        """kafka-python client options for TLS/SASL (empty for PLAINTEXT)."""
        options: dict[str, Any] = {}
        if self.kafka_security_protocol != "PLAINTEXT":
            options["security_protocol"] = self.kafka_security_protocol
        if self.kafka_security_protocol.startswith("SASL_"):
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        if self.kafka_ssl_cafile is not None:
            options["ssl_cafile"] = str(self.kafka_ssl_cafile)
        return options

    @field_validator("embedded_sync")
    @classmethod
    def _sync(cls, value: str) -> str:
        if value not in ("full", "normal"):
            raise ValueError("SOCIALCARE_EMBEDDED_SYNC must be `full` or `normal`")
        return value
