"""The sender against a real local HTTP receiver (embedded bus, real consumer loops):
failures are retried until the receiver recovers, a stalled receiver times out and is
retried, a refusal is dead at once, 410 pauses the subscription, every request is signed
(checked with the docs' verification snippet), a restart loses nothing pending and sends
nothing delivered again, dead deliveries can be replayed, and an erased case's deliveries
are tombstoned."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.event_types import describe, event_body
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode, new_event_id
from socialcare.v1 import audit_pb2, sla_pb2, webhook_pb2
from socialcare.webhooks import sender as sender_module
from socialcare.webhooks.domain import DEAD, DELIVERED, PENDING, RetrySchedule, new_delivery
from socialcare.webhooks.subscriptions import SubscriptionDirectory
from tests.unit.metrics import sample
from tests.unit.webhooks.receivers import Receiver, receiver, verify_signature
from tests.unit.webhooks.world import (
    engine,
    latest_deliveries,
    open_bus,
    publish,
    subscription,
    wait_until,
)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    bus = open_bus(tmp_path / "bus")
    yield bus
    bus.close()


@pytest.fixture
def directory(bus: EmbeddedBus) -> Iterator[SubscriptionDirectory]:
    producer = bus.producer("directory")
    yield SubscriptionDirectory(producer)
    producer.close()


def breach(n: int, *, case_id: str = "case-1", brand: str = "acme") -> sla_pb2.SlaEvent:
    return sla_pb2.SlaEvent(
        event_id=f"sla-{n}-{case_id}",
        type=sla_pb2.SLA_EVENT_TYPE_BREACHED,
        case_id=case_id,
        brand=brand,
        occurred_at=to_timestamp(datetime.now(UTC)),
    )


def delivery_for(
    sub: webhook_pb2.WebhookSubscription, n: int = 1, *, case_id: str = "case-1"
) -> webhook_pb2.WebhookDelivery:
    event = describe(Topic.SLA, breach(n, case_id=case_id))
    assert event is not None
    return new_delivery(
        event,
        sub,
        brand=sub.brand,
        body=event_body(event, brand=sub.brand),
        now=datetime.now(UTC),
    )


def saved(
    directory: SubscriptionDirectory, hook: Receiver, **fields: object
) -> webhook_pb2.WebhookSubscription:
    sub = subscription(hook.url, **fields)
    directory.save(sub)
    return sub


def state_of(bus: EmbeddedBus, delivery_id: str) -> webhook_pb2.WebhookDelivery | None:
    return latest_deliveries(bus).get(delivery_id)


def settled(bus: EmbeddedBus, delivery_id: str, state: int) -> bool:
    found = state_of(bus, delivery_id)
    return found is not None and found.state == state


def test_failures_are_retried_until_the_receiver_recovers_every_request_signed(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver(500, 503, ("retry-after", 0)) as hook:
        sub = saved(directory, hook)
        delivery = delivery_for(sub)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, delivery))
        with engine(bus, directory, with_fanout=False):
            assert wait_until(lambda: settled(bus, delivery.delivery_id, DELIVERED))
        assert [r.answered for r in hook.received] == [500, 503, 429, 200]
        assert all(r.verified for r in hook.received)
        assert [r.headers["X-Socialcare-Attempt"] for r in hook.received] == ["1", "2", "3", "4"]
        assert {r.headers["X-Socialcare-Delivery"] for r in hook.received} == {delivery.delivery_id}
        assert {r.body for r in hook.received} == {delivery.body}  # the same bytes each time
        first = hook.received[0].headers
        assert first["Content-Type"] == "application/cloudevents+json"
        assert first["X-Socialcare-Event-Type"] == "sla.breached"
        envelope = json.loads(hook.received[0].body)
        assert (envelope["type"], envelope["subject"], envelope["brand"]) == (
            "sla.breached",
            "case-1",
            "acme",
        )
    final = state_of(bus, delivery.delivery_id)
    assert final is not None
    assert (final.attempts, final.last_status, final.version) == (4, 200, 5)


def test_a_stalled_receiver_times_out_and_is_tried_again(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver(("stall", 1.5)) as hook:
        sub = saved(directory, hook)
        delivery = delivery_for(sub)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, delivery))
        options = sender_module.SenderOptions(timeout_s=0.3, allow_private_targets=True)
        with engine(bus, directory, options=options, with_fanout=False):
            assert wait_until(lambda: settled(bus, delivery.delivery_id, DELIVERED))
        assert [r.answered for r in hook.received] == [0, 200]
    final = state_of(bus, delivery.delivery_id)
    assert final is not None and final.attempts == 2


def test_one_attempt_reports_a_timeout_without_an_answer(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver(("stall", 1.5)) as hook:
        sub = subscription(hook.url)
        processor = sender_module.SenderProcessor(
            directory,
            bus,
            lambda: datetime.now(UTC),
            options=sender_module.SenderOptions(timeout_s=0.3, allow_private_targets=True),
        )
        try:
            result = processor.attempt(delivery_for(sub), sub)
        finally:
            processor.close()
    assert (result.status, result.attempt, result.final) == (0, 1, False)
    assert "timed out" in result.error


def test_a_refusal_is_dead_at_once_and_410_pauses_the_subscription(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver(400) as refusing, receiver(410) as gone:
        refused_sub = saved(directory, refusing)
        gone_sub = saved(directory, gone)
        refused = delivery_for(refused_sub)
        lost = delivery_for(gone_sub)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, refused), (Topic.WEBHOOK_DELIVERIES, lost))
        with engine(bus, directory, with_fanout=False):
            assert wait_until(
                lambda: (
                    settled(bus, refused.delivery_id, DEAD) and settled(bus, lost.delivery_id, DEAD)
                )
            )
        assert len(refusing.received) == 1 and len(gone.received) == 1
    dead = state_of(bus, refused.delivery_id)
    assert dead is not None and dead.last_status == 400 and dead.attempts == 1
    paused = directory.subscription(gone_sub.id)
    assert paused is not None and not paused.active
    still = directory.subscription(refused_sub.id)
    assert still is not None and still.active


def test_past_the_horizon_a_failing_delivery_is_dead(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver(default=500) as hook:
        sub = saved(directory, hook)
        delivery = delivery_for(sub)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, delivery))
        schedule = RetrySchedule(base_s=0.05, max_s=0.1, horizon_s=0.5)
        with engine(bus, directory, schedule=schedule, with_fanout=False):
            assert wait_until(lambda: settled(bus, delivery.delivery_id, DEAD))
        tried = len(hook.received)
    dead = state_of(bus, delivery.delivery_id)
    assert dead is not None and "retry horizon" in dead.last_error
    assert tried >= 1 and dead.attempts == tried and dead.last_status == 500


def test_a_private_address_is_refused_unless_allowed(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver() as hook:
        sub = saved(directory, hook)
        delivery = delivery_for(sub)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, delivery))
        options = sender_module.SenderOptions(allow_private_targets=False)
        with engine(bus, directory, options=options, with_fanout=False):
            assert wait_until(lambda: settled(bus, delivery.delivery_id, DEAD))
        assert hook.received == []
    dead = state_of(bus, delivery.delivery_id)
    assert dead is not None and dead.last_error.startswith("refused")


def test_rotation_signs_with_both_secrets(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver(secrets=("old-secret",)) as hook:
        until = datetime.now(UTC) + timedelta(hours=1)
        sub = saved(
            directory,
            hook,
            secret="new-secret",
            previous_secret="old-secret",
            previous_secret_until=to_timestamp(until),
        )
        delivery = delivery_for(sub)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, delivery))
        with engine(bus, directory, with_fanout=False):
            assert wait_until(lambda: settled(bus, delivery.delivery_id, DELIVERED))
        [got] = hook.received
        header = got.headers["X-Socialcare-Signature"]
        assert header.count("v1=") == 2
        assert verify_signature("old-secret", got.body, header)
        assert verify_signature("new-secret", got.body, header)
        assert not verify_signature("other", got.body, header)
    after = subscription("https://example.com", secret="new", previous_secret="old")
    after.previous_secret_until.CopyFrom(to_timestamp(datetime.now(UTC) - timedelta(seconds=1)))
    assert sender_module.signature(after, b"{}", datetime.now(UTC)).count("v1=") == 1


def test_a_restart_keeps_pending_deliveries_and_sends_nothing_delivered_again(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver() as good, receiver(default=503) as down:
        good_sub = saved(directory, good)
        down_sub = saved(directory, down)
        delivered = delivery_for(good_sub, 1)
        waiting = delivery_for(down_sub, 2)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, delivered), (Topic.WEBHOOK_DELIVERIES, waiting))
        with engine(bus, directory, with_fanout=False):
            assert wait_until(
                lambda: settled(bus, delivered.delivery_id, DELIVERED) and len(down.received) >= 2
            )
        pending = state_of(bus, waiting.delivery_id)
        assert pending is not None and pending.state == PENDING and pending.attempts >= 2
        down.default = 200
        # A new sender instance (a restart): it rebuilds its partitions from the topic.
        with engine(bus, directory, with_fanout=False):
            assert wait_until(lambda: settled(bus, waiting.delivery_id, DELIVERED))
        assert len(good.received) == 1  # the delivered one was not sent again
        assert len(down.accepted) == 1
        last = down.received[-1]
        # The count goes on from the attempts recorded on the topic (an attempt still in
        # flight when the first instance stopped was sent but not recorded: the receiver
        # may have seen one more than that).
        assert int(last.headers["X-Socialcare-Attempt"]) == pending.attempts + 1


def test_dead_deliveries_are_replayed_once_per_command(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver(400, 400) as hook:
        sub = saved(directory, hook)
        first, second = delivery_for(sub, 1), delivery_for(sub, 2)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, first), (Topic.WEBHOOK_DELIVERIES, second))
        with engine(bus, directory, with_fanout=False):
            assert wait_until(
                lambda: (
                    settled(bus, first.delivery_id, DEAD) and settled(bus, second.delivery_id, DEAD)
                )
            )
            command = webhook_pb2.WebhookCommand(
                command_id="replay-1",
                subscription_id=sub.id,
                issued_by="tester",
                issued_at=to_timestamp(datetime.now(UTC)),
                replay_dead=webhook_pb2.ReplayDeadDeliveries(delivery_ids=[first.delivery_id]),
            )
            publish(bus, (Topic.WEBHOOK_COMMANDS, command))
            assert wait_until(lambda: settled(bus, first.delivery_id, DELIVERED))
        replayed = state_of(bus, first.delivery_id)
        assert replayed is not None and replayed.replay_id == "replay-1"
        assert replayed.attempts == 1  # attempts counted afresh
        untouched = state_of(bus, second.delivery_id)
        assert untouched is not None and untouched.state == DEAD  # not named in the command
        # After a restart the command is read again but sends nothing twice; a command for
        # every dead delivery of the subscription replays the other one.
        everything = webhook_pb2.WebhookCommand(
            command_id="replay-2",
            subscription_id=sub.id,
            issued_at=to_timestamp(datetime.now(UTC)),
            replay_dead=webhook_pb2.ReplayDeadDeliveries(),
        )
        publish(bus, (Topic.WEBHOOK_COMMANDS, everything))
        with engine(bus, directory, with_fanout=False):
            assert wait_until(lambda: settled(bus, second.delivery_id, DELIVERED))
        assert [r.headers["X-Socialcare-Delivery"] for r in hook.accepted] == [
            first.delivery_id,
            second.delivery_id,
        ]


def test_a_deleted_subscription_s_deliveries_are_dropped(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver() as hook:
        sub = saved(directory, hook, deleted=True, active=False)
        delivery = delivery_for(sub)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, delivery))
        with engine(bus, directory, with_fanout=False):
            assert wait_until(
                lambda: any(
                    r.tombstone and r.key == delivery.delivery_id.encode()
                    for r in bus.replay(Topic.WEBHOOK_DELIVERIES.value)
                )
            )
        assert hook.received == []
    assert delivery.delivery_id not in latest_deliveries(bus)


def test_an_erased_case_s_deliveries_are_tombstoned_and_reported(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver(default=503) as hook:
        sub = saved(directory, hook)
        erased = [delivery_for(sub, n, case_id="case-gone") for n in (1, 2)]
        kept = delivery_for(sub, 3, case_id="case-kept")
        publish(bus, *[(Topic.WEBHOOK_DELIVERIES, d) for d in (*erased, kept)])
        with engine(bus, directory, with_fanout=False):
            assert wait_until(lambda: len(hook.received) >= 3)
            request = audit_pb2.PrivacyEvent(
                event_id=new_event_id(),
                request=audit_pb2.ErasureRequest(
                    erasure_id="erasure-1", brand="acme", case_ids=["case-gone"]
                ),
            )
            publish(bus, (Topic.PRIVACY_ERASURES, request))

            def steps() -> list[audit_pb2.ErasureStep]:
                events = [
                    decode(r, audit_pb2.PrivacyEvent)
                    for r in bus.replay(Topic.PRIVACY_ERASURES.value)
                ]
                return [e.step for e in events if e.HasField("step")]

            assert wait_until(lambda: sum(s.items for s in steps()) == 2)
            # A delivery made later for the erased case is tombstoned too.
            late = delivery_for(sub, 4, case_id="case-gone")
            publish(bus, (Topic.WEBHOOK_DELIVERIES, late))
            assert wait_until(lambda: late.delivery_id not in latest_deliveries(bus), 10)
        remaining = latest_deliveries(bus)
        assert set(remaining) == {kept.delivery_id}
        [step] = [s for s in steps() if s.items]
        assert (step.erasure_id, step.store, list(step.case_ids)) == (
            "erasure-1",
            "webhooks",
            ["case-gone"],
        )


def test_a_slow_receiver_does_not_hold_up_another_subscription(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver(default=("stall", 1.0)) as slow, receiver() as fast:
        slow_sub = saved(directory, slow)
        fast_sub = saved(directory, fast)
        # The slow subscription's backlog is older: first in line by due time.
        slow_ones = [delivery_for(slow_sub, n) for n in range(30)]
        fast_ones = [delivery_for(fast_sub, n) for n in range(100, 103)]
        publish(bus, *[(Topic.WEBHOOK_DELIVERIES, d) for d in slow_ones])
        publish(bus, *[(Topic.WEBHOOK_DELIVERIES, d) for d in fast_ones])
        options = sender_module.SenderOptions(
            timeout_s=5.0, allow_private_targets=True, workers=3, max_in_flight=2
        )
        with engine(bus, directory, options=options, with_fanout=False):
            assert wait_until(lambda: len(fast.accepted) == 3)
            slow_seen = len(slow.received)
        assert slow_seen < 10  # the fast one finished while the slow one was at its start
        assert slow.max_concurrent <= 2  # the per-subscription cap


def test_delivery_log_retention_tombstones_delivered_ones(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver() as hook:
        sub = saved(directory, hook)
        delivery = delivery_for(sub)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, delivery))
        options = sender_module.SenderOptions(log_retention_s=0.3, allow_private_targets=True)
        with engine(bus, directory, options=options, with_fanout=False):
            assert wait_until(lambda: len(hook.accepted) == 1)
            assert wait_until(lambda: delivery.delivery_id not in latest_deliveries(bus))
    history = [r for r in bus.replay(Topic.WEBHOOK_DELIVERIES.value)]
    assert history[-1].tombstone


def test_delivered_state_carries_timestamps(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver() as hook:
        sub = saved(directory, hook)
        delivery = delivery_for(sub)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, delivery))
        with engine(bus, directory, with_fanout=False):
            assert wait_until(lambda: settled(bus, delivery.delivery_id, DELIVERED))
    done = state_of(bus, delivery.delivery_id)
    assert done is not None
    assert from_timestamp(done.delivered_at) >= from_timestamp(done.last_attempt_at)
    assert done.body == b"" or done.body == delivery.body


def test_an_erasure_with_nothing_to_erase_is_reported_once(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    def steps() -> list[audit_pb2.ErasureStep]:
        events = [
            decode(r, audit_pb2.PrivacyEvent) for r in bus.replay(Topic.PRIVACY_ERASURES.value)
        ]
        return [e.step for e in events if e.HasField("step")]

    request = audit_pb2.PrivacyEvent(
        event_id=new_event_id(),
        request=audit_pb2.ErasureRequest(erasure_id="erasure-9", case_ids=["case-none"]),
    )
    with engine(bus, directory, with_fanout=False):
        publish(bus, (Topic.PRIVACY_ERASURES, request))
        assert wait_until(lambda: len(steps()) == 1)
    [step] = steps()
    assert (step.erasure_id, step.store, step.items) == ("erasure-9", "webhooks", 0)
    # A restart reads the request again (history): it reports nothing more.
    with receiver() as hook:
        sub = saved(directory, hook)
        marker = delivery_for(sub, case_id="case-other")
        publish(bus, (Topic.WEBHOOK_DELIVERIES, marker))
        with engine(bus, directory, with_fanout=False):
            assert wait_until(lambda: settled(bus, marker.delivery_id, DELIVERED))
    assert len(steps()) == 1


def test_outcomes_are_counted(bus: EmbeddedBus, directory: SubscriptionDirectory) -> None:
    before = {
        outcome: sample("socialcare_webhook_deliveries_total", outcome=outcome)
        for outcome in ("delivered", "retried")
    }
    failed_before = sample("socialcare_webhook_attempt_seconds_count", result="5xx")
    with receiver(502) as hook:
        delivery = delivery_for(saved(directory, hook))
        publish(bus, (Topic.WEBHOOK_DELIVERIES, delivery))
        with engine(bus, directory, with_fanout=False):
            assert wait_until(lambda: settled(bus, delivery.delivery_id, DELIVERED))
    assert sample("socialcare_webhook_deliveries_total", outcome="delivered") == (
        before["delivered"] + 1
    )
    assert sample("socialcare_webhook_deliveries_total", outcome="retried") == (
        before["retried"] + 1
    )
    assert sample("socialcare_webhook_attempt_seconds_count", result="5xx") == failed_before + 1


def test_a_paused_subscription_s_deliveries_wait_and_go_once_it_is_active_again(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    with receiver() as hook:
        sub = saved(directory, hook, active=False)
        delivery = delivery_for(sub)
        publish(bus, (Topic.WEBHOOK_DELIVERIES, delivery))
        # A slow schedule: a held-back delivery would next be due minutes later.
        schedule = RetrySchedule(base_s=30, max_s=3600, horizon_s=86400)
        options = sender_module.SenderOptions(allow_private_targets=True, sweep_s=0.2)
        with engine(bus, directory, schedule=schedule, options=options, with_fanout=False):

            def held() -> bool:
                found = state_of(bus, delivery.delivery_id)
                return found is not None and found.last_error == "subscription paused"

            assert wait_until(held)
            assert hook.received == []
            sub.active = True
            directory.save(sub)
            assert wait_until(lambda: settled(bus, delivery.delivery_id, DELIVERED))
        [got] = hook.received
        assert got.headers["X-Socialcare-Attempt"] == "1"  # holding back is no attempt


def test_a_worker_keeps_its_connection_alive_between_attempts(
    bus: EmbeddedBus, directory: SubscriptionDirectory
) -> None:
    """The answer's body is read, so the connection goes back to the worker's pool: three
    attempts from one worker thread arrive over one TCP connection (not three handshakes)."""
    peers: list[tuple[str, int]] = []

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            peers.append(self.client_address)
            self.send_response(200)
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"thanks!")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sub = subscription(f"http://127.0.0.1:{server.server_address[1]}/hook")
    processor = sender_module.SenderProcessor(
        directory,
        bus,
        lambda: datetime.now(UTC),
        options=sender_module.SenderOptions(timeout_s=5.0, allow_private_targets=True),
    )
    try:
        results = [processor.attempt(delivery_for(sub), sub) for _ in range(3)]
    finally:
        processor.close()
        server.shutdown()
        server.server_close()
    assert [r.status for r in results] == [200, 200, 200]
    assert len(peers) == 3 and len(set(peers)) == 1
