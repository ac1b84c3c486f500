"""The subscriptions directory: every integrator's webhook subscriptions, held in memory by
each process that needs them (the gateway's API, the fan-out, the sender) and kept on the
compacted topic `webhooks.subscriptions` (one partition, key: subscription id).

It works like the account directory (core/auth/accounts.py): rebuilt at start by replaying
the topic (`load_subscriptions`), then followed (`SubscriptionsFollower`), so every process
converges on the same state within a poll. A record is a subscription's whole state;
records apply in log order (the later wins). `save` publishes, waits until the record is
durable, then applies it here at once. A deleted subscription is a record with
`deleted=True` (kept until compaction; nothing is sent for it).

Two writers exist: the API (create, update, rotate, delete) and the sender, which pauses a
subscription whose receiver answered 410 Gone. Both write the whole record they read, so
the later one wins, as with any last-write-wins store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from socialcare.core.bus import Bus, Producer, TopicPartition
from socialcare.core.bus.base import Record
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.events import InvalidRecordError, decode, key_text, new_event_id
from socialcare.core.follower import TopicFollower, replay_to_end
from socialcare.v1 import webhook_pb2
from socialcare.webhooks.domain import wants

log = logging.getLogger(__name__)

SOURCE = "webhooks"


class SubscriptionDirectory:
    """Subscriptions by id; thread-safe. Getters return copies, so a caller may change what
    it got and `save` it."""

    def __init__(self, producer: Producer | None = None, *, write_timeout_s: float = 10.0) -> None:
        self._producer = producer
        self._write_timeout_s = write_timeout_s
        self._lock = threading.Lock()
        self._subscriptions: dict[str, webhook_pb2.WebhookSubscription] = {}
        # brand -> ids of its live (not deleted) subscriptions, for the fan-out's lookups.
        self._by_brand: dict[str, set[str]] = {}
        self.applied = 0

    # -- reading -------------------------------------------------------------------------
    def subscription(self, subscription_id: str) -> webhook_pb2.WebhookSubscription | None:
        """The subscription (a copy); None when unknown or deleted."""
        with self._lock:
            found = self._subscriptions.get(subscription_id)
            if found is None or found.deleted:
                return None
            return _copy(found)

    def known(self, subscription_id: str) -> webhook_pb2.WebhookSubscription | None:
        """The subscription as last recorded, deleted or not (a copy); None when unknown."""
        with self._lock:
            found = self._subscriptions.get(subscription_id)
            return _copy(found) if found is not None else None

    def subscriptions(self, brand: str | None = None) -> list[webhook_pb2.WebhookSubscription]:
        """Live subscriptions (of `brand`, or all), oldest first."""
        with self._lock:
            ids = (
                self._by_brand.get(brand, set())
                if brand is not None
                else {i for i, s in self._subscriptions.items() if not s.deleted}
            )
            found = [_copy(self._subscriptions[i]) for i in ids]
        return sorted(found, key=lambda s: (s.created_at.seconds, s.created_at.nanos, s.id))

    def for_event(self, brand: str, event_type: str) -> list[webhook_pb2.WebhookSubscription]:
        """The subscriptions that receive an event of `event_type` of `brand` now (active,
        not deleted, that brand, subscribed to the type), oldest first. Copies."""
        with self._lock:
            found = [
                _copy(self._subscriptions[i])
                for i in self._by_brand.get(brand, set())
                if wants(self._subscriptions[i], brand, event_type)
            ]
        return sorted(found, key=lambda s: (s.created_at.seconds, s.created_at.nanos, s.id))

    # -- applying ------------------------------------------------------------------------
    def apply(self, subscription: webhook_pb2.WebhookSubscription) -> None:
        """Make `subscription` the current state of its id (records apply in log order)."""
        if not subscription.id:
            log.warning("a webhook subscription record without an id was ignored")
            return
        with self._lock:
            previous = self._subscriptions.get(subscription.id)
            if previous is not None:
                self._by_brand.get(previous.brand, set()).discard(subscription.id)
            self._subscriptions[subscription.id] = _copy(subscription)
            if not subscription.deleted:
                self._by_brand.setdefault(subscription.brand, set()).add(subscription.id)
            self.applied += 1

    def apply_records(self, records: Iterable[Record]) -> int:
        """Apply topic records in order; unreadable records are logged and skipped; a
        tombstone forgets its subscription. Returns how many were read."""
        read = 0
        for record in records:
            read += 1
            if record.tombstone:
                self._forget(key_text(record) or "")
                continue
            try:
                self.apply(decode(record, webhook_pb2.WebhookSubscription))
            except InvalidRecordError as exc:
                log.warning(
                    "a webhooks.subscriptions record could not be read and was ignored",
                    extra={"offset": record.offset, "error": str(exc)},
                )
        return read

    def _forget(self, subscription_id: str) -> None:
        with self._lock:
            previous = self._subscriptions.pop(subscription_id, None)
            if previous is not None:
                self._by_brand.get(previous.brand, set()).discard(subscription_id)

    # -- writing -------------------------------------------------------------------------
    def save(self, subscription: webhook_pb2.WebhookSubscription) -> None:
        """Publish `subscription` (durably, with a new record id) and apply it here. Raises
        BusError (503) when the bus does not take it; then nothing changed here."""
        if self._producer is None:
            raise RuntimeError("this subscription directory is read-only (no producer)")
        if not subscription.id:
            raise ValueError("a subscription needs an id")
        subscription.record_id = new_event_id()
        for delivery in publish_effects(
            self._producer, [Emit(Topic.WEBHOOK_SUBSCRIPTIONS, subscription)], source=SOURCE
        ):
            delivery.wait(self._write_timeout_s)
        self.apply(subscription)


def _copy(subscription: webhook_pb2.WebhookSubscription) -> webhook_pb2.WebhookSubscription:
    clone = webhook_pb2.WebhookSubscription()
    clone.CopyFrom(subscription)
    return clone


def load_subscriptions(bus: Bus, producer: Producer | None) -> tuple[SubscriptionDirectory, int]:
    """The directory rebuilt from `webhooks.subscriptions` (blocks until the replay is done),
    and the offset after the last record read, where a `SubscriptionsFollower` takes over."""
    directory = SubscriptionDirectory(producer)
    topic = Topic.WEBHOOK_SUBSCRIPTIONS.value
    end = replay_to_end(bus, topic, directory.apply_records).get(TopicPartition(topic, 0), 0)
    log.info(
        "webhook subscriptions rebuilt",
        extra={"records": directory.applied, "subscriptions": len(directory.subscriptions())},
    )
    return directory, end


class SubscriptionsFollower(TopicFollower):
    """A `Component`: one thread applying every other process's subscription changes
    (`TopicFollower`: a group of its own that never commits, starting where the replay
    ended)."""

    def __init__(self, bus: Bus, directory: SubscriptionDirectory, next_offset: int) -> None:
        topic = Topic.WEBHOOK_SUBSCRIPTIONS.value
        super().__init__(
            bus,
            [topic],
            directory.apply_records,
            name="webhook-subscriptions",
            group="webhook-subscriptions",
            start={TopicPartition(topic, 0): next_offset},
        )
