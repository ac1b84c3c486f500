"""The connectors' processor: every reply settled once, never posted twice, across
redeliveries, restarts, failed flushes and rebalances; a crash re-posts only the replies in
flight (in-memory log, then the real consumer loop on the embedded bus against the fake
platforms)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from socialcare.channels.outbound.processor import (
    GROUP,
    OutboundProcessor,
    OutboundSettings,
    outbound_processor,
)
from socialcare.channels.outbound.sender import ReplySender
from socialcare.core.bus import BusError, Headers, Record, TopicPartition
from socialcare.core.bus.base import Delivery
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.clock import to_timestamp, utc_now
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.deliveries import DELIVERED, SENT, delivery_event
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import decode
from socialcare.core.retry import RetryPolicy
from socialcare.v1 import commands_pb2, delivery_pb2, message_pb2
from tests.fakes.platforms import FakePlatforms, fake_brand
from tests.unit.factories import T0
from tests.unit.loop_support import laid_out_bus, loop_thread, wait_until
from tests.unit.memory_log import MemoryLog
from tests.unit.metrics import sample

PARTITIONS = 4


class Log(MemoryLog):
    """The in-memory log with the partition counts the processor checks."""

    def __init__(self, partitions: int, deliveries_partitions: int | None = None) -> None:
        super().__init__(partitions)
        self.deliveries_partitions = deliveries_partitions or partitions

    def partition_count(self, topic: str) -> int:
        return self.deliveries_partitions if topic == Topic.DELIVERIES else self.partitions


class DyingLog(Log):
    """A log whose appends fail once `durable` deliveries are on it, as a producer whose bus
    went away (or whose process died) would: every later delivery's acknowledgement raises
    and the record is not on the log. `heal()` brings it back."""

    def __init__(self, partitions: int, durable: int) -> None:
        super().__init__(partitions)
        self.durable = durable
        self.refused = 0
        self._lock = threading.Lock()

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        with self._lock:
            if topic == Topic.DELIVERIES:
                if self.durable <= 0:
                    self.refused += 1
                    raise BusError("the bus is gone")
                self.durable -= 1
            return super().send(topic, value, key=key, headers=headers)

    def heal(self) -> None:
        self.durable = 1_000_000


class AcceptingSender:
    """Says SENT to everything, one reply after the other (as one worker), and remembers
    what it was asked to post."""

    def __init__(self) -> None:
        self.posted: list[str] = []
        self.closed = False

    def send_all(
        self,
        replies: Sequence[commands_pb2.OutboundReply],
        settle: Callable[[delivery_pb2.ReplyDelivery], None] | None = None,
    ) -> list[delivery_pb2.ReplyDelivery]:
        deliveries = []
        for r in replies:
            self.posted.append(r.reply_id)
            delivery = delivery_event(
                reply_id=r.reply_id,
                case_id=r.case_id,
                channel=r.channel,
                status=SENT,
                occurred_at=T0,
                platform_message_id=f"p-{r.reply_id}",
                attempts=1,
            )
            if settle is not None:
                settle(delivery)  # raising stops the posting, as ReplySender does
            deliveries.append(delivery)
        return deliveries

    def close(self) -> None:
        self.closed = True


def reply(n: int, case: str | None = None) -> commands_pb2.OutboundReply:
    return commands_pb2.OutboundReply(
        reply_id=f"reply-{n}",
        case_id=case or f"case-{n}",
        channel=message_pb2.CHANNEL_X,
        in_reply_to=f"tweet-{n}",
        text=f"answer {n}",
        brand="acme",
    )


def all_partitions() -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(Topic.OUTBOUND, p) for p in range(PARTITIONS))


def run(processor: OutboundProcessor, log: Log, records: list[Record]) -> list[Record]:
    """One loop iteration: process, tick, publish (what the consumer loop does); the
    records it added to the log, the processor's own (its deliveries) included."""
    before = len(log.sent)
    effects: list[Emit] = []
    for record in records:
        effects += processor.process(record)
    effects += processor.tick()
    log.append(effects)
    return log.sent[before:]


