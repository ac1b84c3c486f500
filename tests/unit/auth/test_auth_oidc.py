"""SSO against a local OpenID Provider that signs real RS256 id_tokens (tests/fakes/oidc.py):
the whole authorization code + PKCE flow over HTTP, and every way a forged or misdirected
answer is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from socialcare.core.auth import SESSION_COOKIE
from tests.fakes.oidc import FakeOidcIssuer
from tests.unit.auth.conftest import AuthPlatform

CLIENT_ID = "socialcare-console"


@pytest.fixture
def issuer() -> Iterator[FakeOidcIssuer]:
    with FakeOidcIssuer(client_id=CLIENT_ID) as fake:
        fake.next_user = {
            "sub": "248289761001",
            "preferred_username": "Mila",
            "name": "Mila Jansen",
            "socialcare_roles": ["agent", "emperor"],
            "socialcare_brands": ["globex", "initech"],
            "socialcare_agent": "olivia",
        }
        yield fake


def sso_platform(make_platform: Any, issuer: FakeOidcIssuer, **overrides: Any) -> AuthPlatform:
    platform: AuthPlatform = make_platform(
        oidc_issuer=issuer.url, oidc_client_id=CLIENT_ID, **overrides
    )
    return platform


def sign_in(platform: AuthPlatform, next_path: str = "/") -> httpx.Response:
    """Follow the browser's path: our login → the provider → our callback."""
    start = platform.client.get(
        "/v1/auth/oidc/login", params={"next": next_path}, follow_redirects=False
    )
    assert start.status_code == 303, start.text
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["location"])
    assert back.path == "/v1/auth/oidc/callback"
    done: httpx.Response = platform.client.get(f"{back.path}?{back.query}", follow_redirects=False)
    return done


def test_sso_signs_a_user_in_with_roles_brands_and_agent_from_the_claims(
    make_platform: Any, issuer: FakeOidcIssuer
) -> None:
    platform = sso_platform(make_platform, issuer)
    assert platform.client.get("/v1/auth/providers").json()["oidc"] is True
    start = platform.client.get("/v1/auth/oidc/login", follow_redirects=False)
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == ["http://testserver/v1/auth/oidc/callback"]
    assert "nonce" in query and "state" in query

    done = sign_in(platform, "/wall")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/wall"
    assert platform.client.cookies.get(SESSION_COOKIE)
    me = platform.client.get("/v1/me").json()
    assert me["name"] == "Mila Jansen"
    assert me["roles"] == ["agent"]  # unknown roles are dropped
    assert me["brands"] == ["globex"]  # unknown brands too
    assert me["agent_id"] == "olivia"
    assert me["csrf_token"]
    # The token exchange proved possession of the PKCE verifier.
    assert "code_verifier" in issuer.token_requests[-1]

    # The user exists now; a second sign-in with changed claims updates it.
    issuer.next_user = {**issuer.next_user, "socialcare_roles": ["operations"]}
    platform.client.cookies.clear()
    assert sign_in(platform).status_code == 303
    assert platform.client.get("/v1/me").json()["roles"] == ["operations"]
    users = platform.client.get("/v1/users", headers=platform.admin_headers()).json()["users"]
    assert [(u["username"], u["source"]) for u in users if u["source"] == "oidc"] == [
        ("mila", "oidc")
    ]


def test_an_sso_user_never_takes_over_a_local_account_of_the_same_name(
    make_platform: Any, issuer: FakeOidcIssuer
) -> None:
    platform = sso_platform(make_platform, issuer)
    issuer.next_user = {"sub": "evil", "preferred_username": "admin"}
    assert sign_in(platform).status_code == 303
    me = platform.client.get("/v1/me").json()
    assert me["roles"] == []
    assert me["id"] != "admin"
    assert me["permissions"] == []


