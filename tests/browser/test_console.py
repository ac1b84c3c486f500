"""The issue's scenario, as the people would live it, in a real browser.

Two brands share the platform. Anna answers for energieloket, Bram for zonnestroom, Olga
watches energieloket's wall. A customer mentions energieloket on X: the case arrives in
Anna's inbox while she looks at it (no reload), she answers with a canned answer, the
counter stops her at X's 280 characters (her signature included), she sends and resolves.
Bram, an agent of the other brand who speaks the same language, neither sees the case in
his inbox nor can open or answer it. Olga's wall, open all along, shows the change.

Each agent serves one brand (the roster's `brands`), so routing gives Anna
energieloket's case and Bram zonnestroom's. Olga's wall shows energieloket's people and
cases only, never Bram or his team.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, WALL, OpenPage, Shoot
from tests.browser.people import AdminApi, Console, x_mention
from tests.e2e.platform import Platform

X_LIMIT = 280
SIGNATURE = " ^Anna"  # energieloket signs "^{first_name}" after a space (Brand.sign)

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
  - {id: bram, name: Bram Jansen, languages: [en, nl], capacity: 5, team: zonnestroom,
     time_zone: Europe/London, brands: [zonnestroom]}
brands:
  - name: energieloket
    signature: "^{first_name}"
    meta:
      whatsapp_templates:
        - {name: order_update, language: en_US}
  - {name: zonnestroom, signature: "^{initials}"}
canned_answers:
  - id: dm-details
    brand: energieloket
    language: en
    channel: x
    title: Ask for details by DM
    text: "Hi {customer_first_name}, sorry to hear that! Could you send us your customer
      number by DM? We'll look into it right away."
  - id: thanks
    brand: zonnestroom
    language: en
    title: Thank you
    text: "Thanks {customer_first_name}!"
"""

PASSWORD = "correct horse battery staple"


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
        "bram.jansen",
        PASSWORD,
        roles=["agent"],
        brands=["zonnestroom"],
        agent_id="bram",
        display_name="Bram Jansen",
    )
    api.create_user(
        "olga.ops",
        PASSWORD,
        roles=["operations"],
        brands=["energieloket"],
        display_name="Olga Smit",
    )
    yield api


def language_row(wall: Page, language: str) -> Locator:
    """The wall's row of first-response figures for `language`."""
    table = wall.get_by_role("region", name="First response by language")
    return table.get_by_role("row").filter(
        has=wall.get_by_role("rowheader", name=language, exact=True)
    )


# Cells of a language row after its row header.
TARGET, CASES, SLA_MET, P50, P90, OPEN, OVERDUE = range(7)


