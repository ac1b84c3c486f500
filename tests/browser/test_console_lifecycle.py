"""Issue 11 in a real browser: a global team's day with one case.

Nobody is at the console yet (agents start offline), so a customer's question about their
router waits in the queue. Anna sets herself away from the header (she keeps what she
takes, gets nothing pushed), claims the case from her inbox, and asks a router specialist
in Buenos Aires, ranked first in the picker for the case's language and product. Lucía
sees the case among the ones she is asked about, answers, and her answer appears on
Anna's case without a reload. The customer asks about their invoice too; Anna answers both
questions in one reply, ticking both, and proposes the case as solved: the page shows that
the customer is asked to confirm, and until when.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_PASSWORD, OpenPage, Shoot
from tests.browser.people import AdminApi, Console, x_mention
from tests.e2e.platform import Platform

CARE_CONFIG = """
sla_policies:
  - {name: first-response-en, languages: [en], first_response: 1h}
  - {name: first-response-other, languages: ["*"], first_response: 24h}
queues:
  - {name: care-en, languages: [en]}
  - {name: care-global, languages: ["*"]}
agents:
  - {id: anna, name: Anna Visser, languages: [en, nl], capacity: 5, team: energieloket,
     time_zone: Europe/Amsterdam, brands: [energieloket]}
  - {id: lucia, name: Lucia Fernandez, languages: [en, es], capacity: 3, specialist: true,
     team: Specialists, time_zone: America/Argentina/Buenos_Aires,
     skills: {"product:router": 5}}
  - {id: wei, name: Wei Tan, languages: [en], capacity: 3, specialist: true,
     team: Specialists, time_zone: Asia/Singapore, skills: {"product:router": 2}}
brands:
  - {name: energieloket, signature: "^{first_name}"}
intents:
  - name: router_fault
    keywords: {"*": [router]}
    product: router
    urgency: 0.5
  - name: billing
    keywords: {"*": [invoice]}
routing:
  lifecycle:
    default_presence: offline
