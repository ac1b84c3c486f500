"""Reports over REST: SLA (`GET /v1/reports/sla`, answered by every sla instance together)
and satisfaction (`GET /v1/reports/satisfaction`, by every routing instance; see its
section below).

The figures come from the sla service's gRPC ReportService (`socialcare.sla.rpc`), derived
from the events on care.sla exactly once (the SLA ledger). The sla service runs as N
instances, each counting the care.sla partitions it owns, so the gateway asks every instance
at once (one deadline for all) and adds the answers up
(`socialcare.core.domain.sla_reports.merge_reports`: counts and histogram buckets add,
percentiles are recomputed from the sum). Only a complete sum is an answer: every partition
counted exactly once. During a rebalance a partition may have no owner, or two, for a
moment; the report then answers 503 with `Retry-After` rather than figures that are silently
too low or too high. Likewise when an instance that owns partitions cannot be reached (one
that owns none, a pod scaled away, does not matter: the others' answers are complete without
it).

The request, and what each parameter may be, is the same question the gRPC service answers
(`ReportQuery`): the gateway checks it first, so a bad parameter is a 400 naming it without
a round trip; the sla service checks it again (it alone knows the retention).

Who sees what (ADR 0007): the `read_operations` permission; a principal restricted to some
brands sees the figures of those brands only (the query's brand filter is narrowed to them;
asking for another brand is 403).

`ReportClient` finds and asks the instances like the CaseService client does
(`socialcare.gateway.instances`: a fixed list, or one name resolved to every address and
re-resolved every 30 s). Reports are rare requests, so a due re-resolution runs on the
request's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from socialcare.core.auth import Permission, Principal, require
from socialcare.core.clock import Clock, from_timestamp, to_timestamp, utc_now
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.sla_reports import (
    DIMENSIONS,
    IncompatibleReportsError,
    ReportQuery,
    ReportQueryError,
    build_report,
    coverage_problem,
    merge_reports,
)
from socialcare.core.errors import (
    ForbiddenError,
    InvalidRequestError,
    UnavailableError,
    UpstreamError,
)
from socialcare.core.http_errors import error_responses
from socialcare.gateway.access import BrandScope
from socialcare.gateway.cases import CaseClient, CaseServiceError, RoutingUnavailableError
from socialcare.gateway.instances import (
    UNREACHABLE,
    Credential,
    InstancePool,
    Resolver,
    resolve_addresses,
)
from socialcare.gateway.models import SatisfactionReportRead
from socialcare.v1 import case_pb2, services_pb2, services_pb2_grpc

log = logging.getLogger(__name__)

# The default window: the last day.
DEFAULT_WINDOW = timedelta(hours=24)
# The satisfaction report's default window: the last 30 days (answers are few).
SATISFACTION_WINDOW = timedelta(days=30)
# A parameter longer than this is refused before it is parsed (or echoed in an error).
MAX_PARAMETER_LENGTH = 1000


class ReportParameterError(InvalidRequestError):
    """A report parameter that cannot be used as given: 400 naming it (`from`, `to`,
    `group_by`, `clock`, ...). Sending it again unchanged will fail again."""

    http_status = HTTPStatus.BAD_REQUEST
    default_code = "invalid_parameter"


# -- the client of the sla instances ---------------------------------------------------


class SlaReportsError(Exception):
    """An sla instance failed on a report request (it answered with an error)."""


class SlaUnavailableError(SlaReportsError):
    """No complete report can be had now: an sla instance is unreachable or too slow, or a
    rebalance is moving a care.sla partition between instances. Retrying later helps."""


class SlaRefusedError(SlaReportsError):
    """An sla instance refused the request as invalid (INVALID_ARGUMENT); `field` is the
    request field it named, when it named one."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ReportClient(InstancePool[services_pb2_grpc.ReportServiceStub]):
    """Asks every sla instance for a report and adds the answers up. Thread-safe.

    `targets` as `CaseTargets.parse` reads them; a due re-resolution of a name runs on the
    request's thread (see `InstancePool`). Closed, or with no instance known:
    SlaUnavailableError. Also a runtime `Component`: the channels are closed at `join`,
    after the HTTP server has drained its requests.
    """

    name = "gateway-report-client"

    def __init__(
        self,
        targets: str,
        *,
        timeout_s: float = 5.0,
        refresh_s: float = 30.0,
        resolver: Resolver = resolve_addresses,
        credential: Credential | None = None,
    ) -> None:
        super().__init__(
            targets,
            stub=services_pb2_grpc.ReportServiceStub,
            service="the sla ReportService",
            unavailable=SlaUnavailableError,
            timeout_s=timeout_s,
            refresh_s=refresh_s,
            resolver=resolver,
            refresh_in_background=False,
            credential=credential,
        )

    def sla_report(self, query: ReportQuery) -> services_pb2.SlaReportResponse:
        """The report of every instance added up; complete (each care.sla partition counted
        once) or an error. Blocks for at most about `timeout_s` (plus a due name
        resolution).

        Completeness is the test, not whether every instance answered: when the answers
        that came cover every partition exactly once, the instances that failed own none
        (a pod being scaled down or starting up), and the sum is the whole truth.
        Otherwise raises SlaRefusedError (an instance found the request invalid),
        SlaUnavailableError (an instance unreachable or too slow, or a partition between
        owners), SlaReportsError (an instance failed otherwise, or the answers do not add
        up)."""
        answers, failures = self.ask_all(lambda stub: stub.SlaReport, query.to_request())
        for failure in failures:
            if failure.code == grpc.StatusCode.INVALID_ARGUMENT:
                raise _refusal(failure.details)
        merged = None
        if answers:
            try:
                merged = merge_reports(answers)
            except IncompatibleReportsError as exc:
                raise SlaReportsError(str(exc)) from exc
            if coverage_problem(merged) is None:
                if failures:
                    # Complete without them: they own no partition now (a pod scaled
                    # down, or one starting up), so their silence changes nothing.
                    log.info(
                        "sla report complete without some instances",
                        extra={"failed": [failure.address for failure in failures]},
                    )
                return merged
        if failures:
            detail = "ReportService.SlaReport: " + "; ".join(str(f) for f in failures)
            if {failure.code for failure in failures} <= UNREACHABLE:
                raise SlaUnavailableError(detail)
            raise SlaReportsError(detail)
        assert merged is not None  # answers from every instance, and at least one instance
        raise SlaUnavailableError(
            f"{coverage_problem(merged)}; retry shortly (a rebalance is moving it)"
        )


