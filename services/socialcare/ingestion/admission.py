"""Admission control: a bound on ingest work in flight, refused at once above it.

Without a bound, an ingestion process offered more than it can make durable keeps taking
requests: each waits (for a threadpool thread, for the bus) holding its body, its parsed
message and its connection, so memory and latency grow with the excess for as long as it
lasts, and every client times out together at the end. With it, a request is answered at
once, before its body is read, and nothing of it is written, when admitting it would take
the work in flight over

* `max_requests` requests or `max_bytes` bytes of bodies: the hard cap on memory, whatever
  the machine; or
* a standing queue: every answer of the last `_WINDOW_S` second took longer than
  `max_delay_s` while at least `MIN_QUEUE` requests are in flight. The fastest answer of a
  window is what a request waits at least (CoDel's measure): above the target, requests
  queue faster than they drain, on this machine now, which no fixed count can know (the
  same process answers ten times fewer requests when the services beside it in `run all`
  take the CPU). One slow answer (a cold start, a GC pause) does not count on its own: it
  takes `MIN_QUEUE` requests in flight for there to be a queue worth shedding.

The client learns now that it must come back, and what was admitted is served at the speed
it would have been anyway.

The refusal is HTTP 503 `overloaded` / gRPC UNAVAILABLE, not 429 / RESOURCE_EXHAUSTED:
429 says *this client* sends too much (a rate or quota of its own, which the channel
webhooks have), while here the process as a whole is full whoever sends, which is what 503
means ("temporarily unable to handle the request due to a temporary overload", RFC 9110
15.6.4). Clients already retry a 503 `bus_unavailable` after `Retry-After`; they need
nothing new for this one. `Retry-After` (and gRPC's `retry-after` trailing metadata) is the
time the work in flight takes to drain at the rate answers have been going out over the
last few seconds, rounded up, at least 1 s, at most `MAX_RETRY_AFTER_S`; with no answer in
that window (the bus is stuck) `RETRY_AFTER_S`.

What is counted is what a request holds from its arrival at the endpoint to its answer,
including its wait for a threadpool thread: a batch counts as one request and its body's
bytes, which is why there are two caps. A body without `Content-Length` (chunked) is
counted as `ASSUMED_BODY_BYTES`. Refusals are counted in `socialcare_ingest_shed_total` by
door and by the bound that was hit (requests, bytes, delay);
`socialcare_ingest_in_flight_requests` is the work admitted and not yet answered.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge

from socialcare.core.errors import RETRY_AFTER_S, UnavailableError

DEFAULT_MAX_REQUESTS = 256
"""Requests in flight per process: the hard cap on memory. A single-message request holds a
few tens of KB (body, parsed message, connection), so a few MB at the cap. It is not what
refuses first in an ordinary overload, the delay bound is: in `bench/overload.py` (`run
all` at 1.5x its knee for 300 s, two clients of up to 512 connections) every refusal was
`delay`; with admission off, the same load had answers wait up to the clients' 10 s
timeout, i.e. ~750 requests in flight. The cap acts when answers stop altogether (a bus
stuck until the flush timeout) and no answer times the queue.
"""

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""Request bodies in flight per process: 64 full batches of 500 messages of ~1 KB; the
single-message bound above is reached long before this one."""

ASSUMED_BODY_BYTES = 64 * 1024
"""What a body of unknown length (chunked) is assumed to weigh against `max_bytes`."""

DEFAULT_MAX_DELAY_S = 0.5
"""A request answered in 10-30 ms on an idle process (a group commit included): half a
second as the *fastest* answer of a whole second means a queue twenty times the work."""

MIN_QUEUE = 16
"""Requests in flight below which the delay bound does not refuse (see the docstring)."""

MAX_RETRY_AFTER_S = 60
_RATE_WINDOW_S = 5.0
_WINDOW_S = 1.0

INGEST_SHED = Counter(
    "socialcare_ingest_shed_total",
    "Ingest requests refused at once because the process had too much work in flight "
    "(HTTP 503 overloaded / gRPC UNAVAILABLE, nothing written), by door (rest, grpc) and "
    "the limit reached (requests, bytes, delay).",
    ["door", "limit"],
)
IN_FLIGHT = Gauge(
    "socialcare_ingest_in_flight_requests",
    "Ingest requests admitted and not yet answered (REST and gRPC together).",
)


