"""The notifications consumer-loop plug-in (group `notifications`): care.escalations and
care.incidents in, webhooks and e-mails out.

Guarantee: a record's offset is committed only after every target it concerns got it or
was given up on (refused for good, or still failing after `max_elapsed`, default 1 h);
a given-up record goes to the DLQ with the reasons. Delivery is at least once: a crash
between a delivery and the commit sends it again with the same `X-Socialcare-Delivery`
id (and Message-ID for e-mail), on which receivers deduplicate.

How that fits the loop without missing its heartbeat: `process` never waits. It hands
each (event, target) to a worker pool, where `deliver` retries with backoff and jitter,
and notes which deliveries the batch needs. `tick` waits for them at most `wait_s`; if
some are still retrying, it raises `NotificationsPendingError` (a transient error to the
loop), which commits nothing, rewinds the batch and polls again after a short backoff
(so the consumer keeps polling; the max poll interval is never reached). The redelivered
records find their deliveries in flight or settled and wait again; one that settled as
given up is dead-lettered (`InvalidRecordError`). Deliveries run concurrently, so a slow
target delays only the commit, never the other targets.

What was delivered is remembered across `discard` (it is a fact about the world, not
state derived from the bus), so a rewind does not send twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

import httpx
from prometheus_client import Counter

from socialcare.core.bus import BusError, Record
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError
from socialcare.core.retry import RetryPolicy
from socialcare.escalation.notify.payloads import Notification, for_escalation, for_incident
from socialcare.escalation.notify.targets import (
    EmailTarget,
    Outcome,
    Target,
    WebhookTarget,
    deliver,
)
from socialcare.v1 import escalation_pb2, incident_pb2

log = logging.getLogger(__name__)

GROUP = "notifications"
REMEMBERED = 10_000

NOTIFICATIONS = Counter(
    "socialcare_notifications_total",
    "Notification deliveries (one event to one target) by kind (escalation, incident) and "
    "outcome: delivered, gave_up (refused, or failing past max_elapsed), retried (failed "
    "attempts that were tried again).",
    ["kind", "outcome"],
)


class NotificationsPendingError(BusError):
    """Deliveries of this batch are still being retried: commit nothing yet, poll again.
    A `BusError` so the consumer loop treats it as transient (rewind, back off, retry)."""


class NotificationProcessor(TypedProcessor):
    """Group `notifications`; see the module docstring."""

    def __init__(
        self,
        care: CareConfig,
        clock: Clock,
        *,
        environ: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
        wait_s: float = 5.0,
        concurrency: int = 8,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__()
        section = care.notifications
        env = os.environ if environ is None else environ
        self._own_http = http is None
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(
                section.timeout_seconds, connect=min(5.0, section.timeout_seconds)
            ),
            follow_redirects=False,
        )
        self._targets: list[Target] = []
        for webhook in section.webhooks:
            secret = env.get(webhook.secret_env, "")
            if not secret:
                raise ValueError(
                    f"webhook {webhook.name!r}: environment variable {webhook.secret_env} "
                    "(its signing secret) is not set"
                )
            self._targets.append(WebhookTarget(webhook, secret, self._http, clock))
        if section.email is not None:
            for index, route in enumerate(section.email.routes):
                self._targets.append(EmailTarget(index, route, section.email.smtp, env))
        self._policy = policy or RetryPolicy(
            max_attempts=1_000_000, base_s=1.0, cap_s=300.0, budget_s=section.max_elapsed_seconds
        )
        self._wait_s = wait_s
        self._stop = threading.Event()
        self._sleep: Callable[[float], object] = sleep or self._stop.wait
        self._pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="notify")
        self._inflight: dict[str, Future[Outcome]] = {}
        self._settled: OrderedDict[str, Outcome] = OrderedDict()
        self._lock = threading.Lock()
        self._batch: list[str] = []  # delivery ids the records of this poll need
        self.on(Topic.ESCALATIONS, escalation_pb2.EscalationEvent, self._on_escalation)
        self.on(Topic.INCIDENTS, incident_pb2.IncidentEvent, self._on_incident)

    @property
    def targets(self) -> list[str]:
        return [t.name for t in self._targets]

    # -- records -------------------------------------------------------------------------
    def _on_escalation(
        self, event: escalation_pb2.EscalationEvent, record: Record
    ) -> Sequence[Emit]:
        return self._notify(for_escalation(event))

    def _on_incident(self, event: incident_pb2.IncidentEvent, record: Record) -> Sequence[Emit]:
        return self._notify(for_incident(event))

    def _notify(self, notification: Notification | None) -> Sequence[Emit]:
        if notification is None:
            return ()
        wanted = [t for t in self._targets if t.wants(notification)]
        ids = [t.delivery_id(notification) for t in wanted]
        with self._lock:
            settled = [self._settled.get(i) for i in ids]
        if all(s is not None for s in settled):
            failed = [s.reason for s in settled if s is not None and not s.delivered]
            if failed:
                raise InvalidRecordError("notification given up: " + "; ".join(failed))
            return ()
        for target, delivery_id, known in zip(wanted, ids, settled, strict=True):
            if known is None and delivery_id not in self._inflight:
                self._inflight[delivery_id] = self._pool.submit(self._deliver, target, notification)
        self._batch.extend(ids)
        return ()

    def _deliver(self, target: Target, notification: Notification) -> Outcome:
        try:
            outcome = deliver(
                target, notification, self._policy, sleep=self._sleep, stopping=self._stop.is_set
            )
        except Exception as exc:  # a bug: settle it as given up rather than hang the batch
            log.exception(
                "notification delivery failed unexpectedly", extra={"target": target.name}
            )
            outcome = Outcome(
                target.delivery_id(notification),
                target.name,
                notification.kind,
                False,
                0,
                f"{target.name}: {type(exc).__name__}: {exc}",
            )
        if outcome.attempts > 1:
            NOTIFICATIONS.labels(outcome.kind, "retried").inc(outcome.attempts - 1)
        if self._stop.is_set() and not outcome.delivered:
            return outcome  # shutting down: not given up, the record comes again after
        NOTIFICATIONS.labels(outcome.kind, "delivered" if outcome.delivered else "gave_up").inc()
        level = logging.INFO if outcome.delivered else logging.WARNING
        log.log(
            level,
            "notification delivered" if outcome.delivered else "notification given up",
            extra={
                "target": outcome.target,
                "delivery_id": outcome.delivery_id,
                "attempts": outcome.attempts,
                "reason": outcome.reason,
            },
        )
        with self._lock:
            self._settled[outcome.delivery_id] = outcome
            while len(self._settled) > REMEMBERED:
                self._settled.popitem(last=False)
        return outcome

    # -- the batch -----------------------------------------------------------------------
    def tick(self) -> Sequence[Emit]:
        """Wait (at most `wait_s`) for the deliveries this poll's records need; raise
        NotificationsPendingError when some are unsettled or given up (the records come
        again: the given-up ones are then dead-lettered)."""
        if not self._batch:
            return ()
        needed, self._batch = self._batch, []
        futures = [self._inflight[i] for i in needed if i in self._inflight]
        wait(futures, timeout=self._wait_s)
        for delivery_id in needed:
            future = self._inflight.get(delivery_id)
            if future is not None and future.done():
                del self._inflight[delivery_id]
        with self._lock:
            outcomes = [self._settled.get(i) for i in needed]
        pending = sum(1 for o in outcomes if o is None)
        failed = sum(1 for o in outcomes if o is not None and not o.delivered)
        if pending or failed:
            raise NotificationsPendingError(
                f"{pending} notification deliveries still retrying, {failed} given up: "
                "the batch is read again"
            )
        return ()

    def discard(self) -> None:
        # Deliveries in flight and settled stay: they are facts about receivers.
        self._batch.clear()

    def close(self) -> None:
        """Stop retrying (sleeps end at once), wait for calls in progress, close HTTP; call
        after the loop stopped. Unsettled records were not committed: they come again."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._own_http:
            self._http.close()
