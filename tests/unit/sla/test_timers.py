"""The timer wheel: never early, in instant order, exact to the ms across bucket edges."""

from __future__ import annotations

import random

import pytest

from socialcare.sla.timers import BUCKET_BITS, MAX_REF, TimerWheel

BASE = 1_795_420_000_000  # ms, late 2026


def test_timers_fire_at_or_after_their_instant_in_order() -> None:
    wheel = TimerWheel()
    wheel.add(BASE + 5000, 2)
    wheel.add(BASE + 10, 1)
    wheel.add(BASE + 5000, 3)
    assert list(wheel.due(BASE + 9)) == []
    assert list(wheel.due(BASE + 10)) == [(BASE + 10, 1)]
    assert list(wheel.due(BASE + 4999)) == []
    assert sorted(wheel.due(BASE + 10**9)) == [(BASE + 5000, 2), (BASE + 5000, 3)]
    assert len(wheel) == 0 and wheel.next_instant() is None


def test_a_partly_due_bucket_keeps_its_rest_and_takes_new_timers() -> None:
    bucket = (BASE >> BUCKET_BITS) + 1
    start = bucket << BUCKET_BITS
    wheel = TimerWheel()
    for offset in (300, 100, 200):
        wheel.add(start + offset, offset)
    assert list(wheel.due(start + 150)) == [(start + 100, 100)]
    wheel.add(start + 120, 120)  # already due, added to the bucket being drained
    assert list(wheel.due(start + 250)) == [(start + 120, 120), (start + 200, 200)]
    assert wheel.next_instant() == start + 300
    assert list(wheel.due(start + (1 << BUCKET_BITS) + 1)) == [(start + 300, 300)]


def test_random_timers_match_a_sorted_list_whatever_the_tick_cadence() -> None:
    rng = random.Random(7)
    instants = [BASE + rng.randrange(0, 3_600_000) for _ in range(5000)]
    wheel = TimerWheel()
    for ref, instant in enumerate(instants):
        wheel.add(instant, ref)
    fired: list[tuple[int, int]] = []
    now = BASE
    while len(fired) < len(instants):
        now += rng.randrange(1, 120_000)
        batch = list(wheel.due(now))
        assert all(instant <= now for instant, _ in batch), "never early"
        fired.extend(batch)
        pending = wheel.next_instant()
        assert pending is None or pending > now
    assert sorted(fired) == sorted((instant, ref) for ref, instant in enumerate(instants))


def test_refs_must_fit() -> None:
    wheel = TimerWheel()
    wheel.add(BASE, MAX_REF)
    with pytest.raises(ValueError):
        wheel.add(BASE, MAX_REF + 1)
