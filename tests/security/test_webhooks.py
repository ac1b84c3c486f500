"""Every inbound webhook verifies its signature: derived from the routes the whole platform
serves (`socialcare run all`'s app, every service's routers), not from a list here.

* Each POST route under `/v1/channels/` is an inbound webhook. How its sender signs is read
  from the code that checks it: `/v1/channels/<connector>/webhook` is the `Platform` of that
  connector in `channels.webhooks` (its header, and `signatures.<connector>_signature`),
  `/v1/channels/generic/{source}` is the generic scheme (`signatures.generic_signature`). A
  new webhook route that is neither fails the test until it says how its sender signs.
* For each: no signature, a signature made with another secret, and a signature over other
  bytes are refused (401 with the one error body, `invalid_signature`) with nothing
  published; where the scheme signs a timestamp (generic: `t=`), one more than
  `GENERIC_TOLERANCE_S` old or ahead is refused too (Meta's, X's and LinkedIn's schemes sign
  the body only); the sender's correctly signed documented payload is accepted (200, its
  receipt).
* Every other POST/PUT/PATCH/DELETE route that takes no credential by its signature is a
  sign-in route (`/v1/auth/`) or answers 401 without one (the console checks its session in
  the handler): a webhook mounted anywhere else would miss the checks above.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from socialcare import cli
from socialcare.channels import signatures, webhooks
from socialcare.channels.webhooks import Platform
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.runtime import Runtime, build_app
from socialcare.gateway.rpc_bridge import required_access
from tests.unit.auth_support import care_runtime, open_test_auth
from tests.unit.channels.test_webhooks import records
from tests.unit.test_access import api_routes

FIXTURES = Path(__file__).parents[1] / "fixtures" / "channels"
SECRETS = {
    "SECURITY_META_APP_SECRET": "meta-app-secret-for-the-security-test",
    "SECURITY_META_VERIFY_TOKEN": "meta-verify-token",
    "SECURITY_X_CONSUMER_SECRET": "x-consumer-secret-for-the-security-test",
    "SECURITY_LINKEDIN_CLIENT_SECRET": "linkedin-client-secret-for-the-security-test",
    "SECURITY_FORUM_SECRET": "forum-secret-for-the-security-test",
}
BRAND = {
    "name": "energieloket",
    "meta": {
        "app_secret_env": "SECURITY_META_APP_SECRET",
        "verify_token_env": "SECURITY_META_VERIFY_TOKEN",
    },
    "x": {"consumer_secret_env": "SECURITY_X_CONSUMER_SECRET"},
    "linkedin": {"client_secret_env": "SECURITY_LINKEDIN_CLIENT_SECRET"},
    "generic": [{"source": "forum", "secret_env": "SECURITY_FORUM_SECRET", "channel": "forum"}],
}
"""One brand with every connector configured (no `accounts`: it takes every account)."""
WRONG_SECRET = "a-secret-nobody-configured"
SIGN_IN_PREFIX = "/v1/auth/"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
BROWSER_PREFERENCES = {"/console/language"}
"""Sets only the calling browser's language cookie (before sign-in too): nothing to guard."""

Signer = Callable[[str, bytes], dict[str, str]]
"""(secret, body) -> the signature header(s) the sender puts on the request."""


@dataclass(frozen=True)
class Webhook:
    """An inbound webhook route and how its sender signs."""

    path: str
    url: str
    secret: str
    sign: Signer
    body: bytes
    timestamped: bool


@dataclass
class World:
    runtime: Runtime
    app: FastAPI
    client: TestClient
    care: CareConfig


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in SECRETS.items():
            env.setenv(name, value)
        config = load_care_config().model_dump(by_alias=True, mode="json", exclude_none=True)
        config["brands"] = [BRAND]
        runtime = care_runtime(tmp_path_factory.mktemp("webhooks"), yaml.safe_dump(config))
        auth = open_test_auth(runtime)
        parts = cli.assemble(runtime, list(cli.SERVICES))
        app = build_app("socialcare all", parts.routers, parts.components, auth.authenticator)
        with TestClient(app) as client:
            yield World(runtime, app, client, runtime.care)
        runtime.close()


def platforms() -> dict[str, Platform]:
    """The connectors whose doors `channels.webhooks` serves, by name."""
    return {p.connector: p for p in vars(webhooks).values() if isinstance(p, Platform)}


def documented_body(prefix: str) -> bytes:
    """The first documented payload of a sender (tests/fixtures/channels/<prefix>_*.json)."""
    found = sorted(FIXTURES.glob(f"{prefix}_*.json"))
    assert found, f"no documented payload tests/fixtures/channels/{prefix}_*.json"
    return found[0].read_bytes()


def platform_signer(platform: Platform) -> Signer:
    sign: Callable[[str, bytes], str] = getattr(signatures, f"{platform.connector}_signature")
    return lambda secret, body: {platform.signature_header: sign(secret, body)}


def generic_signer(offset_s: float = 0.0) -> Signer:
    """The generic scheme's header, its timestamp `offset_s` away from now."""
    return lambda secret, body: {
        signatures.GENERIC_HEADER: signatures.generic_signature(
            secret, body, timestamp=int(time.time() + offset_s)
        )
    }


