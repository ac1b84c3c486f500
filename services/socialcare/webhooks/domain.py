"""The webhook engine's rules, pure: which deliveries an event makes, what an attempt's
answer does to a delivery, when the next attempt is, and when a delivery is dead.

A delivery is one event for one subscription. Its id derives from (subscription id, event
id[, replay id]), so redoing the fan-out of a record makes the same ids; every change of
its state is a new version of the same key on webhooks.deliveries (a compacted topic:
what remains is each delivery's latest state).

An attempt's answer:
  * 2xx: DELIVERED;
  * 408, 429, 5xx, a timeout, a refused or broken connection: try again later;
  * 410 Gone: DEAD, and the subscription is paused (the receiver says it is gone for good);
  * any other status (3xx included: redirects are not followed, 4xx): DEAD at once (the
    receiver refuses this request; sending it again will not change its mind).
"Later" is exponential backoff with jitter: the ceiling after failed attempt n is
`min(max_s, base_s * 2**(n-1))` and the wait a random point in its upper half (so retries
of many deliveries that failed together spread out, and none comes sooner than half the
ceiling); a receiver's Retry-After is a floor. A delivery whose next attempt would come
after `horizon_s` from its start (its creation, or its replay) is DEAD instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.event_types import WebhookEvent, subscribed
from socialcare.core.events import derived_id
from socialcare.v1 import webhook_pb2

PENDING = webhook_pb2.WEBHOOK_DELIVERY_STATE_PENDING
DELIVERED = webhook_pb2.WEBHOOK_DELIVERY_STATE_DELIVERED
DEAD = webhook_pb2.WEBHOOK_DELIVERY_STATE_DEAD

STATE_NAMES = {PENDING: "pending", DELIVERED: "delivered", DEAD: "dead"}


class Verdict(StrEnum):
    """What an attempt's answer means for its delivery."""

    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"
    GONE = "gone"  # 410: dead, and the subscription is paused


def verdict(status: int) -> Verdict:
    """The verdict on an HTTP status; 0 means no answer (timeout, connection error)."""
    if status == 0 or status in (408, 429) or status >= 500:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status == 410:
        return Verdict.GONE
    return Verdict.DEAD


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """When to try a failing delivery again, and when to give up; see the module docstring."""

    base_s: float = 10.0
    max_s: float = 3600.0
    horizon_s: float = 72 * 3600.0
    rand: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_s <= 0 or self.horizon_s <= 0:
            raise ValueError("retry times must be positive")

    def ceiling(self, attempts: int) -> float:
        """The backoff ceiling after `attempts` failed attempts (1-based)."""
        exponent = min(max(attempts - 1, 0), 60)  # 2**60 * base is past any max_s
        return min(self.max_s, self.base_s * float(2**exponent))

    def wait(self, attempts: int, retry_after_s: float | None = None) -> float:
        """Seconds until the next attempt after `attempts` failed ones."""
        ceiling = self.ceiling(attempts)
        jittered = ceiling * (0.5 + 0.5 * self.rand.random())
        return max(jittered, retry_after_s or 0.0)

    def next_attempt(
        self,
        *,
        started: datetime,
        now: datetime,
        attempts: int,
        retry_after_s: float | None = None,
    ) -> datetime | None:
        """When to attempt again, or None when that would be past the horizon."""
        at = now + timedelta(seconds=self.wait(attempts, retry_after_s))
        if at > started + timedelta(seconds=self.horizon_s):
            return None
        return at


def delivery_id(subscription_id: str, event_id: str, replay_id: str = "") -> str:
    """The id of one event's delivery to one subscription (a replay's has its own)."""
    if replay_id:
        return derived_id("webhook", subscription_id, event_id, replay_id)
    return derived_id("webhook", subscription_id, event_id)


def wants(subscription: webhook_pb2.WebhookSubscription, brand: str, event_type: str) -> bool:
    """True when `subscription` receives events of `event_type` of `brand` now: it is
    active, not deleted, of that very brand, and subscribed to the type."""
    return (
        subscription.active
        and not subscription.deleted
        and subscription.brand == brand
        and subscribed(subscription.event_types, event_type)
    )


def new_delivery(
    event: WebhookEvent,
    subscription: webhook_pb2.WebhookSubscription,
    *,
    brand: str,
    body: bytes,
    now: datetime,
    replay_id: str = "",
    source: str = "",
) -> webhook_pb2.WebhookDelivery:
    """A PENDING delivery of `event` to `subscription`, due at once (version 1)."""
    delivery = webhook_pb2.WebhookDelivery(
        delivery_id=delivery_id(subscription.id, event.id, replay_id),
        subscription_id=subscription.id,
        brand=brand,
        event_type=event.type,
        event_id=event.id,
        case_id=event.case_id,
        body=body,
        created_at=to_timestamp(now),
        state=PENDING,
        attempts=0,
        next_attempt_at=to_timestamp(now),
        replay_id=replay_id,
        cause_id=replay_id or event.id,
        version=1,
        source=source,
    )
    if event.time is not None:
        delivery.event_at.CopyFrom(to_timestamp(event.time))
    return delivery


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt of one delivery version got. `status` 0: no HTTP answer (then
    `error` says why: a timeout, a refused connection, ...)."""

    delivery_id: str
    version: int
    attempt: int
    status: int
    error: str
    started_at: datetime
    seconds: float
    retry_after_s: float | None = None
    # Refused before sending for good (e.g. the URL resolves to an address not allowed).
    final: bool = False


def after_attempt(
    delivery: webhook_pb2.WebhookDelivery,
    result: AttemptResult,
    schedule: RetrySchedule,
    now: datetime,
) -> tuple[webhook_pb2.WebhookDelivery, Verdict]:
    """The next version of `delivery` after `result` (and the verdict that made it)."""
    judged = Verdict.DEAD if result.final else verdict(result.status)
    updated = _next_version(delivery, cause=f"attempt-{result.attempt}")
    updated.attempts = result.attempt
    updated.last_attempt_at.CopyFrom(to_timestamp(result.started_at))
    updated.last_status = result.status
    updated.last_error = result.error
    updated.ClearField("next_attempt_at")
    if judged is Verdict.DELIVERED:
        updated.state = DELIVERED
        updated.delivered_at.CopyFrom(to_timestamp(now))
        return updated, judged
    if judged is Verdict.RETRY:
        at = schedule.next_attempt(
            started=from_timestamp(delivery.created_at),
            now=now,
            attempts=result.attempt,
            retry_after_s=result.retry_after_s,
        )
        if at is not None:
            updated.state = PENDING
            updated.next_attempt_at.CopyFrom(to_timestamp(at))
            return updated, judged
        updated.last_error = f"gave up after the retry horizon: {result.error or result.status}"
        updated.state = DEAD
        return updated, Verdict.DEAD
    updated.state = DEAD
    return updated, judged


def held_back(
    delivery: webhook_pb2.WebhookDelivery,
    reason: str,
    schedule: RetrySchedule,
    now: datetime,
) -> webhook_pb2.WebhookDelivery:
    """The next version of a due delivery that is not attempted now (its subscription is
    paused): due again after a backoff, or DEAD past the horizon. Counts no attempt."""
    updated = _next_version(delivery, cause=f"held-{delivery.version}")
    updated.last_error = reason
    at = schedule.next_attempt(
        started=from_timestamp(delivery.created_at),
        now=now,
        attempts=max(delivery.attempts, 1) + 3,  # not hammering a paused one: start slower
    )
    if at is None:
        updated.state = DEAD
        updated.ClearField("next_attempt_at")
    else:
        updated.next_attempt_at.CopyFrom(to_timestamp(at))
    return updated


def replayed(
    delivery: webhook_pb2.WebhookDelivery, replay_id: str, now: datetime
) -> webhook_pb2.WebhookDelivery:
    """A DEAD delivery sent again: PENDING, due now, attempts from 0, its retry horizon
    starting now (`created_at` is when its current run of attempts began)."""
    updated = _next_version(delivery, cause=f"replay-{replay_id}")
    updated.state = PENDING
    updated.attempts = 0
    updated.replay_id = replay_id
    updated.created_at.CopyFrom(to_timestamp(now))
    updated.next_attempt_at.CopyFrom(to_timestamp(now))
    return updated


def _next_version(
    delivery: webhook_pb2.WebhookDelivery, *, cause: str
) -> webhook_pb2.WebhookDelivery:
    updated = webhook_pb2.WebhookDelivery()
    updated.CopyFrom(delivery)
    updated.version = delivery.version + 1
    updated.cause_id = derived_id(cause, str(delivery.version + 1))
    return updated
