"""Sign-in, sessions and account management over REST (`/v1/auth/...`, `/v1/me`,
`/v1/users`, `/v1/api-keys`); the rules are `core.auth`'s, this module is the door.

* `POST /v1/auth/token`: the OAuth2 password form (`username`, `password`) → a bearer
  token for scripts (`{"access_token", "token_type": "bearer", "expires_in"}`).
* `POST /v1/auth/login` (form: `username`, `password`, `next`): the console's sign-in;
  sets the session and CSRF cookies. A browser's form post is redirected (303) to `next`,
  or back to `/login?error=<code>`; htmx gets `HX-Redirect`; a client that accepts JSON
  gets the principal and the CSRF token, or the error body.
* `POST /v1/auth/logout`: ends the console session (the session's CSRF token in the
  `X-CSRF-Token` header or the `csrf_token` form field).
* `GET /v1/auth/oidc/login?next=/` and `GET /v1/auth/oidc/callback`: SSO through the
  configured OpenID Provider (authorization code + PKCE).
* `GET /v1/auth/providers`: what the sign-in page should offer (public).
* `GET /v1/me`: the caller.
* users and API keys: role admin (permission `manage`); a key is shown once, at creation.

Login CSRF: a sign-in form posted from another site would sign the victim in as the
attacker; the session cookie is SameSite=Lax and a cross-origin `Origin` is refused (403).
"""

from __future__ import annotations

import logging
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Literal
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field

from socialcare.core.audit import note
from socialcare.core.auth.admin import USERNAME_PATTERN
from socialcare.core.auth.authenticator import IssuedToken
from socialcare.core.auth.dependencies import (
    CSRF_FORM_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    CurrentPrincipal,
    clear_session_cookies,
    client_address,
    require,
    set_session_cookies,
)
from socialcare.core.auth.oidc import STATE_TTL_S
from socialcare.core.auth.principal import Permission, Principal
from socialcare.core.auth.wiring import AuthParts
from socialcare.core.clock import from_timestamp
from socialcare.core.errors import (
    ForbiddenError,
    NotFoundError,
    SocialcareError,
    UnauthenticatedError,
)
from socialcare.core.http_errors import RequestModel, error_responses
from socialcare.v1 import auth_pb2

log = logging.getLogger(__name__)

OIDC_STATE_COOKIE = "socialcare_oidc"
LOGIN_PAGE = "/login"

_SIGN_IN_ERRORS = error_responses(
    401,
    422,
    429,
    descriptions={
        401: "Wrong username or password (`invalid_credentials`).",
        429: "Too many attempts from this address (`rate_limited`) or for this account "
        "(`account_locked`); retry after `Retry-After` seconds.",
    },
)
_ADMIN_ERRORS = error_responses(
    401, 403, 422, descriptions={403: "Needs role admin (`forbidden`)."}
)
# A route with a JSON body: not JSON (400 `invalid_json`), not sent as JSON (415).
_BODY_ERRORS = error_responses(400, 415)

Manager = Annotated[Principal, Depends(require(Permission.MANAGE))]
RoleName = Literal["agent", "lead", "operations", "admin", "integrator"]
ApiKeyPermission = Literal["ingest", "read_events", "read_cases", "manage_webhooks"]


