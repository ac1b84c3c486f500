"""A case's SLA clocks and escalations in the console: what the panels show (both clocks,
paused, warnings passed, at risk; each escalation as its case has it), who gets which
button (the REST routes' rules), and the console's acknowledge and resolve routes, which
judge a request as `POST /v1/escalations/{id}/acknowledge|resolve` do and publish the same
commands on care.commands."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from socialcare.console import views
from socialcare.console.routes import console_router
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode
from socialcare.gateway.access import escalation_handler, may_handle_escalation
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.commands import command_id
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2
from tests.unit.auth_support import authed_app

from .conftest import NOW, PRINCIPALS, Console, care_of, make_case

E = escalation_pb2


def escalation(
    escalation_id: str,
    case_id: str,
    *,
    status: E.EscalationStatus.ValueType = E.ESCALATION_STATUS_OPEN,
    on_call: tuple[str, ...] = (),
    minutes_ago: int = 10,
) -> escalation_pb2.Escalation:
    return E.Escalation(
        id=escalation_id,
        case_id=case_id,
        trigger=E.ESCALATION_TRIGGER_AGENT_REQUEST,
        tier=E.ESCALATION_TIER_TEAM_LEAD,
        status=status,
        reason="olivia asks for help: customer threatens the press <b>",
        raised_at=to_timestamp(NOW - timedelta(minutes=minutes_ago)),
        raised_by="olivia",
        on_call=on_call,
        level=1,
        revision=2,
        policy="standard",
        acknowledge_by=to_timestamp(NOW + timedelta(minutes=20)),
        acknowledged_by="sanne" if status != E.ESCALATION_STATUS_OPEN else "",
        resolved_by="sanne" if status == E.ESCALATION_STATUS_RESOLVED else "",
    )


def escalated_case(
    case_id: str = "acme-esc", *escalations: escalation_pb2.Escalation
) -> case_pb2.Case:
    """Olivia's case (acme, English) with these escalations on it."""
    case = make_case(case_id, brand="acme", status="assigned", assignee="olivia")
    case.escalations.extend(escalations or (escalation("esc-1", case_id),))
    return case


def commands(console: Console) -> list[commands_pb2.AgentCommand]:
    return [
        decode(record, commands_pb2.AgentCommand)
        for record in console.runtime.bus.replay(Topic.COMMANDS.value)
    ]


def post(console: Console, path: str, who: str, json: object = None) -> httpx.Response:
    """POST as `who`'s browser does: session cookies and the session's CSRF header."""
    console.sign_in(who)
    response: httpx.Response = console.client.post(
        path, json=json, headers={"X-CSRF-Token": console.session(who).csrf_token}
    )
    return response


ACK = "/console/cases/acme-esc/escalations/esc-1/acknowledge"
RESOLVE = "/console/cases/acme-esc/escalations/esc-1/resolve"


# --- the clocks, without HTTP -----------------------------------------------------------


def test_a_case_shows_its_response_and_resolution_clocks() -> None:
    case = make_case("c-1", brand="acme")
    case.sla.kind = case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE
    case.sla.cycle = 2
    case.sla.target_seconds = 3600
    case.sla.warning_thresholds.extend([0.5, 0.75, 0.9])
    case.sla.warned.extend([0.75, 0.5])
    case.sla.at_risk = True
    case.resolution_sla.kind = case_pb2.SLA_CLOCK_KIND_RESOLUTION
    case.resolution_sla.state = case_pb2.SLA_STATE_PAUSED
    case.resolution_sla.target_seconds = 8 * 3600
    case.resolution_sla.consumed_seconds = 3 * 3600
    case.resolution_sla.paused_at.CopyFrom(to_timestamp(NOW))
    case.resolution_sla.at_risk = True

    response, resolution = views.case_clocks(case)

    assert (response.kind, response.cycle, response.state) == ("next_response", 2, "running")
    assert response.label_key == "clock_next_response"
    assert response.due_at == NOW + timedelta(minutes=40)
    assert response.warned == (0.5, 0.75)
    assert response.at_risk and response.left_s is None
    assert (resolution.kind, resolution.state) == ("resolution", "paused")
    assert resolution.left_s == 5 * 3600, "the target's time not yet used"
    assert resolution.at_risk