def test_an_agent_answers_a_live_case_and_another_brand_cannot_touch_it(
    admin: AdminApi, open_page: OpenPage, shoot: Shoot
) -> None:
    olga = Console(open_page(viewport=WALL))
    olga.sign_in("olga.ops", PASSWORD)
    olga.page.goto("/wall")
    expect(olga.page.get_by_role("heading", name="Command center", level=1)).to_be_visible()
    expect(language_row(olga.page, "en")).to_have_count(0)
    olga.mark_document()

    anna = Console(open_page())
    anna.sign_in("anna.visser", PASSWORD)
    expect(anna.page).to_have_url(re.compile(r"/$"))
    expect(anna.page.get_by_role("status").filter(has_text="Live updates on")).to_be_visible()
    anna.mark_document()
    wall = anna.page.request.get("/wall")
    assert wall.status == 403, "the wall is for operations"

    # A customer writes; the case arrives in Anna's inbox while she looks at it.
    message_id = admin.ingest(
        x_mention("energieloket", "@energieloket my energy bill doubled and nobody answers me")
    )
    case = admin.assigned_case_of(message_id)
    assert case["assignee"] == "anna"
    arrived = anna.my_cases().get_by_role("row").filter(has_text="my energy bill doubled")
    expect(arrived).to_be_visible(timeout=20_000)
    anna.assert_not_reloaded()
    shoot(anna.page, "scenario-1-inbox-live")

    # Another brand's customer writes; the case goes to Bram, of that brand, and not
    # onto Anna's screen.
    other = admin.assigned_case_of(
        admin.ingest(x_mention("zonnestroom", "@zonnestroom when is my panel installed?"))
    )
    assert other["assignee"] == "bram"

    # The wall saw Anna's case come in.
    expect(language_row(olga.page, "en").get_by_role("cell").nth(OPEN)).to_have_text("1")
    expect(anna.case_row("when is my panel installed")).to_have_count(0)

    # Bram, of the other brand, speaks English too, and can neither see Anna's case nor
    # answer it, in the console or through the API with his session, while it is open.
    bram = Console(open_page())
    bram.sign_in("bram.jansen", PASSWORD)
    expect(bram.case_row("when is my panel installed")).to_be_visible()
    expect(bram.case_row("my energy bill doubled")).to_have_count(0)
    opened = bram.page.goto(f"/cases/{case['id']}")
    assert opened is not None and opened.status == 404
    expect(bram.page.get_by_text("or not one you may see")).to_be_visible()
    shoot(bram.page, "scenario-2-other-brand")
    csrf = bram.page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    read = bram.page.request.get(f"/v1/cases/{case['id']}")
    assert read.status in (403, 404), read.text()
    answer = bram.page.request.post(
        f"/v1/cases/{case['id']}/replies",
        data={"agent": "bram", "text": "Hello from the other brand"},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status in (403, 404), answer.text()
    assert answer.json()["error"]["code"] != "csrf_failed", answer.text()

    # She opens it and answers with the brand's canned answer for X, filled in.
    arrived.get_by_role("link", name="Jan van den Berg").click()
    expect(anna.page).to_have_url(re.compile(rf"/cases/{re.escape(case['id'])}$"))
    expect(anna.conversation()).to_contain_text("my energy bill doubled")
    anna.insert_canned_answer("Ask for details by DM")
    composer = anna.composer()
    expect(composer).to_have_value(re.compile(r"^Hi Jan, sorry to hear that!"))
    # Before inserting, the picker said what the customer would get and that it fits X.
    expect(anna.page.get_by_label("Canned answer")).to_have_accessible_description(
        re.compile(r"^Hi Jan, sorry to hear that!.* of 280 characters with your signature: fits")
    )

    # Typing on, the counter stops at X's 280, her signature included, and says so.
    composer.press("End")
    composer.press_sequentially("x" * 300, delay=0)
    expect(composer).to_have_accessible_description(
        re.compile(rf"{X_LIMIT} of {X_LIMIT} characters")
    )
    assert len(composer.input_value()) + len(SIGNATURE) == X_LIMIT
    shoot(anna.page, "scenario-3-counter-at-limit")

    # Back to the canned answer alone, sent: the reply shows, signed.
    anna.insert_canned_answer("Ask for details by DM")
    expect(composer).to_have_accessible_description(re.compile(rf"\d+ of {X_LIMIT} characters"))
    anna.page.get_by_role("button", name="Send reply").click()
    # By her name from the roster, not her agent id.
    reply = anna.conversation().get_by_role("article", name="Reply by Anna Visser")
    expect(reply).to_contain_text("We'll look into it right away." + SIGNATURE)
    expect(anna.page.get_by_text("Owner: Anna Visser")).to_be_visible()

    # Proposed as solved: the customer is asked to confirm, and no second proposal is offered.
    anna.mark_document()
    anna.page.get_by_role("button", name="Resolve case").click()
    lifecycle = anna.page.get_by_role("region", name="Lifecycle")
    expect(lifecycle).to_contain_text("Waiting for the customer's confirmation")
    expect(anna.page.get_by_role("button", name="Resolve case")).to_have_count(0)

    # The customer says yes: resolved, and the page shows it at once, composer and actions
    # included, without a reload.
    admin.ingest(
        x_mention("energieloket", "@energieloket yes, thanks!", author_id=case["customer"]["id"])
    )
    expect(lifecycle).to_contain_text("The customer confirmed it is solved", timeout=20_000)
    expect(lifecycle.get_by_text("Resolved", exact=True).first).to_be_visible()
    expect(anna.page.get_by_text("This case is resolved")).to_be_visible()
    expect(anna.page.get_by_role("button", name="Resolve case")).to_have_count(0)
    expect(anna.page.get_by_role("button", name="Send reply")).to_have_count(0)
    expect(anna.composer()).to_have_count(0)
    anna.assert_not_reloaded()
    assert admin.case(case["id"])["status"] == "resolved"
    shoot(anna.page, "scenario-4-resolved")

    # The satisfaction question went out; the customer's 5 is its answer (no reopening).
    satisfaction = anna.page.get_by_role("region", name="Satisfaction")
    expect(satisfaction).to_contain_text("No answer yet")
    admin.ingest(x_mention("energieloket", "@energieloket 5", author_id=case["customer"]["id"]))
    expect(satisfaction).to_contain_text("5 of 5", timeout=20_000)
    assert admin.case(case["id"])["status"] == "resolved"

    # The wall, open since before the case came in, shows it answered within the SLA.
    row = language_row(olga.page, "en").get_by_role("cell")
    expect(row.nth(OPEN)).to_have_text("0")
    expect(row.nth(CASES)).to_have_text("1")
    expect(row.nth(SLA_MET)).to_have_text("100 %")
    expect(row.nth(P50)).not_to_have_text("—")
    olga.assert_not_reloaded()
    shoot(olga.page, "scenario-5-wall-after")

    # Only her brand's people: Anna's team, at the console; not Bram, nor his team.
    people = olga.page.get_by_role("region", name="Agents at the console")
    expect(people).to_contain_text("energieloket")
    expect(people).to_contain_text("Anna Visser")
    expect(people).not_to_contain_text("zonnestroom")
    expect(people).not_to_contain_text("Bram")
    expect(people).not_to_contain_text("Europe/London")

    # Olga's wall counts her brand's English case only, Bram's case is not hers.
    olga.page.reload()
    expect(language_row(olga.page, "en").get_by_role("cell").nth(CASES)).to_have_text("1")


def whatsapp_message(brand: str, text: str, hours_ago: float) -> dict[str, Any]:
    """A customer's WhatsApp message to `brand`, written `hours_ago` hours ago."""
    run = uuid.uuid4().hex[:10]
    return {
        "channel": "whatsapp",
        "external_id": f"wamid.{run}",
        "author": {"id": f"31612{run}", "handle": "+31612345678", "name": "Fleur de Boer"},
        "text": text,
        "created_at": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - hours_ago * 3600)
        ),
        "brand": brand,
    }


