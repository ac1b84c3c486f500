"""Wiring for the webhook engine (ADR 0012).

Two consumer groups and two followers:
  * "webhooks-fanout": the public event topics (care.cases, care.sla, care.escalations,
    care.incidents, care.deliveries) and webhooks.commands in, PENDING deliveries out on
    webhooks.deliveries (one per event and matching subscription; replays from a time);
  * "webhooks-sender": webhooks.deliveries in (its own state, rebuilt per partition),
    signed POSTs out in a worker pool, each delivery's next state back on the topic;
  * the subscriptions directory's follower (webhooks.subscriptions), shared by both;
  * the sender's follower of webhooks.commands (dead-letter replays) and privacy.erasures.
"""

from __future__ import annotations

from socialcare.core.clock import utc_now
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.webhooks import fanout, sender
from socialcare.webhooks.domain import RetrySchedule
from socialcare.webhooks.settings import WebhookSettings
from socialcare.webhooks.subscriptions import SubscriptionsFollower, load_subscriptions


def parts(runtime: Runtime, settings: WebhookSettings | None = None) -> ServiceParts:
    settings = settings or WebhookSettings.from_platform(runtime.settings)
    directory, next_offset = load_subscriptions(runtime.bus, runtime.producer)
    fan_out = fanout.FanoutProcessor(runtime.care, directory, runtime.bus, utc_now)
    delivering = sender.SenderProcessor(
        directory,
        runtime.bus,
        utc_now,
        schedule=RetrySchedule(
            base_s=settings.webhook_retry_base_s,
            max_s=settings.webhook_retry_max_s,
            horizon_s=settings.webhook_retry_horizon,
        ),
        options=sender.SenderOptions(
            timeout_s=settings.webhook_timeout_s,
            log_retention_s=settings.webhook_log_retention,
            max_in_flight=settings.webhook_max_in_flight,
            workers=settings.webhook_workers,
            allow_private_targets=settings.webhook_allow_private_targets,
        ),
    )
    runtime.on_close(delivering.close)
    return ServiceParts(
        components=[
            SubscriptionsFollower(runtime.bus, directory, next_offset),
            delivering.follower,
            runtime.consumer_loop(fanout.GROUP, fan_out),
            runtime.consumer_loop(sender.GROUP, delivering, batch_size=200),
        ]
    )
