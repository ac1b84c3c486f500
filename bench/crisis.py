#!/usr/bin/env python3
"""Crisis detection on simulated traffic: how fast spikes are caught, how many are missed,
how many alarms are false, against a naive fixed-threshold detector in the same run.

    python bench/crisis.py [--seeds 20] [--days 3] [--json]

Per seed: four keys (brand, topic, language) with quiet rates of 0.05, 0.2, 0.6 and 1.5
negative messages a minute (the seed jitters each by ±30 %), a diurnal swing (x0.4 at
night to x1.6 in the afternoon), Poisson arrivals. After one warm-up day (the baseline
fills; alarms then are not counted), each key gets spikes at random times, at least
6 hours apart: sudden ones of +3x, +6x or +12x its rate (at least +0.8 a minute, so a
spike is always a real burst of messages) for 10, 30 or 90 minutes, and slow ramps that
climb to +6x over 60-120 minutes and hold for 30. A spike is caught when an incident opens
on its key between its start and its end + one window; the delay runs from its start.
An incident opening anywhere else is a false alarm. The fixed detector opens when a
window holds `--fixed` negatives (default 10, the crisis config's min_volume, and 25) and
closes with the same hysteresis (below half of it for the cooldown), whatever the key's
normal rate. Printed, never asserted; pooled over all seeds (never a single tuned seed).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from collections import deque
from dataclasses import dataclass, field

from socialcare.core.domain.crisis_config import CrisisConfig
from socialcare.escalation.crisis import CrisisDetector, Signal
from socialcare.v1 import incident_pb2

DAY_MIN = 1440
BASE_RATES = (0.05, 0.2, 0.6, 1.5)
T0 = 1_790_000_000 // 86400 * 86400  # a UTC midnight


@dataclass
class Spike:
    key: int
    start: int  # minute
    end: int
    kind: str
    extra: list[float]  # extra rate per minute of the spike


@dataclass
class Tally:
    delays: dict[str, list[float]] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)
    spikes: dict[str, int] = field(default_factory=dict)
    false_alarms: int = 0
    days: float = 0.0

    def add(self, other: Tally) -> None:
        for kind, values in other.delays.items():
            self.delays.setdefault(kind, []).extend(values)
        for kind, n in other.missed.items():
            self.missed[kind] = self.missed.get(kind, 0) + n
        for kind, n in other.spikes.items():
            self.spikes[kind] = self.spikes.get(kind, 0) + n
        self.false_alarms += other.false_alarms
        self.days += other.days


class FixedThreshold:
    """The naive detector: a fixed count per window, hysteresis at half of it."""

    def __init__(self, threshold: int, window_min: int, cooldown_min: int) -> None:
        self.threshold = threshold
        self.window_min = window_min
        self.cooldown_min = cooldown_min
        self.windows: dict[int, deque[int]] = {}
        self.open: dict[int, bool] = {}
        self.below_since: dict[int, int | None] = {}

    def observe(self, key: int, minute: int, count: int) -> bool:
        """Feed one minute's negatives of `key`; True when an incident opens."""
        window = self.windows.setdefault(key, deque())
        window.extend([minute] * count)
        while window and window[0] <= minute - self.window_min:
            window.popleft()
        if not self.open.get(key):
            if len(window) >= self.threshold:
                self.open[key] = True
                self.below_since[key] = None
                return True
            return False
        if len(window) < self.threshold / 2:
            since = self.below_since.get(key)
            if since is None:
                self.below_since[key] = minute
            elif minute - since >= self.cooldown_min:
                self.open[key] = False
        else:
            self.below_since[key] = None
        return False


def diurnal(minute: int) -> float:
    hour = (minute % DAY_MIN) / 60
    return 1.0 + 0.6 * math.sin(2 * math.pi * (hour - 9) / 24)


def poisson(rand: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rand.gauss(lam, math.sqrt(lam))))
    count, limit, product = 0, math.exp(-lam), rand.random()
    while product > limit:
        count += 1
        product *= rand.random()
    return count


def plan_spikes(rand: random.Random, rates: list[float], days: int) -> list[Spike]:
    spikes: list[Spike] = []
    for key, rate in enumerate(rates):
        minute = DAY_MIN + rand.randint(60, 360)
        while minute < (days + 1) * DAY_MIN - 240:
            kind = rand.choice(["sudden", "sudden", "sudden", "ramp"])
            if kind == "sudden":
                factor = rand.choice([3, 6, 12])
                duration = rand.choice([10, 30, 90])
                extra_rate = max(factor * rate * diurnal(minute), 0.8)
                extra = [extra_rate] * duration
                label = f"sudden x{factor} {duration}m"
            else:
                climb = rand.randint(60, 120)
                top = max(6 * rate * diurnal(minute), 0.8)
                extra = [top * (i + 1) / climb for i in range(climb)] + [top] * 30
                label = "ramp x6"
            spikes.append(Spike(key, minute, minute + len(extra), label, extra))
            minute += len(extra) + rand.randint(360, 900)
    return spikes