def _refusal(details: str) -> SlaRefusedError:
    """An INVALID_ARGUMENT's details (`field: message`, see core.errors.grpc_status)."""
    field, sep, message = details.partition(": ")
    if sep and field in _REQUEST_FIELDS:
        return SlaRefusedError(field, message)
    return SlaRefusedError(None, details)


_REQUEST_FIELDS = frozenset({"from", "to", "group_by", "clock", "language", "brand"})


# -- the REST route ----------------------------------------------------------------------


class SlaFiguresRead(BaseModel):
    """How the response-time promises were kept in one group (or in total)."""

    met: int = Field(description="Clocks stopped within their target (MET events).")
    breached: int = Field(description="Clocks that ran past their target (BREACHED events).")
    attainment: float | None = Field(
        description="met / (met + breached); null when the group has neither."
    )
    observed: int = Field(
        description="Response times observed: clocks stopped (MET, or STOPPED after a "
        "breach, counting the whole wait) in the window."
    )
    p50_seconds: float | None = Field(
        description="Median response time, interpolated in its histogram bucket as "
        "Prometheus's histogram_quantile does: off by less than the bucket's width (e.g. "
        "under 30 s between 30 s and 60 s, under 1 h between 1 h and 2 h); above the last "
        "bound (7 days) the value is that bound. null when nothing was observed."
    )
    p90_seconds: float | None = Field(description="90th percentile; see p50_seconds.")
    p99_seconds: float | None = Field(description="99th percentile; see p50_seconds.")
    mean_seconds: float | None = Field(description="Exact mean; null when nothing observed.")
    warnings: int = Field(description="Warnings before a breach (WARNING events).")
    at_risk: int = Field(description="Clocks predicted to breach (AT_RISK events).")


class SlaReportRowRead(SlaFiguresRead):
    group: dict[str, str] = Field(
        description='The row\'s value of each group_by dimension (team "": no team; '
        '"other": a value outside the configuration).'
    )


class ReportWindowRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="Start (inclusive), UTC.")
    to: datetime = Field(description="End (exclusive), UTC.")


class SlaReportRead(BaseModel):
    requested: ReportWindowRead = Field(description="The window asked for.")
    covered: ReportWindowRead = Field(
        description="The whole UTC hours counted (the tallies are hourly): the requested "
        "window widened to hour boundaries."
    )
    group_by: list[str]
    rows: list[SlaReportRowRead] = Field(description="One per group, sorted by group.")
    total: SlaFiguresRead


