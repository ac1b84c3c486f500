"""The README's pictures: the console and the wall as `make run` gives them, with a morning's
worth of cases. `make screenshots` writes them to docs/screenshots/ (console.png at a
laptop's 1366x768, wall.png at a 1080p wall); in `make test` they go to .cache/screenshots/
like every other, and the test checks what they show.

The platform runs the default care config in development mode, so the agent signs in
with the development password, as a developer trying `make run` would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_PASSWORD, DEV_PASSWORD, REPO, WALL, OpenPage, Shoot
from tests.browser.people import AdminApi, Console
from tests.e2e.platform import Platform

DEFAULT_CARE = REPO / "services" / "socialcare" / "core" / "domain" / "default_care.yaml"


def message(
    channel: str, author: dict[str, Any], text: str, minutes_ago: int, **extra: Any
) -> dict[str, Any]:
    created = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "channel": channel,
        "external_id": f"readme-{channel}-{author['id']}-{minutes_ago}",
        "author": author,
        "text": text,
        "created_at": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        **extra,
    }


EMMA = {"id": "x-2291", "handle": "@emmawilson", "name": "Emma Wilson", "followers": 12400}
MORNING = [
    message(
        "x",
        EMMA,
        "@acme my order #48213 still hasn't arrived after 10 days. Nobody answers my emails!",
        minutes_ago=38,
    ),
    message(
        "x",
        EMMA,
        "@acme hello?? I've been waiting since last week and the tracking page says nothing.",
        minutes_ago=12,
    ),
    message(
        "facebook",
        {"id": "fb-771", "name": "Pieter Jansen", "followers": 230},
        "Mijn rekening is dit jaar twee keer zo hoog, klopt dat wel? Graag uitleg.",
        minutes_ago=31,
    ),
    message(
        "instagram",
        {"id": "ig-55", "handle": "lena.k", "name": "Lena Koch", "followers": 5100},
        "Die neue Lieferung ist super angekommen, vielen Dank an das ganze Team!",
        minutes_ago=27,
    ),
    message(
        "whatsapp",
        {"id": "wa-3161", "name": "Camille Petit", "followers": 0},
        "Bonjour, je voudrais changer l'adresse de livraison de ma commande, c'est possible ?",
        minutes_ago=19,
    ),
    message(
        "x",
        {"id": "x-9001", "handle": "@javi_m", "name": "Javier Martín", "followers": 880},
        "@acme ¿cuándo llega mi pedido? Lo compré hace una semana.",
        minutes_ago=9,
    ),
    message(
        "facebook",
        {"id": "fb-902", "name": "Grace Miller", "followers": 140},
        "Thanks for sorting out my refund so quickly yesterday, really appreciated.",
        minutes_ago=55,
    ),
]


@pytest.fixture(scope="module")
def care_config() -> str:
    return DEFAULT_CARE.read_text()


@pytest.fixture(scope="module")
def morning(platform: Platform) -> Iterator[tuple[AdminApi, list[dict[str, Any]]]]:
    """The morning's cases, assigned; the thank-you answered and proposed as solved, so the
    wall has a first response to show."""
    admin = AdminApi.sign_in(platform, "admin", ADMIN_PASSWORD)
    ids = [admin.ingest(m) for m in MORNING]
    cases = [admin.assigned_case_of(i) for i in ids]
    thanks = cases[-1]
    # The reply answers whatever enrichment read as questions in her words.
    questions = [i["name"] for i in thanks.get("intents", []) if not i["answered"]]
    answered = admin.request(
        "POST",
        f"/v1/cases/{thanks['id']}/replies",
        json={
            "agent": thanks["assignee"],
            "text": "You're welcome, Grace! Have a good day.",
            "answers": questions,
        },
    )
    assert answered.status_code == 202, answered.text
    platform.wait_for(
        "the reply applied",
        lambda: all(i["answered"] for i in admin.case(thanks["id"]).get("intents", [])),
    )
    resolved = admin.request(
        "POST", f"/v1/cases/{thanks['id']}/resolve", json={"agent": thanks["assignee"]}
    )
    assert resolved.status_code == 202, resolved.text
    # Proposed as solved: Grace is asked to confirm (routing.lifecycle.confirm_resolution).
    platform.wait_for(
        "the thank-you proposed as solved",
        lambda: (
            (admin.case(thanks["id"]).get("resolution_check") or {}).get("outcome") == "pending"
        ),
    )
    yield admin, cases


def test_readme_screenshots_of_the_console_and_the_wall(
    morning: tuple[AdminApi, list[dict[str, Any]]], open_page: OpenPage, shoot: Shoot
) -> None:
    admin, cases = morning
    emma = cases[0]
    assert emma["id"] == cases[1]["id"], "Emma's second tweet joins her open case"

    # Her agent, signed in with the development password, opens the case and picks an answer.
    agent = Console(open_page())
    agent.sign_in(emma["assignee"], DEV_PASSWORD)
    expect(agent.case_row("tracking page says nothing")).to_be_visible()
    agent.case_row("tracking page says nothing").get_by_role("link").first.click()
    expect(agent.conversation().get_by_role("article")).to_have_count(2)
    agent.insert_canned_answer("Order not arrived - ask for a DM")
    expect(agent.composer()).to_have_value(re.compile(r"^Hi Emma, sorry your order"))
    agent.page.evaluate("document.activeElement && document.activeElement.blur()")
    shoot(agent.page, "console")

    # Operations' wall on a 1080p screen: every language of the morning, the agent present.
    wall = Console(open_page(viewport=WALL))
    wall.sign_in("admin", ADMIN_PASSWORD)
    wall.page.goto("/wall")
    languages = wall.page.get_by_role("region", name="First response by language")
    for language in ("en", "nl", "de", "fr", "es"):
        expect(languages.get_by_role("rowheader", name=language, exact=True)).to_be_visible()
    roster = admin.request("GET", "/v1/agents").json()
    name = next(a["name"] for a in roster if a["id"] == emma["assignee"])
    expect(wall.page.get_by_role("region", name="Agents at the console")).to_contain_text(name)
    shoot(wall.page, "wall")
