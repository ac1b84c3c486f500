"""The breach-prediction model on its own: queue position, free slots, agents on shift,
handle and first-reply times -> a predicted response time, and whether it is late."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from socialcare.core.domain.calendars import BusinessCalendar
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.routing.prediction import (
    Ewma,
    PoolState,
    ServiceTimes,
    Shifts,
    WaitingCase,
    predict,
)
from tests.unit.factories import T0  # Monday 09:00 UTC

ANN = Agent(id="ann", name="Ann", languages=["en"], capacity=2)
BOB = Agent(id="bob", name="Bob", languages=["en", "nl"], capacity=2)
CEM = Agent(id="cem", name="Cem", languages=["nl"], capacity=1)
DAY = BusinessCalendar.from_hours("day", "UTC", {d: "08:00-17:00" for d in ("mon", "tue")})
ALWAYS = Shifts({})
TIMES = ServiceTimes(handle_prior=600.0, first_reply_prior=60.0)


def waiting(case_id: str, language: str = "en", due: datetime | None = None) -> WaitingCase:
    return WaitingCase(case_id, language, "acme", "", due)


def pools(load: dict[str, int], **agents: list[Agent]) -> dict[tuple[str, str, str], PoolState]:
    return {("acme", language, ""): PoolState(found, load) for language, found in agents.items()}


def test_ewma_answers_the_prior_until_it_has_data_then_follows_the_samples() -> None:
    average = Ewma(prior=100.0, alpha=0.5)
    assert average.estimate == 100.0
    average.observe(10.0)
    assert average.estimate == 10.0
    average.observe(30.0)
    assert average.estimate == 20.0
    average.observe(-5.0)  # a clock skew never makes a negative duration
    assert average.estimate == 10.0
    assert average.samples == 3


def test_service_times_are_kept_per_language() -> None:
    times = ServiceTimes(handle_prior=600.0, first_reply_prior=60.0, alpha=1.0)
    times.observe_handle("en", 120.0)
    times.observe_first_reply("nl", 30.0)
    assert (times.handle("en"), times.handle("nl")) == (120.0, 600.0)
    assert (times.first_reply("en"), times.first_reply("nl")) == (60.0, 30.0)


def test_the_kth_case_waits_for_k_slots_to_free_at_capacity_over_handle_time() -> None:
    # Ann and Bob are full (4 slots, one frees every 600 / 4 = 150 s on average).
    due = T0 + timedelta(minutes=6)
    backlog = [waiting(f"c{k}", due=due) for k in range(3)]
    found = predict(backlog, pools({"ann": 2, "bob": 2}, en=[ANN, BOB]), ALWAYS, TIMES, T0)
    assert [p.position for p in found] == [0, 1, 2]
    assert [p.predicted_response_at for p in found] == [
        T0 + timedelta(seconds=150 + 60),
        T0 + timedelta(seconds=300 + 60),
        T0 + timedelta(seconds=450 + 60),
    ]
    assert [p.at_risk for p in found] == [False, False, True]
    late = found[2]
    assert (late.free_slots, late.capacity, late.agents) == (0, 4, 2)
    reason = late.reason(T0)
    assert "2 cases ahead" in reason and "0 free of 4 slots" in reason
    assert "2 agents on shift" in reason and "handle time 10.0 min" in reason
    assert "2.5 min late" in reason


def test_free_slots_mean_no_wait_but_the_first_reply_still_takes_its_time() -> None:
    backlog = [
        waiting("c0", due=T0 + timedelta(seconds=30)),
        waiting("c1", due=T0 + timedelta(hours=1)),
    ]
    found = predict(backlog, pools({"ann": 1, "bob": 2}, en=[ANN, BOB]), ALWAYS, TIMES, T0)
    assert found[0].predicted_response_at == T0 + timedelta(seconds=60)
    assert found[0].at_risk  # a reply takes a minute, the clock is due in 30 s
    assert found[1].predicted_response_at == T0 + timedelta(seconds=150 + 60)
    assert not found[1].at_risk


def test_cases_ahead_count_only_when_they_compete_for_the_same_agents() -> None:
    # en: Ann, Bob; nl: Bob, Cem (overlap: Bob). de: nobody shared.
    eve = Agent(id="eve", name="Eve", languages=["de"], capacity=1)
    table = pools({"ann": 2, "bob": 2, "cem": 1, "eve": 1}, en=[ANN, BOB], nl=[BOB, CEM], de=[eve])
    due = T0 + timedelta(days=1)
    backlog = [
        waiting("n1", "nl", due),
        waiting("d1", "de", due),
        waiting("e1", "en", due),
        waiting("d2", "de", due),
    ]
    found = {p.case_id: p for p in predict(backlog, table, ALWAYS, TIMES, T0)}
    assert found["n1"].position == 0
    assert found["e1"].position == 1  # the nl case ahead shares Bob
    assert found["d2"].position == 1  # only the other de case


def test_a_case_without_a_due_time_is_not_predicted_but_holds_its_place() -> None:
    due = T0 + timedelta(hours=1)
    backlog = [waiting("paused"), waiting("c1", due=due)]
    found = predict(backlog, pools({"ann": 2}, en=[ANN]), ALWAYS, TIMES, T0)
    assert [(p.case_id, p.position) for p in found] == [("c1", 1)]


def test_agents_off_shift_do_not_count_and_an_empty_shift_waits_for_the_next_opening() -> None:
    shifts = Shifts({"ann": DAY, "bob": DAY})
    evening = T0 + timedelta(hours=10)  # Monday 19:00, closed until Tuesday 08:00
    backlog = [waiting("c0", due=evening + timedelta(hours=16))]
    table = pools({"ann": 2, "bob": 2}, en=[ANN, BOB])
    [found] = predict(backlog, table, shifts, TIMES, evening)
    tuesday = datetime(2026, 11, 24, 8, 0, tzinfo=T0.tzinfo)
    assert found.start == tuesday
    assert found.predicted_response_at == tuesday + timedelta(seconds=150 + 60)
    assert not found.at_risk
    assert "from 2026-11-24 08:00 UTC" in found.reason(evening)
    # Ann alone on a 24/7 shift: Bob's closed calendar takes his slots out of the count.
    [alone] = predict(backlog, table, Shifts({"bob": DAY}), TIMES, evening)
    assert (alone.agents, alone.capacity, alone.start) == (1, 2, evening)
    assert alone.predicted_response_at == evening + timedelta(seconds=300 + 60)


def test_nobody_who_could_take_the_case_means_at_risk_without_a_predicted_time() -> None:
    backlog = [waiting("c0", "fr", T0 + timedelta(days=3))]
    [found] = predict(backlog, pools({}, en=[ANN]), ALWAYS, TIMES, T0)
    assert found.predicted_response_at is None
    assert found.at_risk
    assert "no agent" in found.reason(T0)


@pytest.mark.parametrize("handle", [60.0, 600.0, 6000.0])
def test_a_later_place_in_the_queue_is_never_predicted_earlier(handle: float) -> None:
    times = ServiceTimes(handle_prior=handle, first_reply_prior=0.0)
    backlog = [waiting(f"c{k}", due=T0 + timedelta(hours=1)) for k in range(20)]
    found = predict(backlog, pools({"ann": 1}, en=[ANN, BOB]), ALWAYS, times, T0)
    moments = [p.predicted_response_at for p in found]
    assert all(m is not None for m in moments)
    assert moments == sorted(moments)  # type: ignore[type-var]


def test_shifts_follow_the_team_calendar_and_default_to_round_the_clock() -> None:
    care = CareConfig.model_validate(
        {
            "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
            "calendars": [{"name": "office", "time_zone": "UTC", "hours": {"mon": "08:00-17:00"}}],
            "teams": [
                {"name": "day", "calendar": "office"},
                {"name": "always", "calendar": "24/7"},
            ],
            "queues": [{"name": "all", "languages": ["*"]}],
            "agents": [
                {"id": "ann", "name": "Ann", "languages": ["en"], "capacity": 1, "team": "day"},
                {"id": "bob", "name": "Bob", "languages": ["en"], "capacity": 1, "team": "always"},
                {"id": "cem", "name": "Cem", "languages": ["en"], "capacity": 1, "team": "nobody"},
                {"id": "dee", "name": "Dee", "languages": ["en"], "capacity": 1},
            ],
        }
    )
    shifts = Shifts.from_config(care)
    assert set(shifts.calendars) == {"ann"}
    ann = care.agents_by_id["ann"]
    evening = T0 + timedelta(hours=9)  # Monday 18:00
    assert shifts.on_shift(ann, T0) and not shifts.on_shift(ann, evening)
    assert shifts.next_on_shift(ann, evening) == T0 + timedelta(days=7, hours=-1)  # next Monday
    assert all(shifts.on_shift(care.agents_by_id[a], evening) for a in ("bob", "cem", "dee"))