Operator = Annotated[Principal, Depends(require(Permission.READ_OPERATIONS))]
Parameter = Annotated[str | None, Query()]

_REPORT_ERRORS = error_responses(
    400,
    401,
    403,
    422,
    502,
    503,
    descriptions={
        400: "A parameter cannot be used as given; `field` names it (`invalid_parameter`): "
        "`from`/`to` not RFC 3339 or a date, `from` not before `to` or older than the "
        "retention of the tallies, an unknown `group_by` dimension or `clock`.",
        401: "No credential, or not a valid one.",
        403: "The credential lacks `read_operations`, or asks for a brand it does not see "
        "(`forbidden`, `field`: `brand`).",
        422: "Not sent by this route: its parameters are checked as 400.",
        502: "An sla instance failed on the request (`sla_failed`).",
        503: "An sla instance is unreachable, or a rebalance is moving a care.sla partition "
        "(`sla_unavailable`); retry after `Retry-After` seconds.",
    },
)


def reports_router(*, care: CareConfig, reports: ReportClient, clock: Clock = utc_now) -> APIRouter:
    """`GET /v1/reports/sla` over these sla instances."""
    api = APIRouter(prefix="/v1")

    @api.get(
        "/reports/sla",
        tags=["reports"],
        summary="SLA attainment and response-time percentiles over a window, grouped",
        response_model=SlaReportRead,
        responses=_REPORT_ERRORS,
    )
    def sla_report(
        principal: Operator,
        from_: Annotated[
            str | None,
            Query(
                alias="from",
                description="Start (inclusive): RFC 3339 with an offset "
                "(2026-11-25T08:00:00Z) or a date (2026-11-25, its midnight UTC). Default: "
                "`to` minus 24 h.",
            ),
        ] = None,
        to: Annotated[
            str | None,
            Query(description="End (exclusive), as `from`. Default: now."),
        ] = None,
        group_by: Annotated[
            str | None,
            Query(
                description="Comma-separated dimensions, in the order wanted: "
                f"{', '.join(DIMENSIONS)}. Empty: the total only."
            ),
        ] = None,
        clock_: Annotated[
            str | None,
            Query(
                alias="clock",
                description="Only these clocks (comma-separated): first_response, "
                "next_response, resolution.",
            ),
        ] = None,
        language: Annotated[
            str | None,
            Query(description="Only these languages (comma-separated; unconfigured = other)."),
        ] = None,
        brand: Annotated[
            str | None, Query(description="Only these brands (comma-separated).")
        ] = None,
    ) -> dict[str, Any]:
        params = {
            "from": from_,
            "to": to,
            "group_by": group_by,
            "clock": clock_,
            "language": language,
            "brand": brand,
        }
        for name, value in params.items():
            if value is not None and len(value) > MAX_PARAMETER_LENGTH:
                raise _bad(name, f"longer than {MAX_PARAMETER_LENGTH} characters")
        now = clock()
        end = _moment("to", to) if to is not None else now
        start = _moment("from", from_) if from_ is not None else end - DEFAULT_WINDOW
        scope = BrandScope.of(care, principal)
        brands = brand_filter(scope, _listed(brand))
        try:
            query = ReportQuery.of(
                start,
                end,
                group_by=_listed(group_by),
                clocks=_listed(clock_),
                languages=[care.metric_language(code) for code in _listed(language)],
                brands=brands or (),
            )
        except ReportQueryError as exc:
            raise _bad(exc.field, exc.message) from exc
        if brands is not None and not brands:
            # Sees no brand at all: nothing to count (an empty filter would mean "any").
            report = build_report(query, [], partitions=(), partition_count=0)
        else:
            report = _ask(reports, query)
        return _report_json(query, report)

    return api


def _ask(reports: ReportClient, query: ReportQuery) -> services_pb2.SlaReportResponse:
    try:
        return reports.sla_report(query)
    except SlaRefusedError as exc:
        raise _bad(exc.field or "query", exc.message) from exc
    except SlaUnavailableError as exc:
        raise UnavailableError(f"sla reports unavailable: {exc}", code="sla_unavailable") from exc
    except SlaReportsError as exc:
        raise UpstreamError(f"sla reports failed: {exc}", code="sla_failed") from exc


