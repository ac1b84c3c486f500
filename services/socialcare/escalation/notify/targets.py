"""Where a notification goes: a signed webhook or an e-mail route, and one attempt at it.

`Target.attempt` makes ONE try and says what happened (`Attempt`): delivered, failed for
now (worth retrying, maybe after the receiver's Retry-After), or refused for good (a 4xx
other than 408/425/429, a 5xx SMTP reply). It never raises for what the network or the
receiver did; `deliver` (below) decides about retries.

Webhooks are signed with the scheme of our generic inbound webhook
(`X-Socialcare-Signature: t=<unix>,v1=<hex hmac-sha256(secret, "<t>." + body)>`, see
socialcare.core.signing): a receiver verifies with the same code either way.
`X-Socialcare-Delivery` is the same on every retry of one event to one target, so a
receiver that got it twice (our timeout, its success) keeps one.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from socialcare.core.clock import Clock
from socialcare.core.domain.notification_config import EmailRoute, SmtpServer, Subscription, Webhook
from socialcare.core.events import derived_id
from socialcare.core.retry import RetryPolicy, parse_retry_after
from socialcare.core.signing import GENERIC_HEADER, generic_signature
from socialcare.escalation.notify.payloads import INCIDENT, Notification

DELIVERY_HEADER = "X-Socialcare-Delivery"
_TRANSIENT_HTTP = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Attempt:
    delivered: bool
    reason: str = ""
    transient: bool = False
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one notification to one target, after every retry."""

    delivery_id: str
    target: str
    kind: str
    delivered: bool
    attempts: int
    reason: str = ""


class Target(ABC):
    """A place notifications go; subclasses make one attempt."""

    name: str
    subscription: Subscription

    def wants(self, notification: Notification) -> bool:
        takes_incidents = self.subscription.incidents and self.subscription.wants_brand(
            notification.brand
        )
        if notification.kind == INCIDENT:
            return takes_incidents
        if notification.covered_by_incident and takes_incidents:
            return False  # the incident's page announced it: one page, not two
        return self.subscription.wants_tier(notification.tier, notification.brand)

    def delivery_id(self, notification: Notification) -> str:
        return derived_id("notification", notification.event_id, self.name)

    @abstractmethod
    def attempt(self, notification: Notification) -> Attempt:
        """One delivery attempt; never raises for the target's own failures (they are the
        Attempt's outcome)."""


class WebhookTarget(Target):
    """POSTs the JSON body, signed, to the webhook's URL. Thread-safe (httpx.Client is)."""

    def __init__(self, webhook: Webhook, secret: str, http: httpx.Client, clock: Clock) -> None:
        self.name = f"webhook:{webhook.name}"
        self.subscription = webhook
        self._url = webhook.url
        self._secret = secret
        self._http = http
        self._clock = clock

    def attempt(self, notification: Notification) -> Attempt:
        body = notification.webhook_body()
        now = self._clock()
        headers = {
            "Content-Type": "application/json",
            GENERIC_HEADER: generic_signature(self._secret, body, timestamp=int(now.timestamp())),
            DELIVERY_HEADER: self.delivery_id(notification),
        }
        try:
            response = self._http.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return Attempt(False, f"no answer in time ({type(exc).__name__})", transient=True)
        except httpx.HTTPError as exc:
            return Attempt(False, f"could not reach the webhook: {exc}", transient=True)
        status = response.status_code
        if 200 <= status < 300:
            return Attempt(True)
        reason = f"HTTP {status}: {response.text[:200]}"
        if status >= 500 or status in _TRANSIENT_HTTP:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
            return Attempt(False, reason, transient=True, retry_after_s=retry_after)
        return Attempt(False, reason)


class EmailTarget(Target):
    """Sends a plain-text mail over SMTP (STARTTLS and login when configured); one
    connection per mail: notifications are rare, and a kept connection would go stale."""

    def __init__(
        self, index: int, route: EmailRoute, server: SmtpServer, environ: Mapping[str, str]
    ) -> None:
        self.name = f"email:{index}"
        self.subscription = route
        self._to = list(route.to)
        self._server = server
        self._username = environ.get(server.username_env, "") if server.username_env else ""
        self._password = environ.get(server.password_env, "") if server.password_env else ""

    def attempt(self, notification: Notification) -> Attempt:
        server = self._server
        message = notification.email(
            sender=server.sender, to=self._to, delivery_id=self.delivery_id(notification)
        )
        try:
            with smtplib.SMTP(server.host, server.port, timeout=server.timeout_seconds) as smtp:
                if server.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password)
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            reason = f"SMTP {exc.smtp_code}: {text[:200]}"
            return Attempt(False, reason, transient=exc.smtp_code < 500)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return Attempt(
                False,
                f"recipients refused: {exc.recipients}",
                transient=all(c < 500 for c in codes),
            )
        except (smtplib.SMTPException, OSError) as exc:
            return Attempt(False, f"SMTP failed: {type(exc).__name__}: {exc}", transient=True)
        return Attempt(True)


def deliver(
    target: Target,
    notification: Notification,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], object] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    stopping: Callable[[], bool] = lambda: False,
) -> Outcome:
    """Try until delivered, refused for good, or the policy gives up (attempts or its
    budget, `max_elapsed`); waits with full jitter, never less than a Retry-After."""
    started = monotonic()
    attempt = 0
    while True:
        attempt += 1
        result = target.attempt(notification)
        if result.delivered:
            return Outcome(
                target.delivery_id(notification), target.name, notification.kind, True, attempt
            )
        wait = None
        if result.transient and not stopping():
            wait = policy.next_wait(attempt, monotonic() - started, result.retry_after_s)
        if wait is None:
            prefix = "refused" if not result.transient else f"gave up after {attempt} attempts"
            return Outcome(
                target.delivery_id(notification),
                target.name,
                notification.kind,
                False,
                attempt,
                f"{target.name}: {prefix}: {result.reason}",
            )
        sleep(wait)
