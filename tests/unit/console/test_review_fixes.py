"""What a browser review of the console found, each pinned down: the wall kept to the
viewer's brands, the case page following an action without a reload, agents shown by
name, WhatsApp templates outside the 24-hour window."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from socialcare.console import routes, views
from socialcare.console.board import CaseBoard
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import load_care_config
from socialcare.v1 import case_pb2

from .conftest import ACME_EN, NOW, Console, event, make_case

# --- 1. the wall shows only the viewer's brands ---------------------------------------------


def test_wall_lists_only_agents_of_the_viewers_brands(console: Console) -> None:
    acme_ops = console.get("/wall", user="ops").text
    assert "Globex Nights" not in acme_ops, "a globex-only team on acme's wall"
    assert "America/New_York" not in acme_ops
    assert "Benelux" in acme_ops and "Global English" in acme_ops
    admin = console.get("/console/fragments/wall", user="admin").text
    assert "Globex Nights" in admin, "an admin sees every brand"


def test_wall_presence_counts_no_agent_of_another_brand(care_path: Path) -> None:
    care = load_care_config(care_path)
    present = {"olivia", "gerrit"}
    acme = views.wall(care, [], present, NOW, brands=frozenset({"acme"}))
    names = [name for team in acme.presence for name in team.present]
    assert names == ["Olivia Carter"]
    # gerrit is not acme's; lucia serves acme, wei every brand
    assert sum(team.roster for team in acme.presence) == 5
    globex = views.wall(care, [], present, NOW, brands=frozenset({"globex"}))
    assert sorted(n for team in globex.presence for n in team.present) == [
        "Gerrit Globe",
        "Olivia Carter",  # serves every brand
    ]
    every = views.wall(care, [], present, NOW, brands=None)
    assert sum(team.roster for team in every.presence) == 6


def test_wall_cases_and_escalations_stay_in_the_viewers_brands(console: Console) -> None:
    page = console.get("/console/fragments/wall", user="ops").text
    en = re.search(r'<th scope="row">en</th>(.*?)</tr>', page, re.S)
    assert en is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", en.group(1), re.S)
    assert cells[1] == "2", "acme's two English cases, not globex's third"


def test_case_page_offers_only_agents_of_the_cases_brand(console: Console) -> None:
    own = console.get("/cases/acme-2", user="olivia").text  # olivia's: she may transfer
    transfer = own[
        own.index('id="sc-transfer-to"') : own.index("</select>", own.index("sc-transfer-to"))
    ]
    assert "Gerrit" not in transfer, "routing refuses an agent of another brand"
    consult = own[
        own.index('id="sc-consult-specialist"') : own.index(
            "</select>", own.index("sc-consult-specialist")
        )
    ]
    assert "Gerrit" not in consult and "Lucia Fernandez" in consult and "Wei Tan" in consult
    admin = console.get("/cases/acme-1", user="admin").text
    actors = admin[admin.index('id="sc-agent"') : admin.index("</select>", admin.index("sc-agent"))]
    assert 'value="gerrit"' not in actors and 'value="olivia"' in actors
    globex = console.get("/cases/globex-1", user="admin").text
    assert 'value="gerrit"' in globex


# --- 2. the case page follows an action without a reload ------------------------------------


def resolved(case: case_pb2.Case, version: int) -> case_pb2.Case:
    done = case_pb2.Case()
    done.CopyFrom(case)
    done.status = case_pb2.CASE_STATUS_RESOLVED
    done.assignee = "olivia"
    done.version = version
    return done


def test_case_page_has_a_composer_fragment_that_follows_the_case(console: Console) -> None:
    page = console.get("/cases/acme-1", user="olivia").text
    assert 'id="sc-composer" data-refresh="/console/fragments/cases/acme-1/composer"' in page
    assert 'data-composer="text"' in page
    body = console.get("/console/fragments/cases/acme-1", user="olivia").text
    assert 'class="case-state" data-status="open" data-assignee="" data-version="1"' in body
    assert 'data-composer="text"' in body

    console.add(resolved(ACME_EN, 2), case_pb2.CASE_EVENT_TYPE_RESOLVED)
    body = console.get("/console/fragments/cases/acme-1", user="olivia").text
    assert 'data-status="resolved"' in body and 'data-composer="resolved"' in body
    composer = console.get("/console/fragments/cases/acme-1/composer", user="olivia").text
    assert "<html" not in composer
    assert 'data-composer="resolved"' in composer
    assert "This case is resolved" in composer
    posts = re.findall(r'hx-post="([^"]+)"', composer)
    assert posts == ["/v1/cases/acme-1/reopen"], "no reply, claim or resolve: only reopen"


def test_composer_fragment_keeps_brands_apart(console: Console) -> None:
    response = console.get("/console/fragments/cases/globex-1/composer", user="olivia")
    assert response.status_code == 404
    assert console.get("/console/fragments/cases/acme-1/composer", user=None).status_code == 401


def test_case_fragment_after_an_action_waits_for_routing(console: Console) -> None:
    def routing_applies_it() -> None:
        time.sleep(0.3)
        console.add(resolved(ACME_EN, 2), case_pb2.CASE_EVENT_TYPE_RESOLVED)

    applier = threading.Thread(target=routing_applies_it)
    started = time.monotonic()
    applier.start()
    body = console.get("/console/fragments/cases/acme-1?after=1", user="olivia").text
    applier.join()
    assert 'data-composer="resolved"' in body, "rendered once the resolve was applied"
    assert 0.25 <= time.monotonic() - started < routes.AFTER_ACTION_WAIT_S


def test_case_fragment_after_gives_up_after_a_while(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes, "AFTER_ACTION_WAIT_S", 0.2)
    started = time.monotonic()
    body = console.get("/console/fragments/cases/acme-1?after=1", user="olivia").text
    assert time.monotonic() - started >= 0.2
    assert 'data-composer="text"' in body, "routing refused or is slow: the case as it is"
    assert console.get("/console/fragments/cases/acme-1?after=-1").status_code == 422


def test_board_wait_for_version(care_path: Path) -> None:
    board = CaseBoard(load_care_config(care_path), clock=lambda: NOW)
    board.apply(event(make_case("w", brand="acme", version=1)))
    assert board.wait_for_version("w", 0, 0.0)
    assert not board.wait_for_version("w", 1, 0.05)
    threading.Timer(
        0.1, lambda: board.apply(event(make_case("w", brand="acme", version=2)))
    ).start()
    assert board.wait_for_version("w", 1, 2.0)


def test_the_script_swaps_fragments_instead_of_reloading() -> None:
    script = (Path(routes.__file__).parent / "static" / "console.js").read_text()
    assert "location.reload()" not in script.replace(
        "if (!window.htmx) { window.location.reload(); return; }", ""
    ), "a case change re-renders fragments; only a page without htmx reloads"
    assert '"?after="' in script


# --- 3. agents by name ----------------------------------------------------------------------


def test_owner_and_consultants_by_name(console: Console) -> None:
    page = console.get("/cases/acme-2", user="olivia").text
    assert "Owner: Olivia Carter" in page
    assert "Owner: olivia" not in page
    consulted = make_case("acme-c", brand="acme", status="assigned", assignee="olivia")
    consulted.consultants.append("sanne")
    console.add(consulted)
    inbox = console.get("/", user="sanne").text
    section = inbox[inbox.index('id="consulted-title"') :]
    assert "<td>Olivia Carter</td>" in section


def test_agent_name_falls_back_to_the_id(care_path: Path) -> None:
    care = load_care_config(care_path)
    assert views.agent_name(care, "sanne") == "Sanne de Vries"
    assert views.agent_name(care, "gone-agent") == "gone-agent"
    assert views.agent_name(care, "") == ""


# --- 4. WhatsApp templates outside the 24-hour window ---------------------------------------


def whatsapp_case(case_id: str, brand: str, last_wrote: timedelta) -> case_pb2.Case:
    case = make_case(case_id, brand=brand, channel="whatsapp", opened=NOW - last_wrote)
    for message in case.messages:
        message.created_at.CopyFrom(to_timestamp(NOW - last_wrote))
    return case


def test_whatsapp_inside_the_window_is_free_text(console: Console) -> None:
    console.add(whatsapp_case("acme-wa", "acme", timedelta(hours=23)))
    page = console.get("/cases/acme-wa", user="olivia").text
    assert 'id="sc-text"' in page and 'data-composer="text"' in page
    assert 'id="sc-template-name"' not in page


def test_whatsapp_outside_the_window_offers_the_brands_templates(console: Console) -> None:
    console.add(whatsapp_case("acme-wa-old", "acme", timedelta(hours=25)))
    page = console.get("/cases/acme-wa-old", user="olivia").text
    assert 'data-composer="template"' in page
    assert 'id="sc-text"' not in page, "free text would be refused"
    assert "more than 24 hours ago" in page
    options = re.findall(r'<option value="([a-z_]+:[A-Za-z_]+)">([^<]*)</option>', page)
    assert options == [
        ("order_update:en_US", "order_update (en_US)"),  # the case's language first
        ("pakket_update:nl", "pakket_update (nl)"),
    ]
    form = re.search(r'<form id="sc-template"[^>]*>', page)
    assert form is not None
    assert 'hx-post="/v1/cases/acme-wa-old/replies"' in form.group(0)
    assert 'data-template="true"' in form.group(0)
    assert '<label for="sc-template-parameters">Template values</label>' in page
    assert "Add note" in page, "the other actions stay"


def test_whatsapp_outside_the_window_without_templates_says_so(console: Console) -> None:
    console.add(whatsapp_case("globex-wa", "globex", timedelta(days=3)))
    page = console.get("/cases/globex-wa", user="olivia-globex").text
    assert "no approved WhatsApp templates" in page
    assert 'id="sc-template"' not in page and 'id="sc-text"' not in page


def test_whatsapp_templates_in_dutch(console: Console) -> None:
    console.add(whatsapp_case("acme-wa-nl", "acme", timedelta(hours=30)))
    page = console.get("/cases/acme-wa-nl", user="olivia", **{"accept-language": "nl"}).text
    assert "Goedgekeurd sjabloon" in page and "Sjabloon versturen" in page


def test_needs_template(care_path: Path) -> None:
    assert not views.needs_template("whatsapp", NOW - timedelta(hours=23, minutes=59), NOW)
    assert views.needs_template("whatsapp", NOW - timedelta(hours=24), NOW)
    assert views.needs_template("whatsapp", None, NOW), "an undated message: closed"
    assert not views.needs_template("x", None, NOW)
    care = load_care_config(care_path)
    assert [o.value for o in views.template_options(care, "acme", "nl")] == [
        "pakket_update:nl",
        "order_update:en_US",
    ]
    assert views.template_options(care, "globex", "en") == []
