"""Escalations in the case view, in a real browser against the real platform.

Anna owns a case and asks for help with the case page's Escalate form; the escalation
service raises it on the case (at the team lead, as the agent-request policy says) and her
page shows it without a reload. Lars, her team lead, opens the case: its SLA panel shows the
first-response clock running, its escalations panel the open escalation with an Acknowledge
button. He acknowledges it and the panel says so at once, without a reload; Anna, who is
not on call for it, never gets the button.
"""

from __future__ import annotations

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
brands:
  - {name: energieloket, signature: "^{first_name}"}
"""

PASSWORD = "correct horse battery staple"
REASON = "Customer says he will go to the newspaper"


@pytest.fixture(scope="module")
def admin(platform: Platform) -> Iterator[AdminApi]:
    api = AdminApi.sign_in(platform, "admin", ADMIN_PASSWORD)
    api.create_user(
        "anna.visser",
        PASSWORD,
        roles=["agent"],
        brands=["energieloket"],
        agent_id="anna",
        display_name="Anna Visser",
    )
    api.create_user(
        "lars.lead",
        PASSWORD,
        roles=["lead"],
        brands=["energieloket"],
        display_name="Lars de Leider",
    )
    yield api


def test_a_lead_acknowledges_an_agents_escalation_live(
    admin: AdminApi, open_page: OpenPage, shoot: Shoot
) -> None:
    case = admin.assigned_case_of(
        admin.ingest(x_mention("energieloket", "@energieloket I will call the newspaper now"))
    )
    assert case["assignee"] == "anna"

    anna = Console(open_page())
    anna.sign_in("anna.visser", PASSWORD)
    anna.page.goto(f"/cases/{case['id']}")
    sla = anna.page.get_by_role("region", name="Service levels")
    expect(sla.get_by_role("heading", name="First response")).to_be_visible()
    expect(sla).to_contain_text("Running")
    escalations = anna.page.get_by_role("region", name="Escalations")
    expect(escalations).to_contain_text("No escalations.")

    # She asks for help: the escalation shows on her page without a reload.
    anna.mark_document()
    anna.page.get_by_text("Ask for help", exact=True).click()  # opens the panel
    anna.page.get_by_label("What help is needed").fill(REASON)
    anna.page.get_by_role("button", name="Escalate", exact=True).click()
    raised = escalations.get_by_role("article", name="Team lead · Agent's request")
    expect(raised).to_contain_text(REASON, timeout=20_000)
    expect(raised).to_contain_text("Open")
    expect(raised).to_contain_text("Raised by Anna Visser")
    expect(raised.get_by_role("button", name="Acknowledge")).to_have_count(0)
    anna.assert_not_reloaded()

    # Lars, her lead, opens the case and takes the escalation.
    lars = Console(open_page())
    lars.sign_in("lars.lead", PASSWORD)
    lars.page.goto(f"/cases/{case['id']}")
    panel = lars.page.get_by_role("region", name="Escalations")
    escalation = panel.get_by_role("article", name="Team lead · Agent's request")
    expect(escalation).to_contain_text("Acknowledge by")
    lars.mark_document()
    escalation.get_by_role("button", name="Acknowledge").click()
    expect(escalation.get_by_text("Acknowledged", exact=True)).to_be_visible()
    expect(escalation).to_contain_text("Acknowledged by Lars de Leider")
    expect(escalation.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(escalation.get_by_role("button", name="Resolve escalation")).to_be_visible()
    lars.assert_not_reloaded()
    shoot(lars.page, "escalation-acknowledged")

    # Anna's page follows too.
    expect(raised.get_by_text("Acknowledged", exact=True)).to_be_visible()
    anna.assert_not_reloaded()
    details = admin.case(case["id"])["escalation_details"]
    assert [e["status"] for e in details] == ["acknowledged"]