"""

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def admin(platform: Platform) -> Iterator[AdminApi]:
    api = AdminApi.sign_in(platform, "admin", ADMIN_PASSWORD)
    for username, agent_id, name in (
        ("anna.visser", "anna", "Anna Visser"),
        ("lucia.fernandez", "lucia", "Lucia Fernandez"),
    ):
        api.create_user(
            username,
            PASSWORD,
            roles=["agent"],
            brands=["energieloket"],
            agent_id=agent_id,
            display_name=name,
        )
    yield api


def test_claim_consult_a_specialist_and_propose_the_resolution(
    admin: AdminApi, open_page: OpenPage, shoot: Shoot
) -> None:
    first_message = admin.ingest(
        x_mention("energieloket", "@energieloket my router blinks red since the update, help")
    )

    anna = Console(open_page())
    anna.sign_in("anna.visser", PASSWORD)
    page = anna.page
    expect(page.get_by_role("status").filter(has_text="Live updates on")).to_be_visible()

    # Nobody online: the case waits in Anna's queue. She sets herself away (the header
    # says so) and claims it.
    waiting = page.get_by_role("region", name=re.compile(r"^My queues")).get_by_role("row")
    waiting = waiting.filter(has_text="my router blinks red")
    expect(waiting).to_be_visible(timeout=30_000)
    page.get_by_label("Presence").select_option("away")
    page.get_by_role("button", name="Set", exact=True).click()

    def anna_is_away() -> bool:
        agents = admin.request("GET", "/v1/agents")
        return agents.status_code == 200 and any(
            a["id"] == "anna" and a["presence"] == "away" for a in agents.json()
        )

    admin.platform.wait_for("anna away", anna_is_away, 20.0)
    waiting.get_by_role("button", name=re.compile(r"^Claim")).click()
    mine = anna.my_cases().get_by_role("row").filter(has_text="my router blinks red")
    expect(mine).to_be_visible(timeout=20_000)
    shoot(page, "issue-11-claimed")

    case = admin.assigned_case_of(first_message)
    mine.get_by_role("link", name="Jan van den Berg").click()
    expect(page.get_by_text("Owner: Anna Visser")).to_be_visible()
    anna.mark_document()

    # A VIP on the phone: Anna sets the priority by hand, and the panel says so; then back.
    why = page.get_by_role("region", name="Why this priority")
    page.get_by_text("Set priority", exact=True).click()
    page.get_by_label("Priority", exact=True).select_option("urgent")
    page.get_by_label("Why (optional)").fill("called in, VIP")
    page.get_by_role("button", name="Save priority").click()
    expect(why).to_contain_text("Set by hand to Urgent", timeout=20_000)
    page.get_by_label("Priority", exact=True).select_option("")
    page.get_by_role("button", name="Save priority").click()
    expect(why).not_to_contain_text("Set by hand", timeout=20_000)

    # The specialist picker: router specialists who speak English, Buenos Aires first.
    page.get_by_text("Consult a specialist", exact=True).click()
    picker = page.get_by_label("Specialist", exact=True)
    first = picker.locator("option").first
    expect(first).to_have_attribute("value", "lucia")
    expect(first).to_contain_text("America/Argentina/Buenos_Aires")
    picker.select_option("lucia")
    page.get_by_label("Your question").fill("Is rolling back to firmware 2.0 safe?")
    page.get_by_role("button", name="Ask the specialist").click()
    consultations = page.get_by_role("region", name="Consultations")
    expect(consultations).to_contain_text("Anna Visser asked Lucia Fernandez")
    expect(consultations).to_contain_text("Waiting for the specialist's answer.")

    # Lucía, asked for her advice, answers on the case.
    lucia = Console(open_page())
    lucia.sign_in("lucia.fernandez", PASSWORD)
    asked = lucia.page.get_by_role("region", name=re.compile(r"^Asked for my advice"))
    asked_row = asked.get_by_role("row").filter(has_text="my router blinks red")
    expect(asked_row).to_be_visible(timeout=20_000)
    asked_row.get_by_role("link", name="Jan van den Berg").click()
    lucia.page.get_by_label("Your answer").fill("Yes: roll back to 2.0, then reboot.")
    lucia.page.get_by_role("button", name="Send answer").click()
    expect(lucia.page.get_by_role("region", name="Consultations")).to_contain_text(
        "Lucia Fernandez answered: Yes: roll back to 2.0, then reboot."
    )

    # Anna sees the answer come in on her page, without a reload.
    expect(consultations).to_contain_text(
        "Lucia Fernandez answered: Yes: roll back to 2.0, then reboot.", timeout=20_000
    )
    anna.assert_not_reloaded()
    shoot(page, "issue-11-consultation-answered")

    # The customer asks a second question meanwhile: it joins the case, and the reply's
    # ticks offer both (scenario 1), while what Anna types stays.
    questions = page.get_by_role("group", name="This reply answers")
    expect(questions.get_by_role("checkbox")).to_have_count(1)
    anna.composer().fill("Please roll back")
    admin.ingest(
        x_mention(
            "energieloket",
            "@energieloket and my invoice is wrong too",
            author_id=case["customer"]["id"],
        )
    )
    expect(questions.get_by_role("checkbox")).to_have_count(2, timeout=20_000)
    expect(anna.composer()).to_have_value("Please roll back")
    expect(page.get_by_role("region", name="Questions")).to_contain_text("invoice is wrong")
    anna.assert_not_reloaded()

    # She answers both in one reply, ticking both questions.
    for box in questions.get_by_role("checkbox").all():
        box.check()
    anna.composer().fill(
        "Please roll back to firmware 2.0 and reboot the router; the invoice is corrected."
    )
    page.get_by_role("button", name="Send reply").click()
    reply = anna.conversation().get_by_role("article", name="Reply by Anna Visser")
    expect(reply).to_contain_text("Please roll back to firmware 2.0")
    answered = page.get_by_role("region", name="Questions").get_by_text("Answered", exact=True)
    expect(answered).to_have_count(2)

    # Proposing the resolution asks the customer to confirm: the page says so, and until when.
    expect(page.get_by_text("Resolving asks the customer to confirm")).to_be_visible()
    page.get_by_label("What solved it").fill("firmware rollback")
    page.get_by_role("button", name="Resolve case").click()
    lifecycle = page.get_by_role("region", name="Lifecycle")
    expect(lifecycle).to_contain_text("Waiting for the customer's confirmation", timeout=20_000)
    expect(lifecycle).to_contain_text("Resolves by itself if they do not answer by")
    expect(lifecycle).to_contain_text("Solution: firmware rollback")
    expect(lifecycle).to_contain_text("Waiting on customer")
    confirmation = anna.conversation().get_by_role("article", name="Reply by Anna Visser")
    expect(confirmation.last).to_contain_text("has this been solved")
    anna.assert_not_reloaded()
    shoot(page, "issue-11-awaiting-confirmation")

    # The command center shows who is online, away or offline per team.
    ops = Console(open_page())
    ops.sign_in("admin", ADMIN_PASSWORD)
    ops.page.goto("/wall")
    states = ops.page.get_by_role("region", name="Agents by presence")
    team = states.get_by_role("row").filter(
        has=ops.page.get_by_role("rowheader", name="energieloket", exact=True)
    )
    away = team.get_by_role("cell").nth(2)  # time zone, online, away, offline, on shift
    expect(away).to_contain_text("1 (Anna Visser)")
    specialists = states.get_by_role("row").filter(
        has=ops.page.get_by_role("rowheader", name="Specialists", exact=True)
    )
    expect(specialists.first.get_by_role("cell").nth(3)).to_contain_text("Lucia Fernandez")
