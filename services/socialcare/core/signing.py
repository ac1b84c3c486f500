"""Our webhook signature: HMAC-SHA256 over a timestamp and the raw body.

The generic scheme, shared by the channels (generic sources sign the webhooks they send us;
our replies to a source's `reply_url` are signed with it, see `channels/signatures.py` for
the platforms' own schemes) and by escalation (notifications posted to a webhook target):
a receiver verifies either with the same code.

Header `X-Socialcare-Signature: t=<unix seconds>,v1=<hex HMAC(secret, "<t>." + body)>`,
over the raw body bytes exactly as sent (never over re-serialised JSON: key order and
escapes would differ), compared in constant time (`hmac.compare_digest`). The timestamp is
signed with the body, and a signature older (or newer) than `GENERIC_TOLERANCE_S`
(5 minutes) is refused, so a captured request cannot be replayed later; within the window
a replay is a duplicate the receiver recognises (message ids come from channel + external
id). Several `v1=` entries may be sent (a sender rotating its secret signs with both); one
matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac

GENERIC_HEADER = "X-Socialcare-Signature"
GENERIC_TOLERANCE_S = 300


def hmac_sha256(secret: str, message: bytes) -> bytes:
    """The raw HMAC-SHA256 digest of `message` keyed with `secret` (UTF-8)."""
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def constant_time_equal(expected: str, given: str) -> bool:
    """Constant-time equality of an ASCII signature we computed and a header value (which
    may hold any character: `compare_digest` refuses non-ASCII `str`, so compare bytes)."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def generic_signature(secret: str, body: bytes, *, timestamp: int) -> str:
    """`X-Socialcare-Signature` for `body` sent at `timestamp` (Unix seconds)."""
    digest = hmac_sha256(secret, f"{timestamp}.".encode() + body).hex()
    return f"t={timestamp},v1={digest}"


def verify_generic(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now: float,
    tolerance_s: float = GENERIC_TOLERANCE_S,
) -> bool:
    """True when `header` carries a timestamp within `tolerance_s` of `now` and a `v1`
    signature of that timestamp and `body` with `secret`."""
    if header is None:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance_s:
        return False
    expected = generic_signature(secret, body, timestamp=timestamp).rpartition("v1=")[2]
    # Check every candidate (no early exit), so timing says nothing about which matched.
    matches = [constant_time_equal(expected, candidate) for candidate in candidates]
    return any(matches)
