"""Scenario 7 in a real browser: a conversation manager learns from the least-asked questions.

Customers of acme ask about an invoice (twice) and a parcel; globex's customer reports an
outage. The messages go through the real platform (ingestion, enrichment's intents,
routing, the indexer). Olga, operations for acme, opens "Questions" from the menu: the
taxonomy's intents nobody asked come first, marked, then the rare ones, then the common
one; globex's outage is not hers. She counts per week and reads it in Dutch.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_PASSWORD, OpenPage, Shoot
from tests.browser.people import AdminApi, Console, x_mention
from tests.e2e.platform import Platform

CARE_CONFIG = """
sla_policies:
  - {name: first-response, languages: ["*"], first_response: 1h}
queues:
  - {name: care-global, languages: ["*"]}
agents:
  - {id: anna, name: Anna Visser, languages: [en, nl], capacity: 5, team: acme,
     time_zone: Europe/Amsterdam, brands: [acme]}
  - {id: bram, name: Bram Jansen, languages: [en, nl], capacity: 5, team: globex,
     time_zone: Europe/London, brands: [globex]}
brands:
  - {name: acme}
  - {name: globex}
intents:
  - {name: billing, keywords: {"*": [invoice]}}
  - {name: delivery, keywords: {"*": [parcel]}}
  - {name: outage, keywords: {"*": [outage]}}
  - {name: safety, keywords: {"*": [fire, smoke]}}
"""

PASSWORD = "correct horse battery staple"
DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def admin(platform: Platform) -> Iterator[AdminApi]:
    api = AdminApi.sign_in(platform, "admin", ADMIN_PASSWORD)
    api.create_user(
        "olga.ops", PASSWORD, roles=["operations"], brands=["acme"], display_name="Olga Smit"
    )
    yield api


def wait_for_counts(admin: AdminApi, brand: str, expected: dict[str, int]) -> None:
    """Until the search projection has indexed the messages (the indexer lags a moment)."""
    deadline = time.monotonic() + DEADLINE_S
    found: dict[str, int] = {}
    while time.monotonic() < deadline:
        answer = admin.request("GET", "/v1/reports/intents", params={"brand": brand})
        assert answer.status_code == 200, answer.text
        found = {row["name"]: row["total"] for row in answer.json()["intents"] if row["total"]}
        if found == expected:
            return
        time.sleep(0.5)
    pytest.fail(f"the report of {brand} never showed {expected}; last: {found}")


def test_the_least_asked_questions_come_first(
    admin: AdminApi, open_page: OpenPage, shoot: Shoot
) -> None:
    admin.ingest(x_mention("acme", "Why is my invoice so high this month?", handle="@kim"))
    admin.ingest(x_mention("acme", "Where is my parcel? And my invoice is wrong.", handle="@lotte"))
    admin.ingest(x_mention("globex", "Another outage tonight?", handle="@piet"))
    wait_for_counts(admin, "acme", {"billing": 2, "delivery": 1})
    wait_for_counts(admin, "globex", {"outage": 1})

    olga = Console(open_page())
    olga.sign_in("olga.ops", PASSWORD)
    olga.page.get_by_role("navigation", name="Main").get_by_role("link", name="Questions").click()
    expect(olga.page.get_by_role("heading", name="Least-asked questions")).to_be_visible()
    table = olga.page.get_by_role("table", name="Questions per intent, least asked first")
    expect(table).to_be_visible()
    body_rows = table.locator("tbody").get_by_role("row")
    # Never asked first (acme's taxonomy; globex's outage is not hers), then least asked.
    expect(body_rows.get_by_role("rowheader")).to_have_text(
        ["outage never asked", "safety never asked", "delivery", "billing"]
    )
    billing = body_rows.filter(has=olga.page.get_by_role("rowheader", name="billing"))
    expect(billing.get_by_role("cell").first).to_have_text("2")
    without = table.locator("tfoot").get_by_role("row")
    expect(without.get_by_role("rowheader")).to_have_text("No recognised question")
    expect(olga.page.get_by_text("2 customer messages")).to_be_visible()  # acme's two
    shoot(olga.page, "scenario-7-questions")

    # Per week: one column per week of the last 30 days, the form keeps the choice.
    olga.page.get_by_label("Per", exact=True).select_option(label="week")
    olga.page.get_by_role("button", name="Show", exact=True).click()
    expect(olga.page).to_have_url(re.compile(r"interval=week"))
    expect(olga.page.get_by_label("Per", exact=True)).to_have_value("week")
    weeks = table.locator("thead th.series")
    assert weeks.count() in (5, 6)

    # In Dutch, as the rest of the console.
    olga.page.get_by_label("Language", exact=True).select_option("nl")
    olga.page.get_by_role("button", name="Change", exact=True).click()
    expect(olga.page.get_by_role("heading", name="Minst gestelde vragen")).to_be_visible()
    expect(olga.page.get_by_text("nooit gesteld").first).to_be_visible()


def test_agents_have_no_questions_page(admin: AdminApi, open_page: OpenPage) -> None:
    admin.create_user(
        "anna.visser",
        PASSWORD,
        roles=["agent"],
        brands=["acme"],
        agent_id="anna",
        display_name="Anna Visser",
    )
    anna = Console(open_page())
    anna.sign_in("anna.visser", PASSWORD)
    nav = anna.page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Inbox")).to_be_visible()
    expect(nav.get_by_role("link", name="Questions")).to_have_count(0)
    assert anna.page.request.get("/reports/questions").status == 403
