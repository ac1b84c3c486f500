"""SLA reports: the hourly tallies of the SLA ledger over a window, grouped and summed.

Pure (no I/O, no clock: `now` is passed in), and in core because two services share it, so
both doors answer the same question the same way: the sla service's gRPC ReportService
builds one instance's partial report from the tallies of the partitions it owns
(`build_report`), and the gateway adds up the partial reports of every instance (`merge_reports`).

Why the rows carry raw figures: a percentile of a union cannot be computed from the
percentiles of its parts, but histogram bucket counts add. So a row holds what adds (met,
breached, warnings, at_risk, the bucket counts, their seconds and count) and the derived
figures (attainment, p50/p90/p99, mean) are recomputed from them after every merge; a
report merged from N instances is then exactly the report of one instance owning every
partition (the tests check it).

Percentiles are interpolated linearly inside the bucket that holds the rank, exactly as
Prometheus's `histogram_quantile` does over the same buckets (the dashboards and the
reports agree). The error bound: the true percentile lies in that same bucket, so the
answer is off by less than the bucket's width (between 30 s and 60 s: under 30 s;
between 1 h and 2 h: under 1 h). A rank in the bucket above the last bound (7 days) has no
upper edge; the answer is the last bound, a lower bound of the truth.

The window: tallies are hourly, so a request [from, to) is widened to whole UTC hours,
[floor(from), ceil(to)); the report names that covered window, so a reader knows an hour
partly outside the request was counted whole.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from socialcare.v1 import services_pb2

# Upper bounds (seconds, inclusive) of the response-time histogram buckets: 30 s .. 7 days.
# A `Tally` holds one count per bound plus one for "above the last bound" (+Inf).
BUCKET_BOUNDS: tuple[float, ...] = (
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    43200.0,
    86400.0,
    172800.0,
    259200.0,
    604800.0,
)

# The `clock` label values, by SlaClockKind (UNSPECIFIED reads as first response; a kind
# this version does not know reads "other").
CLOCKS: tuple[str, ...] = ("first_response", "next_response", "resolution")


@dataclass(frozen=True, slots=True, order=True)
class OutcomeKey:
    """The dimensions one hourly tally is kept under. Every value is bounded: languages,
    queues, teams and brands outside the config read "other" (see `Labels`)."""

    clock: str  # one of CLOCKS (or "other")
    language: str
    channel: str  # CareConfig.metric_channel: x, facebook, ... or "other"
    queue: str
    priority: str  # low | normal | high | urgent | other
    team: str  # "" when the case has no team
    brand: str


@dataclass(frozen=True, slots=True)
class Tally:
    """What happened to the clocks of one `OutcomeKey` (in one hour, or in total).

    `met` and `breached` count MET and BREACHED events; `warnings` WARNING events (any
    threshold) and `at_risk` AT_RISK events. The histogram is over the wall seconds a clock
    ran until it stopped (MET, or STOPPED after a breach): `buckets[i]` counts observations
    in (BUCKET_BOUNDS[i-1], BUCKET_BOUNDS[i]] - NOT cumulative - and `buckets[-1]` those
    above the last bound; `observed` = sum(buckets), `seconds_sum` their total seconds.
    Immutable, so a reader on another thread can keep one while the ledger moves on.
    """

    met: int = 0
    breached: int = 0
    warnings: int = 0
    at_risk: int = 0
    buckets: tuple[int, ...] = (0,) * (len(BUCKET_BOUNDS) + 1)
    seconds_sum: float = 0.0
    observed: int = 0

    def merged(self, other: Tally) -> Tally:
        """The sum of two tallies (e.g. hours into a day, or keys into a team)."""
        return Tally(
            met=self.met + other.met,
            breached=self.breached + other.breached,
            warnings=self.warnings + other.warnings,
            at_risk=self.at_risk + other.at_risk,
            buckets=tuple(a + b for a, b in zip(self.buckets, other.buckets, strict=True)),
            seconds_sum=self.seconds_sum + other.seconds_sum,
            observed=self.observed + other.observed,
        )

    def cumulative_buckets(self) -> tuple[int, ...]:
        """Prometheus-style counts: observations <= each bound, then the total (+Inf)."""
        running = 0
        out: list[int] = []
        for count in self.buckets:
            running += count
            out.append(running)
        return tuple(out)


# What rows may be grouped by, in the order the REST docs list them. Each is an
# `OutcomeKey` field of the same name.
DIMENSIONS: tuple[str, ...] = ("language", "channel", "team", "queue", "priority", "clock", "brand")

# The percentiles every row reports.
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))

HOUR = timedelta(hours=1)


class ReportQueryError(ValueError):
    """A report request that cannot be answered as asked; `field` names the request field
    at fault (`from`, `to`, `group_by`, `clock`), the message says what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class IncompatibleReportsError(ValueError):
    """Partial reports that cannot be added up: they were asked different questions, or
    their instances bucket the histogram differently (a rolling upgrade that changed the
    bounds). A fault of the instances, not of the request."""


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A validated report request. `start`/`end` are the asked window (UTC); `covered_*` the
    whole hours counted. Empty filters mean "any". Build with `ReportQuery.of`."""

    start: datetime
    end: datetime
    group_by: tuple[str, ...] = ()
    clocks: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        start: datetime,
        end: datetime,
        *,
        group_by: Sequence[str] = (),
        clocks: Iterable[str] = (),
        languages: Iterable[str] = (),
        brands: Iterable[str] = (),
    ) -> ReportQuery:
        """Check a request; raises ReportQueryError naming the field. Times must be
        timezone-aware (a naive time has no instant to compare)."""
        for field, moment in (("from", start), ("to", end)):
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ReportQueryError(field, f"{field} must carry a time zone (e.g. Z)")
        if start >= end:
            raise ReportQueryError(
                "from",
                f"{_iso(start)} is not before to ({_iso(end)}); the window is [from, to)",
            )
        seen: set[str] = set()
        for dimension in group_by:
            if dimension not in DIMENSIONS:
                raise ReportQueryError(
                    "group_by",
                    f"cannot group by {dimension!r}; choose among {', '.join(DIMENSIONS)}",
                )
            if dimension in seen:
                raise ReportQueryError("group_by", f"{dimension!r} is listed twice")
            seen.add(dimension)
        clock_set = frozenset(clocks)
        unknown = sorted(clock_set - set(CLOCKS))
        if unknown:
            raise ReportQueryError(
                "clock", f"unknown clock {unknown[0]!r}; choose among {', '.join(CLOCKS)}"
            )
        return cls(
            start=start.astimezone(UTC),
            end=end.astimezone(UTC),
            group_by=tuple(group_by),
            clocks=clock_set,
            languages=frozenset(languages),
            brands=frozenset(brands),
        )

    @property
    def covered_start(self) -> datetime:
        return floor_hour(self.start)

    @property
    def covered_end(self) -> datetime:
        return ceil_hour(self.end)

    def check_retention(self, now: datetime, retention: timedelta) -> None:
        """Refuse a window reaching back past the tallies kept: the hours before
        `now - retention` are dropped, so counting them would silently give too little."""
        earliest = floor_hour(now - retention) + HOUR
        if self.covered_start < earliest:
            days = retention / timedelta(days=1)
            raise ReportQueryError(
                "from",
                f"{_iso(self.start)} is older than the {days:g}-day retention of the "
                f"hourly SLA tallies; the earliest complete hour is {_iso(earliest)}",
            )

    def selects(self, key: OutcomeKey) -> bool:
        """True when the filters let a tally of `key` into the report."""
        return (
            (not self.clocks or key.clock in self.clocks)
            and (not self.languages or key.language in self.languages)
            and (not self.brands or key.brand in self.brands)
        )

    def group_of(self, key: OutcomeKey) -> tuple[str, ...]:
        """The values of `key` in the group_by dimensions, in their order."""
        return tuple([getattr(key, dimension) for dimension in self.group_by])

    def to_request(self) -> services_pb2.SlaReportRequest:
        request = services_pb2.SlaReportRequest(
            group_by=self.group_by,
            clocks=sorted(self.clocks),
            languages=sorted(self.languages),
            brands=sorted(self.brands),
        )
        request.start.FromDatetime(self.start)
        request.end.FromDatetime(self.end)
        return request

    @classmethod
    def from_request(cls, request: services_pb2.SlaReportRequest) -> ReportQuery:
        """The query of a gRPC request; ReportQueryError as `of` (a missing start or end
        reads as the epoch, which fails the retention check or the ordering)."""
        return cls.of(
            request.start.ToDatetime(tzinfo=UTC),
            request.end.ToDatetime(tzinfo=UTC),
            group_by=list(request.group_by),
            clocks=request.clocks,
            languages=request.languages,
            brands=request.brands,
        )


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour holding `moment`."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    """The first UTC hour start at or after `moment`."""
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def percentile(bounds: Sequence[float], buckets: Sequence[int], quantile: float) -> float | None:
    """The `quantile` (0 < q <= 1) of a histogram: `buckets[i]` observations in
    (bounds[i-1], bounds[i]] (the first from 0), the last one above every bound. None when
    empty. Prometheus's `histogram_quantile` rule; see the module docstring for the error.
    """
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], not {quantile}")
    if len(buckets) != len(bounds) + 1:
        raise ValueError(f"{len(buckets)} bucket counts for {len(bounds)} bounds (+1 above)")
    total = sum(buckets)
    if total == 0:
        return None
    rank = quantile * total
    below = 0
    for index, count in enumerate(buckets):
        if below + count >= rank:
            if index == len(bounds):
                return float(bounds[-1])
            lower = float(bounds[index - 1]) if index else 0.0
            upper = float(bounds[index])
            return lower + (upper - lower) * (rank - below) / count
        below += count
    return float(bounds[-1])  # unreachable: the last bucket reaches the total


def group_tallies(
    query: ReportQuery, tallies: Iterable[tuple[datetime, OutcomeKey, Tally]]
) -> dict[tuple[str, ...], Tally]:
    """The tallies of the covered hours that pass the filters, added up per group."""
    members: dict[tuple[str, ...], list[Tally]] = {}
    start, end = query.covered_start, query.covered_end
    filtered = bool(query.clocks or query.languages or query.brands)
    group_of = query.group_of
    for hour, key, tally in tallies:
        if start <= hour < end and (not filtered or query.selects(key)):
            members.setdefault(group_of(key), []).append(tally)
    return {group: added(found) for group, found in members.items()}


def added(tallies: Sequence[Tally]) -> Tally:
    """The sum of many tallies at once (a 35-day report adds ~10^5 of them: column sums
    are several times faster than merging them pairwise)."""
    if len(tallies) == 1:
        return tallies[0]
    return Tally(
        met=sum(t.met for t in tallies),
        breached=sum(t.breached for t in tallies),
        warnings=sum(t.warnings for t in tallies),
        at_risk=sum(t.at_risk for t in tallies),
        buckets=tuple(map(sum, zip(*(t.buckets for t in tallies), strict=True))),
        seconds_sum=math.fsum(t.seconds_sum for t in tallies),
        observed=sum(t.observed for t in tallies),
    )


def report_row(group: Sequence[str], tally: Tally) -> services_pb2.SlaReportRow:
    """A row with the tally's raw figures and the figures derived from them."""
    row = services_pb2.SlaReportRow(
        group=group,
        met=tally.met,
        breached=tally.breached,
        observed=tally.observed,
        buckets=tally.buckets,
        seconds_sum=tally.seconds_sum,
        warnings=tally.warnings,
        at_risk=tally.at_risk,
    )
    decided = tally.met + tally.breached
    if decided:
        row.attainment = tally.met / decided
    if tally.observed:
        row.mean_seconds = tally.seconds_sum / tally.observed
        for name, quantile in PERCENTILES:
            value = percentile(BUCKET_BOUNDS, tally.buckets, quantile)
            if value is not None and math.isfinite(value):
                setattr(row, f"{name}_seconds", value)
    return row


