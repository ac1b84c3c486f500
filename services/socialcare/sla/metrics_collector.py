"""The SLA metrics on /metrics, read from the ledgers at scrape time.

Not prometheus_client Counters incremented as events pass: those live in one process and
start from zero in the next, so a restart would read as a reset and whatever was counted
between the last scrape and the crash would be gone. A custom collector instead reports,
per care.sla partition this process owns, the ledger's cumulative totals since the
beginning of the topic (`socialcare.sla.ledger`). Every series carries `partition`: when a
partition moves, its series vanish here and appear on the new owner with the same values,
so `rate()` and `increase()` (which rules take per series, then sum) see neither a reset
nor a double count.

Families (label sets as in the plan's metric names):
  socialcare_first_response_seconds / _next_response_seconds / _resolution_seconds
      histograms {language, channel, queue, priority, partition}
  socialcare_sla_met_total, socialcare_sla_breaches_total, socialcare_sla_at_risk_total
      {clock, language, channel, queue, priority, partition}
  socialcare_sla_warnings_total  {clock, language, channel, queue, priority, threshold,
      partition}
  socialcare_sla_attainment_target {language}: the share of clocks to meet, from the config.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.sla_reports import BUCKET_BOUNDS
from socialcare.sla.ledger import OTHER, Labels, SeriesKey, SeriesTotals

HISTOGRAMS: dict[str, tuple[str, str]] = {
    "first_response": (
        "socialcare_first_response_seconds",
        "Wall seconds from a case's first customer message to the first agent reply "
        "(a breached clock counts once answered).",
    ),
    "next_response": (
        "socialcare_next_response_seconds",
        "Wall seconds from a customer message after an agent reply to the next agent reply.",
    ),
    "resolution": (
        "socialcare_resolution_seconds",
        "Wall seconds from a case's opening (or reopening) to its resolution.",
    ),
}
SERIES_LABELS = ("language", "channel", "queue", "priority", "partition")
COUNTER_LABELS = ("clock", *SERIES_LABELS)
DEFAULT_ATTAINMENT_TARGET = 0.9


class SeriesSource(Protocol):
    """Where the collector reads the ledgers (`LedgerProcessor.series`)."""

    def series(self) -> list[tuple[int, SeriesKey, SeriesTotals]]:
        """(partition, labels, cumulative totals) of every series; thread-safe."""
        ...


class SlaMetricsCollector(Collector):
    def __init__(self, source: SeriesSource, care: CareConfig) -> None:
        self._source = source
        self._targets = attainment_targets(care)

    def describe(self) -> Iterator[Metric]:
        """The families without samples: lets a registry refuse a second collector of the
        same names at registration, without reading the ledgers."""
        histograms, *others = self._families()
        yield from histograms
        yield from others

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        histograms, met, breached, warnings, at_risk, target = families
        by_clock = {clock: family for clock, family in zip(HISTOGRAMS, histograms, strict=True)}
        for partition, key, totals in self._source.series():
            labels = [key.language, key.channel, key.queue, key.priority, str(partition)]
            tally = totals.tally
            histogram = by_clock.get(key.clock)
            if histogram is not None and tally.observed:
                cumulative = tally.cumulative_buckets()
                buckets = [
                    (_bound(bound), float(count))
                    for bound, count in zip(BUCKET_BOUNDS, cumulative, strict=False)
                ]
                buckets.append(("+Inf", float(cumulative[-1])))
                histogram.add_metric(labels, buckets, tally.seconds_sum)
            counter_labels = [key.clock, *labels]
            if tally.met:
                met.add_metric(counter_labels, tally.met)
            if tally.breached:
                breached.add_metric(counter_labels, tally.breached)
            if tally.at_risk:
                at_risk.add_metric(counter_labels, tally.at_risk)
            for threshold, count in totals.warnings_by_threshold:
                warnings.add_metric([key.clock, *labels[:-1], threshold, labels[-1]], count)
        for language, value in sorted(self._targets.items()):
            target.add_metric([language], value)
        yield from histograms
        yield from (met, breached, warnings, at_risk, target)

    def _families(
        self,
    ) -> tuple[
        Sequence[HistogramMetricFamily],
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        GaugeMetricFamily,
    ]:
        histograms = [
            HistogramMetricFamily(name, documentation, labels=SERIES_LABELS)
            for name, documentation in HISTOGRAMS.values()
        ]
        met = CounterMetricFamily(
            "socialcare_sla_met_total",
            "SLA clocks that stopped in time (MET events on care.sla).",
            labels=COUNTER_LABELS,
        )
        breached = CounterMetricFamily(
            "socialcare_sla_breaches_total",
            "SLA clocks that passed their due time while running (BREACHED events).",
            labels=COUNTER_LABELS,
        )
        warnings = CounterMetricFamily(
            "socialcare_sla_warnings_total",
            "SLA clocks that reached a warning threshold of their target (WARNING events).",
            labels=(*COUNTER_LABELS[:-1], "threshold", "partition"),
        )
        at_risk = CounterMetricFamily(
            "socialcare_sla_at_risk_total",
            "Open cases predicted to breach their SLA (AT_RISK events).",
            labels=COUNTER_LABELS,
        )
        target = GaugeMetricFamily(
            "socialcare_sla_attainment_target",
            "The share of SLA clocks to meet per language (the strictest attainment_target "
            "of the policies that apply to it); alert rules compare attainment with it.",
            labels=("language",),
        )
        return histograms, met, breached, warnings, at_risk, target


def attainment_targets(care: CareConfig) -> dict[str, float]:
    """The attainment target per language label: the highest `attainment_target` among the
    policies that name the language, or among the catch-all ('*') policies for a language
    no policy names (and for "other")."""
    labels = Labels.from_care(care)
    targets: dict[str, float] = {}
    catch_all = [p.attainment_target for p in care.sla_policies if "*" in p.languages]
    default = max(catch_all, default=DEFAULT_ATTAINMENT_TARGET)
    for language in sorted(labels.languages):
        named = [p.attainment_target for p in care.sla_policies if language in p.languages]
        targets[language] = max(named) if named else default
    targets[OTHER] = default
    return targets


def _bound(bound: float) -> str:
    """A bucket bound as prometheus_client writes `le` ("30.0")."""
    return str(float(bound))


def register_sla_metrics(
    source: SeriesSource, care: CareConfig, registry: CollectorRegistry = REGISTRY
) -> SlaMetricsCollector:
    """Register the collector once per process (a second registration raises ValueError:
    duplicated timeseries)."""
    collector = SlaMetricsCollector(source, care)
    registry.register(collector)
    return collector
