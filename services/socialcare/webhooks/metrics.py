"""The webhook engine's metrics. Labels are bounded: outcomes and results are fixed sets,
event types come from the catalogue; no subscription, delivery or brand ids (a platform
may hold any number of subscriptions: per-subscription figures are in the delivery log,
GET /v1/webhooks/{id}/deliveries)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "socialcare_webhook_deliveries_total",
    "Webhook delivery transitions by outcome: created (by the fan-out, replays included), "
    "delivered (2xx), retried (a failed attempt that will be tried again), dead (refused, "
    "410 Gone, or failing past the retry horizon), replayed (a dead delivery sent again), "
    "dropped (its subscription was deleted), erased (its case was erased), expired (a "
    "delivered one tombstoned after the log retention).",
    ["outcome"],
)
FANOUT = Counter(
    "socialcare_webhook_fanout_deliveries_total",
    "Deliveries the fan-out made, by event type (live events and replays from a time).",
    ["event_type"],
)
FANOUT_SKIPPED = Counter(
    "socialcare_webhook_fanout_skipped_total",
    "Events the fan-out could not route, by reason (no_brand: a reply report whose case "
    "this instance does not know).",
    ["reason"],
)
ATTEMPT_SECONDS = Histogram(
    "socialcare_webhook_attempt_seconds",
    "How long webhook delivery attempts took, by result: 2xx, 3xx, 4xx, 5xx, timeout, "
    "error (no answer: connection refused or broken, address not allowed).",
    ["result"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PENDING = Gauge(
    "socialcare_webhook_deliveries_pending",
    "Deliveries waiting for their first or next attempt, in this sender's partitions.",
)
DEAD = Gauge(
    "socialcare_webhook_deliveries_dead",
    "Dead deliveries (the dead-letter lists, until replayed), in this sender's partitions.",
)
IN_FLIGHT = Gauge(
    "socialcare_webhook_attempts_in_flight",
    "Delivery attempts in progress in this sender.",
)


def result_label(status: int, error: str) -> str:
    """The bounded `result` label of an attempt."""
    if status == 0:
        return "timeout" if "timed out" in error or "timeout" in error.lower() else "error"
    return f"{min(max(status // 100, 1), 5)}xx"
