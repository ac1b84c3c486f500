"""Notifications end to end against local receivers: a webhook that fails, times out and
recovers gets the notification once, signed; an SMTP server gets the mail; a target that
never recovers is given up after max_elapsed and the record is dead-lettered; the loop's
batch is never committed while a delivery is still being retried."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from socialcare.core.bus import BusError
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.notification_config import NotificationConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError
from socialcare.core.retry import RetryPolicy
from socialcare.core.signing import GENERIC_HEADER, verify_generic
from socialcare.escalation.notify.processor import (
    NotificationProcessor,
    NotificationsPendingError,
)
from socialcare.escalation.notify.targets import DELIVERY_HEADER
from socialcare.v1 import escalation_pb2, incident_pb2
from tests.unit.memory_log import MemoryLog
from tests.unit.metrics import sample
from tests.unit.notify.receivers import scripted_receiver, smtp_server

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SECRET = "s3cret"


def care_with(notifications: dict[str, Any]) -> CareConfig:
    base = load_care_config()
    section = NotificationConfig.model_validate(notifications)
    return CareConfig.model_validate(
        {**base.model_dump(by_alias=True, exclude={"notifications"}), "notifications": section}
    )


def raised(tier: int = escalation_pb2.ESCALATION_TIER_MANAGEMENT, n: int = 1) -> Emit:
    return Emit(
        Topic.ESCALATIONS,
        escalation_pb2.EscalationEvent(
            event_id=f"esc-event-{n}",
            type=escalation_pb2.ESCALATION_EVENT_TYPE_RAISED,
            occurred_at=to_timestamp(NOW),
            escalation=escalation_pb2.Escalation(
                id=f"esc-{n}",
                case_id=f"case-{n}",
                trigger=escalation_pb2.ESCALATION_TRIGGER_SLA_BREACH,
                tier=tier,  # type: ignore[arg-type]
                reason="first response overdue by 5 min",
                language="nl",
                queue="care-nl",
                raised_at=to_timestamp(NOW),
                brand="default",
            ),
        ),
    )


def opened_incident() -> Emit:
    return Emit(
        Topic.INCIDENTS,
        incident_pb2.IncidentEvent(
            event_id="inc-event-1",
            type=incident_pb2.INCIDENT_EVENT_TYPE_OPENED,
            occurred_at=to_timestamp(NOW),
            incident=incident_pb2.Incident(
                id="inc-1",
                brand="default",
                topic="outage",
                language="nl",
                status=incident_pb2.INCIDENT_STATUS_OPEN,
                case_ids=["case-1", "case-2"],
                case_count=2,
                summary="12 negative messages about outage",
            ),
        ),
    )


def fast_policy(budget_s: float = 5.0) -> RetryPolicy:
    return RetryPolicy(max_attempts=100, base_s=0.01, cap_s=0.05, budget_s=budget_s)


def processor(care: CareConfig, **kwargs: Any) -> NotificationProcessor:
    return NotificationProcessor(
        care,
        lambda: datetime.now(UTC),
        environ={"HOOK_SECRET": SECRET},
        http=httpx.Client(timeout=0.3),
        **{"policy": fast_policy(), "wait_s": 10.0, **kwargs},
    )


def run_until_settled(proc: NotificationProcessor, record: Any, rounds: int = 20) -> None:
    """What the consumer loop does: process, tick; on NotificationsPendingError the batch
    comes again."""
    for _ in range(rounds):
        proc.process(record)
        try:
            proc.tick()
            return
        except NotificationsPendingError:
            continue
    raise AssertionError("never settled")


def test_a_webhook_that_fails_times_out_then_recovers_gets_it_once_signed() -> None:
    with scripted_receiver(500, ("stall", 1.0), ("retry-after", 0.2), 200) as hook:
        care = care_with(
            {
                "webhooks": [
                    {
                        "name": "mgmt",
                        "url": hook.url,
                        "secret_env": "HOOK_SECRET",
                        "tiers": ["management"],
                    }
                ]
            }
        )
        proc = processor(care)
        log = MemoryLog(1)
        delivered = sample("socialcare_notifications_total", kind="escalation", outcome="delivered")
        started = time.monotonic()
        run_until_settled(proc, log.record(raised()))
        proc.close()
    assert [r.answered for r in hook.received] == [500, 0, 429, 200]
    assert len(hook.accepted) == 1
    got = hook.accepted[0]
    assert verify_generic(SECRET, got.body, got.headers[GENERIC_HEADER], now=time.time())
    # The same delivery id on every attempt: a receiver can deduplicate.
    assert len({r.headers[DELIVERY_HEADER] for r in hook.received}) == 1
    body = json.loads(got.body)
    assert "management" in body["text"] and body["blocks"][0]["type"] == "header"
    assert body["socialcare"]["type"] == "escalation.raised"
    assert body["socialcare"]["escalation"]["case_id"] == "case-1"
    assert time.monotonic() - started >= 0.2  # Retry-After honoured
    assert (
        sample("socialcare_notifications_total", kind="escalation", outcome="delivered")
        == delivered + 1
    )


def test_a_record_redelivered_after_success_is_not_sent_again() -> None:
    with scripted_receiver() as hook:
        care = care_with(
            {
                "webhooks": [
                    {"name": "pr", "url": hook.url, "secret_env": "HOOK_SECRET", "incidents": True}
                ]
            }
        )
        proc = processor(care)
        record = MemoryLog(1).record(opened_incident())
        run_until_settled(proc, record)
        proc.discard()  # a failed flush: the record comes again
        run_until_settled(proc, record)
        proc.close()
    assert len(hook.received) == 1
    assert json.loads(hook.received[0].body)["socialcare"]["incident"]["case_ids"] == [
        "case-1",
        "case-2",
    ]


def test_only_subscribed_targets_are_sent() -> None:
    with scripted_receiver() as hook:
        care = care_with(
            {
                "webhooks": [
                    {
                        "name": "leads",
                        "url": hook.url,
                        "secret_env": "HOOK_SECRET",
                        "tiers": ["team_lead"],
                    }
                ]
            }
        )
        proc = processor(care)
        log = MemoryLog(1)
        for emit in (raised(escalation_pb2.ESCALATION_TIER_MANAGEMENT), opened_incident()):
            assert proc.process(log.record(emit)) == ()
            assert proc.tick() == ()  # nothing to send, nothing to wait for
        proc.close()
    assert hook.received == []


def test_an_incident_escalation_is_not_paged_twice_to_who_got_the_incident() -> None:
    with scripted_receiver() as pr, scripted_receiver() as tiers_only:
        care = care_with(
            {
                "webhooks": [
                    {
                        "name": "pr",
                        "url": pr.url,
                        "secret_env": "HOOK_SECRET",
                        "tiers": ["pr"],
                        "incidents": True,
                    },
                    {
                        "name": "tiers-only",
                        "url": tiers_only.url,
                        "secret_env": "HOOK_SECRET",
                        "tiers": ["pr"],
                    },
                ]
            }
        )
        proc = processor(care)
        log = MemoryLog(1)
        crisis = raised(escalation_pb2.ESCALATION_TIER_PR, n=3)
        assert isinstance(crisis.message, escalation_pb2.EscalationEvent)
        crisis.message.escalation.incident_id = "inc-1"
        run_until_settled(proc, log.record(crisis))
        moved = raised(escalation_pb2.ESCALATION_TIER_PR, n=3)
        assert isinstance(moved.message, escalation_pb2.EscalationEvent)
        moved.message.event_id = "esc-event-3-moved"
        moved.message.type = escalation_pb2.ESCALATION_EVENT_TYPE_RE_ESCALATED
        moved.message.escalation.incident_id = "inc-1"
        run_until_settled(proc, log.record(moved))
        proc.close()
    kinds = [json.loads(r.body)["socialcare"]["type"] for r in pr.received]
    assert kinds == ["escalation.re_escalated"]  # raised: covered by the incident's page
    assert [json.loads(r.body)["socialcare"]["type"] for r in tiers_only.received] == [
        "escalation.raised",
        "escalation.re_escalated",
    ]


def test_a_target_that_never_recovers_is_given_up_and_the_record_dead_lettered() -> None:
    with scripted_receiver(*([503] * 1000)) as hook:
        care = care_with(
            {
                "webhooks": [
                    {
                        "name": "mgmt",
                        "url": hook.url,
                        "secret_env": "HOOK_SECRET",
                        "tiers": ["management"],
                    }
                ]
            }
        )
        proc = processor(care, policy=fast_policy(budget_s=0.3))
        record = MemoryLog(1).record(raised())
        proc.process(record)
        with pytest.raises(NotificationsPendingError):  # gave up: not committed this way
            proc.tick()
        assert isinstance(NotificationsPendingError("x"), BusError)  # the loop retries it
        with pytest.raises(InvalidRecordError, match=r"gave up after .* HTTP 503"):
            proc.process(record)  # redelivered: now dead-lettered with the reason
        proc.close()
    assert len(hook.received) >= 2


def test_a_permanent_refusal_is_not_retried() -> None:
    with scripted_receiver(404) as hook:
        care = care_with(
            {
                "webhooks": [
                    {
                        "name": "mgmt",
                        "url": hook.url,
                        "secret_env": "HOOK_SECRET",
                        "tiers": ["management"],
                    }
                ]
            }
        )
        proc = processor(care)
        record = MemoryLog(1).record(raised())
        proc.process(record)
        with pytest.raises(NotificationsPendingError):
            proc.tick()
        with pytest.raises(InvalidRecordError, match="refused: HTTP 404"):
            proc.process(record)
        proc.close()
    assert len(hook.received) == 1


def test_a_slow_delivery_keeps_the_batch_uncommitted_without_blocking_the_loop() -> None:
    with scripted_receiver(*([503] * 30)) as hook:
        care = care_with(
            {
                "webhooks": [
                    {
                        "name": "mgmt",
                        "url": hook.url,
                        "secret_env": "HOOK_SECRET",
                        "tiers": ["management"],
                    }
                ]
            }
        )
        proc = processor(care, wait_s=0.05, policy=fast_policy(budget_s=30))
        record = MemoryLog(1).record(raised())
        proc.process(record)
        started = time.monotonic()
        with pytest.raises(NotificationsPendingError, match="1 notification deliveries still"):
            proc.tick()
        assert time.monotonic() - started < 1.0  # the loop gets control back quickly
        run_until_settled(proc, record, rounds=400)
        proc.close()
    assert len(hook.accepted) == 1


def test_an_email_arrives_with_subject_body_and_recipients() -> None:
    with smtp_server() as (port, inbox):
        care = care_with(
            {
                "email": {
                    "smtp": {
                        "host": "127.0.0.1",
                        "port": port,
                        "starttls": False,
                        "from": "care@example.com",
                        "timeout": 5,
                    },
                    "routes": [{"to": ["pr@example.com", "boss@example.com"], "incidents": True}],
                }
            }
        )
        proc = processor(care)
        run_until_settled(proc, MemoryLog(1).record(opened_incident()))
        proc.close()
    [(recipients, mail)] = inbox.messages
    assert recipients == ["pr@example.com", "boss@example.com"]
    assert mail["Subject"] == "Crisis opened: outage for default (nl)"
    assert mail["To"] == "pr@example.com, boss@example.com"
    assert mail["From"] == "care@example.com"
    assert mail["X-Socialcare-Delivery"]
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode()
    assert "12 negative messages about outage" in text and "case-2" in text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize(("password", "delivered"), [("right", True), ("wrong", False)])
def test_smtp_login_uses_the_credentials_from_the_environment(
    password: str, delivered: bool
) -> None:
    with smtp_server(credentials=("alerts", "right")) as (port, inbox):
        smtp = {
            "host": "127.0.0.1",
            "port": port,
            "starttls": False,
            "from": "care@example.com",
            "username_env": "SMTP_USER",
            "password_env": "SMTP_PASSWORD",
        }
        care = care_with(
            {"email": {"smtp": smtp, "routes": [{"to": ["pr@example.com"], "incidents": True}]}}
        )
        proc = NotificationProcessor(
            care,
            lambda: datetime.now(UTC),
            environ={"SMTP_USER": "alerts", "SMTP_PASSWORD": password},
            policy=fast_policy(),
            wait_s=10.0,
        )
        record = MemoryLog(1).record(opened_incident())
        if delivered:
            run_until_settled(proc, record)
        else:
            proc.process(record)
            with pytest.raises(NotificationsPendingError):
                proc.tick()
            with pytest.raises(InvalidRecordError, match="refused: SMTP 535"):
                proc.process(record)  # a wrong password is not retried for an hour
        proc.close()
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN) in one attempt.
    assert set(inbox.logins) == {"alerts"} and len(inbox.logins) <= 2
    assert len(inbox.messages) == (1 if delivered else 0)


def test_a_missing_signing_secret_stops_the_service_at_start() -> None:
    care = care_with(
        {
            "webhooks": [
                {"name": "mgmt", "url": "http://x.invalid/", "secret_env": "NOPE", "tiers": ["pr"]}
            ]
        }
    )
    with pytest.raises(ValueError, match="NOPE"):
        NotificationProcessor(care, lambda: NOW, environ={})
