"""FastAPI's side of auth: the `current_principal` and `require` dependencies, the session
cookie, and the CSRF check.

A request proves who it is in one of two ways:

* `Authorization: Bearer <token>`: an access token from `POST /v1/auth/token` or an API
  key (`sc_...`). Scripts and integrators. No CSRF check: a browser never adds this header
  on its own.
* the `socialcare_session` cookie (HttpOnly, SameSite=Lax, Secure unless dev mode): the
  console. A request that changes something (any method but GET, HEAD, OPTIONS) must also
  send the session's CSRF token in the `X-CSRF-Token` header; the console reads it from the
  `socialcare_csrf` cookie or from `csrf_token(request)` rendered into the page.

The process's `Authenticator` is found on `app.state` (`install_auth`), so these
dependencies work on any router of the app without being handed anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from socialcare.core.auth.authenticator import Authenticator, IssuedToken
from socialcare.core.auth.principal import Permission, Principal
from socialcare.core.errors import ForbiddenError, InternalError, UnauthenticatedError
from socialcare.core.http_errors import error_response

SESSION_COOKIE = "socialcare_session"
CSRF_COOKIE = "socialcare_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_STATE_NAME = "socialcare_authenticator"


def install_auth(app: FastAPI, authenticator: Authenticator) -> None:
    """Make `authenticator` the one `current_principal` uses on `app`, and answer 401 with
    `WWW-Authenticate: Bearer` (RFC 6750). Call once, after `build_app`."""
    setattr(app.state, _STATE_NAME, authenticator)

    async def on_unauthenticated(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, UnauthenticatedError)
        return error_response(exc, headers={"WWW-Authenticate": _challenge(exc)})

    app.add_exception_handler(UnauthenticatedError, on_unauthenticated)


def _challenge(exc: UnauthenticatedError) -> str:
    if exc.code in ("invalid_token", "token_expired", "token_revoked", "invalid_api_key"):
        return 'Bearer realm="socialcare", error="invalid_token"'
    return 'Bearer realm="socialcare"'


def authenticator_of(request: Request) -> Authenticator:
    found = getattr(request.app.state, _STATE_NAME, None)
    if not isinstance(found, Authenticator):
        raise InternalError("auth is not installed on this app (call install_auth)")
    return found


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: who is calling. 401 `unauthenticated` without a credential (or
    `invalid_token`, `token_expired`, `token_revoked`, `invalid_api_key` with a bad one);
    403 `csrf_failed` for a cookie-authenticated change without the CSRF header.

    Sync and cheap (an HMAC or a sha256 and a dictionary lookup): it never hashes a
    password. The principal is also left on `request.state.principal`.
    """
    authenticator = authenticator_of(request)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise UnauthenticatedError(
                "send Authorization: Bearer <access token or API key>", code="invalid_token"
            )
        principal = authenticator.principal_from_bearer(credential.strip())
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise UnauthenticatedError(
                "sign in first, or send Authorization: Bearer <access token or API key>"
            )
        principal, session_id = authenticator.principal_from_session(cookie)
        request.state.session_id = session_id
        if request.method not in SAFE_METHODS and not authenticator.csrf_valid(
            session_id, request.headers.get(CSRF_HEADER)
        ):
            raise ForbiddenError(
                f"send the session's CSRF token in the {CSRF_HEADER} header", code="csrf_failed"
            )
    request.state.principal = principal
    return principal


def optional_principal(request: Request) -> Principal | None:
    """The caller if a valid credential came with the request, else None (for pages that
    show a sign-in link instead of failing). Never checks CSRF: use it on GET only."""
    authenticator = authenticator_of(request)
    header = request.headers.get("authorization")
    try:
        if header is not None:
            scheme, _, credential = header.partition(" ")
            if scheme.lower() != "bearer":
                return None
            return authenticator.principal_from_bearer(credential.strip())
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        principal, session_id = authenticator.principal_from_session(cookie)
    except UnauthenticatedError:
        return None
    request.state.session_id = session_id
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission) -> Callable[..., Principal]:
    """FastAPI dependency factory: the principal, who must have `permission` (403
    `forbidden` naming it otherwise). `Depends(require(Permission.ACT))`."""

    def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            raise ForbiddenError(f"this needs the {permission.value} permission")
        return principal

    dependency.__name__ = f"require_{permission.value}"
    return dependency


def csrf_token(request: Request) -> str | None:
    """The CSRF token of the request's console session (for a page's
    `<meta name="csrf-token">`), or None without a valid session."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    authenticator = authenticator_of(request)
    try:
        _, session_id = authenticator.principal_from_session(cookie)
    except UnauthenticatedError:
        return None
    return authenticator.csrf_token(session_id)


def set_session_cookies(response: Response, session: IssuedToken, *, secure: bool) -> None:
    """The session cookie (HttpOnly) and the CSRF cookie (readable by the page's script)."""
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=session.expires_in,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        session.csrf_token,
        max_age=session.expires_in,
        httponly=False,
        secure=secure,
        samesite="strict",
        path="/",
    )


def clear_session_cookies(response: Response, *, secure: bool) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, httponly=name == SESSION_COOKIE)


def client_address(request: Request) -> str:
    """The peer address sign-in limits count against. Behind a proxy every client shares
    the proxy's address (the limit then counts them together); forwarded headers are not
    trusted, as any client could set them."""
    return request.client.host if request.client is not None else "unknown"
