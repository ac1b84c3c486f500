"""Every action over HTTP leaves one audit record, written before its answer; without the
audit log the action answers 503."""

from __future__ import annotations

from fastapi import FastAPI

from socialcare.core.audit import (
    AuditLog,
    TrustedProxies,
    install_audit,
    is_audited,
    route_action,
)
from socialcare.core.bus import BusError, Headers, Producer
from socialcare.core.bus.base import Delivery
from tests.unit.audit.conftest import PROXY, AuditedApp
from tests.unit.auth_support import (
    ADMIN_PASSWORD,
    admin_headers,
    api_key_headers,
    session_cookies,
    session_of,
    user_headers,
)


def test_an_agent_action_is_recorded_with_who_what_where_and_outcome(
    audited: AuditedApp,
) -> None:
    headers = user_headers(
        audited.runtime, "sanne", roles=["agent"], agent_id="sanne", brands=["acme"]
    )
    client = audited.client()
    response = client.post(
        "/v1/cases/case-7/replies",
        headers={**headers, "User-Agent": "console/1.0", "X-Request-Id": "req-1"},
        json={"text": "Hallo jan@example.com"},
    )
    assert response.status_code == 200
    [record] = audited.records()
    assert record.action == "case.reply"
    assert (record.target_type, record.target_id) == ("case", "case-7")
    assert (record.actor_kind, record.actor_name) == ("user", "sanne")
    assert record.actor_id and list(record.actor_roles) == ["agent"]
    assert record.brand == "acme"
    assert record.client_ip == "192.0.2.10"
    assert record.user_agent == "console/1.0"
    assert record.via == "rest"
    assert (record.outcome, record.status) == ("ok", 200)
    assert record.request_id == "req-1"
    assert record.record_id and record.at.seconds > 0
    assert dict(record.details) == {"method": "POST", "route": "/v1/cases/{case_id}/replies"}
    # Never the body: not the message text, not the address in it.
    assert b"jan@example.com" not in record.SerializeToString()
    assert b"Hallo" not in record.SerializeToString()


def test_refused_and_failed_actions_are_recorded_too(audited: AuditedApp) -> None:
    client = audited.client()
    operations = user_headers(audited.runtime, "olga", roles=["operations"])
    assert client.post("/v1/cases/case-1/replies", headers=operations).status_code == 403
    assert client.post("/v1/cases/case-1/replies").status_code == 401
    admin = admin_headers(audited.runtime)
    assert client.post("/v1/cases/case-1/fail", headers=admin).status_code == 500
    refused, anonymous, failed = audited.records()
    assert (refused.outcome, refused.status, refused.actor_name) == ("refused", 403, "olga")
    assert (anonymous.outcome, anonymous.actor_kind, anonymous.actor_id) == (
        "refused",
        "anonymous",
        "",
    )
    assert (failed.outcome, failed.status, failed.actor_id) == ("failed", 500, "admin")
    assert failed.target_id == "case-1"


def test_reads_and_ingestion_are_not_actions(audited: AuditedApp) -> None:
    client = audited.client()
    admin = admin_headers(audited.runtime)
    assert client.get("/v1/cases/case-1", headers=admin).status_code == 200
    assert client.post("/v1/messages", headers=admin).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert audited.records() == []


