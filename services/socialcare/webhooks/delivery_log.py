"""The delivery log the webhook API shows: every subscription's recent deliveries, read from
`webhooks.deliveries` by the process that serves the API (the gateway).

Why a follower of the topic and not a query to the sender: the topic already is the log
(compacted, key = delivery id, every state change a new version: pending with its next
attempt, delivered, dead; delivered ones tombstoned after SOCIALCARE_WEBHOOK_LOG_RETENTION).
So any number of gateway replicas can read it without a call into the sender, a restart
rebuilds it from the topic (nothing is lost), and the sender's loop is never slowed by
readers. The cost is memory in the gateway and a moment of lag behind the sender.

What is kept, per subscription: every PENDING and every DEAD delivery (the dead-letter list
must be complete to be replayed) and the newest `keep_delivered` DELIVERED ones (default
1000; older ones drop out of memory first, though the topic still holds them until their
retention). Bodies are kept: `GET .../deliveries/{id}` shows the exact bytes sent.

Versions: the sender writes version+1 for every change of a delivery; a record whose
version is not newer than the one held is ignored (a redelivered or re-read record). A
tombstone (`Record.tombstone`) forgets the delivery.

`DeliveryLogFollower` (a `Component`, a `core.follower.TopicFollower`) reads the whole topic
from the start in its own consumer group (never committing: its position is only worth
anything to this process), then follows it. `DeliveryLog.ready` turns true once it has
read what the topic held when it started; until then the API answers 503
`delivery_log_loading` rather than an incomplete list.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from socialcare.core.bus import Bus, Record
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError, decode
from socialcare.core.follower import TopicFollower
from socialcare.v1 import webhook_pb2

log = logging.getLogger(__name__)

KEEP_DELIVERED = 1000
PENDING = webhook_pb2.WEBHOOK_DELIVERY_STATE_PENDING
DELIVERED = webhook_pb2.WEBHOOK_DELIVERY_STATE_DELIVERED
DEAD = webhook_pb2.WEBHOOK_DELIVERY_STATE_DEAD


class InvalidCursorError(ValueError):
    """A `cursor` that this log did not hand out."""


@dataclass
class _SubscriptionLog:
    open: dict[str, webhook_pb2.WebhookDelivery] = field(default_factory=dict)
    """PENDING and DEAD (and any state but DELIVERED), by delivery id."""
    delivered: OrderedDict[str, webhook_pb2.WebhookDelivery] = field(default_factory=OrderedDict)
    """DELIVERED, oldest first (by when they were read), capped."""


@dataclass(frozen=True, slots=True)
class Page:
    deliveries: list[webhook_pb2.WebhookDelivery]
    next_cursor: str | None


class DeliveryLog:
    """The deliveries of every subscription, as the topic last said; thread-safe. Getters
    return copies."""

    def __init__(self, *, keep_delivered: int = KEEP_DELIVERED) -> None:
        self.keep_delivered = keep_delivered
        self._lock = threading.Lock()
        self._logs: dict[str, _SubscriptionLog] = {}
        self._where: dict[str, str] = {}  # delivery id -> subscription id
        self._versions: dict[str, int] = {}
        self._ready = threading.Event()
        self.applied = 0

    # -- state ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def mark_ready(self) -> None:
        self._ready.set()

    def wait_ready(self, timeout_s: float) -> bool:
        return self._ready.wait(timeout_s)

    # -- applying ------------------------------------------------------------------------

    def apply(self, delivery: webhook_pb2.WebhookDelivery) -> bool:
        """Hold `delivery` as its delivery's latest state; False (nothing changed) when a
        version as new or newer is held already."""
        key = delivery.delivery_id
        if not key:
            return False
        with self._lock:
            held = self._versions.get(key)
            if held is not None and delivery.version <= held:
                return False
            self._forget(key)
            copy = webhook_pb2.WebhookDelivery()
            copy.CopyFrom(delivery)
            entries = self._logs.setdefault(delivery.subscription_id, _SubscriptionLog())
            if delivery.state == DELIVERED:
                entries.delivered[key] = copy
                while len(entries.delivered) > self.keep_delivered:
                    dropped, _ = entries.delivered.popitem(last=False)
                    self._where.pop(dropped, None)
                    # The version stays known: a re-read older record must not come back.
            else:
                entries.open[key] = copy
            self._where[key] = delivery.subscription_id
            self._versions[key] = delivery.version
            self.applied += 1
            return True

    def forget(self, delivery_id: str) -> None:
        """A tombstone: the delivery is gone (its retention passed, or an erasure)."""
        with self._lock:
            self._forget(delivery_id)
            self._versions.pop(delivery_id, None)

    def _forget(self, delivery_id: str) -> None:
        subscription_id = self._where.pop(delivery_id, None)
        if subscription_id is None:
            return
        entries = self._logs.get(subscription_id)
        if entries is None:
            return
        entries.open.pop(delivery_id, None)
        entries.delivered.pop(delivery_id, None)
        if not entries.open and not entries.delivered:
            del self._logs[subscription_id]

    def apply_records(self, records: Iterable[Record]) -> int:
        """Apply topic records in order (tombstones forget; poison records are logged and
        skipped). Returns how many were read."""
        read = 0
        for record in records:
            read += 1
            if record.tombstone:
                if record.key is not None:
                    self.forget(record.key.decode(errors="replace"))
                continue
            try:
                self.apply(decode(record, webhook_pb2.WebhookDelivery))
            except InvalidRecordError as exc:
                log.warning(
                    "a webhooks.deliveries record could not be read and was ignored",
                    extra={
                        "partition": record.partition,
                        "offset": record.offset,
                        "error": str(exc),
                    },
                )
        return read

    # -- reading -------------------------------------------------------------------------

    def delivery(
        self, subscription_id: str, delivery_id: str
    ) -> webhook_pb2.WebhookDelivery | None:
        with self._lock:
            entries = self._logs.get(subscription_id)
            if entries is None:
                return None
            found = entries.open.get(delivery_id) or entries.delivered.get(delivery_id)
            return _copy(found) if found is not None else None

    def dead_ids(self, subscription_id: str) -> set[str]:
        with self._lock:
            entries = self._logs.get(subscription_id)
            if entries is None:
                return set()
            return {key for key, d in entries.open.items() if d.state == DEAD}

    def counts(self, subscription_id: str) -> dict[int, int]:
        """How many deliveries of each state are held for the subscription."""
        counted: dict[int, int] = {PENDING: 0, DELIVERED: 0, DEAD: 0}
        with self._lock:
            entries = self._logs.get(subscription_id)
            if entries is not None:
                for delivery in entries.open.values():
                    counted[delivery.state] = counted.get(delivery.state, 0) + 1
                counted[DELIVERED] = len(entries.delivered)
        return counted

    def page(
        self,
        subscription_id: str,
        *,
        state: int | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """The subscription's deliveries (of `state`, or all), newest first (by when each
        was made, then by id), `limit` at a time; `cursor` continues after the page that
        handed it out. InvalidCursorError for a cursor that is not one of ours."""
        after = _decode_cursor(cursor) if cursor else None
        with self._lock:
            entries = self._logs.get(subscription_id)
            if entries is None:
                return Page([], None)
            chosen = [
                d
                for d in (*entries.open.values(), *entries.delivered.values())
                if state is None or d.state == state
            ]
            chosen.sort(key=_order, reverse=True)
            if after is not None:
                chosen = [d for d in chosen if _order(d) < after]
            page = [_copy(d) for d in chosen[: limit + 1]]
        more = len(page) > limit
        page = page[:limit]
        return Page(page, _encode_cursor(_order(page[-1])) if more and page else None)


def _order(delivery: webhook_pb2.WebhookDelivery) -> tuple[int, str]:
    made = delivery.created_at
    return (made.seconds * 1_000_000_000 + made.nanos, delivery.delivery_id)


def _encode_cursor(position: tuple[int, str]) -> str:
    raw = f"{position[0]}:{position[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, delivery_id = raw.partition(":")
        if not delivery_id:
            raise ValueError("no delivery id")
        return int(stamp), delivery_id
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidCursorError("cursor is not one this API handed out") from exc


def _copy(delivery: webhook_pb2.WebhookDelivery) -> webhook_pb2.WebhookDelivery:
    clone = webhook_pb2.WebhookDelivery()
    clone.CopyFrom(delivery)
    return clone


class DeliveryLogFollower(TopicFollower):
    """A `Component`: one thread that reads `webhooks.deliveries` into a `DeliveryLog` from
    the beginning and then follows it (`TopicFollower`: a group of its own that never
    commits); the log is ready once it has read what the topic held when it connected."""

    def __init__(self, bus: Bus, delivery_log: DeliveryLog) -> None:
        self._delivery_log = delivery_log
        super().__init__(
            bus,
            [Topic.WEBHOOK_DELIVERIES.value],
            delivery_log.apply_records,
            name="webhook-delivery-log",
            group="webhook-delivery-log",
            on_caught_up=self._ready,
        )

    def _ready(self) -> None:
        self._delivery_log.mark_ready()
        log.info("webhook delivery log rebuilt", extra={"records": self._delivery_log.applied})
