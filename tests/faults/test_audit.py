"""The audit counts what it should: a history written by hand with one of every fault
(a lost message, a message in two cases, a redelivered record, a case assigned twice, a
breach announced twice, an escalation raised twice, a reply posted twice, a message
missing from search) is reported row by row and problem by problem, and the same history
without the faults has no problem. Without this, a fault suite that reports "no problems"
could be an audit that sees none."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from google.protobuf.message import Message

from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.search.base import IndexedDocument
from socialcare.core.search.embedded import EmbeddedSearchIndex
from socialcare.core.search.indices import MESSAGES, SCHEMAS
from socialcare.v1 import (
    case_pb2,
    commands_pb2,
    escalation_pb2,
    message_pb2,
    routing_pb2,
    sla_pb2,
)
from tests.faults.audit import AuditReport, Expectations, Row, audit, collect, format_table
from tests.faults.fake_channel import ChannelLog
from tests.faults.workload import Attempted

FIRST = case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    opened = EmbeddedBus(tmp_path / "bus", default_partitions=2, sync="normal")
    yield opened
    opened.close()


@pytest.fixture
def search(tmp_path: Path) -> Iterator[EmbeddedSearchIndex]:
    opened = EmbeddedSearchIndex(tmp_path / "search")
    opened.ensure_index(MESSAGES, SCHEMAS[MESSAGES])
    yield opened
    opened.close()


def write(bus: EmbeddedBus, *messages: Message) -> None:
    topics = {
        message_pb2.SocialMessage: Topic.MESSAGES_RAW,
        case_pb2.CaseEvent: Topic.CASES,
        routing_pb2.AssignmentDecision: Topic.ASSIGNMENT_DECISIONS,
        sla_pb2.SlaEvent: Topic.SLA,
        escalation_pb2.EscalationEvent: Topic.ESCALATIONS,
        commands_pb2.OutboundReply: Topic.OUTBOUND,
    }
    producer = bus.producer()
    publish_effects(producer, [Emit(topics[type(m)], m) for m in messages], source="test")
    producer.flush()
    producer.close()


def case(case_id: str, assignee: str, *message_ids: str, version: int = 1) -> case_pb2.CaseEvent:
    held = [
        case_pb2.CaseMessage(message_id=m, direction=case_pb2.DIRECTION_INBOUND)
        for m in message_ids
    ]
    return case_pb2.CaseEvent(
        event_id=f"{case_id}-v{version}",
        case=case_pb2.Case(
            id=case_id, language="nl", assignee=assignee, version=version, messages=held
        ),
    )


def assigned(case_id: str, decision_id: str) -> routing_pb2.AssignmentDecision:
    return routing_pb2.AssignmentDecision(
        decision_id=decision_id,
        case_id=case_id,
        epoch=1,
        outcome=routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED,
        agent="nl-agent-0",
    )


def sla(case_id: str, event_id: str, kind: sla_pb2.SlaEventType.ValueType) -> sla_pb2.SlaEvent:
    return sla_pb2.SlaEvent(event_id=event_id, case_id=case_id, type=kind, clock=FIRST, cycle=1)


def raised(case_id: str, escalation_id: str, event_id: str) -> escalation_pb2.EscalationEvent:
    return escalation_pb2.EscalationEvent(
        event_id=event_id,
        type=escalation_pb2.ESCALATION_EVENT_TYPE_RAISED,
        escalation=escalation_pb2.Escalation(
            id=escalation_id,
            case_id=case_id,
            trigger=escalation_pb2.ESCALATION_TRIGGER_SLA_BREACH,
            clock="first_response",
            clock_cycle=1,
            revision=1,
        ),
    )


def sent(key: str, status: int, result_id: str = "") -> Attempted:
    return Attempted(key, 1, [status], 200 <= status < 300, False, result_id, status)


def index(search: EmbeddedSearchIndex, *message_ids: str) -> None:
    search.upsert(
        MESSAGES,
        [
            IndexedDocument(m, {"id": m, "direction": "inbound", "text": "hallo"})
            for m in message_ids
        ],
    )


def run(
    bus: EmbeddedBus,
    search: EmbeddedSearchIndex,
    messages: Sequence[Attempted],
    channel: ChannelLog,
) -> AuditReport:
    replies = {"case-1": sent("case-1", 202, "reply-1")}
    evidence = collect(bus, search, [m.result_id for m in messages], lambda: channel)
    return audit(evidence, messages, replies, Expectations(reply_window=0))


def counts(report: AuditReport, kind: str) -> tuple[int | None, ...]:
    row = report.row(kind)
    return (row.expected, row.found, row.lost, row.duplicated, row.redelivered)


def test_every_kind_of_fault_is_counted_and_named(
    bus: EmbeddedBus, search: EmbeddedSearchIndex
) -> None:
    messages = [
        sent("a", 202, "m-a"),
        sent("b", 202, "m-b"),
        sent("c", 202, "m-c"),
        sent("lost", 202, "m-lost"),
        sent("bad", 422),
    ]
    raw = [message_pb2.SocialMessage(message_id=m) for m in ("m-a", "m-b", "m-b", "m-c")]
    write(
        bus,
        *raw,
        case("case-1", "nl-agent-0", "m-a"),
        case("case-1", "nl-agent-0", "m-a", "m-c", version=2),
        case("case-2", "nl-agent-1", "m-b"),
        case("case-3", "", "m-c"),
        assigned("case-1", "d-1"),
        assigned("case-1", "d-1"),
        assigned("case-2", "d-2"),
        assigned("case-2", "d-3"),
        sla("case-1", "s-met", sla_pb2.SLA_EVENT_TYPE_MET),
        sla("case-2", "s-breach-1", sla_pb2.SLA_EVENT_TYPE_BREACHED),
        sla("case-2", "s-breach-2", sla_pb2.SLA_EVENT_TYPE_BREACHED),
        sla("case-2", "s-breach-2", sla_pb2.SLA_EVENT_TYPE_BREACHED),
        raised("case-2", "esc-1", "e-1"),
        raised("case-2", "esc-2", "e-2"),
        commands_pb2.OutboundReply(reply_id="reply-1", case_id="case-1"),
    )
    index(search, "m-a", "m-b")
    posted = ChannelLog(
        raw_posts=Counter({"reply-1": 3}),
        posted=Counter({"reply-1": 2}),
        repeats=Counter({"reply-1": 1}),
        refused=Counter(),
    )

    report = run(bus, search, messages, posted)
    print(report.text("the audit on a history with faults"))

    messages_row = report.row("messages → cases")
    assert (messages_row.sent, messages_row.accepted, messages_row.rejected) == (5, 4, 1)
    # m-lost in no case; m-c in case-1 and case-3; m-b on the raw topic twice.
    assert counts(report, "messages → cases") == (4, 3, 1, 1, 1)
    # case-3 has no assignee and no decision; case-2 two decisions; d-1 delivered twice.
    assert counts(report, "assignments") == (3, 2, 1, 1, 1)
    assert counts(report, "sla met (first response)") == (1, 1, 0, 0, 0)
    # Dutch cases without a reply: case-2 (breached twice) and case-3 (never breached).
    assert counts(report, "sla breached (first response)") == (2, 1, 1, 1, 1)
    assert counts(report, "escalations") == (1, 2, 0, 1, 0)
    assert counts(report, "replies → channel posts") == (1, 1, 0, 1, 2)
    assert counts(report, "search (messages index)") == (4, 2, 2, None, None)
    problems = "\n".join(report.problems)
    for named in (
        "m-lost",
        "m-c in",
        "case-3",
        "d-2",
        "s-breach",
        "esc-",
        "reply-1",
        "raw re-posts",
    ):
        assert named in problems, (named, problems)
    assert "| messages → cases" in report.table()


def test_a_history_without_faults_has_no_problem(
    bus: EmbeddedBus, search: EmbeddedSearchIndex
) -> None:
    messages = [sent("a", 202, "m-a"), sent("b", 200, "m-b")]
    write(
        bus,
        message_pb2.SocialMessage(message_id="m-a"),
        message_pb2.SocialMessage(message_id="m-b"),
        case("case-1", "nl-agent-0", "m-a"),
        case("case-2", "nl-agent-1", "m-b"),
        assigned("case-1", "d-1"),
        assigned("case-2", "d-2"),
        sla("case-1", "s-met", sla_pb2.SLA_EVENT_TYPE_MET),
        sla("case-2", "s-breach", sla_pb2.SLA_EVENT_TYPE_BREACHED),
        raised("case-2", "esc-1", "e-1"),
        commands_pb2.OutboundReply(reply_id="reply-1", case_id="case-1"),
    )
    index(search, "m-a", "m-b")
    once = Counter({"reply-1": 1})
    report = run(bus, search, messages, ChannelLog(once, once, Counter(), Counter()))

    assert report.problems == [], report.text()
    assert all(row.lost in (0, None) and row.duplicated in (0, None) for row in report.rows)


def test_the_table_lines_up_and_shows_missing_cells_as_a_dash() -> None:
    table = format_table([Row("x", sent=1_000, found=3), Row("longer kind", lost=0)], "T")
    lines = table.splitlines()
    assert lines[0] == "T"
    assert len({len(line) for line in lines[2:]}) == 1
    assert "1,000" in lines[4] and " - " in lines[5]
