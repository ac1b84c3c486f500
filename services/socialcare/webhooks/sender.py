"""The sender (group `webhooks-sender`): webhooks.deliveries in, signed HTTP POSTs out, and
every change of a delivery's state back on webhooks.deliveries as its next version.

webhooks.deliveries is both its input and its state (compacted; key: delivery id; the
platform's partition count). The sender is the only writer of a delivery once it exists:
the fan-out (or the API's ping) writes version 1, the sender every later version, so one
member (the partition's owner) decides each delivery's fate.

* On partition assignment the partition's deliveries are rebuilt from the topic (the
  latest version of each key; a tombstone forgets it): pending ones go on a timer heap by
  `next_attempt_at`, delivered ones on a retention heap, dead ones wait for a replay.
  Nothing pending is lost across restarts, and nothing delivered is sent again.
* `tick` (on the loop's thread) applies what happened since the last one: commands and
  erasures (from `CommandsFollower`), the results of finished attempts (each one a new
  version: DELIVERED, PENDING with the next attempt, or DEAD), then starts the attempts
  that are due, and tombstones delivered deliveries older than the log retention.
* Attempts run in a worker pool (`webhook_workers` threads), never on the loop's thread,
  and at most `webhook_max_in_flight` per subscription at once, so a slow or dead receiver
  holds its own deliveries back, not the others'.
* A POST carries the CloudEvent body fixed at fan-out, `Content-Type:
  application/cloudevents+json`, `X-Socialcare-Signature: t=<now>,v1=<HMAC-SHA256 of
  "<t>." + body>` (a second `v1=` with the previous secret while a rotation lasts),
  `X-Socialcare-Delivery` (the delivery id: receivers deduplicate on it),
  `X-Socialcare-Event-Type` and `X-Socialcare-Attempt`. The resolved address is checked
  against the target policy before each attempt (DNS may have changed since the API
  checked the URL); redirects are not followed; the answer's body is not read.
* A delivery whose subscription is deleted is tombstoned (dropped, with whatever it held);
  one whose subscription is paused is not attempted: it is due again later (at once when
  the subscription is active again, within a sweep), and dead past the retry horizon like
  any other. A receiver answering 410 Gone pauses its subscription.
* Erasure: the sender follows privacy.erasures; the deliveries of an erased case are
  tombstoned (and any that arrive later for it), and one `ErasureStep` (store "webhooks")
  reports what this instance erased.
* Replays of dead deliveries (webhooks.commands `replay_dead`): each dead delivery of the
  subscription (or those named) that died before the command was issued becomes PENDING
  again (attempts from 0, `replay_id` = the command id, same delivery id). A command is
  applied again after a restart, but finds its deliveries already replayed (their
  `replay_id`), so it sends nothing twice.

Delivery is at least once: an attempt whose result was not yet durable when the instance
stopped is made again by the partition's next owner (same delivery id). Deliveries are not
ordered: receivers order by the event's time (and a case's `version`).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from socialcare import __version__
from socialcare.core.bus import Bus, BusError, Record, TopicPartition
from socialcare.core.clock import Clock, from_timestamp, to_timestamp
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.event_types import (
    ATTEMPT_HEADER,
    CONTENT_TYPE,
    DELIVERY_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
)
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone
from socialcare.core.events import InvalidRecordError, decode, derived_id, key_text
from socialcare.core.follower import TopicFollower
from socialcare.core.retry import parse_retry_after
from socialcare.core.signing import generic_signature
from socialcare.v1 import audit_pb2, webhook_pb2
from socialcare.webhooks import metrics
from socialcare.webhooks.domain import (
    DEAD,
    DELIVERED,
    PENDING,
    AttemptResult,
    RetrySchedule,
    Verdict,
    after_attempt,
    held_back,
    replayed,
)
from socialcare.webhooks.subscriptions import SubscriptionDirectory
from socialcare.webhooks.targets import address_allowed, resolve_host

log = logging.getLogger(__name__)

GROUP = "webhooks-sender"
SERVICE = "webhooks"
USER_AGENT = f"socialcare-webhooks/{__version__}"
# How long a delivery whose subscription this process has not seen yet waits (the
# directory follows webhooks.subscriptions within a poll; this is far more).
UNKNOWN_SUBSCRIPTION_WAIT = timedelta(seconds=5)
GAUGE_INTERVAL = timedelta(seconds=5)
MAX_DISPATCH_PER_TICK = 1000
PAUSED = "subscription paused"
# The answer's body is ignored, but read (up to this much) so the connection goes back to
# the pool: closing a response with its body unread closes the connection, and every attempt
# would pay a new TCP (and TLS) handshake. A receiver that answers more is cut off.
DRAIN_LIMIT = 64 * 1024


def _drain(response: httpx.Response) -> None:
    read = 0
    for chunk in response.iter_raw():
        read += len(chunk)
        if read > DRAIN_LIMIT:
            return


@dataclass(frozen=True, slots=True)
class SenderOptions:
    timeout_s: float = 10.0
    log_retention_s: float = 7 * 86400.0
    max_in_flight: int = 8
    workers: int = 32
    allow_private_targets: bool = False
    # How often deleted subscriptions' deliveries are dropped and resumed ones woken.
    sweep_s: float = 60.0


@dataclass(slots=True)
class _Held:
    delivery: webhook_pb2.WebhookDelivery
    partition: int


class SenderProcessor(TypedProcessor):
    """Group `webhooks-sender`; see the module docstring."""

    def __init__(
        self,
        directory: SubscriptionDirectory,
        bus: Bus,
        clock: Clock,
        *,
        schedule: RetrySchedule | None = None,
        options: SenderOptions | None = None,
        http: httpx.Client | None = None,
        resolve: Callable[[str, int], Sequence[str]] = resolve_host,
    ) -> None:
        super().__init__()
        self._directory = directory
        self._bus = bus
        self._clock = clock
        self._schedule = schedule or RetrySchedule()
        self._options = options or SenderOptions()
        self._resolve = resolve
        # One HTTP client per worker thread (unless the caller gives one): connections are
        # kept alive per thread, and the workers do not queue on one connection pool's lock
        # (a quarter of a shared client's time went to that lock at 16 workers).
        self._given_http = http
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(self._options.workers, thread_name_prefix="webhook")
        # State of the owned partitions (loop thread only).
        self._held: dict[str, _Held] = {}
        self._by_case: defaultdict[str, set[str]] = defaultdict(set)
        # Pending deliveries by subscription: heaps of (when due, delivery id, version).
        self._due: dict[str, list[tuple[float, str, int]]] = {}
        self._turn = 0
        self._expiry: list[tuple[float, str, int]] = []
        self._owned: set[int] = set()
        # Attempts in progress (kept across `discard`: they are calls in the world).
        self._in_flight: dict[str, int] = {}
        self._in_flight_per_sub: Counter[str] = Counter()
        self._results: list[tuple[AttemptResult, str]] = []
        self._results_lock = threading.Lock()
        # Commands and erasures, from the follower (appended on its thread).
        self.follower = CommandsFollower(bus, self)
        self._inbox: list[tuple[Record, bool]] = []
        self._inbox_lock = threading.Lock()
        self._commands: list[webhook_pb2.WebhookCommand] = []
        self._erased: set[str] = set()
        self._next_sweep: datetime | None = None
        self._next_gauges: datetime | None = None
        self._reconcile: list[Emit] = []  # what a rebuild owes (published by `tick`)
        self.on(Topic.WEBHOOK_DELIVERIES, webhook_pb2.WebhookDelivery, self._on_delivery)

    # -- partitions ----------------------------------------------------------------------
    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        numbers = sorted(
            tp.partition
            for tp in partitions
            if tp.topic == Topic.WEBHOOK_DELIVERIES.value and tp.partition not in self._owned
        )
        if not numbers:
            return
        latest: dict[str, tuple[webhook_pb2.WebhookDelivery | None, int]] = {}
        for record in self._bus.replay(Topic.WEBHOOK_DELIVERIES.value, partitions=numbers):
            key = key_text(record) or ""
            if record.tombstone:
                latest[key] = (None, record.partition)
                continue
            try:
                delivery = decode(record, webhook_pb2.WebhookDelivery)
            except InvalidRecordError as exc:
                log.warning("skipping an unreadable webhook delivery", extra={"error": str(exc)})
                continue
            known = latest.get(key)
            if known is None or known[0] is None or known[0].version <= delivery.version:
                latest[key] = (delivery, record.partition)
        self._owned.update(numbers)
        for delivery_or_none, partition in latest.values():
            if delivery_or_none is not None:
                self._hold(delivery_or_none, partition)
        self._reconcile += self.reapply(numbers, self._clock())
        log.info(
            "webhook deliveries rebuilt",
            extra={"partitions": numbers, "deliveries": len(latest), **self.counts()},
        )

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions if tp.topic == Topic.WEBHOOK_DELIVERIES.value}
        self._owned -= gone
        for delivery_id in [i for i, h in self._held.items() if h.partition in gone]:
            self._forget(delivery_id)

    def discard(self) -> None:
        """Versions written since the last durable point may be lost: forget the state; the
        loop calls `assigned` again (attempts in flight stay: their results still apply)."""
        for delivery_id in list(self._held):
            self._forget(delivery_id)
        self._owned.clear()
        self._due.clear()
        self._expiry.clear()
        self._reconcile.clear()

    # -- the book ------------------------------------------------------------------------
    def _hold(self, delivery: webhook_pb2.WebhookDelivery, partition: int) -> None:
        delivery_id = delivery.delivery_id
        previous = self._held.get(delivery_id)
        if previous is not None and previous.delivery.case_id != delivery.case_id:
            self._by_case[previous.delivery.case_id].discard(delivery_id)
        if delivery.state == DELIVERED:
            delivery.ClearField("body")  # the log keeps the outcome, memory not the body
        self._held[delivery_id] = _Held(delivery, partition)
        if delivery.case_id:
            self._by_case[delivery.case_id].add(delivery_id)
        if delivery.state == PENDING:
            when = from_timestamp(delivery.next_attempt_at).timestamp()
            self._schedule_at(delivery.subscription_id, when, delivery_id, delivery.version)
        elif delivery.state == DELIVERED:
            expires = from_timestamp(delivery.delivered_at).timestamp()
            expires += self._options.log_retention_s
            heapq.heappush(self._expiry, (expires, delivery_id, delivery.version))

    def _schedule_at(
        self, subscription_id: str, when: float, delivery_id: str, version: int
    ) -> None:
        heapq.heappush(self._due.setdefault(subscription_id, []), (when, delivery_id, version))

    def _forget(self, delivery_id: str) -> None:
        held = self._held.pop(delivery_id, None)
        if held is not None and held.delivery.case_id:
            ids = self._by_case.get(held.delivery.case_id)
            if ids is not None:
                ids.discard(delivery_id)
                if not ids:
                    del self._by_case[held.delivery.case_id]

    def delivery(self, delivery_id: str) -> webhook_pb2.WebhookDelivery | None:
        """The latest state held of a delivery (a copy), for tests and support."""
        held = self._held.get(delivery_id)
        if held is None:
            return None
        copy = webhook_pb2.WebhookDelivery()
        copy.CopyFrom(held.delivery)
        return copy

    def counts(self) -> dict[str, int]:
        """Deliveries held by state."""
        found: Counter[str] = Counter()
        for held in self._held.values():
            found[
                {PENDING: "pending", DELIVERED: "delivered", DEAD: "dead"}.get(
                    held.delivery.state, "other"
                )
            ] += 1
        return {k: found[k] for k in ("pending", "delivered", "dead")}

    # -- records -------------------------------------------------------------------------
    def _on_delivery(self, delivery: webhook_pb2.WebhookDelivery, record: Record) -> list[Emit]:
        if delivery.case_id and delivery.case_id in self._erased:
            self._forget(delivery.delivery_id)
            metrics.DELIVERIES.labels("erased").inc()
            return [Tombstone.of(Topic.WEBHOOK_DELIVERIES, delivery.delivery_id)]
        held = self._held.get(delivery.delivery_id)
        if held is not None and held.delivery.version >= delivery.version:
            return []  # our own write read back, or a redelivered fan-out record
        self._hold(delivery, record.partition)
        return []

    def tombstone(self, record: Record) -> list[Emit]:
        self._forget(key_text(record) or "")
        return []

    # -- the tick ------------------------------------------------------------------------
    def tick(self) -> Sequence[Emit]:
        now = self._clock()
        effects, self._reconcile = self._reconcile, []
        effects += self._apply_inbox(now)
        effects += self._apply_results(now)
        effects += self._dispatch(now)
        effects += self._expire(now)
        if self._next_sweep is None or now >= self._next_sweep:
            self._next_sweep = now + timedelta(seconds=self._options.sweep_s)
            effects += self._sweep(now)
        if self._next_gauges is None or now >= self._next_gauges:
            self._next_gauges = now + GAUGE_INTERVAL  # counting is O(deliveries held)
            counts = self.counts()
            metrics.PENDING.set(counts["pending"])
            metrics.DEAD.set(counts["dead"])
        metrics.IN_FLIGHT.set(len(self._in_flight))
        return effects

    def _apply_results(self, now: datetime) -> list[Emit]:
        with self._results_lock:
            results, self._results = self._results, []
        effects: list[Emit] = []
        for result, subscription_id in results:
            self._in_flight.pop(result.delivery_id, None)
            self._in_flight_per_sub[subscription_id] -= 1
            if self._in_flight_per_sub[subscription_id] <= 0:
                del self._in_flight_per_sub[subscription_id]
            metrics.ATTEMPT_SECONDS.labels(
                metrics.result_label(result.status, result.error)
            ).observe(result.seconds)
            held = self._held.get(result.delivery_id)
            if held is None or held.delivery.version != result.version:
                continue  # erased, dropped or moved to another instance meanwhile
            updated, judged = after_attempt(held.delivery, result, self._schedule, now)
            self._hold(updated, held.partition)
            effects.append(Emit(Topic.WEBHOOK_DELIVERIES, updated))
            metrics.DELIVERIES.labels(
                {Verdict.DELIVERED: "delivered", Verdict.RETRY: "retried"}.get(judged, "dead")
            ).inc()
            if judged is not Verdict.DELIVERED:
                log.info(
                    "webhook attempt failed",
                    extra={
                        "delivery_id": result.delivery_id,
                        "subscription_id": subscription_id,
                        "attempt": result.attempt,
                        "status": result.status,
                        "error": result.error,
                        "verdict": judged.value,
                    },
                )
            if judged is Verdict.GONE:
                self._pause(subscription_id)
        return effects

    def _pause(self, subscription_id: str) -> None:
        subscription = self._directory.subscription(subscription_id)
        if subscription is None or not subscription.active:
            return
        subscription.active = False
        subscription.updated_at.CopyFrom(to_timestamp(self._clock()))
        try:
            self._directory.save(subscription)
            log.warning(
                "webhook receiver answered 410 Gone: subscription paused",
                extra={"subscription_id": subscription_id},
            )
        except (BusError, RuntimeError) as exc:
            log.warning(
                "could not pause a subscription whose receiver is gone",
                extra={"subscription_id": subscription_id, "error": str(exc)},
            )

    def _dispatch(self, now: datetime) -> list[Emit]:
        """Start the due attempts: subscription by subscription (each has its own heap, and
        the first one served rotates), at most `max_in_flight` per subscription and
        `workers` in all, so a subscription with a large backlog cannot keep the others'
        due deliveries waiting behind it."""
        effects: list[Emit] = []
        moment = now.timestamp()
        order = list(self._due)
        if order:
            self._turn = (self._turn + 1) % len(order)
            order = order[self._turn :] + order[: self._turn]
        for subscription_id in order:
            if len(self._in_flight) >= self._options.workers:
                break
            heap = self._due[subscription_id]
            scanned = 0
            deferred: list[tuple[float, str, int]] = []
            while (
                heap
                and heap[0][0] <= moment
                and len(self._in_flight) < self._options.workers
                and self._in_flight_per_sub[subscription_id] < self._options.max_in_flight
                and scanned < MAX_DISPATCH_PER_TICK
            ):
                scanned += 1
                _, delivery_id, version = heapq.heappop(heap)
                held = self._held.get(delivery_id)
                if (
                    held is None
                    or held.delivery.version != version
                    or held.delivery.state != PENDING
                    or delivery_id in self._in_flight
                ):
                    continue  # superseded
                effects += self._due_now(held, deferred, now)
            for entry in deferred:
                heapq.heappush(heap, entry)
            if not heap:
                del self._due[subscription_id]
        return effects

    def _due_now(
        self, held: _Held, deferred: list[tuple[float, str, int]], now: datetime
    ) -> list[Emit]:
        """One due delivery: attempt it, or drop, hold back or defer it by its
        subscription's state."""
        delivery = held.delivery
        delivery_id = delivery.delivery_id
        subscription = self._directory.known(delivery.subscription_id)
        if subscription is not None and subscription.deleted:
            self._forget(delivery_id)
            metrics.DELIVERIES.labels("dropped").inc()
            return [Tombstone.of(Topic.WEBHOOK_DELIVERIES, delivery_id)]
        if subscription is None and delivery.attempts == 0 and delivery.version == 1:
            # Probably created a moment ago in another process: look again soon.
            later = (now + UNKNOWN_SUBSCRIPTION_WAIT).timestamp()
            deferred.append((later, delivery_id, delivery.version))
            return []
        if subscription is None or not subscription.active:
            reason = PAUSED if subscription is not None else "subscription not known here"
            updated = held_back(delivery, reason, self._schedule, now)
            self._hold(updated, held.partition)
            if updated.state == DEAD:
                metrics.DELIVERIES.labels("dead").inc()
            return [Emit(Topic.WEBHOOK_DELIVERIES, updated)]
        self._start(delivery, subscription, now)
        return []

    def _start(
        self,
        delivery: webhook_pb2.WebhookDelivery,
        subscription: webhook_pb2.WebhookSubscription,
        now: datetime,
    ) -> None:
        self._in_flight[delivery.delivery_id] = delivery.version
        self._in_flight_per_sub[subscription.id] += 1
        copy = webhook_pb2.WebhookDelivery()
        copy.CopyFrom(delivery)
        self._pool.submit(self._attempt_and_report, copy, subscription)

    def _attempt_and_report(
        self, delivery: webhook_pb2.WebhookDelivery, subscription: webhook_pb2.WebhookSubscription
    ) -> None:
        try:
            result = self.attempt(delivery, subscription)
        except Exception as exc:  # a bug: report it as a failed attempt, never hang
            log.exception("webhook attempt failed unexpectedly")
            result = AttemptResult(
                delivery.delivery_id,
                delivery.version,
                delivery.attempts + 1,
                0,
                f"{type(exc).__name__}: {exc}",
                self._clock(),
                0.0,
            )
        with self._results_lock:
            self._results.append((result, subscription.id))

    def attempt(
        self, delivery: webhook_pb2.WebhookDelivery, subscription: webhook_pb2.WebhookSubscription
    ) -> AttemptResult:
        """POST `delivery` to its subscription once (on a worker thread) and say what
        happened. Never raises for the receiver's failures."""
        number = delivery.attempts + 1
        started = self._clock()
        began = time.perf_counter()

        def result(
            status: int, error: str, retry_after: float | None = None, *, final: bool = False
        ) -> AttemptResult:
            return AttemptResult(
                delivery.delivery_id,
                delivery.version,
                number,
                status,
                error,
                started,
                time.perf_counter() - began,
                retry_after,
                final,
            )

        refusal = self._refused_target(subscription.url)
        if refusal is not None:
            return result(0, refusal, final=refusal.startswith("refused"))
        headers = {
            "Content-Type": CONTENT_TYPE,
            SIGNATURE_HEADER: signature(subscription, bytes(delivery.body), started),
            DELIVERY_HEADER: delivery.delivery_id,
            EVENT_TYPE_HEADER: delivery.event_type,
            ATTEMPT_HEADER: str(number),
        }
        try:
            with self._client().stream(
                "POST", subscription.url, content=bytes(delivery.body), headers=headers
            ) as response:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), started)
                _drain(response)
                return result(response.status_code, "", retry_after)
        except httpx.TimeoutException as exc:
            return result(0, f"timed out after {self._options.timeout_s:g}s ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return result(0, f"{type(exc).__name__}: {exc}")

    def _client(self) -> httpx.Client:
        """This worker thread's HTTP client (the given one, if the caller gave one)."""
        if self._given_http is not None:
            return self._given_http
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(
                timeout=httpx.Timeout(
                    self._options.timeout_s, connect=min(5.0, self._options.timeout_s)
                ),
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT},
            )
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def _refused_target(self, url: str) -> str | None:
        """Why the sender will not connect to `url` now, or None. "refused: ..." when the
        address is not allowed (for good: dead); other text when the name does not resolve
        (retried)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return "refused: the URL has an invalid port"
        try:
            addresses = self._resolve(host, port)
        except OSError as exc:
            return f"cannot resolve {host}: {exc}"
        bad = [
            a
            for a in addresses
            if not address_allowed(a, allow_private=self._options.allow_private_targets)
        ]
        if bad or not addresses:
            return f"refused: {host} resolves to an address the target policy does not allow"
        return None

    def _expire(self, now: datetime) -> list[Emit]:
        effects: list[Emit] = []
        moment = now.timestamp()
        while self._expiry and self._expiry[0][0] <= moment:
            _, delivery_id, version = heapq.heappop(self._expiry)
            held = self._held.get(delivery_id)
            if held is None or held.delivery.version != version:
                continue
            self._forget(delivery_id)
            metrics.DELIVERIES.labels("expired").inc()
            effects.append(Tombstone.of(Topic.WEBHOOK_DELIVERIES, delivery_id))
        return effects

    def _sweep(self, now: datetime) -> list[Emit]:
        """Drop the deliveries (dead and delivered too) of deleted subscriptions; make the
        held-back deliveries of subscriptions active again due now."""
        effects: list[Emit] = []
        for delivery_id, held in list(self._held.items()):
            subscription = self._directory.known(held.delivery.subscription_id)
            if subscription is None or delivery_id in self._in_flight:
                continue
            if subscription.deleted:
                self._forget(delivery_id)
                metrics.DELIVERIES.labels("dropped").inc()
                effects.append(Tombstone.of(Topic.WEBHOOK_DELIVERIES, delivery_id))
            elif (
                subscription.active
                and held.delivery.state == PENDING
                and held.delivery.last_error == PAUSED
            ):
                # A second heap entry for the same version: whichever comes first sends it.
                self._schedule_at(
                    held.delivery.subscription_id,
                    now.timestamp(),
                    delivery_id,
                    held.delivery.version,
                )
        return effects

    # -- commands and erasures -------------------------------------------------------------
    def receive(self, record: Record, live: bool) -> None:
        """Called by the follower (its thread) for each webhooks.commands and
        privacy.erasures record; `live`: written after this process started following."""
        with self._inbox_lock:
            self._inbox.append((record, live))

    def _apply_inbox(self, now: datetime) -> list[Emit]:
        with self._inbox_lock:
            records, self._inbox = self._inbox, []
        effects: list[Emit] = []
        for record, live in records:
            try:
                if record.topic == Topic.WEBHOOK_COMMANDS.value:
                    command = decode(record, webhook_pb2.WebhookCommand)
                    self._commands.append(command)
                    effects += self._replay_dead(command, now, self._owned)
                elif record.topic == Topic.PRIVACY_ERASURES.value:
                    event = decode(record, audit_pb2.PrivacyEvent)
                    if event.HasField("request"):
                        effects += self._erase(event.request, now, live=live)
            except InvalidRecordError as exc:
                log.warning(
                    "an unreadable command or erasure record was ignored",
                    extra={"topic": record.topic, "offset": record.offset, "error": str(exc)},
                )
        return effects

    def _replay_dead(
        self, command: webhook_pb2.WebhookCommand, now: datetime, partitions: Iterable[int]
    ) -> list[Emit]:
        if command.WhichOneof("action") != "replay_dead":
            return []
        owned = set(partitions)
        named = set(command.replay_dead.delivery_ids)
        issued = from_timestamp(command.issued_at) if command.HasField("issued_at") else now
        effects: list[Emit] = []
        for delivery_id, held in list(self._held.items()):
            delivery = held.delivery
            if (
                held.partition not in owned
                or delivery.subscription_id != command.subscription_id
                or delivery.state != DEAD
                or (named and delivery_id not in named)
                or delivery.replay_id == command.command_id
                or _died_at(delivery) > issued
            ):
                continue
            if self._directory.subscription(delivery.subscription_id) is None:
                continue
            updated = replayed(delivery, command.command_id, now)
            self._hold(updated, held.partition)
            effects.append(Emit(Topic.WEBHOOK_DELIVERIES, updated))
            metrics.DELIVERIES.labels("replayed").inc()
        if effects:
            log.info(
                "dead webhook deliveries replayed",
                extra={
                    "subscription_id": command.subscription_id,
                    "command_id": command.command_id,
                    "deliveries": len(effects),
                },
            )
        return effects

    def _erase(self, request: audit_pb2.ErasureRequest, now: datetime, *, live: bool) -> list[Emit]:
        effects: list[Emit] = []
        erased_cases: list[str] = []
        for case_id in request.case_ids:
            self._erased.add(case_id)
            ids = sorted(self._by_case.get(case_id, ()))
            if ids:
                erased_cases.append(case_id)
            for delivery_id in ids:
                self._forget(delivery_id)
                effects.append(Tombstone.of(Topic.WEBHOOK_DELIVERIES, delivery_id))
        metrics.DELIVERIES.labels("erased").inc(len(effects))
        # One step per erasure from each instance that erased something, and always one
        # from the owner of partition 0 for a live request (so the report names the store).
        if effects or (live and 0 in self._owned):
            partitions = ",".join(str(p) for p in sorted(self._owned))
            step = audit_pb2.ErasureStep(
                erasure_id=request.erasure_id,
                store="webhooks",
                service=f"{SERVICE}/{GROUP}[{partitions}]",
                items=len(effects),
                case_ids=erased_cases,
                at=to_timestamp(now),
                note="webhook deliveries of the cases tombstoned on webhooks.deliveries; "
                "copies already delivered are the receivers' to erase",
            )
            effects.append(
                Emit(
                    Topic.PRIVACY_ERASURES,
                    audit_pb2.PrivacyEvent(
                        event_id=derived_id("webhooks-erasure", request.erasure_id, partitions),
                        step=step,
                    ),
                )
            )
        return effects

    def reapply(self, partitions: Iterable[int], now: datetime) -> list[Emit]:
        """Commands and erasures already known, applied to newly rebuilt partitions."""
        chosen = set(partitions)
        effects: list[Emit] = []
        for command in self._commands:
            effects += self._replay_dead(command, now, chosen)
        for case_id in self._erased:
            for delivery_id in sorted(self._by_case.get(case_id, ())):
                held = self._held.get(delivery_id)
                if held is not None and held.partition in chosen:
                    self._forget(delivery_id)
                    effects.append(Tombstone.of(Topic.WEBHOOK_DELIVERIES, delivery_id))
        return effects

    # -- shutdown ------------------------------------------------------------------------
    def close(self) -> None:
        """Wait for attempts in progress (each bounded by the timeout), close HTTP; call
        after the loop stopped. Their results are not recorded: the next owner attempts
        those deliveries again (at least once)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()


