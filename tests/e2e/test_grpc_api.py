"""The gateway's gRPC API on `socialcare run all` (a real process, embedded backends): an
integrator signs in over gRPC, watches the case stream (WatchCases), sees a customer's
message open a case and get assigned, reads the case and the lists over gRPC, replies
with AgentService.Act, and sees the reply come back on the stream, in version order."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from socialcare.v1 import commands_pb2, services_pb2, services_pb2_grpc
from tests.e2e.platform import ADMIN_PASSWORD, ADMIN_USERNAME, Platform, make_platform, running
from tests.e2e.test_care_flow import english_question

PATIENCE_S = 60.0


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running(make_platform(tmp_path, "embedded", "embedded")) as started:
        yield started


class Watcher:
    """A WatchCases stream read on a thread of its own, its messages in a queue."""

    def __init__(self, stub: services_pb2_grpc.CaseViewServiceStub, metadata: Any) -> None:
        self.messages: queue.Queue[services_pb2.WatchCasesResponse] = queue.Queue()
        self.stream = stub.WatchCases(
            services_pb2.WatchCasesRequest(), metadata=metadata, timeout=PATIENCE_S * 3
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for message in self.stream:
                self.messages.put(message)
        except grpc.RpcError:
            return  # cancelled at the end of the test

    def next_change(self, case_id: str | None = None) -> services_pb2.CaseChange:
        """The next change (of `case_id`, when given); keep-alives skipped."""
        while True:
            message = self.messages.get(timeout=PATIENCE_S)
            if message.WhichOneof("kind") != "change":
                continue
            if case_id is None or message.change.case.id == case_id:
                return message.change

    def close(self) -> None:
        self.stream.cancel()
        self._thread.join(10)


def test_an_integrator_watches_reads_and_acts_over_grpc(platform: Platform) -> None:
    address = platform.env["SOCIALCARE_GATEWAY_GRPC_ADDRESS"]
    with grpc.insecure_channel(address) as channel:
        auth = services_pb2_grpc.AuthServiceStub(channel)
        token = auth.IssueToken(
            services_pb2.IssueTokenRequest(username=ADMIN_USERNAME, password=ADMIN_PASSWORD),
            timeout=30,
        )
        metadata = (("authorization", f"Bearer {token.access_token}"),)
        cases = services_pb2_grpc.CaseViewServiceStub(channel)
        watcher = Watcher(cases, metadata)
        try:
            first = watcher.messages.get(timeout=PATIENCE_S)
            assert first.WhichOneof("kind") == "ready"

            run = uuid.uuid4().hex[:8]
            accepted = platform.post("/v1/messages", english_question(run))
            assert accepted.status_code == 202, accepted.text

            opened = watcher.next_change()
            assert opened.type == "opened"
            case_id = opened.case.id
            assert (opened.case.language, opened.case.queue) == ("en", "care-en")
            versions = [opened.case.version]
            assignee = ""
            while not assignee:  # the assigner gives it to olivia, the English speaker
                change = watcher.next_change(case_id)
                versions.append(change.case.version)
                assignee = change.case.assignee
            assert assignee == "olivia"

            viewed = cases.ViewCase(
                services_pb2.ViewCaseRequest(case_id=case_id), metadata=metadata, timeout=30
            )
            assert viewed.case.id == case_id and viewed.case.assignee == "olivia"
            assert "DVD player" in viewed.case.messages[0].text

            agents = services_pb2_grpc.AgentServiceStub(channel)
            acted = agents.Act(
                services_pb2.ActRequest(
                    case_id=case_id,
                    idempotency_key=f"reply-{run}",
                    reply=commands_pb2.ReplyToCase(
                        agent="olivia", text="So sorry to hear that, Emma! Olivia here."
                    ),
                ),
                metadata=metadata,
                timeout=30,
            )
            assert acted.case_id == case_id
            replied = watcher.next_change(case_id)
            while replied.type != "replied":
                versions.append(replied.case.version)
                replied = watcher.next_change(case_id)
            versions.append(replied.case.version)
            assert replied.case.status == "waiting_on_customer"
            assert versions == sorted(versions), "one case's changes come in version order"

            def listed() -> bool:
                page = cases.QueryCases(
                    services_pb2.QueryCasesRequest(status="waiting_on_customer"),
                    metadata=metadata,
                    timeout=30,
                )
                return case_id in {c["id"] for c in page.cases}

            platform.wait_for("the case in the search projection", lambda: listed() or None)
        finally:
            watcher.close()
