"""Sign-in through an OpenID Provider: authorization code flow with PKCE (RFC 7636).

1. `begin`: a random `state`, `nonce` and PKCE `code_verifier`; the browser is sent to the
   provider's authorization endpoint with `state`, `nonce` and the verifier's S256
   challenge. The three secrets travel in a short-lived cookie signed by the platform
   (`typ` `oidc_state`), so any gateway replica can finish the flow and nothing is stored.
2. `finish`: the provider sent the browser back with `code` and `state`. The state must
   equal the cookie's (else it is a forged or replayed callback); the code is exchanged at
   the token endpoint with the verifier (and the client secret, for a confidential
   client); the `id_token` is verified: signature against the provider's JWKS (asymmetric
   algorithms only: `none` and HMAC are refused, so a token cannot be signed with the
   public key or the client id), `iss` equal to the configured issuer, `aud` containing
   our client id (and `azp` ours when there are several), `exp`/`iat`, and `nonce` equal to
   the cookie's. Only then are its claims trusted.

The discovery document and JWKS are cached (one hour); a token signed with a key id the
cached JWKS lacks makes one refetch (key rotation), at most once a minute. The issuer and
its endpoints must be HTTPS, except on a loopback address (tests, a local provider).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx
import jwt

from socialcare.core.auth.settings import AuthSettings
from socialcare.core.auth.tokens import TokenSigner
from socialcare.core.errors import UnauthenticatedError, UnavailableError

log = logging.getLogger(__name__)

STATE_TTL_S = 600
_CACHE_S = 3600.0
_JWKS_REFRESH_MIN_S = 60.0
_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class OidcError(UnauthenticatedError):
    """The provider's answer cannot be trusted or used: 401 `oidc_failed`."""

    default_code = "oidc_failed"


@dataclass(frozen=True)
class OidcStart:
    """Where to send the browser, and the signed cookie value to set before."""

    authorization_url: str
    state_cookie: str


@dataclass(frozen=True)
class OidcIdentity:
    """The verified id_token's claims and where the browser wanted to go."""

    claims: dict[str, Any]
    next_path: str


