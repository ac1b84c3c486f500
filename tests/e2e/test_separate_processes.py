"""Every service in its own process on Kafka and Elasticsearch, as in production: they
share nothing but the topics, the search index and routing's gRPC CaseService."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from socialcare.cli import SERVICES
from tests.e2e.platform import Platform, as_service, make_platform
from tests.e2e.test_care_flow import dutch_complaint, english_question


@pytest.fixture
def services(
    tmp_path: Path, kafka_bootstrap: str, elasticsearch_url: str
) -> Iterator[dict[str, Platform]]:
    base = make_platform(tmp_path, f"kafka://{kafka_bootstrap}", elasticsearch_url)
    running = {name: as_service(base, name) for name in SERVICES}
    try:
        for process in running.values():
            process.start(timeout_s=90)
        yield running
    finally:
        for process in running.values():
            if process.process is not None and process.process.poll() is None:
                assert process.stop() == 0, f"{process.service} did not stop cleanly"


def english_first_responses(sla: Platform) -> float:
    """socialcare_first_response_seconds_count summed over the English series."""
    total = 0.0
    for line in sla.get("/metrics").text.splitlines():
        if line.startswith("socialcare_first_response_seconds_count{") and (
            'language="en"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_services_cooperate_across_processes(services: dict[str, Platform]) -> None:
    ingestion, gateway, sla = services["ingestion"], services["gateway"], services["sla"]
    run = uuid.uuid4().hex[:8]
    english = ingestion.post("/v1/messages", english_question(run))
    assert english.status_code == 202, english.text
    dutch = ingestion.post("/v1/messages", dutch_complaint(run))
    assert dutch.status_code == 202, dutch.text
    message_id = english.json()["message_id"]

    def assigned_case() -> dict[str, Any] | None:
        listing = gateway.get("/v1/cases", language="en", limit=50).json()
        for summary in listing["cases"]:
            case = gateway.get(f"/v1/cases/{summary['id']}").json()
            if any(m["message_id"] == message_id for m in case["messages"]):
                return case if case["assignee"] else None
        return None

    case = gateway.wait_for("the English case via the gateway", assigned_case, timeout_s=90)
    assert case["language"] == "en" and case["assignee"] == "olivia"
    before = english_first_responses(sla)
    reply = gateway.post(
        f"/v1/cases/{case['id']}/replies", {"agent": "olivia", "text": "Olivia here, sorry!"}
    )
    assert reply.status_code == 202, reply.text

    def observed() -> bool:
        # The ledger counts every first response on care.sla, also those of earlier tests
        # on this broker: this reply is one more than before it.
        return english_first_responses(sla) == before + 1

    sla.wait_for("the first response in the sla process's metrics", observed)

    def escalated() -> bool:
        listing = gateway.get("/v1/escalations").json()
        return any(e["language"] == "nl" for e in listing["escalations"])

    gateway.wait_for("the Dutch breach escalated", escalated, timeout_s=60)
