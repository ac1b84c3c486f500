"""Credentials between services (ADR 0014): the gateway's calls to routing's and sla's gRPC
servers carry a service token, and those servers refuse a call without a valid one.

A service token is one of the platform's JWTs (`tokens.TokenSigner`, HS256 with the one
platform secret every process already holds: SOCIALCARE_AUTH_SECRET, or the key on
`auth.accounts`) with `typ` `service` and `sub` `service:<name>`. It proves "sent by a
process that holds the platform secret"; which one is in its subject, for the logs only
(any holder of the secret could write any subject, so an allow-list per caller would add
nothing).

* `ServiceToken` (the caller's side) mints one token, reuses it for every call and mints
  the next when a third of its life is left, so calls never wait on a signature and an
  expiry never races a call in flight (the server allows 5 s of clock skew besides).
* `ServiceCallGuard` (the server's side) is a gRPC server interceptor: every method of the
  server it is installed on is checked before its servicer runs, including methods added
  later, so no method can be forgotten. A service token is verified once and then found in
  a small cache until it expires (a dict lookup per call, not an HMAC and a JSON parse).
  A user's access token (or an API key) is accepted where the guard names a permission for
  the service and the user has it for every brand: these services answer for every brand,
  so a user restricted to some brands, or any API key (always one brand), is refused with
  PERMISSION_DENIED and pointed to the gateway. Users' tokens are checked on every call
  (not cached): a disabled user or a changed password must end access at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import jwt

from socialcare.core.auth.principal import Permission, Principal
from socialcare.core.auth.tokens import TokenSigner, looks_like_api_key
from socialcare.core.errors import (
    ForbiddenError,
    SocialcareError,
    UnauthenticatedError,
    grpc_status,
)

if TYPE_CHECKING:
    from socialcare.core.auth.authenticator import Authenticator

    Handler = grpc.RpcMethodHandler[Any, Any]

log = logging.getLogger(__name__)

SERVICE_SUBJECT_PREFIX = "service:"
SERVICE_TOKEN_TTL_S = 600
"""Ten minutes: short enough that a leaked token is soon worthless, long enough that a
caller signs about once every seven minutes."""
AUTHORIZATION = "authorization"
_CACHE_LIMIT = 1024
"""Verified service tokens kept; each caller process holds one or two at a time, so this
is only a bound against a flood of distinct valid tokens."""

Metadata = tuple[tuple[str, str], ...]


class ServiceToken:
    """The credential a service attaches to its gRPC calls. Thread-safe.

    `metadata()` is what a call passes as `metadata=`: the current token, minted on first
    use and again when less than a third of `ttl_s` is left. Raises what the signer raises
    (UnavailableError while the process has no signing key yet).
    """

    def __init__(
        self,
        signer: TokenSigner,
        service: str,
        *,
        ttl_s: int = SERVICE_TOKEN_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_s < 60:
            raise ValueError("a service token must live at least 60 s")
        self.subject = SERVICE_SUBJECT_PREFIX + service
        self._signer = signer
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        # (metadata, renew at): replaced whole, so a reader never sees half an update.
        self._current: tuple[Metadata, float] | None = None

    def metadata(self) -> Metadata:
        current = self._current
        if current is not None and self._clock() < current[1]:
            return current[0]
        with self._lock:
            current = self._current
            if current is None or self._clock() >= current[1]:
                token, claims = self._signer.issue(self.subject, "service", self._ttl_s)
                renew_at = claims.expires_at - self._ttl_s / 3
                current = (((AUTHORIZATION, f"Bearer {token}"),), renew_at)
                self._current = current
            return current[0]


@dataclass(frozen=True)
class Caller:
    """Who made a call the guard let through: a service (`principal` None) or a user."""

    name: str
    principal: Principal | None


class ServiceCallGuard(grpc.ServerInterceptor):
    """Refuses every call to the server without a valid credential: UNAUTHENTICATED without
    one or with a bad one, PERMISSION_DENIED for a user who may not call this service.

    `signer` checks service tokens (the process's `Authenticator.signer`). `users` turns a
    user's bearer credential into a `Principal` (`Authenticator.principal_from_bearer`);
    None accepts service tokens only. `user_permissions` names, per service full name
    (`socialcare.v1.CaseService`), the permission a user needs, with every brand; a
    service not named accepts service tokens only. `server` names the server in messages.
    """

    def __init__(
        self,
        signer: TokenSigner,
        *,
        server: str,
        users: Callable[[str], Principal] | None = None,
        user_permissions: Mapping[str, Permission] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signer = signer
        self._server = server
        self._users = users
        self._user_permissions = dict(user_permissions or {})
        self._clock = clock
        self._lock = threading.Lock()
        # token -> (expires at, its caller): the cached path returns the same Caller.
        self._verified: dict[str, tuple[float, Caller]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None  # gRPC answers UNIMPLEMENTED
        method = str(handler_call_details.method)
        try:
            self.caller(method, handler_call_details.invocation_metadata)
        except SocialcareError as exc:
            log.info(
                "gRPC call refused",
                extra={"server": self._server, "method": method, "code": exc.code},
            )
            return _refusing(handler, exc)
        return handler

    def caller(self, method: str, metadata: Any) -> Caller:
        """The caller of `method` (`/package.Service/Method`) with this call's `metadata`;
        raises UnauthenticatedError or ForbiddenError (UnavailableError while the process
        has no signing key yet)."""
        credential = _bearer(metadata, self._server)
        known = self._verified.get(credential)
        if known is not None and self._clock() < known[0]:
            return known[1]
        if not looks_like_api_key(credential) and _token_type(credential) == "service":
            return self._verify_service(credential)
        service = method.lstrip("/").rpartition("/")[0]
        needed = self._user_permissions.get(service)
        if self._users is None or needed is None:
            raise UnauthenticatedError(
                f"{self._server} takes a service credential only (users call the gateway)",
                code="invalid_token",
            )
        principal = self._users(credential)
        if not principal.can(needed) or principal.brands is not None:
            raise ForbiddenError(
                f"{self._server} answers for every brand: it needs the {needed.value} "
                "permission for every brand; call the gateway, which applies your brands"
            )
        return Caller(principal.id, principal)

    def _verify_service(self, token: str) -> Caller:
        """The caller of a valid service token, which is then cached until it expires."""
        now = self._clock()
        claims = self._signer.verify(token, "service")
        if not claims.subject.startswith(SERVICE_SUBJECT_PREFIX):
            raise UnauthenticatedError("the token is not valid here", code="invalid_token")
        with self._lock:
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified = {t: v for t, v in self._verified.items() if now < v[0]}
                if len(self._verified) >= _CACHE_LIMIT:
                    self._verified = {}
            caller = Caller(claims.subject, None)
            self._verified[token] = (float(claims.expires_at), caller)
        return caller

    def forget_verified(self) -> None:
        """Drop every cached service token: each is verified again on its next call (after
        the signing secret changed, which otherwise only a restart does)."""
        with self._lock:
            self._verified = {}


def service_guard(
    authenticator: Authenticator, *, server: str, user_permissions: Mapping[str, Permission]
) -> ServiceCallGuard:
    """The guard of a process's internal gRPC server: service tokens and, per
    `user_permissions`, users' credentials, all checked by the process's authenticator."""
    return ServiceCallGuard(
        authenticator.signer,
        server=server,
        users=authenticator.principal_from_bearer,
        user_permissions=user_permissions,
    )


def service_token(authenticator: Authenticator, service: str) -> ServiceToken:
    """The credential `service` (`gateway`) attaches to its calls, signed by the process's
    authenticator."""
    return ServiceToken(authenticator.signer, service)


def _bearer(metadata: Any, server: str) -> str:
    header = None
    for key, value in metadata or ():
        if key.lower() == AUTHORIZATION:
            header = value if isinstance(value, str) else value.decode("latin-1")
    if header is None:
        raise UnauthenticatedError(
            f"{server} needs a credential: send metadata authorization: Bearer <service token>"
        )
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise UnauthenticatedError(
            f"{server} needs metadata authorization: Bearer <service token>",
            code="invalid_token",
        )
    return credential.strip()


def _token_type(token: str) -> object:
    """The unverified `typ` claim (which check applies); the check itself verifies it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise UnauthenticatedError("the token is not valid", code="invalid_token") from exc
    return claims.get("typ")


def _refusing(handler: Handler, error: SocialcareError) -> Handler:
    """A handler of `handler`'s kind that ends the call with `error`'s status."""
    codec: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    code, details = grpc_status(error)

    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, details)

    def refuse_streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        context.abort(code, details)
        yield  # a generator, as a streaming behaviour must be

    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(refuse, **codec)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(refuse, **codec)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(refuse_streaming, **codec)
    return grpc.stream_stream_rpc_method_handler(refuse_streaming, **codec)
