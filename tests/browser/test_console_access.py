"""The console without a mouse and in Dutch: a Dutch agent (browser language nl) signs in
with the development password, as after `make run`, using the keyboard alone, skips to the
content, and opens a case that arrived for her and reaches its reply box by Tab and Enter.
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, DEV_PASSWORD, OpenPage, Shoot
from tests.browser.people import AdminApi, x_mention
from tests.e2e.platform import Platform


def tab_to(page: Page, target: Locator, presses: int = 60) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{target} cannot be reached with Tab in {presses} presses")


def test_a_dutch_agent_works_with_the_keyboard_alone(
    platform: Platform, open_page: OpenPage, shoot: Shoot
) -> None:
    page = open_page(locale="nl-NL")
    page.goto("/")  # nobody signed in: the console sends them to sign in first
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    username = page.get_by_label("Gebruikersnaam")
    expect(username).to_be_focused()
    page.keyboard.type("sanne")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Wachtwoord")).to_be_focused()
    page.keyboard.type(DEV_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("region", name=re.compile(r"^Mijn cases"))).to_be_visible()

    # The first Tab offers to skip the navigation.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Naar de inhoud")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()

    admin = AdminApi.sign_in(platform, "admin", ADMIN_PASSWORD)
    message_id = admin.ingest(
        x_mention(None, "Mijn pakket is nog steeds niet bezorgd, wat is er aan de hand?")
    )
    case = admin.assigned_case_of(message_id)
    assert case["assignee"] == "sanne"
    link = page.get_by_role("row").filter(has_text="pakket is nog steeds").get_by_role("link")
    expect(link).to_be_visible()
    tab_to(page, link)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/cases/{re.escape(case['id'])}$"))

    reply_box = page.get_by_label("Je antwoord", exact=True)
    tab_to(page, reply_box)
    page.keyboard.type("Hoi Jan, we zoeken het meteen voor je uit.")
    expect(reply_box).to_have_value("Hoi Jan, we zoeken het meteen voor je uit.")
    shoot(page, "access-keyboard-nl")
