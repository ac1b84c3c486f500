"""The pure SLA report: window, filters, grouping, percentiles, and merging partial reports.

The central property: however the tallies are spread over partitions and instances, the
merged partial reports equal the report of one instance holding them all.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcare.core.domain.sla_reports import (
    BUCKET_BOUNDS,
    IncompatibleReportsError,
    OutcomeKey,
    ReportQuery,
    ReportQueryError,
    Tally,
    build_report,
    coverage_problem,
    merge_reports,
    percentile,
)
from socialcare.v1 import services_pb2

H0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def key(
    clock: str = "first_response",
    language: str = "nl",
    channel: str = "x",
    queue: str = "care-nl",
    priority: str = "normal",
    team: str = "Benelux",
    brand: str = "acme",
) -> OutcomeKey:
    return OutcomeKey(clock, language, channel, queue, priority, team, brand)


def tally(*seconds: float, met: int = 0, breached: int = 0, warnings: int = 0) -> Tally:
    """A tally observing these response times, bucketed as the ledger does (upper bounds
    inclusive)."""
    buckets = [0] * (len(BUCKET_BOUNDS) + 1)
    for value in seconds:
        buckets[bisect.bisect_left(BUCKET_BOUNDS, value)] += 1
    return Tally(
        met=met,
        breached=breached,
        warnings=warnings,
        buckets=tuple(buckets),
        seconds_sum=float(sum(seconds)),
        observed=len(seconds),
    )


def query(hours: int = 24, **kwargs: object) -> ReportQuery:
    return ReportQuery.of(H0, H0 + timedelta(hours=hours), **kwargs)  # type: ignore[arg-type]


def rows_by_group(report: services_pb2.SlaReportResponse) -> dict[tuple[str, ...], object]:
    return {tuple(r.group): r for r in report.rows}


# -- percentiles ------------------------------------------------------------------------


def test_percentile_interpolates_inside_the_bucket_holding_the_rank() -> None:
    # 10 observations in (60, 120]: the median is half-way through that bucket.
    buckets = tally(*([100.0] * 10)).buckets
    assert percentile(BUCKET_BOUNDS, buckets, 0.5) == pytest.approx(90.0)
    assert percentile(BUCKET_BOUNDS, buckets, 0.9) == pytest.approx(114.0)
    # Two buckets: 4 in (0, 30], 6 in (300, 600]; the 0.5 rank (5) is the first of the six.
    buckets = tally(*([10.0] * 4 + [500.0] * 6)).buckets
    assert percentile(BUCKET_BOUNDS, buckets, 0.5) == pytest.approx(300 + 300 * 1 / 6)
    assert percentile(BUCKET_BOUNDS, buckets, 0.4) == pytest.approx(30.0)


def test_percentile_above_the_last_bound_is_the_last_bound_and_none_when_empty() -> None:
    buckets = tally(*([10 * 86400.0] * 3)).buckets
    assert percentile(BUCKET_BOUNDS, buckets, 0.99) == BUCKET_BOUNDS[-1]
    assert percentile(BUCKET_BOUNDS, Tally().buckets, 0.5) is None
    with pytest.raises(ValueError, match="quantile"):
        percentile(BUCKET_BOUNDS, buckets, 0.0)
    with pytest.raises(ValueError, match="bucket counts"):
        percentile(BUCKET_BOUNDS, buckets[:-1], 0.5)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0.5, max_value=500_000.0), min_size=1, max_size=200),
    st.sampled_from([0.5, 0.9, 0.99]),
)
def test_percentile_error_is_less_than_the_width_of_its_bucket(
    samples: list[float], quantile: float
) -> None:
    """The documented bound: the estimate and the true percentile (the sample at the
    rank) lie in the same bucket, so they differ by less than its width."""
    estimate = percentile(BUCKET_BOUNDS, tally(*samples).buckets, quantile)
    assert estimate is not None
    ordered = sorted(samples)
    true = ordered[max(math.ceil(quantile * len(ordered)) - 1, 0)]
    index = bisect.bisect_left(BUCKET_BOUNDS, true)
    lower = BUCKET_BOUNDS[index - 1] if index else 0.0
    upper = BUCKET_BOUNDS[index]
    assert lower <= estimate <= upper
    assert abs(estimate - true) < upper - lower


# -- the query --------------------------------------------------------------------------


def test_the_covered_window_is_the_request_widened_to_whole_utc_hours() -> None:
    amsterdam = datetime(2026, 11, 20, 11, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
    q = ReportQuery.of(amsterdam, datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    assert q.covered_start == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert q.covered_end == datetime(2026, 11, 20, 12, tzinfo=UTC)
    q = ReportQuery.of(H0, H0 + timedelta(minutes=1))
    assert (q.covered_start, q.covered_end) == (H0, H0 + timedelta(hours=1))


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"end": H0}, "from", "is not before to"),
        ({"end": H0 - timedelta(hours=1)}, "from", "is not before to"),
        ({"group_by": ["language", "customer"]}, "group_by", "cannot group by 'customer'"),
        ({"group_by": ["queue", "queue"]}, "group_by", "listed twice"),
        ({"clocks": ["first_response", "lunch"]}, "clock", "unknown clock 'lunch'"),
        ({"start": datetime(2026, 11, 20)}, "from", "time zone"),
    ],
)
def test_a_bad_query_names_its_field(kwargs: dict[str, object], field: str, words: str) -> None:
    start = kwargs.pop("start", H0)
    end = kwargs.pop("end", H0 + timedelta(hours=2))
    with pytest.raises(ReportQueryError, match=words) as caught:
        ReportQuery.of(start, end, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_window_older_than_the_retention_is_refused_with_the_earliest_hour() -> None:
    now = datetime(2026, 12, 20, 15, 20, tzinfo=UTC)
    retention = timedelta(days=30)
    ReportQuery.of(datetime(2026, 11, 20, 16, tzinfo=UTC), now).check_retention(now, retention)
    with pytest.raises(ReportQueryError, match="2026-11-20T16:00:00Z") as caught:
        ReportQuery.of(datetime(2026, 11, 20, 15, 59, tzinfo=UTC), now).check_retention(
            now, retention
        )
    assert caught.value.field == "from"
    assert "30-day retention" in caught.value.message


def test_the_query_survives_the_grpc_request() -> None:
    q = query(group_by=["team", "clock"], clocks=["resolution"], brands=["acme", "zeta"])
    assert ReportQuery.from_request(q.to_request()) == q


# -- one report -------------------------------------------------------------------------


def test_a_report_counts_the_covered_hours_that_pass_the_filters_per_group() -> None:
    tallies = [
        (H0, key(), tally(40.0, 50.0, met=2)),
        (H0 + timedelta(hours=5), key(), tally(4000.0, met=0, breached=1)),
        (H0, key(language="en", queue="care-en"), tally(20.0, met=1)),
        (H0, key(brand="zeta"), tally(10.0, met=1)),
        (H0, key(clock="resolution"), tally(90_000.0, breached=1)),
        (H0 - timedelta(hours=1), key(), tally(10.0, met=1)),  # before the window
        (H0 + timedelta(hours=24), key(), tally(10.0, met=1)),  # at its end: excluded
    ]
    report = build_report(
        query(group_by=["language"], clocks=["first_response"], brands=["acme"]),
        tallies,
        partitions=[0, 2],
        partition_count=4,
    )
    assert [tuple(r.group) for r in report.rows] == [("en",), ("nl",)]
    nl = rows_by_group(report)[("nl",)]
    assert isinstance(nl, services_pb2.SlaReportRow)
    assert (nl.met, nl.breached, nl.observed) == (2, 1, 3)
    assert nl.attainment == pytest.approx(2 / 3)
    assert nl.mean_seconds == pytest.approx((40 + 50 + 4000) / 3)
    assert report.total.met == 3 and report.total.breached == 1 and report.total.observed == 4
    assert report.total.attainment == pytest.approx(0.75)
    assert list(report.group_by) == ["language"]
    assert list(report.partitions) == [0, 2] and report.partition_count == 4
    assert report.covered_start.ToDatetime(tzinfo=UTC) == H0
    assert report.covered_end.ToDatetime(tzinfo=UTC) == H0 + timedelta(hours=24)
    assert tuple(report.bucket_bounds) == BUCKET_BOUNDS


def test_a_group_with_nothing_decided_or_observed_has_no_attainment_or_percentiles() -> None:
    report = build_report(
        query(group_by=["clock", "team"]),
        [(H0, key(team=""), Tally(warnings=3))],
        partitions=[0],
        partition_count=1,
    )
    [row] = report.rows
    assert tuple(row.group) == ("first_response", "")
    assert row.warnings == 3
    for name in ("attainment", "p50_seconds", "p90_seconds", "p99_seconds", "mean_seconds"):
        assert not row.HasField(name), name
    empty = build_report(query(), [], partitions=[0], partition_count=1)
    assert list(empty.rows) == [] and not empty.total.HasField("attainment")


# -- merging ----------------------------------------------------------------------------

KEYS = [
    key(),
    key(language="en", queue="care-en", team="Global"),
    key(clock="next_response", channel="facebook"),
    key(clock="resolution", priority="urgent", brand="zeta"),
]
SAMPLES = st.lists(st.sampled_from([5.0, 45.0, 200.0, 1000.0, 5000.0, 90_000.0, 700_000.0]))


@st.composite
def spread_tallies(
    draw: st.DrawFn,
) -> tuple[list[tuple[int, datetime, OutcomeKey, Tally]], int, list[list[int]]]:
    """Tallies per (partition, hour, key), and the partitions dealt out to instances."""
    partition_count = draw(st.integers(min_value=1, max_value=6))
    entries = []
    for _ in range(draw(st.integers(min_value=0, max_value=25))):
        seconds = draw(SAMPLES)
        entries.append(
            (
                draw(st.integers(min_value=0, max_value=partition_count - 1)),
                H0 + timedelta(hours=draw(st.integers(min_value=-2, max_value=30))),
                draw(st.sampled_from(KEYS)),
                tally(
                    *seconds,
                    met=draw(st.integers(0, 5)),
                    breached=draw(st.integers(0, 5)),
                    warnings=draw(st.integers(0, 2)),
                ),
            )
        )
    instances = draw(st.integers(min_value=1, max_value=partition_count))
    owner = [draw(st.integers(0, instances - 1)) for _ in range(partition_count)]
    owned = [[p for p in range(partition_count) if owner[p] == i] for i in range(instances)]
    return entries, partition_count, owned


@settings(max_examples=150, deadline=None)
@given(
    spread_tallies(),
    st.lists(
        st.sampled_from(["language", "channel", "team", "queue", "priority", "clock"]),
        unique=True,
        max_size=3,
    ),
    st.sampled_from([(), ("first_response",), ("resolution", "next_response")]),
)
def test_merged_partial_reports_equal_one_instance_owning_every_partition(
    spread: tuple[list[tuple[int, datetime, OutcomeKey, Tally]], int, list[list[int]]],
    group_by: list[str],
    clocks: Sequence[str],
) -> None:
    entries, partition_count, owned = spread
    q = query(group_by=group_by, clocks=clocks)
    everything = [(hour, k, t) for _, hour, k, t in entries]
    whole = build_report(
        q, everything, partitions=range(partition_count), partition_count=partition_count
    )
    parts = [
        build_report(
            q,
            [(hour, k, t) for p, hour, k, t in entries if p in mine],
            partitions=mine,
            partition_count=partition_count,
        )
        for mine in owned
    ]
    merged = merge_reports(parts)
    assert coverage_problem(merged) is None
    assert _exact(merged) == _exact(whole)
    for got, want in zip([*merged.rows, merged.total], [*whole.rows, whole.total], strict=True):
        assert got.seconds_sum == pytest.approx(want.seconds_sum)
        for name in ("mean_seconds", "p50_seconds", "p90_seconds", "p99_seconds"):
            assert got.HasField(name) == want.HasField(name), name
            assert getattr(got, name) == pytest.approx(getattr(want, name)), name


def _exact(report: services_pb2.SlaReportResponse) -> list[object]:
    """Everything of a report but the float sums (added in another order when merged)."""
    return [
        list(report.group_by),
        list(report.partitions),
        report.partition_count,
        [
            (
                tuple(r.group),
                r.met,
                r.breached,
                r.observed,
                tuple(r.buckets),
                r.warnings,
                r.HasField("attainment") and r.attainment,
            )
            for r in [*report.rows, report.total]
        ],
    ]


def test_coverage_names_partitions_missing_or_counted_twice() -> None:
    q = query()

    def part(*partitions: int) -> services_pb2.SlaReportResponse:
        return build_report(q, [], partitions=partitions, partition_count=4)

    assert coverage_problem(merge_reports([part(0, 1), part(2, 3)])) is None
    problem = coverage_problem(merge_reports([part(0, 1), part(3)]))
    assert problem == "no sla instance owns care.sla partition(s) 2 now"
    problem = coverage_problem(merge_reports([part(0, 1, 2), part(2, 3)]))
    assert problem == "care.sla partition(s) 2 counted by two sla instances"
    assert coverage_problem(build_report(q, [], partitions=[], partition_count=0)) is not None


def test_reports_asked_different_questions_do_not_merge() -> None:
    a = build_report(query(group_by=["language"]), [], partitions=[0], partition_count=2)
    b = build_report(query(group_by=["queue"]), [], partitions=[1], partition_count=2)
    with pytest.raises(IncompatibleReportsError, match="grouped by"):
        merge_reports([a, b])
    c = build_report(query(hours=48, group_by=["language"]), [], partitions=[1], partition_count=2)
    with pytest.raises(IncompatibleReportsError, match="different windows"):
        merge_reports([a, c])
    d = build_report(query(group_by=["language"]), [], partitions=[1], partition_count=2)
    del d.bucket_bounds[-1]
    with pytest.raises(IncompatibleReportsError, match="buckets response times differently"):
        merge_reports([a, d])
