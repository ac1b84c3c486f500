"""The fan-out (group `webhooks-fanout`): public events in, PENDING webhook deliveries out.

For each record of an event topic (care.cases, care.sla, care.escalations, care.incidents,
care.deliveries) that has a public event type, and each subscription of the event's brand
that wants that type now (active, not deleted), it emits one PENDING `WebhookDelivery` on
webhooks.deliveries: id derived from (subscription id, event id), body fixed now (the
catalogue's CloudEvent: deterministic bytes), attempts 0, due at once. A record delivered
again (a crash before the commit) makes the same ids and bodies; the sender keeps the
version it holds. From then on the sender is the delivery's only writer.

The brand of an event is the one its record names ("" = the first configured brand, as
everywhere on the platform). A reply report (care.deliveries) names none: its case's brand
is looked up in a small map (case id -> brand) that this instance keeps for the care.cases
partitions it owns (co-partitioned with care.deliveries), rebuilt from care.cases when a
partition arrives and followed from its records; a tombstone (an erased case) removes the
case from it.

It also runs `ReplayFromTime` commands from webhooks.commands: every source topic is read
from the first offset at or after `since` (`Bus.offsets_for_time`) up to its end, and each
event whose time is in [since, until) makes a delivery for that one subscription, with
`replay_id` = the command id (so ids differ from the live ones: a replay sends again).
care.cases is compacted, so a replay has each case's events as far as compaction kept
them (at least the latest); the other topics hold everything within their retention.
`ReplayDeadDeliveries` commands are the sender's (it holds the dead deliveries).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from google.protobuf.message import Message

from socialcare.core.bus import Bus, Record, TopicPartition
from socialcare.core.clock import Clock, from_timestamp
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.event_types import (
    SOURCE_TOPICS,
    SOURCES,
    WebhookEvent,
    describe,
    event_body,
    subscribed,
)
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, decode, key_text
from socialcare.v1 import case_pb2, webhook_pb2
from socialcare.webhooks import metrics
from socialcare.webhooks.domain import new_delivery
from socialcare.webhooks.subscriptions import SubscriptionDirectory

log = logging.getLogger(__name__)

GROUP = "webhooks-fanout"


class FanoutProcessor(TypedProcessor):
    """Group `webhooks-fanout`; see the module docstring."""

    def __init__(
        self,
        care: CareConfig,
        directory: SubscriptionDirectory,
        bus: Bus,
        clock: Clock,
    ) -> None:
        super().__init__()
        self._care = care
        self._directory = directory
        self._bus = bus
        self._clock = clock
        self._brands: dict[int, dict[str, str]] = {}  # care.cases partition -> case -> brand
        for topic in SOURCE_TOPICS:
            self.on(topic, SOURCES[topic].message_type, self._on_event)
        self.on(Topic.WEBHOOK_COMMANDS, webhook_pb2.WebhookCommand, self._on_command)

    # -- partitions ----------------------------------------------------------------------
    def prepare(self) -> None:
        """Reply reports find their case's brand in the same partition number of
        care.cases: the two topics must be co-partitioned."""
        counts = {
            t.value: self._bus.partition_count(t.value) for t in (Topic.CASES, Topic.DELIVERIES)
        }
        if len(set(counts.values())) != 1:
            raise RuntimeError(
                f"the webhook fan-out needs co-partitioned topics (equal partition counts), "
                f"found {counts}; create them with the same SOCIALCARE_TOPIC_PARTITIONS"
            )

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        numbers = sorted(
            tp.partition
            for tp in partitions
            if tp.topic == Topic.CASES.value and tp.partition not in self._brands
        )
        if not numbers:
            return
        rebuilt: dict[int, dict[str, str]] = {n: {} for n in numbers}
        for record in self._bus.replay(Topic.CASES.value, partitions=numbers):
            self._note_case(rebuilt[record.partition], record)
        self._brands.update(rebuilt)
        log.info(
            "webhook fan-out: case brands rebuilt",
            extra={"partitions": numbers, "cases": sum(len(m) for m in rebuilt.values())},
        )

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        for tp in partitions:
            if tp.topic == Topic.CASES.value:
                self._brands.pop(tp.partition, None)

    def discard(self) -> None:
        self._brands.clear()

    def _note_case(self, brands: dict[str, str], record: Record) -> None:
        case_id = key_text(record) or ""
        if record.tombstone:
            brands.pop(case_id, None)
            return
        try:
            event = decode(record, case_pb2.CaseEvent)
        except InvalidRecordError:
            return
        brands[event.case.id] = self._brand_name(event.case.brand)

    def _brand_name(self, named: str) -> str:
        """The brand an event belongs to: the one it names, or the first configured."""
        return named or self._care.brand("").name

    # -- records -------------------------------------------------------------------------
    def tombstone(self, record: Record) -> Sequence[Emit]:
        """An erased case (care.cases): forget its brand. Its deliveries are the sender's
        to erase (it follows privacy.erasures)."""
        if record.topic == Topic.CASES.value:
            self._brands.get(record.partition, {}).pop(key_text(record) or "", None)
        return ()

    def _on_event(self, message: Message, record: Record) -> list[Emit]:
        if isinstance(message, case_pb2.CaseEvent):
            brands = self._brands.setdefault(record.partition, {})
            brands[message.case.id] = self._brand_name(message.case.brand)
        event = describe(record.topic, message)
        if event is None:
            return []
        brand = self._brand_of(event, record.partition)
        if brand is None:
            metrics.FANOUT_SKIPPED.labels("no_brand").inc()
            log.warning(
                "no brand known for a reply report's case; no webhook deliveries made",
                extra={"case_id": event.case_id, "event_id": event.id},
            )
            return []
        subscriptions = self._directory.for_event(brand, event.type)
        if not subscriptions:
            return []
        body = event_body(event, brand=brand, time=_record_time(record))
        now = self._clock()
        made = [
            Emit(
                Topic.WEBHOOK_DELIVERIES,
                new_delivery(event, sub, brand=brand, body=body, now=now, source=_source(record)),
            )
            for sub in subscriptions
        ]
        metrics.FANOUT.labels(event.type).inc(len(made))
        metrics.DELIVERIES.labels("created").inc(len(made))
        return made

    def _brand_of(self, event: WebhookEvent, partition: int) -> str | None:
        if event.brand is not None:
            return self._brand_name(event.brand)
        return self._brands.get(partition, {}).get(event.case_id)

    # -- replays -------------------------------------------------------------------------
    def _on_command(self, command: webhook_pb2.WebhookCommand, record: Record) -> list[Emit]:
        if command.WhichOneof("action") != "replay_since":
            return []  # replays of dead deliveries are the sender's
        subscription = self._directory.subscription(command.subscription_id)
        if subscription is None:
            log.info(
                "replay for an unknown or deleted subscription ignored",
                extra={"subscription_id": command.subscription_id},
            )
            return []
        since = from_timestamp(command.replay_since.since)
        until = (
            from_timestamp(command.replay_since.until)
            if command.replay_since.HasField("until")
            else from_timestamp(command.issued_at)
            if command.HasField("issued_at")
            else self._clock()
        )
        made = list(self.replay_since(subscription, since, until, command.command_id))
        log.info(
            "webhook replay from a time",
            extra={
                "subscription_id": subscription.id,
                "command_id": command.command_id,
                "since": since.isoformat(),
                "until": until.isoformat(),
                "deliveries": len(made),
            },
        )
        metrics.DELIVERIES.labels("created").inc(len(made))
        return made

    def replay_since(
        self,
        subscription: webhook_pb2.WebhookSubscription,
        since: datetime,
        until: datetime,
        replay_id: str,
    ) -> Iterator[Emit]:
        """Deliveries of every event of `subscription`'s brand and types in [since, until)
        still on the source topics, each with `replay_id`."""
        now = self._clock()
        brand = subscription.brand
        case_brands: dict[str, str] = {}
        for partition_brands in self._brands.values():
            case_brands.update(partition_brands)
        since_ms = int(since.timestamp() * 1000)
        # care.cases first: its records teach the brands of cases that reply reports need.
        for topic in SOURCE_TOPICS:
            partitions = list(range(self._bus.partition_count(topic.value)))
            start = self._bus.offsets_for_time(topic.value, partitions, since_ms)
            for record in self._bus.replay(topic.value, start=start):
                if record.tombstone:
                    if topic is Topic.CASES:
                        case_brands.pop(key_text(record) or "", None)
                    continue
                try:
                    message = decode(record, SOURCES[topic].message_type)
                except InvalidRecordError:
                    continue
                event = describe(topic, message)
                if event is None:
                    continue
                if topic is Topic.CASES and isinstance(message, case_pb2.CaseEvent):
                    case_brands[message.case.id] = self._brand_name(message.case.brand)
                when = event.time or _record_time(record)
                if not since <= when < until:
                    continue
                event_brand = (
                    self._brand_name(event.brand)
                    if event.brand is not None
                    else case_brands.get(event.case_id)
                )
                if event_brand != brand or not subscribed(subscription.event_types, event.type):
                    continue
                body = event_body(event, brand=brand, time=_record_time(record))
                metrics.FANOUT.labels(event.type).inc()
                yield Emit(
                    Topic.WEBHOOK_DELIVERIES,
                    new_delivery(
                        event,
                        subscription,
                        brand=brand,
                        body=body,
                        now=now,
                        replay_id=replay_id,
                        source=_source(record),
                    ),
                )


def _record_time(record: Record) -> datetime:
    return datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)


def _source(record: Record) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"
