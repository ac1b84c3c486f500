"""The platform's own credentials: signed tokens (bearer and session), CSRF tokens, API keys.

Tokens are JWTs signed with HS256 (PyJWT) by the one platform secret (SOCIALCARE_AUTH_SECRET,
or the generated key on `auth.accounts`), so any process can check one without a call.
Claims: `iss`/`aud` `socialcare`, `sub` the user id (`dev:<agent>` for a dev-mode agent),
`typ` (`access` for `POST /v1/auth/token`, `session` for the console cookie, `service` for
one service's calls to another: `core.auth.service_auth`), `sid` (a session's id, which its
CSRF token is bound to), `ep` (the user's session epoch: raising it on a password change or
disable ends every token issued before), `iat`, `exp`.

CSRF: a session's token is HMAC(secret, "csrf:" + sid), so it needs no storage, changes
with every session and cannot be made without the secret. The console sends it as the
`X-CSRF-Token` header on every unsafe request made with the session cookie.

API keys: `sc_<id>_<secret>`; `id` finds the key, only sha256(secret) is stored (a key is
128 random bits: a slow hash would add nothing but latency to every integrator call).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from socialcare.core.errors import UnauthenticatedError

ISSUER = "socialcare"
AUDIENCE = "socialcare"
ALGORITHM = "HS256"
LEEWAY_S = 5
"""Clock skew between processes a token's expiry allows."""
API_KEY_PREFIX = "sc_"
_API_KEY = re.compile(r"^sc_([a-z0-9]{12})_([A-Za-z0-9_-]{20,100})$")

TokenType = Literal["access", "session", "oidc_state", "service"]


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    token_type: TokenType
    session_id: str
    epoch: int
    expires_at: int
    extra: dict[str, Any]


class TokenSigner:
    """Issues and checks the platform's JWTs with the secret `secret()` returns now (the
    generated key can appear after start, when another process published it first)."""

    def __init__(
        self, secret: Callable[[], bytes], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self._clock = clock

    def issue(
        self,
        subject: str,
        token_type: TokenType,
        ttl_s: int,
        *,
        epoch: int = 0,
        session_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> tuple[str, TokenClaims]:
        now = int(self._clock())
        claims = TokenClaims(
            subject=subject,
            token_type=token_type,
            session_id=session_id or secrets.token_urlsafe(16),
            epoch=epoch,
            expires_at=now + ttl_s,
            extra=dict(extra or {}),
        )
        payload: dict[str, Any] = {
            **claims.extra,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "typ": token_type,
            "sid": claims.session_id,
            "ep": epoch,
            "iat": now,
            "exp": claims.expires_at,
        }
        return jwt.encode(payload, self._secret(), algorithm=ALGORITHM), claims

    def verify(self, token: str, token_type: TokenType) -> TokenClaims:
        """The claims of a valid, unexpired token of `token_type`; UnauthenticatedError
        otherwise (the message never says more than "invalid" or "expired")."""
        try:
            payload = jwt.decode(
                token,
                self._secret(),
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                # Expiry is checked below against this signer's clock, the one `issue` uses.
                options={
                    "require": ["exp", "iat", "sub", "typ", "sid"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError("the token is not valid", code="invalid_token") from exc
        try:
            expires_at = int(payload["exp"])
        except (TypeError, ValueError) as exc:
            raise UnauthenticatedError("the token is not valid", code="invalid_token") from exc
        if expires_at + LEEWAY_S <= self._clock():
            raise UnauthenticatedError("the token has expired; sign in again", code="token_expired")
        if payload.get("typ") != token_type:
            raise UnauthenticatedError("the token is not valid here", code="invalid_token")
        known = {"iss", "aud", "sub", "typ", "sid", "ep", "iat", "exp"}
        return TokenClaims(
            subject=str(payload["sub"]),
            token_type=token_type,
            session_id=str(payload["sid"]),
            epoch=int(payload.get("ep", 0)),
            expires_at=expires_at,
            extra={k: v for k, v in payload.items() if k not in known},
        )

    def csrf_token(self, session_id: str) -> str:
        digest = hmac.new(self._secret(), b"csrf:" + session_id.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()

    def csrf_valid(self, session_id: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session_id), token or "")


@dataclass(frozen=True)
class NewApiKey:
    key_id: str
    plaintext: str
    secret_sha256: str


def new_api_key() -> NewApiKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewApiKey(key_id, f"{API_KEY_PREFIX}{key_id}_{secret}", secret_digest(secret))


def parse_api_key(credential: str) -> tuple[str, str] | None:
    """`(id, sha256 of the secret)` of a well-formed key, else None."""
    match = _API_KEY.match(credential)
    if match is None:
        return None
    return match.group(1), secret_digest(match.group(2))


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)
