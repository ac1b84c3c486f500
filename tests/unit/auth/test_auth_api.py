"""Sign-in, tokens, sessions, users and API keys through the REST API on a real embedded
bus, and the dependencies (`current_principal`, `require`) other routes use."""

from __future__ import annotations

from typing import Any

import pytest

from socialcare.core.auth import CSRF_COOKIE, SESSION_COOKIE
from socialcare.gateway.auth_api import safe_next
from tests.unit.auth.conftest import (
    ADMIN_PASSWORD,
    DEV_PASSWORD,
    AuthPlatform,
    eventually,
)

PASSWORD = "correct horse battery"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(platform: AuthPlatform, username: str, password: str, **extra: Any) -> Any:
    return platform.client.post(
        "/v1/auth/login",
        data={"username": username, "password": password, **extra},
        headers={"Accept": "application/json"},
    )


# -- bearer tokens --------------------------------------------------------------------------


def test_the_first_admin_gets_a_token_that_calls_every_permission(
    auth_platform: AuthPlatform,
) -> None:
    answer = auth_platform.client.post(
        "/v1/auth/token",
        data={"username": "admin", "password": ADMIN_PASSWORD, "grant_type": "password"},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 3600
    assert answer.headers["cache-control"] == "no-store"
    headers = bearer(body["access_token"])
    me = auth_platform.client.get("/v1/me", headers=headers).json()
    assert me["roles"] == ["admin"]
    assert me["brands"] is None
    assert me["csrf_token"] is None
    for path in ("/probe/act", "/probe/ingest"):
        assert auth_platform.client.post(path, headers=headers).status_code == 200


def test_without_a_credential_the_answer_is_401_with_a_bearer_challenge(
    auth_platform: AuthPlatform,
) -> None:
    answer = auth_platform.client.get("/probe/me")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"
    assert answer.headers["www-authenticate"].startswith("Bearer")

    garbage = auth_platform.client.get("/probe/me", headers=bearer("not-a-token"))
    assert garbage.status_code == 401
    assert garbage.json()["error"]["code"] == "invalid_token"
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]

    basic = auth_platform.client.get("/probe/me", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401


def test_a_wrong_password_and_an_unknown_user_answer_alike(auth_platform: AuthPlatform) -> None:
    wrong = auth_platform.client.post(
        "/v1/auth/token", data={"username": "admin", "password": "nope-nope-nope"}
    )
    unknown = auth_platform.client.post(
        "/v1/auth/token", data={"username": "nobody", "password": "nope-nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"


def test_a_username_is_locked_after_five_failures_even_for_the_right_password(
    auth_platform: AuthPlatform,
) -> None:
    for _ in range(5):
        answer = auth_platform.client.post(
            "/v1/auth/token", data={"username": "admin", "password": "guess-guess-guess"}
        )
        assert answer.status_code == 401
    locked = auth_platform.client.post(
        "/v1/auth/token", data={"username": "Admin", "password": ADMIN_PASSWORD}
    )
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "account_locked"
    assert 800 < int(locked.headers["retry-after"]) <= 901


def test_sign_in_attempts_are_rate_limited_per_client_address(make_platform: Any) -> None:
    platform: AuthPlatform = make_platform(signin_rate_per_minute=3)
    codes = [
        platform.client.post(
            "/v1/auth/token", data={"username": f"user{n}", "password": "whatever-1234"}
        ).status_code
        for n in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    limited = platform.client.post(
        "/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1


# -- console sessions and CSRF --------------------------------------------------------------


def test_a_console_session_needs_the_csrf_header_for_changes(auth_platform: AuthPlatform) -> None:
    auth_platform.create_user(
        username="sanne", password=PASSWORD, roles=["agent"], brands=["acme"], agent_id="sanne"
    )
    answer = login(auth_platform, "sanne", PASSWORD)
    assert answer.status_code == 200, answer.text
    session = answer.json()
    assert session["principal"]["agent_id"] == "sanne"
    assert session["principal"]["brands"] == ["acme"]
    cookie_header = answer.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie_header if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=lax" in session_cookie or "samesite=lax" in session_cookie.lower()
    client = auth_platform.client
    assert client.cookies.get(CSRF_COOKIE) == session["csrf_token"]

    assert client.get("/probe/cases").status_code == 200  # a read needs no CSRF token
    refused = client.post("/probe/act")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    wrong = client.post("/probe/act", headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    ok = client.post("/probe/act", headers={"X-CSRF-Token": session["csrf_token"]})
    assert ok.status_code == 200
    me = client.get("/v1/me").json()
    assert me["csrf_token"] == session["csrf_token"]

    # The session cookie is no bearer token, and a bearer token is no session.
    token = client.cookies.get(SESSION_COOKIE)
    assert token is not None
    assert client.get("/probe/me", headers=bearer(token)).status_code == 401

    out = client.post(
        "/v1/auth/logout",
        headers={"X-CSRF-Token": session["csrf_token"]},
        follow_redirects=False,
    )
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert client.get("/probe/me").status_code == 401


def test_logout_without_the_csrf_token_is_refused(auth_platform: AuthPlatform) -> None:
    assert login(auth_platform, "admin", ADMIN_PASSWORD).status_code == 200
    refused = auth_platform.client.post("/v1/auth/logout", follow_redirects=False)
    assert refused.status_code == 403
    assert auth_platform.client.get("/probe/me").status_code == 200


def test_a_browser_form_sign_in_redirects_to_next_or_back_to_the_login_page(
    auth_platform: AuthPlatform,
) -> None:
    client = auth_platform.client
    ok = client.post(
        "/v1/auth/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "next": "/cases/c-1"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/cases/c-1"
    assert client.cookies.get(SESSION_COOKIE)

    client.cookies.clear()
    bad = client.post(
        "/v1/auth/login",
        data={"username": "admin", "password": "wrong-wrong", "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert bad.status_code == 303
    assert bad.headers["location"] == "/login?error=invalid_credentials&next=%2F"
    assert not client.cookies.get(SESSION_COOKIE)

    htmx = client.post(
        "/v1/auth/login",
        data={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 204
    assert htmx.headers["hx-redirect"] == "/"


def test_a_sign_in_posted_from_another_site_is_refused(auth_platform: AuthPlatform) -> None:
    answer = auth_platform.client.post(
        "/v1/auth/login",
        data={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"Origin": "https://evil.example", "Accept": "application/json"},
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "cross_origin"
    same = auth_platform.client.post(
        "/v1/auth/login",
        data={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"Origin": "http://testserver", "Accept": "application/json"},
    )
    assert same.status_code == 200


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/cases/1?tab=x", "/cases/1?tab=x"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
    ],
)
def test_next_is_never_an_open_redirect(target: str, expected: str) -> None:
    assert safe_next(target) == expected


# -- users, roles, brands -------------------------------------------------------------------


def test_only_admins_manage_users_and_roles_grant_their_permissions(
    auth_platform: AuthPlatform,
) -> None:
    ops = auth_platform.create_user(
        username="ops", password=PASSWORD, roles=["operations"], brands=["acme", "globex"]
    )
    assert ops["roles"] == ["operations"]
    assert "password" not in ops and "password_hash" not in ops
    headers = bearer(auth_platform.token("ops", PASSWORD))
    client = auth_platform.client
    assert client.get("/probe/cases", headers=headers).status_code == 200
    refused = client.post("/probe/act", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "act" in refused.json()["error"]["message"]
    assert client.get("/v1/users", headers=headers).status_code == 403
    assert client.post("/v1/users", json={"username": "x"}, headers=headers).status_code == 403

    listed = client.get("/v1/users", headers=auth_platform.admin_headers()).json()["users"]
    assert [u["username"] for u in listed] == ["admin", "ops"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "Bad Name!", "password": PASSWORD}, "username"),
        ({"username": "short", "password": "short"}, "password"),
        ({"username": "b1", "password": PASSWORD, "brands": ["initech"]}, "brands"),
        ({"username": "b2", "password": PASSWORD, "agent_id": "nobody"}, "agent_id"),
        ({"username": "b3", "password": PASSWORD, "roles": ["emperor"]}, "roles.0"),
        ({"username": "b4", "password": PASSWORD, "is_admin": True}, "is_admin"),
    ],
)
def test_a_bad_user_is_refused_naming_the_field(
    auth_platform: AuthPlatform, body: dict[str, Any], field: str
) -> None:
    answer = auth_platform.client.post(
        "/v1/users", json=body, headers=auth_platform.admin_headers()
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


def test_a_username_is_unique(auth_platform: AuthPlatform) -> None:
    auth_platform.create_user(username="sanne", password=PASSWORD)
    again = auth_platform.client.post(
        "/v1/users",
        json={"username": "SANNE", "password": PASSWORD},
        headers=auth_platform.admin_headers(),
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "username_taken"


def test_a_new_password_or_disabling_ends_the_users_tokens(auth_platform: AuthPlatform) -> None:
    user = auth_platform.create_user(username="lead", password=PASSWORD, roles=["lead"])
    client = auth_platform.client
    old = bearer(auth_platform.token("lead", PASSWORD))
    assert client.get("/probe/me", headers=old).status_code == 200
    changed = client.patch(
        f"/v1/users/{user['id']}",
        json={"password": "another long password"},
        headers=auth_platform.admin_headers(),
    )
    assert changed.status_code == 200
    revoked = client.get("/probe/me", headers=old)
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "token_revoked"

    new = bearer(auth_platform.token("lead", "another long password"))
    assert client.get("/probe/me", headers=new).status_code == 200
    client.patch(
        f"/v1/users/{user['id']}", json={"disabled": True}, headers=auth_platform.admin_headers()
    )
    assert client.get("/probe/me", headers=new).status_code == 401
    refused = client.post(
        "/v1/auth/token", data={"username": "lead", "password": "another long password"}
    )
    assert refused.status_code == 401


def test_patching_an_unknown_user_is_404(auth_platform: AuthPlatform) -> None:
    answer = auth_platform.client.patch(
        "/v1/users/nope", json={"disabled": True}, headers=auth_platform.admin_headers()
    )
    assert answer.status_code == 404


# -- API keys -------------------------------------------------------------------------------


def test_an_api_key_is_shown_once_scoped_to_a_brand_and_revocable(
    auth_platform: AuthPlatform,
) -> None:
    client = auth_platform.client
    admin = auth_platform.admin_headers()
    created = client.post(
        "/v1/api-keys",
        json={"name": "crm-sync", "brand": "acme", "permissions": ["ingest", "read_cases"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith(f"sc_{key['id']}_")
    listed = client.get("/v1/api-keys", headers=admin).json()["api_keys"]
    assert [k["id"] for k in listed] == [key["id"]]
    assert "key" not in listed[0] and "secret_sha256" not in listed[0]
    assert key["key"] not in client.get("/v1/api-keys", headers=admin).text

    headers = bearer(key["key"])
    me = client.get("/probe/me", headers=headers).json()
    assert me["kind"] == "api_key"
    assert me["brands"] == ["acme"]
    assert me["permissions"] == ["ingest", "read_cases"]
    assert client.post("/probe/ingest", headers=headers).status_code == 200
    assert client.post("/probe/act", headers=headers).status_code == 403
    assert client.get("/v1/users", headers=headers).status_code == 403

    forged = key["key"][:-4] + "AAAA"
    assert client.get("/probe/me", headers=bearer(forged)).status_code == 401

    assert client.delete(f"/v1/api-keys/{key['id']}", headers=admin).status_code == 204
    gone = client.get("/probe/me", headers=headers)
    assert gone.status_code == 401
    assert gone.json()["error"]["code"] == "invalid_api_key"
    assert client.delete("/v1/api-keys/nope", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "k", "brand": "initech", "permissions": ["ingest"]}, "brands"),
        ({"name": "k", "brand": "acme", "permissions": ["manage"]}, "permissions.0"),
        ({"name": "k", "brand": "acme", "permissions": []}, "permissions"),
    ],
)
def test_a_bad_api_key_request_is_refused(
    auth_platform: AuthPlatform, body: dict[str, Any], field: str
) -> None:
    answer = auth_platform.client.post(
        "/v1/api-keys", json=body, headers=auth_platform.admin_headers()
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == field


# -- one directory across processes ---------------------------------------------------------


def test_every_process_sees_the_same_accounts_and_signing_key(auth_platform: AuthPlatform) -> None:
    other = auth_platform.another_process()
    # A token from one process is valid on the other: they share the generated key.
    token = auth_platform.token("admin", ADMIN_PASSWORD)
    assert other.client.get("/probe/me", headers=bearer(token)).status_code == 200

    auth_platform.create_user(username="olivia", password=PASSWORD, roles=["agent"])
    eventually(lambda: other.auth.directory.user_by_username("olivia") is not None)
    assert (
        other.client.post(
            "/v1/auth/token", data={"username": "olivia", "password": PASSWORD}
        ).status_code
        == 200
    )

    key = other.client.post(
        "/v1/api-keys",
        json={"name": "bi", "brand": "globex", "permissions": ["read_events"]},
        headers=other.admin_headers(),
    ).json()
    eventually(lambda: auth_platform.auth.directory.api_key(key["id"]) is not None)
    assert auth_platform.client.get("/probe/me", headers=bearer(key["key"])).status_code == 200
    other.client.delete(f"/v1/api-keys/{key['id']}", headers=other.admin_headers())
    eventually(
        lambda: auth_platform.client.get("/probe/me", headers=bearer(key["key"])).status_code == 401
    )


def test_a_restart_rebuilds_the_directory_from_the_topic(make_platform: Any) -> None:
    first: AuthPlatform = make_platform()
    first.create_user(username="camille", password=PASSWORD, roles=["agent"])
    token = first.token("camille", PASSWORD)
    first.close()
    second: AuthPlatform = make_platform()
    assert second.client.get("/probe/me", headers=bearer(token)).json()["name"] == "camille"


# -- first start and dev mode ---------------------------------------------------------------


def test_a_generated_admin_password_is_printed_once(
    make_platform: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    first: AuthPlatform = make_platform(admin_password=None)
    printed = capsys.readouterr().out
    assert "user `admin` was created" in printed
    password = printed.split("user `admin` was created", 1)[1].splitlines()[1].strip()
    assert (
        first.client.post(
            "/v1/auth/token", data={"username": "admin", "password": password}
        ).status_code
        == 200
    )
    first.another_process(admin_password=None)
    assert "user `admin` was created" not in capsys.readouterr().out


def test_dev_mode_lets_roster_agents_sign_in_with_the_dev_password(make_platform: Any) -> None:
    platform: AuthPlatform = make_platform(dev_mode=True, dev_password=DEV_PASSWORD)
    assert platform.client.get("/v1/auth/providers").json() == {
        "password": True,
        "oidc": False,
        "dev_mode": True,
    }
    headers = bearer(platform.token("sanne", DEV_PASSWORD))
    me = platform.client.get("/probe/me", headers=headers).json()
    assert me["agent_id"] == "sanne"
    assert me["roles"] == ["agent"]
    assert platform.client.post("/probe/act", headers=headers).status_code == 200
    assert (
        platform.client.post(
            "/v1/auth/token", data={"username": "sanne", "password": "wrong-password"}
        ).status_code
        == 401
    )


def test_outside_dev_mode_roster_agents_cannot_sign_in(make_platform: Any) -> None:
    platform: AuthPlatform = make_platform(dev_password=DEV_PASSWORD)
    answer = platform.client.post(
        "/v1/auth/token", data={"username": "sanne", "password": DEV_PASSWORD}
    )
    assert answer.status_code == 401
    # A dev token made on a dev-mode process is worthless on this one.
    dev: AuthPlatform = platform.another_process(dev_mode=True, dev_password=DEV_PASSWORD)
    token = dev.token("sanne", DEV_PASSWORD)
    assert platform.client.get("/probe/me", headers=bearer(token)).status_code == 401


def test_a_page_can_ask_who_is_signed_in_without_failing(auth_platform: AuthPlatform) -> None:
    client = auth_platform.client
    assert client.get("/probe/page").json() == {"principal": None, "csrf_token": None}
    client.cookies.set(SESSION_COOKIE, "forged")
    assert client.get("/probe/page").json() == {"principal": None, "csrf_token": None}
    client.cookies.clear()
    session = login(auth_platform, "admin", ADMIN_PASSWORD).json()
    assert client.get("/probe/page").json() == {
        "principal": "admin",
        "csrf_token": session["csrf_token"],
    }
