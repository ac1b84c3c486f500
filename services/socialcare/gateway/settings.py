"""The gateway's own settings, next to the platform's (prefix `SOCIALCARE_`).

Only what the gateway alone needs lives here. Where routing serves its CaseService
(`case_grpc_address`) is a platform setting because routing listens there; where the
gateway finds routing's instances (`case_grpc_targets`) is the gateway's, and defaults to
that one address (routing in the same process, or a single routing instance). The sla
service's ReportService is found the same way: `sla_grpc_address` (platform) where it
listens, `sla_grpc_targets` (here) where the gateway finds every sla instance. The gateway's
own gRPC door, the AgentService, listens on `gateway_grpc_address`.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from socialcare.core.config import PlatformSettings
from socialcare.gateway.instances import CaseTargets


class GatewaySettings(PlatformSettings):
    case_rpc_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="SOCIALCARE_CASE_RPC_TIMEOUT_S: deadline of one call to routing's "
        "CaseService; past it the request fails with 503 instead of holding an HTTP worker.",
    )
    case_grpc_targets: str = Field(
        default="",
        description="SOCIALCARE_CASE_GRPC_TARGETS: the routing instances the gateway asks "
        "for a case (it asks all of them and takes the owner's answer): "
        "`host:port[,host:port...]`, each one instance; or one name, `dns:///name:port` or "
        "`name:port`, resolved to every address it has and re-resolved every 30 s (a "
        "Kubernetes headless Service finds every routing pod). Unset: "
        "SOCIALCARE_CASE_GRPC_ADDRESS.",
    )

    sla_rpc_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="SOCIALCARE_SLA_RPC_TIMEOUT_S: deadline of one SLA report call to the sla "
        "instances (all are asked at once, with this one deadline); past it the report "
        "answers 503 instead of holding an HTTP worker.",
    )
    sla_grpc_targets: str = Field(
        default="",
        description="SOCIALCARE_SLA_GRPC_TARGETS: the sla instances the gateway asks for SLA "
        "reports (it asks all of them and adds their answers up, each counting the care.sla "
        "partitions it owns): `host:port[,host:port...]`, each one instance; or one name, "
        "`dns:///name:port` or `name:port`, resolved to every address it has and re-resolved "
        "every 30 s (a Kubernetes headless Service finds every sla pod). Unset: "
        "SOCIALCARE_SLA_GRPC_ADDRESS.",
    )

    gateway_grpc_address: str = Field(
        default="127.0.0.1:50054",
        description="SOCIALCARE_GATEWAY_GRPC_ADDRESS: where the gateway serves the gRPC "
        "AgentService (the agent actions and presence for integrators, with the REST API's "
        "credentials as `authorization: Bearer` metadata): `host:port` (port 0: a free "
        "port); empty = not served.",
    )
    gateway_grpc_workers: int = Field(
        default=16,
        ge=1,
        le=256,
        description="SOCIALCARE_GATEWAY_GRPC_WORKERS: gateway gRPC calls served at once "
        "(each WatchCases stream holds one).",
    )
    gateway_watch_max: int = Field(
        default=4,
        ge=1,
        le=200,
        description="SOCIALCARE_GATEWAY_WATCH_MAX: WatchCases streams served at once by this "
        "gateway (each holds a gRPC worker: keep it below SOCIALCARE_GATEWAY_GRPC_WORKERS); one "
        "more is RESOURCE_EXHAUSTED.",
    )
    gateway_watch_keepalive_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="SOCIALCARE_GATEWAY_WATCH_KEEPALIVE_S: seconds of quiet after which a "
        "WatchCases stream gets a keep_alive message.",
    )

    @model_validator(mode="after")
    def _case_targets(self) -> Self:
        """Default the targets to the platform's address, and check them now so a wrong
        value stops the process at start with the variable's name, not at the first call."""
        variable = "SOCIALCARE_CASE_GRPC_TARGETS"
        if not self.case_grpc_targets.strip():
            self.case_grpc_targets = self.case_grpc_address
            variable = "SOCIALCARE_CASE_GRPC_ADDRESS (the default of SOCIALCARE_CASE_GRPC_TARGETS)"
        try:
            CaseTargets.parse(self.case_grpc_targets)
        except ValueError as exc:
            raise ValueError(f"{variable}: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _sla_targets(self) -> Self:
        """As `_case_targets`, for the sla instances."""
        variable = "SOCIALCARE_SLA_GRPC_TARGETS"
        if not self.sla_grpc_targets.strip():
            self.sla_grpc_targets = self.sla_grpc_address
            variable = "SOCIALCARE_SLA_GRPC_ADDRESS (the default of SOCIALCARE_SLA_GRPC_TARGETS)"
        try:
            CaseTargets.parse(self.sla_grpc_targets)
        except ValueError as exc:
            raise ValueError(f"{variable}: {exc}") from exc
        return self

    @classmethod
    def from_platform(cls, settings: PlatformSettings) -> GatewaySettings:
        """These settings for a process whose platform settings are already read.

        The platform values are taken as they are (so a test's or the CLI's explicit
        settings win); the gateway's own fields come from the environment or defaults.
        """
        if isinstance(settings, GatewaySettings):
            return settings
        return cls(**settings.model_dump())
