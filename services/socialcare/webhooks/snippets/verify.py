"""Verify a Socialcare webhook delivery (Python 3.9+, standard library only).

Socialcare signs every delivery with HMAC-SHA256 over "<timestamp>.<raw body>":

    X-Socialcare-Signature: t=1767225600,v1=<64 hex digits>

Several v1= entries may come (while a secret is rotated, the old one signs too); one
matching is enough. Verify over the raw body bytes exactly as received (never re-encoded
JSON), and refuse a timestamp more than five minutes from your clock (a replayed request).
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_S = 300


def verify_signature(
    secret: str,
    body: bytes,
    header: str | None,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when `header` (the X-Socialcare-Signature value) signs `body` (bytes) with
    `secret` (the subscription's secret, str) at a time within `tolerance_s` of `now`."""
    if not header:
        return False
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    # Compare with every entry in constant time; no early exit.
    wanted = expected.encode()
    matches = [hmac.compare_digest(wanted, s.encode("utf-8", "replace")) for s in signatures]
    return any(matches)


# Example, with any framework that gives you the raw body:
#
#     body = request.get_data()  # Flask; Django: request.body; FastAPI: await request.body()
#     if not verify_signature(SECRET, body, request.headers.get("X-Socialcare-Signature")):
#         return "bad signature", 401
#     delivery_id = request.headers["X-Socialcare-Delivery"]   # deduplicate on this
#     event = json.loads(body)           # a CloudEvents 1.0 envelope: event["type"], event["data"]