def row_tally(row: services_pb2.SlaReportRow) -> Tally:
    """The raw figures of a row, to add up. IncompatibleReportsError when its histogram
    has another number of buckets than this build's."""
    if len(row.buckets) != len(BUCKET_BOUNDS) + 1:
        raise IncompatibleReportsError(
            f"a row has {len(row.buckets)} histogram buckets, this build {len(BUCKET_BOUNDS) + 1}"
        )
    return Tally(
        met=row.met,
        breached=row.breached,
        warnings=row.warnings,
        at_risk=row.at_risk,
        buckets=tuple(row.buckets),
        seconds_sum=row.seconds_sum,
        observed=row.observed,
    )


def build_report(
    query: ReportQuery,
    tallies: Iterable[tuple[datetime, OutcomeKey, Tally]],
    *,
    partitions: Collection[int],
    partition_count: int,
) -> services_pb2.SlaReportResponse:
    """One instance's report: its tallies (of `partitions`, out of `partition_count`)
    grouped, filtered and summed over the covered hours."""
    return _response(
        query.group_by,
        group_tallies(query, tallies),
        covered=(query.covered_start, query.covered_end),
        partitions=partitions,
        partition_count=partition_count,
    )


def merge_reports(
    parts: Sequence[services_pb2.SlaReportResponse],
) -> services_pb2.SlaReportResponse:
    """The reports of several instances added up, as one instance owning all their
    partitions would have answered. The parts must answer the same question (group_by,
    covered window, buckets): IncompatibleReportsError otherwise. `partitions` of the
    result lists each partition once per part that counted it (so a partition counted
    twice shows twice: see `coverage_problem`)."""
    if not parts:
        raise ValueError("no report to merge")
    first = parts[0]
    for part in parts[1:]:
        if tuple(part.group_by) != tuple(first.group_by):
            raise IncompatibleReportsError(
                f"the instances grouped by {list(first.group_by)} and {list(part.group_by)}"
            )
        if part.partition_count != first.partition_count:
            raise IncompatibleReportsError(
                f"the instances see {first.partition_count} and {part.partition_count} "
                "care.sla partitions"
            )
        if (part.covered_start, part.covered_end) != (first.covered_start, first.covered_end):
            raise IncompatibleReportsError("the instances' reports cover different windows")
    for part in parts:
        if tuple(part.bucket_bounds) != BUCKET_BOUNDS:
            raise IncompatibleReportsError(
                "an instance buckets response times differently from this build: "
                f"{list(part.bucket_bounds)}"
            )
    members: dict[tuple[str, ...], list[Tally]] = {}
    for part in parts:
        for row in part.rows:
            members.setdefault(tuple(row.group), []).append(row_tally(row))
    return _response(
        tuple(first.group_by),
        {group: added(found) for group, found in members.items()},
        covered=(
            first.covered_start.ToDatetime(tzinfo=UTC),
            first.covered_end.ToDatetime(tzinfo=UTC),
        ),
        partitions=[p for part in parts for p in part.partitions],
        partition_count=first.partition_count,
    )


