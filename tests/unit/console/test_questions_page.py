"""The console's Questions page (`/reports/questions`, scenario 7): the least-asked-questions
report for operations, least asked first with counts per interval, in the user's language,
with the form's problems shown on the page."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from socialcare.core.clock import to_timestamp
from socialcare.core.search.indices import MESSAGES
from socialcare.indexer.domain import case_documents
from socialcare.v1 import case_pb2

from .conftest import CARE_YAML, NOW, Console, care_of, make_case

TAXONOMY = """
intents:
  - {name: billing, keywords: {"*": [invoice]}}
  - {name: delivery, keywords: {"*": [parcel]}}
  - {name: outage, keywords: {"*": [outage]}}
  - {name: safety, keywords: {"*": [fire]}, brands: [acme]}
"""


@pytest.fixture
def care_path(tmp_path: Path) -> Path:
    """The console's care config with a taxonomy (acme: four intents)."""
    path = tmp_path / "care.yaml"
    path.write_text(CARE_YAML + TAXONOMY)
    return path


def index_questions(console: Console) -> None:
    """Inbound messages with intents as the indexer writes them: acme's billing asked
    three times, delivery once, one message without a question; globex's outage once."""
    acme = make_case("q-acme", brand="acme", texts=("a", "b", "c", "d"))
    asked = [["billing"], ["billing", "delivery"], ["billing"], []]
    for message, names, days in zip(acme.messages, asked, (1, 1, 2, 3), strict=True):
        message.created_at.CopyFrom(to_timestamp(NOW - timedelta(days=days)))
        for name in names:
            acme.intents.add(name=name, message_id=message.message_id)
    globex = make_case("q-globex", brand="globex", texts=("e",))
    globex.messages[0].created_at.CopyFrom(to_timestamp(NOW - timedelta(days=1)))
    globex.intents.add(name="outage", message_id=globex.messages[0].message_id)
    documents = [
        document
        for case in (acme, globex)
        for index, document in case_documents(case, brand=case.brand)
        if index == MESSAGES
    ]
    console.runtime.search.upsert(MESSAGES, documents)


ROW = re.compile(r'<tr class="[^"]*" data-intent="([^"]*)">(.*?)</tr>', re.DOTALL)
TOTAL = re.compile(r'<td class="num total">([^<]*)</td>')
SERIES = re.compile(r'<td class="num series(?: seen)?">(\d+)</td>')


def body_rows(html: str) -> dict[str, str]:
    """Each intent row of the table's body (in order): its name and its cells' HTML."""
    assert 'id="sc-questions"' in html, html
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return {name: cells for name, cells in ROW.findall(body)}


def rows(html: str) -> list[tuple[str, str]]:
    found = []
    for name, cells in body_rows(html).items():
        total = TOTAL.search(cells)
        assert total is not None, cells
        found.append((name, total.group(1)))
    return found


def test_operations_see_the_least_asked_first(console: Console) -> None:
    index_questions(console)
    taxonomy = sorted(i.name for i in care_of(console).intents_for("acme"))
    assert taxonomy == ["billing", "delivery", "outage", "safety"]
    page = console.get("/reports/questions", user="ops")
    assert page.status_code == 200, page.text
    found = rows(page.text)
    asked = [(name, total) for name, total in found if total != "0"]
    assert asked == [("delivery", "1"), ("billing", "3")]  # acme's only: not globex's outage
    never = [name for name, total in found if total == "0"]
    assert never == ["outage", "safety"]  # globex's outage is not acme's
    assert found[: len(never)] == [(name, "0") for name in never]  # never asked: first
    footer = page.text.split("<tfoot>", 1)[1]
    without = TOTAL.search(footer)
    assert without is not None and without.group(1) == "1"
    # 30 days by default, one column per day.
    assert page.text.count('<th scope="col" class="num series">') == 31
    assert '<a href="/reports/questions" aria-current="page">' in page.text


def test_weekly_counts_in_dutch(console: Console) -> None:
    index_questions(console)
    console.client.cookies.set("socialcare_lang", "nl")
    page = console.get("/reports/questions?interval=week&time_zone=Europe/Amsterdam", user="ops")
    console.client.cookies.delete("socialcare_lang")
    assert page.status_code == 200, page.text
    assert "<h1>Minst gestelde vragen</h1>" in page.text
    series = SERIES.findall(body_rows(page.text)["billing"])
    assert sum(int(n) for n in series) == 3 and len(series) in (5, 6)


def test_a_bad_parameter_is_shown_on_the_page_as_400(console: Console) -> None:
    page = console.get("/reports/questions?interval=fortnight", user="ops")
    assert page.status_code == 400
    problem = re.search(r'id="sc-questions-problem">([^<]*)<', page.text)
    assert problem is not None and "fortnight" in problem.group(1)
    other = console.get("/reports/questions?brand=globex", user="ops")  # ops sees acme only
    assert other.status_code == 403


def test_agents_do_not_see_it_and_strangers_sign_in_first(console: Console) -> None:
    assert console.get("/reports/questions", user="olivia").status_code == 403
    inbox = console.get("/", user="olivia")
    assert 'href="/reports/questions"' not in inbox.text
    stranger = console.get("/reports/questions", user=None)
    assert stranger.status_code == 303
    assert stranger.headers["location"].startswith("/login?next=/reports/questions")


def test_without_messages_the_taxonomy_is_listed_with_zeros(console: Console) -> None:
    page = console.get("/reports/questions", user="ops")
    assert page.status_code == 200, page.text
    found = rows(page.text)
    assert all(total == "0" for _, total in found)
    assert len(found) == len(care_of(console).intents_for("acme"))


def test_messages_of_a_reply_never_count(console: Console) -> None:
    case = make_case("q-reply", brand="acme", texts=("hi",))
    reply = case.messages.add(
        message_id="reply-1", direction=case_pb2.DIRECTION_OUTBOUND, text="hello"
    )
    reply.created_at.CopyFrom(to_timestamp(NOW - timedelta(hours=1)))
    case.intents.add(name="billing", message_id="reply-1")
    documents = [d for index, d in case_documents(case, brand="acme") if index == MESSAGES]
    console.runtime.search.upsert(MESSAGES, documents)
    found = dict(rows(console.get("/reports/questions", user="ops").text))
    assert found.get("billing", "0") == "0"
