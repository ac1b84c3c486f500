"""Routing decision latency, measured: how long the assigner takes to answer one request
with 10,000 open cases and 1,000 agents (goal: p99 <= 10 ms), next to the same decisions
with 10 agents and 100 open cases in the same run (the baseline).

The real `routing.assignment.Assigner`, no bus (the bus adds the same per record whatever
the state size, see bench/bus_throughput.py):

* agents: `--agents`, in three follow-the-sun teams (EMEA 07-19, AMER 13-01, APAC 23-11
  UTC, weekdays) answering every queue, each speaking one or two of five languages, serving
  one or both of two brands, with skills (channel, product, tier), capacity 4-8 and a
  WhatsApp capacity of 2 on half of them; 2 % are specialists;
* state: `--cases` open cases queued one after another at 10:00 on a Monday (EMEA and AMER
  on shift), so the agents' slots fill and the rest waits in the backlog, each with a
  priority score, a channel, a product, a tier and a response due time;
* then `--decisions` requests, a mix of the kinds routing sends, the clock advancing 50 ms
  per request, the number of open cases kept steady (a QUEUE for each RELEASE): QUEUE (a new
  case: waits, QUEUED + its breach prediction), RELEASE (the agent takes the next waiting
  case they may serve), TRANSFER, CLAIM (of a waiting case), REASSIGN, PRESENCE (offline,
  online: takes waiting cases). Each request is timed alone (perf_counter);
* the tick is timed too, as the processor runs it: every 5 s (grace sweep, fill), and every
  30 s with the prediction of the whole backlog; not per request, but a request arriving
  during a tick waits for it.

Printed: p50 / p99 / max per kind and over all, for both sizes; the assigner's memory
(tracemalloc, while building the state) and the process's peak RSS. Figures, never
assertions.

    python bench/routing_decision.py [--agents 1000] [--cases 10000] [--decisions 20000]
        [--seed 7] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import resource
import statistics
import time
import tracemalloc
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.routing.assignment import (
    CLAIM,
    OFFLINE,
    ONLINE,
    PRESENCE,
    QUEUE,
    REASSIGN,
    RELEASE,
    TRANSFER,
    Assigner,
)
from socialcare.v1 import message_pb2, routing_pb2

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday: EMEA and AMER on shift
LANGUAGES = ("en", "nl", "de", "fr", "es")
BRANDS = ("acme", "globex")
PRODUCTS = ("router", "fiber", "mobile", "tv")
TIERS = ("standard", "gold", "vip")
CHANNELS = (
    message_pb2.CHANNEL_X,
    message_pb2.CHANNEL_WHATSAPP,
    message_pb2.CHANNEL_FACEBOOK,
    message_pb2.CHANNEL_EMAIL,
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
KINDS = ("queue", "release", "transfer", "claim", "reassign", "presence")
KIND_NAMES = {
    QUEUE: "queue",
    RELEASE: "release",
    TRANSFER: "transfer",
    CLAIM: "claim",
    REASSIGN: "reassign",
    PRESENCE: "presence",
}
# How often each kind comes (a customer-care day: mostly new cases and resolutions).
MIX = (("queue", 35), ("release", 35), ("transfer", 8), ("claim", 8), ("reassign", 6))


def care_config(agents: int, seed: int) -> CareConfig:
    rng = random.Random(seed)
    teams = ("emea", "amer", "apac")
    members: list[dict[str, Any]] = []
    for index in range(agents):
        languages = sorted(
            set(rng.sample(LANGUAGES, rng.choice((1, 2))) + ["en"] * (index % 3 == 0))
        )
        skills = {f"channel:{rng.choice(('x', 'whatsapp', 'email'))}": rng.randint(1, 5)}
        skills[f"product:{rng.choice(PRODUCTS)}"] = rng.randint(1, 5)
        skills[f"tier:{rng.choice(TIERS)}"] = rng.randint(1, 5)
        members.append(
            {
                "id": f"a{index:04d}",
                "name": f"Agent {index}",
                "languages": languages,
                "capacity": rng.randint(4, 8),
                "team": teams[index % 3],
                "brands": list(BRANDS) if index % 2 else [rng.choice(BRANDS)],
                "specialist": index % 50 == 49,
                "skills": skills,
                "channel_capacity": {"whatsapp": 2} if index % 2 else {},
            }
        )
    return CareConfig.model_validate(
        {
            "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
            "customer_tiers": list(TIERS),
            "brands": [{"name": b} for b in BRANDS],
            "escalation": {"vip_tiers": ["vip"]},
            "calendars": [
                {
                    "name": "emea",
                    "time_zone": "UTC",
                    "hours": dict.fromkeys(WEEKDAYS, "07:00-19:00"),
                },
                {
                    "name": "amer",
                    "time_zone": "UTC",
                    "hours": {d: "13:00-24:00" for d in WEEKDAYS},
                },
                {
                    "name": "apac",
                    "time_zone": "UTC",
                    "hours": {d: "00:00-11:00" for d in WEEKDAYS},
                },
            ],
            "teams": [{"name": t, "calendar": t} for t in teams],
            "queues": [
                {
                    "name": f"care-{language}",
                    "languages": ["*"] if language == "en" else [language],
                    "teams": list(teams),
                    "after_hours": "overflow" if language == "de" else "wait",
                }
                for language in LANGUAGES
            ],
            "agents": members,
        }
    )


class Workload:
    """Requests against one assigner, keeping the number of open cases steady."""

    def __init__(self, care: CareConfig, seed: int) -> None:
        self.care = care
        self.rng = random.Random(seed)
        self.assigner = Assigner(care)
        self.open: dict[str, routing_pb2.AssignmentRequest] = {}
        self.counter = 0
        self.now = START
        self.offline: list[str] = []

    def new_case(self) -> routing_pb2.AssignmentRequest:
        self.counter += 1
        rng = self.rng
        language = rng.choice(LANGUAGES)
        request = routing_pb2.AssignmentRequest(
            request_id=f"q{self.counter}",
            case_id=f"case-{self.counter}",
            kind=QUEUE,
            epoch=1,
            language=language,
            queue=f"care-{language}",
            priority="normal",
            priority_score=round(rng.random(), 3),
            opened_at=to_timestamp(self.now),
            requested_at=to_timestamp(self.now),
            brand=rng.choice(BRANDS),
            channel=rng.choice(CHANNELS),
            customer_tier=rng.choice(TIERS),
            product=rng.choice(PRODUCTS),
        )
        request.response_due_at.CopyFrom(
            to_timestamp(self.now + timedelta(minutes=rng.randint(20, 600)))
        )
        self.open[request.case_id] = request
        return request

    def build(self, cases: int) -> None:
        for _ in range(cases):
            self.assigner.on_request(self.new_case(), self.now)

    def request(self, kind: str) -> routing_pb2.AssignmentRequest:
        rng, assigner = self.rng, self.assigner
        self.counter += 1
        rid = f"r{self.counter}"
        if kind == "queue" or len(self.open) < 10:
            return self.new_case()
        sample = rng.sample(list(self.open), min(40, len(self.open)))
        held = [c for c in sample if assigner.holdings[c].agent]
        waiting = assigner.waiting()
        if kind == "release":  # the held case resolved, else a waiting one
            case_id = held[0] if held else rng.choice(list(self.open))
            del self.open[case_id]
            return routing_pb2.AssignmentRequest(
                request_id=rid, case_id=case_id, kind=RELEASE, epoch=1
            )
        if kind == "transfer" and held:
            agent = rng.choice(self.care.agents).id
            return routing_pb2.AssignmentRequest(
                request_id=rid, case_id=held[0], kind=TRANSFER, epoch=1, agent=agent, command_id=rid
            )
        if kind == "claim" and waiting:
            agent = rng.choice(self.care.agents).id
            case_id = waiting[rng.randrange(len(waiting))]
            return routing_pb2.AssignmentRequest(
                request_id=rid, case_id=case_id, kind=CLAIM, epoch=1, agent=agent, command_id=rid
            )
        if kind == "reassign" and held:
            case_id = held[0]
            return routing_pb2.AssignmentRequest(
                request_id=rid,
                case_id=case_id,
                kind=REASSIGN,
                epoch=1,
                agent=assigner.holdings[case_id].agent,
                reason="no reply for 2h",
            )
        # presence: someone signs off, or someone who signed off comes back
        if self.offline and (rng.random() < 0.5 or len(self.offline) > 20):
            agent, presence = self.offline.pop(0), ONLINE
        else:
            agent, presence = rng.choice(self.care.agents).id, OFFLINE
            self.offline.append(agent)
        return routing_pb2.AssignmentRequest(
            request_id=rid,
            case_id=f"agent:{agent}",
            kind=PRESENCE,
            agent=agent,
            presence=presence,
            requested_at=to_timestamp(self.now),
        )


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(
    agents: int, cases: int, decisions: int, seed: int, *, profile: bool = False
) -> tuple[dict[str, list[float]], tuple[list[float], list[float]], int, int]:
    care = care_config(agents, seed)
    load = Workload(care, seed)
    tracemalloc.start()
    load.build(cases)
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    timings: dict[str, list[float]] = defaultdict(list)
    kinds = [k for k, weight in MIX for _ in range(weight)] + ["presence"] * 8
    profiler = cProfile.Profile() if profile else None
    ticks: list[float] = []
    predicted: list[float] = []
    for index in range(decisions):
        load.now += timedelta(milliseconds=50)
        kind = load.rng.choice(kinds)
        request = load.request(kind)
        kind = KIND_NAMES[request.kind]  # what was sent (a claim with nobody waiting: presence)
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        load.assigner.on_request(request, load.now)
        elapsed = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
        timings[kind].append(elapsed * 1000)
        if index % 100 == 99:  # every 5 simulated seconds, as the processor ticks
            predicting = index % 600 == 599  # and predicts every 30 s
            started = time.perf_counter()
            load.assigner.tick(load.now, predict=predicting)
            (predicted if predicting else ticks).append((time.perf_counter() - started) * 1000)
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    waiting = len(load.assigner.waiting())
    return timings, (ticks, predicted), memory, waiting


def report(
    title: str, timings: dict[str, list[float]], ticks: tuple[list[float], list[float]]
) -> None:
    print(title)
    print(f"  {'kind':<10} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    everything: list[float] = []
    for kind in KINDS:
        samples = timings.get(kind, [])
        everything += samples
        if samples:
            print(
                f"  {kind:<10} {len(samples):>6} {statistics.median(samples):>8.3f} "
                f"{percentile(samples, 0.99):>8.3f} {max(samples):>8.3f}"
            )
    print(
        f"  {'all':<10} {len(everything):>6} {statistics.median(everything):>8.3f} "
        f"{percentile(everything, 0.99):>8.3f} {max(everything):>8.3f}"
    )
    for name, samples, note in (
        ("tick", ticks[0], "every 5 s: grace sweep, fill"),
        ("+predict", ticks[1], "every 30 s: and the whole backlog predicted"),
    ):
        if samples:
            print(
                f"  {name:<10} {len(samples):>6} {statistics.median(samples):>8.3f} "
                f"{percentile(samples, 0.99):>8.3f} {max(samples):>8.3f}   ({note})"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the large run")
    args = parser.parse_args(argv)

    small, small_ticks, small_memory, small_waiting = run(10, 100, args.decisions, args.seed)
    started = time.perf_counter()
    large, large_ticks, large_memory, large_waiting = run(
        args.agents, args.cases, args.decisions, args.seed, profile=args.profile
    )
    took = time.perf_counter() - started
    report(
        f"baseline: 10 agents, 100 open cases ({small_waiting} waiting at the end)",
        small,
        small_ticks,
    )
    report(
        f"{args.agents} agents, {args.cases} open cases ({large_waiting} waiting at the end)",
        large,
        large_ticks,
    )
    everything = [t for samples in large.values() for t in samples]
    baseline = [t for samples in small.values() for t in samples]
    print(
        f"p99 all kinds: {percentile(everything, 0.99):.3f} ms (goal <= 10 ms), "
        f"{percentile(everything, 0.99) / percentile(baseline, 0.99):.1f}x the baseline's "
        f"{percentile(baseline, 0.99):.3f} ms"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"assigner memory: {large_memory / 2**20:.1f} MiB at {args.cases} cases "
        f"({small_memory / 2**10:.0f} KiB at 100); peak RSS {rss:.0f} MiB; "
        f"large run {took:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
