"""Who sent a webhook: the HMAC-SHA256 signatures each platform puts on its requests.

A webhook URL is public, so a request is believed only when it carries a signature made
with a secret the sender and we share. Every scheme here is HMAC-SHA256 over the raw body
bytes exactly as received (never over re-serialised JSON: key order and escapes would
differ), compared in constant time (`hmac.compare_digest`). The platforms document:

* Meta (Facebook, Instagram, WhatsApp): header `X-Hub-Signature-256:
  sha256=<hex HMAC(app secret, body)>`. The subscription handshake is a GET with
  `hub.mode=subscribe`, `hub.verify_token` (a token we chose) and `hub.challenge` (echoed).
* X (Account Activity API): header `x-twitter-webhooks-signature:
  sha256=<base64 HMAC(consumer secret, body)>`. The challenge-response check (CRC) is a GET
  with `crc_token`, answered `{"response_token": "sha256=<base64 HMAC(consumer secret,
  crc_token)>"}`.
* LinkedIn: header `X-LI-Signature`, which LinkedIn's page describes as "the HMACSHA256
  hash of the JSON-encoded string representation of the POST body prefixed by
  `hmacsha256=`", computed with the app's client secret. The sentence reads two ways and
  implementations in the wild use both: hex HMAC of `hmacsha256=` + body (the literal
  reading, which `linkedin_signature` produces), or `hmacsha256=` + hex HMAC of the body.
  `verify_linkedin` accepts either: both need the client secret, so neither weakens the
  check. The validation handshake is a GET with `challengeCode`, answered
  `{"challengeCode", "challengeResponse": <hex HMAC(client secret, challengeCode)>}`.
* Generic sources (ours, for forums, review sites and any system that can sign):
  header `X-Socialcare-Signature: t=<unix seconds>,v1=<hex HMAC(secret, "<t>." + body)>`.
  The timestamp is signed with the body, and a signature older (or newer) than
  `GENERIC_TOLERANCE_S` (5 minutes) is refused, so a captured request cannot be replayed
  later; within the window a replay is a duplicate the ingestor recognises (message ids
  come from channel + external id). Several `v1=` entries may be sent (a sender rotating
  its secret signs with both); one matching is enough. Our outbound replies to a source's
  `reply_url` are signed the same way (`generic_signature`). This scheme, and the HMAC and
  constant-time helpers every scheme here uses, live in `socialcare.core.signing` (the
  notifications of escalation sign their webhooks with it too) and are re-exported here.
"""

from __future__ import annotations

import base64

from socialcare.core.signing import (
    GENERIC_HEADER,
    GENERIC_TOLERANCE_S,
    constant_time_equal,
    generic_signature,
    hmac_sha256,
    verify_generic,
)

__all__ = [
    "GENERIC_HEADER",
    "GENERIC_TOLERANCE_S",
    "LINKEDIN_HEADER",
    "META_HEADER",
    "X_HEADER",
    "constant_time_equal",
    "generic_signature",
    "hmac_sha256",
    "linkedin_challenge_response",
    "linkedin_signature",
    "meta_signature",
    "verify_generic",
    "verify_linkedin",
    "verify_meta",
    "verify_x",
    "x_crc_response",
    "x_signature",
]

META_HEADER = "X-Hub-Signature-256"
X_HEADER = "x-twitter-webhooks-signature"
LINKEDIN_HEADER = "X-LI-Signature"

_SHA256 = "sha256="
_LINKEDIN_PREFIX = "hmacsha256="


# Meta ----------------------------------------------------------------------------------


def meta_signature(secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256` for `body`: `sha256=<hex>`."""
    return _SHA256 + hmac_sha256(secret, body).hex()


def verify_meta(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is Meta's signature of `body` with the app secret."""
    if header is None:
        return False
    # Hex is case-insensitive; Meta sends lower case.
    return constant_time_equal(meta_signature(secret, body), header.strip().lower())


# X -------------------------------------------------------------------------------------


def x_signature(secret: str, body: bytes) -> str:
    """`x-twitter-webhooks-signature` for `body`: `sha256=<base64>`."""
    return _SHA256 + base64.b64encode(hmac_sha256(secret, body)).decode()


def verify_x(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is X's signature of `body` with the consumer secret."""
    return header is not None and constant_time_equal(x_signature(secret, body), header.strip())


def x_crc_response(secret: str, crc_token: str) -> dict[str, str]:
    """The JSON answer to X's challenge-response check."""
    return {"response_token": x_signature(secret, crc_token.encode())}


# LinkedIn ------------------------------------------------------------------------------


def linkedin_signature(secret: str, body: bytes) -> str:
    """`X-LI-Signature` for `body`: hex HMAC of `hmacsha256=` + body (see the module
    docstring for the other reading, which `verify_linkedin` also accepts)."""
    return hmac_sha256(secret, _LINKEDIN_PREFIX.encode() + body).hex()


def verify_linkedin(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is LinkedIn's signature of `body` with the client secret, in
    either of the forms the documentation's wording allows."""
    if header is None:
        return False
    given = header.strip().lower()
    literal = constant_time_equal(linkedin_signature(secret, body), given)
    prefixed = constant_time_equal(_LINKEDIN_PREFIX + hmac_sha256(secret, body).hex(), given)
    return literal or prefixed


def linkedin_challenge_response(secret: str, challenge_code: str) -> dict[str, str]:
    """The JSON answer to LinkedIn's webhook validation."""
    return {
        "challengeCode": challenge_code,
        "challengeResponse": hmac_sha256(secret, challenge_code.encode()).hex(),
    }
