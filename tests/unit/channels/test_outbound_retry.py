"""Backoff with full jitter, Retry-After as a floor, attempts and budget as limits."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from socialcare.core.retry import RetryPolicy, parse_reset_epoch, parse_retry_after

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_backoff_is_jittered_below_a_doubling_capped_ceiling() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=4.0, rand=random.Random(3))
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        waits = [policy.backoff(attempt) for _ in range(200)]
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # full jitter spans the range


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base_s=0.5, budget_s=100, rand=random.Random(1))
    assert policy.next_wait(1, elapsed_s=0, retry_after_s=9.0) == 9.0


def test_gives_up_when_attempts_are_used_up() -> None:
    policy = RetryPolicy(max_attempts=3, rand=random.Random(1))
    assert policy.next_wait(2, elapsed_s=0, retry_after_s=None) is not None
    assert policy.next_wait(3, elapsed_s=0, retry_after_s=None) is None


def test_gives_up_when_the_wait_would_overrun_the_budget() -> None:
    policy = RetryPolicy(budget_s=10, rand=random.Random(1))
    assert policy.next_wait(1, elapsed_s=2, retry_after_s=8.0) == 8.0
    assert policy.next_wait(1, elapsed_s=2, retry_after_s=8.5) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("Mon, 23 Nov 2026 09:00:30 GMT", 30.0),
        ("Mon, 23 Nov 2026 08:00:00 GMT", 0.0),  # already past
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_parse_reset_epoch() -> None:
    assert parse_reset_epoch(str(int(NOW.timestamp()) + 60), NOW) == 60.0
    assert parse_reset_epoch("x", NOW) is None


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
