"""The console's decisions without HTTP: visibility, inbox order, the wall's figures."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from socialcare.console import views
from socialcare.console.board import CaseBoard, summarize
from socialcare.core.domain.care_config import load_care_config
from socialcare.v1 import case_pb2

from .conftest import NOW, PRINCIPALS, event, make_case


def test_percentile_nearest_rank() -> None:
    assert views.percentile([], 0.5) is None
    assert views.percentile([5.0], 0.9) == 5.0
    values = [float(v) for v in range(1, 11)]
    assert views.percentile(values, 0.5) == 5.0
    assert views.percentile(values, 0.9) == 9.0


def test_agent_queues_include_the_catch_all_for_languages_without_a_queue(
    care_path: Path,
) -> None:
    care = load_care_config(care_path)
    sanne = care.agents_by_id["sanne"]
    assert views.agent_queues(care, sanne) == ["care-nl", "care-en"]
    default = load_care_config()
    giulia = default.agents_by_id["giulia"]  # Italian has no queue of its own
    assert views.agent_queues(default, giulia) == ["care-global", "care-en"]


def test_visibility_rules(care_path: Path) -> None:
    care = load_care_config(care_path)
    mine = summarize(make_case("a", brand="acme", status="assigned", assignee="olivia"), care)
    queued_nl = summarize(make_case("b", brand="acme", language="nl"), care)
    consulted = make_case("c", brand="acme", language="nl", status="assigned", assignee="sanne")
    consulted.consultants.append("olivia")
    other_brand = summarize(make_case("d", brand="globex"), care)
    unbranded = summarize(make_case("e", brand=""), care)  # the first brand: acme
    olivia = PRINCIPALS["olivia"]
    assert views.visible(care, olivia, mine)
    assert not views.visible(care, olivia, queued_nl)
    assert views.visible(care, olivia, summarize(consulted, care))
    assert not views.visible(care, olivia, other_brand)
    assert unbranded.brand == "acme" and views.visible(care, olivia, unbranded)
    assert views.visible(care, PRINCIPALS["ops"], queued_nl)
    assert not views.visible(care, PRINCIPALS["ops"], other_brand)
    assert views.visible(care, PRINCIPALS["admin"], other_brand)
    assert not views.visible(care, PRINCIPALS["integrator"], mine)


def test_wall_counts_an_overdue_clock_as_breached(care_path: Path) -> None:
    care = load_care_config(care_path)
    board = CaseBoard(care, clock=lambda: NOW)
    overdue = make_case("late", brand="acme", opened=NOW - timedelta(hours=2))
    breached = make_case("br", brand="acme", status="assigned", assignee="olivia")
    breached.sla.state = case_pb2.SLA_STATE_BREACHED
    met = make_case("met", brand="acme", status="resolved", assignee="olivia")
    met.sla.state = case_pb2.SLA_STATE_MET
    met.sla.first_response_at.seconds = met.sla.started_at.seconds + 120
    old = make_case("old", brand="acme", opened=NOW - timedelta(days=3))
    for case in (overdue, breached, met, old):
        board.apply(event(case))
    wall = views.wall(care, board.cases(), {"sanne"}, NOW)
    (english,) = wall.languages
    assert (english.cases, english.met, english.breached) == (3, 1, 2)
    assert english.overdue_open == 1
    assert english.attainment == 1 / 3
    assert english.p50_s == 120.0
    assert english.target_s == 3600.0
    queues = {q.queue: q for q in wall.queues}
    assert queues["care-en"].waiting == 2  # late and old wait; breached is with olivia
    assert queues["care-en"].in_progress == 1
    assert queues["care-en"].oldest_waiting_since == NOW - timedelta(days=3)
    benelux = next(p for p in wall.presence if p.team == "Benelux")
    assert benelux.present == ["Sanne de Vries"] and benelux.roster == 2
    assert benelux.local_time == "13:00"  # Amsterdam in November: UTC+1
    assert sum(h.messages for h in wall.sentiment) == 3  # the 3-day-old message is outside


def test_board_keeps_the_newest_version_and_forgets_old_resolved_cases(care_path: Path) -> None:
    care = load_care_config(care_path)
    board = CaseBoard(care, clock=lambda: NOW)
    newer = make_case("x", brand="acme", status="assigned", assignee="olivia", version=3)
    older = make_case("x", brand="acme", version=2)
    board.apply(event(newer))
    assert board.apply(event(older)) is None
    summary = board.get("x")
    assert summary is not None and summary.assignee == "olivia"
    gone = make_case("y", brand="acme", status="resolved", opened=NOW - timedelta(days=2))
    board.apply(event(gone))
    assert board.get("y") is None, "resolved more than a day ago: not the wall's window"
