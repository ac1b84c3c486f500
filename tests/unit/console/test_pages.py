"""The console's pages as a browser gets them: sign-in redirects, what each principal
sees (never another brand's case), escaping of customer text, both languages, the
composer's limits and canned answers, the wall, security headers and static files."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from socialcare.console.routes import SECURITY_HEADERS, console_router
from socialcare.core.clock import to_timestamp
from socialcare.gateway.cases import CaseClient
from socialcare.v1 import case_pb2, delivery_pb2, escalation_pb2
from tests.unit.auth_support import authed_app

from .conftest import (
    ACME_EN,
    NOW,
    Console,
    index_cases,
    index_escalation,
    make_case,
)


def html_of(response: httpx.Response) -> str:
    return response.text


# --- sign-in ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/cases/acme-1", "/wall"])
def test_pages_send_strangers_to_sign_in(console: Console, path: str) -> None:
    response = console.get(path, user=None)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize(
    "path",
    ["/console/fragments/inbox", "/console/fragments/cases/acme-1", "/console/fragments/wall"],
)
def test_fragments_without_session_redirect_htmx(console: Console, path: str) -> None:
    response = console.get(path, user=None)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"


def test_login_page_has_labelled_fields_and_keeps_next(console: Console) -> None:
    page = html_of(console.get("/login?next=/cases/acme-1", user=None))
    assert '<label for="username">Username</label>' in page
    assert '<label for="password">Password</label>' in page
    assert 'name="next" value="/cases/acme-1"' in page
    assert 'action="/v1/auth/login"' in page
    assert "Sign in with SSO" not in page


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_login_never_redirects_off_site(console: Console, target: str) -> None:
    page = html_of(console.get(f"/login?next={target}", user=None))
    assert 'name="next" value="/"' in page
    response = console.get(f"/login?next={target}", user="olivia")
    assert response.headers["location"] == "/"


def test_login_offers_sso_when_configured(console: Console) -> None:
    router = console_router(
        care=console.runtime.care,
        board=console.board,
        cases=None,  # type: ignore[arg-type]  # not used by the sign-in page
        search=console.runtime.search,
        sso_enabled=True,
    )
    with TestClient(authed_app(console.runtime, [router], "sso")) as client:
        page = client.get("/login?next=/wall").text
    assert 'href="/v1/auth/oidc/login?next=/wall"' in page
    assert "Sign in with SSO" in page


def test_failed_sign_in_says_so_without_echo(console: Console) -> None:
    page = html_of(console.get("/login?error=<b>x</b>", user=None))
    assert "Sign-in failed" in page
    assert "<b>x</b>" not in page


# --- inbox ------------------------------------------------------------------------------


def inbox_rows(page: str, section: str) -> list[str]:
    """The case ids listed in one section of the inbox."""
    start = page.index(f'id="{section}-title"')
    end = page.find("</section>", start)
    return re.findall(r'data-case="([^"]+)"', page[start:end])


def test_inbox_lists_my_cases_then_my_queue(console: Console) -> None:
    page = html_of(console.get("/", user="olivia"))
    assert inbox_rows(page, "mine") == ["acme-2"]
    assert inbox_rows(page, "queues") == ["acme-1"]
    assert "acme-nl" not in page, "olivia does not speak Dutch"
    assert "globex" not in page.lower().replace('"globex"', "")


def test_inbox_orders_by_priority_then_sla_left(console: Console) -> None:
    late = make_case("acme-late", brand="acme", opened=NOW - timedelta(minutes=50))
    urgent = make_case("acme-high", brand="acme", opened=NOW - timedelta(minutes=5))
    urgent.priority = "high"
    console.add(late)
    console.add(urgent)
    page = html_of(console.get("/", user="olivia"))
    assert inbox_rows(page, "queues") == ["acme-high", "acme-late", "acme-1"]


def test_inbox_of_the_other_brand(console: Console) -> None:
    page = html_of(console.get("/", user="olivia-globex"))
    assert inbox_rows(page, "queues") == ["globex-1"]
    assert "acme-1" not in page and "acme-2" not in page


def test_inbox_shows_a_live_countdown(console: Console) -> None:
    page = html_of(console.get("/", user="olivia"))
    assert 'class="countdown" datetime="2026-11-26T12:40:00+00:00"' in page
    assert 'data-stream="/v1/stream/cases"' in page


def test_inbox_fragment_is_the_lists_only(console: Console) -> None:
    fragment = html_of(console.get("/console/fragments/inbox", user="olivia"))
    assert "<html" not in fragment
    assert 'data-case="acme-1"' in fragment


def test_operations_without_roster_agent_get_a_note(console: Console) -> None:
    page = html_of(console.get("/", user="ops"))
    assert "not on the agent roster" in page


# --- case -------------------------------------------------------------------------------


def test_case_of_another_brand_is_not_found(console: Console) -> None:
    response = console.get("/cases/globex-1", user="olivia")
    assert response.status_code == 404
    assert "Globex secret complaint" not in html_of(response)
    fragment = console.get("/console/fragments/cases/globex-1", user="olivia")
    assert fragment.status_code == 404
    assert "Globex secret complaint" not in html_of(fragment)


def test_case_in_a_language_the_agent_does_not_speak_is_not_theirs(console: Console) -> None:
    assert console.get("/cases/acme-nl", user="olivia").status_code == 404
    assert console.get("/cases/acme-nl", user="sanne").status_code == 200


def test_unknown_case_is_not_found(console: Console) -> None:
    assert console.get("/cases/nope", user="admin").status_code == 404


def test_customer_text_is_escaped(console: Console) -> None:
    evil = make_case(
        "acme-xss",
        brand="acme",
        texts=('"><img src=x onerror=alert(1)>', "<script>alert('x')</script>"),
        customer='<svg onload="alert(2)">',
        handle="@<b>bold</b>",
    )
    console.add(evil)
    page = html_of(console.get("/cases/acme-xss", user="olivia"))
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "<svg onload" not in page
    assert "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    # The inbox preview and the canned answers (filled with the customer's name) too.
    inbox = html_of(console.get("/", user="olivia"))
    assert "<svg onload" not in inbox and "<img src=x" not in inbox
    assert 'data-text="Hi &lt;svg, is there anything else we can do?"' in page


def test_case_page_shows_conversation_sentiment_reach_and_previous_cases(
    console: Console,
) -> None:
    earlier = make_case(
        "acme-old",
        brand="acme",
        status="resolved",
        handle="@acme-1",
        opened=NOW - timedelta(days=30),
    )
    earlier.customer.id = ACME_EN.customer.id
    index_cases(console.runtime, earlier)
    case = case_pb2.Case()
    case.CopyFrom(ACME_EN)
    case.messages.add(
        message_id="r1",
        direction=case_pb2.DIRECTION_OUTBOUND,
        author="olivia",
        text="Sorry! Could you DM us? ^Olivia",
    ).delivery.status = delivery_pb2.DELIVERY_STATUS_DELIVERED
    case.messages.add(
        message_id="n1",
        direction=case_pb2.DIRECTION_INTERNAL,
        author="olivia",
        text="Called the warehouse",
    )
    case.version = 3
    console.add(case, case_pb2.CASE_EVENT_TYPE_NOTE_ADDED)
    page = html_of(console.get("/cases/acme-1", user="olivia"))
    assert "Sentiment: Negative (-0.60)" in page
    assert "245\u202f000 followers" in page
    assert 'href="/cases/acme-old"' in page
    assert "Reply by Olivia Carter" in page, "the roster's name, not the agent id"
    assert "Internal note by Olivia Carter (not sent to the customer)" in page
    assert "Reply by olivia" not in page
    assert 'class="message internal"' in page
    assert "Delivery:" in page


def test_case_page_shows_escalations(console: Console) -> None:
    """From the case itself (routing's, authoritative), not from the search index."""
    case = make_case("acme-esc", brand="acme")
    case.escalations.add(
        id="esc-1",
        case_id="acme-esc",
        trigger=escalation_pb2.ESCALATION_TRIGGER_INFLUENCER,
        tier=escalation_pb2.ESCALATION_TIER_MANAGEMENT,
        status=escalation_pb2.ESCALATION_STATUS_OPEN,
        reason="negative post by an account with 245k followers <i>",
        raised_at=to_timestamp(NOW - timedelta(minutes=15)),
    )
    console.add(case)
    page = html_of(console.get("/cases/acme-esc", user="olivia"))
    assert "negative post by an account with 245k followers &lt;i&gt;" in page


def test_composer_counts_the_signature_against_the_channel_limit(console: Console) -> None:
    page = html_of(console.get("/cases/acme-1", user="olivia"))
    assert 'data-limit="280"' in page
    assert 'data-signature="^Olivia"' in page
    assert 'maxlength="272"' in page  # 280 - len(" ^Olivia")
    assert "8 of 280 characters" in page


def test_composer_uses_the_brands_own_signature(console: Console) -> None:
    page = html_of(console.get("/cases/globex-1", user="olivia-globex"))
    signature = "- Olivia Carter, Globex care team"
    assert f'data-signature="{signature}"' in page
    assert f'maxlength="{280 - len(signature) - 1}"' in page


def test_canned_answers_fit_brand_language_and_channel(console: Console) -> None:
    page = html_of(console.get("/cases/acme-1", user="olivia"))
    options = re.findall(r'<option value="([a-z0-9-]+)" data-text="([^"]*)"', page)
    assert [o[0] for o in options] == ["en-order", "en-any"]
    assert options[0][1] == (
        "Hi Kim, sorry! Could you DM us your order number? ^Olivia will check."
    )
    globex = html_of(console.get("/cases/globex-1", user="olivia-globex"))
    assert "en-globex" in globex


def test_actions_post_json_to_the_rest_api(console: Console) -> None:
    page = html_of(console.get("/cases/acme-1", user="olivia"))
    assert 'hx-post="/v1/cases/acme-1/replies"' in page
    assert 'hx-post="/v1/cases/acme-1/claim"' in page
    assert 'hx-post="/v1/cases/acme-1/notes"' in page
    assert 'hx-post="/v1/cases/acme-1/consultations"' in page
    assert 'hx-ext="sc-json"' in page
    assert "Transfer" not in page, "an agent transfers only their own cases"
    assert 'hx-post="/v1/cases/acme-1/resolve"' not in page, "nor resolves another's"
    own = html_of(console.get("/cases/acme-2", user="olivia"))
    for action in (
        "transfer",
        "resolve",
        "await-customer",
        "merge",
        "referrals",
        "identities",
        "priority",
    ):
        assert f'hx-post="/v1/cases/acme-2/{action}"' in own, action
    assert 'id="sc-transfer-reason"' in own
    assert 'data-actor-field="by"' in own
    assert "Claim case" not in own


def test_admin_chooses_whom_to_act_as(console: Console) -> None:
    page = html_of(console.get("/cases/acme-1", user="admin"))
    assert '<select id="sc-agent" class="sc-actor">' in page
    assert 'value="olivia" data-signature="^Olivia"' in page


def test_read_only_principal_gets_no_composer(console: Console) -> None:
    page = html_of(console.get("/cases/acme-1", user="ops"))
    assert "You can read this case but not act on it." in page
    assert "hx-post" not in page


def test_resolved_case_has_no_composer(console: Console) -> None:
    done = make_case("acme-done", brand="acme", status="resolved", assignee="olivia")
    console.add(done)
    page = html_of(console.get("/cases/acme-done", user="olivia"))
    assert "This case is resolved" in page
    assert re.findall(r'hx-post="([^"]+)"', page) == ["/v1/cases/acme-done/reopen"]
    closed = make_case("acme-closed", brand="acme", status="resolved", assignee="olivia")
    closed.status = case_pb2.CASE_STATUS_CLOSED
    console.add(closed)
    page = html_of(console.get("/cases/acme-closed", user="olivia"))
    assert "This case is closed" in page
    assert "hx-post" not in page, "a closed case is over: a new message opens a new one"


def test_routing_down_is_a_clear_503(console: Console) -> None:
    unreachable = CaseClient("127.0.0.1:1", timeout_s=0.3)
    router = console_router(
        care=console.runtime.care,
        board=console.board,
        cases=unreachable,
        search=console.runtime.search,
    )
    app = authed_app(console.runtime, [router], "down")
    with TestClient(app, cookies=console.cookies("olivia")) as client:
        response = client.get("/cases/acme-1")
    unreachable.close()
    assert response.status_code == 503
    assert "cannot be read right now" in response.text


# --- i18n -------------------------------------------------------------------------------


def test_dutch_from_accept_language(console: Console) -> None:
    page = html_of(console.get("/", user="sanne", **{"accept-language": "nl-NL,nl;q=0.9,en;q=0.8"}))
    assert '<html lang="nl">' in page
    assert "Mijn cases" in page and "Mijn wachtrijen" in page
    assert "My cases" not in page


def test_language_cookie_wins_over_the_browser(console: Console) -> None:
    console.client.cookies.set("socialcare_lang", "en")
    page = html_of(console.get("/", user="sanne", **{"accept-language": "nl"}))
    assert '<html lang="en">' in page


def test_language_switch_sets_the_cookie_and_stays_on_site(console: Console) -> None:
    response = console.client.post(
        "/console/language",
        data={"lang": "nl", "next": "/cases/acme-1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/cases/acme-1"
    assert "socialcare_lang=nl" in response.headers["set-cookie"]
    evil = console.client.post(
        "/console/language", data={"lang": "nl", "next": "//evil.example"}, follow_redirects=False
    )
    assert evil.headers["location"] == "/"


def test_case_page_in_dutch(console: Console) -> None:
    page = html_of(console.get("/cases/acme-nl", user="sanne", **{"accept-language": "nl"}))
    assert "Gesprek" in page and "Antwoord versturen" in page
    assert "Waar blijft mijn pakket?" in page
    assert 'data-text="Hoi Kim, stuur je ons je ordernummer?"' in page


# --- wall -------------------------------------------------------------------------------


def test_wall_is_for_operations(console: Console) -> None:
    assert console.get("/wall", user="olivia").status_code == 403
    assert console.get("/console/fragments/wall", user="olivia").status_code == 403
    assert console.get("/wall", user="ops").status_code == 200


def test_wall_shows_only_the_viewers_brands(console: Console) -> None:
    index_escalation(
        console.runtime,
        {
            "id": "esc-g",
            "case_id": "globex-1",
            "trigger": "negative_spike",
            "tier": "management",
            "reason": "Globex spike",
            "language": "en",
            "queue": "care-en",
            "raised_at": "2026-11-26T11:50:00.000Z",
            "cause_id": "x",
        },
    )
    index_escalation(
        console.runtime,
        {
            "id": "esc-a",
            "case_id": "acme-1",
            "trigger": "negative_spike",
            "tier": "management",
            "reason": "Acme spike",
            "language": "en",
            "queue": "care-en",
            "raised_at": "2026-11-26T11:51:00.000Z",
            "cause_id": "y",
        },
    )
    page = html_of(console.get("/wall", user="ops"))
    assert "Acme spike" in page and "Incident" in page
    assert "Globex spike" not in page
    admin = html_of(console.get("/wall", user="admin"))
    assert "Globex spike" in admin


def test_wall_figures(console: Console) -> None:
    met = make_case("acme-met", brand="acme", status="waiting_on_customer", assignee="olivia")
    met.sla.state = case_pb2.SLA_STATE_MET
    met.sla.first_response_at.CopyFrom(met.sla.started_at)
    met.sla.first_response_at.seconds += 600
    console.add(met)
    page = html_of(console.get("/console/fragments/wall", user="ops"))
    # acme, English: acme-1, acme-2 (running, not due yet) and acme-met (met in 10 min).
    row = re.search(r'<th scope="row">en</th>(.*?)</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert cells[:5] == ["1 h", "3", "100 %", "10 min", "10 min"]
    assert "care-nl" in page and "Benelux" in page and "Europe/Amsterdam" in page


# --- headers and static files -----------------------------------------------------------


def test_pages_carry_security_headers(console: Console) -> None:
    response = console.get("/", user="olivia")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "script-src 'self'" in SECURITY_HEADERS["Content-Security-Policy"]


def test_no_inline_script_on_any_page(console: Console) -> None:
    for user, path in [
        ("olivia", "/"),
        ("olivia", "/cases/acme-2"),
        ("ops", "/wall"),
        (None, "/login"),
    ]:
        page = html_of(console.get(path, user=user))
        for tag in re.findall(r"<script[^>]*>", page):
            assert "src=" in tag or 'type="application/json"' in tag, tag
        assert " on" + "click=" not in page and "hx-on" not in page


def test_static_files_are_served_by_the_platform(console: Console) -> None:
    page = html_of(console.get("/", user="olivia"))
    htmx = re.search(r'src="(/console/static/vendor/htmx\.min\.js\?v=[0-9a-f]+)"', page)
    assert htmx is not None
    response = console.client.get(htmx.group(1))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "immutable" in response.headers["cache-control"]
    assert response.content.startswith(b"var htmx=function()")
    assert console.client.get("/console/static/console.css").status_code == 200
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/console/static/../routes.py",
        "/console/static/vendor/htmx.LICENSE",
        "/console/static/nope.js",
        "/console/static/vendor/swagger/swagger-ui-bundle.js",  # console.docs serves it
    ],
)
def test_static_serves_only_its_assets(console: Console, path: str) -> None:
    assert console.client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/", "/cases/acme-1", "/wall"])
def test_a_key_without_case_permissions_gets_403(console: Console, path: str) -> None:
    response = console.get(path, user="integrator")
    assert response.status_code == 403
    assert "You may not see this page." in html_of(response)


def test_actions_fragment_follows_the_owner(console: Console) -> None:
    fragment = html_of(console.get("/console/fragments/cases/acme-1/actions", user="olivia"))
    assert "<html" not in fragment
    assert 'data-assignee="" data-status="open"' in fragment
    assert "Claim case" in fragment
    claimed = case_pb2.Case()
    claimed.CopyFrom(ACME_EN)
    claimed.status = case_pb2.CASE_STATUS_ASSIGNED
    claimed.assignee = "olivia"
    claimed.version = 2
    console.add(claimed, case_pb2.CASE_EVENT_TYPE_ASSIGNED)
    fragment = html_of(console.get("/console/fragments/cases/acme-1/actions", user="olivia"))
    assert "Claim case" not in fragment
    assert 'id="sc-transfer-reason"' in fragment
    assert html_of(console.get("/console/fragments/cases/acme-1/actions", user="ops")) == ""


def test_previous_cases_are_the_same_author_not_the_same_handle(console: Console) -> None:
    same = make_case("acme-same", brand="acme", status="resolved", handle="@acme-1")
    same.customer.id = ACME_EN.customer.id
    other = make_case("acme-other", brand="acme", status="resolved", handle="@acme-1")
    theirs = make_case("globex-same", brand="globex", status="resolved", handle="@acme-1")
    theirs.customer.id = ACME_EN.customer.id
    index_cases(console.runtime, same, other, theirs)
    page = html_of(console.get("/cases/acme-1", user="olivia"))
    assert 'href="/cases/acme-same"' in page
    assert "acme-other" not in page, "another account that once had the handle"
    assert "globex-same" not in page, "another brand"
