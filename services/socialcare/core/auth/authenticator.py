"""Credentials in, a `Principal` out: passwords, tokens, sessions, API keys, OIDC.

One `Authenticator` per process, over the process's `AccountDirectory`. Everything a
request presents is checked here, so the rules live in one place:

* a password sign-in passes the `SignInGuard` first (rate per address, lockout per
  username), then argon2id verification; a wrong password, an unknown or disabled user
  all answer the same 401 `invalid_credentials`, after the same work;
* a token must be ours (signature, issuer, audience, type, expiry) and its user must still
  exist, be enabled and have the session epoch the token carries;
* an API key must exist, not be revoked, and its secret's digest must match;
* in dev mode (SOCIALCARE_DEV_MODE) a roster agent with no user account signs in as
  `<agent id>` with the dev password; never outside dev mode.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from socialcare.core.auth.accounts import AccountDirectory
from socialcare.core.auth.guard import SignInGuard
from socialcare.core.auth.oidc import OidcClient, OidcIdentity
from socialcare.core.auth.passwords import (
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from socialcare.core.auth.principal import (
    Permission,
    Principal,
    Role,
    permissions_of,
)
from socialcare.core.auth.settings import AuthSettings
from socialcare.core.auth.tokens import (
    TokenSigner,
    TokenType,
    looks_like_api_key,
    parse_api_key,
)
from socialcare.core.clock import to_timestamp, utc_now
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.errors import UnauthenticatedError, UnavailableError
from socialcare.core.events import derived_id
from socialcare.v1 import auth_pb2

log = logging.getLogger(__name__)

DEV_SUBJECT_PREFIX = "dev:"


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued: the JWT, its lifetime, and (sessions) the CSRF token."""

    token: str
    expires_in: int
    session_id: str
    csrf_token: str