def brand_filter(scope: BrandScope, asked: list[str]) -> list[str] | None:
    """The brand filter to send: None for "any" (the principal sees every brand and asked
    for none); else the brands asked for, or all the principal sees. ForbiddenError
    naming `brand` for a brand asked for but not seen."""
    if scope.everything:
        return asked or None
    seen = sorted(scope.seen or ())
    hidden = [name for name in asked if name not in seen]
    if hidden:
        raise ForbiddenError(f"you do not see brand {hidden[0]!r}", field="brand")
    return asked or seen


def _listed(value: str | None) -> list[str]:
    """A comma-separated parameter's items, blanks dropped."""
    if value is None:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def _moment(name: str, text: str) -> datetime:
    """RFC 3339 with an offset, or a date (its midnight UTC). ReportParameterError naming
    the parameter otherwise."""
    text = text.strip()
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(
            name, "expected RFC 3339 (2026-11-25T08:00:00Z) or a date (2026-11-25)"
        ) from None
    if moment.tzinfo is None:
        raise _bad(name, "a time needs an offset (Z or +01:00): which time zone is meant?")
    return moment.astimezone(UTC)


def _bad(field: str, message: str) -> ReportParameterError:
    return ReportParameterError(f"{field}: {message}", field=field)


def _figures(row: services_pb2.SlaReportRow) -> dict[str, Any]:
    def optional(name: str) -> float | None:
        return getattr(row, name) if row.HasField(name) else None  # type: ignore[arg-type]

    return {
        "met": row.met,
        "breached": row.breached,
        "attainment": optional("attainment"),
        "observed": row.observed,
        "p50_seconds": optional("p50_seconds"),
        "p90_seconds": optional("p90_seconds"),
        "p99_seconds": optional("p99_seconds"),
        "mean_seconds": optional("mean_seconds"),
        "warnings": row.warnings,
        "at_risk": row.at_risk,
    }


def _report_json(query: ReportQuery, report: services_pb2.SlaReportResponse) -> dict[str, Any]:
    return {
        "requested": {"from": query.start, "to": query.end},
        "covered": {
            "from": from_timestamp(report.covered_start),
            "to": from_timestamp(report.covered_end),
        },
        "group_by": list(report.group_by),
        # With no group_by the one row (the empty group) is the total: not repeated.
        "rows": [
            {"group": dict(zip(report.group_by, row.group, strict=True)), **_figures(row)}
            for row in report.rows
            if report.group_by
        ],
        "total": _figures(report.total),
    }


# -- satisfaction (CSAT / NPS) -----------------------------------------------------------
#
# Routing counts the survey answers of the cases in the partitions each instance owns
# (CaseService.SatisfactionReport: raw counts per kind, channel and language); the gateway
# adds every instance's rows up (`CaseClient.satisfaction_report`) and derives the figures
# per group here, so two partial rows merge exactly.

SATISFACTION_DIMENSIONS = ("channel", "language")
_KIND_NAMES = {case_pb2.SURVEY_KIND_CSAT: "csat", case_pb2.SURVEY_KIND_NPS: "nps"}
# The scores each kind's answers can have.
_SCALES = {"csat": range(1, 6), "nps": range(0, 11)}


def satisfaction_figures(rows: Sequence[services_pb2.SatisfactionRow]) -> dict[str, Any]:
    """The figures of `rows` together: surveys sent and answered, the response rate, CSAT
    (share of 4-5 among CSAT answers) and its average, NPS (% promoters 9-10 minus %
    detractors 0-6 among NPS answers), and the answers per score per kind."""
    sent = sum(row.sent for row in rows)
    answered = sum(row.answered for row in rows)
    distribution: dict[str, dict[str, int]] = {}
    for row in rows:
        kind = _KIND_NAMES.get(row.kind)
        if kind is None:
            continue
        counts = distribution.setdefault(kind, {str(score): 0 for score in _SCALES[kind]})
        for score, count in enumerate(row.score_counts):
            if str(score) in counts:
                counts[str(score)] += count
    csat = distribution.get("csat", {})
    csat_answers = sum(csat.values())
    nps = distribution.get("nps", {})
    nps_answers = sum(nps.values())
    promoters = sum(count for score, count in nps.items() if int(score) >= 9)
    detractors = sum(count for score, count in nps.items() if int(score) <= 6)
    return {
        "sent": sent,
        "answered": answered,
        "response_rate": answered / sent if sent else None,
        "csat": (
            sum(count for score, count in csat.items() if int(score) >= 4) / csat_answers
            if csat_answers
            else None
        ),
        "csat_average": (
            sum(int(score) * count for score, count in csat.items()) / csat_answers
            if csat_answers
            else None
        ),
        "nps": 100.0 * (promoters - detractors) / nps_answers if nps_answers else None,
        "distribution": distribution,
    }


