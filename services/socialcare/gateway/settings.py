"""The gateway's own settings, next to the platform's (prefix `SOCIALCARE_`).

Only what the gateway alone needs lives here; where routing is (`case_grpc_address`) is a
platform setting because routing serves it and the gateway calls it.
"""

from __future__ import annotations

from pydantic import Field

from socialcare.core.config import PlatformSettings


class GatewaySettings(PlatformSettings):
    case_rpc_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="SOCIALCARE_CASE_RPC_TIMEOUT_S: deadline of one call to routing's "
        "CaseService; past it the request fails with 503 instead of holding an HTTP worker.",
    )

    @classmethod
    def from_platform(cls, settings: PlatformSettings) -> GatewaySettings:
        """These settings for a process whose platform settings are already read.

        The platform values are taken as they are (so a test's or the CLI's explicit
        settings win); the gateway's own fields come from the environment or defaults.
        """
        if isinstance(settings, GatewaySettings):
            return settings
        return cls(**settings.model_dump())