class TokenRead(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class PrincipalRead(BaseModel):
    kind: Literal["user", "api_key"]
    id: str
    name: str
    roles: list[str]
    brands: list[str] | None = Field(description="None: every brand.")
    agent_id: str | None
    permissions: list[str]
    language: str | None


class MeRead(PrincipalRead):
    csrf_token: str | None = Field(
        default=None, description="The console session's CSRF token (cookie sessions only)."
    )


class SessionRead(BaseModel):
    principal: PrincipalRead
    csrf_token: str
    expires_in: int


class ProvidersRead(BaseModel):
    password: bool
    oidc: bool
    dev_mode: bool


class UserBase(RequestModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UserCreate(UserBase):
    username: str = Field(
        pattern=USERNAME_PATTERN,
        description="Case-insensitive: stored in lower case.",
        examples=["sanne"],
    )
    password: str | None = Field(
        default=None, max_length=1000, description="None: the user signs in through SSO only."
    )
    display_name: str = Field(default="", max_length=200)
    roles: list[RoleName] = Field(default_factory=list, max_length=5)
    brands: list[str] = Field(default_factory=list, max_length=100)
    all_brands: bool = False
    agent_id: str | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=10)


class UserUpdate(UserBase):
    password: str | None = Field(default=None, max_length=1000)
    display_name: str | None = Field(default=None, max_length=200)
    roles: list[RoleName] | None = Field(default=None, max_length=5)
    brands: list[str] | None = Field(default=None, max_length=100)
    all_brands: bool | None = None
    agent_id: str | None = Field(default=None, max_length=100, description='"" removes the agent.')
    disabled: bool | None = None
    language: str | None = Field(default=None, max_length=10)


class UserRead(BaseModel):
    id: str
    username: str
    display_name: str
    roles: list[str]
    brands: list[str]
    all_brands: bool
    agent_id: str | None
    disabled: bool
    source: str
    language: str | None
    created_at: datetime | None
    updated_at: datetime | None


class UserList(BaseModel):
    users: list[UserRead]


class ApiKeyCreate(UserBase):
    name: str = Field(min_length=1, max_length=200, examples=["crm-sync"])
    brand: str = Field(min_length=1, max_length=100)
    permissions: list[ApiKeyPermission] = Field(min_length=1, max_length=4)


class ApiKeyRead(BaseModel):
    id: str
    name: str
    brand: str
    permissions: list[str]
    revoked: bool
    created_by: str
    created_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself: shown this once, never again.")


class ApiKeyList(BaseModel):
    api_keys: list[ApiKeyRead]


def auth_router(auth: AuthParts) -> APIRouter:
    """The routes over this process's auth (see `core.auth.wiring.open_auth`)."""
    api = APIRouter(prefix="/v1")
    authenticator = auth.authenticator
    admin = auth.admin
    secure = auth.settings.cookie_secure

    @api.post(
        "/auth/token",
        tags=["auth"],
        summary="A bearer token for a username and password (OAuth2 password form)",
        response_model=TokenRead,
        responses=_SIGN_IN_ERRORS,
    )
    def issue_token(
        request: Request,
        username: Annotated[str, Form(min_length=1, max_length=200)],
        password: Annotated[str, Form(min_length=1, max_length=1000)],
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    ) -> JSONResponse:
        principal = authenticator.sign_in(username, password, client_address(request))
        issued = authenticator.issue_access_token(principal)
        body = TokenRead(access_token=issued.token, expires_in=issued.expires_in)
        # RFC 6749 5.1: token answers must not be cached.
        return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store"})

    @api.post(
        "/auth/login",
        tags=["auth"],
        summary="Sign in to the console (sets the session cookie)",
        response_model=SessionRead,
        responses={
            **_SIGN_IN_ERRORS,
            **error_responses(403),
            303: {
                "description": "A browser's form post (no `Accept: application/json`): to "
                "`next` when signed in, else back to the sign-in page with `?error=<code>`."
            },
        },
    )
    def login(
        request: Request,
        username: Annotated[str, Form(min_length=1, max_length=200)],
        password: Annotated[str, Form(min_length=1, max_length=1000)],
        next: Annotated[str, Form(max_length=2000)] = "/",
    ) -> Response:
        target = safe_next(next)
        wants_json = _wants_json(request)
        _same_origin(request)
        try:
            principal = authenticator.sign_in(username, password, client_address(request))
        except SocialcareError as exc:
            if wants_json:
                raise
            return _back_to_login(exc.code, target, request)
        session = authenticator.issue_session(principal)
        return _signed_in(request, principal, session, target, secure=secure)

    @api.post(
        "/auth/logout",
        tags=["auth"],
        summary="End the console session",
        status_code=HTTPStatus.NO_CONTENT,
        responses={
            **error_responses(403),
            303: {
                "description": "A browser's form post (no `Accept: application/json`, not "
                "htmx): to the sign-in page."
            },
        },
    )
    async def logout(request: Request) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            try:
                _, session_id = authenticator.principal_from_session(cookie)
            except UnauthenticatedError:
                session_id = None
            if session_id is not None:
                token = request.headers.get(CSRF_HEADER)
                if token is None and "form" in request.headers.get("content-type", ""):
                    token = str((await request.form()).get(CSRF_FORM_FIELD) or "") or None
                if not authenticator.csrf_valid(session_id, token):
                    raise ForbiddenError(
                        f"send the session's CSRF token ({CSRF_HEADER})", code="csrf_failed"
                    )
        response: Response
        if _wants_json(request):
            response = Response(status_code=HTTPStatus.NO_CONTENT)
        elif request.headers.get("HX-Request"):
            response = Response(
                status_code=HTTPStatus.NO_CONTENT, headers={"HX-Redirect": LOGIN_PAGE}
            )
        else:
            response = RedirectResponse(LOGIN_PAGE, status_code=HTTPStatus.SEE_OTHER)
        clear_session_cookies(response, secure=secure)
        return response

    @api.get(
        "/auth/providers",
        tags=["auth"],
        summary="How one can sign in here (public: the sign-in page asks)",
        response_model=ProvidersRead,
        responses=error_responses(),
    )
    def providers() -> ProvidersRead:
        return ProvidersRead(
            password=True,
            oidc=authenticator.oidc is not None,
            dev_mode=authenticator.dev_password is not None,
        )

    @api.get(
        "/auth/oidc/login",
        tags=["auth"],
        summary="Sign in through the configured OpenID Provider (redirects there)",
        status_code=HTTPStatus.SEE_OTHER,
        responses=error_responses(
            404,
            422,
            503,
            descriptions={
                404: "SSO is not configured (`oidc_not_configured`).",
                503: "The identity provider cannot be reached (`oidc_unavailable`).",
            },
        ),
    )
    def oidc_login(
        request: Request,
        next: Annotated[str, Query(max_length=2000)] = "/",
    ) -> Response:
        oidc = authenticator.oidc
        if oidc is None:
            raise NotFoundError(
                "SSO is not configured (SOCIALCARE_OIDC_ISSUER)", code="oidc_not_configured"
            )
        redirect_uri = auth.settings.oidc_redirect_url or str(request.url_for("oidc_callback"))
        start = oidc.begin(redirect_uri, safe_next(next))
        response = RedirectResponse(start.authorization_url, status_code=HTTPStatus.SEE_OTHER)
        response.set_cookie(
            OIDC_STATE_COOKIE,
            start.state_cookie,
            max_age=STATE_TTL_S,
            httponly=True,
            secure=secure,
            samesite="lax",  # the provider's redirect back is a top-level GET: Lax sends it
            path="/v1/auth/oidc",
        )
        return response

    @api.get(
        "/auth/oidc/callback",
        tags=["auth"],
        summary="Where the OpenID Provider sends the browser back",
        name="oidc_callback",
        status_code=HTTPStatus.SEE_OTHER,
        responses=error_responses(
            404, 422, descriptions={404: "SSO is not configured (`oidc_not_configured`)."}
        ),
    )
    def oidc_callback(
        request: Request,
        code: Annotated[str | None, Query(max_length=4000)] = None,
        state: Annotated[str | None, Query(max_length=500)] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        oidc = authenticator.oidc
        if oidc is None:
            raise NotFoundError(
                "SSO is not configured (SOCIALCARE_OIDC_ISSUER)", code="oidc_not_configured"
            )
        try:
            if error is not None or not code or not state:
                raise UnauthenticatedError(
                    f"the identity provider did not sign you in ({error or 'no code'})",
                    code="oidc_failed",
                )
            identity = oidc.finish(code, state, request.cookies.get(OIDC_STATE_COOKIE))
            principal = authenticator.oidc_sign_in(identity)
        except SocialcareError as exc:
            log.warning("SSO sign-in failed", extra={"code": exc.code, "error": exc.message})
            response = _back_to_login(exc.code, "/", request)
        else:
            session = authenticator.issue_session(principal)
            response = _signed_in(request, principal, session, identity.next_path, secure=secure)
        response.delete_cookie(
            OIDC_STATE_COOKIE, path="/v1/auth/oidc", secure=secure, httponly=True
        )
        return response

    @api.get(
        "/me",
        tags=["auth"],
        summary="Who is calling",
        response_model=MeRead,
        responses=error_responses(401),
    )
    def me(request: Request, principal: CurrentPrincipal) -> MeRead:
        session_id = getattr(request.state, "session_id", None)
        token = authenticator.csrf_token(session_id) if session_id else None
        return MeRead(**_principal_read(principal).model_dump(), csrf_token=token)

    @api.post(
        "/users",
        tags=["users"],
        summary="Create a user",
        status_code=HTTPStatus.CREATED,
        response_model=UserRead,
        responses={**_ADMIN_ERRORS, **_BODY_ERRORS, **error_responses(409)},
    )
    def create_user(body: UserCreate, principal: Manager, request: Request) -> UserRead:
        user = admin.create_user(
            username=body.username,
            password=body.password,
            display_name=body.display_name,
            roles=body.roles,
            brands=body.brands,
            all_brands=body.all_brands,
            agent_id=body.agent_id,
            language=body.language,
        )
        log.info("user created by", extra={"by": principal.id, "user_id": user.id})
        note(request, target_id=user.id, details={"roles": ",".join(user.roles)})
        return user_read(user)

    @api.get(
        "/users",
        tags=["users"],
        summary="Every user",
        response_model=UserList,
        responses=_ADMIN_ERRORS,
    )
    def list_users(principal: Manager) -> UserList:
        return UserList(users=[user_read(u) for u in auth.directory.users()])

    @api.get(
        "/users/{user_id}",
        tags=["users"],
        summary="One user",
        response_model=UserRead,
        responses={**_ADMIN_ERRORS, **error_responses(404)},
    )
    def get_user(user_id: Annotated[str, Path(max_length=100)], principal: Manager) -> UserRead:
        user = auth.directory.user(user_id)
        if user is None:
            raise NotFoundError(f"user {user_id} not found")
        return user_read(user)

    @api.patch(
        "/users/{user_id}",
        tags=["users"],
        summary="Change a user (a new password or disabling ends their sessions)",
        response_model=UserRead,
        responses={**_ADMIN_ERRORS, **_BODY_ERRORS, **error_responses(404)},
    )
    def update_user(
        user_id: Annotated[str, Path(max_length=100)], body: UserUpdate, principal: Manager
    ) -> UserRead:
        user = admin.update_user(user_id, **body.model_dump(exclude_unset=True))
        log.info("user changed by", extra={"by": principal.id, "user_id": user.id})
        return user_read(user)

    @api.post(
        "/api-keys",
        tags=["api-keys"],
        summary="Create an API key for one brand (the key is shown once)",
        status_code=HTTPStatus.CREATED,
        response_model=ApiKeyCreated,
        responses={**_ADMIN_ERRORS, **_BODY_ERRORS},
    )
    def create_api_key(body: ApiKeyCreate, principal: Manager, request: Request) -> ApiKeyCreated:
        key, plaintext = admin.create_api_key(
            name=body.name, brand=body.brand, permissions=body.permissions, created_by=principal.id
        )
        note(request, target_id=key.id, brand=key.brand)
        return ApiKeyCreated(**api_key_read(key).model_dump(), key=plaintext)

    @api.get(
        "/api-keys",
        tags=["api-keys"],
        summary="Every API key (never the key itself)",
        response_model=ApiKeyList,
        responses=_ADMIN_ERRORS,
    )
    def list_api_keys(principal: Manager) -> ApiKeyList:
        return ApiKeyList(api_keys=[api_key_read(k) for k in auth.directory.api_keys()])

    @api.delete(
        "/api-keys/{key_id}",
        tags=["api-keys"],
        summary="Revoke an API key (at once, in every process within a poll)",
        status_code=HTTPStatus.NO_CONTENT,
        responses={**_ADMIN_ERRORS, **error_responses(404)},
    )
    def revoke_api_key(
        key_id: Annotated[str, Path(max_length=100)], principal: Manager
    ) -> Response:
        admin.revoke_api_key(key_id)
        return Response(status_code=HTTPStatus.NO_CONTENT)

    return api


def safe_next(target: str) -> str:
    """`target` when it is a path on this site, else `/`: never an open redirect."""
    parts = urlsplit(target)
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or parts.scheme
        or parts.netloc
        or any(ord(c) < 32 for c in target)
    ):
        return "/"
    return target


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or an old one: SameSite=Lax still holds
        return
    if urlsplit(origin).netloc != request.headers.get("host", request.url.netloc):
        raise ForbiddenError("sign-in from another site is refused", code="cross_origin")


def _signed_in(
    request: Request, principal: Principal, session: IssuedToken, target: str, *, secure: bool
) -> Response:
    response: Response
    if _wants_json(request):
        body = SessionRead(
            principal=_principal_read(principal),
            csrf_token=session.csrf_token,
            expires_in=session.expires_in,
        )
        response = JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store"})
    elif request.headers.get("HX-Request"):
        response = Response(status_code=HTTPStatus.NO_CONTENT, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=HTTPStatus.SEE_OTHER)
    set_session_cookies(response, session, secure=secure)
    return response


def _back_to_login(code: str, target: str, request: Request) -> Response:
    location = f"{LOGIN_PAGE}?{urlencode({'error': code, 'next': target})}"
    if request.headers.get("HX-Request"):
        return Response(status_code=HTTPStatus.NO_CONTENT, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=HTTPStatus.SEE_OTHER)


def _principal_read(principal: Principal) -> PrincipalRead:
    return PrincipalRead(
        kind=principal.kind,
        id=principal.id,
        name=principal.name,
        roles=sorted(principal.roles),
        brands=None if principal.brands is None else sorted(principal.brands),
        agent_id=principal.agent_id,
        permissions=sorted(p.value for p in principal.permissions),
        language=principal.language,
    )


def _when(stamp: Timestamp, present: bool = True) -> datetime | None:
    return from_timestamp(stamp) if present and (stamp.seconds or stamp.nanos) else None


def user_read(user: auth_pb2.UserAccount) -> UserRead:
    """A user as the API shows it: never the password hash."""
    return UserRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=list(user.roles),
        brands=list(user.brands),
        all_brands=user.all_brands,
        agent_id=user.agent_id or None,
        disabled=user.disabled,
        source=user.source,
        language=user.language or None,
        created_at=_when(user.created_at),
        updated_at=_when(user.updated_at),
    )


def api_key_read(key: auth_pb2.ApiKey) -> ApiKeyRead:
    """A key as the API shows it: never its secret or digest."""
    return ApiKeyRead(
        id=key.id,
        name=key.name,
        brand=key.brand,
        permissions=list(key.permissions),
        revoked=key.revoked,
        created_by=key.created_by,
        created_at=_when(key.created_at),
        revoked_at=_when(key.revoked_at, key.revoked),
    )
