"""The notifications processor inside the real consumer loop (embedded bus): every
escalation reaches a flaky webhook exactly once, the loop keeps polling while deliveries
retry, offsets are committed only once all settled (a second run of the group finds
nothing left), and an event a target refuses lands on the DLQ with the reason."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.domain.topics import Topic, dlq_of
from socialcare.core.retry import RetryPolicy
from socialcare.escalation.notify.processor import GROUP, NotificationProcessor
from socialcare.v1 import escalation_pb2
from tests.unit.loop_support import laid_out_bus, loop_thread, wait_until
from tests.unit.notify.receivers import ScriptedReceiver, scripted_receiver
from tests.unit.notify.test_notifications import care_with, raised


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    bus = laid_out_bus(tmp_path / "bus", 2)
    yield bus
    bus.close()


def notifier(hook: ScriptedReceiver, budget_s: float = 30.0) -> NotificationProcessor:
    care = care_with(
        {
            "webhooks": [
                {"name": "mgmt", "url": hook.url, "secret_env": "S", "tiers": ["management"]}
            ]
        }
    )
    return NotificationProcessor(
        care,
        lambda: datetime.now(UTC),
        environ={"S": "secret"},
        http=httpx.Client(timeout=1.0),
        policy=RetryPolicy(max_attempts=1000, base_s=0.01, cap_s=0.1, budget_s=budget_s),
        wait_s=0.1,
    )


def run_loop(
    bus: EmbeddedBus,
    processor: NotificationProcessor,
    done: Callable[[], bool],
    *,
    for_s: float = 30.0,
) -> None:
    """Run the loop until `done()` or `for_s` seconds passed."""
    with loop_thread(bus, processor, GROUP):
        wait_until(done, for_s)
        time.sleep(0.3)  # a commit interval or two after the last delivery
    processor.close()


def publish(bus: EmbeddedBus, events: list[escalation_pb2.EscalationEvent]) -> None:
    producer = bus.producer("test")
    for event in events:
        producer.send(
            Topic.ESCALATIONS,
            event.SerializeToString(),
            key=event.escalation.case_id.encode(),
            headers=(("event-id", event.event_id.encode()),),
        )
    producer.flush()
    producer.close()


def test_every_escalation_reaches_a_flaky_webhook_once_and_is_committed(
    bus: EmbeddedBus,
) -> None:
    events = [raised(n=n).message for n in range(12)]
    publish(bus, [e for e in events if isinstance(e, escalation_pb2.EscalationEvent)])
    with scripted_receiver(*([503] * 15)) as hook:
        run_loop(bus, notifier(hook), lambda: len(hook.accepted) >= 12)
    delivered = {r.headers["X-Socialcare-Delivery"] for r in hook.accepted}
    assert len(hook.accepted) == 12 == len(delivered)  # each once
    # Committed: the group, started again, has nothing left to send.
    with scripted_receiver() as again:
        run_loop(bus, notifier(again), lambda: False, for_s=1.0)
    assert again.received == []


def test_a_refused_notification_is_dead_lettered_with_the_reason(bus: EmbeddedBus) -> None:
    event = raised(n=99).message
    assert isinstance(event, escalation_pb2.EscalationEvent)
    publish(bus, [event])
    dlq = dlq_of(Topic.ESCALATIONS)
    with scripted_receiver(400) as hook:
        run_loop(bus, notifier(hook), lambda: any(True for _ in bus.replay(dlq)))
    [record] = list(bus.replay(dlq))
    reason = record.header("dlq-reason")
    assert reason is not None and b"refused: HTTP 400" in reason
    assert len(hook.received) == 1


def test_nothing_is_committed_while_a_target_is_still_failing(bus: EmbeddedBus) -> None:
    events = [raised(n=n).message for n in range(5)]
    publish(bus, [e for e in events if isinstance(e, escalation_pb2.EscalationEvent)])
    with scripted_receiver(*([503] * 100_000)) as down:
        run_loop(bus, notifier(down, budget_s=3600), lambda: False, for_s=1.5)
    assert down.accepted == [] and len(down.received) > 5  # it kept retrying, loop alive
    # Stopped while retrying: the next run of the group sends all of them.
    with scripted_receiver() as back:
        run_loop(bus, notifier(back), lambda: len(back.accepted) >= 5)
    assert len(back.accepted) == 5