class OverloadedError(UnavailableError):
    """The process has as much ingest work in flight as it may hold: 503 `overloaded` /
    UNAVAILABLE; nothing of the request was written; retry after `retry_after_s`."""

    default_code = "overloaded"


class Admission:
    """The bound, shared by every door of one ingestion process; thread-safe (the REST
    event loop and the gRPC worker threads admit and release concurrently)."""

    def __init__(
        self,
        *,
        max_requests: int = DEFAULT_MAX_REQUESTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_delay_s: float = DEFAULT_MAX_DELAY_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.max_delay_s = max_delay_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._requests = 0
        self._bytes = 0
        # The fastest answer of the window that began at _window_start (inf: none yet), and
        # of the whole window before it (the standing delay; 0 when it had no answer).
        self._window_start = monotonic()
        self._window_fastest = math.inf
        self._standing_s = 0.0
        # Answers per whole second of the monotonic clock, the last _RATE_WINDOW_S of them.
        self._answered: collections.deque[list[int]] = collections.deque()

    @property
    def in_flight(self) -> tuple[int, int]:
        """Requests and bytes admitted and not yet released."""
        with self._lock:
            return self._requests, self._bytes

    @contextmanager
    def admitted(self, door: str, body_bytes: int | None) -> Iterator[None]:
        """Hold room for one request of `body_bytes` (None: unknown) while the block runs,
        released however it ends (answer, error, cancellation).

        Raises OverloadedError, holding nothing, when the room is not there. One request
        is always admitted when nothing is in flight, whatever its size, so a body larger
        than `max_bytes` is refused by the endpoint's own limits, never starved here.
        """
        size = ASSUMED_BODY_BYTES if body_bytes is None else max(0, body_bytes)
        with self._lock:
            admitted_at = self._monotonic()
            self._roll_window(admitted_at)
            if limit := self._limit_reached(size):
                retry_after_s = self._retry_after_s()
                INGEST_SHED.labels(door, limit).inc()
                raise OverloadedError(
                    f"ingestion is overloaded ({self._requests} requests in flight, limit "
                    f"{limit}); nothing was accepted, retry in {retry_after_s} s",
                    retry_after_s=retry_after_s,
                )
            self._requests += 1
            self._bytes += size
        IN_FLIGHT.inc()
        try:
            yield
        finally:
            with self._lock:
                self._requests -= 1
                self._bytes -= size
                self._note_answer(admitted_at)
            IN_FLIGHT.dec()

    def _limit_reached(self, size: int) -> str | None:
        """Which bound admitting `size` more would break (the Prometheus label), or None;
        with nothing in flight, none (called with the lock held)."""
        if not self._requests:
            return None
        if self._requests >= self.max_requests:
            return "requests"
        if self._bytes + size > self.max_bytes:
            return "bytes"
        if self._requests >= MIN_QUEUE and self._standing_s > self.max_delay_s:
            return "delay"
        return None

    def _roll_window(self, now: float) -> None:
        """Close the current delay window if it is over: its fastest answer becomes the
        standing delay; a window with no answer, or a gap of more than a window since, says
        there is no queue of answers to judge (the count bound still holds)."""
        elapsed = now - self._window_start
        if elapsed < _WINDOW_S:
            return
        fastest = self._window_fastest
        self._standing_s = fastest if elapsed < 2 * _WINDOW_S and fastest < math.inf else 0.0
        self._window_start = now
        self._window_fastest = math.inf

    def _note_answer(self, admitted_at: float) -> None:
        now = self._monotonic()
        self._roll_window(now)
        self._window_fastest = min(self._window_fastest, now - admitted_at)
        second = int(now)
        if self._answered and self._answered[-1][0] == second:
            self._answered[-1][1] += 1
        else:
            self._answered.append([second, 1])
        self._forget_before(second)

    def _forget_before(self, second: int) -> None:
        while self._answered and self._answered[0][0] <= second - _RATE_WINDOW_S:
            self._answered.popleft()

    def _retry_after_s(self) -> int:
        """Seconds for the work in flight to drain at the recent answer rate (see the
        module docstring); called with the lock held."""
        now = self._monotonic()
        self._forget_before(int(now))
        answered = sum(count for _, count in self._answered)
        if not answered:
            return RETRY_AFTER_S
        span = max(1.0, now - self._answered[0][0])
        drain_s = self._requests / (answered / span)
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(drain_s)))
