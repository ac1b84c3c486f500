"""A local OpenID Provider that signs real RS256 id_tokens, for the SSO tests.

    with FakeOidcIssuer(client_id="socialcare", client_secret=None) as issuer:
        issuer.next_user = {"sub": "u-1", "preferred_username": "mila",
                            "socialcare_roles": ["agent"], "socialcare_brands": ["acme"]}
        env = {"SOCIALCARE_OIDC_ISSUER": issuer.url, "SOCIALCARE_OIDC_CLIENT_ID": "socialcare"}

A `ThreadingHTTPServer` on 127.0.0.1 (a free port) in a daemon thread, serving what a
real provider serves for the authorization code flow with PKCE:

    /.well-known/openid-configuration   discovery (issuer, endpoints, algorithms)
    /jwks                               the public keys (JWK set)
    /authorize                          checks client_id, redirect_uri, S256 challenge; signs
                                        `next_user` in at once (no page) and redirects to
                                        redirect_uri?code=...&state=...
    /token                              authorization_code grant: checks the code (once),
                                        redirect_uri, client (secret when one is set) and the
                                        PKCE verifier; answers an id_token signed with RS256

Tests can spoil the answer to check the platform refuses it: `token_overrides` (claims,
e.g. `{"aud": "other"}` or `{"nonce": "x"}`), `sign_with_foreign_key`, `algorithm`
(`HS256` signs with the client id as secret, the classic confusion attack), and
`rotate_key()` to sign with a new key the JWKS learns about.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import warnings
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    claims: dict[str, Any]


class _Key:
    def __init__(self) -> None:
        self.kid = secrets.token_hex(8)
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}


class FakeOidcIssuer:
    def __init__(
        self,
        *,
        client_id: str = "socialcare",
        client_secret: str | None = None,
        issuer_path: str = "",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self._issuer_path = issuer_path.rstrip("/")
        self._keys = [_Key()]
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self.next_user: dict[str, Any] = {"sub": "user-1", "preferred_username": "user1"}
        self.token_overrides: dict[str, Any] = {}
        self.sign_with_foreign_key = False
        self.algorithm = "RS256"
        self.token_requests: list[dict[str, str]] = []
        self.jwks_requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The issuer identifier (what `iss` and discovery's `issuer` are)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self._issuer_path}"

    def rotate_key(self) -> None:
        """Sign with a new key from now on; the JWKS publishes both."""
        with self._lock:
            self._keys.append(_Key())

    def __enter__(self) -> FakeOidcIssuer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the endpoints -------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        }

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            self.jwks_requests += 1
            return {"keys": [key.jwk() for key in self._keys]}

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, headers, JSON body)."""
        if query.get("client_id") != self.client_id:
            return 400, {}, {"error": "unauthorized_client"}
        redirect_uri = query.get("redirect_uri", "")
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return 400, {}, {"error": "invalid_request"}
        if "openid" not in query.get("scope", "").split():
            return 400, {}, {"error": "invalid_scope"}
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                challenge=query.get("code_challenge", ""),
                nonce=query.get("nonce"),
                claims=dict(self.next_user),
            )
        location = f"{redirect_uri}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return 302, {"Location": location}, {}

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(dict(form))
        client_id = form.get("client_id")
        if authorization is not None and authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
            client_id, _, secret = (unquote_plus(part) for part in decoded.partition(":"))
            if self.client_secret is None or secret != self.client_secret:
                return 401, {"error": "invalid_client"}
        elif self.client_secret is not None:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        if grant is None or client_id != grant.client_id:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if digest.rstrip(b"=").decode() != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        return 200, {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(grant.claims, nonce=grant.nonce),
        }

    def id_token(self, claims: dict[str, Any], *, nonce: str | None) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.url,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            **({"nonce": nonce} if nonce is not None else {}),
            **claims,
            **self.token_overrides,
        }
        if self.algorithm == "HS256":
            with warnings.catch_warnings():  # a short HMAC key is the point of this attack
                warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
                return jwt.encode(payload, self.client_id, algorithm="HS256")
        with self._lock:
            key = _Key() if self.sign_with_foreign_key else self._keys[-1]
        return jwt.encode(payload, key.private, algorithm=self.algorithm, headers={"kid": key.kid})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def _answer(
                self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                path = parts.path.removeprefix(issuer._issuer_path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if path == "/.well-known/openid-configuration":
                    self._answer(200, issuer.discovery())
                elif path == "/jwks":
                    self._answer(200, issuer.jwks())
                elif path == "/authorize":
                    status, headers, body = issuer.authorize(query)
                    self._answer(status, body, headers)
                else:
                    self._answer(404, {"error": "not_found"})

            def do_POST(self) -> None:
                path = urlsplit(self.path).path.removeprefix(issuer._issuer_path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[-1] for k, v in parse_qs(raw).items()}
                if path == "/token":
                    status, body = issuer.token(form, self.headers.get("Authorization"))
                    self._answer(status, body, {"Cache-Control": "no-store"})
                else:
                    self._answer(404, {"error": "not_found"})

        return Handler
