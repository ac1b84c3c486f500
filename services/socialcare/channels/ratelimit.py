"""How fast a webhook sender may post: a token bucket per (connector, source).

One misbehaving sender (a review site re-posting its whole history in a loop, a
mis-configured forum plugin) must not take the ingestion door from everyone else, so each
sender has its own bucket: `burst` requests at once, refilled at `rate_per_s`. A request
that finds the bucket empty is refused with 429 and `Retry-After` saying when a token will
be there; the platforms and our generic senders retry, so nothing is lost, only delayed.

Buckets live in the process (each replica limits on its own: with N replicas a sender may
reach N times the rate, which is the point of adding replicas). Keys come from the
configuration (connector names, brands, sources), never from the request, so the table
cannot grow without bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

RateKey = tuple[str, str]
"""(connector, source): e.g. `("meta", "energieloket")`, `("generic", "acme/forum")`."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by key; thread-safe (the REST threadpool and the event loop share it).

    `monotonic` is the time source in seconds (injectable for tests).
    """

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._buckets: dict[RateKey, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: RateKey, *, rate_per_s: float, burst: int) -> float:
        """Take one token from `key`'s bucket: 0.0 when granted, otherwise the seconds until
        a token will be there (nothing is taken then). A new key starts with a full bucket.
        """
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=float(burst), updated=now)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(burst), bucket.tokens + elapsed * rate_per_s)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate_per_s


def retry_after_s(wait_s: float) -> int:
    """`Retry-After` in whole seconds (at least 1) for a wait `acquire` returned."""
    return max(1, math.ceil(wait_s))
