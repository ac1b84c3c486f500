"""The ReportService over a real gRPC server on loopback; the ledger's view is the fake edge
(the ledger processor has its own tests, and tests/unit/reports/test_reports_over_ledger.py
runs the two together)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from socialcare.core.domain.sla_reports import OutcomeKey, Tally
from socialcare.sla.rpc import HourlyView, ReportServer, ReportServicer, ledger_servicer
from socialcare.v1 import services_pb2, services_pb2_grpc
from tests.unit.reports.test_sla_report_figures import key, tally
from tests.unit.service_credentials import credentialed, service_guard

NOW = datetime(2026, 11, 26, 18, 40, tzinfo=UTC)
HOUR = timedelta(hours=1)


class FakeLedger:
    """Tallies by hour for partitions 1 and 3 of 4; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[datetime, datetime]] = []
        self.fail = False
        self.tallies = [
            (NOW.replace(minute=0) - 2 * HOUR, key(), tally(50.0, 70.0, met=2)),
            (NOW.replace(minute=0) - HOUR, key(language="en"), tally(4000.0, breached=1)),
            (NOW.replace(minute=0) - 30 * HOUR, key(), tally(10.0, met=1)),
        ]

    def read(self, start: datetime, end: datetime) -> HourlyView:
        self.asked.append((start, end))
        if self.fail:
            raise RuntimeError("ledger lock poisoned: /var/secret/path")
        return HourlyView(
            partitions=frozenset({1, 3}),
            partition_count=4,
            tallies=[t for t in self.tallies if start <= t[0] < end],
        )


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
def stub(ledger: FakeLedger) -> Iterator[services_pb2_grpc.ReportServiceStub]:
    server = ReportServer(
        ReportServicer(ledger.read, retention=timedelta(days=35), clock=lambda: NOW),
        "127.0.0.1:0",
        guard=service_guard(),
    )
    server.start()
    channel = credentialed(grpc.insecure_channel(f"127.0.0.1:{server.port}"))
    try:
        yield services_pb2_grpc.ReportServiceStub(channel)
    finally:
        channel.close()
        server.stop()
        server.join(5.0)


def ask(
    stub: services_pb2_grpc.ReportServiceStub,
    start: datetime,
    end: datetime,
    *group_by: str,
    languages: tuple[str, ...] = (),
) -> services_pb2.SlaReportResponse:
    request = services_pb2.SlaReportRequest(group_by=group_by, languages=languages)
    request.start.FromDatetime(start)
    request.end.FromDatetime(end)
    return stub.SlaReport(request, timeout=5.0)


def test_a_report_of_the_last_day_from_the_owned_partitions(
    stub: services_pb2_grpc.ReportServiceStub, ledger: FakeLedger
) -> None:
    report = ask(stub, NOW - 24 * HOUR, NOW, "language")
    # The window is widened to whole hours, and only those are read.
    assert ledger.asked == [(NOW.replace(minute=0) - 24 * HOUR, NOW.replace(minute=0) + HOUR)]
    assert report.covered_start.ToDatetime(tzinfo=UTC) == NOW.replace(minute=0) - 24 * HOUR
    assert [(tuple(r.group), r.met, r.breached, r.observed) for r in report.rows] == [
        (("en",), 0, 1, 1),
        (("nl",), 2, 0, 2),
    ]
    assert report.total.attainment == pytest.approx(2 / 3)
    # 50 s, 70 s and 4000 s: the median rank (1.5) is half-way into (60, 120].
    assert report.total.p50_seconds == pytest.approx(90.0)
    assert list(report.partitions) == [1, 3] and report.partition_count == 4


def test_filters_travel_to_the_report(stub: services_pb2_grpc.ReportServiceStub) -> None:
    report = ask(stub, NOW - 48 * HOUR, NOW, "clock", languages=("nl",))
    assert [(tuple(r.group), r.met) for r in report.rows] == [(("first_response",), 3)]


@pytest.mark.parametrize(
    ("start", "end", "group_by", "details"),
    [
        (
            NOW,
            NOW - HOUR,
            (),
            "from: 2026-11-26T18:40:00Z is not before to (2026-11-26T17:40:00Z); "
            "the window is [from, to)",
        ),
        (
            NOW - HOUR,
            NOW,
            ("language", "weather"),
            "group_by: cannot group by 'weather'; "
            "choose among language, channel, team, queue, priority, clock, brand",
        ),
        (
            NOW - 40 * 24 * HOUR,
            NOW,
            (),
            "from: 2026-10-17T18:40:00Z is older than the "
            "35-day retention of the hourly SLA tallies; the earliest complete hour is "
            "2026-10-22T19:00:00Z",
        ),
    ],
)
def test_a_bad_request_is_invalid_argument_saying_what_is_wrong(
    stub: services_pb2_grpc.ReportServiceStub,
    ledger: FakeLedger,
    start: datetime,
    end: datetime,
    group_by: tuple[str, ...],
    details: str,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        ask(stub, start, end, *group_by)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == details
    assert ledger.asked == []  # refused before reading anything


def test_an_unset_window_is_refused_not_read_from_the_epoch(
    stub: services_pb2_grpc.ReportServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.SlaReport(services_pb2.SlaReportRequest(), timeout=5.0)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_failing_ledger_is_internal_without_its_detail(
    stub: services_pb2_grpc.ReportServiceStub, ledger: FakeLedger
) -> None:
    ledger.fail = True
    with pytest.raises(grpc.RpcError) as caught:
        ask(stub, NOW - HOUR, NOW)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (caught.value.details() or "")


def test_the_server_names_an_address_it_cannot_take() -> None:
    first = ReportServer(
        ReportServicer(FakeLedger().read, retention=timedelta(days=1)),
        "127.0.0.1:0",
        guard=service_guard(),
    )
    first.start()
    try:
        second = ReportServer(
            ReportServicer(FakeLedger().read, retention=timedelta(days=1)),
            f"127.0.0.1:{first.port}",
            guard=service_guard(),
        )
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{first.port}"):
            second.start()
    finally:
        first.stop()
        first.join(5.0)


class TupleLedger:
    """The ledger processor's reading interface: `retention` and `hourly_view` tuples."""

    retention = timedelta(hours=48)

    def hourly_view(
        self, start: datetime, end: datetime
    ) -> tuple[frozenset[int], int, list[tuple[datetime, OutcomeKey, Tally]]]:
        hour = NOW.replace(minute=0)
        return frozenset({0}), 2, [(hour, key(), tally(30.0, met=1))]


def test_the_servicer_over_the_ledger_processor_uses_its_view_and_retention() -> None:
    servicer = ledger_servicer(TupleLedger(), clock=lambda: NOW)
    server = ReportServer(servicer, "127.0.0.1:0", guard=service_guard())
    server.start()
    channel = credentialed(grpc.insecure_channel(f"127.0.0.1:{server.port}"))
    try:
        stub = services_pb2_grpc.ReportServiceStub(channel)
        report = ask(stub, NOW - HOUR, NOW)
        assert (report.total.met, list(report.partitions), report.partition_count) == (1, [0], 2)
        with pytest.raises(grpc.RpcError) as caught:
            ask(stub, NOW - 72 * HOUR, NOW)
        assert "2-day retention" in (caught.value.details() or "")
    finally:
        channel.close()
        server.stop()
        server.join(5.0)