def test_a_stopped_clock_is_no_longer_at_risk_and_old_clocks_are_first_responses() -> None:
    case = make_case("c-2", brand="acme")
    case.sla.state = case_pb2.SLA_STATE_BREACHED
    case.sla.at_risk = True
    case.sla.stopped_at.CopyFrom(to_timestamp(NOW))
    [clock] = views.case_clocks(case)
    assert (clock.kind, clock.cycle, clock.state) == ("first_response", 1, "breached")
    assert clock.stopped_at == NOW
    assert not clock.at_risk
    assert views.case_clocks(case_pb2.Case(id="bare")) == []


# --- escalations and who may do what, without HTTP ------------------------------------------


@pytest.mark.parametrize(
    ("who", "on_call", "handles"),
    [
        ("lead", (), True),
        ("ops", (), True),
        ("admin", (), True),
        ("olivia", (), False),
        ("olivia", ("olivia",), True),
        ("sanne", ("olivia",), False),
    ],
)
def test_who_may_acknowledge_and_resolve(who: str, on_call: tuple[str, ...], handles: bool) -> None:
    """`gateway.access`'s rule, which the REST routes, the buttons and these routes ask."""
    assert may_handle_escalation(PRINCIPALS[who], escalation("e", "c", on_call=on_call)) is (
        handles
    )


def test_whose_name_an_escalation_is_handled_in() -> None:
    assert escalation_handler(PRINCIPALS["lead"]) == "sanne", "the lead's roster agent"
    assert escalation_handler(PRINCIPALS["ops"]) == PRINCIPALS["ops"].id, "not on the roster"


def test_who_may_escalate(console: Console) -> None:
    roster = care_of(console).agents_by_id
    olivia, sanne = roster["olivia"], roster["sanne"]
    assert views.may_escalate(PRINCIPALS["olivia"], olivia, "olivia")
    assert not views.may_escalate(PRINCIPALS["sanne"], sanne, "olivia"), "not her case"
    assert views.may_escalate(PRINCIPALS["lead"], sanne, "olivia"), "leads: any case"
    assert not views.may_escalate(PRINCIPALS["ops"], None, "olivia"), "operations do not act"


def test_escalations_to_handle_first_with_people_by_name(console: Console) -> None:
    care = care_of(console)
    case = escalated_case(
        "acme-esc",
        escalation("old-done", "acme-esc", status=E.ESCALATION_STATUS_RESOLVED, minutes_ago=50),
        escalation("taken", "acme-esc", status=E.ESCALATION_STATUS_ACKNOWLEDGED, minutes_ago=40),
        escalation("new-open", "acme-esc", on_call=("olivia", "lena-id"), minutes_ago=5),
        escalation("old-open", "acme-esc", minutes_ago=30),
    )
    shown = views.case_escalations(care, PRINCIPALS["lead"], case)
    assert [e.id for e in shown] == ["new-open", "old-open", "taken", "old-done"]
    first = shown[0]
    assert (first.tier, first.trigger, first.status, first.level) == (
        "team_lead",
        "agent_request",
        "open",
        1,
    )
    assert first.on_call == ("Olivia Carter", "lena-id")
    assert first.raised_by == "Olivia Carter"
    assert first.acknowledge_by == NOW + timedelta(minutes=20)
    assert first.may_acknowledge and first.may_resolve
    taken = shown[2]
    assert taken.acknowledged_by == "Sanne de Vries"
    assert taken.acknowledge_by is None, "no deadline once someone took it"
    assert not taken.may_acknowledge and taken.may_resolve
    assert not shown[3].may_acknowledge and not shown[3].may_resolve
    # The viewer's own account id (a lead not on the roster) reads as their name.
    assert views.person_name(care, PRINCIPALS["ops"], "ops") == PRINCIPALS["ops"].name


# --- the page ---------------------------------------------------------------------------


def side_panel(page: str, title_id: str) -> str:
    start = page.index(f'id="{title_id}"')
    return page[start : page.index("</section>", start)]