class OidcClient:
    """Thread-safe. `http` is closed by `close()`."""

    def __init__(
        self,
        settings: AuthSettings,
        signer: TokenSigner,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not settings.oidc_issuer or not settings.oidc_client_id:
            raise ValueError("OIDC needs SOCIALCARE_OIDC_ISSUER and SOCIALCARE_OIDC_CLIENT_ID")
        _check_url(settings.oidc_issuer, "SOCIALCARE_OIDC_ISSUER")
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self._client_secret = (
            settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        )
        self._scopes = settings.oidc_scopes
        self._signer = signer
        self._http = http or httpx.Client(timeout=settings.oidc_timeout_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._jwks: tuple[float, jwt.PyJWKSet] | None = None
        self._forced_at = float("-inf")

    def close(self) -> None:
        self._http.close()

    # -- the flow ------------------------------------------------------------------------

    def begin(self, redirect_uri: str, next_path: str) -> OidcStart:
        """Raises UnavailableError (503 `oidc_unavailable`) when the provider's discovery
        document cannot be read."""
        endpoint = self._endpoint("authorization_endpoint")
        state = secrets.token_urlsafe(24)
        nonce = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self._scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
            }
        )
        cookie, _ = self._signer.issue(
            "oidc",
            "oidc_state",
            STATE_TTL_S,
            extra={
                "state": state,
                "nonce": nonce,
                "verifier": verifier,
                "redirect_uri": redirect_uri,
                "next": next_path,
            },
        )
        separator = "&" if urlsplit(endpoint).query else "?"
        return OidcStart(f"{endpoint}{separator}{query}", cookie)

    def finish(self, code: str, state: str, state_cookie: str | None) -> OidcIdentity:
        """Exchange the code and verify the id_token (see the module docstring). Raises
        OidcError (401) for anything not trustworthy, UnavailableError (503) when the
        provider cannot be reached."""
        if not state_cookie:
            raise OidcError("the sign-in took too long or cookies are off; start again")
        try:
            started = self._signer.verify(state_cookie, "oidc_state").extra
        except UnauthenticatedError as exc:
            raise OidcError("the sign-in took too long; start again") from exc
        if not secrets.compare_digest(str(started.get("state", "")), state):
            raise OidcError("the sign-in answer does not belong to this browser (state)")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": str(started["redirect_uri"]),
            "code_verifier": str(started["verifier"]),
        }
        auth: httpx.Auth | None = None
        if self._client_secret is not None:
            # client_secret_basic: both parts form-encoded first (RFC 6749 2.3.1).
            auth = httpx.BasicAuth(quote_plus(self.client_id), quote_plus(self._client_secret))
        else:
            form["client_id"] = self.client_id
        endpoint = self._endpoint("token_endpoint")
        headers = {"Accept": "application/json"}
        try:
            if auth is None:
                response = self._http.post(endpoint, data=form, headers=headers)
            else:
                response = self._http.post(endpoint, data=form, headers=headers, auth=auth)
        except httpx.HTTPError as exc:
            raise UnavailableError(
                f"the identity provider is unreachable: {exc}", code="oidc_unavailable"
            ) from exc
        if response.status_code != 200:
            log.warning(
                "the identity provider refused the code",
                extra={"status": response.status_code, "body": response.text[:300]},
            )
            raise OidcError("the identity provider refused the sign-in")
        try:
            id_token = str(response.json()["id_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise OidcError("the identity provider sent no id_token") from exc
        claims = self.verify_id_token(id_token, nonce=str(started["nonce"]))
        return OidcIdentity(claims, str(started.get("next") or "/"))

    def verify_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise OidcError("the id_token is not a JWT") from exc
        algorithm = header.get("alg")
        if algorithm not in _ALGORITHMS:
            raise OidcError(f"the id_token's algorithm {algorithm!r} is not accepted")
        key = self._signing_key(header.get("kid"), str(algorithm))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=[str(algorithm)],
                audience=self.client_id,
                issuer=self.issuer,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise OidcError(f"the id_token is not valid: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise OidcError("the id_token was issued to another client (azp)")
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("the id_token does not belong to this sign-in (nonce)")
        return claims

    # -- provider metadata ---------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        with self._lock:
            cached = self._discovery
        if cached is not None and self._clock() - cached[0] < _CACHE_S:
            return cached[1]
        document = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        if str(document.get("issuer", "")).rstrip("/") != self.issuer:
            raise OidcError(
                f"the provider calls itself {document.get('issuer')!r}, not {self.issuer!r}"
            )
        with self._lock:
            self._discovery = (self._clock(), document)
        return document

    def _endpoint(self, name: str) -> str:
        value = self.discovery().get(name)
        if not isinstance(value, str) or not value:
            raise OidcError(f"the provider's discovery document has no {name}")
        try:
            _check_url(value, name)
        except ValueError as exc:
            raise OidcError(str(exc)) from exc
        return value

    def _signing_key(self, kid: object, algorithm: str) -> jwt.PyJWK:
        for refresh in (False, True):
            jwks = self._key_set(refresh=refresh)
            for key in jwks.keys:
                if (kid is None or key.key_id == kid) and _fits(key, algorithm):
                    return key
        raise OidcError("the id_token is signed with a key the provider does not publish")

    def _key_set(self, *, refresh: bool) -> jwt.PyJWKSet:
        """The provider's keys: cached for an hour; `refresh` (a key id we do not know:
        the provider rotated) refetches, at most once a minute, so tokens with made-up key
        ids cannot make us hammer the provider."""
        now = self._clock()
        with self._lock:
            cached = self._jwks
            if refresh:
                if now - self._forced_at < _JWKS_REFRESH_MIN_S and cached is not None:
                    return cached[1]
                self._forced_at = now
        if cached is not None and not refresh and now - cached[0] < _CACHE_S:
            return cached[1]
        document = self._get_json(self._endpoint("jwks_uri"))
        try:
            key_set = jwt.PyJWKSet.from_dict(document)
        except jwt.PyJWTError as exc:
            raise OidcError(f"the provider's JWKS cannot be read: {exc}") from exc
        with self._lock:
            self._jwks = (now, key_set)
        return key_set

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UnavailableError(
                f"the identity provider cannot be read at {url}: {exc}", code="oidc_unavailable"
            ) from exc
        if not isinstance(document, dict):
            raise OidcError(f"{url} did not answer a JSON object")
        return document


def _fits(key: jwt.PyJWK, algorithm: str) -> bool:
    """An RSA key for RS*/PS*, an EC key for ES*: the algorithm comes from our list, the key
    from the provider's set, and they must belong together."""
    return bool(key.key_type == ("EC" if algorithm.startswith("ES") else "RSA"))


def _check_url(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
        return
    raise ValueError(f"{what} must be an https:// URL (http only on a loopback address): {url}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
