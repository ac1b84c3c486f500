"""The people of the browser tests and what they do, in one place.

`AdminApi` is the script side (an admin's bearer token from `POST /v1/auth/token`): it
creates the users and sends customers' messages in, as an integrator or a channel would.
`Console` is a person in front of the console, driving it as they would: by the labels
and roles a screen reader announces (`get_by_role`, `get_by_label`), never by CSS classes,
so a test that passes here also says the page is labelled.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.e2e.platform import Platform


@dataclass
class AdminApi:
    platform: Platform
    token: str

    @classmethod
    def sign_in(cls, platform: Platform, username: str, password: str) -> AdminApi:
        answer = httpx.post(
            f"{platform.base_url}/v1/auth/token",
            data={"username": username, "password": password},
            timeout=10.0,
        )
        assert answer.status_code == 200, answer.text
        return cls(platform, answer.json()["access_token"])

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.platform.base_url}{path}", headers=headers, timeout=10.0, **kwargs
        )

    def create_user(
        self,
        username: str,
        password: str,
        *,
        roles: list[str],
        brands: list[str],
        agent_id: str | None = None,
        display_name: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "username": username,
            "password": password,
            "roles": roles,
            "brands": brands,
            "display_name": display_name or username.title(),
        }
        if agent_id is not None:
            body["agent_id"] = agent_id
        answer = self.request("POST", "/v1/users", json=body)
        assert answer.status_code in (200, 201), answer.text
        created: dict[str, Any] = answer.json()
        return created

    def ingest(self, message: dict[str, Any]) -> str:
        answer = self.request("POST", "/v1/messages", json=message)
        assert answer.status_code == 202, answer.text
        message_id: str = answer.json()["message_id"]
        return message_id

    def case(self, case_id: str) -> dict[str, Any]:
        answer = self.request("GET", f"/v1/cases/{case_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def assigned_case_of(self, message_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """The case `message_id` became, once routing gave it an agent."""

        def probe() -> dict[str, Any] | None:
            listing = self.request("GET", "/v1/cases", params={"limit": 50})
            if listing.status_code != 200:
                return None
            for summary in listing.json()["cases"]:
                case = self.case(summary["id"])
                if any(m["message_id"] == message_id for m in case.get("messages", [])):
                    return case if case.get("assignee") else None
            return None

        found: dict[str, Any] = self.platform.wait_for(
            f"a case with message {message_id}", probe, timeout_s
        )
        return found


def x_mention(
    brand: str | None,
    text: str,
    *,
    name: str = "Jan van den Berg",
    handle: str = "@jvdberg",
    author_id: str | None = None,
) -> dict[str, Any]:
    """A customer's public mention on X for `brand` (None: the default brand), ids unique
    per call; `author_id`: the same customer again (their messages join their open case)."""
    run = uuid.uuid4().hex[:10]
    message: dict[str, Any] = {
        "channel": "x",
        "external_id": f"18612345{run}",
        "author": {"id": author_id or f"x-{run}", "handle": handle, "name": name, "followers": 312},
        "text": text,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if brand is not None:
        message["brand"] = brand
    return message


@dataclass
class Console:
    """One person in front of the console (their own browser context)."""

    page: Page

    def sign_in(self, username: str, password: str) -> None:
        self.page.goto("/login")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        expect(self.page).not_to_have_url(re.compile(r"/login"))

    def mark_document(self) -> None:
        """Tag the loaded document, to prove later that what changed came without a reload."""
        self.page.evaluate("window.__socialcareNoReload = true")

    def assert_not_reloaded(self) -> None:
        assert self.page.evaluate("window.__socialcareNoReload === true"), (
            "the page was reloaded: the change did not arrive live"
        )

    def my_cases(self) -> Locator:
        return self.page.get_by_role("region", name=re.compile(r"^My cases"))

    def case_row(self, text: str) -> Locator:
        """The inbox row of the case whose last message contains `text`."""
        return self.page.get_by_role("row").filter(has_text=text)

    def composer(self) -> Locator:
        return self.page.get_by_label("Your reply", exact=True)

    def insert_canned_answer(self, title: str) -> None:
        self.page.get_by_label("Canned answer").select_option(label=title)
        self.page.get_by_role("button", name="Insert", exact=True).click()

    def conversation(self) -> Locator:
        return self.page.get_by_role("region", name="Conversation", exact=True)
