"""The pure pieces of auth: roles and permissions, brands, the sign-in guard, tokens,
API keys and password hashes."""

from __future__ import annotations

import time

import pytest

from socialcare.core.auth import Permission, Principal, Role
from socialcare.core.auth.guard import SignInGuard
from socialcare.core.auth.passwords import hash_password, needs_rehash, verify_password
from socialcare.core.auth.principal import ROLE_PERMISSIONS, permissions_of
from socialcare.core.auth.tokens import TokenSigner, new_api_key, parse_api_key
from socialcare.core.errors import TooManyRequestsError, UnauthenticatedError

SECRET = b"k" * 32


def principal(roles: set[str], brands: set[str] | None, agent_id: str | None = None) -> Principal:
    frozen = frozenset(roles)
    return Principal(
        kind="user",
        id="u",
        name="U",
        roles=frozen,
        brands=None if brands is None else frozenset(brands),
        agent_id=agent_id,
        permissions=permissions_of(frozen),
    )


def test_roles_grant_what_the_adr_says() -> None:
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert ROLE_PERMISSIONS[Role.INTEGRATOR] == frozenset()
    ops = principal({"operations"}, {"acme"})
    assert ops.can(Permission.READ_OPERATIONS) and not ops.can(Permission.ACT)
    lead = principal({"lead"}, {"acme"})
    assert lead.can(Permission.REASSIGN) and not lead.can(Permission.MANAGE)
    assert permissions_of(frozenset({"emperor"})) == frozenset()


def test_an_agent_acts_only_as_themselves_an_admin_for_anyone() -> None:
    agent = principal({"agent"}, {"acme"}, agent_id="sanne")
    assert agent.may_act_as("sanne")
    assert not agent.may_act_as("daan")
    assert not principal({"operations"}, None, agent_id="sanne").may_act_as("sanne")
    assert principal({"admin"}, None).may_act_as("daan")


def test_brands_isolate_and_none_means_every_brand() -> None:
    agent = principal({"agent"}, {"acme"})
    assert agent.sees_brand("acme")
    assert not agent.sees_brand("globex")
    assert principal({"admin"}, None).sees_brand("globex")
    assert not principal({"agent"}, set()).sees_brand("acme")


def test_lockout_counts_failures_in_the_window_and_a_success_clears_them() -> None:
    now = [0.0]
    guard = SignInGuard(failures=3, window_s=60, rate_per_minute=1000, clock=lambda: now[0])
    for _ in range(2):
        guard.admit("kim", "1.2.3.4")
        guard.failed("kim")
    guard.succeeded("KIM")
    for _ in range(3):
        guard.admit("kim", "1.2.3.4")
        guard.failed("kim")
    with pytest.raises(TooManyRequestsError) as locked:
        guard.admit("Kim", "5.6.7.8")  # another address does not help
    assert locked.value.code == "account_locked"
    assert locked.value.retry_after_s == 60
    guard.admit("other", "1.2.3.4")  # other names are not locked
    now[0] = 61.0
    guard.admit("kim", "1.2.3.4")


def test_the_rate_limit_refills_over_time() -> None:
    now = [0.0]
    guard = SignInGuard(failures=100, window_s=60, rate_per_minute=2, clock=lambda: now[0])
    guard.admit("a", "ip")
    guard.admit("b", "ip")
    with pytest.raises(TooManyRequestsError) as limited:
        guard.admit("c", "ip")
    assert limited.value.code == "rate_limited"
    guard.admit("c", "another-ip")
    now[0] = 30.0
    guard.admit("c", "ip")


def test_tokens_are_checked_for_signature_type_and_expiry() -> None:
    signer = TokenSigner(lambda: SECRET)
    token, claims = signer.issue("user-1", "access", 60, epoch=3)
    verified = signer.verify(token, "access")
    assert (verified.subject, verified.epoch, verified.session_id) == (
        "user-1",
        3,
        claims.session_id,
    )
    with pytest.raises(UnauthenticatedError):
        signer.verify(token, "session")
    with pytest.raises(UnauthenticatedError):
        TokenSigner(lambda: b"x" * 32).verify(token, "access")
    with pytest.raises(UnauthenticatedError):
        signer.verify(token[:-2] + "xx", "access")
    yesterday = TokenSigner(lambda: SECRET, clock=lambda: time.time() - 86_400)
    old, _ = yesterday.issue("user-1", "access", 3600)
    with pytest.raises(UnauthenticatedError) as expired:
        signer.verify(old, "access")
    assert expired.value.code == "token_expired"


def test_a_csrf_token_belongs_to_one_session() -> None:
    signer = TokenSigner(lambda: SECRET)
    token = signer.csrf_token("session-a")
    assert signer.csrf_valid("session-a", token)
    assert not signer.csrf_valid("session-b", token)
    assert not signer.csrf_valid("session-a", None)
    assert not signer.csrf_valid("session-a", "")


def test_api_keys_parse_to_their_id_and_digest_only() -> None:
    key = new_api_key()
    assert parse_api_key(key.plaintext) == (key.key_id, key.secret_sha256)
    assert key.plaintext.split("_")[-1] not in key.secret_sha256
    assert parse_api_key("sc_short") is None
    assert parse_api_key("Bearer " + key.plaintext) is None


def test_passwords_are_argon2id_hashes() -> None:
    stored = hash_password("a long passphrase")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "a long passphrase")
    assert not verify_password(stored, "a long passphrasE")
    assert not verify_password(None, "anything")
    assert not verify_password("not a hash", "anything")
    assert not needs_rehash(stored)
