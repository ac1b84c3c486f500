"""Erasure in routing (issue 12): the erase command, restores that keep a case erased,
PrivacyService.FindCustomerCases, and the brands' retention sweep."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from socialcare.core.bus import TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.domain import erasure
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone, publish_effects
from socialcare.routing.erasure import RetentionPolicy
from socialcare.routing.processor import CaseProcessor
from socialcare.routing.rpc import CaseServer, CaseServicer, PrivacyServicer
from socialcare.v1 import (
    audit_pb2,
    case_pb2,
    commands_pb2,
    privacy_pb2,
    privacy_pb2_grpc,
    routing_pb2,
)
from tests.unit.factories import T0, enriched
from tests.unit.memory_log import MemoryLog
from tests.unit.routing.harness import Routing, case_events, reply, resolve
from tests.unit.service_credentials import credentialed, service_guard

CARE = CareConfig.model_validate(
    {
        "routing": {
            "lifecycle": {
                "confirm_resolution": False,
                "survey": {"kind": "none"},
                "reopen_within": "1d",
            }
        },
        "sla_policies": [{"name": "all-1h", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [{"id": "sanne", "name": "Sanne de Vries", "languages": ["nl"], "capacity": 5}],
        "brands": [{"name": "acme", "retention_days": 30}],
    }
)
KEEPING = CareConfig.model_validate(
    {**CARE.model_dump(mode="json", exclude_unset=True), "brands": [{"name": "acme"}]}
)


def erase(
    case_id: str, erasure_id: str = "er-1", reason: str = "gdpr"
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=erasure.erase_command_id(erasure_id, case_id),
        case_id=case_id,
        issued_by="admin",
        erase=commands_pb2.EraseCase(erasure_id=erasure_id, reason=reason),
    )


def open_case(routing: Routing, external_id: str, author: str, minutes: int = 0) -> str:
    at = T0 + timedelta(minutes=minutes)
    events = case_events(routing.at(at).message(enriched(external_id, author=author, received=at)))
    return events[0].case.id


def steps(effects: Sequence[Emit]) -> dict[str, audit_pb2.ErasureStep]:
    found: dict[str, audit_pb2.ErasureStep] = {}
    for effect in effects:
        if effect.topic == Topic.PRIVACY_ERASURES and not isinstance(effect, Tombstone):
            assert isinstance(effect.message, audit_pb2.PrivacyEvent)
            if effect.message.HasField("step"):
                found[effect.message.step.store] = effect.message.step
    return found


def tombstones(effects: Sequence[Emit], topic: Topic) -> list[str]:
    return [e.key for e in effects if isinstance(e, Tombstone) and e.topic == topic]


# -- the erase command ------------------------------------------------------------------------


def test_erase_removes_the_case_from_the_book_the_linker_and_the_assigner() -> None:
    routing = Routing(CARE, partitions=2, linked=True)
    erased = open_case(routing, "m1", "9001")
    kept = open_case(routing, "m2", "9002", minutes=1)
    routing.at(T0 + timedelta(minutes=5)).command(reply(erased, "reply-1"))
    assert routing.case(erased).assignee == "sanne"
    assert routing.linker is not None and routing.linker.holder("acme", "x:9001") == erased
    assert routing.assigner.load_of("sanne") == 2

    effects = routing.at(T0 + timedelta(hours=1)).command(erase(erased))

    assert tombstones(effects, Topic.CASES) == [erased]
    assert erased not in routing.book_of(erased).cases
    assert routing.case(kept).customer.id == "9002"
    reported = steps(effects)
    assert set(reported) == {
        erasure.CASES,
        erasure.OUTBOUND,
        erasure.IDENTITIES,
        erasure.ASSIGNMENTS,
    }
    assert all(list(step.case_ids) == [erased] for step in reported.values())
    assert all(step.erasure_id == "er-1" for step in reported.values())
    cases = reported[erasure.CASES]
    assert (cases.items, cases.service) == (1, "routing")
    # The topics that are not compacted expire with their retention (7 days by default).
    assert "social.messages.enriched" in cases.note and "care.outbound" in cases.note
    assert "by 2026-11-30T10:00Z" in cases.note
    outbound = reported[erasure.OUTBOUND]
    assert outbound.items == 0
    assert outbound.note.startswith("1 reply to the customer on care.outbound")
    assert "by 2026-11-30T10:00Z" in outbound.note
    # The linker tombstoned the customer's identities; the assigner the holding.
    assert sorted(tombstones(effects, Topic.IDENTITIES_CHANGELOG)) == [
        "acme/handle:x:u9001",
        "acme/x:9001",
    ]
    assert reported[erasure.IDENTITIES].items == 2
    assert routing.linker.holder("acme", "x:9001") is None
    assert routing.linker.holder("acme", "x:9002") == kept
    assert tombstones(effects, Topic.ASSIGNMENTS_CHANGELOG) == [erased]
    assert reported[erasure.ASSIGNMENTS].items == 1
    assert erased not in routing.assigner.holdings
    assert routing.assigner.load_of("sanne") == 1
    # Nothing routing publishes about the erased case after the tombstone.
    tombstone = Tombstone.of(Topic.CASES, erased, erasure_id="er-1")
    after = routing.published[routing.published.index(tombstone) + 1 :]
    assert not [e for e in after if e.topic == Topic.CASES and e.key == erased]


def test_an_erased_case_stays_erased_after_restarts_and_a_redelivered_erase() -> None:
    routing = Routing(CARE, partitions=2, linked=True)
    erased = open_case(routing, "m1", "9001")
    kept = open_case(routing, "m2", "9002", minutes=1)
    first = routing.at(T0 + timedelta(hours=1)).command(erase(erased))

    for compacted in (False, True):
        routing.restart(compacted=compacted)
        assert erased not in routing.book_of(erased).cases
        assert kept in routing.book_of(kept).cases
        assert routing.linker is not None and routing.linker.holder("acme", "x:9001") is None
        assert erased not in routing.assigner.holdings
    # Compacted: not one record of the case, its identities or its holding is left.
    assert all(e.case.id != erased for e in routing.changelog(Topic.CASES))  # type: ignore[attr-defined]
    assert all(o.case_id != erased for o in routing.changelog(Topic.IDENTITIES_CHANGELOG))  # type: ignore[attr-defined]
    assert all(h.case_id != erased for h in routing.changelog(Topic.ASSIGNMENTS_CHANGELOG))  # type: ignore[attr-defined]

    again = routing.at(T0 + timedelta(hours=2)).command(erase(erased))
    [step_effect] = again
    assert isinstance(step_effect.message, audit_pb2.PrivacyEvent)
    assert step_effect.message.step.items == 0
    cases_step = next(
        e
        for e in first
        if isinstance(e.message, audit_pb2.PrivacyEvent) and e.message.step.store == "cases"
    )
    assert step_effect.event_id == cases_step.event_id


def test_a_later_message_of_the_customer_opens_a_new_case() -> None:
    routing = Routing(CARE, partitions=2, linked=True)
    erased = open_case(routing, "m1", "9001")
    routing.at(T0 + timedelta(hours=1)).command(erase(erased))
    again = open_case(routing, "m3", "9001", minutes=90)
    assert again != erased
    case = routing.case(again)
    assert case.previous_case_id == ""
    assert [m.external_id for m in case.messages] == ["m3"]
    assert routing.linker is not None and routing.linker.holder("acme", "x:9001") == again


def test_an_erase_without_an_erasure_id_is_refused() -> None:
    from socialcare.core.events import InvalidRecordError

    routing = Routing(CARE, linked=True)
    case_id = open_case(routing, "m1", "9001")
    command = erase(case_id)
    command.erase.erasure_id = ""
    with pytest.raises(InvalidRecordError, match="erasure id"):
        routing.command(command)
    assert case_id in routing.book_of(case_id).cases


# -- the processor: restore from the bus, FindCustomerCases ---------------------------------


PARTITIONS = 3


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    bus = EmbeddedBus(tmp_path, default_partitions=PARTITIONS, sync="normal")
    yield bus
    bus.close()


class Driver:
    """A CaseProcessor fed real records; its care.cases effects (tombstones too) go to the
    bus, as the consumer loop publishes them."""

    def __init__(self, bus: EmbeddedBus) -> None:
        self.bus = bus
        self.producer = bus.producer("routing")
        self.records = MemoryLog(PARTITIONS)
        self.processor = self.start()

    def start(self) -> CaseProcessor:
        processor = CaseProcessor(KEEPING, self.bus, lambda: T0 + timedelta(minutes=5))
        processor.prepare()
        processor.assigned(
            frozenset(
                TopicPartition(topic, p) for topic in processor.topics for p in range(PARTITIONS)
            )
        )
        return processor

    def process(self, effect: Emit) -> list[Emit]:
        effects = list(self.processor.process(self.records.record(effect)))
        cases = [e for e in effects if e.topic == Topic.CASES]
        publish_effects(self.producer, cases, source="routing")
        self.producer.flush()
        return effects


def test_the_processor_keeps_an_erased_case_erased_across_rebuilds(bus: EmbeddedBus) -> None:
    driver = Driver(bus)
    opened = case_events(driver.process(Emit(Topic.MESSAGES_ENRICHED, enriched("m1"))))
    case_id = opened[0].case.id
    other = case_events(
        driver.process(Emit(Topic.MESSAGES_ENRICHED, enriched("m2", author="9002")))
    )[0].case.id
    assert driver.processor.find_customer_cases("acme", ["x:9001"]) == [(case_id, ["x:9001"])]

    effects = driver.process(Emit(Topic.COMMANDS, erase(case_id)))
    assert tombstones(effects, Topic.CASES) == [case_id]
    assert driver.processor.get_case(case_id) is None
    assert driver.processor.find_customer_cases("acme", ["x:9001"]) == []
    # On the bus: the case's events, then its tombstone.
    replayed = [r for r in bus.replay(Topic.CASES) if r.key == case_id.encode()]
    assert replayed[-1].tombstone and not replayed[0].tombstone
    assert replayed[-1].header("erasure-id") == b"er-1"  # for the consumers' steps

    driver.processor.discard()  # a failed flush: rebuilt from care.cases
    driver.processor.assigned(
        frozenset(TopicPartition(Topic.CASES.value, p) for p in range(PARTITIONS))
    )
    assert driver.processor.get_case(case_id) is None
    restarted = driver.start()  # a new instance, from the bus alone
    assert restarted.get_case(case_id) is None
    assert restarted.get_case(other) is not None
    driver.processor = restarted
    [again] = driver.process(Emit(Topic.COMMANDS, erase(case_id)))
    assert isinstance(again.message, audit_pb2.PrivacyEvent)
    assert again.message.step.items == 0


def test_find_customer_cases_matches_identities_per_brand(bus: EmbeddedBus) -> None:
    driver = Driver(bus)
    first = case_events(driver.process(Emit(Topic.MESSAGES_ENRICHED, enriched("m1"))))[0]
    second = case_events(
        driver.process(Emit(Topic.MESSAGES_ENRICHED, enriched("m2", author="9002")))
    )[0]
    found = driver.processor.find_customer_cases(
        "acme", ["x:9001", "handle:x:u9002", "email:nobody@example.com"]
    )
    assert sorted(found) == sorted(
        [(first.case.id, ["x:9001"]), (second.case.id, ["handle:x:u9002"])]
    )
    assert driver.processor.find_customer_cases("globex", ["x:9001"]) == []
    assert driver.processor.find_customer_cases("acme", []) == []


def test_the_privacy_service_answers_over_grpc(bus: EmbeddedBus) -> None:
    driver = Driver(bus)
    case_id = case_events(driver.process(Emit(Topic.MESSAGES_ENRICHED, enriched("m1"))))[0].case.id
    server = CaseServer(
        CaseServicer(driver.processor),
        "127.0.0.1:0",
        guard=service_guard(),
        privacy=PrivacyServicer(driver.processor),
    )
    server.start()
    try:
        with credentialed(grpc.insecure_channel(f"127.0.0.1:{server.port}")) as channel:
            stub = privacy_pb2_grpc.PrivacyServiceStub(channel)
            answer = stub.FindCustomerCases(
                privacy_pb2.FindCustomerCasesRequest(brand="acme", identities=["x:9001"]),
                timeout=5,
            )
            assert [(c.case_id, list(c.matched)) for c in answer.cases] == [(case_id, ["x:9001"])]
            with pytest.raises(grpc.RpcError) as refused:
                stub.FindCustomerCases(
                    privacy_pb2.FindCustomerCasesRequest(brand="acme"), timeout=5
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.stop()


# -- retention -------------------------------------------------------------------------------


def finished_cases(routing: Routing, count: int) -> list[str]:
    """`count` cases, each resolved at once and closed a day later (reopen window 1d)."""
    ids = []
    for n in range(count):
        case_id = open_case(routing, f"r{n}", f"70{n}", minutes=n)
        routing.at(T0 + timedelta(minutes=10 + n)).command(resolve(case_id, f"resolve-{n}"))
        ids.append(case_id)
    routing.at(T0 + timedelta(days=2)).tick()
    assert {routing.case(c).status for c in ids} == {case_pb2.CASE_STATUS_CLOSED}
    return ids


def retention_requests(effects: Sequence[Emit]) -> list[audit_pb2.ErasureRequest]:
    return [
        e.message.request
        for e in effects
        if isinstance(e.message, audit_pb2.PrivacyEvent) and e.message.HasField("request")
    ]


def test_the_retention_sweep_erases_finished_cases_past_the_brands_retention() -> None:
    routing = Routing(CARE, partitions=1, linked=True)
    finished = finished_cases(routing, 3)
    still_open = open_case(routing, "live", "8000", minutes=30)
    for book in routing.books:
        book.retention = RetentionPolicy(interval=timedelta(hours=1), batch=2)

    closed_at = T0 + timedelta(days=2)  # their last activity: closing
    # 29 days after the last activity: kept.
    assert retention_requests(routing.at(closed_at + timedelta(days=29)).tick()) == []
    # Past 30 days: the two longest idle first (at most `batch` per book and sweep).
    effects = routing.at(closed_at + timedelta(days=31)).tick()
    requests = retention_requests(effects)
    asked = [case_id for request in requests for case_id in request.case_ids]
    assert all(r.reason == "retention" and r.brand == "acme" for r in requests)
    assert all(r.requested_by == "routing-retention" for r in requests)
    [audited] = [e.message for e in effects if e.topic == Topic.AUDIT_LOG]
    assert isinstance(audited, audit_pb2.AuditRecord)
    assert (audited.actor_id, audited.action) == ("system", "privacy.retention_erase")
    assert audited.target_id == audited.record_id == requests[0].erasure_id
    assert audited.details["retention_days"] == "30"
    commands = [e.message for e in effects if e.topic == Topic.COMMANDS]
    assert sorted(c.case_id for c in commands) == sorted(asked)  # type: ignore[attr-defined]
    assert all(c.erase.reason == "retention" for c in commands)  # type: ignore[attr-defined]
    # The harness delivers routing's own commands: those cases are erased now.
    for case_id in asked:
        assert case_id not in routing.book_of(case_id).cases
    # Equally idle (all closed at the same tick): by id.
    assert sorted(asked) == sorted(finished)[:2]
    left = [c for c in finished if c not in asked]
    # Within the interval nothing more is asked; after it, the rest.
    soon = closed_at + timedelta(days=31, minutes=30)
    assert retention_requests(routing.at(soon).tick()) == []
    later = retention_requests(routing.at(closed_at + timedelta(days=31, hours=2)).tick())
    assert sorted(c for r in later for c in r.case_ids) == sorted(left)
    for case_id in finished:
        assert case_id not in routing.book_of(case_id).cases
    # A case someone still works on is never swept, however old.
    routing.at(T0 + timedelta(days=90)).tick()
    assert routing.case(still_open).status != case_pb2.CASE_STATUS_CLOSED


def test_a_brand_without_retention_keeps_everything() -> None:
    routing = Routing(KEEPING, partitions=2, linked=True)
    finished = finished_cases(routing, 2)
    assert retention_requests(routing.at(T0 + timedelta(days=3650)).tick()) == []
    assert all(case_id in routing.book_of(case_id).cases for case_id in finished)


def test_retention_days_is_validated() -> None:
    from pydantic import ValidationError

    base = CARE.model_dump(mode="json", exclude_unset=True)
    for wrong in (0, -3, 100_000, "forever"):
        with pytest.raises(ValidationError, match=r"1 validation error[\s\S]*retention_days"):
            CareConfig.model_validate(
                {**base, "brands": [{"name": "acme", "retention_days": wrong}]}
            )
    assert CARE.brand("acme").retention_days == 30
    assert KEEPING.brand("acme").retention_days is None


def test_an_erased_case_also_leaves_the_assigners_backlog() -> None:
    care = CareConfig.model_validate(
        {
            **CARE.model_dump(mode="json", exclude_unset=True),
            # Nobody speaks the customer's language: the case waits in the backlog.
            "agents": [{"id": "hans", "name": "Hans", "languages": ["de"], "capacity": 5}],
        }
    )
    routing = Routing(care, linked=True)
    waiting = open_case(routing, "m1", "9001")
    assert routing.assigner.waiting() == [waiting]
    effects = routing.command(erase(waiting))
    assert routing.assigner.waiting() == []
    assert tombstones(effects, Topic.ASSIGNMENTS_CHANGELOG) == [waiting]
    release = [e.message for e in routing.published if e.topic == Topic.ASSIGNMENT_REQUESTS]
    assert isinstance(release[-1], routing_pb2.AssignmentRequest)
    assert release[-1].erasure_id == "er-1"


def test_erasure_settings_read_durations_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from socialcare.core.config import PlatformSettings
    from socialcare.routing.settings import ErasureSettings

    monkeypatch.setenv("SOCIALCARE_RETENTION_SWEEP_INTERVAL", "15m")
    monkeypatch.setenv("SOCIALCARE_RETENTION_SWEEP_BATCH", "7")
    monkeypatch.setenv("SOCIALCARE_TOPIC_RETENTION", "3d")
    policy = ErasureSettings.from_platform(PlatformSettings()).retention_policy()
    assert policy == RetentionPolicy(
        interval=timedelta(minutes=15), batch=7, topic_retention=timedelta(days=3)
    )
    monkeypatch.setenv("SOCIALCARE_RETENTION_SWEEP_BATCH", "0")
    with pytest.raises(ValueError, match="retention_sweep_batch"):
        ErasureSettings()
