"""The console's credentials as a browser holds them: signing in for real, the session's
CSRF token on every page and on every action the console posts, and a session that is
forged or ended sending the browser back to sign in."""

from __future__ import annotations

import re

from socialcare.console.access import CSRF_COOKIE, CSRF_HEADER
from socialcare.core.auth import SESSION_COOKIE
from tests.unit.auth_support import ADMIN_PASSWORD

from .conftest import Console

NOTE = {"agent": "olivia", "text": "Called the warehouse"}


def page_csrf(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]*)">', page)
    assert found is not None
    return found.group(1)


def test_signing_in_for_real_opens_the_console_and_signing_out_closes_it(
    gateway: Console,
) -> None:
    gateway.sign_in(None)
    client = gateway.client
    answer = client.post(
        "/v1/auth/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "next": "/cases/acme-1"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/cases/acme-1"
    assert client.cookies.get(SESSION_COOKIE)
    page = client.get("/cases/acme-1", follow_redirects=False)
    assert page.status_code == 200
    assert "Where is my order?" in page.text
    token = page_csrf(page.text)
    assert token and token == client.cookies.get(CSRF_COOKIE)
    out = client.post("/v1/auth/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert not client.cookies.get(SESSION_COOKIE)
    after = client.get("/", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"] == "/login?next=/"


def test_a_wrong_password_goes_back_to_the_sign_in_page(gateway: Console) -> None:
    gateway.sign_in(None)
    answer = gateway.client.post(
        "/v1/auth/login",
        data={"username": "admin", "password": "not-the-password", "next": "/wall"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?error=invalid_credentials&next=%2Fwall"
    assert not gateway.client.cookies.get(SESSION_COOKIE)


def test_pages_carry_the_sessions_csrf_token(console: Console) -> None:
    page = console.get("/cases/acme-1", user="olivia").text
    token = console.session("olivia").csrf_token
    assert page_csrf(page) == token
    assert f'<input type="hidden" name="csrf_token" value="{token}">' in page  # sign-out
    assert page_csrf(console.get("/login", user=None).text) == ""


def test_actions_need_the_sessions_csrf_token(gateway: Console) -> None:
    gateway.sign_in("olivia")
    token = gateway.session("olivia").csrf_token
    url = "/v1/cases/acme-1/notes"
    for headers in ({}, {CSRF_HEADER: "wrong"}, {CSRF_HEADER: gateway.session("sanne").csrf_token}):
        refused = gateway.client.post(url, json=NOTE, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.json()["error"]["code"] == "csrf_failed"
    accepted = gateway.client.post(url, json=NOTE, headers={CSRF_HEADER: token})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["case_id"] == "acme-1"


def test_a_session_acts_only_as_its_agent_and_in_its_brand(gateway: Console) -> None:
    gateway.sign_in("olivia")
    csrf = {CSRF_HEADER: gateway.session("olivia").csrf_token}
    as_sanne = gateway.client.post(
        "/v1/cases/acme-1/notes", json={**NOTE, "agent": "sanne"}, headers=csrf
    )
    assert as_sanne.status_code == 403
    assert as_sanne.json()["error"]["code"] == "forbidden"
    globex = gateway.client.post("/v1/cases/globex-1/notes", json=NOTE, headers=csrf)
    assert globex.status_code == 404
    assert "Globex secret complaint" not in globex.text


def test_a_script_acts_with_a_bearer_token_and_no_csrf(gateway: Console) -> None:
    gateway.sign_in(None)
    answer = gateway.client.post(
        "/v1/cases/acme-1/notes", json=NOTE, headers=gateway.bearer("olivia")
    )
    assert answer.status_code == 202, answer.text


def test_a_forged_session_is_sent_to_sign_in(console: Console) -> None:
    console.sign_in(None)
    console.client.cookies.set(SESSION_COOKIE, "forged")
    page = console.client.get("/cases/acme-1", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/cases/acme-1"
    fragment = console.client.get("/console/fragments/inbox")
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"] == "/login"
    stream = console.client.get("/v1/stream/cases")
    assert stream.status_code == 401
    assert stream.json()["error"]["code"] == "invalid_token"


def test_disabling_an_account_ends_its_session(console: Console) -> None:
    assert console.get("/", user="sanne").status_code == 200
    console.auth.admin.update_user(console.user_id("sanne"), disabled=True)
    response = console.get("/", user="sanne")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/"