def started(log: Log, sender: AcceptingSender | ReplySender) -> OutboundProcessor:
    processor = OutboundProcessor(log, sender, log)
    processor.prepare()
    processor.assigned(all_partitions())
    return processor


def test_replies_are_posted_in_tick_and_reported_on_their_cases_partition() -> None:
    log, sender = Log(PARTITIONS), AcceptingSender()
    processor = started(log, sender)
    records = log.append([Emit(Topic.OUTBOUND, reply(n)) for n in range(8)])
    assert processor.process(records[0]) == []  # queued, not posted yet
    assert sender.posted == []
    published = run(processor, log, records[1:])
    assert sender.posted == [f"reply-{n}" for n in range(8)]
    assert len(published) == 8
    for record in published:
        delivery = decode(record, delivery_pb2.ReplyDelivery)
        assert record.topic == Topic.DELIVERIES
        assert record.partition == log.partition_of(delivery.case_id)


def test_each_delivery_is_durable_before_the_next_post_and_tick_returns_none() -> None:
    log, sender = Log(PARTITIONS), AcceptingSender()
    processor = started(log, sender)
    records = log.append([Emit(Topic.OUTBOUND, reply(n, case="case-1")) for n in range(3)])
    on_log_when_settled: list[int] = []
    post = sender.send_all

    def watched(
        replies: Sequence[commands_pb2.OutboundReply],
        settle: Callable[[delivery_pb2.ReplyDelivery], None] | None = None,
    ) -> list[delivery_pb2.ReplyDelivery]:
        def settle_and_count(delivery: delivery_pb2.ReplyDelivery) -> None:
            assert settle is not None
            settle(delivery)
            on_log_when_settled.append(sum(1 for r in log.sent if r.topic == Topic.DELIVERIES))

        return post(replies, settle_and_count)

    sender.send_all = watched  # type: ignore[method-assign]
    for record in records:
        assert processor.process(record) == []
    assert processor.tick() == ()
    # When `settle` returns (and the worker may post again), the delivery is on the log.
    assert on_log_when_settled == [1, 2, 3]
    assert [
        decode(r, delivery_pb2.ReplyDelivery).reply_id
        for r in log.sent
        if r.topic == Topic.DELIVERIES
    ] == ["reply-0", "reply-1", "reply-2"]


def test_a_redelivered_reply_is_skipped() -> None:
    log, sender = Log(PARTITIONS), AcceptingSender()
    processor = started(log, sender)
    records = log.append([Emit(Topic.OUTBOUND, reply(1))])
    run(processor, log, records)
    before = sample("socialcare_outbound_replies_total", channel="x", outcome="skipped")
    assert run(processor, log, records) == []
    assert sender.posted == ["reply-1"]
    assert processor.skipped == 1
    assert sample("socialcare_outbound_replies_total", channel="x", outcome="skipped") == before + 1


def test_a_reply_twice_in_one_batch_is_posted_once() -> None:
    log, sender = Log(PARTITIONS), AcceptingSender()
    processor = started(log, sender)
    records = log.append([Emit(Topic.OUTBOUND, reply(1)), Emit(Topic.OUTBOUND, reply(1))])
    assert len(run(processor, log, records)) == 1
    assert sender.posted == ["reply-1"]


def test_after_a_restart_handled_replies_are_rebuilt_from_deliveries() -> None:
    log, first_sender = Log(PARTITIONS), AcceptingSender()
    records = log.append([Emit(Topic.OUTBOUND, reply(n)) for n in range(10)])
    run(started(log, first_sender), log, records[:6])
    # A status webhook's delivery counts as handled too (the reply went out).
    log.append(
        [
            Emit(
                Topic.DELIVERIES,
                delivery_event(
                    reply_id="reply-7",
                    case_id="case-7",
                    channel=message_pb2.CHANNEL_WHATSAPP,
                    status=DELIVERED,
                    occurred_at=T0,
                ),
            )
        ]
    )
    # Crash before the commit: the new instance is given every record again.
    second_sender = AcceptingSender()
    restarted = started(log, second_sender)
    assert (Topic.DELIVERIES.value, tuple(range(PARTITIONS))) in log.replays
    run(restarted, log, records)
    assert second_sender.posted == ["reply-6", "reply-8", "reply-9"]
    assert restarted.skipped == 7