def test_the_case_page_shows_both_clocks(console: Console) -> None:
    case = escalated_case("acme-esc")
    case.sla.target_seconds = 3600
    case.sla.warned.append(0.75)
    case.sla.at_risk = True
    case.resolution_sla.kind = case_pb2.SLA_CLOCK_KIND_RESOLUTION
    case.resolution_sla.state = case_pb2.SLA_STATE_PAUSED
    case.resolution_sla.target_seconds = 8 * 3600
    case.resolution_sla.consumed_seconds = 2 * 3600
    console.add(case)

    panel = side_panel(console.get("/cases/acme-esc", user="olivia").text, "sla-title")

    assert "First response" in panel and "Resolution" in panel
    assert 'data-due="2026-11-26T12:40:00+00:00"' in panel, "a live countdown to the due time"
    assert '<time datetime="2026-11-26T12:40:00+00:00" class="localtime">' in panel
    assert "75 % of the target" in panel
    assert "At risk" in panel
    assert "Paused — awaiting customer" in panel
    assert "6 h of the target left when it resumes" in panel


def test_the_clocks_in_dutch(console: Console) -> None:
    case = escalated_case("acme-esc")
    case.sla.kind = case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE
    case.sla.cycle = 3
    case.sla.state = case_pb2.SLA_STATE_PAUSED
    console.add(case)
    page = console.get("/cases/acme-esc", user="olivia", **{"accept-language": "nl"}).text
    panel = side_panel(page, "sla-title")
    assert "Serviceniveaus" in panel
    assert "Volgende reactie #3" in panel
    assert "Gepauzeerd — wacht op klant" in panel
    assert "Teamleider · Verzoek van een agent" in side_panel(page, "escalations-title")


def test_the_case_page_shows_a_cancelled_clock(console: Console) -> None:
    case = escalated_case("acme-esc")
    case.sla.state = case_pb2.SLA_STATE_CANCELLED
    case.sla.stopped_at.FromSeconds(case.sla.started_at.seconds + 600)
    console.add(case)
    panel = side_panel(console.get("/cases/acme-esc", user="olivia").text, "sla-title")
    assert 'class="sla sla-cancelled">Cancelled — merged into another case<' in panel
    assert "data-due=" not in panel.split("Resolution")[0], "no countdown"
    assert 'data-state="cancelled"' in panel


def test_escalations_come_from_the_case_with_buttons_for_those_allowed(console: Console) -> None:
    console.add(escalated_case())
    lead_page = console.get("/cases/acme-esc", user="lead").text
    panel = side_panel(lead_page, "escalations-title")
    assert "Team lead · Agent&#39;s request" in panel
    assert "customer threatens the press &lt;b&gt;" in panel, "escaped"
    assert "Raised by Olivia Carter" in panel
    assert f'hx-post="{ACK}"' in panel
    assert f'hx-post="{RESOLVE}"' in panel
    assert 'class="countdown" datetime="2026-11-26T12:20:00+00:00"' in panel, "acknowledge by"
    # The owner, not on call for it, sees it but may not take it.
    owner_panel = side_panel(
        console.get("/cases/acme-esc", user="olivia").text, "escalations-title"
    )
    assert "Team lead · Agent&#39;s request" in owner_panel
    assert ACK not in owner_panel and RESOLVE not in owner_panel


def test_the_owner_and_leads_get_the_escalate_form(console: Console) -> None:
    console.add(escalated_case())
    form = 'hx-post="/v1/cases/acme-esc/escalations"'
    owner = console.get("/console/fragments/cases/acme-esc/actions", user="olivia").text
    assert form in owner
    assert '<label for="sc-escalate-reason">What help is needed</label>' in owner
    assert '<option value="team_lead">Team lead</option>' in owner
    assert form in console.get("/cases/acme-esc", user="lead").text
    # Sanne may act on the queue's cases, but this one is Olivia's.
    assert form not in console.get("/cases/acme-esc", user="sanne").text
    # A case waiting in the queue: whoever claims it may escalate it then.
    queued = console.get("/console/fragments/cases/acme-1/actions", user="olivia").text
    assert "Claim case" in queued
    assert 'hx-post="/v1/cases/acme-1/escalations"' not in queued


# --- the acknowledge and resolve routes ---------------------------------------------------


def test_a_lead_acknowledges_an_escalation(console: Console) -> None:
    console.add(escalated_case())
    answer = post(console, ACK, "lead")
    assert answer.status_code == 202, answer.text
    [sent] = commands(console)
    assert answer.json() == {"command_id": sent.command_id, "case_id": "acme-esc"}
    assert sent.case_id == "acme-esc"
    assert sent.acknowledge_escalation.escalation_id == "esc-1"
    assert sent.acknowledge_escalation.by == "sanne", "the lead's roster agent"
    assert sent.issued_by == console.user_id("lead")
    # The id the REST route gives the same acknowledgement: a retry is the same command.
    assert sent.command_id == command_id("acme-esc", "acknowledge_escalation", "esc-1:2")
    assert post(console, ACK, "lead").json()["command_id"] == sent.command_id