def coverage_problem(report: services_pb2.SlaReportResponse) -> str | None:
    """Why a (merged) report is not the whole truth, or None when it counts every
    partition exactly once. During a rebalance a partition may have no owner yet (its
    figures missing) or two for a moment (counted twice); both pass within seconds."""
    counted: dict[int, int] = {}
    for partition in report.partitions:
        counted[partition] = counted.get(partition, 0) + 1
    if report.partition_count <= 0:
        return "no sla instance knows the care.sla partitions yet"
    missing = [p for p in range(report.partition_count) if p not in counted]
    if missing:
        return f"no sla instance owns care.sla partition(s) {_listed(missing)} now"
    twice = sorted(p for p, times in counted.items() if times > 1)
    if twice:
        return f"care.sla partition(s) {_listed(twice)} counted by two sla instances"
    stray = sorted(p for p in counted if not 0 <= p < report.partition_count)
    if stray:
        return f"unknown care.sla partition(s) {_listed(stray)}"
    return None


def _response(
    group_by: Sequence[str],
    groups: dict[tuple[str, ...], Tally],
    *,
    covered: tuple[datetime, datetime],
    partitions: Iterable[int],
    partition_count: int,
) -> services_pb2.SlaReportResponse:
    total = Tally()
    rows = []
    for group in sorted(groups):
        tally = groups[group]
        total = total.merged(tally)
        rows.append(report_row(group, tally))
    response = services_pb2.SlaReportResponse(
        group_by=group_by,
        rows=rows,
        total=report_row((), total),
        bucket_bounds=BUCKET_BOUNDS,
        partitions=sorted(partitions),
        partition_count=partition_count,
    )
    response.covered_start.FromDatetime(covered[0])
    response.covered_end.FromDatetime(covered[1])
    return response


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _listed(partitions: Sequence[int]) -> str:
    return ", ".join(str(p) for p in partitions)