def test_outside_whatsapps_window_the_agent_answers_with_an_approved_template(
    admin: AdminApi, open_page: OpenPage, shoot: Shoot
) -> None:
    case = admin.assigned_case_of(
        admin.ingest(whatsapp_message("energieloket", "Is my meter reading in yet?", 26))
    )
    assert case["assignee"] == "anna"
    anna = Console(open_page())
    anna.sign_in("anna.visser", PASSWORD)
    anna.page.goto(f"/cases/{case['id']}")
    expect(anna.page.get_by_text("more than 24 hours ago")).to_be_visible()
    expect(anna.composer()).to_have_count(0)  # free text would be refused
    anna.page.get_by_label("Approved template").select_option(label="order_update (en_US)")
    anna.page.get_by_label("Template values").fill("A-1042\nThursday")
    anna.page.get_by_role("button", name="Send template").click()
    reply = anna.conversation().get_by_role("article", name="Reply by Anna Visser")
    expect(reply).to_contain_text("order_update (en_US)")
    expect(reply).to_contain_text("A-1042, Thursday")
    shoot(anna.page, "scenario-6-whatsapp-template")


def test_a_customers_special_moment_shows_on_the_case(admin: AdminApi, open_page: OpenPage) -> None:
    """Scenario 4: agents reward special stories, so the case shows the customer's moment
    in their own words (enrichment finds it, routing keeps it on the case)."""
    text = "We just had our daughter! Is my meter reading in yet?"
    case = admin.assigned_case_of(admin.ingest(whatsapp_message("energieloket", text, 1)))
    assert case["moments"] == [{"kind": "birth", "quote": "We just had our daughter!"}]
    anna = Console(open_page())
    anna.sign_in("anna.visser", PASSWORD)
    anna.page.goto(f"/cases/{case['id']}")
    moment = anna.page.locator('[data-moment="birth"]')
    expect(moment).to_contain_text("Special moment: birth")
    expect(moment).to_contain_text("We just had our daughter!")
