"""Reports from real SLA events: care.sla records counted by two real ledger processors
(two sla instances, each owning half the partitions), served by real ReportServices and
added up by the gateway's client, against figures computed straight from the events.

Also what a rebalance does to a report: a partition revoked from one instance and not yet
restored on the other makes the report refuse (no silent gap); once the new owner has
restored it (snapshot + tail of care.sla) the report is the same as before the move. And a
re-emitted event (same id) is counted once.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.sla_reports import ReportQuery
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import derived_id
from socialcare.gateway.reports import ReportClient, SlaUnavailableError
from socialcare.sla.ledger_processor import LedgerProcessor
from socialcare.sla.rpc import ReportServer, ledger_servicer
from socialcare.v1 import case_pb2, message_pb2, services_pb2, sla_pb2
from tests.unit.memory_log import MemoryLog
from tests.unit.service_credentials import CREDENTIAL, service_guard

PARTITIONS = 4
NOW = datetime(2026, 11, 26, 18, 40, tzinfo=UTC)
DAY_AGO = NOW - timedelta(hours=24)

CARE = CareConfig.model_validate(
    {
        "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
        "queues": [
            {"name": "care-en", "languages": ["en"]},
            {"name": "care-nl", "languages": ["nl"]},
            {"name": "care-global", "languages": ["*"]},
        ],
        "agents": [{"id": "sanne", "name": "Sanne", "languages": ["en", "nl"], "capacity": 8}],
        "brands": [{"name": "acme"}],
    }
)


class Log(MemoryLog):
    """The in-memory log with the partition count the ledger processor asks for."""

    def partition_count(self, topic: str) -> int:
        return self.partitions


@dataclass(frozen=True)
class Outcome:
    """One clock's end, as the events say it: met or breached, after `seconds`."""

    case_id: str
    language: str
    met: bool
    seconds: float
    at: datetime


def outcomes(count: int, seed: int) -> list[Outcome]:
    rnd = random.Random(seed)
    return [
        Outcome(
            case_id=f"case-{seed}-{n}",
            language=rnd.choice(["en", "nl"]),
            met=(met := rnd.random() < 0.7),
            seconds=rnd.uniform(20, 3500) if met else rnd.uniform(3700, 90_000),
            # Within the last day, or (a few) the day before: outside the window.
            at=NOW - timedelta(minutes=rnd.randrange(0, 30 * 60)),
        )
        for n in range(count)
    ]


def events(outcome: Outcome) -> list[sla_pb2.SlaEvent]:
    """The care.sla events of one clock's end (a breach: BREACHED, then STOPPED later)."""

    def event(kind: sla_pb2.SlaEventType.ValueType, elapsed: float) -> sla_pb2.SlaEvent:
        return sla_pb2.SlaEvent(
            event_id=derived_id(outcome.case_id, str(kind)),
            type=kind,
            case_id=outcome.case_id,
            language=outcome.language,
            queue=f"care-{outcome.language}",
            channel=message_pb2.CHANNEL_X,
            priority="normal",
            brand="acme",
            clock=case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE,
            cycle=1,
            elapsed_seconds=elapsed,
            occurred_at=to_timestamp(outcome.at),
        )

    if outcome.met:
        return [event(sla_pb2.SLA_EVENT_TYPE_MET, outcome.seconds)]
    return [
        event(sla_pb2.SLA_EVENT_TYPE_BREACHED, 3600.0),
        event(sla_pb2.SLA_EVENT_TYPE_STOPPED, outcome.seconds),
    ]


def sla(*partitions: int) -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(Topic.SLA, p) for p in partitions)


def feed(ledger: LedgerProcessor, log: Log, records: list[Record]) -> None:
    """What the consumer loop does with a batch of its partitions: process, tick, publish
    the effects (the snapshots in sla.metrics-state)."""
    mine = {tp.partition for tp in ledger_partitions(ledger)}
    for record in records:
        if record.partition in mine:
            assert not ledger.process(record)
    log.append(ledger.tick())


def ledger_partitions(ledger: LedgerProcessor) -> frozenset[TopicPartition]:
    return sla(*ledger.partitions)


@dataclass
class Instance:
    ledger: LedgerProcessor
    server: ReportServer


@pytest.fixture
def platform() -> Iterator[tuple[Log, list[Instance], ReportClient, list[Outcome]]]:
    log = Log(PARTITIONS)
    # In time order, as the sla service emits them.
    happened = sorted(outcomes(120, seed=7), key=lambda o: o.at)
    records = log.append(Emit(Topic.SLA, e) for o in happened for e in events(o))
    # A re-emission after a crash, right after the original: the same events again.
    records += log.append(Emit(Topic.SLA, e) for e in events(happened[-1]))
    instances = []
    for owned in ((0, 1), (2, 3)):
        ledger = LedgerProcessor(
            CARE, changelog=log, clock=lambda: NOW, snapshot_interval=timedelta(0)
        )
        ledger.assigned(sla(*owned))
        feed(ledger, log, records)
        server = ReportServer(
            ledger_servicer(ledger, clock=lambda: NOW), "127.0.0.1:0", guard=service_guard()
        )
        server.start()
        instances.append(Instance(ledger, server))
    client = ReportClient(
        ",".join(f"127.0.0.1:{i.server.port}" for i in instances),
        timeout_s=5.0,
        credential=CREDENTIAL,
    )
    yield log, instances, client, happened
    client.close()
    for instance in instances:
        instance.server.stop()
        instance.server.join(5.0)


def by_language(report: services_pb2.SlaReportResponse) -> dict[str, tuple[int, int, int]]:
    return {row.group[0]: (row.met, row.breached, row.observed) for row in report.rows}


def expected(happened: list[Outcome]) -> dict[str, tuple[int, int, int]]:
    counted: dict[str, tuple[int, int, int]] = {}
    for outcome in happened:
        if outcome.at < DAY_AGO.replace(minute=0):
            continue  # before the covered hours
        met, breached, observed = counted.get(outcome.language, (0, 0, 0))
        counted[outcome.language] = (
            met + outcome.met,
            breached + (not outcome.met),
            observed + 1,
        )
    return counted


def test_the_report_is_what_the_events_say_counted_once(
    platform: tuple[Log, list[Instance], ReportClient, list[Outcome]],
) -> None:
    _, _, client, happened = platform
    report = client.sla_report(ReportQuery.of(DAY_AGO, NOW, group_by=["language"]))
    want = expected(happened)
    assert by_language(report) == want
    counted = [o for o in happened if o.at >= DAY_AGO.replace(minute=0)]
    assert report.total.mean_seconds == pytest.approx(
        sum(o.seconds for o in counted) / len(counted)
    )
    assert sorted(report.partitions) == list(range(PARTITIONS))


def test_a_partition_between_owners_is_refused_then_the_same_after_the_move(
    platform: tuple[Log, list[Instance], ReportClient, list[Outcome]],
) -> None:
    log, (first, second), client, _ = platform
    query = ReportQuery.of(DAY_AGO, NOW, group_by=["language"])
    before = client.sla_report(query)

    first.ledger.revoked(sla(1))  # the rebalance takes partition 1 away...
    with pytest.raises(SlaUnavailableError, match=r"partition\(s\) 1"):
        client.sla_report(query)

    second.ledger.assigned(sla(1, 2, 3))  # ...and the other instance restores it
    after = client.sla_report(query)
    assert by_language(after) == by_language(before)
    assert after.total.p90_seconds == pytest.approx(before.total.p90_seconds)
    assert sorted(second.ledger.partitions) == [1, 2, 3]
    assert log.replays  # restored from the log, not handed over in memory