def satisfaction_json(
    rows: Sequence[services_pb2.SatisfactionRow], group_by: Sequence[str]
) -> dict[str, Any]:
    """The report: one row per group (sorted), and the total."""
    groups: dict[tuple[str, ...], list[services_pb2.SatisfactionRow]] = {}
    for row in rows:
        values = {"channel": row.channel, "language": row.language}
        groups.setdefault(tuple(values[d] for d in group_by), []).append(row)
    return {
        "group_by": list(group_by),
        "rows": [
            {"group": dict(zip(group_by, key, strict=True)), **satisfaction_figures(members)}
            for key, members in sorted(groups.items())
            if group_by
        ],
        "total": satisfaction_figures(rows),
    }


_SATISFACTION_ERRORS = error_responses(
    400,
    401,
    403,
    422,
    502,
    503,
    descriptions={
        400: "A parameter cannot be used as given; `field` names it (`invalid_parameter`): "
        "`from`/`to` not RFC 3339 or a date, `from` not before `to`, an unknown `group_by` "
        "dimension.",
        401: "No credential, or not a valid one.",
        403: "The credential lacks `read_operations`, or asks for a brand it does not see "
        "(`forbidden`, `field`: `brand`).",
        422: "Not sent by this route: its parameters are checked as 400.",
        502: "A routing instance failed on the request (`routing_failed`).",
        503: "A routing instance is unreachable (`routing_unavailable`); retry after "
        "`Retry-After` seconds.",
    },
)


def satisfaction_router(
    *, care: CareConfig, cases: CaseClient, clock: Clock = utc_now
) -> APIRouter:
    """`GET /v1/reports/satisfaction` over every routing instance."""
    api = APIRouter(prefix="/v1")

    @api.get(
        "/reports/satisfaction",
        tags=["reports"],
        summary="CSAT and NPS after resolution, per channel and language",
        response_model=SatisfactionReportRead,
        responses=_SATISFACTION_ERRORS,
    )
    def satisfaction_report(
        principal: Operator,
        from_: Annotated[
            str | None,
            Query(
                alias="from",
                description="Answers from (inclusive): RFC 3339 with an offset or a date. "
                "Default: `to` minus 30 days.",
            ),
        ] = None,
        to: Annotated[
            str | None, Query(description="Answers before (exclusive), as `from`. Default: now.")
        ] = None,
        group_by: Annotated[
            str | None,
            Query(
                description="Comma-separated dimensions: "
                f"{', '.join(SATISFACTION_DIMENSIONS)}. Empty: the total only."
            ),
        ] = None,
        brand: Annotated[
            str | None, Query(description="Only these brands (comma-separated).")
        ] = None,
    ) -> dict[str, Any]:
        params = {"from": from_, "to": to, "group_by": group_by, "brand": brand}
        for name, value in params.items():
            if value is not None and len(value) > MAX_PARAMETER_LENGTH:
                raise _bad(name, f"longer than {MAX_PARAMETER_LENGTH} characters")
        end = _moment("to", to) if to is not None else clock()
        start = _moment("from", from_) if from_ is not None else end - SATISFACTION_WINDOW
        if start >= end:
            raise _bad("from", "must be before `to`")
        dimensions = _listed(group_by)
        for dimension in dimensions:
            if dimension not in SATISFACTION_DIMENSIONS:
                raise _bad(
                    "group_by",
                    f"{dimension!r} is not one of {', '.join(SATISFACTION_DIMENSIONS)}",
                )
        if len(set(dimensions)) != len(dimensions):
            raise _bad("group_by", "names a dimension twice")
        brands = brand_filter(BrandScope.of(care, principal), _listed(brand))
        if brands is not None and not brands:
            return satisfaction_json([], dimensions)
        request = services_pb2.SatisfactionReportRequest(
            brands=brands or [], **{"from": to_timestamp(start)}, to=to_timestamp(end)
        )
        try:
            rows = cases.satisfaction_report(request)
        except RoutingUnavailableError as exc:
            raise UnavailableError(
                f"routing unavailable: {exc}", code="routing_unavailable"
            ) from exc
        except CaseServiceError as exc:
            raise UpstreamError(f"routing failed: {exc}", code="routing_failed") from exc
        return satisfaction_json(rows, dimensions)

    return api
