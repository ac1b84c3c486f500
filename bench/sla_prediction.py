"""Breach prediction, measured: does the assigner's AT_RISK come early and for the right
cases, and does overflow (specialists, other teams on shift) save breaches?

A discrete-event simulation drives the real `routing.assignment.Assigner` with a simulated
clock (no bus, no threads), one working day per seed:

* arrivals: a Poisson process per language (`--rates`, cases per hour) from 08:00 to 20:00
  UTC, plus a surge: one language (drawn per seed) gets `--surge`x its rate for
  `--surge-minutes` starting at a random time between 09:00 and 17:00;
* agents: one team per language on an 07:00-21:00 calendar, some of them speaking a second
  language (the "other teams on shift" of overflow), and 24/7 specialists who speak every
  language (not in the normal pool);
* each case's response clock is due `--target` minutes after it opened (round the clock);
  an agent's first reply comes a lognormal time after the assignment (median 2 min), the
  case is released a lognormal handle time after it (median `--handle` minutes, sigma 0.6);
  the RELEASE carries the first reply, so the assigner learns both times as it would live;
* the assigner ticks every simulated minute (as the processor does, throttled).

Each seed runs twice on the same traffic: overflow OFF (the baseline: what happens without
intervention; AT_RISK is still emitted) and overflow ON. Printed, pooled over the seeds:

* recall: of the cases that breached without intervention, the share that got AT_RISK
  before their due time; precision: of the cases warned, the share that did breach;
* lead time: minutes between AT_RISK and the due time (median, p10) for the breached cases
  warned, next to the lead of the clock's 75 % threshold WARNING (a quarter of the target,
  whatever the queue) and the share of them warned earlier than that threshold;
* breaches with overflow off vs on, and how many cases overflow moved.

Figures, never assertions.

    python bench/sla_prediction.py [--seeds 20] [--rates en=24,nl=10,de=10]
        [--surge 3] [--surge-minutes 60] [--target 30] [--handle 12]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.routing.assignment import QUEUE, RELEASE, Assigner
from socialcare.v1 import routing_pb2, sla_pb2

DAY = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
WARNING_THRESHOLD = 0.75
FIRST_REPLY_MEDIAN_MINUTES = 2.0
SIGMA = 0.6
# Teams are sized so that the normal traffic keeps this share of their slots busy.
STAFFING_LOAD = 0.7


def care_config(rates: dict[str, float], handle_minutes: float) -> CareConfig:
    """A team per language, staffed for `STAFFING_LOAD` of its normal rate (agents of
    capacity 2; the first also speaks the next language), on a 07:00-21:00 calendar, and
    two round-the-clock specialists."""
    languages = sorted(rates)
    mean_handle_hours = handle_minutes * math.exp(SIGMA**2 / 2) / 60
    agents: list[dict[str, object]] = []
    for index, language in enumerate(languages):
        other = languages[(index + 1) % len(languages)]
        slots = rates[language] * mean_handle_hours / STAFFING_LOAD
        for number in range(max(1, math.ceil(slots / 2))):
            spoken = [language, other] if number == 0 and other != language else [language]
            agents.append(
                {
                    "id": f"{language}-{number}",
                    "name": f"Agent {language} {number}",
                    "languages": spoken,
                    "capacity": 2,
                    "team": f"team-{language}",
                }
            )
    for number in range(2):
        agents.append(
            {
                "id": f"specialist-{number}",
                "name": f"Specialist {number}",
                "languages": list(languages),
                "capacity": 2,
                "specialist": True,
            }
        )
    return CareConfig.model_validate(
        {
            "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "30m"}],
            "calendars": [
                {
                    "name": "day-shift",
                    "time_zone": "UTC",
                    "hours": {
                        day: "07:00-21:00"
                        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                    },
                }
            ],
            "teams": [{"name": f"team-{lang}", "calendar": "day-shift"} for lang in languages],
            "queues": [
                *(
                    {"name": f"care-{lang}", "languages": [lang], "team": f"team-{lang}"}
                    for lang in languages
                ),
                {"name": "care-other", "languages": ["*"]},
            ],
            "agents": agents,
        }
    )


@dataclass(frozen=True)
class Arrival:
    case_id: str
    language: str
    at: datetime
    reply_delay: float  # seconds from assignment to the first reply
    handle: float  # seconds from assignment to release


def traffic(seed: int, rates: dict[str, float], args: argparse.Namespace) -> list[Arrival]:
    rng = random.Random(seed)
    languages = sorted(rates)
    surging = rng.choice(languages)
    surge_start = DAY + timedelta(hours=9) + timedelta(minutes=rng.uniform(0, 8 * 60))
    surge_end = surge_start + timedelta(minutes=args.surge_minutes)
    arrivals: list[Arrival] = []
    for language in languages:
        at = DAY + timedelta(hours=8)
        peak = rates[language] * (args.surge if language == surging else 1.0)
        while True:
            # Thinning: draw at the peak rate, keep a point with probability rate(t) / peak.
            at += timedelta(hours=rng.expovariate(peak))
            if at >= DAY + timedelta(hours=20):
                break
            in_surge = language == surging and surge_start <= at < surge_end
            rate = rates[language] * (args.surge if in_surge else 1.0)
            if rng.random() * peak > rate:
                continue
            arrivals.append(
                Arrival(
                    case_id=f"s{seed}-{language}-{len(arrivals)}",
                    language=language,
                    at=at,
                    reply_delay=60
                    * rng.lognormvariate(math.log(FIRST_REPLY_MEDIAN_MINUTES), SIGMA),
                    handle=60 * rng.lognormvariate(math.log(args.handle), SIGMA),
                )
            )
    return sorted(arrivals, key=lambda a: a.at)


@dataclass
class Outcome:
    due: dict[str, datetime] = field(default_factory=dict)
    replied: dict[str, datetime] = field(default_factory=dict)
    warned: dict[str, datetime] = field(default_factory=dict)  # AT_RISK time
    overflowed: int = 0

    @property
    def breached(self) -> set[str]:
        return {
            c
            for c, due in self.due.items()
            if self.replied.get(c, datetime.max.replace(tzinfo=UTC)) > due
        }


def simulate(
    care: CareConfig, arrivals: list[Arrival], target: timedelta, overflow: bool
) -> Outcome:
    assigner = Assigner(care, overflow=overflow)
    outcome = Outcome()
    by_id = {a.case_id: a for a in arrivals}
    # (time, order, kind, case id): kinds sort so that a release precedes a tick at one time.
    events: list[tuple[datetime, int, str, str]] = []
    order = 0

    def push(at: datetime, kind: str, case_id: str) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, kind, case_id))

    for arrival in arrivals:
        push(arrival.at, "arrive", arrival.case_id)
    tick = DAY + timedelta(hours=7)
    end = DAY + timedelta(days=2)
    while tick < end:
        push(tick, "tick", "")
        tick += timedelta(minutes=1)

    assigned_at: dict[str, datetime] = {}
    while events:
        now, _, kind, case_id = heapq.heappop(events)
        if kind == "tick":
            if not assigner.waiting() and len(outcome.replied) == len(arrivals):
                break
            effects = assigner.tick(now)
        elif kind == "arrive":
            arrival = by_id[case_id]
            due = arrival.at + target
            outcome.due[case_id] = due
            request = routing_pb2.AssignmentRequest(
                request_id=f"q-{case_id}",
                case_id=case_id,
                kind=QUEUE,
                epoch=1,
                language=arrival.language,
                queue=care.queue_for(arrival.language).name,
                priority="normal",
                opened_at=to_timestamp(arrival.at),
                requested_at=to_timestamp(now),
                brand="default",
                response_due_at=to_timestamp(due),
            )
            effects = assigner.on_request(request, now)
        elif kind == "reply":
            outcome.replied.setdefault(case_id, now)
            continue
        else:  # release
            request = routing_pb2.AssignmentRequest(
                request_id=f"r-{case_id}",
                case_id=case_id,
                kind=RELEASE,
                epoch=1,
                requested_at=to_timestamp(now),
                first_reply_at=to_timestamp(outcome.replied[case_id]),
            )
            effects = assigner.on_request(request, now)
        for effect in effects:
            message = effect.message
            if (
                isinstance(message, sla_pb2.SlaEvent)
                and message.type == sla_pb2.SLA_EVENT_TYPE_AT_RISK
            ):
                outcome.warned.setdefault(message.case_id, now)
            elif isinstance(message, routing_pb2.AssignmentDecision) and message.agent:
                if message.case_id in assigned_at:
                    continue
                assigned_at[message.case_id] = now
                outcome.overflowed += message.overflow
                arrival = by_id[message.case_id]
                reply = now + timedelta(seconds=arrival.reply_delay)
                push(reply, "reply", message.case_id)
                push(
                    now + timedelta(seconds=max(arrival.handle, arrival.reply_delay)),
                    "release",
                    message.case_id,
                )
    return outcome


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--rates", default="en=24,nl=10,de=10", help="cases per hour, per language")
    parser.add_argument("--surge", type=float, default=3.0, help="rate multiplier of the surge")
    parser.add_argument("--surge-minutes", type=float, default=60.0)
    parser.add_argument("--target", type=float, default=30.0, help="first-response target, minutes")
    parser.add_argument("--handle", type=float, default=12.0, help="median handle time, minutes")
    args = parser.parse_args(argv)
    rates = {k: float(v) for k, v in (pair.split("=") for pair in args.rates.split(","))}
    care = care_config(rates, args.handle)
    target = timedelta(minutes=args.target)
    threshold_lead = (1 - WARNING_THRESHOLD) * args.target

    started = time.perf_counter()
    cases = breached_off = breached_on = warned_total = warned_breached = overflowed = 0
    breached_warned = 0
    leads: list[float] = []
    columns = ("seed", "cases", "breach off", "warned", "hit", "breach on", "moved")
    print(" ".join(f"{name:>10}" for name in columns))
    for seed in range(args.seeds):
        arrivals = traffic(seed, rates, args)
        off = simulate(care, arrivals, target, overflow=False)
        on = simulate(care, arrivals, target, overflow=True)
        missed = off.breached
        warned = set(off.warned)
        hits = warned & missed
        cases += len(arrivals)
        breached_off += len(missed)
        breached_on += len(on.breached)
        warned_total += len(warned)
        warned_breached += len(hits)
        breached_warned += len(hits)
        overflowed += on.overflowed
        leads += [(off.due[c] - off.warned[c]).total_seconds() / 60 for c in hits]
        row = (seed, len(arrivals), len(missed), len(warned), len(hits), len(on.breached))
        print(" ".join(f"{value:>10}" for value in (*row, on.overflowed)))
    elapsed = time.perf_counter() - started

    def share(part: int, whole: int) -> str:
        return f"{part / whole:.1%} ({part}/{whole})" if whole else "n/a (0/0)"

    earlier = sum(1 for lead in leads if lead > threshold_lead)
    print()
    print(f"seeds {args.seeds}, cases {cases}, simulated in {elapsed:.1f} s")
    median = statistics.median(leads) if leads else float("nan")
    print("recall    (breached without intervention, warned before due):", end=" ")
    print(share(breached_warned, breached_off))
    print("precision (warned cases that breached without intervention): ", end=" ")
    print(share(warned_breached, warned_total))
    print(
        f"lead time AT_RISK -> due, minutes: median {median:.1f}, "
        f"p10 {percentile(leads, 0.10):.1f}; the 75 % threshold warning leads by "
        f"{threshold_lead:.1f}; AT_RISK earlier than it: {share(earlier, len(leads))}"
    )
    print(
        f"breaches: overflow off {breached_off} ({share(breached_off, cases)}), "
        f"overflow on {breached_on} ({share(breached_on, cases)}); "
        f"cases moved by overflow {overflowed}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