def test_a_failed_flush_after_tick_posts_nothing_again() -> None:
    log, sender = Log(PARTITIONS), AcceptingSender()
    processor = started(log, sender)
    records = log.append([Emit(Topic.OUTBOUND, reply(n)) for n in range(3)])
    for record in records:
        processor.process(record)
    processor.tick()
    processor.discard()  # the loop's flush failed: the batch comes again
    processor.assigned(all_partitions())  # rebuilt from the log: the deliveries are on it
    assert run(processor, log, records) == []
    assert sender.posted == ["reply-0", "reply-1", "reply-2"]  # once each
    assert processor.skipped == 3


def test_a_delivery_the_bus_refuses_stops_posting_and_the_retry_posts_nothing_twice() -> None:
    log, sender = DyingLog(PARTITIONS, durable=1), AcceptingSender()
    processor = started(log, sender)
    records = log.append([Emit(Topic.OUTBOUND, reply(n)) for n in range(4)])
    for record in records:
        processor.process(record)
    with pytest.raises(BusError):
        processor.tick()
    # reply-0 recorded; reply-1 posted, its delivery refused; nothing posted after it.
    assert sender.posted == ["reply-0", "reply-1"]
    # What the loop does next: discard, rebuild from the log, the batch again.
    processor.discard()
    log.heal()
    processor.assigned(all_partitions())
    published = run(processor, log, records)
    assert sender.posted == ["reply-0", "reply-1", "reply-2", "reply-3"]  # once each
    assert processor.skipped == 1  # reply-0, found on the log
    # reply-1's from memory, through the loop (no second post); the others' by the workers.
    assert sorted(decode(r, delivery_pb2.ReplyDelivery).reply_id for r in published) == [
        "reply-1",
        "reply-2",
        "reply-3",
    ]