def _died_at(delivery: webhook_pb2.WebhookDelivery) -> datetime:
    if delivery.HasField("last_attempt_at"):
        return from_timestamp(delivery.last_attempt_at)
    return from_timestamp(delivery.created_at)


def signature(subscription: webhook_pb2.WebhookSubscription, body: bytes, now: datetime) -> str:
    """`X-Socialcare-Signature` for `body` sent now: `t=<unix s>,v1=<hex>`, plus a second
    `v1=` signed with the previous secret while a rotation lasts."""
    stamp = int(now.timestamp())
    header = generic_signature(subscription.secret, body, timestamp=stamp)
    if (
        subscription.previous_secret
        and subscription.HasField("previous_secret_until")
        and now < from_timestamp(subscription.previous_secret_until)
    ):
        old = generic_signature(subscription.previous_secret, body, timestamp=stamp)
        header += ",v1=" + old.rpartition("v1=")[2]
    return header


class CommandsFollower(TopicFollower):
    """A `Component`: reads webhooks.commands and privacy.erasures (one partition each)
    from the beginning, then follows them, handing every record to the sender (which
    applies them on its loop's thread, in `tick`). A group of its own that never commits
    (`TopicFollower`): each sender instance needs every command (it applies those about
    its partitions)."""

    TOPICS = (Topic.WEBHOOK_COMMANDS.value, Topic.PRIVACY_ERASURES.value)

    def __init__(self, bus: Bus, sender: SenderProcessor) -> None:
        self._sender = sender
        self._live_from: dict[TopicPartition, int] | None = None
        super().__init__(
            bus,
            self.TOPICS,
            self._hand_over,
            name="webhook-commands",
            group="webhook-commands",
            prepare=self._note_live_from_once,
        )

    def start(self) -> None:
        # What is already there when this process starts is history (see `receive`): note
        # where it ends now, before anything else can be written.
        try:
            self._note_live_from()
        except BusError as exc:
            log.warning("webhook commands: end offsets unknown yet", extra={"error": str(exc)})
        super().start()

    def _note_live_from(self) -> None:
        self._live_from = {
            TopicPartition(topic, partition): offset
            for topic in self.TOPICS
            for partition, offset in self._bus.end_offsets(topic, [0]).items()
        }

    def _note_live_from_once(self) -> None:
        if self._live_from is None:
            self._note_live_from()

    def _hand_over(self, records: list[Record]) -> None:
        live_from = self._live_from or {}
        for record in records:
            live = record.offset >= live_from.get(record.topic_partition, 0)
            self._sender.receive(record, live)
