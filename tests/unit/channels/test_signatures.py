"""Webhook signatures against published HMAC-SHA256 vectors, and the token bucket.

The vectors are independent of our code: RFC 4231 test case 2 (key "Jefe") and the
`compute_signature("test", "secret")` example of the whatsapp_sdk documentation, so a
mistake in how a header is built (hex vs base64, a prefix, key and message swapped) fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading

import pytest

from socialcare.channels import signatures
from socialcare.channels.ratelimit import RateLimiter, retry_after_s

# RFC 4231, test case 2: HMAC-SHA256(key="Jefe", data="what do ya want for nothing?").
RFC_KEY = "Jefe"
RFC_DATA = b"what do ya want for nothing?"
RFC_HEX = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
RFC_BASE64 = base64.b64encode(bytes.fromhex(RFC_HEX)).decode()


def test_meta_signature_is_sha256_and_the_hex_hmac_with_the_app_secret() -> None:
    assert signatures.meta_signature(RFC_KEY, RFC_DATA) == f"sha256={RFC_HEX}"
    # whatsapp_sdk's documented example (payload "test", app secret "secret").
    assert signatures.meta_signature("secret", b"test") == (
        "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
    )


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        (f"sha256={RFC_HEX}", True),
        (f"sha256={RFC_HEX.upper()}", True),  # hex is case-insensitive
        (f" sha256={RFC_HEX} ", True),
        (RFC_HEX, False),  # no prefix
        (f"sha1={RFC_HEX}", False),
        (f"sha256={RFC_HEX[:-1]}0", False),
        (f"sha256={RFC_BASE64}", False),
        ("sha256=ä€\udcff", False),  # not ASCII: refused, not an exception
        ("", False),
        (None, False),
    ],
)
def test_verify_meta(header: str | None, valid: bool) -> None:
    assert signatures.verify_meta(RFC_KEY, RFC_DATA, header) is valid


def test_verify_meta_refuses_another_body_or_secret() -> None:
    header = signatures.meta_signature(RFC_KEY, RFC_DATA)
    assert not signatures.verify_meta(RFC_KEY, RFC_DATA + b" ", header)
    assert not signatures.verify_meta("jefe", RFC_DATA, header)


def test_x_signature_is_sha256_and_the_base64_hmac_with_the_consumer_secret() -> None:
    assert signatures.x_signature(RFC_KEY, RFC_DATA) == f"sha256={RFC_BASE64}"
    assert signatures.verify_x(RFC_KEY, RFC_DATA, f"sha256={RFC_BASE64}")
    # base64 is case-sensitive, and hex is not what X sends.
    assert not signatures.verify_x(RFC_KEY, RFC_DATA, f"sha256={RFC_BASE64.lower()}")
    assert not signatures.verify_x(RFC_KEY, RFC_DATA, f"sha256={RFC_HEX}")
    assert not signatures.verify_x(RFC_KEY, RFC_DATA + b"x", f"sha256={RFC_BASE64}")
    assert not signatures.verify_x(RFC_KEY, RFC_DATA, None)


def test_x_crc_response_signs_the_crc_token() -> None:
    answer = signatures.x_crc_response(RFC_KEY, RFC_DATA.decode())
    assert answer == {"response_token": f"sha256={RFC_BASE64}"}


def test_linkedin_challenge_response_is_the_hex_hmac_of_the_challenge_code() -> None:
    answer = signatures.linkedin_challenge_response(RFC_KEY, RFC_DATA.decode())
    assert answer == {"challengeCode": RFC_DATA.decode(), "challengeResponse": RFC_HEX}


def test_linkedin_signature_accepts_both_readings_of_the_documentation() -> None:
    body = b'{"type":"ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS"}'
    literal = signatures.linkedin_signature(RFC_KEY, body)
    # The literal reading: the prefix is part of the signed message.
    other = signatures.linkedin_signature(RFC_KEY, b"")
    assert literal != other and len(literal) == 64
    assert signatures.verify_linkedin(RFC_KEY, body, literal)
    # The other reading: the header is the prefix and the HMAC of the body alone. Checked
    # with the RFC vector (the body is the RFC's data).
    assert signatures.verify_linkedin(RFC_KEY, RFC_DATA, f"hmacsha256={RFC_HEX}")
    # The HMAC of the body alone without the prefix is neither reading.
    assert not signatures.verify_linkedin(RFC_KEY, RFC_DATA, RFC_HEX)
    assert not signatures.verify_linkedin("other", body, literal)
    assert not signatures.verify_linkedin(RFC_KEY, body + b" ", literal)
    assert not signatures.verify_linkedin(RFC_KEY, body, None)


def test_the_linkedin_literal_reading_signs_the_prefixed_body() -> None:
    body = b'{"notificationId":1}'
    expected = hmac.new(b"Jefe", b"hmacsha256=" + body, hashlib.sha256).hexdigest()
    assert signatures.linkedin_signature(RFC_KEY, body) == expected


NOW = 1_764_150_000


def test_generic_signature_signs_the_timestamp_and_the_body() -> None:
    header = signatures.generic_signature(RFC_KEY, b"what do ya want for nothing?", timestamp=0)
    # With timestamp 0 the signed message is "0." + body.
    expected = signatures.hmac_sha256(RFC_KEY, b"0." + RFC_DATA).hex()
    assert header == f"t=0,v1={expected}"
    assert signatures.verify_generic(RFC_KEY, RFC_DATA, header, now=0)


@pytest.mark.parametrize("skew", [-300, -1, 0, 1, 300])
def test_generic_signature_within_five_minutes_is_accepted(skew: int) -> None:
    header = signatures.generic_signature("s3cret", b"{}", timestamp=NOW + skew)
    assert signatures.verify_generic("s3cret", b"{}", header, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, -86_400])
def test_generic_signature_outside_five_minutes_is_refused(skew: int) -> None:
    header = signatures.generic_signature("s3cret", b"{}", timestamp=NOW + skew)
    assert not signatures.verify_generic("s3cret", b"{}", header, now=NOW)


def test_generic_signature_binds_the_timestamp() -> None:
    """Moving `t` forward to replay an old request breaks the signature."""
    old = signatures.generic_signature("s3cret", b"{}", timestamp=NOW - 3600)
    replayed = old.replace(f"t={NOW - 3600}", f"t={NOW}")
    assert not signatures.verify_generic("s3cret", b"{}", replayed, now=NOW)


def test_generic_signature_accepts_any_of_several_v1_during_a_secret_rotation() -> None:
    new = signatures.generic_signature("new", b"{}", timestamp=NOW)
    old = signatures.generic_signature("old", b"{}", timestamp=NOW)
    header = f"t={NOW},v1={old.rpartition('v1=')[2]},v1={new.rpartition('v1=')[2]}"
    assert signatures.verify_generic("new", b"{}", header, now=NOW)
    assert signatures.verify_generic("old", b"{}", header, now=NOW)
    assert not signatures.verify_generic("other", b"{}", header, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=abc",
        f"t={NOW}",
        f"t=soon,v1={'0' * 64}",
        f"t=-{NOW},v1={'0' * 64}",
        f"t={'9' * 40},v1={'0' * 64}",
        f"t=١٢٣,v1={'0' * 64}",  # Arabic-Indic digits: isdigit() but not a timestamp
        "t=\udcff,v1=\udcff",
        ",,,===",
    ],
)
def test_generic_signature_garbage_is_refused_without_an_exception(header: str | None) -> None:
    assert not signatures.verify_generic("s3cret", b"{}", header, now=NOW)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_the_burst_then_says_when_to_retry() -> None:
    clock = FakeMonotonic()
    limiter = RateLimiter(monotonic=clock)
    key = ("generic", "acme/forum")
    granted = [limiter.acquire(key, rate_per_s=2.0, burst=3) for _ in range(3)]
    assert granted == [0.0, 0.0, 0.0]
    wait = limiter.acquire(key, rate_per_s=2.0, burst=3)
    assert wait == pytest.approx(0.5)
    assert retry_after_s(wait) == 1
    clock.now += 0.25
    assert limiter.acquire(key, rate_per_s=2.0, burst=3) == pytest.approx(0.25)
    clock.now += 0.25
    assert limiter.acquire(key, rate_per_s=2.0, burst=3) == 0.0
    # A long pause refills to the burst, not beyond.
    clock.now += 3600
    assert [limiter.acquire(key, rate_per_s=2.0, burst=3) for _ in range(4)][-1] > 0


def test_token_buckets_are_per_key() -> None:
    limiter = RateLimiter(monotonic=FakeMonotonic())
    assert limiter.acquire(("meta", "a"), rate_per_s=1.0, burst=1) == 0.0
    assert limiter.acquire(("meta", "a"), rate_per_s=1.0, burst=1) > 0
    assert limiter.acquire(("meta", "b"), rate_per_s=1.0, burst=1) == 0.0
    assert limiter.acquire(("x", "a"), rate_per_s=1.0, burst=1) == 0.0


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_s(0.001) == 1
    assert retry_after_s(1.0) == 1
    assert retry_after_s(1.2) == 2
    assert retry_after_s(120.0) == 120


def test_token_bucket_grants_exactly_the_burst_to_concurrent_callers() -> None:
    limiter = RateLimiter(monotonic=FakeMonotonic())  # time stands still: no refill
    granted: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            wait = limiter.acquire(("generic", "s"), rate_per_s=1.0, burst=100)
            with lock:
                granted.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 400
    assert granted.count(0.0) == 100


def test_token_bucket_refuses_a_nonsense_rate() -> None:
    limiter = RateLimiter()
    with pytest.raises(ValueError):
        limiter.acquire(("x", "a"), rate_per_s=0, burst=1)
    with pytest.raises(ValueError):
        limiter.acquire(("x", "a"), rate_per_s=1, burst=0)
