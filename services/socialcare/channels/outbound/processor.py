"""The connectors' consumer-loop plug-in: care.outbound in, replies posted, care.deliveries out.

Never post a reply twice. The facts that a reply was handled are its deliveries on
care.deliveries (keyed, like care.outbound, by case id, so partition p of one holds the
deliveries of the replies in partition p of the other). When partitions arrive,
`assigned` replays those partitions of care.deliveries and remembers every reply id that
has a delivery (sent, delivered, read or failed); such a reply seen again (a redelivery
after a crash or rebalance) is skipped and counted. A reply posted whose delivery was then
lost with a failed flush is remembered in memory (`discard` keeps what platforms already
took: that is a fact about the world, not state derived from the bus) and its delivery is
emitted again without a second post.

Posting happens in `tick`, after the batch's records were read: `process` only queues a
reply, `tick` posts the queue concurrently (one worker per case, see `ReplySender.send_all`).
Each worker makes a reply's delivery durable on this processor's own producer right after
the platform's answer, and only then posts its next reply. So the window a crash leaves is
the replies whose HTTP call was in flight, or answered and not yet acknowledged by the bus:
at most one per worker (`concurrency`), whatever the batch size. Their retry carries the
same `Idempotency-Key` (the reply id) for platforms and proxies that honour it; X, Meta and
LinkedIn do not, so the customer may see those (and only those) twice.

Why this processor writes to the bus itself, against the rule of `core.effects` (a
processor returns its effects and the loop publishes them): a post is an act on the
outside world that cannot be taken back, and its delivery is the only record of it. Handed
to the loop, it would become durable only at the loop's flush after the whole batch, and a
crash before that would re-post every reply of the batch the platform already took. `tick`
returns nothing for replies whose delivery a worker made durable; a delivery re-emitted
from memory (`_on_reply`, after a failed flush) still goes the loop's way. Either way a
delivery's event id is derived from the reply, status and platform id, so a copy (a
delivery that became durable although its acknowledgement failed, then emitted again) is
a redelivery of the same event to consumers.

If making a delivery durable fails, no worker posts another reply, and `tick` raises the
bus's error once the calls in flight are settled: the loop retries the batch (rewind,
`discard`, rebuild), the replies posted meanwhile come back from memory without a second
post, and the ones not posted are posted then. Offsets are committed after `tick` returned,
so only once every reply of the batch has a durable delivery.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Protocol

from prometheus_client import Counter, Histogram
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from socialcare.channels.outbound.sender import ReplySender
from socialcare.core.bus import Producer, Record, TopicPartition
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import channel_name
from socialcare.core.domain.deliveries import STATUS_NAMES
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.events import InvalidRecordError, decode
from socialcare.core.retry import RetryPolicy
from socialcare.v1 import commands_pb2, delivery_pb2

log = logging.getLogger(__name__)

GROUP = "connectors"
# Replies posted whose delivery may not be durable yet, remembered across `discard`.
REMEMBERED_OUTCOMES = 10_000

OUTBOUND_REPLIES = Counter(
    "socialcare_outbound_replies_total",
    "Replies the connectors handled, by outcome: sent, failed, or skipped (already handled).",
    ["channel", "outcome"],
)
OUTBOUND_BATCH_SECONDS = Histogram(
    "socialcare_outbound_batch_seconds",
    "Time to settle one batch of replies (every reply sent or failed, retries included).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


class OutboundSettings(BaseSettings):
    """How hard the connectors try (environment prefix `SOCIALCARE_OUTBOUND_`)."""

    model_config = SettingsConfigDict(env_prefix="SOCIALCARE_OUTBOUND_", extra="ignore")

    concurrency: int = Field(
        default=16, ge=1, description="SOCIALCARE_OUTBOUND_CONCURRENCY: cases posted at once."
    )
    max_attempts: int = Field(
        default=6, ge=1, description="SOCIALCARE_OUTBOUND_MAX_ATTEMPTS: calls per reply."
    )
    budget_s: float = Field(
        default=60.0,
        ge=0,
        description="SOCIALCARE_OUTBOUND_BUDGET_S: how long a batch of replies may be "
        "retried before the unsent ones are reported failed. Keep budget + timeout under the "
        "bus's max poll interval (120 s on both backends), or the group drops the member.",
    )
    backoff_base_s: float = Field(
        default=0.5, ge=0, description="SOCIALCARE_OUTBOUND_BACKOFF_BASE_S"
    )
    backoff_cap_s: float = Field(
        default=30.0, ge=0, description="SOCIALCARE_OUTBOUND_BACKOFF_CAP_S"
    )
    timeout_s: float = Field(
        default=10.0, gt=0, description="SOCIALCARE_OUTBOUND_TIMEOUT_S: one HTTP call."
    )
    batch_size: int = Field(
        default=100,
        ge=1,
        description="SOCIALCARE_OUTBOUND_BATCH_SIZE: replies read per poll (the consumer "
        "loop's batch). It does not bound the crash window: each delivery is made durable "
        "right after its post, so a crash leaves at most `concurrency` replies posted "
        "without one.",
    )


class DeliveryLog(Protocol):
    """What the processor needs of the bus (a `Bus` is one): partition counts, to check
    that care.outbound and care.deliveries are co-partitioned, and `replay`."""

    def partition_count(self, topic: str) -> int:
        """How many partitions `topic` has."""
        ...

    def replay(self, topic: str, partitions: Collection[int] | None = None) -> Iterator[Record]:
        """Every record of these partitions of `topic`, up to their ends at the call."""
        ...


class ConnectorBus(DeliveryLog, Protocol):
    """A `DeliveryLog` that also makes producers: the processor's own, for deliveries."""

    def producer(self, client_id: str = "socialcare") -> Producer:
        """A new producer; the caller closes it."""
        ...