class Authenticator:
    """Thread-safe (the directory and guard are; the rest is read-only)."""

    def __init__(
        self,
        directory: AccountDirectory,
        settings: AuthSettings,
        care: CareConfig,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        oidc: OidcClient | None = None,
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.care = care
        self.signer = TokenSigner(self._secret, clock=clock)
        self.guard = SignInGuard(
            failures=settings.lockout_failures,
            window_s=settings.lockout_s,
            rate_per_minute=settings.signin_rate_per_minute,
            clock=monotonic,
        )
        self.dev_password: str | None = None
        if settings.dev_mode:
            configured = settings.dev_password
            self.dev_password = (
                configured.get_secret_value() if configured is not None else generate_password()
            )
        if oidc is None and settings.oidc_enabled:
            oidc = OidcClient(settings, self.signer, clock=clock)
        self.oidc = oidc

    def close(self) -> None:
        if self.oidc is not None:
            self.oidc.close()

    def _secret(self) -> bytes:
        if self.settings.auth_secret is not None:
            return self.settings.auth_secret.get_secret_value().encode()
        secret = self.directory.signing_secret()
        if secret is None:
            raise UnavailableError(
                "no token signing key yet (the account directory is still loading)",
                code="auth_unavailable",
            )
        return secret

    # -- passwords -----------------------------------------------------------------------

    def sign_in(self, username: str, password: str, client: str) -> Principal:
        """The principal for a username and password from `client` (an address).

        Raises TooManyRequestsError (429 `rate_limited` / `account_locked`) before any
        check, UnauthenticatedError (401 `invalid_credentials`) for a wrong pair.
        """
        name = username.strip().lower()
        self.guard.admit(name, client)
        user = self.directory.user_by_username(name)
        principal: Principal | None = None
        if user is not None:
            if verify_password(user.password_hash, password) and not user.disabled:
                self._upgrade_hash(user, password)
                principal = self.principal_of_user(user)
        elif self._dev_agent_id(name) is not None and self.dev_password is not None:
            verify_password(None, password)  # the same work as for a stored hash
            if hmac.compare_digest(password.encode(), self.dev_password.encode()):
                principal = self._dev_principal(name)
        else:
            verify_password(None, password)
        if principal is None:
            self.guard.failed(name)
            log.info("sign-in refused", extra={"username": name[:64], "client": client})
            raise UnauthenticatedError("wrong username or password", code="invalid_credentials")
        self.guard.succeeded(name)
        log.info("signed in", extra={"principal": principal.id, "client": client})
        return principal

    def _upgrade_hash(self, user: auth_pb2.UserAccount, password: str) -> None:
        if not needs_rehash(user.password_hash):
            return
        user.password_hash = hash_password(password)
        user.updated_at.CopyFrom(to_timestamp(utc_now()))
        try:
            self.directory.save_user(user)
        except Exception:  # the sign-in stands; the old hash still verifies
            log.warning("could not store an upgraded password hash", exc_info=True)

    # -- tokens and sessions -------------------------------------------------------------

    def issue_access_token(self, principal: Principal) -> IssuedToken:
        """A bearer token for scripts (`POST /v1/auth/token`)."""
        return self._issue(principal, "access", self.settings.access_token_ttl_s)

    def issue_session(self, principal: Principal) -> IssuedToken:
        """A console session (the cookie's value) and its CSRF token."""
        return self._issue(principal, "session", self.settings.session_ttl_s)

    def _issue(self, principal: Principal, kind: TokenType, ttl_s: int) -> IssuedToken:
        if principal.kind != "user":
            raise UnauthenticatedError("an API key cannot open a session", code="invalid_token")
        token, claims = self.signer.issue(
            principal.id, kind, ttl_s, epoch=self._epoch_of(principal.id)
        )
        return IssuedToken(
            token, ttl_s, claims.session_id, self.signer.csrf_token(claims.session_id)
        )

    def _epoch_of(self, subject: str) -> int:
        user = self.directory.user(subject)
        return user.session_epoch if user is not None else 0

    def principal_from_bearer(self, credential: str) -> Principal:
        """An API key (`sc_...`) or an access token; UnauthenticatedError otherwise."""
        if looks_like_api_key(credential):
            return self.principal_from_api_key(credential)
        claims = self.signer.verify(credential, "access")
        return self.principal_of_subject(claims.subject, claims.epoch)

    def principal_from_session(self, token: str) -> tuple[Principal, str]:
        """The principal of a session cookie and the session's id (for its CSRF token)."""
        claims = self.signer.verify(token, "session")
        return self.principal_of_subject(claims.subject, claims.epoch), claims.session_id

    def csrf_token(self, session_id: str) -> str:
        return self.signer.csrf_token(session_id)

    def csrf_valid(self, session_id: str, token: str | None) -> bool:
        return self.signer.csrf_valid(session_id, token)

    def principal_of_subject(self, subject: str, epoch: int) -> Principal:
        if subject.startswith(DEV_SUBJECT_PREFIX):
            agent_id = subject.removeprefix(DEV_SUBJECT_PREFIX)
            if self.dev_password is None or self._dev_agent_id(agent_id) is None:
                raise UnauthenticatedError("the token is not valid", code="invalid_token")
            return self._dev_principal(agent_id)
        user = self.directory.user(subject)
        if user is None or user.disabled:
            raise UnauthenticatedError(
                "the account no longer exists or is disabled", code="invalid_token"
            )
        if epoch != user.session_epoch:
            raise UnauthenticatedError(
                "signed out: the password or account changed; sign in again",
                code="token_revoked",
            )
        return self.principal_of_user(user)

    # -- API keys ------------------------------------------------------------------------

    def principal_from_api_key(self, credential: str) -> Principal:
        parsed = parse_api_key(credential)
        key = self.directory.api_key(parsed[0]) if parsed is not None else None
        if (
            parsed is None
            or key is None
            or key.revoked
            or not hmac.compare_digest(key.secret_sha256, parsed[1])
        ):
            raise UnauthenticatedError("the API key is not valid", code="invalid_api_key")
        return principal_of_api_key(key)

    # -- principals ----------------------------------------------------------------------

    def principal_of_user(self, user: auth_pb2.UserAccount) -> Principal:
        roles = frozenset(user.roles)
        every_brand = user.all_brands or Role.ADMIN.value in roles
        return Principal(
            kind="user",
            id=user.id,
            name=user.display_name or user.username,
            roles=roles,
            brands=None if every_brand else frozenset(user.brands),
            agent_id=user.agent_id or None,
            permissions=permissions_of(roles),
            language=user.language or None,
        )

    def _dev_agent_id(self, name: str) -> str | None:
        agent = self.care.agents_by_id.get(name)
        return agent.id if agent is not None else None

    def _dev_principal(self, agent_id: str) -> Principal:
        agent = self.care.agents_by_id[agent_id]
        roles = frozenset({Role.AGENT.value})
        # An agent sees the brands the roster says they serve (all when it names none).
        configured = agent.brands
        return Principal(
            kind="user",
            id=f"{DEV_SUBJECT_PREFIX}{agent.id}",
            name=agent.name,
            roles=roles,
            brands=frozenset(configured) if configured else None,
            agent_id=agent.id,
            permissions=permissions_of(roles),
        )

    # -- OIDC ----------------------------------------------------------------------------

    def oidc_sign_in(self, identity: OidcIdentity) -> Principal:
        """The principal of a verified OIDC identity: its user is created at the first
        sign-in and its roles, brands and agent follow the token's claims at every one.

        The user's id derives from (issuer, sub), never from a name, so an account at the
        provider can never take over a local account that happens to share its username.
        """
        settings = self.settings
        claims = identity.claims
        issuer = str(claims["iss"])
        user_id = "oidc-" + derived_id(issuer, str(claims["sub"]))[:20]
        wanted = str(
            claims.get(settings.oidc_username_claim) or claims.get("email") or claims["sub"]
        ).lower()[:64]
        user = self.directory.user(user_id)
        if user is not None and user.disabled:
            raise UnauthenticatedError("this account is disabled", code="invalid_credentials")
        holder = self.directory.user_by_username(wanted)
        username = wanted if holder is None or holder.id == user_id else f"{wanted}~{user_id[-6:]}"
        roles = _claim_list(claims.get(settings.oidc_roles_claim))
        if roles is None:
            roles = [r.strip() for r in settings.oidc_default_roles.split(",") if r.strip()]
        roles = sorted({r for r in roles if r in ROLES})
        brands = _claim_list(claims.get(settings.oidc_brands_claim)) or []
        known_brands = {b.name for b in self.care.effective_brands}
        agent = str(claims.get(settings.oidc_agent_claim) or "")
        updated = auth_pb2.UserAccount(
            id=user_id,
            username=username,
            display_name=str(claims.get("name") or username),
            roles=roles,
            brands=sorted(b for b in brands if b in known_brands),
            all_brands="*" in brands,
            agent_id=agent if agent in self.care.agents_by_id else "",
            source="oidc",
        )
        if user is not None:
            updated.session_epoch = user.session_epoch
            updated.language = user.language
            updated.created_at.CopyFrom(user.created_at)
            updated.updated_at.CopyFrom(user.updated_at)
        else:
            updated.created_at.CopyFrom(to_timestamp(utc_now()))
            updated.updated_at.CopyFrom(updated.created_at)
        if user is None or updated != user:
            updated.updated_at.CopyFrom(to_timestamp(utc_now()))
            self.directory.save_user(updated)
        principal = self.principal_of_user(updated)
        log.info("signed in through OIDC", extra={"principal": principal.id, "issuer": issuer})
        return principal


def principal_of_api_key(key: auth_pb2.ApiKey) -> Principal:
    return Principal(
        kind="api_key",
        id=key.id,
        name=key.name,
        roles=frozenset({Role.INTEGRATOR.value}),
        brands=frozenset({key.brand}),
        agent_id=None,
        permissions=frozenset(Permission(p) for p in key.permissions if p in _PERMISSIONS),
    )


_PERMISSIONS = frozenset(p.value for p in Permission)
ROLES = frozenset(r.value for r in Role)


def _claim_list(value: object) -> list[str] | None:
    """A claim that lists names: a JSON list, or one string of names separated by spaces
    or commas; None when the claim is absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []
