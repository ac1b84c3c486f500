"""The delivery rules: verdicts on answers, the backoff schedule and its horizon, and the
versions an attempt, a hold and a replay make."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.event_types import describe, event_body
from socialcare.core.domain.topics import Topic
from socialcare.v1 import sla_pb2, webhook_pb2
from socialcare.webhooks.domain import (
    DEAD,
    DELIVERED,
    PENDING,
    AttemptResult,
    RetrySchedule,
    Verdict,
    after_attempt,
    delivery_id,
    held_back,
    new_delivery,
    replayed,
    verdict,
    wants,
)
from socialcare.webhooks.settings import WebhookSettings

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (0, Verdict.RETRY),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (301, Verdict.DEAD),
        (400, Verdict.DEAD),
        (401, Verdict.DEAD),
        (404, Verdict.DEAD),
        (410, Verdict.GONE),
        (422, Verdict.DEAD),
    ],
)
def test_verdicts(status: int, expected: Verdict) -> None:
    assert verdict(status) is expected


def test_backoff_doubles_to_the_cap_with_jitter_in_the_upper_half() -> None:
    schedule = RetrySchedule(base_s=10, max_s=3600, horizon_s=72 * 3600, rand=random.Random(1))
    assert [schedule.ceiling(n) for n in (1, 2, 3, 4, 9, 10, 200)] == [
        10,
        20,
        40,
        80,
        2560,
        3600,
        3600,
    ]
    for attempts in range(1, 30):
        wait = schedule.wait(attempts)
        ceiling = schedule.ceiling(attempts)
        assert ceiling / 2 <= wait <= ceiling
    assert schedule.wait(1, retry_after_s=120) == 120  # Retry-After is a floor


def test_the_default_schedule_retries_for_at_least_24_hours() -> None:
    settings = WebhookSettings()
    assert settings.webhook_retry_horizon >= 24 * 3600
    schedule = RetrySchedule(
        base_s=settings.webhook_retry_base_s,
        max_s=settings.webhook_retry_max_s,
        horizon_s=settings.webhook_retry_horizon,
        rand=random.Random(7),
    )
    now, attempts = T0, 0
    while True:
        attempts += 1
        following = schedule.next_attempt(started=T0, now=now, attempts=attempts)
        if following is None:
            break
        now = following
    assert now - T0 >= timedelta(hours=24)
    assert now - T0 <= timedelta(seconds=settings.webhook_retry_horizon)
    assert 20 < attempts < 200  # many tries, but hourly at most once the cap is reached


def test_horizon_setting_accepts_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCIALCARE_WEBHOOK_RETRY_HORIZON", "24h")
    monkeypatch.setenv("SOCIALCARE_WEBHOOK_LOG_RETENTION", "2d")
    settings = WebhookSettings()
    assert (settings.webhook_retry_horizon, settings.webhook_log_retention) == (86400, 172800)


def subscription(**fields: object) -> webhook_pb2.WebhookSubscription:
    base: dict[str, object] = {
        "id": "sub-1",
        "brand": "acme",
        "url": "https://example.com/hook",
        "secret": "s3cret",
        "active": True,
    }
    base.update(fields)
    return webhook_pb2.WebhookSubscription(**base)  # type: ignore[arg-type]


def test_wants_checks_brand_type_state() -> None:
    assert wants(subscription(), "acme", "sla.breached")
    assert not wants(subscription(), "other", "sla.breached")
    assert wants(subscription(event_types=["sla.*"]), "acme", "sla.breached")
    assert not wants(subscription(event_types=["case.opened"]), "acme", "sla.breached")
    assert not wants(subscription(active=False), "acme", "sla.breached")
    assert not wants(subscription(deleted=True), "acme", "sla.breached")


def pending() -> webhook_pb2.WebhookDelivery:
    event = describe(
        Topic.SLA,
        sla_pb2.SlaEvent(
            event_id="ev-1",
            type=sla_pb2.SLA_EVENT_TYPE_BREACHED,
            case_id="case-1",
            brand="acme",
            occurred_at=to_timestamp(T0),
        ),
    )
    assert event is not None
    return new_delivery(
        event, subscription(), brand="acme", body=event_body(event, brand="acme"), now=T0
    )


def test_new_delivery_is_pending_due_now_with_a_derived_id() -> None:
    delivery = pending()
    assert delivery.delivery_id == delivery_id("sub-1", "ev-1") == pending().delivery_id
    assert delivery.delivery_id != delivery_id("sub-1", "ev-1", "replay-1")
    assert (delivery.state, delivery.attempts, delivery.version) == (PENDING, 0, 1)
    assert from_timestamp(delivery.next_attempt_at) == T0
    assert (delivery.case_id, delivery.event_type) == ("case-1", "sla.breached")
    assert from_timestamp(delivery.event_at) == T0


def result(status: int, *, attempt: int = 1, retry_after: float | None = None) -> AttemptResult:
    return AttemptResult("d", 1, attempt, status, "", T0, 0.1, retry_after)


def test_attempt_outcomes_make_the_next_version() -> None:
    schedule = RetrySchedule(base_s=10, max_s=60, horizon_s=3600, rand=random.Random(3))
    delivery = pending()
    ok, judged = after_attempt(delivery, result(200), schedule, T0)
    assert (ok.state, ok.version, ok.attempts, ok.last_status, judged) == (
        DELIVERED,
        2,
        1,
        200,
        Verdict.DELIVERED,
    )
    assert ok.cause_id != delivery.cause_id
    retry, judged = after_attempt(delivery, result(503, retry_after=30), schedule, T0)
    assert (retry.state, judged) == (PENDING, Verdict.RETRY)
    assert from_timestamp(retry.next_attempt_at) >= T0 + timedelta(seconds=30)
    refused, judged = after_attempt(delivery, result(400), schedule, T0)
    assert (refused.state, judged) == (DEAD, Verdict.DEAD)
    gone, judged = after_attempt(delivery, result(410), schedule, T0)
    assert (gone.state, judged) == (DEAD, Verdict.GONE)
    # Past the horizon a retryable failure is dead.
    late = T0 + timedelta(seconds=3590)
    expired, judged = after_attempt(delivery, result(500, attempt=40), schedule, late)
    assert (expired.state, judged) == (DEAD, Verdict.DEAD)
    assert "retry horizon" in expired.last_error
    final = AttemptResult("d", 1, 1, 0, "refused: private", T0, 0.0, None, True)
    assert after_attempt(delivery, final, schedule, T0)[0].state == DEAD


def test_held_back_and_replayed() -> None:
    schedule = RetrySchedule(base_s=10, max_s=60, horizon_s=3600)
    delivery = pending()
    held = held_back(delivery, "subscription paused", schedule, T0)
    assert (held.state, held.attempts, held.version) == (PENDING, 0, 2)
    assert from_timestamp(held.next_attempt_at) > T0
    dead_later = held_back(delivery, "paused", schedule, T0 + timedelta(hours=2))
    assert dead_later.state == DEAD
    again = replayed(dead_later, "cmd-1", T0 + timedelta(hours=3))
    assert (again.state, again.attempts, again.replay_id, again.version) == (
        PENDING,
        0,
        "cmd-1",
        dead_later.version + 1,
    )
    assert again.delivery_id == delivery.delivery_id
    assert from_timestamp(again.created_at) == T0 + timedelta(hours=3)  # horizon restarts
