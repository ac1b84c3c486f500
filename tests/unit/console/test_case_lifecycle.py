"""What agents of a 24/7 team see and do on a case (issue 11, scenarios 1-6): every way to
reach the customer, the questions and which are answered, why the priority, the lifecycle
(waiting for the customer's confirmation until when, resolved, reopen window, closed,
merged, the case it follows), the survey's answer, consultations and referrals; the
actions each person gets; canned answers measured against the channel; presence in the
header and per team on the wall."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from socialcare.console import i18n, views
from socialcare.console.routes import _package_dir
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import load_care_config
from socialcare.gateway.agents import rank_specialists
from socialcare.gateway.models import AgentRead
from socialcare.v1 import case_pb2, routing_pb2

from .conftest import NOW, PRINCIPALS, Console, care_of, make_case


def lived_case(case_id: str = "acme-life") -> case_pb2.Case:
    """Olivia's case of a customer who wrote on X, then gave an e-mail address and phone
    number in a DM: two questions (one answered), a priority with its factors, a
    resolution proposed and pending, a consultation answered and one open, a referral."""
    case = make_case(case_id, brand="acme", status="waiting_on_customer", assignee="olivia")
    case.identities.add(kind="x", value="x-1", display="@kim on x")
    case.identities.add(
        kind="email",
        value="kim@example.nl",
        display="kim@example.nl",
        linked_at=to_timestamp(NOW - timedelta(minutes=5)),
    )
    case.identities.add(kind="phone", value="+31612345678", display="+31 6 12345678")
    case.intents.add(name="billing", question="Why is my bill double?", answered=True)
    case.intents.add(name="router", question="And my router blinks red", product="router")
    case.priority = "high"
    explanation = case.priority_explanation
    explanation.score = 0.6
    explanation.level = "high"
    explanation.factors.add(
        factor="reach", signal=0.5, weight=1.0, contribution=0.15, detail="245,000 followers"
    )
    explanation.factors.add(
        factor="customer_value", signal=1.0, weight=2.0, contribution=0.45, detail="tier vip"
    )
    check = case.resolution_check
    check.outcome = case_pb2.RESOLUTION_OUTCOME_PENDING
    check.proposed_by = "olivia"
    check.asked_at.CopyFrom(to_timestamp(NOW - timedelta(minutes=1)))
    check.due_at.CopyFrom(to_timestamp(NOW + timedelta(hours=48)))
    check.note = "credited the double charge"
    check.round = 1
    case.consultations.add(
        id="cons-1",
        specialist="lucia",
        asked_by="olivia",
        question="Is firmware 2.1 safe to roll back?",
        product="router",
        asked_at=to_timestamp(NOW - timedelta(minutes=30)),
        answer="Yes, roll back to 2.0.",
        answered_at=to_timestamp(NOW - timedelta(minutes=10)),
    )
    case.consultations.add(
        id="cons-2", specialist="wei", asked_by="olivia", question="Any outage in Utrecht?"
    )
    case.referrals.add(to="store manager Utrecht", by="olivia", note="replacement router")
    case.merged_from.append("acme-old-dm")
    case.previous_case_id = "acme-2025"
    case.product = "router"
    return case


def html(console: Console, path: str, user: str = "olivia", **headers: str) -> str:
    response = console.get(path, user=user, **headers)
    assert response.status_code == 200, response.text
    return response.text


# --- without HTTP ---------------------------------------------------------------------------


def test_identities_questions_and_priority_of_a_case(care_path: Path) -> None:
    care = load_care_config(care_path)
    case = lived_case()
    assert [(i.kind, i.display) for i in views.case_identities(case)] == [
        ("x", "@kim on x"),
        ("email", "kim@example.nl"),
        ("phone", "+31 6 12345678"),
    ]
    questions = views.case_questions(care, case)
    assert [(q.name, q.answered) for q in questions] == [("billing", True), ("router", False)]
    assert [q.name for q in views.open_questions(questions)] == ["router"]

    why = views.case_priority(case)
    assert why is not None and why.level == "high"
    assert [f.factor for f in why.factors] == ["customer_value", "reach"], "largest first"
    assert why.factors[0].share == pytest.approx(0.75)
    assert why.factors[1].share == pytest.approx(0.25)


def test_a_case_from_before_identities_shows_its_channel_author() -> None:
    old = make_case("acme-old", brand="acme", handle="@kim")
    (only,) = views.case_identities(old)
    assert (only.kind, only.value, only.display) == ("x", "cust-acme-old", "@kim")
    assert views.case_priority(old) is None
    assert views.case_resolution(old) is None and views.case_survey(old) is None


def test_lifecycle_resolution_and_survey() -> None:
    case = lived_case()
    pending = views.case_resolution(case)
    assert pending is not None
    assert (pending.outcome, pending.proposed_by) == ("pending", "olivia")
    assert pending.due_at == NOW + timedelta(hours=48)
    life = views.case_lifecycle(case)
    assert life.status == "waiting_on_customer" and life.reopen_until is None
    assert life.merged_from == ("acme-old-dm",) and life.previous_case_id == "acme-2025"

    case.status = case_pb2.CASE_STATUS_RESOLVED
    case.resolution_check.outcome = case_pb2.RESOLUTION_OUTCOME_CONFIRMED
    case.reopen_until.CopyFrom(to_timestamp(NOW + timedelta(days=7)))
    case.survey.kind = case_pb2.SURVEY_KIND_NPS
    case.survey.answered = True
    case.survey.score = 9
    resolved = views.case_resolution(case)
    assert resolved is not None and resolved.outcome == "confirmed"
    assert views.case_lifecycle(case).reopen_until == NOW + timedelta(days=7)
    survey = views.case_survey(case)
    assert survey is not None and (survey.kind, survey.scale, survey.score) == ("nps", 10, 9)

    case.status = case_pb2.CASE_STATUS_CLOSED
    case.merged_into = "acme-1"
    closed = views.case_lifecycle(case)
    assert closed.status == "closed" and closed.merged_into == "acme-1"
    assert closed.reopen_until is None, "a closed case does not reopen"


def test_only_the_specialist_asked_answers_a_consultation_once(care_path: Path) -> None:
    care = load_care_config(care_path)
    case = lived_case()
    olivia = views.case_consultations(case, PRINCIPALS["olivia"], care.agents_by_id["olivia"])
    assert [c.may_answer for c in olivia] == [False, False], "she asked; she does not answer"
    wei = care.agents_by_id["wei"]
    as_wei = views.case_consultations(case, PRINCIPALS["olivia"], wei)
    assert [(c.id, c.may_answer) for c in as_wei] == [("cons-1", False), ("cons-2", True)]
    assert as_wei[0].answer == "Yes, roll back to 2.0."
    assert not any(c.may_answer for c in views.case_consultations(case, PRINCIPALS["ops"], wei))
    case.status = case_pb2.CASE_STATUS_CLOSED
    assert not any(c.may_answer for c in views.case_consultations(case, PRINCIPALS["olivia"], wei))
    case.consultants.append("sanne")  # asked through a note, before consultations
    legacy = views.case_consultations(case, PRINCIPALS["olivia"], wei)[-1]
    assert (legacy.id, legacy.specialist, legacy.may_answer) == ("", "sanne", False)


@pytest.mark.parametrize(
    ("who", "status", "assignee", "expected"),
    [
        # Someone else's (or nobody's) case: claim, note, consult, link; not steer it.
        ("olivia", "open", "", {"claim", "reply", "consult", "note", "link_identity"}),
        ("olivia", "assigned", "sanne", {"claim", "reply", "consult", "note", "link_identity"}),
        # The owner steers it.
        (
            "olivia",
            "assigned",
            "olivia",
            {
                "reply",
                "transfer",
                "consult",
                "note",
                "await_customer",
                "resolve",
                "merge",
                "link_identity",
                "refer",
                "set_priority",
            },
        ),
        # Awaiting the customer already: no second "awaiting customer".
        (
            "olivia",
            "waiting_on_customer",
            "olivia",
            {
                "reply",
                "transfer",
                "consult",
                "note",
                "resolve",
                "merge",
                "link_identity",
                "refer",
                "set_priority",
            },
        ),
        # Resolved: only reopen; closed: nothing.
        ("olivia", "resolved", "olivia", {"reopen"}),
        ("olivia", "closed", "olivia", set()),
        # A lead (on the roster as sanne) steers anyone's case.
        (
            "lead",
            "assigned",
            "olivia",
            {
                "claim",
                "reply",
                "transfer",
                "consult",
                "note",
                "await_customer",
                "resolve",
                "merge",
                "link_identity",
                "refer",
                "set_priority",
            },
        ),
        ("lead", "resolved", "olivia", {"reopen"}),
    ],
)
def test_who_gets_which_action(
    care_path: Path, who: str, status: str, assignee: str, expected: set[str]
) -> None:
    principal = PRINCIPALS[who]
    agent = load_care_config(care_path).agents_by_id[principal.agent_id or ""]
    can = views.case_actions(principal, agent, status, assignee, may_act=True)
    given = {name for name, allowed in vars(can).items() if allowed}
    assert given == expected
    pending = views.case_actions(
        principal, agent, status, assignee, may_act=True, confirmation_pending=True
    )
    assert {n for n, allowed in vars(pending).items() if allowed} == expected - {"resolve"}, (
        "the customer has been asked: no second proposal"
    )
    nobody = views.case_actions(principal, agent, status, assignee, may_act=False)
    assert not any(vars(nobody).values()), "a read-only viewer gets no action"


def test_canned_answers_are_measured_with_the_signature_against_the_channel() -> None:
    options = [
        views.CannedOption("short", "Short", "Hi Kim!  "),
        views.CannedOption("long", "Long", "x" * 275),
    ]
    limits = views.ComposerLimits(limit=280, signature="^Olivia", separator_always_newline=False)
    short, long = views.measure_canned(options, limits)
    assert short.signed_length == len("Hi Kim! ^Olivia") and short.fits
    assert long.signed_length == 283 and not long.fits
    free = views.measure_canned(options, views.ComposerLimits(None, "", False))
    assert all(m.fits for m in free) and free[0].signed_length == len("Hi Kim!")


def read(agent_id: str, team: str, zone: str, presence: str, on_shift: bool) -> AgentRead:
    return AgentRead(
        id=agent_id,
        name=agent_id.title(),
        languages=["en"],
        capacity=4,
        channel_capacity={},
        presence=presence,  # type: ignore[arg-type]
        presence_since=None,
        load=0,
        load_by_channel={},
        on_shift=on_shift,
        last_assigned_at=None,
        skills={},
        team=team,
        time_zone=zone,
        specialist=False,
    )


def test_agents_per_team_by_presence() -> None:
    agents = [
        read("ana", "Buenos Aires", "America/Argentina/Buenos_Aires", "online", True),
        read("bo", "Singapore", "Asia/Singapore", "away", True),
        read("cy", "Buenos Aires", "America/Argentina/Buenos_Aires", "offline", False),
        read("di", "Buenos Aires", "America/Argentina/Buenos_Aires", "online", True),
    ]
    ba, sg = views.presence_by_team(agents)
    assert (ba.team, ba.online, ba.away, ba.offline) == ("Buenos Aires", ["Ana", "Di"], [], ["Cy"])
    assert (ba.on_shift, ba.roster) == (2, 3)
    assert (sg.team, sg.away) == ("Singapore", ["Bo"])
    assert views.presence_of(agents, "bo") == "away"
    assert views.presence_of(agents, "nobody") is None


def test_the_picker_is_the_specialists_ranking_without_the_asker(care_path: Path) -> None:
    care = load_care_config(care_path)
    ranked = rank_specialists(care, language="en", product="router", now=NOW)
    entries = views.specialist_choices(ranked, exclude="wei", now=NOW)
    assert [e.id for e in entries] == [r.id for r in ranked if r.id != "wei"]
    assert "lucia" in [e.id for e in entries]
    lucia = next(e for e in entries if e.id == "lucia")
    assert lucia.local_time == "09:00", "Buenos Aires is UTC-3"


# --- the case page --------------------------------------------------------------------------


def test_the_case_page_shows_the_customer_questions_priority_and_lifecycle(
    console: Console,
) -> None:
    console.add(lived_case())
    page = html(console, "/cases/acme-life")
    for shown in ("@kim on x", "kim@example.nl", "+31 6 12345678"):
        assert shown in page
    assert re.search(r'data-intent="billing" data-answered="true"', page)
    assert re.search(r'data-intent="router" data-answered="false"', page)
    assert "1 question(s) still open" in page
    assert 'data-factor="customer_value"' in page and "tier vip" in page
    assert "75 %" in page and "25 %" in page
    assert "Waiting for the customer&#39;s confirmation (proposed by Olivia Carter)" in page
    assert "Solution: credited the double charge" in page
    assert "Referred to store manager Utrecht by Olivia Carter" in page
    assert 'href="/cases/acme-old-dm"' in page and 'href="/cases/acme-2025"' in page
    assert "Lucia Fernandez answered:" in page and "Yes, roll back to 2.0." in page
    assert "Waiting for the specialist&#39;s answer." in page
    assert 'hx-post="/v1/cases/acme-life/resolve"' not in page, "already proposed"
    assert 'hx-post="/v1/cases/acme-life/await-customer"' not in page, "already awaiting"


def test_the_reply_ticks_the_open_questions(console: Console) -> None:
    case = lived_case("acme-ticks")
    case.status = case_pb2.CASE_STATUS_ASSIGNED
    case.ClearField("resolution_check")
    console.add(case)
    page = html(console, "/cases/acme-ticks")
    boxes = re.findall(r'<input type="checkbox" name="answers" value="([a-z]+)"[^>]*>', page)
    assert boxes == ["billing", "router"]
    assert re.search(r'value="billing" data-array="true" disabled', page), "answered already"
    assert "Resolving asks the customer to confirm" in page
    assert "1 question(s) are still open." in page


def test_the_ticks_follow_the_questions_without_touching_the_reply(console: Console) -> None:
    case = lived_case("acme-follow")
    case.status = case_pb2.CASE_STATUS_ASSIGNED
    case.ClearField("resolution_check")
    console.add(case)
    body = html(console, "/console/fragments/cases/acme-follow")
    assert 'data-questions="billing:1,router:0"' in body
    page = html(console, "/cases/acme-follow")
    assert 'id="sc-answers" data-refresh="/console/fragments/cases/acme-follow/answers"' in page
    # The customer asks something else; the book marks the router question answered.
    later = case_pb2.Case()
    later.CopyFrom(case)
    later.version = 2
    later.intents[1].answered = True
    later.intents.add(name="complaint", question="Nobody answers my e-mails!")
    console.add(later, case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED)
    body = html(console, "/console/fragments/cases/acme-follow")
    assert 'data-questions="billing:1,router:1,complaint:0"' in body
    ticks = html(console, "/console/fragments/cases/acme-follow/answers")
    assert "<html" not in ticks and 'data-questions="billing:1,router:1,complaint:0"' in ticks
    assert re.findall(r'value="([a-z]+)" data-array="true"(?! disabled)', ticks) == ["complaint"]
    assert html(console, "/console/fragments/cases/acme-follow/answers", user="ops") == ""
    assert console.get("/console/fragments/cases/acme-follow/answers", user=None).status_code == 401


def test_only_the_consulted_specialist_gets_the_answer_form(console: Console) -> None:
    console.add(lived_case())
    olivia = html(console, "/cases/acme-life")
    assert "/consultations/cons-2/answer" not in olivia
    lead = html(console, "/cases/acme-life", user="lead")  # sanne, not consulted
    assert "/consultations/cons-2/answer" not in lead


def test_canned_answers_show_their_text_length_and_fit(console: Console) -> None:
    console.add(make_case("acme-canned", brand="acme", status="assigned", assignee="olivia"))
    page = html(console, "/cases/acme-canned")
    listed = re.findall(r'<li data-canned="([a-z-]+)" data-fits="(true|false)">', page)
    assert listed == [("en-order", "true"), ("en-any", "true")]
    text = "Hi Kim, sorry! Could you DM us your order number? ^Olivia will check."
    assert f"{len(text) + len(' ^Olivia')} of 280 characters with your signature" in page
    assert "fits on x" in page


def test_the_consult_picker_ranks_specialists_for_the_cases_language_and_product(
    console: Console,
) -> None:
    console.add(lived_case())
    page = html(console, "/cases/acme-life")
    picker = page[page.index('id="sc-consult-specialist"') :]
    picker = picker[: picker.index("</select>")]
    names = re.findall(r'<option value="([a-z]+)">', picker)
    care = care_of(console)
    expected = [
        c.id
        for c in rank_specialists(
            care, language="en", product="router", now=NOW, brand=None, scope=None
        )
        if c.id != "olivia"
    ]
    assert names == expected and names
    assert "America/Argentina/Buenos_Aires" in picker
    assert 'value="router"' in page, "the case's product is the consult's default"


def test_presence_in_the_header_and_per_team_on_the_wall(console: Console) -> None:
    console.agent_states.agents.add(
        agent="olivia", presence=routing_pb2.PRESENCE_AWAY, on_shift=True
    )
    page = html(console, "/")
    form = re.search(r'<form class="presence sc-action"[^>]*>', page)
    assert form is not None and 'hx-put="/v1/agents/olivia/presence"' in form.group(0)
    assert '<option value="away" selected>Away</option>' in page
    wall = html(console, "/wall", user="ops")
    states = wall[wall.index('id="wall-states"') : wall.index('id="wall-sentiment"')]
    assert re.search(
        r"Global English</th>.*?<td class=\"num\">1 <span class=\"names\">\(Olivia Carter\)",
        states,
        re.S,
    )
    assert "Gerrit" not in states, "another brand's agent"
    assert "Agents by presence" in wall


def test_presence_when_routing_cannot_say(console: Console) -> None:
    assert console.routing is not None
    console.routing.agents = None  # no instance runs the assigner
    page = html(console, "/")
    assert '<option value="" selected>unknown</option>' in page
    wall = html(console, "/wall", user="ops")
    assert "Routing&#39;s agent states are unavailable right now." in wall


def test_nobody_seen_yet_is_the_default_presence(console: Console) -> None:
    page = html(console, "/")
    assert '<option value="online" selected>Online</option>' in page
    assert "presence" not in html(console, "/wall", user="ops").split("<main")[0], (
        "operations are not on the roster: no presence to set"
    )


def test_the_inbox_offers_claim_on_queued_cases(console: Console) -> None:
    page = html(console, "/")
    queues = page[page.index('id="queues-title"') :]
    assert 'hx-post="/v1/cases/acme-1/claim"' in queues
    assert '<input type="hidden" name="agent" value="olivia">' in queues
    ops = html(console, "/", user="ops")
    assert "/claim" not in ops


def test_the_inbox_says_whose_customer_is_asked_to_confirm(console: Console) -> None:
    console.add(lived_case())
    page = html(console, "/")
    row = re.search(r'<tr [^>]*data-case="acme-life">.*?</tr>', page, re.S)
    assert row is not None
    due = (NOW + timedelta(hours=48)).isoformat()
    assert f'asked to confirm, until <time datetime="{due}"' in row.group(0)
    other = re.search(r'<tr [^>]*data-case="acme-2">.*?</tr>', page, re.S)
    assert other is not None and "asked to confirm" not in other.group(0)


def test_in_dutch(console: Console) -> None:
    console.add(lived_case())
    page = html(console, "/cases/acme-life", **{"accept-language": "nl"})
    for words in (
        "Bereikbaar via",
        "Waarom deze prioriteit",
        "Wacht op bevestiging",
        "Raadplegingen",
    ):
        assert words in page, words


def test_every_string_the_templates_use_exists_in_every_language() -> None:
    used: set[str] = set()
    for template in _package_dir("templates").glob("*.html"):
        text = template.read_text()
        used |= set(re.findall(r"\bt\.([a-z_0-9]+)\b", text)) - {"get", "format"}
        used |= set(re.findall(r'\bt\["([a-z_0-9]+)"\]', text))
    for language, catalog in i18n.CATALOGS.items():
        assert used <= set(catalog), (language, sorted(used - set(catalog)))
