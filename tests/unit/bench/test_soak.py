"""The pure parts of bench/soak.py: reading /proc and /metrics, the least-squares slope,
the verdict and the end's table. The soak itself runs for an hour and prints figures; these
check that what it prints is computed right."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import soak
from open_loop import Sent

STATUS = """Name:\tpython
Umask:\t0022
State:\tS (sleeping)
Pid:\t4242
VmPeak:\t  812340 kB
VmRSS:\t  204800 kB
RssAnon:\t  150000 kB
Threads:\t37
voluntary_ctxt_switches:\t1500
"""

METRICS = """# HELP socialcare_consumer_lag_records Records not yet read by a consumer group member.
# TYPE socialcare_consumer_lag_records gauge
socialcare_consumer_lag_records{group="routing",partition="0",topic="care.commands"} 3.0
socialcare_consumer_lag_records{group="routing",partition="1",topic="care.commands"} 4.0
socialcare_consumer_lag_records{group="routing",partition="0",topic="social.messages.enriched"} 5.0
socialcare_consumer_lag_records{group="enrichment",partition="2",topic="social.messages.raw"} 0.0
# HELP socialcare_records_processed_total Records a consumer group handled.
# TYPE socialcare_records_processed_total counter
socialcare_records_processed_total{group="routing",topic="care.commands"} 900.0
"""


def test_parse_status_reads_rss_in_bytes_and_threads() -> None:
    assert soak.parse_status(STATUS) == (204800 * 1024, 37)


@pytest.mark.parametrize(
    "text",
    [
        "Name:\tkworker/0:1\nThreads:\t1\n",  # a kernel thread has no VmRSS
        "Name:\tpython\nVmRSS:\t  1024 kB\n",
        "VmRSS:\t  1 MB\nThreads:\t1\n",
    ],
)
def test_parse_status_refuses_what_is_not_a_reading(text: str) -> None:
    with pytest.raises(ValueError):
        soak.parse_status(text)


def test_sample_process_reads_a_live_process_and_none_for_a_gone_one() -> None:
    sample = soak.sample_process(os.getpid())
    assert sample is not None
    assert sample.rss_bytes > 1024 * 1024 and sample.threads >= 1 and sample.fds >= 3
    assert sample.cpu_s > 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert soak.sample_process(gone.pid) is None


def test_sample_process_counts_open_descriptors() -> None:
    before = soak.sample_process(os.getpid())
    read_end, write_end = os.pipe()
    try:
        after = soak.sample_process(os.getpid())
    finally:
        os.close(read_end)
        os.close(write_end)
    assert before is not None and after is not None
    assert after.fds == before.fds + 2


def test_load_average_is_the_first_figure_of_proc_loadavg() -> None:
    assert soak.load_average("6.88 3.65 2.06 9/1234 56789\n") == 6.88
    assert soak.load_average(Path("/proc/loadavg").read_text()) >= 0


def test_consumer_lag_sums_partitions_and_topics_per_group() -> None:
    assert soak.consumer_lag(METRICS) == {"routing": 12.0, "enrichment": 0.0}
    assert soak.consumer_lag("# no lag gauge here\n") == {}


def test_quantile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert soak.quantile(values, 0.99) == 99.0
    assert soak.quantile(values, 0.5) == 50.0
    assert soak.quantile([7.0], 0.99) == 7.0
    assert math.isnan(soak.quantile([], 0.99))


def test_fit_slope_of_an_exact_line_has_no_error() -> None:
    times = [60.0 * m for m in range(1, 11)]
    values = [100.0 + 2.0 * t / 60 for t in times]  # two a minute
    slope = soak.fit_slope(times, values)
    assert slope.per_hour == pytest.approx(120.0)
    assert slope.stderr_per_hour == pytest.approx(0.0, abs=1e-9)
    assert slope.points == 10


def test_fit_slope_standard_error_matches_the_textbook_formula() -> None:
    times = [0.0, 3600.0, 7200.0, 10800.0]
    values = [1.0, 3.0, 2.0, 5.0]
    slope = soak.fit_slope(times, values)
    # x in hours 0..3: slope = sum((x-1.5)(y-2.75)) / sum((x-1.5)^2) = 5.5 / 5 = 1.1;
    # intercept 1.1, residuals -0.1, 0.8, -1.3, 0.6 -> SSE 2.7; se = sqrt(2.7 / 2 / 5)
    assert slope.per_hour == pytest.approx(1.1)
    assert slope.stderr_per_hour == pytest.approx(math.sqrt(0.27))


def test_fit_slope_with_too_few_points() -> None:
    assert math.isnan(soak.fit_slope([], []).per_hour)
    assert math.isnan(soak.fit_slope([5.0], [1.0]).per_hour)
    two = soak.fit_slope([0.0, 1800.0], [10.0, 11.0])
    assert two.per_hour == pytest.approx(2.0) and math.isnan(two.stderr_per_hour)
    assert math.isnan(soak.fit_slope([60.0, 60.0, 60.0], [1.0, 2.0, 3.0]).per_hour)
    with pytest.raises(ValueError):
        soak.fit_slope([1.0, 2.0], [1.0])


@pytest.mark.parametrize(
    ("per_hour", "stderr", "expected"),
    [
        (12.0, 1.0, "growing"),
        (-12.0, 1.0, "falling"),
        (4.0, 0.1, "flat"),  # significant, but under the threshold
        (12.0, 7.0, "flat"),  # over the threshold, but within two standard errors of zero
        (12.0, math.nan, "too short"),
    ],
)
def test_verdict(per_hour: float, stderr: float, expected: str) -> None:
    assert soak.verdict(soak.Slope(per_hour, stderr, 10), 5.0) == expected


def test_verdict_needs_three_points() -> None:
    assert soak.verdict(soak.Slope(100.0, 0.0, 2), 5.0) == "too short"


def test_summarise_leaves_out_the_warm_up_and_states_the_threshold() -> None:
    points = []
    for minute in range(1, 11):
        # The platform: 50 MB jumped during warm-up (minutes 1-2), then flat memory (but
        # for a kilobyte of noise); one descriptor more every five minutes. Routing: one
        # MB a minute.
        rss = (150 if minute <= 2 else 200) * soak.MB
        points += [
            soak.Point(minute * 60.0, "platform", "rss", float(rss + minute % 2 * 1024)),
            soak.Point(minute * 60.0, "platform", "fds", float(100 + minute // 5)),
            soak.Point(minute * 60.0, "routing", "rss", float(100 * soak.MB + minute * soak.MB)),
            soak.Point(minute * 60.0, "routing", "lag", 0.0),
        ]
    lines = soak.summarise(points, warmup_s=120.0, cases_per_hour=72_000)
    assert "8 readings from 3.0 to 10.0 min" in lines[0]
    rows = {tuple(line.split()[:2]): line for line in lines[2:]}
    assert set(rows) == {
        ("platform", "rss"),
        ("platform", "fds"),
        ("routing", "rss"),
        ("routing", "lag"),
    }
    assert " flat " in rows["platform", "rss"] and "+/-5 MB/h" in rows["platform", "rss"]
    assert " growing " in rows["platform", "fds"] and "+/-4 fds/h" in rows["platform", "fds"]
    # 60 MB an hour over 72,000 cases an hour: 873.8 bytes a case.
    assert "+60.00 MB" in rows["routing", "rss"] and " growing " in rows["routing", "rss"]
    assert "+0.85 KB per case" in rows["routing", "rss"]
    assert "+0.00 records" in rows["routing", "lag"]


def test_outcome_counts_and_measures_from_the_scheduled_time() -> None:
    sent = [
        Sent("m1", 202, scheduled=10.0, sent=10.0, answered=10.02),
        Sent("m2", 202, scheduled=10.5, sent=10.6, answered=10.7),
        Sent("", 503, scheduled=11.0, sent=11.0, answered=11.1, problem="503 bus_unavailable"),
        Sent("", -1, scheduled=11.5, sent=50.0, answered=50.0),
    ]
    interval = soak.outcome(sent, {"m1": 10.05})
    assert (interval.offered, interval.accepted, interval.errors, interval.unsent) == (4, 2, 1, 1)
    assert interval.problems == Counter({"503 bus_unavailable": 1})
    assert interval.ingest_p99_ms == pytest.approx(200.0)
    assert interval.assigned_p99_ms == pytest.approx(50.0)
    assert interval.not_assigned == 1
    assert interval.late_p99_ms == pytest.approx(100.0)
    assert interval.as_json()["problems"] == {"503 bus_unavailable": 1}


def test_readings_turn_cpu_seconds_into_cores_since_the_last_reading() -> None:
    taken = {
        "platform": soak.ProcessSample(200 * soak.MB, 150, 60, cpu_s=130.0),
        "kafka": None,  # gone: no points
    }
    points = soak.readings(
        120.0, taken, {"platform": (60.0, 100.0)}, {"sla": 2.0, "enrichment": 0.0}
    )
    values = {(p.owner, p.metric): p.value for p in points}
    assert values == {
        ("platform", "rss"): 200.0 * soak.MB,
        ("platform", "fds"): 150.0,
        ("platform", "threads"): 60.0,
        ("platform", "cpu"): pytest.approx(0.5),
        ("enrichment", "lag"): 0.0,
        ("sla", "lag"): 2.0,
    }
    assert all(p.elapsed_s == 120.0 for p in points)
    first = soak.readings(60.0, taken, {}, None)
    assert {p.metric for p in first} == {"rss", "fds", "threads"}


def test_the_samples_file_gives_back_the_points_of_the_run() -> None:
    load = soak.outcome([Sent("m1", 202, scheduled=1.0, sent=1.0, answered=1.01)], {})
    readings: list[
        tuple[str, float, dict[str, soak.ProcessSample | None], dict[str, float] | None]
    ] = [
        ("load", 60.0, {"platform": soak.ProcessSample(200 * soak.MB, 150, 60, 30.0)}, {"r": 1}),
        ("load", 120.0, {"platform": soak.ProcessSample(201 * soak.MB, 151, 61, 60.0)}, None),
        ("idle", 180.0, {"platform": None}, {"r": 0.0}),
        ("idle", 240.0, {"platform": soak.ProcessSample(201 * soak.MB, 151, 61, 63.0)}, {}),
    ]
    lines = []
    expected: dict[str, list[soak.Point]] = {"load": [], "idle": []}
    before: dict[str, tuple[float, float]] = {}
    for number, (phase, elapsed, taken, lag) in enumerate(readings, start=1):
        lines.append(
            soak.sample_line(
                number, phase, elapsed, load, Counter({202: 3}), 3, 1.5, number * 10, taken, lag
            )
        )
        expected[phase] += soak.readings(elapsed, taken, before, lag)
        before.update((n, (elapsed, s.cpu_s)) for n, s in taken.items() if s is not None)
    samples = soak.points_from_samples(["", *lines])
    assert samples.load == expected["load"] and samples.idle == expected["idle"]
    # The cases and the time at the end of the load, not of the idle minutes.
    assert (samples.cases, samples.load_elapsed_s) == (20, 120.0)
    assert soak.Point(120.0, "platform", "cpu", 0.5) in samples.load
    # The process was unreadable at 180 s: the cores at 240 s are over the 120 s since 120 s.
    cores = [p.value for p in samples.idle if p.metric == "cpu"]
    assert cores == [pytest.approx(0.025)]
