"""The case processor's part of the lifecycle: its tick fires the books' timers (about once a
second), survey answers count once in socialcare_survey_answers_total, and SatisfactionReport
rows come from the books it owns."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from socialcare.core.bus import TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.routing.processor import CaseProcessor
from socialcare.routing.rpc import CaseServicer
from socialcare.v1 import case_pb2, routing_pb2, services_pb2
from tests.unit.factories import T0, enriched
from tests.unit.memory_log import MemoryLog
from tests.unit.metrics import sample
from tests.unit.routing.harness import case_events, reply, resolve

PARTITIONS = 2
CARE = CareConfig.model_validate(
    {
        "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [{"id": "sanne", "name": "Sanne", "languages": ["nl"], "capacity": 3}],
        "routing": {"lifecycle": {"survey": {"kind": "csat"}}},
    }
)


def test_timers_surveys_and_the_satisfaction_report(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path, default_partitions=PARTITIONS, sync="normal")
    try:
        producer = bus.producer("routing")
        records = MemoryLog(PARTITIONS)
        clock = [T0]
        processor = CaseProcessor(CARE, bus, lambda: clock[0])
        processor.prepare()
        processor.assigned(
            frozenset(TopicPartition(t, p) for t in processor.topics for p in range(PARTITIONS))
        )

        def process(effect: Emit) -> list[Emit]:
            effects = list(processor.process(records.record(effect)))
            publish_effects(
                producer, [e for e in effects if e.topic == Topic.CASES], source="routing"
            )
            producer.flush()
            return effects

        def tick() -> list[Emit]:
            effects = list(processor.tick())
            publish_effects(
                producer, [e for e in effects if e.topic == Topic.CASES], source="routing"
            )
            producer.flush()
            return effects

        def at(moment: datetime) -> None:
            clock[0] = moment

        case_id = case_events(process(Emit(Topic.MESSAGES_ENRICHED, enriched("m1"))))[0].case.id
        decision = routing_pb2.AssignmentDecision(
            decision_id="d1",
            case_id=case_id,
            epoch=1,
            outcome=routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED,
            agent="sanne",
        )
        process(Emit(Topic.ASSIGNMENT_DECISIONS, decision))
        process(Emit(Topic.COMMANDS, reply(case_id, "c1")))
        process(Emit(Topic.COMMANDS, resolve(case_id, "r1")))
        # Nobody answers "has this been solved?": the tick resolves it after 48 hours.
        at(T0 + timedelta(hours=49))
        resolved = [e for e in case_events(tick()) if e.type == case_pb2.CASE_EVENT_TYPE_RESOLVED]
        assert [e.case.resolution_check.outcome for e in resolved] == [
            case_pb2.RESOLUTION_OUTCOME_TIMED_OUT
        ]
        assert case_events(tick()) == []  # throttled, and nothing left to do
        assert processor.get_case(case_id).survey.kind == case_pb2.SURVEY_KIND_CSAT  # type: ignore[union-attr]

        labels = {"kind": "csat", "channel": "x", "language": "nl", "score": "5"}
        before = sample("socialcare_survey_answers_total", **labels)
        answer = enriched("m2", text="5!", received=T0 + timedelta(hours=50))
        at(T0 + timedelta(hours=50))
        [answered] = case_events(process(Emit(Topic.MESSAGES_ENRICHED, answer)))
        assert answered.type == case_pb2.CASE_EVENT_TYPE_SURVEY_ANSWERED
        assert process(Emit(Topic.MESSAGES_ENRICHED, answer)) == []  # redelivered
        assert sample("socialcare_survey_answers_total", **labels) == before + 1

        [row] = processor.satisfaction()
        assert (row.kind, row.channel, row.language, row.sent, row.answered) == (
            case_pb2.SURVEY_KIND_CSAT,
            "x",
            "nl",
            1,
            1,
        )
        assert list(row.score_counts) == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
        assert processor.satisfaction(until=T0) == []
        # The gRPC answer the gateway adds up across instances.
        servicer = CaseServicer(processor)
        request = services_pb2.SatisfactionReportRequest(brands=[CARE.brand("").name])
        getattr(request, "from").CopyFrom(to_timestamp(T0 + timedelta(hours=50)))
        answer_rows = servicer.SatisfactionReport(request, None).rows  # type: ignore[arg-type]
        assert [(r.sent, r.answered, r.score_counts[5]) for r in answer_rows] == [(0, 1, 1)]
        # A rebuild keeps the survey and its timers (the case closes after its window).
        processor.discard()
        processor.assigned(
            frozenset(TopicPartition(t, p) for t in processor.topics for p in range(PARTITIONS))
        )
        assert len(processor.satisfaction()) == 1
        at(T0 + timedelta(days=10))
        closed = [e for e in case_events(tick()) if e.type == case_pb2.CASE_EVENT_TYPE_CLOSED]
        assert [e.case.id for e in closed] == [case_id]
    finally:
        bus.close()
