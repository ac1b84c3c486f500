"""Brakes on password guessing: a lockout per username and a rate limit per client address.

Both are kept in memory per process (ADR 0007): with N gateway replicas behind a load
balancer an attacker gets at most N times the allowance, which still turns an online
guessing attack from millions of tries into a handful per quarter hour. Keeping them on
the bus would make every failed sign-in a write that every process replays.

* Lockout: `failures` failed sign-ins of one username within `window_s` lock it for
  `window_s` from the last failure; a success clears the count. Unknown usernames are
  counted too, so a locked answer does not reveal whether a name exists. While locked,
  even the right password is refused (otherwise the lock would only slow the guesser).
* Rate limit: a token bucket per client address (`rate_per_minute`, burst of the same
  size) on every sign-in attempt, right or wrong.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from socialcare.core.errors import TooManyRequestsError

# Bound the memory an attacker can make us spend on distinct names and addresses.
_MAX_TRACKED = 100_000


@dataclass
class _Failures:
    count: int
    last: float


class SignInGuard:
    """Thread-safe; `clock` is monotonic seconds (injectable for tests)."""

    def __init__(
        self,
        *,
        failures: int,
        window_s: float,
        rate_per_minute: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_failures = failures
        self._window_s = window_s
        self._rate_per_s = rate_per_minute / 60.0
        self._burst = max(1.0, rate_per_minute)
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def admit(self, username: str, client: str) -> None:
        """Call before checking a password. Raises TooManyRequestsError (429) when the
        client address is over its rate (`rate_limited`) or the username is locked
        (`account_locked`), with the seconds until it may try again."""
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.pop(client, (self._burst, now))
            tokens = min(self._burst, tokens + (now - stamp) * self._rate_per_s)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / self._rate_per_s
                raise TooManyRequestsError(
                    "too many sign-in attempts from this address; wait and try again",
                    code="rate_limited",
                    retry_after_s=max(1, round(wait + 0.5)),
                )
            self._buckets[client] = (tokens - 1.0, now)
            _trim(self._buckets)
            locked_for = self._locked_for(username.lower(), now)
        if locked_for > 0:
            raise TooManyRequestsError(
                "this account is locked after repeated failed sign-ins; try again later",
                code="account_locked",
                retry_after_s=max(1, round(locked_for + 0.5)),
            )

    def failed(self, username: str) -> None:
        now = self._clock()
        name = username.lower()
        with self._lock:
            entry = self._failures.pop(name, None)
            if entry is None or now - entry.last > self._window_s:
                entry = _Failures(0, now)
            entry.count += 1
            entry.last = now
            self._failures[name] = entry
            _trim(self._failures)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username.lower(), None)

    def _locked_for(self, name: str, now: float) -> float:
        entry = self._failures.get(name)
        if entry is None or entry.count < self._max_failures:
            return 0.0
        return max(0.0, entry.last + self._window_s - now)


def _trim(entries: OrderedDict[str, Any]) -> None:
    while len(entries) > _MAX_TRACKED:
        entries.popitem(last=False)