def test_a_confidential_client_authenticates_with_its_secret(make_platform: Any) -> None:
    with FakeOidcIssuer(client_id=CLIENT_ID, client_secret="s3cret") as issuer:
        issuer.next_user = {"sub": "1", "preferred_username": "kim", "socialcare_roles": "lead"}
        platform = sso_platform(make_platform, issuer, oidc_client_secret="s3cret")
        assert sign_in(platform).status_code == 303
        assert platform.client.get("/v1/me").json()["roles"] == ["lead"]
        assert "client_id" not in issuer.token_requests[-1]  # sent by HTTP Basic instead


def test_a_rotated_signing_key_is_fetched_once(make_platform: Any, issuer: FakeOidcIssuer) -> None:
    platform = sso_platform(make_platform, issuer)
    assert sign_in(platform).status_code == 303
    fetched = issuer.jwks_requests
    issuer.rotate_key()
    platform.client.cookies.clear()
    assert sign_in(platform).status_code == 303
    assert platform.client.get("/v1/me").status_code == 200
    assert issuer.jwks_requests == fetched + 1


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param({"token_overrides": {"aud": "another-client"}}, id="audience"),
        pytest.param({"token_overrides": {"iss": "https://evil.example"}}, id="issuer"),
        pytest.param({"token_overrides": {"nonce": "replayed"}}, id="nonce"),
        pytest.param({"token_overrides": {"exp": 1_000_000}}, id="expired"),
        pytest.param({"token_overrides": {"aud": [CLIENT_ID, "other"], "azp": "other"}}, id="azp"),
        pytest.param({"sign_with_foreign_key": True}, id="foreign-key"),
        pytest.param({"algorithm": "HS256"}, id="hmac-with-client-id"),
    ],
)
def test_an_id_token_that_cannot_be_trusted_is_refused(
    make_platform: Any, issuer: FakeOidcIssuer, spoil: dict[str, Any]
) -> None:
    platform = sso_platform(make_platform, issuer)
    for name, value in spoil.items():
        setattr(issuer, name, value)
    done = sign_in(platform)
    assert done.status_code == 303
    assert done.headers["location"].startswith("/login?error=oidc_failed")
    assert not platform.client.cookies.get(SESSION_COOKIE)


def test_a_callback_from_another_browser_is_refused(
    make_platform: Any, issuer: FakeOidcIssuer
) -> None:
    platform = sso_platform(make_platform, issuer)
    start = platform.client.get("/v1/auth/oidc/login", follow_redirects=False)
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    back = urlsplit(at_provider.headers["location"])
    params = parse_qs(back.query)
    # Right code, wrong state: a forged callback (login CSRF).
    forged = platform.client.get(
        back.path, params={"code": params["code"][0], "state": "guessed"}, follow_redirects=False
    )
    assert forged.headers["location"].startswith("/login?error=oidc_failed")
    # The right state without this browser's state cookie.
    platform.client.cookies.clear()
    stray = platform.client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert stray.headers["location"].startswith("/login?error=oidc_failed")
    # The provider's own refusal.
    refused = platform.client.get(
        back.path, params={"error": "access_denied"}, follow_redirects=False
    )
    assert refused.headers["location"].startswith("/login?error=oidc_failed")


def test_sso_is_absent_until_configured(auth_platform: AuthPlatform) -> None:
    answer = auth_platform.client.get("/v1/auth/oidc/login", follow_redirects=False)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "oidc_not_configured"


def test_an_unreachable_provider_is_503(make_platform: Any) -> None:
    with FakeOidcIssuer(client_id=CLIENT_ID) as issuer:
        url = issuer.url
    platform: AuthPlatform = make_platform(oidc_issuer=url, oidc_client_id=CLIENT_ID)
    answer = platform.client.get("/v1/auth/oidc/login", follow_redirects=False)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "oidc_unavailable"


def test_an_issuer_must_be_https_unless_on_loopback(make_platform: Any) -> None:
    with pytest.raises(ValueError, match="https"):
        make_platform(oidc_issuer="http://idp.example.com", oidc_client_id=CLIENT_ID)