def test_sign_in_success_and_failure_name_the_username_never_the_password(
    audited: AuditedApp,
) -> None:
    client = audited.client()
    ok = client.post("/v1/auth/token", data={"username": "Admin", "password": ADMIN_PASSWORD})
    assert ok.status_code == 200
    bad = client.post("/v1/auth/token", data={"username": "admin", "password": "wrong-one!"})
    assert bad.status_code == 401
    # The console's form: a failure is a redirect back to the sign-in page.
    form = client.post(
        "/v1/auth/login",
        data={"username": "admin", "password": "wrong-two!", "next": "/"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert form.status_code == 303
    signed_in, refused, refused_form = audited.records()
    for record in (signed_in, refused, refused_form):
        assert record.action == "auth.sign_in"
        assert record.actor_name == "admin"
        data = record.SerializeToString()
        assert ADMIN_PASSWORD.encode() not in data
        assert b"wrong-" not in data
    assert signed_in.outcome == "ok"
    assert (refused.outcome, refused.status) == ("refused", 401)
    assert (refused_form.outcome, refused_form.status) == ("refused", 401)


def test_account_management_is_recorded_with_the_target(audited: AuditedApp) -> None:
    client = audited.client()
    admin = admin_headers(audited.runtime)
    created = client.post(
        "/v1/users",
        headers=admin,
        json={"username": "piet", "password": "a-long-password-1", "roles": ["agent"]},
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    assert (
        client.patch(f"/v1/users/{user_id}", headers=admin, json={"roles": ["lead"]}).status_code
        == 200
    )
    key = client.post(
        "/v1/api-keys",
        headers=admin,
        json={"name": "crm", "brand": "acme", "permissions": ["ingest"]},
    )
    assert key.status_code == 201, key.text
    key_id = key.json()["id"]
    assert client.delete(f"/v1/api-keys/{key_id}", headers=admin).status_code in (200, 204)
    actions = [(r.action, r.target_type, r.target_id) for r in audited.records()]
    # A created thing's id is in the answer, not the route: its handler notes it (`note`).
    assert actions == [
        ("user.create", "user", user_id),
        ("user.update", "user", user_id),
        ("api_key.create", "api_key", key_id),
        ("api_key.revoke", "api_key", key_id),
    ]
    created_record = audited.records()[0]
    assert created_record.details["roles"] == "agent"
    for record in audited.records():
        assert b"a-long-password-1" not in record.SerializeToString()


def test_a_handler_notes_what_the_route_cannot_show(audited: AuditedApp) -> None:
    headers = api_key_headers(audited.runtime, brand="acme", permissions=["ingest"])
    client = audited.client()
    # An API key cannot act: refused, and still the handler's note is absent (it never ran).
    assert client.post("/v1/webhooks", headers=headers).status_code == 403
    admin = admin_headers(audited.runtime)
    assert client.post("/v1/webhooks", headers=admin).status_code == 200
    refused, created = audited.records()
    assert (refused.actor_kind, refused.action, refused.target_id) == (
        "api_key",
        "webhook.create",
        "",
    )
    assert refused.brand == "acme"
    assert (created.action, created.target_type, created.target_id, created.brand) == (
        "webhook.create",
        "webhook",
        "wh-1",
        "acme",
    )


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(audited: AuditedApp) -> None:
    admin = admin_headers(audited.runtime)
    spoofed = {**admin, "X-Forwarded-For": "203.0.113.9"}
    assert audited.client("192.0.2.10").post("/v1/cases/c/replies", headers=spoofed).is_success
    forwarded = {**admin, "X-Forwarded-For": f"203.0.113.9, 198.51.100.7, {PROXY}"}
    assert audited.client(PROXY).post("/v1/cases/c/replies", headers=forwarded).is_success
    direct, proxied = audited.records()
    assert direct.client_ip == "192.0.2.10"
    assert proxied.client_ip == "198.51.100.7"


class _DownProducer(Producer):
    """A bus that takes records but never makes them durable."""

    def __init__(self) -> None:
        self.sent = 0

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        self.sent += 1
        return _Failed()

    def flush(self, timeout_s: float = 30.0) -> None:
        raise BusError("broker unreachable")

    def close(self) -> None:
        pass


class _Failed(Delivery):
    def wait(self, timeout_s: float = 30.0) -> None:
        raise BusError("broker unreachable")


def test_an_action_that_cannot_be_audited_answers_503_not_its_result(
    audited: AuditedApp,
) -> None:
    down = _DownProducer()
    app: FastAPI = audited.build(AuditLog(down, timeout_s=0.1))
    client = audited.client(app=app)
    admin = admin_headers(audited.runtime)
    response = client.post("/v1/cases/case-9/replies", headers=admin)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "audit_unavailable"
    assert "case-9" not in response.text
    assert down.sent == 1
    # A read needs no record: it still works.
    assert client.get("/v1/cases/case-9", headers=admin).status_code == 200


def test_route_names() -> None:
    assert route_action("POST", "/v1/cases/{case_id}/replies").action == "case.reply"
    assert route_action("POST", "/v1/cases/{case_id}/escalations").action == "case.escalate"
    assert route_action("PUT", "/v1/agents/{agent_id}/presence").action == "agent.set_presence"
    assert route_action("POST", "/v1/cases/{case_id}/await-customer").action == (
        "case.await_customer"
    )
    named = route_action("POST", "/console/cases/{case_id}/escalations/{escalation_id}/resolve")
    assert (named.action, named.target_type, named.target_param) == (
        "escalation.resolve",
        "escalation",
        "escalation_id",
    )
    assert route_action("POST", "/v1/webhooks").action == "webhook.create"
    assert route_action("DELETE", "/v1/webhooks/{subscription_id}").action == "webhook.delete"
    assert route_action("POST", "/v1/privacy/erasures").action == "privacy.erase"
    assert route_action("DELETE", "/v1/api-keys/{key_id}").action == "api_key.revoke"


def test_what_is_audited() -> None:
    assert is_audited("POST", "/v1/cases/c/replies")
    assert is_audited("DELETE", "/v1/api-keys/k")
    assert is_audited("POST", "/console/language")
    assert is_audited("GET", "/v1/auth/oidc/callback")
    assert not is_audited("GET", "/v1/cases")
    assert not is_audited("POST", "/v1/messages")
    assert not is_audited("POST", "/v1/channels/x/webhook")
    assert not is_audited("POST", "/healthz")


def test_trusted_proxies() -> None:
    proxies = TrustedProxies.parse("10.0.0.0/8, 192.168.1.5")
    assert proxies.client_ip("192.0.2.1", ["203.0.113.9"]) == "192.0.2.1"
    assert proxies.client_ip("10.1.2.3", ["203.0.113.9"]) == "203.0.113.9"
    assert proxies.client_ip("10.1.2.3", ["203.0.113.9, 192.168.1.5"]) == "203.0.113.9"
    assert proxies.client_ip("10.1.2.3", ["1.2.3.4", "203.0.113.9, 10.9.9.9"]) == "203.0.113.9"
    assert proxies.client_ip("10.1.2.3", ["10.2.2.2"]) == "10.2.2.2"
    assert proxies.client_ip("10.1.2.3", []) == "10.1.2.3"
    assert TrustedProxies.parse("").client_ip("10.1.2.3", ["203.0.113.9"]) == "10.1.2.3"
    try:
        TrustedProxies.parse("10.0.0.0/8, proxy.local")
    except ValueError as exc:
        assert "proxy.local" in str(exc)
    else:
        raise AssertionError("a name is not an address")


def test_installing_twice_records_once(audited: AuditedApp) -> None:
    app = audited.build()
    install_audit(app, audited.audit, TrustedProxies())
    client = audited.client(app=app)
    assert client.post("/v1/cases/c/replies", headers=admin_headers(audited.runtime)).is_success
    assert len(audited.records()) == 1


def test_a_console_session_is_recorded_as_the_console(audited: AuditedApp) -> None:
    user = audited.auth.directory.user_by_username("admin")
    assert user is not None
    session = session_of(audited.auth, user.id)
    client = audited.client()
    client.cookies.update(session_cookies(session))
    response = client.post("/v1/cases/case-2/replies", headers={"X-CSRF-Token": session.csrf_token})
    assert response.status_code == 200
    [record] = audited.records()
    assert (record.via, record.actor_id, record.action) == ("console", "admin", "case.reply")


def test_a_request_no_route_serves_is_not_an_action(audited: AuditedApp) -> None:
    client = audited.client()
    assert client.post("/v1/no-such-thing").status_code == 404
    assert client.put("/v1/cases/c/replies").status_code == 405
    assert audited.records() == []
