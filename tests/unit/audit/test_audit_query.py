"""Audit records indexed from audit.log and queried by admins over GET /v1/audit: filters,
time window, newest first, paging; the index is append-only by record id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from socialcare.core.audit import Actor, AuditLog, audit_record
from socialcare.core.audit_index import (
    AUDIT,
    AuditIndexingProcessor,
    AuditQuery,
    AuditQueryError,
    find_records,
)
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.topics import Topic
from socialcare.core.runtime import build_app
from socialcare.gateway.audit_api import audit_router
from socialcare.v1 import audit_pb2
from tests.unit.audit.conftest import AuditedApp
from tests.unit.auth_support import admin_headers, user_headers

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SANNE = Actor("user", "u-sanne", "sanne", ("agent",))
ADMIN = Actor("user", "admin", "admin", ("admin",))


def _index(audited: AuditedApp) -> AuditIndexingProcessor:
    """Everything on audit.log so far through the indexing processor, as its loop would."""
    processor = AuditIndexingProcessor(audited.runtime.search)
    processor.prepare()
    for record in audited.runtime.bus.replay(Topic.AUDIT_LOG.value):
        assert processor.process(record) == ()
    processor.flush()
    audited.runtime.search.refresh(AUDIT)
    return processor


def _append(audit: AuditLog, actor: Actor, action: str, at: datetime, **fields: str) -> None:
    record = audit_record(actor, action, **fields)  # type: ignore[arg-type]
    record.at.CopyFrom(to_timestamp(at))
    audit.append(record)


@pytest.fixture
def history(audited: AuditedApp) -> AuditedApp:
    audit = audited.audit
    _append(audit, SANNE, "case.reply", T0, target_type="case", target_id="c-1", brand="acme")
    _append(audit, SANNE, "case.claim", T0 + timedelta(hours=1), target_type="case",
            target_id="c-2", brand="acme")  # fmt: skip
    _append(audit, ADMIN, "user.create", T0 + timedelta(days=1), target_type="user",
            target_id="u-9")  # fmt: skip
    _append(audit, ADMIN, "api_key.revoke", T0 + timedelta(days=40), target_type="api_key",
            target_id="k-1")  # fmt: skip
    record = audit_record(Actor("anonymous", "", "mallory"), "auth.sign_in", status=401)
    record.at.CopyFrom(to_timestamp(T0 + timedelta(days=400)))
    audit.append(record)
    _index(audited)
    return audited


def _actions(page_records: list[dict[str, object]]) -> list[object]:
    return [r["action"] for r in page_records]


def test_newest_first_and_filters(history: AuditedApp) -> None:
    search = history.runtime.search
    everything = find_records(search, AuditQuery())
    assert _actions(everything.records) == [
        "auth.sign_in",
        "api_key.revoke",
        "user.create",
        "case.claim",
        "case.reply",
    ]
    assert _actions(find_records(search, AuditQuery(actor="sanne")).records) == [
        "case.claim",
        "case.reply",
    ]
    assert _actions(find_records(search, AuditQuery(actor="admin")).records) == [
        "api_key.revoke",
        "user.create",
    ]
    assert _actions(find_records(search, AuditQuery(action="case")).records) == [
        "case.claim",
        "case.reply",
    ]
    assert _actions(find_records(search, AuditQuery(action="case.reply")).records) == ["case.reply"]
    assert _actions(find_records(search, AuditQuery(target="c-2")).records) == ["case.claim"]
    assert _actions(find_records(search, AuditQuery(target="user:u-9")).records) == ["user.create"]
    assert _actions(find_records(search, AuditQuery(outcome="refused")).records) == ["auth.sign_in"]
    assert len(find_records(search, AuditQuery(brand="acme")).records) == 2


def test_time_window_is_exact(history: AuditedApp) -> None:
    search = history.runtime.search
    now = T0 + timedelta(days=500)
    window = AuditQuery(since=T0 + timedelta(minutes=30), until=T0 + timedelta(days=1))
    assert _actions(find_records(search, window, now=now).records) == ["case.claim"]
    # A long window is narrowed by month, still exact.
    long = AuditQuery(since=T0 + timedelta(minutes=30), until=T0 + timedelta(days=300))
    assert _actions(find_records(search, long, now=now).records) == [
        "api_key.revoke",
        "user.create",
        "case.claim",
    ]
    assert _actions(find_records(search, AuditQuery(until=T0 + timedelta(hours=1))).records) == [
        "case.reply"
    ]
    with pytest.raises(AuditQueryError):
        find_records(search, AuditQuery(since=T0, until=T0))


def test_paging_with_a_cursor(history: AuditedApp) -> None:
    search = history.runtime.search
    seen: list[object] = []
    cursor = None
    pages = 0
    while True:
        page = find_records(search, AuditQuery(limit=2, cursor=cursor))
        seen += _actions(page.records)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3
    assert seen == _actions(find_records(search, AuditQuery()).records)
    with pytest.raises(AuditQueryError):
        find_records(search, AuditQuery(cursor="not-a-cursor"))


def test_indexing_a_record_twice_keeps_one_document(history: AuditedApp) -> None:
    _index(history)
    assert len(find_records(history.runtime.search, AuditQuery()).records) == 5


def test_actions_through_the_middleware_are_queryable_over_rest(audited: AuditedApp) -> None:
    app = build_app(
        "audit-query",
        [audit_router(audited.runtime.search)],
        [],
        audited.auth.authenticator,
    )
    client = TestClient(app)
    admin = admin_headers(audited.runtime)
    actions = audited.client()
    assert actions.post("/v1/cases/c-5/replies", headers=admin).status_code == 200
    agent = user_headers(audited.runtime, "sanne", roles=["agent"], agent_id="sanne")
    assert actions.post("/v1/cases/c-6/replies", headers=agent).status_code == 200
    # Before the indexer ran: nothing yet (no index), not an error.
    assert client.get("/v1/audit", headers=admin).json()["records"] == []
    _index(audited)
    response = client.get("/v1/audit", headers=admin, params={"target": "case:c-5"})
    assert response.status_code == 200, response.text
    [record] = response.json()["records"]
    assert record["action"] == "case.reply"
    assert record["actor_id"] == "admin"
    assert record["client_ip"] == "192.0.2.10"
    assert record["details"]["route"] == "/v1/cases/{case_id}/replies"
    assert response.json()["next_cursor"] is None
    by_sanne = client.get("/v1/audit", headers=admin, params={"actor": "sanne"}).json()
    assert [r["target_id"] for r in by_sanne["records"]] == ["c-6"]
    # Admins only.
    assert client.get("/v1/audit", headers=agent).status_code == 403
    assert client.get("/v1/audit").status_code == 401
    bad = client.get("/v1/audit", headers=admin, params={"cursor": "zzz"})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "cursor"
    assert client.get("/v1/audit", headers=admin, params={"limit": 0}).status_code == 422
    # No way to change or delete a record.
    assert client.delete("/v1/audit", headers=admin).status_code == 405


def test_documents_hold_the_record_and_no_more(history: AuditedApp) -> None:
    [record] = find_records(history.runtime.search, AuditQuery(action="user.create")).records
    assert set(record) == set(audit_pb2.AuditRecord.DESCRIPTOR.fields_by_name)
    assert record["at"] == "2026-03-02T09:00:00.000000Z"
