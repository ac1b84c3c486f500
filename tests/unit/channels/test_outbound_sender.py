"""Posting replies to the fake platforms over HTTP: retries, the platforms' refusals,
channel rules checked before any call, and one post per reply however often it is tried."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from socialcare.channels.outbound.sender import ReplySender
from socialcare.core.clock import to_timestamp, utc_now
from socialcare.core.domain.brands import Brand, GenericSource
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.deliveries import FAILED, SENT
from socialcare.core.retry import RetryPolicy
from socialcare.v1 import commands_pb2, delivery_pb2, message_pb2
from tests.fakes.platforms import (
    GRAPH_INVALID_PARAMETER,
    WHATSAPP_REENGAGEMENT,
    FakePlatforms,
    PlatformError,
    fake_brand,
)


class VirtualTime:
    """A monotonic clock that only sleeping moves: retry schedules without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePlatforms]:
    with FakePlatforms(generic_secrets={"forum": "forum-secret"}) as platforms:
        for name, value in platforms.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("TEST_FORUM_SECRET", "forum-secret")
        yield platforms


def care_with(*brands: Brand) -> CareConfig:
    return CareConfig.model_validate(
        {**load_care_config().model_dump(by_alias=True), "brands": list(brands)}
    )


def sender_for(
    fake: FakePlatforms,
    time: VirtualTime,
    *,
    policy: RetryPolicy | None = None,
    concurrency: int = 16,
) -> ReplySender:
    brand = fake_brand(
        fake,
        "acme",
        whatsapp_templates=[("order_update", "nl")],
        generic=[
            GenericSource(
                source="forum",
                secret_env="TEST_FORUM_SECRET",
                channel="forum",
                reply_url=fake.generic_url("forum"),
            )
        ],
    )
    return ReplySender(
        care_with(brand),
        utc_now,
        policy=policy or RetryPolicy(rand=random.Random(5)),
        sleep=time.sleep,
        monotonic=time.monotonic,
        concurrency=concurrency,
    )


def whatsapp(reply_id: str = "r-1", **fields: object) -> commands_pb2.OutboundReply:
    base: dict[str, object] = {
        "reply_id": reply_id,
        "case_id": "c-1",
        "brand": "acme",
        "channel": message_pb2.CHANNEL_WHATSAPP,
        "kind": message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
        "account_id": "106540352242922",
        "recipient_id": "31612345678",
        "in_reply_to": "wamid.IN1",
        "text": "Uw pakket is onderweg. ^Anna",
        "customer_last_message_at": to_timestamp(utc_now() - timedelta(hours=2)),
    }
    base.update(fields)
    return commands_pb2.OutboundReply(**base)  # type: ignore[arg-type]


def test_sent_with_the_platforms_id(fake: FakePlatforms) -> None:
    delivery = sender_for(fake, VirtualTime()).send(whatsapp())
    assert delivery.status == SENT
    [request] = fake.sent("whatsapp")
    assert delivery.platform_message_id == request.platform_id
    assert delivery.platform_message_id.startswith("wamid.")
    assert delivery.attempts == 1
    assert request.body["biz_opaque_callback_data"] == "sc1:c-1:r-1"
    assert request.headers["idempotency-key"] == "r-1"


def test_transient_failures_are_retried_until_taken(fake: FakePlatforms) -> None:
    fake.refuse("r-1", PlatformError(503, {"error": {"message": "down", "code": 2}}), times=2)
    time = VirtualTime()
    delivery = sender_for(fake, time).send(whatsapp())
    assert delivery.status == SENT and delivery.attempts == 3
    assert len(time.sleeps) == 2
    assert [r.outcome for r in fake.requests()] == ["refused", "refused", "accepted"]


def test_retry_after_is_honoured(fake: FakePlatforms) -> None:
    fake.refuse("r-1", PlatformError(429, {"message": "slow down"}, {"Retry-After": "7"}), times=1)
    time = VirtualTime()
    delivery = sender_for(fake, time).send(whatsapp())
    assert delivery.status == SENT
    assert time.sleeps == [7.0]


def test_a_permanent_refusal_fails_at_once_with_the_platforms_words(fake: FakePlatforms) -> None:
    fake.refuse("31612345678", WHATSAPP_REENGAGEMENT)
    time = VirtualTime()
    delivery = sender_for(fake, time).send(whatsapp())
    assert delivery.status == FAILED
    assert delivery.error_code == "131047"
    assert "more than 24 hours have passed" in delivery.reason
    assert delivery.attempts == 1 and time.sleeps == []


def test_gives_up_when_the_budget_is_spent(fake: FakePlatforms) -> None:
    fake.refuse("r-1", PlatformError(500, {"error": {"message": "boom", "code": 1}}))
    policy = RetryPolicy(max_attempts=4, base_s=1, budget_s=60, rand=random.Random(2))
    delivery = sender_for(fake, VirtualTime(), policy=policy).send(whatsapp())
    assert delivery.status == FAILED
    assert delivery.reason == "gave up after 4 attempts: boom"
    assert delivery.error_code == "1"
    assert len(fake.requests()) == 4