def test_an_agent_on_call_acknowledges_others_may_not(console: Console) -> None:
    console.add(escalated_case("acme-esc", escalation("esc-1", "acme-esc", on_call=("olivia",))))
    console.add(escalated_case("acme-esc2", escalation("esc-2", "acme-esc2")))
    assert post(console, ACK, "olivia").status_code == 202
    refused = post(console, "/console/cases/acme-esc2/escalations/esc-2/acknowledge", "olivia")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert len(commands(console)) == 1


def test_without_the_csrf_header_nothing_is_published(console: Console) -> None:
    console.add(escalated_case())
    console.sign_in("lead")
    answer = console.client.post(ACK)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "csrf_failed"
    assert commands(console) == []


@pytest.mark.parametrize(
    ("path", "who", "status"),
    [
        ("/console/cases/acme-esc/escalations/esc-x/acknowledge", "lead", 404),
        ("/console/cases/globex-1/escalations/esc-1/acknowledge", "lead", 404),
        ("/console/cases/nope/escalations/esc-1/resolve", "lead", 404),
        (ACK, "integrator", 403),
    ],
)
def test_unknown_or_foreign_escalations_are_not_found(
    console: Console, path: str, who: str, status: int
) -> None:
    console.add(escalated_case())
    if who == "integrator":
        answer = console.client.post(path, headers=console.bearer(who))
    else:
        answer = post(console, path, who)
    assert answer.status_code == status, answer.text
    assert commands(console) == []


def test_an_acknowledged_escalation_is_a_conflict_and_can_be_resolved(console: Console) -> None:
    console.add(
        escalated_case(
            "acme-esc", escalation("esc-1", "acme-esc", status=E.ESCALATION_STATUS_ACKNOWLEDGED)
        )
    )
    again = post(console, ACK, "lead")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "escalation_acknowledged"
    resolved = post(console, RESOLVE, "ops", json={"note": "  Called the customer back  "})
    assert resolved.status_code == 202, resolved.text
    [sent] = commands(console)
    assert sent.resolve_escalation.escalation_id == "esc-1"
    assert sent.resolve_escalation.note == "Called the customer back"
    assert sent.resolve_escalation.by == console.user_id("ops"), "ops is not on the roster"
    assert sent.command_id == command_id("acme-esc", "resolve_escalation", "esc-1:resolve")


def test_a_resolved_escalation_stays_resolved(console: Console) -> None:
    console.add(
        escalated_case(
            "acme-esc", escalation("esc-1", "acme-esc", status=E.ESCALATION_STATUS_RESOLVED)
        )
    )
    answer = post(console, RESOLVE, "lead")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "escalation_resolved"
    too_long = post(console, RESOLVE, "lead", json={"note": "x" * 5001})
    assert too_long.status_code == 422
    assert commands(console) == []


def test_the_inbox_says_a_paused_clock_waits_for_the_customer(console: Console) -> None:
    case = make_case("acme-paused", brand="acme", status="waiting_on_customer", assignee="olivia")
    case.sla.state = case_pb2.SLA_STATE_PAUSED
    console.add(case)
    page = console.get("/", user="olivia").text
    row = page[page.index('data-case="acme-paused"') :]
    assert "Paused — awaiting customer" in row[: row.index("</tr>")]


def test_routing_down_is_503_and_nothing_is_published(console: Console) -> None:
    unreachable = CaseClient("127.0.0.1:1", timeout_s=0.3)
    router = console_router(
        care=console.runtime.care,
        board=console.board,
        cases=unreachable,
        search=console.runtime.search,
        producer=console.runtime.producer,
    )
    app = authed_app(console.runtime, [router], "down")
    with TestClient(app, cookies=console.cookies("lead"), base_url="https://testserver") as client:
        answer = client.post(ACK, headers={"X-CSRF-Token": console.session("lead").csrf_token})
    unreachable.close()
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "routing_unavailable"
    assert commands(console) == []