def webhook_of(route: APIRoute, care: CareConfig) -> Webhook:
    """How the sender of `route` signs, from the code that checks it; fails for a route
    this test cannot tell."""
    brand = care.brand(str(BRAND["name"]))
    match = re.fullmatch(r"/v1/channels/([a-z]+)/webhook", route.path)
    if match is not None and match.group(1) in platforms():
        platform = platforms()[match.group(1)]
        secret = platform.secret(brand)
        assert secret is not None, f"{platform.connector} is not configured for {brand.name}"
        return Webhook(
            route.path,
            route.path,
            secret,
            platform_signer(platform),
            documented_body(platform.connector),
            timestamped=False,
        )
    if route.path == "/v1/channels/generic/{source}":
        [source] = brand.generic
        secret = source.secret
        assert secret is not None
        document = json.loads(documented_body("generic"))
        for message in document.get("messages", [document]):
            message.pop("channel", None)  # the source's channel is used
        return Webhook(
            route.path,
            f"/v1/channels/generic/{source.source}",
            secret,
            generic_signer(),
            json.dumps(document).encode(),
            timestamped=True,
        )
    raise AssertionError(
        f"POST {route.path} is an inbound webhook this test cannot sign: teach webhook_of "
        "how its sender signs (its Platform in channels.webhooks, or its own scheme)"
    )


def inbound_webhooks(world: World) -> list[Webhook]:
    routes = [
        route
        for route in api_routes(world.app.routes)
        if route.path.startswith("/v1/channels/") and "POST" in (route.methods or ())
    ]
    return [webhook_of(route, world.care) for route in routes]


def payloads_published(runtime: Runtime) -> int:
    return len(records(runtime, Topic.PAYLOADS_RAW))


def post(
    client: TestClient, hook: Webhook, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    """(status, error code or "") of one POST of `body` with `headers`."""
    answer = client.post(
        hook.url, content=body, headers={"Content-Type": "application/json", **headers}
    )
    document = answer.json()
    if answer.status_code >= 400:
        assert set(document) == {"error"}, document
        return answer.status_code, str(document["error"]["code"])
    return answer.status_code, ""


def test_the_webhooks_are_found(world: World) -> None:
    """Meta (Facebook, Instagram, WhatsApp), X, LinkedIn and generic sources: the
    derivation finds what the platform serves today."""
    paths = {hook.path for hook in inbound_webhooks(world)}
    assert {f"/v1/channels/{name}/webhook" for name in platforms()} <= paths
    assert "/v1/channels/generic/{source}" in paths
    assert {"meta", "x", "linkedin"} <= set(platforms())


def test_every_inbound_webhook_refuses_a_missing_or_wrong_signature(world: World) -> None:
    refused: dict[str, dict[str, tuple[int, str]]] = {}
    published = payloads_published(world.runtime)
    for hook in inbound_webhooks(world):
        other_bytes = hook.body + b" "
        refused[hook.path] = {
            "none": post(world.client, hook, hook.body, {}),
            "wrong secret": post(world.client, hook, hook.body, hook.sign(WRONG_SECRET, hook.body)),
            "other bytes": post(world.client, hook, hook.body, hook.sign(hook.secret, other_bytes)),
            "empty header": post(
                world.client,
                hook,
                hook.body,
                dict.fromkeys(hook.sign(hook.secret, hook.body), ""),
            ),
        }
    expected = (401, "invalid_signature")
    assert refused == {path: dict.fromkeys(answers, expected) for path, answers in refused.items()}
    assert payloads_published(world.runtime) == published, "a refused webhook published"


def test_a_stale_or_future_timestamp_is_refused_where_the_scheme_signs_one(world: World) -> None:
    timestamped = [hook for hook in inbound_webhooks(world) if hook.timestamped]
    assert timestamped, "the generic scheme signs a timestamp"
    tolerance = signatures.GENERIC_TOLERANCE_S
    published = payloads_published(world.runtime)
    for hook in timestamped:
        for offset in (-(tolerance + 60), tolerance + 60):
            headers = generic_signer(offset)(hook.secret, hook.body)
            assert post(world.client, hook, hook.body, headers) == (401, "invalid_signature")
    assert payloads_published(world.runtime) == published


def test_every_inbound_webhook_accepts_its_senders_signature(world: World) -> None:
    accepted = {}
    for hook in inbound_webhooks(world):
        answer = world.client.post(
            hook.url,
            content=hook.body,
            headers={"Content-Type": "application/json", **hook.sign(hook.secret, hook.body)},
        )
        receipt = answer.json()
        accepted[hook.path] = (answer.status_code, sum(receipt.values()) > 0)
    assert accepted == dict.fromkeys(accepted, (200, True))


def test_no_other_route_takes_unsigned_writes(world: World) -> None:
    """A route that changes something and takes no credential by its signature is a webhook
    (checked above), the sign-in itself, or checks the caller in its handler (the console's
    actions, on the session cookie): those answer 401 to a request without one. Only
    `BROWSER_PREFERENCES` (the browser's own language cookie) stays open."""
    open_writes = sorted(
        (method, route.path)
        for route in api_routes(world.app.routes)
        if required_access(route).public
        for method in (route.methods or set()) & UNSAFE
        if not route.path.startswith(("/v1/channels/", SIGN_IN_PREFIX))
        and route.path not in BROWSER_PREFERENCES
    )
    assert open_writes, "the console's actions check the caller in their handlers"
    answers = {
        f"{method} {path}": world.client.request(
            method, re.sub(r"\{[a-z_]+\}", "some-id", path), json={}
        ).status_code
        for method, path in open_writes
    }
    assert answers == dict.fromkeys(answers, 401)