def test_a_lost_answer_is_retried_and_posted_once(fake: FakePlatforms) -> None:
    fake.lost_rate = 1.0  # the platform posts, then the answer is lost (502)
    delivery = sender_for(fake, VirtualTime()).send(whatsapp())
    # The retry names the same Idempotency-Key: the platform answers it with the first post.
    assert delivery.status == SENT and delivery.attempts == 2
    assert [r.outcome for r in fake.requests()] == ["lost", "duplicate"]
    [post] = fake.sent("whatsapp")
    assert delivery.platform_message_id == post.platform_id
    assert fake.duplicates == 1 and fake.posted_twice() == 0


def test_without_idempotency_a_lost_answer_posts_twice(fake: FakePlatforms) -> None:
    """What the Idempotency-Key is for: a platform that ignores it posts the retry again."""
    fake.honour_idempotency_key = False
    fake.lost_rate = 1.0
    sender_for(fake, VirtualTime(), policy=RetryPolicy(max_attempts=2)).send(whatsapp())
    assert fake.posted_twice() == 1


def test_outside_the_whatsapp_window_only_a_template_goes(fake: FakePlatforms) -> None:
    sender = sender_for(fake, VirtualTime())
    late = utc_now() - timedelta(hours=25)
    text = sender.send(whatsapp(customer_last_message_at=to_timestamp(late)))
    assert text.status == FAILED and text.error_code == "whatsapp_window_closed"
    assert fake.requests() == []  # no call the platform would refuse
    template = commands_pb2.MessageTemplate(name="order_update", language="nl", parameters=["A"])
    sent = sender.send(
        whatsapp("r-2", text="", template=template, customer_last_message_at=to_timestamp(late))
    )
    assert sent.status == SENT
    assert fake.sent("whatsapp")[0].body["template"]["name"] == "order_update"


def test_unknown_template_and_too_long_text_fail_before_any_call(fake: FakePlatforms) -> None:
    sender = sender_for(fake, VirtualTime())
    unknown = commands_pb2.MessageTemplate(name="promo", language="en_US")
    assert sender.send(whatsapp(text="", template=unknown)).error_code == "unknown_template"
    tweet = commands_pb2.OutboundReply(
        reply_id="r-3",
        case_id="c-3",
        brand="acme",
        channel=message_pb2.CHANNEL_X,
        in_reply_to="1850",
        text="x" * 281,
    )
    assert sender.send(tweet).error_code == "reply_too_long"
    assert fake.requests() == []


def test_every_platform_end_to_end(fake: FakePlatforms) -> None:
    replies = [
        commands_pb2.OutboundReply(
            reply_id=f"r-{i}",
            case_id=f"c-{i}",
            brand="acme",
            text="Thanks! ^Anna",
            **fields,  # type: ignore[arg-type]
        )
        for i, fields in enumerate(
            [
                {"channel": message_pb2.CHANNEL_FACEBOOK, "in_reply_to": "111_222"},
                {
                    "channel": message_pb2.CHANNEL_FACEBOOK,
                    "kind": message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
                    "account_id": "111",
                    "recipient_id": "PSID1",
                },
                {"channel": message_pb2.CHANNEL_INSTAGRAM, "in_reply_to": "178"},
                {"channel": message_pb2.CHANNEL_X, "in_reply_to": "1850"},
                {
                    "channel": message_pb2.CHANNEL_X,
                    "kind": message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
                    "recipient_id": "2244994945",
                },
                {
                    "channel": message_pb2.CHANNEL_LINKEDIN,
                    "account_id": "urn:li:organization:1",
                    "thread_id": "urn:li:activity:9",
                },
                {"channel": message_pb2.CHANNEL_FORUM, "account_id": "forum", "in_reply_to": "t1"},
            ]
        )
    ]
    deliveries = sender_for(fake, VirtualTime()).send_all(replies)
    assert [d.status for d in deliveries] == [SENT] * len(replies)
    assert [d.reply_id for d in deliveries] == [r.reply_id for r in replies]
    assert sorted(r.platform for r in fake.sent()) == sorted(
        ["facebook", "messenger", "instagram", "x", "x_dm", "linkedin", "generic"]
    )
    ids = {r.idempotency_key: r.platform_id for r in fake.sent()}
    assert all(d.platform_message_id == ids[d.reply_id] for d in deliveries)


def test_a_refused_token_is_the_platforms_answer(fake: FakePlatforms) -> None:
    fake.tokens = {"another-token"}
    delivery = sender_for(fake, VirtualTime()).send(whatsapp())
    assert delivery.status == FAILED and delivery.error_code == "190"


