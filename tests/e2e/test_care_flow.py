"""A Dutch complaint and an English question travel the whole pipeline, on both backends.

ingestion → enrichment → routing → sla → escalation → search indexer → gateway, through
the real services in one `socialcare run all` process.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.e2e.platform import Platform

ROSTER_LANGUAGES = {"sanne": {"nl"}, "olivia": {"en"}, "lena": {"de"}}


def dutch_complaint(run: str, external_id: str = "1861234567890000001") -> dict[str, Any]:
    """Ids carry `run`: on Kafka, tests share one broker and its topics."""
    return {
        "channel": "x",
        "external_id": f"{external_id}-{run}",
        "author": {
            "id": f"9001-{run}",
            "handle": "@jvdberg",
            "name": "Jan van den Berg",
            "followers": 312,
        },
        "text": "Mijn energierekening is veel hoger dan verwacht, echt belachelijk! "
        "Waarom reageert niemand op mijn vragen?",
        "created_at": "2026-11-23T09:15:00+01:00",
    }


def english_question(run: str) -> dict[str, Any]:
    return {
        "channel": "facebook",
        "external_id": f"fb_10158_2231-{run}",
        "author": {
            "id": f"fb-77-{run}",
            "handle": "emma.w",
            "name": "Emma Wilson",
            "followers": 180,
        },
        "text": "Hi, my DVD player stopped working in the middle of a film. "
        "How can I get it repaired?",
        "created_at": "2026-11-23T08:00:00Z",
        "thread_id": f"fb-thread-88-{run}",
    }


def _case_for(platform: Platform, message_id: str) -> dict[str, Any] | None:
    listing = platform.get("/v1/cases", limit=50)
    if listing.status_code != 200:
        return None
    for summary in listing.json()["cases"]:
        case = platform.get(f"/v1/cases/{summary['id']}").json()
        if any(m["message_id"] == message_id for m in case.get("messages", [])):
            return case if case.get("assignee") else None
    return None


def _metric(text: str, name: str, **labels: str) -> float:
    """The sum of the series of `name` with these labels (the SLA series also carry
    clock, priority and partition). On Kafka the SLA ledger counts every event on care.sla,
    also those of earlier tests on the same broker: compare with a value read before."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_messages_become_assigned_cases_with_sla_and_escalation(platform: Platform) -> None:
    # The helpers call /v1 as the platform's admin (tests/e2e/platform.py).
    me = platform.get("/v1/me")
    assert me.status_code == 200 and "admin" in me.json()["roles"], me.text
    metrics = platform.get("/metrics").text
    responses_before = _metric(
        metrics,
        "socialcare_first_response_seconds_count",
        language="en",
        channel="facebook",
        queue="care-en",
    )
    breaches_before = _metric(metrics, "socialcare_sla_breaches_total", language="nl")
    run = uuid.uuid4().hex[:8]
    accepted = platform.post("/v1/messages", dutch_complaint(run))
    assert accepted.status_code == 202, accepted.text
    dutch_id = accepted.json()["message_id"]
    again = platform.post("/v1/messages", dutch_complaint(run))
    assert again.status_code == 200 and again.json() == {"message_id": dutch_id, "duplicate": True}
    english = platform.post("/v1/messages", english_question(run))
    assert english.status_code == 202, english.text
    english_id = english.json()["message_id"]

    bad = platform.post("/v1/messages", {**english_question(run), "author": {"handle": "x"}})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "author.id"

    dutch_case = platform.wait_for("the Dutch case", lambda: _case_for(platform, dutch_id))
    english_case = platform.wait_for("the English case", lambda: _case_for(platform, english_id))

    assert dutch_case["language"] == "nl"
    assert dutch_case["queue"] == "care-nl"
    assert "nl" in ROSTER_LANGUAGES[dutch_case["assignee"]]
    assert dutch_case["sentiment"]["label"] == "negative"
    assert dutch_case["sla"]["policy"] == "first-response-nl-fast"
    assert english_case["language"] == "en"
    assert english_case["queue"] == "care-en"
    assert "en" in ROSTER_LANGUAGES[english_case["assignee"]]
    assert english_case["sla"]["state"] == "running"

    # The English case gets a personal answer from its agent: a first-response observation.
    reply = platform.post(
        f"/v1/cases/{english_case['id']}/replies",
        {"agent": english_case["assignee"], "text": "So sorry to hear that, Emma! Olivia here."},
    )
    assert reply.status_code == 202, reply.text

    def answered() -> dict[str, Any] | None:
        case = platform.get(f"/v1/cases/{english_case['id']}").json()
        return case if case["sla"]["state"] == "met" else None

    answered_case = platform.wait_for("the reply to land", answered)
    assert answered_case["status"] == "waiting_on_customer"
    assert answered_case["messages"][-1]["direction"] == "outbound"

    def observed() -> float | None:
        count = _metric(
            platform.get("/metrics").text,
            "socialcare_first_response_seconds_count",
            language="en",
            channel="facebook",
            queue="care-en",
        )
        return count - responses_before or None

    assert platform.wait_for("the first-response observation", observed) == 1.0

    # The Dutch case is left alone past its 4 s SLA: a breach and an escalation follow.
    def breached() -> dict[str, Any] | None:
        case = platform.get(f"/v1/cases/{dutch_case['id']}").json()
        return case if case["sla"]["state"] == "breached" and case["escalations"] else None

    breached_case = platform.wait_for("the Dutch breach", breached, timeout_s=60)
    assert breached_case["priority"] == "high"

    def escalation_listed() -> list[dict[str, Any]] | None:
        # The warning at 75 % raised the escalation; the breach lifts that same one.
        found = platform.get("/v1/escalations", case_id=dutch_case["id"]).json()
        lifted = [e for e in found["escalations"] if e["trigger"] == "sla_breach"]
        return lifted or None

    escalations = platform.wait_for("the escalation in the API", escalation_listed)
    assert escalations[0]["trigger"] == "sla_breach"
    assert escalations[0]["case_id"] == dutch_case["id"]

    def breach_counted() -> float | None:
        total = _metric(
            platform.get("/metrics").text, "socialcare_sla_breaches_total", language="nl"
        )
        return total - breaches_before or None

    assert platform.wait_for("the breach in the metrics", breach_counted) == 1.0

    # Both messages are found by search, in their own words.
    def found(query: str, message_id: str) -> bool:
        hits = platform.get("/v1/search", q=query, index="messages").json()["hits"]
        return any(hit["id"] == message_id for hit in hits)

    platform.wait_for("Dutch search", lambda: found("energierekening", dutch_id))
    platform.wait_for("English search", lambda: found("DVD player", english_id))
    assert not found("energierekening pizza", dutch_id)


def test_state_survives_a_graceful_restart(platform: Platform) -> None:
    run = uuid.uuid4().hex[:8]
    message_id = platform.post("/v1/messages", dutch_complaint(run)).json()["message_id"]
    case = platform.wait_for("the case", lambda: _case_for(platform, message_id))
    assert platform.stop() == 0

    platform.start()
    after = platform.get(f"/v1/cases/{case['id']}")
    assert after.status_code == 200
    assert after.json()["assignee"] == case["assignee"]
    # The same message again is still a duplicate, and no second case appears.
    again = platform.post("/v1/messages", dutch_complaint(run))
    assert again.json()["duplicate"] is True
    follow_up = platform.post(
        "/v1/messages",
        {**dutch_complaint(run, "1861234567890000002"), "text": "Hallo?? Nog steeds niets!"},
    )
    assert follow_up.status_code == 202

    def joined() -> bool:
        current = platform.get(f"/v1/cases/{case['id']}").json()
        return len(current["messages"]) == 2

    platform.wait_for("the follow-up to join the open case", joined)
    listing = platform.get("/v1/cases", language="nl").json()
    assert [c["id"] for c in listing["cases"]].count(case["id"]) == 1
