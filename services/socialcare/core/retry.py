"""When to try a platform call again: exponential backoff with full jitter, the platform's
own Retry-After honoured, bounded by a number of attempts and a total time budget.

Full jitter (a random wait between 0 and the capped exponential) spreads the retries of many
replies that failed together, so a platform that just came back is not hit by all of them
at once. A Retry-After (seconds or an HTTP-date) is a floor: waiting less only earns another
429. The budget bounds how long one reply may hold up its batch (the consumer loop commits
nothing until every reply of the batch is settled), so a platform that stays down turns
into FAILED deliveries the agent can see, not a stalled connector.

Shared: the channels' outbound replies and escalation's notifications (webhooks, e-mail)
retry with it; the words above are the replies' case, a notification's are the same.

Pure apart from the injected `random` source, so tests pin the waits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one reply.

    `max_attempts` counts every call (the first included); `budget_s` bounds the time from
    the first call until the next one would start; `base_s` is the first backoff ceiling,
    doubled per attempt up to `cap_s`.
    """

    max_attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0
    budget_s: float = 120.0
    rand: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_s < 0 or self.cap_s < 0 or self.budget_s < 0:
            raise ValueError("retry times must not be negative")

    def backoff(self, attempt: int) -> float:
        """A jittered wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.cap_s, self.base_s * (2 ** (attempt - 1)))
        return self.rand.uniform(0.0, ceiling)

    def next_wait(
        self, attempt: int, elapsed_s: float, retry_after_s: float | None
    ) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up: attempts used
        up, or the wait (at least the platform's Retry-After) would overrun the budget."""
        if attempt >= self.max_attempts:
            return None
        wait = max(self.backoff(attempt), retry_after_s or 0.0)
        if elapsed_s + wait > self.budget_s:
            return None
        return wait


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from `now`: delta-seconds or an HTTP-date (RFC 9110 10.2.3);
    None when absent or unreadable, 0 for a date already past."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def parse_reset_epoch(value: str | None, now: datetime) -> float | None:
    """X's `x-rate-limit-reset` (the Unix second the window resets) as seconds from `now`."""
    if value is None:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    return max(0.0, reset - now.timestamp())
