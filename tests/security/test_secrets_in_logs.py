"""Secrets never reach the log.

The whole platform (`socialcare run all`, embedded backends, SOCIALCARE_LOG_LEVEL=DEBUG so
the most talkative logging is checked) runs with a known, distinctive value in every secret
setting: the signing key and the admin's password, every channel's app secret and token,
a generic source's secret, the CRM token (the CRM is a closed port, so every lookup fails
and is logged), the Kafka and Elasticsearch passwords (unused on the embedded backends, but
settings are read and may be logged at start), a notification webhook's secret and the
SMTP password. Traffic then uses them: a sign-in, a failed sign-in with a near-miss
password, each platform's verification challenge and a signed webhook, a forged one, a
generic source's signed message, an API key that subscribes a webhook (its receiver is a
closed port, so the delivery fails and is logged) and pings it. The secrets the platform
hands out (the bearer token, the API key, the webhook's signing secret) join the list.
After the platform stopped, its whole stdout and stderr must contain none of them, raw or
base64-encoded. (An HMAC of a body is not a secret; the keys that make them are.)
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from socialcare.channels import signatures
from tests.e2e.platform import CARE_CONFIG, Platform, free_port, make_platform, running
from tests.e2e.test_channels_flow import facebook_comment, x_mention

WRONG_PASSWORD = "near-miss-Pa55word-7c41e2"
"""A failed sign-in's password: often a typo of the real one, so it is a secret too."""
SECRETS = {
    "SOCIALCARE_AUTH_SECRET": "sec-auth-9f3b2c71d04e4a6b8e15c2f0a7d93b64e1",
    "SOCIALCARE_ADMIN_PASSWORD": "sec-admin-Pw-4d8e1a0c6b",
    "SOCIALCARE_META_APP_SECRET": "sec-meta-app-1b7e5c9d02",
    "SOCIALCARE_META_VERIFY_TOKEN": "sec-meta-verify-6a2f8e41c3",
    "SOCIALCARE_META_ACCESS_TOKEN": "sec-meta-access-3c9d7b15e0",
    "SOCIALCARE_X_CONSUMER_SECRET": "sec-x-consumer-8e4a2d60b9",
    "SOCIALCARE_X_BEARER_TOKEN": "sec-x-bearer-5f1c9a37d2",
    "SOCIALCARE_LINKEDIN_CLIENT_SECRET": "sec-linkedin-client-2d6b0e84f7",
    "SOCIALCARE_LINKEDIN_ACCESS_TOKEN": "sec-linkedin-access-7a3e1f59c4",
    "SOCIALCARE_SECURITY_FORUM_SECRET": "sec-forum-0e8c4b26a1",
    "SOCIALCARE_CRM_TOKEN": "sec-crm-token-9b5d3f71e8",
    "SOCIALCARE_KAFKA_SASL_PASSWORD": "sec-kafka-sasl-4f0a8c62d5",
    "SOCIALCARE_SEARCH_PASSWORD": "sec-search-es-6d2b9e40a3",
    "SOCIALCARE_SECURITY_HOOK_SECRET": "sec-notify-hook-1c7f5a93e6",
    "SOCIALCARE_SECURITY_SMTP_PASSWORD": "sec-smtp-pass-8a4e0d27b1",
}
"""Every secret setting, by environment variable, with a value found nowhere else."""
BRANDED_CONFIG = (
    CARE_CONFIG
    + """
brands:
  - name: acme
    meta: {}
    x: {}
    linkedin: {}
    generic:
      - {source: forum, secret_env: SOCIALCARE_SECURITY_FORUM_SECRET}
notifications:
  webhooks:
    - name: leads
      url: http://127.0.0.1:9/hook
      secret_env: SOCIALCARE_SECURITY_HOOK_SECRET
      tiers: [team_lead]
  email:
    smtp:
      host: 127.0.0.1
      port: 9
      username_env: SOCIALCARE_SECURITY_SMTP_USERNAME
      password_env: SOCIALCARE_SECURITY_SMTP_PASSWORD
      from: care@example.com
    routes:
      - {to: [leads@example.com], tiers: [team_lead]}
"""
)


@dataclass
class Run:
    """The platform and every secret the test used or was given, by what it is."""

    platform: Platform
    secrets: dict[str, str] = field(default_factory=dict)


def encodings(secret: str) -> set[str]:
    """The raw value and its base64 forms (standard and URL-safe, with and without
    padding), as a header or a dumped config could carry it."""
    raw = secret.encode()
    encoded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return {secret} | encoded | {e.rstrip("=") for e in encoded}


def post(platform: Platform, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{platform.base_url}{path}",
        content=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=10.0,
    )


