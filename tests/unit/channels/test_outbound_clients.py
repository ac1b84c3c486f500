"""Each platform's reply request and the meaning of its answers, as the platforms document
them (Graph API, WhatsApp Cloud API, X API v2, LinkedIn Community Management API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from socialcare.channels.outbound.clients import (
    NotSendableError,
    Posted,
    Refused,
    build_request,
    interpret,
)
from socialcare.channels.signatures import generic_signature
from socialcare.core.domain.brands import (
    Brand,
    GenericSource,
    LinkedInAccounts,
    MetaAccounts,
    XAccounts,
)
from socialcare.v1 import commands_pb2, message_pb2

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
GRAPH = "https://graph.example/v21.0"
BRAND = Brand(
    name="acme",
    meta=MetaAccounts(graph_url=GRAPH, access_token_env="TEST_META_TOKEN"),
    x=XAccounts(api_url="https://x.example/2", bearer_token_env="TEST_X_TOKEN"),
    linkedin=LinkedInAccounts(api_url="https://li.example", access_token_env="TEST_LI_TOKEN"),
    generic=[
        GenericSource(
            source="forum",
            secret_env="TEST_FORUM_SECRET",
            channel="forum",
            reply_url="https://forum.example/api/replies",
        ),
        GenericSource(source="reviews", secret_env="TEST_REVIEWS_SECRET", channel="review"),
    ],
)


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TEST_META_TOKEN", "TEST_X_TOKEN", "TEST_LI_TOKEN"):
        monkeypatch.setenv(name, f"token-{name}")
    monkeypatch.setenv("TEST_FORUM_SECRET", "forum-secret")
    monkeypatch.setenv("TEST_REVIEWS_SECRET", "reviews-secret")


def reply(**fields: object) -> commands_pb2.OutboundReply:
    base: dict[str, object] = {
        "reply_id": "r-1",
        "case_id": "c-1",
        "text": "Sorry to hear that! We are on it. ^Anna",
        "brand": "acme",
    }
    base.update(fields)
    return commands_pb2.OutboundReply(**base)  # type: ignore[arg-type]


def body(request: object) -> dict[str, object]:
    data = json.loads(request.body)  # type: ignore[attr-defined]
    assert isinstance(data, dict)
    return data


def test_facebook_comment_reply_posts_to_the_comment() -> None:
    request = build_request(
        reply(
            channel=message_pb2.CHANNEL_FACEBOOK,
            kind=message_pb2.MESSAGE_KIND_COMMENT,
            in_reply_to="1234567890_987654321",
            thread_id="1234567890",
            account_id="1234567890",
        ),
        BRAND,
        now=NOW,
    )
    assert request.endpoint == "facebook"
    assert request.url == f"{GRAPH}/1234567890_987654321/comments"
    assert body(request) == {"message": "Sorry to hear that! We are on it. ^Anna"}
    assert request.headers["Authorization"] == "Bearer token-TEST_META_TOKEN"
    assert request.headers["Idempotency-Key"] == "r-1"


def test_messenger_reply_is_a_response_to_the_psid() -> None:
    request = build_request(
        reply(
            channel=message_pb2.CHANNEL_FACEBOOK,
            kind=message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
            account_id="1122334455",
            recipient_id="PSID-77",
        ),
        BRAND,
        now=NOW,
    )
    assert (request.endpoint, request.url) == ("messenger", f"{GRAPH}/1122334455/messages")
    assert body(request) == {
        "recipient": {"id": "PSID-77"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Sorry to hear that! We are on it. ^Anna"},
    }


def test_instagram_comment_and_dm() -> None:
    comment = build_request(
        reply(
            channel=message_pb2.CHANNEL_INSTAGRAM,
            kind=message_pb2.MESSAGE_KIND_COMMENT,
            in_reply_to="17870913679156914",
            thread_id="17895695668004550",
        ),
        BRAND,
        now=NOW,
    )
    assert comment.url == f"{GRAPH}/17870913679156914/replies"
    assert body(comment) == {"message": "Sorry to hear that! We are on it. ^Anna"}
    dm = build_request(
        reply(
            channel=message_pb2.CHANNEL_INSTAGRAM,
            kind=message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
            account_id="17841400000000000",
            thread_id="IGSID-5",  # before recipient_id existed, a DM's thread is its sender
        ),
        BRAND,
        now=NOW,
    )
    assert (dm.endpoint, dm.url) == ("instagram_dm", f"{GRAPH}/17841400000000000/messages")
    assert body(dm)["recipient"] == {"id": "IGSID-5"}


def test_whatsapp_text_in_context_with_callback_data() -> None:
    request = build_request(
        reply(
            channel=message_pb2.CHANNEL_WHATSAPP,
            kind=message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
            account_id="106540352242922",
            recipient_id="31612345678",
            in_reply_to="wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzQUI=",
        ),
        BRAND,
        now=NOW,
    )
    assert request.url == f"{GRAPH}/106540352242922/messages"
    assert body(request) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "31612345678",
        "type": "text",
        "text": {"body": "Sorry to hear that! We are on it. ^Anna", "preview_url": False},
        "context": {"message_id": "wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzQUI="},
        "biz_opaque_callback_data": "sc1:c-1:r-1",
    }


def test_whatsapp_template_with_body_parameters() -> None:
    request = build_request(
        reply(
            channel=message_pb2.CHANNEL_WHATSAPP,
            account_id="106540352242922",
            recipient_id="31612345678",
            text="",
            template=commands_pb2.MessageTemplate(
                name="order_update", language="nl", parameters=["Anna", "NL123"]
            ),
        ),
        BRAND,
        now=NOW,
    )
    sent = body(request)
    assert sent["type"] == "template"
    assert sent["template"] == {
        "name": "order_update",
        "language": {"code": "nl"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Anna"}, {"type": "text", "text": "NL123"}],
            }
        ],
    }
    assert "text" not in sent and "context" not in sent


def test_x_reply_and_dm() -> None:
    tweet = build_request(
        reply(
            channel=message_pb2.CHANNEL_X, kind=message_pb2.MESSAGE_KIND_MENTION, in_reply_to="1850"
        ),
        BRAND,
        now=NOW,
    )
    assert (tweet.endpoint, tweet.url) == ("x", "https://x.example/2/tweets")
    assert body(tweet) == {
        "text": "Sorry to hear that! We are on it. ^Anna",
        "reply": {"in_reply_to_tweet_id": "1850"},
    }
    assert tweet.headers["Authorization"] == "Bearer token-TEST_X_TOKEN"
    dm = build_request(
        reply(
            channel=message_pb2.CHANNEL_X,
            kind=message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
            recipient_id="2244994945",
        ),
        BRAND,
        now=NOW,
    )
    assert dm.url == "https://x.example/2/dm_conversations/with/2244994945/messages"
    assert body(dm) == {"text": "Sorry to hear that! We are on it. ^Anna"}


def test_linkedin_comment_on_a_post_and_on_a_comment() -> None:
    post = "urn:li:activity:7203756961220165633"
    on_post = build_request(
        reply(
            channel=message_pb2.CHANNEL_LINKEDIN,
            kind=message_pb2.MESSAGE_KIND_COMMENT,
            account_id="urn:li:organization:2414183",
            thread_id=post,
        ),
        BRAND,
        now=NOW,
    )
    assert on_post.url == (
        "https://li.example/rest/socialActions/urn%3Ali%3Aactivity%3A7203756961220165633/comments"
    )
    assert body(on_post) == {
        "actor": "urn:li:organization:2414183",
        "object": post,
        "message": {"text": "Sorry to hear that! We are on it. ^Anna"},
    }
    assert on_post.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert on_post.headers["LinkedIn-Version"].isdigit()
    comment = f"urn:li:comment:({post},7204912461500555264)"
    nested = build_request(
        reply(
            channel=message_pb2.CHANNEL_LINKEDIN,
            kind=message_pb2.MESSAGE_KIND_COMMENT,
            account_id="urn:li:organization:2414183",
            thread_id=post,
            in_reply_to=comment,
        ),
        BRAND,
        now=NOW,
    )
    assert "/socialActions/urn%3Ali%3Acomment%3A%28" in nested.url
    assert body(nested)["parentComment"] == comment
    assert body(nested)["object"] == post


def test_generic_reply_is_signed_over_the_exact_body() -> None:
    request = build_request(
        reply(channel=message_pb2.CHANNEL_FORUM, account_id="forum", in_reply_to="post-9"),
        BRAND,
        now=NOW,
    )
    assert request.url == "https://forum.example/api/replies"
    assert request.headers["X-Socialcare-Signature"] == generic_signature(
        "forum-secret", request.body, timestamp=int(NOW.timestamp())
    )
    assert body(request)["in_reply_to"] == "post-9"
    assert body(request)["source"] == "forum"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"channel": message_pb2.CHANNEL_REVIEW}, "no_connector"),  # source without reply_url
        ({"channel": message_pb2.CHANNEL_EMAIL}, "no_connector"),
        (
            {
                "channel": message_pb2.CHANNEL_LINKEDIN,
                "kind": message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
            },
            "unsupported",
        ),
        (
            {"channel": message_pb2.CHANNEL_WHATSAPP, "recipient_id": "316"},
            "no_account",
        ),
        ({"channel": message_pb2.CHANNEL_X}, "no_target"),
    ],
)
def test_replies_no_connector_can_post(fields: dict[str, object], code: str) -> None:
    with pytest.raises(NotSendableError) as raised:
        build_request(reply(**fields), BRAND, now=NOW)
    assert raised.value.code == code


def test_missing_token_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_X_TOKEN")
    with pytest.raises(NotSendableError, match="TEST_X_TOKEN"):
        build_request(reply(channel=message_pb2.CHANNEL_X, in_reply_to="1"), BRAND, now=NOW)


# -- answers -----------------------------------------------------------------------------
def answer(endpoint: str, status: int, payload: object, **headers: str) -> object:
    return interpret(endpoint, status, headers, json.dumps(payload).encode(), now=NOW)


def test_ids_from_each_platforms_success_answer() -> None:
    assert answer("facebook", 200, {"id": "123_456"}) == Posted("123_456")
    assert answer("messenger", 200, {"recipient_id": "1", "message_id": "m_AG5Hz2U"}) == Posted(
        "m_AG5Hz2U"
    )
    whatsapp = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "316", "wa_id": "316"}],
        "messages": [{"id": "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTND"}],
    }
    assert answer("whatsapp", 200, whatsapp) == Posted("wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTND")
    assert answer("x", 201, {"data": {"id": "1445880548472328192", "text": "hi"}}) == Posted(
        "1445880548472328192"
    )
    dm = {"data": {"dm_conversation_id": "1-2", "dm_event_id": "1582838223948476419"}}
    assert answer("x_dm", 201, dm) == Posted("1582838223948476419")
    urn = "urn:li:comment:(urn:li:activity:1,2)"
    assert answer("linkedin", 201, {}, **{"x-restli-id": urn}) == Posted(urn)


def test_whatsapp_re_engagement_is_permanent_with_the_platforms_words() -> None:
    outcome = answer(
        "whatsapp",
        400,
        {
            "error": {
                "message": "(#131047) Re-engagement message",
                "type": "OAuthException",
                "code": 131047,
                "error_data": {
                    "messaging_product": "whatsapp",
                    "details": "Message failed to send because more than 24 hours have passed "
                    "since the customer last replied to this number.",
                },
                "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
            }
        },
    )
    assert isinstance(outcome, Refused)
    assert not outcome.transient
    assert outcome.code == "131047"
    assert outcome.reason.startswith("(#131047) Re-engagement message: Message failed")


def test_graph_throttling_codes_are_transient_even_on_400() -> None:
    outcome = answer(
        "whatsapp",
        400,
        {
            "error": {
                "message": "(#130429) Rate limit hit",
                "type": "OAuthException",
                "code": 130429,
            }
        },
    )
    assert isinstance(outcome, Refused) and outcome.transient and outcome.code == "130429"


def test_x_429_waits_for_the_rate_limit_reset() -> None:
    reset = int(NOW.timestamp()) + 42
    outcome = answer(
        "x",
        429,
        {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        },
        **{"x-rate-limit-reset": str(reset)},
    )
    assert isinstance(outcome, Refused)
    assert outcome.transient and outcome.retry_after_s == 42


def test_x_duplicate_is_permanent() -> None:
    outcome = answer(
        "x",
        403,
        {
            "title": "Forbidden",
            "detail": "You are not allowed to create a Tweet with duplicate content.",
            "type": "about:blank",
            "status": 403,
        },
    )
    assert outcome == Refused(
        "You are not allowed to create a Tweet with duplicate content.", "http_403", False
    )


def test_linkedin_error_and_server_errors() -> None:
    outcome = answer(
        "linkedin",
        403,
        {
            "status": 403,
            "serviceErrorCode": 100,
            "code": "ACCESS_DENIED",
            "message": "Not enough permissions",
        },
    )
    assert outcome == Refused("Not enough permissions", "100", False)
    server = interpret("facebook", 503, {"Retry-After": "7"}, b"<html>oops</html>", now=NOW)
    assert server == Refused("HTTP 503 from facebook", "http_503", True, 7.0)
    timeout = answer("generic", 408, {"message": "slow"})
    assert isinstance(timeout, Refused) and timeout.transient
