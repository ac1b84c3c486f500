"""The connectors' webhook doors over HTTP, on a real Ingestor on the embedded bus.

Bodies are the platforms' documented payload shapes, sent as bytes and signed over those
bytes as the platform does; what a request leaves behind is read back from the topics with
a real consumer (`social.messages.raw`, `social.payloads.raw`, `care.deliveries`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Scope

from socialcare.channels import signatures
from socialcare.channels.ratelimit import RateLimiter
from socialcare.channels.webhooks import channels_router
from socialcare.core.bus import BusError, Headers, Producer, Record
from socialcare.core.bus.base import Delivery
from socialcare.core.domain.brands import (
    Brand,
    GenericSource,
    LinkedInAccounts,
    MetaAccounts,
    XAccounts,
)
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode, derived_id
from socialcare.core.runtime import Runtime, build_app
from socialcare.ingestion.dedupe import SeenMessageIds
from socialcare.ingestion.ingestor import Ingestor
from socialcare.v1 import delivery_pb2, message_pb2
from tests.unit.ingestion.ingestion_helpers import settings_for
from tests.unit.metrics import sample

FIXTURES = Path(__file__).parents[2] / "fixtures" / "channels"
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)

SECRETS = {
    "TEST_META_APP_SECRET": "meta-app-secret",
    "TEST_META_VERIFY_TOKEN": "verify-me-please",
    "TEST_X_CONSUMER_SECRET": "x-consumer-secret",
    "TEST_LINKEDIN_CLIENT_SECRET": "linkedin-client-secret",
    "TEST_FORUM_SECRET": "forum-secret",
    "TEST_OTHER_META_SECRET": "other-meta-secret",
    "TEST_OTHER_X_SECRET": "other-x-secret",
}
PAGE_ID = "104729381726354"
WHATSAPP_NUMBER_ID = "106540352242922"
X_ACCOUNT = "2244994945"
LINKEDIN_ORG = "urn:li:organization:2414183"


def energieloket(**overrides: Any) -> Brand:
    values: dict[str, Any] = {
        "name": "energieloket",
        "meta": MetaAccounts(
            app_secret_env="TEST_META_APP_SECRET",
            verify_token_env="TEST_META_VERIFY_TOKEN",
            accounts=[PAGE_ID, WHATSAPP_NUMBER_ID],
        ),
        "x": XAccounts(consumer_secret_env="TEST_X_CONSUMER_SECRET", accounts=[X_ACCOUNT]),
        "linkedin": LinkedInAccounts(
            client_secret_env="TEST_LINKEDIN_CLIENT_SECRET", accounts=[LINKEDIN_ORG]
        ),
        "generic": [GenericSource(source="forum", secret_env="TEST_FORUM_SECRET", channel="forum")],
    }
    values.update(overrides)
    return Brand(**values)


def care_with(*brands: Brand) -> CareConfig:
    base = load_care_config()
    return CareConfig(
        sla_policies=base.sla_policies,
        queues=base.queues,
        agents=base.agents,
        intents=base.intents,
        teams=base.teams,
        brands=[*brands],
    )


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(settings_for(tmp_path))
    yield runtime
    runtime.close()


def client_for(
    runtime: Runtime,
    care: CareConfig,
    *,
    producer: Producer | None = None,
    **options: Any,
) -> TestClient:
    ingestor = Ingestor(producer or runtime.producer, SeenMessageIds(1000))
    router = channels_router(ingestor, care, clock=lambda: NOW, **options)
    return TestClient(build_app("channels-test", [router], []))


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with client_for(runtime, care_with(energieloket())) as client:
        yield client


def records(runtime: Runtime, topic: Topic) -> list[Record]:
    """Everything on `topic`, read by a fresh consumer group."""
    consumer = runtime.bus.consumer(f"test-{uuid.uuid4().hex[:8]}", [topic])
    try:
        found: list[Record] = []
        while batch := consumer.poll(500, timeout_s=0.2):
            found.extend(batch)
        return found
    finally:
        consumer.close()


def messages(runtime: Runtime) -> list[message_pb2.SocialMessage]:
    return [decode(r, message_pb2.SocialMessage) for r in records(runtime, Topic.MESSAGES_RAW)]


def raw_payloads(runtime: Runtime) -> list[delivery_pb2.RawPayload]:
    return [decode(r, delivery_pb2.RawPayload) for r in records(runtime, Topic.PAYLOADS_RAW)]


def webhooks(connector: str, outcome: str) -> float:
    return sample("socialcare_webhooks_total", connector=connector, outcome=outcome)


def encode(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


# Documented payloads ----------------------------------------------------------------

FACEBOOK_COMMENT = {
    "object": "page",
    "entry": [
        {
            "id": PAGE_ID,
            "time": 1795000012,
            "changes": [
                {
                    "field": "feed",
                    "value": {
                        "from": {"id": "7265109384712093", "name": "Sanne de Vries"},
                        "post": {
                            "status_type": "added_photos",
                            "is_published": True,
                            "updated_time": "2026-11-18T11:06:40+0000",
                            "permalink_url": "https://www.facebook.com/energieloket/posts/1",
                            "promotion_status": "inactive",
                            "id": f"{PAGE_ID}_998877665544332",
                        },
                        "message": "Mijn voorschot is ineens €80 hoger. Kan iemand mij bellen?",
                        "post_id": f"{PAGE_ID}_998877665544332",
                        "comment_id": "998877665544332_1201938475610293",
                        "created_time": 1795000000,
                        "item": "comment",
                        "parent_id": f"{PAGE_ID}_998877665544332",
                        "verb": "add",
                    },
                }
            ],
        }
    ],
}

WHATSAPP_STATUS = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "31850019283",
                            "phone_number_id": WHATSAPP_NUMBER_ID,
                        },
                        "statuses": [
                            {
                                "id": "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
                                "status": "delivered",
                                "timestamp": "1795003205",
                                "recipient_id": "31612345678",
                                "biz_opaque_callback_data": "sc1:case-3f9c2e:reply-81b7",
                            }
                        ],
                    },
                }
            ],
        }
    ],
}

X_MENTION = {
    "for_user_id": X_ACCOUNT,
    "tweet_create_events": [
        {
            "created_at": "Wed Nov 18 08:14:03 +0000 2026",
            "id_str": "1990012345678901234",
            "text": "@Energieloket mijn energierekening is veel hoger dan verwacht, hoe kan dat?",
            "user": {
                "id_str": "48213377",
                "screen_name": "jvdberg_zzp",
                "name": "Jeroen van den Berg",
                "followers_count": 812,
            },
            "in_reply_to_status_id_str": None,
            "lang": "nl",
            "entities": {"user_mentions": [{"id_str": X_ACCOUNT, "screen_name": "Energieloket"}]},
        }
    ],
}

LINKEDIN_COMMENT = {
    "type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS",
    "notifications": [
        {
            "notificationId": 510882,
            "organizationalEntity": LINKEDIN_ORG,
            "action": "COMMENT",
            "actor": "urn:li:person:a1b2c3",
            "sourcePost": "urn:li:share:7265000000000000001",
            "generatedActivity": "urn:li:comment:(urn:li:activity:7265000000000000001,7265"
            "000000000000777)",
            "decoratedGeneratedActivity": {
                "comment": {
                    "entity": "urn:li:comment:(urn:li:activity:7265000000000000001,7265"
                    "000000000000777)",
                    "owner": "urn:li:person:a1b2c3",
                    "text": "Wanneer komt de subsidieregeling voor warmtepompen terug?",
                }
            },
            "lastModifiedAt": 1795000000000,
        }
    ],
}


def forum_post(external_id: str = "topic-981#p3", **overrides: Any) -> dict[str, Any]:
    post: dict[str, Any] = {
        "external_id": external_id,
        "author": {"id": "member-4471", "name": "Kees"},
        "text": "Weet iemand of de isolatiesubsidie ook voor huurders geldt?",
        "created_at": "2026-11-20T09:12:00+01:00",
        "thread_id": "topic-981",
    }
    post.update(overrides)
    return post


def meta_headers(body: bytes, secret: str = SECRETS["TEST_META_APP_SECRET"]) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        signatures.META_HEADER: signatures.meta_signature(secret, body),
    }


def x_headers(body: bytes, secret: str = SECRETS["TEST_X_CONSUMER_SECRET"]) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        signatures.X_HEADER: signatures.x_signature(secret, body),
    }


def linkedin_headers(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        signatures.LINKEDIN_HEADER: signatures.linkedin_signature(
            SECRETS["TEST_LINKEDIN_CLIENT_SECRET"], body
        ),
    }


def generic_headers(
    body: bytes, *, at: datetime = NOW, secret: str = "forum-secret"
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        signatures.GENERIC_HEADER: signatures.generic_signature(
            secret, body, timestamp=int(at.timestamp())
        ),
    }


# Handshakes -------------------------------------------------------------------------


def test_meta_handshake_echoes_the_challenge_for_a_brands_verify_token(
    client: TestClient,
) -> None:
    answer = client.get(
        "/v1/channels/meta/webhook",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "verify-me-please",
            "hub.challenge": "1158201444",
        },
    )
    assert answer.status_code == 200
    assert answer.text == "1158201444"
    assert answer.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "verify-me-please", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "verify-me-please"},
        {
            "hub.mode": "subscribe",
            "hub.verify_token": "verify-me-please",
            "hub.challenge": "<script>alert(1)</script>",
        },
    ],
)
def test_meta_handshake_without_the_verify_token_is_403(
    client: TestClient, params: dict[str, str]
) -> None:
    before = webhooks("meta", "verification_failed")
    answer = client.get("/v1/channels/meta/webhook", params=params)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "verification_failed"
    assert webhooks("meta", "verification_failed") == before + 1


def test_x_crc_answers_the_response_token(client: TestClient) -> None:
    answer = client.get("/v1/channels/x/webhook", params={"crc_token": "9b4507b3-9040-4669"})
    assert answer.status_code == 200
    assert answer.json() == signatures.x_crc_response("x-consumer-secret", "9b4507b3-9040-4669")
    missing = client.get("/v1/channels/x/webhook")
    assert missing.status_code == 422
    assert missing.json()["error"]["field"] == "crc_token"


def test_linkedin_validation_answers_the_challenge_response(client: TestClient) -> None:
    code = "890e4665-4dfe-4ab1-b689-ed553bceeed0"
    answer = client.get("/v1/channels/linkedin/webhook", params={"challengeCode": code})
    assert answer.status_code == 200
    assert answer.json() == {
        "challengeCode": code,
        "challengeResponse": signatures.hmac_sha256("linkedin-client-secret", code.encode()).hex(),
    }


def test_with_several_x_apps_the_crc_needs_the_brand_in_the_url(runtime: Runtime) -> None:
    other = Brand(name="warmtefonds", x=XAccounts(consumer_secret_env="TEST_OTHER_X_SECRET"))
    with client_for(runtime, care_with(energieloket(), other)) as client:
        ambiguous = client.get("/v1/channels/x/webhook", params={"crc_token": "abc"})
        named = client.get(
            "/v1/channels/x/webhook", params={"crc_token": "abc", "brand": "warmtefonds"}
        )
        unknown = client.get(
            "/v1/channels/x/webhook", params={"crc_token": "abc", "brand": "nobody"}
        )
    assert ambiguous.status_code == 422
    assert ambiguous.json()["error"]["field"] == "brand"
    assert named.json() == signatures.x_crc_response("other-x-secret", "abc")
    assert unknown.status_code == 404


def test_a_connector_without_its_secret_is_404(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_META_APP_SECRET")
    body = encode(FACEBOOK_COMMENT)
    with client_for(runtime, care_with(energieloket())) as client:
        handshake = client.get(
            "/v1/channels/meta/webhook",
            params={"hub.mode": "subscribe", "hub.verify_token": "verify-me-please"},
        )
        post = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))
        source = client.post(
            "/v1/channels/generic/reviews", content=b"{}", headers=generic_headers(b"{}")
        )
    assert handshake.status_code == post.status_code == source.status_code == 404
    assert post.json()["error"]["code"] == "unknown_connector"
    assert source.json()["error"]["code"] == "unknown_source"


# Events -----------------------------------------------------------------------------


def test_a_signed_facebook_comment_is_accepted_with_its_raw_body(
    client: TestClient, runtime: Runtime
) -> None:
    body = encode(FACEBOOK_COMMENT)
    before = webhooks("meta", "accepted")

    answer = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "duplicates": 0, "deliveries": 0, "skipped": 0}
    assert webhooks("meta", "accepted") == before + 1
    [message] = messages(runtime)
    assert message.channel == message_pb2.CHANNEL_FACEBOOK
    assert message.brand == "energieloket"
    assert message.account_id == PAGE_ID
    assert message.text.startswith("Mijn voorschot is ineens €80 hoger")
    [raw] = raw_payloads(runtime)
    assert raw.body == body, "the raw body is kept byte for byte"
    assert raw.connector == "meta"
    assert raw.brand == "energieloket"
    assert raw.content_type == "application/json"
    assert raw.payload_id == derived_id("meta", hashlib.sha256(body).hexdigest())
    assert list(raw.message_ids) == [message.message_id]


def test_a_redelivered_webhook_is_200_with_duplicates(client: TestClient, runtime: Runtime) -> None:
    body = encode(FACEBOOK_COMMENT)
    first = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))
    again = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))
    assert first.json()["accepted"] == 1
    assert again.status_code == 200
    assert again.json() == {"accepted": 0, "duplicates": 1, "deliveries": 0, "skipped": 0}
    assert len(messages(runtime)) == 1
    assert len(raw_payloads(runtime)) == 1, "the body was kept the first time"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json", signatures.META_HEADER: "sha256=00"},
        {
            "Content-Type": "application/json",
            signatures.META_HEADER: signatures.meta_signature("another-app", b"{}"),
        },
    ],
)
def test_an_unsigned_or_wrongly_signed_webhook_is_401_and_nothing_is_published(
    client: TestClient, runtime: Runtime, headers: dict[str, str]
) -> None:
    before = webhooks("meta", "invalid_signature")
    answer = client.post(
        "/v1/channels/meta/webhook", content=encode(FACEBOOK_COMMENT), headers=headers
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_signature"
    assert webhooks("meta", "invalid_signature") == before + 1
    assert records(runtime, Topic.PAYLOADS_RAW) == []
    assert records(runtime, Topic.MESSAGES_RAW) == []


def test_the_signature_is_over_the_bytes_sent_not_the_json_they_mean(
    client: TestClient,
) -> None:
    """Re-serialising the JSON (other spacing, other escapes) breaks the signature."""
    sent = json.dumps(FACEBOOK_COMMENT, indent=2).encode()
    signed_over = encode(FACEBOOK_COMMENT)
    assert json.loads(sent) == json.loads(signed_over)
    answer = client.post(
        "/v1/channels/meta/webhook", content=sent, headers=meta_headers(signed_over)
    )
    assert answer.status_code == 401


def test_a_whatsapp_status_with_our_tag_becomes_a_reply_delivery(
    client: TestClient, runtime: Runtime
) -> None:
    body = encode(WHATSAPP_STATUS)
    answer = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 0, "duplicates": 0, "deliveries": 1, "skipped": 0}
    [record] = records(runtime, Topic.DELIVERIES)
    delivery = decode(record, delivery_pb2.ReplyDelivery)
    assert (delivery.case_id, delivery.reply_id) == ("case-3f9c2e", "reply-81b7")
    assert delivery.status == delivery_pb2.DELIVERY_STATUS_DELIVERED
    [raw] = raw_payloads(runtime)
    assert list(raw.delivery_ids) == [delivery.event_id]


def test_a_signed_x_mention_is_accepted(client: TestClient, runtime: Runtime) -> None:
    body = encode(X_MENTION)
    answer = client.post("/v1/channels/x/webhook", content=body, headers=x_headers(body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    [message] = messages(runtime)
    assert message.channel == message_pb2.CHANNEL_X
    assert message.author.followers == 812
    assert (message.brand, message.account_id) == ("energieloket", X_ACCOUNT)
    assert raw_payloads(runtime)[0].connector == "x"


def test_x_refuses_a_meta_style_hex_signature(client: TestClient) -> None:
    body = encode(X_MENTION)
    headers = {
        "Content-Type": "application/json",
        signatures.X_HEADER: signatures.meta_signature("x-consumer-secret", body),
    }
    assert client.post("/v1/channels/x/webhook", content=body, headers=headers).status_code == 401


def test_a_signed_linkedin_comment_is_accepted(client: TestClient, runtime: Runtime) -> None:
    body = encode(LINKEDIN_COMMENT)
    answer = client.post(
        "/v1/channels/linkedin/webhook", content=body, headers=linkedin_headers(body)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    [message] = messages(runtime)
    assert message.channel == message_pb2.CHANNEL_LINKEDIN
    assert message.account_id == LINKEDIN_ORG


def test_a_signed_generic_batch_takes_the_sources_channel(
    client: TestClient, runtime: Runtime
) -> None:
    body = encode({"messages": [forum_post(), forum_post("topic-981#p4", channel="x")]})
    answer = client.post("/v1/channels/generic/forum", content=body, headers=generic_headers(body))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 2, "duplicates": 0, "deliveries": 0, "skipped": 0}
    found = messages(runtime)
    assert {m.channel for m in found} == {message_pb2.CHANNEL_FORUM}
    assert {m.brand for m in found} == {"energieloket"}
    assert raw_payloads(runtime)[0].connector == "generic/forum"


def test_a_generic_signature_older_than_five_minutes_is_401(
    client: TestClient, runtime: Runtime
) -> None:
    body = encode(forum_post())
    stale = datetime.fromtimestamp(NOW.timestamp() - 301, UTC)
    answer = client.post(
        "/v1/channels/generic/forum", content=body, headers=generic_headers(body, at=stale)
    )
    fresh = client.post("/v1/channels/generic/forum", content=body, headers=generic_headers(body))
    assert answer.status_code == 401
    assert fresh.status_code == 200


def test_an_invalid_generic_item_refuses_the_webhook_naming_it(
    client: TestClient, runtime: Runtime
) -> None:
    body = encode({"messages": [forum_post(), forum_post("p2", author={"name": "no id"})]})
    answer = client.post("/v1/channels/generic/forum", content=body, headers=generic_headers(body))
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"
    assert answer.json()["error"]["field"] == "messages.1.author.id"
    assert records(runtime, Topic.MESSAGES_RAW) == []
    assert records(runtime, Topic.PAYLOADS_RAW) == []


def test_a_platform_payload_of_the_wrong_shape_is_422_naming_the_field(
    client: TestClient,
) -> None:
    body = encode({"object": "page"})
    answer = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "entry"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b"\xff\xfe{}", 400, "invalid_json"),
        (b'{"object": NaN}', 400, "invalid_json"),
        (b'{"object": "page", "entry": [{"id": "\\ud800"}]}', 400, "invalid_json"),
        (b"[]", 422, "invalid_request"),
        (b'"page"', 422, "invalid_request"),
    ],
)
def test_a_signed_body_that_is_not_a_json_object_is_refused(
    client: TestClient, runtime: Runtime, body: bytes, status: int, code: str
) -> None:
    answer = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert records(runtime, Topic.PAYLOADS_RAW) == []


def test_an_escaped_surrogate_pair_is_a_character_not_an_error(client: TestClient) -> None:
    comment = json.loads(json.dumps(FACEBOOK_COMMENT))
    comment["entry"][0]["changes"][0]["value"]["message"] = "Top service 😀"
    body = json.dumps(comment, ensure_ascii=True).encode()  # 😀 as \ud83d\ude00
    assert b"\\ud83d\\ude00" in body
    answer = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))
    assert answer.status_code == 200, answer.text


def test_a_body_not_sent_as_json_is_415_even_when_signed(client: TestClient) -> None:
    body = encode(FACEBOOK_COMMENT)
    headers = {**meta_headers(body), "Content-Type": "text/plain"}
    answer = client.post("/v1/channels/meta/webhook", content=body, headers=headers)
    assert answer.status_code == 415
    assert answer.json()["error"]["code"] == "unsupported_media_type"


def test_a_body_over_the_cap_is_413_by_content_length_or_as_it_streams(
    runtime: Runtime,
) -> None:
    body = encode(FACEBOOK_COMMENT)
    with client_for(runtime, care_with(energieloket()), max_body_bytes=len(body) - 1) as client:
        declared = client.post(
            "/v1/channels/meta/webhook", content=body, headers=meta_headers(body)
        )
        # A generator body goes chunked: no Content-Length, the cap applies while reading.
        streamed = client.post(
            "/v1/channels/meta/webhook",
            content=iter([body[:100], body[100:]]),
            headers=meta_headers(body),
        )
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "payload_too_large"
    assert "content-length" not in streamed.request.headers
    assert records(runtime, Topic.PAYLOADS_RAW) == []


def test_a_body_at_the_cap_is_accepted(runtime: Runtime) -> None:
    body = encode(FACEBOOK_COMMENT)
    with client_for(runtime, care_with(energieloket()), max_body_bytes=len(body)) as client:
        answer = client.post(
            "/v1/channels/meta/webhook",
            content=iter([body[:10], body[10:]]),
            headers=meta_headers(body),
        )
    assert answer.status_code == 200, answer.text


def test_a_sender_over_its_rate_gets_429_with_retry_after(runtime: Runtime) -> None:
    slow_forum = GenericSource(
        source="forum", secret_env="TEST_FORUM_SECRET", channel="forum", rate_per_s=0.1, burst=2
    )
    limiter = RateLimiter(monotonic=lambda: 500.0)  # time stands still: no refill
    care = care_with(energieloket(generic=[slow_forum]))
    with client_for(runtime, care, limiter=limiter) as client:
        answers = []
        for n in range(3):
            body = encode(forum_post(f"p{n}"))
            answers.append(
                client.post(
                    "/v1/channels/generic/forum", content=body, headers=generic_headers(body)
                )
            )
        # Meta has its own bucket: not limited by the forum's.
        meta_body = encode(FACEBOOK_COMMENT)
        meta = client.post(
            "/v1/channels/meta/webhook", content=meta_body, headers=meta_headers(meta_body)
        )
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited"
    assert answers[2].headers["retry-after"] == "10"
    assert meta.status_code == 200


def test_an_unsigned_request_does_not_use_up_the_senders_rate(runtime: Runtime) -> None:
    one = GenericSource(source="forum", secret_env="TEST_FORUM_SECRET", channel="forum", burst=1)
    limiter = RateLimiter(monotonic=lambda: 500.0)
    with client_for(runtime, care_with(energieloket(generic=[one])), limiter=limiter) as client:
        body = encode(forum_post())
        for _ in range(3):
            forged = client.post(
                "/v1/channels/generic/forum",
                content=body,
                headers=generic_headers(body, secret="guess"),
            )
            assert forged.status_code == 401
        signed = client.post(
            "/v1/channels/generic/forum", content=body, headers=generic_headers(body)
        )
    assert signed.status_code == 200


def test_brands_sharing_a_meta_app_get_the_messages_of_their_own_pages(
    runtime: Runtime,
) -> None:
    """One Meta app serves both brands: the page id decides whose message it is."""
    shared = "TEST_META_APP_SECRET"
    first = Brand(name="warmtefonds", meta=MetaAccounts(app_secret_env=shared, accounts=["999"]))
    second = Brand(
        name="energieloket", meta=MetaAccounts(app_secret_env=shared, accounts=[PAGE_ID])
    )
    body = encode(FACEBOOK_COMMENT)
    with client_for(runtime, care_with(first, second)) as client:
        answer = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))
    assert answer.status_code == 200, answer.text
    [message] = messages(runtime)
    assert message.brand == "energieloket"


def test_the_brand_whose_app_secret_signed_gets_the_messages(runtime: Runtime) -> None:
    other = Brand(name="warmtefonds", meta=MetaAccounts(app_secret_env="TEST_OTHER_META_SECRET"))
    body = encode(FACEBOOK_COMMENT)
    with client_for(runtime, care_with(energieloket(), other)) as client:
        answer = client.post(
            "/v1/channels/meta/webhook",
            content=body,
            headers=meta_headers(body, secret="other-meta-secret"),
        )
    assert answer.status_code == 200, answer.text
    [message] = messages(runtime)
    assert message.brand == "warmtefonds"
    assert raw_payloads(runtime)[0].brand == "warmtefonds"


class DownProducer(Producer):
    """A producer whose records are never acknowledged (the broker is away)."""

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        return NeverDelivered()

    def flush(self, timeout_s: float = 30.0) -> None:
        raise BusError("broker not reachable")

    def close(self) -> None:
        pass


class NeverDelivered(Delivery):
    def wait(self, timeout_s: float = 30.0) -> None:
        raise BusError("broker not reachable")


def test_bus_down_is_503_with_retry_after_and_a_redelivery_is_accepted(
    runtime: Runtime,
) -> None:
    body = encode(FACEBOOK_COMMENT)
    care = care_with(energieloket())
    before = webhooks("meta", "bus_unavailable")
    with client_for(runtime, care, producer=DownProducer()) as client:
        down = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "bus_unavailable"
    assert down.headers["retry-after"].isdigit()
    assert webhooks("meta", "bus_unavailable") == before + 1
    with client_for(runtime, care) as client:
        again = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))
    assert again.json()["accepted"] == 1


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("meta_*.json")))
def test_every_documented_meta_payload_is_accepted_whole(
    client: TestClient, runtime: Runtime, fixture: str
) -> None:
    """The recorded payload formats of the Meta parser's tests, through the HTTP door:
    everything parsed is durable, and the answer counts it."""
    body = (FIXTURES / fixture).read_bytes()
    answer = client.post("/v1/channels/meta/webhook", content=body, headers=meta_headers(body))
    assert answer.status_code == 200, answer.text
    receipt = answer.json()
    assert receipt["accepted"] + receipt["duplicates"] == len(raw_payloads(runtime)[0].message_ids)
    assert receipt["accepted"] == len(messages(runtime))
    assert receipt["deliveries"] == len(records(runtime, Topic.DELIVERIES))


def test_the_webhooks_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for connector in ("meta", "x", "linkedin"):
        operations = paths[f"/v1/channels/{connector}/webhook"]
        assert set(operations) == {"get", "post"}
        assert {"200", "401", "413", "415", "429", "503"} <= set(operations["post"]["responses"])
    assert set(paths["/v1/channels/generic/{source}"]) == {"post"}


def test_a_sender_that_goes_away_mid_body_is_not_an_internal_error(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """Driven over raw ASGI: the request body's first chunk, then a disconnect."""
    ingestor = Ingestor(runtime.producer, SeenMessageIds(10))
    app = build_app("t", [channels_router(ingestor, care_with(energieloket()))], [])
    incoming: list[Message] = [
        {"type": "http.request", "body": b'{"object": "pa', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/channels/meta/webhook",
        "raw_path": b"/v1/channels/meta/webhook",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def serve() -> None:
        await app(scope, receive, send)

    anyio.run(serve)
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    assert start["status"] == 400
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert records(runtime, Topic.PAYLOADS_RAW) == []
