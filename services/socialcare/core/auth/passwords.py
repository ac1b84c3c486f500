"""Password hashes (argon2id) and generated passwords.

argon2id with argon2-cffi's default cost (RFC 9106's second recommendation: 64 MiB, 3
passes), stored as PHC strings, so the cost can be raised later: a hash made with older
parameters still verifies and `needs_rehash` says to store a new one at the next sign-in.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

# Verified against when the username is unknown, so an unknown name costs as long as a
# wrong password and the answer time does not tell which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches `stored_hash`; always does the work of one
    verification, also when there is no hash (unknown user, OIDC-only user)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and bool(stored_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def generate_password() -> str:
    """A password to print once: 20 URL-safe characters (~120 bits)."""
    return secrets.token_urlsafe(15)