def test_graph_invalid_parameter(fake: FakePlatforms) -> None:
    fake.refuse("r-1", GRAPH_INVALID_PARAMETER)
    delivery = sender_for(fake, VirtualTime()).send(whatsapp())
    assert (delivery.status, delivery.error_code, delivery.reason) == (
        FAILED,
        "100",
        "(#100) Invalid parameter",
    )


def test_replies_of_one_case_go_out_in_order(fake: FakePlatforms) -> None:
    fake.latency_s = 0.005
    replies = [whatsapp(f"r-{i}", text=f"part {i}") for i in range(6)]
    replies += [whatsapp(f"o-{i}", case_id=f"other-{i}") for i in range(6)]
    deliveries = sender_for(fake, VirtualTime()).send_all(replies)
    assert all(d.status == SENT for d in deliveries)
    order = [r.idempotency_key for r in fake.sent() if r.idempotency_key.startswith("r-")]
    assert order == [f"r-{i}" for i in range(6)]


def test_unreachable_platform_is_transient_then_failed() -> None:
    with FakePlatforms() as gone:
        url = gone.graph_url
    brand = Brand.model_validate(
        {"name": "acme", "meta": {"graph_url": url, "access_token_env": "TEST_UNUSED_TOKEN"}}
    )
    time = VirtualTime()
    sender = ReplySender(
        care_with(brand),
        lambda: datetime.now(UTC),
        policy=RetryPolicy(max_attempts=2, rand=random.Random(1)),
        sleep=time.sleep,
        monotonic=time.monotonic,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEST_UNUSED_TOKEN", "t")
        delivery = sender.send(whatsapp())
    assert delivery.status == FAILED
    assert delivery.error_code == "network" and delivery.attempts == 2


def test_a_batch_settles_within_one_budget(fake: FakePlatforms) -> None:
    """Three replies to one case go in sequence; the budget is the batch's, so the later
    ones get one attempt each instead of a budget each."""
    fake.refuse("31612345678", PlatformError(503, {"error": {"message": "down", "code": 2}}))
    time = VirtualTime()
    policy = RetryPolicy(max_attempts=100, base_s=10, cap_s=10, budget_s=60, rand=random.Random(4))
    deliveries = sender_for(fake, time, policy=policy).send_all(
        [whatsapp(f"r-{i}") for i in range(3)]
    )
    assert [d.status for d in deliveries] == [FAILED] * 3
    assert time.now <= 60
    assert deliveries[-1].attempts == 1


def test_each_reply_is_settled_before_its_worker_posts_again(fake: FakePlatforms) -> None:
    replies = [whatsapp(f"r-{i}", text=f"part {i}") for i in range(4)]
    posts_when_settled: list[tuple[str, int]] = []

    def settle(delivery: delivery_pb2.ReplyDelivery) -> None:
        posts_when_settled.append((delivery.reply_id, len(fake.sent())))

    deliveries = sender_for(fake, VirtualTime()).send_all(replies, settle)
    assert [d.status for d in deliveries] == [SENT] * 4
    assert posts_when_settled == [("r-0", 1), ("r-1", 2), ("r-2", 3), ("r-3", 4)]


def test_a_settle_that_raises_stops_every_worker_and_is_raised(fake: FakePlatforms) -> None:
    """One worker (concurrency 1) over five cases: the second delivery cannot be recorded,
    so nothing more is posted and the caller gets the error."""
    replies = [whatsapp(f"r-{i}", case_id=f"case-{i}") for i in range(5)]
    settled: list[str] = []

    def settle(delivery: delivery_pb2.ReplyDelivery) -> None:
        if settled:
            raise RuntimeError("cannot record it")
        settled.append(delivery.reply_id)

    sender = sender_for(fake, VirtualTime(), concurrency=1)
    with pytest.raises(RuntimeError, match="cannot record it"):
        sender.send_all(replies, settle)
    sender.close()
    assert settled == ["r-0"]
    assert [r.idempotency_key for r in fake.sent()] == ["r-0", "r-1"]


def test_with_many_workers_a_failed_settle_leaves_at_most_one_post_per_worker(
    fake: FakePlatforms,
) -> None:
    fake.latency_s = 0.002
    replies = [whatsapp(f"r-{i}", case_id=f"case-{i}") for i in range(40)]
    settled: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def settle(delivery: delivery_pb2.ReplyDelivery) -> None:
        with lock:
            if len(settled) >= 10:
                refused.append(delivery.reply_id)
                raise RuntimeError("cannot record it")
            settled.append(delivery.reply_id)

    sender = sender_for(fake, VirtualTime(), concurrency=4)
    with pytest.raises(RuntimeError):
        sender.send_all(replies, settle)
    sender.close()
    posted = [r.idempotency_key for r in fake.sent()]
    assert len(settled) == 10
    assert 1 <= len(refused) <= 4
    assert sorted(posted) == sorted(settled + refused)
