"""The SLA ledger: what care.sla says happened to the clocks, counted exactly once.

Every SLA metric (the Prometheus counters and response-time histograms, and the hourly
tallies the reports read) is derived from the events on care.sla, not from what a process
happened to observe: a ledger per care.sla partition holds cumulative totals since the
beginning of the topic, and the offset through which it has counted. Its snapshot travels
with the offsets (`socialcare.sla.ledger_processor`), so a process dying between a commit
and a scrape loses nothing, and a partition moving to another instance continues from the
same cumulative values (Prometheus never sees a counter reset).

This module is pure: no I/O, no clock. Shapes read by the reports (H7): `OutcomeKey`,
`Tally`, `BUCKET_BOUNDS`, `CLOCKS`; the processor exposes
`LedgerProcessor.hourly(start, end) -> Iterator[tuple[datetime, OutcomeKey, Tally]]`
(hour starts, UTC, `start <= hour < end`, over the partitions this instance owns).
"""

from __future__ import annotations

from dataclasses import dataclass

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

# The `clock` label values, by SlaClockKind (UNSPECIFIED reads as first response).
CLOCKS: tuple[str, ...] = ("first_response", "next_response", "resolution")


@dataclass(frozen=True, slots=True, order=True)
class OutcomeKey:
    """The dimensions one hourly tally is kept under. Every value is bounded: languages,
    queues, teams and brands outside the config read "other" (see `Labels`)."""

    clock: str  # one of CLOCKS
    language: str
    channel: str  # core.domain.cases.channel_name
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
