"""Real channel traffic through the real platform, on both backends.

A Facebook page comment, a WhatsApp message and an X mention arrive as the platforms send
them: signed webhooks after the subscription handshakes. Each becomes an assigned case;
the agent's reply leaves through the connectors to the platforms' APIs (a local fake that
speaks them, `tests/fakes/platforms.py`); WhatsApp's delivery statuses come back by
webhook and show on the case; a reply the platform refuses for good shows as failed, with
the platform's reason.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from socialcare.channels.signatures import meta_signature, x_crc_response, x_signature
from tests.e2e.platform import Platform, make_platform
from tests.fakes.platforms import WHATSAPP_REENGAGEMENT, FakePlatforms, PlatformRequest

META_SECRET = "e2e-meta-app-secret"
VERIFY_TOKEN = "e2e-verify-token"
X_SECRET = "e2e-x-consumer-secret"
PAGE_ID = "104729381726354"
PHONE_NUMBER_ID = "106540352242922"
X_ACCOUNT_ID = "3001969357"


@pytest.fixture(params=["embedded", "kafka-elasticsearch"])
def channels(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Platform, FakePlatforms]]:
    with FakePlatforms(seed=1) as fake:
        if request.param == "embedded":
            platform = make_platform(tmp_path, "embedded", "embedded")
        else:
            bootstrap = request.getfixturevalue("kafka_bootstrap")
            es_url = request.getfixturevalue("elasticsearch_url")
            platform = make_platform(tmp_path, f"kafka://{bootstrap}", es_url)
        platform.env.update(
            {
                **fake.env(),
                "SOCIALCARE_META_APP_SECRET": META_SECRET,
                "SOCIALCARE_META_VERIFY_TOKEN": VERIFY_TOKEN,
                "SOCIALCARE_X_CONSUMER_SECRET": X_SECRET,
            }
        )
        platform.start()
        try:
            yield platform, fake
        finally:
            if platform.process is not None and platform.process.poll() is None:
                platform.stop()


def post_signed(
    platform: Platform, connector: str, body: dict[str, Any], *, secret: str | None = None
) -> httpx.Response:
    """POST `body` to a connector's webhook signed as the platform signs it (with `secret`
    instead of the right one, to forge). No bearer token: webhooks are public, the signature
    is their credential."""
    raw = json.dumps(body).encode()
    if connector == "meta":
        header = {"X-Hub-Signature-256": meta_signature(secret or META_SECRET, raw)}
    else:
        header = {"x-twitter-webhooks-signature": x_signature(secret or X_SECRET, raw)}
    return httpx.post(
        f"{platform.base_url}/v1/channels/{connector}/webhook",
        content=raw,
        headers={"Content-Type": "application/json", **header},
        timeout=10.0,
    )


def facebook_comment(run: str, now: int) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": now,
                "changes": [
                    {
                        "field": "feed",
                        "value": {
                            "from": {"id": f"fb-{run}", "name": "Emma Wilson"},
                            "post_id": f"{PAGE_ID}_9988{run}",
                            "comment_id": f"9988{run}_1201",
                            "parent_id": f"{PAGE_ID}_9988{run}",
                            "created_time": now,
                            "item": "comment",
                            "verb": "add",
                            "message": "My DVD player stopped in the middle of a film and "
                            "will not turn on again. How do I get it repaired?",
                        },
                    }
                ],
            }
        ],
    }


def whatsapp_message(run: str, now: int) -> dict[str, Any]:
    return {
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
                                "display_phone_number": "15550783881",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [
                                {"profile": {"name": "Fleur Jansen"}, "wa_id": f"316{run}"}
                            ],
                            "messages": [
                                {
                                    "from": f"316{run}",
                                    "id": f"wamid.in{run}",
                                    "timestamp": str(now),
                                    "type": "text",
                                    "text": {
                                        "body": "Hallo, mijn energierekening is veel hoger dan "
                                        "verwacht en ik begrijp niet waarom. Kunnen jullie "
                                        "even meekijken?"
                                    },
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def whatsapp_statuses(
    wamid: str, tag: str, customer: str, now: int, *statuses: str
) -> dict[str, Any]:
    return {
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
                                "display_phone_number": "15550783881",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "statuses": [
                                {
                                    "id": wamid,
                                    "status": status,
                                    "timestamp": str(now + i),
                                    "recipient_id": customer,
                                    "biz_opaque_callback_data": tag,
                                }
                                for i, status in enumerate(statuses)
                            ],
                        },
                    }
                ],
            }
        ],
    }


def x_mention(run: str, now: int) -> dict[str, Any]:
    created = time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime(now))
    return {
        "for_user_id": X_ACCOUNT_ID,
        "tweet_create_events": [
            {
                "created_at": created,
                "id_str": f"18612{run}",
                "text": "@energieloket Meine Abschlagszahlung wurde ohne Erklärung verdoppelt. "
                "Wer kann mir helfen?",
                "lang": "de",
                "timestamp_ms": str(now * 1000),
                "in_reply_to_status_id_str": None,
                "user": {
                    "id_str": f"x-{run}",
                    "screen_name": "juergen_h",
                    "name": "Jürgen Hoffmann",
                    "followers_count": 2450,
                },
                "entities": {
                    "user_mentions": [{"id_str": X_ACCOUNT_ID, "screen_name": "energieloket"}]
                },
            }
        ],
    }


def case_of(platform: Platform, customer_id: str) -> dict[str, Any] | None:
    """The assigned case of this customer, with its messages, once there is one."""
    listing = platform.get("/v1/cases", status="assigned", limit=200).json()
    for case in listing["cases"]:
        if case["customer"]["id"] == customer_id:
            return dict(platform.get(f"/v1/cases/{case['id']}").json())
    return None


def outbound(case: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in case["messages"] if m["direction"] == "outbound"]


def delivery_of(platform: Platform, case_id: str, reply_index: int = 0) -> dict[str, Any] | None:
    case = platform.get(f"/v1/cases/{case_id}").json()
    replies = outbound(case)
    if len(replies) <= reply_index:
        return None
    return dict(replies[reply_index]["delivery"] or {}) or None


def sent_to(fake: FakePlatforms, platform_name: str, key: str) -> PlatformRequest | None:
    return next((r for r in fake.sent(platform_name) if r.idempotency_key == key), None)


def test_signed_webhooks_become_cases_and_replies_reach_the_customer(
    channels: tuple[Platform, FakePlatforms],
) -> None:
    platform, fake = channels
    run = str(uuid.uuid4().int)[:9]
    now = int(time.time())

    # The subscription handshakes, as Meta and X perform them before sending anything.
    check = platform.get(
        "/v1/channels/meta/webhook",
        **{
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert (check.status_code, check.text) == (200, "1158201444")
    crc = platform.get("/v1/channels/x/webhook", crc_token="challenge-" + run)
    assert crc.json() == x_crc_response(X_SECRET, "challenge-" + run)

    # A forged webhook is refused and nothing comes of it.
    forged = post_signed(
        platform, "meta", facebook_comment("666" + run, now), secret="not-the-secret"
    )
    assert forged.status_code == 401, forged.text

    for answer in (
        post_signed(platform, "meta", facebook_comment(run, now)),
        post_signed(platform, "meta", whatsapp_message(run, now)),
        post_signed(platform, "x", x_mention(run, now)),
    ):
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 1
    # The platforms re-deliver; the copy is recognised.
    again = post_signed(platform, "meta", whatsapp_message(run, now))
    assert again.status_code == 200 and again.json()["duplicates"] == 1

    facebook = platform.wait_for("the Facebook case", lambda: case_of(platform, f"fb-{run}"))
    whatsapp = platform.wait_for("the WhatsApp case", lambda: case_of(platform, f"316{run}"))
    x_case = platform.wait_for("the X case", lambda: case_of(platform, f"x-{run}"))
    assert (facebook["channel"], facebook["language"], facebook["assignee"]) == (
        "facebook",
        "en",
        "olivia",
    )
    assert (whatsapp["channel"], whatsapp["language"], whatsapp["assignee"]) == (
        "whatsapp",
        "nl",
        "sanne",
    )
    assert (x_case["channel"], x_case["language"], x_case["assignee"]) == ("x", "de", "lena")
    assert x_case["customer"]["followers"] == 2450  # reach, from the tweet's author
    assert len(whatsapp["messages"]) == 1  # the re-delivered webhook added nothing
    assert case_of(platform, f"fb-666{run}") is None  # the forged one never got in

    replies = {
        "facebook": (facebook, "olivia", "Sorry to hear that, Emma! I'll send you a repair form."),
        "whatsapp": (whatsapp, "sanne", "Hoi Fleur, ik kijk het meteen voor je na."),
        "x": (x_case, "lena", "Hallo Jürgen, das schauen wir uns sofort an."),
    }
    for case, agent, text in replies.values():
        answer = platform.post(f"/v1/cases/{case['id']}/replies", {"agent": agent, "text": text})
        assert answer.status_code == 202, answer.text

    # Each reply reaches the platform's API, signed by its agent, the right way back.
    def reply_id(case: dict[str, Any]) -> str | None:
        replies_now = outbound(platform.get(f"/v1/cases/{case['id']}").json())
        return replies_now[0]["message_id"] if replies_now else None

    fb_id = platform.wait_for("the Facebook reply on the case", lambda: reply_id(facebook))
    wa_id = platform.wait_for("the WhatsApp reply on the case", lambda: reply_id(whatsapp))
    x_id = platform.wait_for("the X reply on the case", lambda: reply_id(x_case))
    fb_post = platform.wait_for("the comment reply", lambda: sent_to(fake, "facebook", fb_id))
    assert fb_post.path.endswith(f"/9988{run}_1201/comments")
    assert fb_post.body["message"].endswith("^Olivia")
    wa_post = platform.wait_for("the WhatsApp send", lambda: sent_to(fake, "whatsapp", wa_id))
    assert wa_post.path.endswith(f"/{PHONE_NUMBER_ID}/messages")
    assert wa_post.body["to"] == f"316{run}"
    assert wa_post.body["text"]["body"] == "Hoi Fleur, ik kijk het meteen voor je na. ^Sanne"
    x_post = platform.wait_for("the X reply", lambda: sent_to(fake, "x", x_id))
    assert x_post.body["reply"]["in_reply_to_tweet_id"] == f"18612{run}"

    for case, name in ((facebook, "facebook"), (whatsapp, "whatsapp"), (x_case, "x")):
        delivery = platform.wait_for(
            f"the {name} reply's SENT report",
            lambda case=case: delivery_of(platform, case["id"]),  # type: ignore[misc]
        )
        assert delivery["status"] == "sent" and delivery["platform_message_id"]

    # WhatsApp reports delivered and read by webhook (read first: they may come in any order).
    wamid = wa_post.platform_id
    tag = wa_post.body["biz_opaque_callback_data"]
    status_hook = whatsapp_statuses(wamid, tag, f"316{run}", now, "read", "delivered")
    answer = post_signed(platform, "meta", status_hook)
    assert answer.status_code == 200 and answer.json()["deliveries"] == 2, answer.text
    platform.wait_for(
        "the WhatsApp reply read",
        lambda: (delivery_of(platform, whatsapp["id"]) or {}).get("status") == "read",
    )

    # A reply the platform refuses for good shows on the case with the platform's reason.
    fake.refuse(f"316{run}", WHATSAPP_REENGAGEMENT)
    answer = platform.post(
        f"/v1/cases/{whatsapp['id']}/replies", {"agent": "sanne", "text": "Is het gelukt?"}
    )
    assert answer.status_code == 202, answer.text
    failed = platform.wait_for(
        "the refused reply reported failed",
        lambda: (
            d
            if (d := delivery_of(platform, whatsapp["id"], reply_index=1))
            and d["status"] == "failed"
            else None
        ),
    )
    assert failed["error_code"] == "131047"
    assert "Re-engagement message" in failed["reason"]
    assert fake.posted_twice() == 0