def run_seed(
    seed: int, days: int, config: CrisisConfig, fixed: list[int]
) -> tuple[Tally, dict[int, Tally]]:
    rand = random.Random(seed)
    rates = [r * rand.uniform(0.7, 1.3) for r in BASE_RATES]
    spikes = plan_spikes(rand, rates, days)
    window_min = round(config.window_seconds / 60)
    cooldown_min = round(config.cooldown_seconds / 60)
    extra_at: dict[tuple[int, int], float] = {}
    for spike in spikes:
        for i, extra in enumerate(spike.extra):
            extra_at[(spike.key, spike.start + i)] = extra
    detector = CrisisDetector(config)
    naive = {t: FixedThreshold(t, window_min, cooldown_min) for t in fixed}
    opened: list[tuple[int, int]] = []  # (key, minute)
    naive_opened: dict[int, list[tuple[int, int]]] = {t: [] for t in fixed}
    keys = {f"k{k}": k for k in range(len(rates))}
    n = 0
    for minute in range((days + 1) * DAY_MIN):
        for key, rate in enumerate(rates):
            lam = rate * diurnal(minute) + extra_at.get((key, minute), 0.0)
            count = poisson(rand, lam)
            for i in range(count):
                n += 1
                at = T0 + minute * 60 + (i + rand.random()) * 60 / (count + 1)
                for event in detector.observe(
                    Signal(f"s{n}", "acme", f"k{key}", "en", True, f"c{n}", at)
                ):
                    if event.type == incident_pb2.INCIDENT_EVENT_TYPE_OPENED:
                        opened.append((keys[event.incident.topic], minute))
            for threshold, fixed_detector in naive.items():
                if fixed_detector.observe(key, minute, count):
                    naive_opened[threshold].append((key, minute))
        detector.tick(T0 + minute * 60 + 59)
    return score(opened, spikes, days, window_min), {
        t: score(o, spikes, days, window_min) for t, o in naive_opened.items()
    }


def score(opened: list[tuple[int, int]], spikes: list[Spike], days: int, window: int) -> Tally:
    tally = Tally(days=float(days))
    used: set[int] = set()
    for spike in spikes:
        tally.spikes[spike.kind] = tally.spikes.get(spike.kind, 0) + 1
        hits = [
            (i, m)
            for i, (k, m) in enumerate(opened)
            if k == spike.key and spike.start <= m <= spike.end + window
        ]
        # Only an incident opening during the spike counts: one already open (a previous
        # alarm still running) tells nobody anything new, so that spike is missed.
        if hits:
            minute = hits[0][1]
            used.update(i for i, _ in hits)
            tally.delays.setdefault(spike.kind, []).append(float(minute - spike.start))
        else:
            tally.missed[spike.kind] = tally.missed.get(spike.kind, 0) + 1
    tally.false_alarms = sum(1 for i, (_, m) in enumerate(opened) if i not in used and m >= DAY_MIN)
    return tally


def summary(tally: Tally) -> dict[str, object]:
    all_delays = [d for values in tally.delays.values() for d in values]
    total = sum(tally.spikes.values())
    missed = sum(tally.missed.values())
    return {
        "spikes": total,
        "missed": missed,
        "missed_share": round(missed / total, 3) if total else 0.0,
        "delay_p50_min": statistics.median(all_delays) if all_delays else None,
        "delay_max_min": max(all_delays) if all_delays else None,
        "false_alarms_per_day": round(tally.false_alarms / tally.days, 3) if tally.days else 0,
        "by_kind": {
            kind: {
                "spikes": tally.spikes[kind],
                "missed": tally.missed.get(kind, 0),
                "delay_p50_min": statistics.median(tally.delays[kind])
                if tally.delays.get(kind)
                else None,
                "delay_max_min": max(tally.delays[kind]) if tally.delays.get(kind) else None,
            }
            for kind in sorted(tally.spikes)
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--fixed", type=int, nargs="*", default=[10, 25])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    config = CrisisConfig()
    ours = Tally()
    theirs = {t: Tally() for t in args.fixed}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        mine, naive = run_seed(seed, args.days, config, args.fixed)
        ours.add(mine)
        for threshold, tally in naive.items():
            theirs[threshold].add(tally)
    result = {
        "seeds": args.seeds,
        "days_per_seed": args.days,
        "config": {
            "window_min": config.window_seconds / 60,
            "factor": config.factor,
            "min_volume": config.min_volume,
            "close_factor": config.close_factor,
            "cooldown_min": config.cooldown_seconds / 60,
        },
        "baseline_detector": summary(ours),
        **{f"fixed_{t}": summary(tally) for t, tally in theirs.items()},
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    print(
        f"crisis bench: {args.seeds} seeds x {args.days} days (+1 warm-up day), "
        f"{len(BASE_RATES)} keys each"
    )
    for name in ["baseline_detector", *(f"fixed_{t}" for t in args.fixed)]:
        row = result[name]
        assert isinstance(row, dict)
        print(
            f"{name:18} spikes {row['spikes']:4}  missed {row['missed']:4} "
            f"({row['missed_share']:.1%})  delay p50 {row['delay_p50_min']} min, "
            f"max {row['delay_max_min']} min  false alarms/day {row['false_alarms_per_day']}"
        )
        by_kind = row["by_kind"]
        assert isinstance(by_kind, dict)
        for kind, stats in by_kind.items():
            print(
                f"    {kind:18} {stats['spikes']:4} spikes, missed {stats['missed']:3}, "
                f"delay p50 {stats['delay_p50_min']} max {stats['delay_max_min']} min"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