def test_a_crash_re_posts_only_the_replies_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 while a batch is being posted, as the processor sees it: its producer stops
    making anything durable after 12 deliveries and the process is gone (nothing retried,
    discarded or closed). The next instance is given the whole batch again."""
    concurrency, count = 4, 40
    log = DyingLog(PARTITIONS, durable=12)
    with FakePlatforms(latency_s=0.002, honour_idempotency_key=False) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        care = care_for(fake)
        records = log.append([Emit(Topic.OUTBOUND, reply(n)) for n in range(count)])
        first = ReplySender(care, utc_now, policy=RetryPolicy(), concurrency=concurrency)
        crashed = started(log, first)
        for record in records:
            crashed.process(record)
        with pytest.raises(BusError):
            crashed.tick()
        first.close()
        posted_before = {r.idempotency_key for r in fake.sent()}
        recorded = {
            decode(r, delivery_pb2.ReplyDelivery).reply_id
            for r in log.sent
            if r.topic == Topic.DELIVERIES
        }
        unrecorded = posted_before - recorded
        # The whole batch (before: every reply the channel took) is far from posted: the
        # workers stopped at the first refused delivery.
        assert len(recorded) == 12
        assert 1 <= len(unrecorded) <= concurrency
        assert len(posted_before) < count

        log.heal()
        second = ReplySender(care, utc_now, policy=RetryPolicy(), concurrency=concurrency)
        restarted = started(log, second)
        run(restarted, log, records)
        second.close()

    reposted = {key for key, n in Counter(r.idempotency_key for r in fake.sent()).items() if n > 1}
    assert reposted == unrecorded  # the in-flight ones, and only those
    assert restarted.skipped == 12  # the rest: skipped as handled
    assert {r.idempotency_key for r in fake.sent()} == {f"reply-{n}" for n in range(count)}


def test_revoked_partitions_drop_their_queue_and_state() -> None:
    log, sender = Log(PARTITIONS), AcceptingSender()
    processor = started(log, sender)
    records = log.append([Emit(Topic.OUTBOUND, reply(n)) for n in range(8)])
    for record in records:
        processor.process(record)
    gone = records[0].partition
    processor.revoked(frozenset({TopicPartition(Topic.OUTBOUND, gone)}))
    processor.tick()
    kept = [decode(r, commands_pb2.OutboundReply).reply_id for r in records if r.partition != gone]
    assert sorted(sender.posted) == sorted(kept)
    with pytest.raises(RuntimeError, match="not rebuilt"):
        processor.process(records[0])


def test_prepare_refuses_topics_that_are_not_co_partitioned() -> None:
    with pytest.raises(RuntimeError, match="co-partitioned"):
        log = Log(4, deliveries_partitions=2)
        OutboundProcessor(log, AcceptingSender(), log).prepare()


def test_close_closes_the_sender() -> None:
    sender = AcceptingSender()
    log = Log(1)
    OutboundProcessor(log, sender, log).close()
    assert sender.closed


# -- the real consumer loop, embedded bus, fake platforms ---------------------------------
def deliveries_on(bus: EmbeddedBus) -> list[delivery_pb2.ReplyDelivery]:
    return [decode(r, delivery_pb2.ReplyDelivery) for r in bus.replay(Topic.DELIVERIES)]


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    bus = laid_out_bus(tmp_path / "bus", PARTITIONS)
    yield bus
    bus.close()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePlatforms]:
    with FakePlatforms(fail_rate=0.2, throttle_rate=0.1, retry_after_s=0, seed=11) as platforms:
        for name, value in platforms.env().items():
            monkeypatch.setenv(name, value)
        yield platforms


def care_for(fake: FakePlatforms) -> CareConfig:
    return CareConfig.model_validate(
        {**load_care_config().model_dump(by_alias=True), "brands": [fake_brand(fake, "acme")]}
    )


def run_loop(
    bus: EmbeddedBus, processor: OutboundProcessor, group: str, done: Callable[[], bool]
) -> None:
    """Run a consumer loop until `done()` (or 30 s pass: the assertions then tell what is
    missing)."""
    with loop_thread(bus, processor, group, max_backoff_s=5.0):  # the loop's own backoff
        wait_until(done, 30)


def test_loop_posts_every_reply_once_through_faults_and_a_lost_commit(
    bus: EmbeddedBus, fake: FakePlatforms
) -> None:
    producer = bus.producer("test")
    replies = [reply(n, case=f"case-{n % 13}") for n in range(60)]
    for r in replies:
        r.channel = message_pb2.CHANNEL_WHATSAPP
        r.kind = message_pb2.MESSAGE_KIND_DIRECT_MESSAGE
        r.account_id = "106540352242922"
        r.recipient_id = f"316{r.case_id}"
        r.customer_last_message_at.CopyFrom(to_timestamp(utc_now() - timedelta(minutes=5)))
    for r in replies:
        producer.send(Topic.OUTBOUND, r.SerializeToString(), key=r.case_id.encode())
    producer.flush()
    producer.close()

    # Quick retries, enough of them that 30 % faults never exhaust a reply's attempts.
    settings = OutboundSettings(max_attempts=12, backoff_base_s=0.01, backoff_cap_s=0.05)
    first = outbound_processor(bus, care_for(fake), utc_now, settings)
    run_loop(bus, first, GROUP, lambda: len(deliveries_on(bus)) >= 60)
    first.close()
    # A second group starts from the first record (as an instance would after losing its
    # committed offsets): it must find every reply handled.
    second = outbound_processor(bus, care_for(fake), utc_now, settings)
    run_loop(bus, second, "connectors-again", lambda: second.skipped >= 60)
    second.close()

    deliveries = deliveries_on(bus)
    assert sorted(d.reply_id for d in deliveries) == sorted(r.reply_id for r in replies)
    assert [(d.reply_id, d.reason) for d in deliveries if d.status != SENT] == []
    assert second.skipped == 60
    assert len(fake.sent("whatsapp")) == 60  # lost: none; posted twice: none
    assert fake.posted_twice() == 0 and fake.duplicates == 0
    outcomes = fake.outcomes()
    assert outcomes["failed"] > 0 and outcomes["throttled"] > 0  # the faults did happen
