"""A timer wheel for a million SLA instants: 8 bytes per pending timer, exact to the ms.

Why not a heap of tuples: a `(datetime, str)` tuple in a list costs ~150 bytes per timer,
and a heap cannot delete. Here a timer is one packed int64 in an `array('q')` bucket:

    entry = (instant_ms - bucket_start_ms) << 47 | ref        (ref < 2**47)

Buckets span `2**16` ms (~65 s), so the offset fits 16 bits and the exact instant is kept:
a timer never fires early, and fires on the first `due(now)` call at or after it. What
bounds the lag is therefore only how often the owner calls `due` (the consumer loop's tick:
after every poll, i.e. at most `poll_timeout_s` plus the batch's processing apart).

Deletion is lazy: the owner encodes in `ref` whatever lets it tell a stale timer (a clock
that was restarted, paused or stopped since) and skips it when it comes back from `due`.
Bucket keys sit in a small heap (one int per non-empty bucket), so finding the due buckets
costs O(log buckets), and a bucket is sorted once when it becomes the current one.
"""

from __future__ import annotations

import bisect
import heapq
from array import array
from collections.abc import Iterator

BUCKET_BITS = 16
REF_BITS = 47
MAX_REF = (1 << REF_BITS) - 1
_OFFSET_MASK = (1 << BUCKET_BITS) - 1


class TimerWheel:
    """Pending (instant, ref) timers; `due(now_ms)` yields the refs of those at or before
    `now_ms`, in instant order."""

    __slots__ = ("_buckets", "_count", "_keys", "_sorted")

    def __init__(self) -> None:
        self._buckets: dict[int, array[int]] = {}
        self._keys: list[int] = []
        # Buckets whose array is sorted (the current one, once drained partly).
        self._sorted: set[int] = set()
        self._count = 0

    def __len__(self) -> int:
        """Entries held, stale ones included (they go when their bucket comes due)."""
        return self._count

    def add(self, instant_ms: int, ref: int) -> None:
        if not 0 <= ref <= MAX_REF:
            raise ValueError(f"timer ref {ref} does not fit {REF_BITS} bits")
        key = instant_ms >> BUCKET_BITS
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = array("q")
            heapq.heappush(self._keys, key)
        bucket.append(((instant_ms & _OFFSET_MASK) << REF_BITS) | ref)
        self._sorted.discard(key)
        self._count += 1

    def due(self, now_ms: int) -> Iterator[tuple[int, int]]:
        """(instant_ms, ref) of every timer at or before `now_ms`, removed as yielded.

        Consume it fully: the current bucket's not-yet-due rest is put back at the end."""
        now_key = now_ms >> BUCKET_BITS
        while self._keys and self._keys[0] <= now_key:
            key = self._keys[0]
            bucket = self._buckets[key]
            base = key << BUCKET_BITS
            if key < now_key:
                heapq.heappop(self._keys)
                del self._buckets[key]
                self._sorted.discard(key)
                self._count -= len(bucket)
                for entry in sorted(bucket):
                    yield base + (entry >> REF_BITS), entry & MAX_REF
                continue
            # The bucket of `now`: fire its prefix up to now, keep the rest (sorted).
            if key not in self._sorted:
                bucket = array("q", sorted(bucket))
                self._buckets[key] = bucket
                self._sorted.add(key)
            limit = ((now_ms & _OFFSET_MASK) + 1) << REF_BITS  # first entry not due yet
            cut = bisect.bisect_left(bucket, limit)
            if cut == 0:
                return
            fired = bucket[:cut]
            del bucket[:cut]
            self._count -= cut
            if not bucket:
                heapq.heappop(self._keys)
                del self._buckets[key]
                self._sorted.discard(key)
            for entry in fired:
                yield base + (entry >> REF_BITS), entry & MAX_REF
            return

    def next_instant(self) -> int | None:
        """The earliest pending instant (ms), stale entries included; None when empty."""
        if not self._keys:
            return None
        key = self._keys[0]
        return (key << BUCKET_BITS) + (min(self._buckets[key]) >> REF_BITS)
