"""The assigner on the bus: it rebuilds from both changelogs (holdings and agent states),
so presence and idle times survive a move to another instance, and CaseService's
ListAgentStates answers from it (or FAILED_PRECONDITION where the assigner does not run)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import NoReturn

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from socialcare.core.bus import TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.clock import from_timestamp
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.routing.assigner_processor import AssignerProcessor
from socialcare.routing.processor import CaseProcessor
from socialcare.routing.rpc import CaseServicer
from socialcare.v1 import message_pb2, routing_pb2, services_pb2
from tests.unit.factories import T0
from tests.unit.memory_log import MemoryLog
from tests.unit.routing.test_assigner_rules import CARE, presence, queue

REQUESTS = frozenset({TopicPartition(Topic.ASSIGNMENT_REQUESTS.value, 0)})


class AbortedError(Exception):
    pass


class Context:
    """The part of grpc.ServicerContext the servicer uses: abort raises."""

    code: grpc.StatusCode | None = None

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        self.code = code
        raise AbortedError(details)


def list_states(
    servicer: CaseServicer, context: Context | None = None
) -> services_pb2.ListAgentStatesResponse:
    return servicer.ListAgentStates(
        services_pb2.ListAgentStatesRequest(),
        context or Context(),  # type: ignore[arg-type]
    )


def test_presence_and_holdings_survive_a_rebuild_and_are_listed(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path, default_partitions=1, sync="normal")
    now = [T0]
    try:
        producer = bus.producer("routing")
        records = MemoryLog(1)
        processor = AssignerProcessor(CARE, bus, lambda: now[0])
        processor.prepare()
        processor.assigned(REQUESTS)

        def process(request: routing_pb2.AssignmentRequest) -> list[Emit]:
            effects = list(
                processor.process(records.record(Emit(Topic.ASSIGNMENT_REQUESTS, request)))
            )
            changelogs = (Topic.ASSIGNMENTS_CHANGELOG, Topic.AGENTS_CHANGELOG)
            publish_effects(
                producer, [e for e in effects if e.topic in changelogs], source="routing"
            )
            producer.flush()
            return effects

        process(queue("e1", channel=message_pb2.CHANNEL_WHATSAPP))  # ann
        process(presence("sid", routing_pb2.PRESENCE_AWAY, T0))
        process(presence("bob", routing_pb2.PRESENCE_OFFLINE, T0))
        before = processor.read(lambda a: None if a is None else (a.holdings, a.agent_states))

        processor.revoked(REQUESTS)
        servicer = CaseServicer(CaseProcessor(CARE, bus, lambda: now[0]), assigner=processor)
        context = Context()
        with pytest.raises(AbortedError, match="does not run the assigner"):
            list_states(servicer, context)
        assert context.code == grpc.StatusCode.FAILED_PRECONDITION

        processor.assigned(REQUESTS)  # rebuilt from both changelogs
        after = processor.read(lambda a: None if a is None else (a.holdings, a.agent_states))
        assert after == before
        listed = list_states(servicer)
        by_agent = {s.agent: s for s in listed.agents}
        assert by_agent["ann"].load == 1 and dict(by_agent["ann"].load_by_channel) == {
            "whatsapp": 1
        }
        assert _at(by_agent["ann"].last_assigned_at) == T0
        assert not by_agent["bob"].HasField("last_assigned_at")
        assert by_agent["sid"].presence == routing_pb2.PRESENCE_AWAY
        assert by_agent["bob"].presence == routing_pb2.PRESENCE_OFFLINE
        assert _at(by_agent["bob"].presence_since) == T0
        assert by_agent["ann"].presence == routing_pb2.PRESENCE_ONLINE  # the default
        assert by_agent["ann"].on_shift and not by_agent["sid"].on_shift  # 09:00: Sydney off
        now[0] = T0 + timedelta(minutes=1)
        process(queue("e2", now=now[0]))  # Ann has a case, Bob is offline: Sid is off shift
        listed = list_states(servicer)
        assert dict(listed.waiting_by_queue) == {}  # Ann had room for a second case
        assert {s.agent: s.load for s in listed.agents}["ann"] == 2
    finally:
        bus.close()


def _at(stamp: Timestamp) -> datetime:
    return from_timestamp(stamp)