def drive(run: Run) -> None:
    """Traffic that makes the platform use every secret (see the module docstring)."""
    platform = run.platform
    tag = uuid.uuid4().hex[:8]
    now = int(time.time())
    run.secrets["bearer token"] = platform.token()  # the sign-in

    failed = httpx.post(
        f"{platform.base_url}/v1/auth/token",
        data={"username": "admin", "password": WRONG_PASSWORD},
        timeout=30.0,
    )
    assert failed.status_code == 401, failed.text

    verify = platform.get(
        "/v1/channels/meta/webhook",
        **{
            "hub.mode": "subscribe",
            "hub.verify_token": SECRETS["SOCIALCARE_META_VERIFY_TOKEN"],
            "hub.challenge": tag,
        },
    )
    assert verify.status_code == 200, verify.text
    comment = json.dumps(facebook_comment(tag, now)).encode()
    meta_secret = SECRETS["SOCIALCARE_META_APP_SECRET"]
    signed = post(
        platform,
        "/v1/channels/meta/webhook",
        comment,
        {"X-Hub-Signature-256": signatures.meta_signature(meta_secret, comment)},
    )
    assert signed.status_code == 200, signed.text
    forged = post(
        platform,
        "/v1/channels/meta/webhook",
        comment,
        {"X-Hub-Signature-256": signatures.meta_signature("not-the-secret", comment)},
    )
    assert forged.status_code == 401, forged.text

    x_secret = SECRETS["SOCIALCARE_X_CONSUMER_SECRET"]
    crc = platform.get("/v1/channels/x/webhook", crc_token=tag)
    assert crc.json() == signatures.x_crc_response(x_secret, tag), crc.text
    mention = json.dumps(x_mention(tag, now)).encode()
    header = {"x-twitter-webhooks-signature": signatures.x_signature(x_secret, mention)}
    assert post(platform, "/v1/channels/x/webhook", mention, header).status_code == 200

    challenge = platform.get("/v1/channels/linkedin/webhook", challengeCode=tag)
    assert challenge.status_code == 200, challenge.text

    forum = json.dumps(
        {
            "external_id": f"post-{tag}",
            "author": {"id": f"u-{tag}", "name": "Jan de Vries"},
            "text": "Mijn factuur klopt niet, wie kan helpen?",
            "created_at": datetime.now(UTC).isoformat(),
        }
    ).encode()
    forum_signature = signatures.generic_signature(
        SECRETS["SOCIALCARE_SECURITY_FORUM_SECRET"], forum, timestamp=now
    )
    answer = post(
        platform,
        "/v1/channels/generic/forum",
        forum,
        {signatures.GENERIC_HEADER: forum_signature},
    )
    assert answer.status_code in (200, 202), answer.text

    subscribe(run, tag)
    # Enrichment asked the (closed) CRM with its token about the messages' customers.
    platform.wait_for("the customers' cases", lambda: platform.get("/v1/cases").json()["cases"])


def subscribe(run: Run, tag: str) -> None:
    """An integrator's key subscribes a webhook to a closed port and pings it: the sender
    signs the ping with the subscription's secret, fails to deliver, and logs that."""
    platform = run.platform
    created = platform.post(
        "/v1/api-keys",
        {"name": f"security-{tag}", "brand": "acme", "permissions": ["manage_webhooks"]},
    )
    assert created.status_code == 201, created.text
    run.secrets["api key"] = created.json()["key"]
    key = {"Authorization": f"Bearer {run.secrets['api key']}"}
    hook = httpx.post(
        f"{platform.base_url}/v1/webhooks",
        json={"url": f"http://127.0.0.1:{free_port()}/hook", "event_types": ["case.opened"]},
        headers=key,
        timeout=10.0,
    )
    assert hook.status_code == 201, hook.text
    run.secrets["webhook secret"] = hook.json()["secret"]
    webhook_id = hook.json()["id"]
    ping = httpx.post(f"{platform.base_url}/v1/webhooks/{webhook_id}/ping", headers=key)
    assert ping.status_code == 202, ping.text

    def attempted() -> Any:
        deliveries = httpx.get(
            f"{platform.base_url}/v1/webhooks/{webhook_id}/deliveries", headers=key
        ).json()["deliveries"]
        return [d for d in deliveries if d.get("attempts")]

    platform.wait_for("a failed delivery of the ping", attempted)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The platform driven, then stopped so every log line is written."""
    made = make_platform(tmp_path_factory.mktemp("secrets"), "embedded", "embedded", BRANDED_CONFIG)
    made.env.update(
        {
            **SECRETS,
            "SOCIALCARE_LOG_LEVEL": "DEBUG",
            "SOCIALCARE_CRM_URL": f"http://127.0.0.1:{free_port()}/crm",
            "SOCIALCARE_KAFKA_SASL_USERNAME": "socialcare",
            "SOCIALCARE_SEARCH_USERNAME": "elastic",
            "SOCIALCARE_SECURITY_SMTP_USERNAME": "care",
            "SOCIALCARE_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "SOCIALCARE_WEBHOOK_RETRY_BASE_S": "0.2",
        }
    )
    run = Run(made, {**SECRETS, "failed sign-in's password": WRONG_PASSWORD})
    with running(made):
        drive(run)
    return run


def test_the_platform_logged_what_it_did(finished: Run) -> None:
    """The log is not clean for lack of logging: the failures that carry a secret's request
    (the CRM lookup with its token, the signed delivery) were logged, and debug lines too."""
    log = finished.platform.log_path.read_text(errors="replace")
    assert "CRM lookup failed" in log
    assert "webhook attempt failed" in log
    assert '"level": "debug"' in log


def test_no_secret_appears_in_the_log(finished: Run) -> None:
    log = finished.platform.log_path.read_text(errors="replace")
    leaked = sorted(
        name
        for name, secret in finished.secrets.items()
        if any(form in log for form in encodings(secret))
    )
    assert leaked == [], f"in the log: {leaked}"


def test_the_check_finds_a_secret_in_a_log(finished: Run, tmp_path: Path) -> None:
    """The search itself works: a line with a base64-encoded secret is found."""
    secret = finished.secrets["SOCIALCARE_CRM_TOKEN"]
    line = f'{{"msg": "Authorization: Basic {base64.b64encode(secret.encode()).decode()}"}}'
    assert any(form in line for form in encodings(secret))
    assert not any(form in line for form in encodings(WRONG_PASSWORD))
