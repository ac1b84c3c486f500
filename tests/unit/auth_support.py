"""Credentials for API tests (ADR 0007): every app a test builds checks them, as in
production, and every request a test sends carries one.

`open_test_auth(runtime)` opens the runtime's auth (`Runtime.auth()`, what `gateway.main`
and the CLI use) on an `auth.accounts` topic that already holds a fixed signing key and
user `admin` with a fixed password, so nothing is generated or printed. Tokens are minted
by the runtime's own authenticator from the stored accounts: no password is hashed or
verified on the way (argon2 is slow on purpose; one hash of `ADMIN_PASSWORD` is made per
test run, lazily, for a test that signs in for real).

    auth = open_test_auth(runtime)
    app = build_app("t", routers, [], auth.authenticator)
    client = TestClient(app, headers=admin_headers(runtime))
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from socialcare.core.auth.accounts import load_accounts
from socialcare.core.auth.admin import ADMIN_USER_ID, ADMIN_USERNAME
from socialcare.core.auth.authenticator import IssuedToken
from socialcare.core.auth.dependencies import CSRF_COOKIE, SESSION_COOKIE
from socialcare.core.auth.passwords import hash_password
from socialcare.core.auth.principal import Role
from socialcare.core.auth.settings import AuthSettings
from socialcare.core.auth.wiring import AuthParts
from socialcare.core.clock import to_timestamp, utc_now
from socialcare.core.runtime import Runtime, build_app
from socialcare.v1 import auth_pb2

ADMIN_PASSWORD = "admin-password-for-tests"
AUTH_SECRET = b"socialcare-unit-tests-signing-key-0123456789"


@functools.cache
def _admin_password_hash() -> str:
    return hash_password(ADMIN_PASSWORD)


def open_test_auth(runtime: Runtime) -> AuthParts:
    """The runtime's auth (`runtime.auth()`), its topic seeded with the fixed signing key
    and user `admin` first (when missing). Later calls return the same parts."""
    directory, _ = load_accounts(runtime.bus, runtime.producer)
    now = to_timestamp(utc_now())
    if directory.signing_secret() is None:
        directory.save(
            auth_pb2.AccountRecord(
                record_id=uuid.uuid4().hex,
                signing_key=auth_pb2.SigningKey(
                    id="unit-tests", secret=AUTH_SECRET, created_at=now
                ),
            )
        )
    if directory.user(ADMIN_USER_ID) is None:
        directory.save_user(
            auth_pb2.UserAccount(
                id=ADMIN_USER_ID,
                username=ADMIN_USERNAME,
                display_name="Administrator",
                password_hash=_admin_password_hash(),
                roles=[Role.ADMIN.value],
                all_brands=True,
                source="local",
                created_at=now,
                updated_at=now,
            )
        )
    return runtime.auth()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_of(auth: AuthParts, user_id: str) -> str:
    """A fresh access token of a stored user, minted without their password."""
    user = auth.directory.user(user_id)
    assert user is not None, f"no user {user_id}"
    principal = auth.authenticator.principal_of_user(user)
    return auth.authenticator.issue_access_token(principal).token


def admin_token(runtime: Runtime) -> str:
    return token_of(open_test_auth(runtime), ADMIN_USER_ID)


def admin_headers(runtime: Runtime) -> dict[str, str]:
    """`Authorization: Bearer <admin's token>`: every /v1 route, every brand."""
    return bearer(admin_token(runtime))


def user_headers(
    runtime: Runtime,
    username: str,
    *,
    roles: Iterable[str],
    brands: Iterable[str] = (),
    all_brands: bool = False,
    agent_id: str | None = None,
) -> dict[str, str]:
    """A new user (no password: nothing hashed) and a bearer token of theirs."""
    auth = open_test_auth(runtime)
    user = auth.admin.create_user(
        username=username,
        password=None,
        roles=roles,
        brands=brands,
        all_brands=all_brands,
        agent_id=agent_id,
    )
    return bearer(token_of(auth, user.id))


def api_key_headers(runtime: Runtime, *, brand: str, permissions: Iterable[str]) -> dict[str, str]:
    """A new API key for one brand, as its `Authorization` header."""
    auth = open_test_auth(runtime)
    _, plaintext = auth.admin.create_api_key(
        name=f"test-{brand}", brand=brand, permissions=permissions, created_by=ADMIN_USER_ID
    )
    return bearer(plaintext)


def care_runtime(data_dir: Path, care_yaml: str, **settings: Any) -> Runtime:
    """A runtime on the embedded backends in `data_dir` with `care_yaml` as its care config and
    no ingest gRPC port (an API test calls the routes, not ingestion's server)."""
    care = data_dir / "care.yaml"
    care.write_text(care_yaml)
    return Runtime(
        AuthSettings(data_dir=data_dir, care_config=care, ingest_grpc_port=0, **settings)
    )


def authed_app(runtime: Runtime, routers: Sequence[APIRouter], title: str = "test") -> FastAPI:
    """`build_app` with the runtime's authenticator: every protected route checks."""
    return build_app(title, routers, [], open_test_auth(runtime).authenticator)


def admin_client(runtime: Runtime, routers: Sequence[APIRouter], title: str = "test") -> TestClient:
    """A TestClient of `authed_app` whose every request carries the admin's token."""
    return TestClient(authed_app(runtime, routers, title), headers=admin_headers(runtime))


def admin_metadata(runtime: Runtime) -> tuple[tuple[str, str], ...]:
    """gRPC call metadata with the admin's bearer token."""
    return (("authorization", f"Bearer {admin_token(runtime)}"),)


def new_user(
    runtime: Runtime,
    username: str,
    *,
    roles: Iterable[str],
    brands: Iterable[str] = (),
    all_brands: bool = False,
    agent_id: str | None = None,
    display_name: str = "",
) -> auth_pb2.UserAccount:
    """A new user with no password (nothing hashed), stored on the runtime's accounts."""
    return open_test_auth(runtime).admin.create_user(
        username=username,
        password=None,
        display_name=display_name,
        roles=roles,
        brands=brands,
        all_brands=all_brands,
        agent_id=agent_id,
    )


def session_of(auth: AuthParts, user_id: str) -> IssuedToken:
    """A fresh console session of a stored user, as `POST /v1/auth/login` issues it (the
    session cookie's value and its CSRF token), minted without their password."""
    user = auth.directory.user(user_id)
    assert user is not None, f"no user {user_id}"
    return auth.authenticator.issue_session(auth.authenticator.principal_of_user(user))


def session_cookies(session: IssuedToken) -> dict[str, str]:
    """The cookies a browser holds after signing in: the session and its CSRF token."""
    return {SESSION_COOKIE: session.token, CSRF_COOKIE: session.csrf_token}
