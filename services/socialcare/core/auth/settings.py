"""Sign-in, token and OIDC settings, next to the platform's (prefix `SOCIALCARE_`).

Every process that checks credentials reads these (the gateway, and ingestion for its
`/v1/messages`); see ADR 0007 for why they are what they are.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from socialcare.core.config import PlatformSettings


class AuthSettings(PlatformSettings):
    auth_secret: SecretStr | None = Field(
        default=None,
        description="SOCIALCARE_AUTH_SECRET: signs bearer tokens, sessions and CSRF tokens "
        "(HS256; at least 32 characters). Unset: a random key is generated at first start and "
        "kept on the auth.accounts topic, so every process shares it.",
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="SOCIALCARE_ADMIN_PASSWORD: at first start (no user `admin` yet) the "
        "password of `admin`; unset, one is generated and printed once in the log.",
    )
    dev_mode: bool = Field(
        default=False,
        description="SOCIALCARE_DEV_MODE: development mode (`make run`): the care config's "
        "agents may sign in with the dev password, and cookies are sent over plain HTTP.",
    )
    dev_password: SecretStr | None = Field(
        default=None,
        description="SOCIALCARE_DEV_PASSWORD: in dev mode, the password of every roster agent; "
        "unset, one is generated at start and printed in the log.",
    )
    access_token_ttl_s: int = Field(
        default=3600,
        ge=60,
        le=7 * 24 * 3600,
        description="SOCIALCARE_ACCESS_TOKEN_TTL_S: lifetime of a `POST /v1/auth/token` token.",
    )
    session_ttl_s: int = Field(
        default=12 * 3600,
        ge=300,
        le=30 * 24 * 3600,
        description="SOCIALCARE_SESSION_TTL_S: lifetime of a console session (one shift).",
    )
    session_cookie_secure: bool | None = Field(
        default=None,
        description="SOCIALCARE_SESSION_COOKIE_SECURE: send session cookies over HTTPS only; "
        "unset: yes, except in dev mode.",
    )
    lockout_failures: int = Field(
        default=5,
        ge=1,
        description="SOCIALCARE_LOCKOUT_FAILURES: failed sign-ins of one username before it "
        "is locked (per process).",
    )
    lockout_s: float = Field(
        default=900.0,
        gt=0,
        description="SOCIALCARE_LOCKOUT_S: how long a locked username stays locked, and the "
        "window failures are counted in.",
    )
    signin_rate_per_minute: float = Field(
        default=30.0,
        gt=0,
        description="SOCIALCARE_SIGNIN_RATE_PER_MINUTE: sign-in attempts per client address "
        "per minute (per process), with a burst of the same size.",
    )
    password_min_length: int = Field(
        default=10, ge=8, description="SOCIALCARE_PASSWORD_MIN_LENGTH: for new passwords."
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="SOCIALCARE_OIDC_ISSUER: the OpenID Provider's issuer URL (its "
        "`/.well-known/openid-configuration` is read); unset: no SSO.",
    )
    oidc_client_id: str | None = Field(
        default=None, description="SOCIALCARE_OIDC_CLIENT_ID: this platform's client id."
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None,
        description="SOCIALCARE_OIDC_CLIENT_SECRET: for a confidential client "
        "(client_secret_basic); unset: a public client (PKCE only).",
    )
    oidc_redirect_url: str | None = Field(
        default=None,
        description="SOCIALCARE_OIDC_REDIRECT_URL: the callback URL registered at the "
        "provider; unset: `/v1/auth/oidc/callback` on the host the browser used.",
    )
    oidc_scopes: str = Field(default="openid profile email", description="SOCIALCARE_OIDC_SCOPES")
    oidc_username_claim: str = Field(
        default="preferred_username",
        description="SOCIALCARE_OIDC_USERNAME_CLAIM: the sign-in name (`email` when absent).",
    )
    oidc_roles_claim: str = Field(
        default="socialcare_roles",
        description="SOCIALCARE_OIDC_ROLES_CLAIM: a list of role names (agent, lead, "
        "operations, admin, integrator).",
    )
    oidc_brands_claim: str = Field(
        default="socialcare_brands",
        description="SOCIALCARE_OIDC_BRANDS_CLAIM: a list of brand names, or `*` for all.",
    )
    oidc_agent_claim: str = Field(
        default="socialcare_agent",
        description="SOCIALCARE_OIDC_AGENT_CLAIM: the roster agent id of the user, if any.",
    )
    oidc_default_roles: str = Field(
        default="",
        description="SOCIALCARE_OIDC_DEFAULT_ROLES: comma-separated roles of a user whose "
        "token has no roles claim (default none: they may sign in and see nothing).",
    )
    oidc_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="SOCIALCARE_OIDC_TIMEOUT_S: per call to the issuer."
    )
    metrics_require_auth: bool = Field(
        default=False,
        description="SOCIALCARE_METRICS_REQUIRE_AUTH: /metrics needs a credential with "
        "read_operations.",
    )

    @field_validator("auth_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("SOCIALCARE_AUTH_SECRET must be at least 32 characters")
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> Self:
        if bool(self.oidc_issuer) != bool(self.oidc_client_id):
            raise ValueError(
                "set both SOCIALCARE_OIDC_ISSUER and SOCIALCARE_OIDC_CLIENT_ID, or neither"
            )
        if self.oidc_issuer:
            self.oidc_issuer = self.oidc_issuer.rstrip("/")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def cookie_secure(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return not self.dev_mode

    @classmethod
    def from_platform(cls, settings: PlatformSettings) -> AuthSettings:
        """These settings for a process whose platform settings are already read (the
        platform values win; the auth fields come from the environment or defaults)."""
        if isinstance(settings, AuthSettings):
            return settings
        return cls(**settings.model_dump())
