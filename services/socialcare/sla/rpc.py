"""The sla service's gRPC ReportService: SLA reports from the ledger's hourly tallies.

Each sla instance owns some partitions of care.sla (consumer group "sla-metrics") and
answers from the tallies of those only, naming them (`partitions`, `partition_count`), so
the gateway, which asks every instance, can add the answers up and tell a complete sum from
one taken while a rebalance moves a partition
(`socialcare.core.domain.sla_reports.coverage_problem`).

The servicer reads the ledger through `HourlyView` snapshots: one call returns the
partitions it counted and their tallies together, taken atomically against the consumer
loop (which adds to the ledgers, and gains and loses partitions, on its own thread), so
the partitions named are exactly the partitions counted.

Every call needs a credential (ADR 0014), checked by the server's `ServiceCallGuard` before
the servicer runs: the gateway's service token, or a user's token with `read_operations`
for every brand (`USER_PERMISSIONS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import grpc

from socialcare.core.auth.principal import Permission
from socialcare.core.auth.service_auth import ServiceCallGuard
from socialcare.core.clock import Clock, utc_now
from socialcare.core.domain.sla_reports import (
    OutcomeKey,
    ReportQuery,
    ReportQueryError,
    Tally,
    build_report,
)
from socialcare.core.errors import InvalidRequestError, abort_call
from socialcare.core.grpc_server import GrpcServer
from socialcare.v1 import services_pb2, services_pb2_grpc


@dataclass(frozen=True, slots=True)
class HourlyView:
    """The hourly tallies of some care.sla partitions, read at one moment.

    `partitions`: the partitions whose tallies are in `tallies` (owned and fully restored;
    a partition still replaying its history is left out, not counted half).
    `partition_count`: how many partitions care.sla has (0 when not known yet).
    `tallies`: (UTC hour start, key, tally) for the hours asked for.
    """

    partitions: frozenset[int]
    partition_count: int
    tallies: Sequence[tuple[datetime, OutcomeKey, Tally]]


HourlyReader = Callable[[datetime, datetime], HourlyView]
"""Reads the tallies of the hours in [start, end) (hour starts, UTC). Thread-safe: called
from gRPC worker threads while the consumer loop writes."""


class LedgerReading(Protocol):
    """What the servicer reads of the ledger processor (`sla.ledger_processor`)."""

    @property
    def retention(self) -> timedelta:
        """How far back hourly tallies are kept."""
        ...

    def hourly_view(
        self, start: datetime, end: datetime
    ) -> tuple[frozenset[int], int, Sequence[tuple[datetime, OutcomeKey, Tally]]]:
        """(partitions counted, care.sla's partition count, their tallies of the hours in
        [start, end)), taken at one instant."""
        ...


def ledger_servicer(ledger: LedgerReading, *, clock: Clock = utc_now) -> ReportServicer:
    """The ReportService over the ledger processor of this process (its retention too)."""

    def read(start: datetime, end: datetime) -> HourlyView:
        partitions, partition_count, tallies = ledger.hourly_view(start, end)
        return HourlyView(partitions, partition_count, tallies)

    return ReportServicer(read, retention=ledger.retention, clock=clock)


class ReportServicer(services_pb2_grpc.ReportServiceServicer):
    """Answers SlaReport from `read` (the ledger processor's view of its partitions).

    `retention`: how long the ledger keeps hourly tallies; a window reaching back further
    is refused (INVALID_ARGUMENT) rather than answered with the hours that are gone
    silently missing. `clock` says what "now" is for that check.
    """

    def __init__(self, read: HourlyReader, *, retention: timedelta, clock: Clock = utc_now) -> None:
        if retention <= timedelta(0):
            raise ValueError("retention must be positive")
        self._read = read
        self._retention = retention
        self._clock = clock

    def SlaReport(  # noqa: N802 (gRPC method name)
        self, request: services_pb2.SlaReportRequest, context: grpc.ServicerContext
    ) -> services_pb2.SlaReportResponse:
        try:
            try:
                query = ReportQuery.from_request(request)
                query.check_retention(self._clock(), self._retention)
            except ReportQueryError as exc:
                raise InvalidRequestError(exc.message, field=exc.field) from exc
            view = self._read(query.covered_start, query.covered_end)
            return build_report(
                query,
                view.tallies,
                partitions=view.partitions,
                partition_count=view.partition_count,
            )
        except Exception as exc:  # abort_call maps (and logs) every failure
            abort_call(context, exc, method="ReportService.SlaReport")


USER_PERMISSIONS = {"socialcare.v1.ReportService": Permission.READ_OPERATIONS}
"""What a user's token needs, for every brand, to call the ReportService directly (the
permission of `GET /v1/reports/sla`, which reads through it)."""


class ReportServer(GrpcServer):
    """The ReportService's gRPC server as a runtime Component (name/start/stop/join).

    No SO_REUSEPORT: a second instance on a taken port must fail at start, not share the
    port and split the gateway's calls between two different sets of partitions. `guard`
    refuses every call without a valid credential (normally with `USER_PERMISSIONS`).
    """

    def __init__(
        self,
        servicer: ReportServicer,
        address: str,
        *,
        guard: ServiceCallGuard,
        workers: int = 4,
    ) -> None:
        super().__init__(
            "sla-report-service",
            address,
            lambda server: services_pb2_grpc.add_ReportServiceServicer_to_server(servicer, server),
            service="ReportService",
            setting_hint="set SOCIALCARE_SLA_GRPC_ADDRESS to a free address",
            workers=workers,
            grace_s=2.0,
            interceptors=[guard],
        )