class Sender(Protocol):
    def send_all(
        self,
        replies: Sequence[commands_pb2.OutboundReply],
        settle: Callable[[delivery_pb2.ReplyDelivery], None] | None = None,
    ) -> list[delivery_pb2.ReplyDelivery]:
        """One delivery per reply, in order; `settle` called with each as soon as it is
        known, before the worker that posted it posts again (see `ReplySender.send_all`)."""
        ...

    def close(self) -> None:
        """Release connections and worker threads."""
        ...


class OutboundProcessor(TypedProcessor):
    """See the module docstring. `producer`: the processor's own, on which the posting
    workers make each delivery durable (thread-safe, as every `Producer`); closed by
    `close`. `ack_timeout_s`: how long a worker waits for one delivery's acknowledgement
    before the batch is given up and retried."""

    def __init__(
        self,
        deliveries: DeliveryLog,
        sender: Sender,
        producer: Producer,
        *,
        ack_timeout_s: float = 30.0,
    ) -> None:
        super().__init__()
        self._deliveries = deliveries
        self._sender = sender
        self._producer = producer
        self._ack_timeout_s = ack_timeout_s
        self._handled: dict[int, set[str]] = {}
        # (partition, reply, the traceparent of its record) waiting for `tick`.
        self._queue: list[tuple[int, commands_pb2.OutboundReply, str]] = []
        self._queued: set[str] = set()
        # Written by the posting workers, read on the loop's thread between ticks.
        self._outcomes: OrderedDict[str, delivery_pb2.ReplyDelivery] = OrderedDict()
        self._outcomes_lock = threading.Lock()
        self._traces: dict[str, str] = {}
        self.skipped = 0
        self.on(Topic.OUTBOUND, commands_pb2.OutboundReply, self._on_reply)

    # -- lifecycle -----------------------------------------------------------------------
    def prepare(self) -> None:
        """Check co-partitioning: the handled-reply set of outbound partition p is read from
        deliveries partition p, which holds the same cases only if the counts match."""
        counts = {
            t: self._deliveries.partition_count(t) for t in (Topic.OUTBOUND, Topic.DELIVERIES)
        }
        if len(set(counts.values())) != 1:
            raise RuntimeError(
                f"connectors need co-partitioned topics (equal partition counts), found {counts}; "
                "create them with the same SOCIALCARE_TOPIC_PARTITIONS"
            )

    def close(self) -> None:
        """Close the sender (HTTP connections, worker threads) and the deliveries' producer;
        call after the loop stopped."""
        try:
            self._sender.close()
        finally:
            self._producer.close()

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        numbers = sorted(
            {tp.partition for tp in partitions if tp.topic == Topic.OUTBOUND} - set(self._handled)
        )
        if not numbers:
            return
        handled: dict[int, set[str]] = {n: set() for n in numbers}
        for record in self._deliveries.replay(Topic.DELIVERIES, partitions=numbers):
            try:
                delivery = decode(record, delivery_pb2.ReplyDelivery)
            except InvalidRecordError as exc:
                log.warning("skipping unreadable delivery", extra={"error": str(exc)})
                continue
            handled[record.partition].add(delivery.reply_id)
        self._handled.update(handled)
        log.info(
            "outbound partitions rebuilt",
            extra={"partitions": numbers, "handled": sum(len(h) for h in handled.values())},
        )

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions if tp.topic == Topic.OUTBOUND}
        for number in gone:
            self._handled.pop(number, None)
        # Not posted yet: the new owner posts them (their offsets are not committed here).
        self._queue = [(p, r, t) for p, r, t in self._queue if p not in gone]
        self._queued = {r.reply_id for _, r, _ in self._queue}

    def discard(self) -> None:
        """A flush failed: forget what the bus was said to hold, and the queue (its records
        come again); keep `_outcomes`, what platforms already took."""
        self._handled.clear()
        self._queue.clear()
        self._queued.clear()

    # -- records -------------------------------------------------------------------------
    def _on_reply(self, reply: commands_pb2.OutboundReply, record: Record) -> list[Emit]:
        handled = self._handled.get(record.partition)
        if handled is None:
            # The loop rebuilds a partition before handing over its records: a bug if not,
            # and raising makes the loop retry the record rather than post it blindly.
            raise RuntimeError(f"outbound partition {record.partition} is not rebuilt")
        if not reply.reply_id:
            raise InvalidRecordError("outbound reply without a reply_id")
        if reply.reply_id in handled or reply.reply_id in self._queued:
            self._skip(reply)
            return []
        with self._outcomes_lock:
            known = self._outcomes.get(reply.reply_id)
        if known is not None:
            # Posted before, its delivery not acknowledged (or lost with a failed flush):
            # report it again, through the loop.
            handled.add(reply.reply_id)
            return [Emit(Topic.DELIVERIES, known)]
        trace = record.header("traceparent")
        self._queue.append(
            (record.partition, reply, trace.decode("ascii", "replace") if trace else "")
        )
        self._queued.add(reply.reply_id)
        return []

    def _skip(self, reply: commands_pb2.OutboundReply) -> None:
        self.skipped += 1
        OUTBOUND_REPLIES.labels(channel_name(reply.channel), "skipped").inc()
        log.info(
            "reply already handled, not posting it again",
            extra={"reply_id": reply.reply_id, "case_id": reply.case_id},
        )

    def tick(self) -> Sequence[Emit]:
        """Post the queued replies; each delivery is made durable by the worker that posted
        it (`_settle`), so nothing is returned. Raises the bus's error if one could not be
        (see the module docstring)."""
        if not self._queue:
            return ()
        queue, self._queue = self._queue, []
        self._queued.clear()
        self._traces = {reply.reply_id: trace for _, reply, trace in queue if trace}
        try:
            with OUTBOUND_BATCH_SECONDS.time():
                self._sender.send_all([reply for _, reply, _ in queue], self._settle)
        finally:
            self._traces = {}
        for partition, reply, _ in queue:
            self._handled.setdefault(partition, set()).add(reply.reply_id)
        return ()

    def _settle(self, delivery: delivery_pb2.ReplyDelivery) -> None:
        """On a posting worker: remember what the platform took (it stands, whatever the
        bus does next), count it, then publish its delivery and wait until it is durable.
        Raises BusError if it is not acknowledged: the worker then posts nothing more."""
        with self._outcomes_lock:
            self._outcomes[delivery.reply_id] = delivery
            while len(self._outcomes) > REMEMBERED_OUTCOMES:
                self._outcomes.popitem(last=False)
        OUTBOUND_REPLIES.labels(
            channel_name(delivery.channel), STATUS_NAMES.get(delivery.status, "unknown")
        ).inc()
        effect = Emit(
            Topic.DELIVERIES, delivery, traceparent=self._traces.get(delivery.reply_id, "")
        )
        for acknowledgement in publish_effects(self._producer, [effect], source=GROUP):
            acknowledgement.wait(self._ack_timeout_s)


def outbound_processor(
    bus: ConnectorBus,
    care: CareConfig,
    clock: Clock,
    settings: OutboundSettings | None = None,
) -> OutboundProcessor:
    """The processor for group `GROUP`, posting with a `ReplySender` configured from
    `settings` (default: the environment, `OutboundSettings`) and recording deliveries on a
    producer of its own from `bus`. Wire it as
    `runtime.consumer_loop(GROUP, processor, batch_size=settings.batch_size)` and call
    `processor.close()` once the loop has stopped.
    """
    settings = settings or OutboundSettings()
    sender = ReplySender(
        care,
        clock,
        policy=RetryPolicy(
            max_attempts=settings.max_attempts,
            base_s=settings.backoff_base_s,
            cap_s=settings.backoff_cap_s,
            budget_s=settings.budget_s,
        ),
        timeout_s=settings.timeout_s,
        concurrency=settings.concurrency,
    )
    return OutboundProcessor(bus, sender, bus.producer(f"{GROUP}-deliveries"))
