"""Fixtures for the console: its router in `build_app` with the process's authenticator
(`console`; `gateway` adds the gateway's REST API and sign-in beside it, as
`gateway.main.parts` serves them) on an embedded bus and search store, a real gRPC
CaseService standing in for routing, and a care config with two brands.

People sign in as in production: every request carries a real credential that
`core.auth` checks. A browser holds the session and CSRF cookies of a session the
runtime's authenticator issued for a stored user (`tests.unit.auth_support`: minted
without hashing a password, as `POST /v1/auth/login` would issue it); an integrator sends
its API key as `Authorization: Bearer`. `PEOPLE` are the accounts; `PRINCIPALS` what the
authenticator makes of them, for the tests of the console's decisions without HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from socialcare.console.access import CSRF_COOKIE, Permission, Principal
from socialcare.console.board import CaseBoard
from socialcare.console.routes import console_router
from socialcare.core.auth import SESSION_COOKIE
from socialcare.core.auth.admin import ADMIN_USER_ID
from socialcare.core.auth.authenticator import IssuedToken
from socialcare.core.auth.principal import Role, permissions_of
from socialcare.core.auth.wiring import AuthParts
from socialcare.core.clock import to_timestamp
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import CHANNELS, STATUSES
from socialcare.core.runtime import Runtime, build_app
from socialcare.core.search import IndexedDocument
from socialcare.core.search.indices import CASES, ESCALATIONS, SCHEMAS
from socialcare.gateway.api import router as gateway_router
from socialcare.gateway.auth_api import auth_router
from socialcare.gateway.cases import CaseClient
from socialcare.indexer.domain import case_documents
from socialcare.v1 import case_pb2, message_pb2, services_pb2
from tests.unit.auth_support import (
    api_key_headers,
    bearer,
    new_user,
    open_test_auth,
    session_cookies,
    session_of,
    token_of,
)
from tests.unit.fake_routing import FakeRouting, serve

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

CARE_YAML = """
sla_policies:
  - {name: first-response-en, languages: [en], first_response: 1h}
  - {name: first-response-other, languages: ["*"], first_response: 24h}
queues:
  - {name: care-en, languages: [en]}
  - {name: care-nl, languages: [nl]}
  - {name: care-global, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne de Vries, languages: [nl, en], capacity: 8, team: Benelux,
     time_zone: Europe/Amsterdam}
  - {id: olivia, name: Olivia Carter, languages: [en], capacity: 8, team: Global English,
     time_zone: Europe/London}
  - {id: pieter, name: Pieter Jansen, languages: [nl], capacity: 8, team: Benelux,
     time_zone: Europe/Amsterdam}
  - {id: gerrit, name: Gerrit Globe, languages: [en], capacity: 8, brands: [globex],
     team: Globex Nights, time_zone: America/New_York}
  - {id: lucia, name: Lucia Fernandez, languages: [es, en], capacity: 4, specialist: true,
     brands: [acme], team: Specialists, time_zone: America/Argentina/Buenos_Aires,
     skills: {"product:router": 5}}
  - {id: wei, name: Wei Tan, languages: [en], capacity: 4, specialist: true,
     team: Specialists, time_zone: Asia/Singapore, skills: {"product:router": 3}}
brands:
  - name: acme
    signature: "^{first_name}"
    meta:
      whatsapp_templates:
        - {name: pakket_update, language: nl}
        - {name: order_update, language: en_US}
  - {name: globex, signature: "- {name}, Globex care team"}
canned_answers:
  - id: en-order
    language: en
    channel: x
    title: Order late
    text: >-
      Hi {customer_first_name}, sorry! Could you DM us your order number?
      ^{agent_first_name} will check.
  - id: en-any
    language: en
    title: Anything else?
    text: "Hi {customer_first_name}, is there anything else we can do?"
  - id: en-globex
    brand: globex
    language: en
    title: Globex only
    text: "Globex answer"
  - id: nl-order
    language: nl
    title: Pakket
    text: "Hoi {customer_first_name}, stuur je ons je ordernummer?"
"""


def make_case(
    case_id: str,
    *,
    brand: str,
    language: str = "en",
    channel: str = "x",
    status: str = "open",
    assignee: str = "",
    queue: str | None = None,
    texts: tuple[str, ...] = ("Where is my order?",),
    customer: str = "Kim Jansen",
    handle: str | None = None,
    opened: datetime = NOW - timedelta(minutes=20),
    version: int = 1,
) -> case_pb2.Case:
    case = case_pb2.Case(
        id=case_id,
        status=case_pb2.CaseStatus.ValueType(STATUSES[status]),
        language=language,
        channel=message_pb2.Channel.ValueType(CHANNELS[channel]),
        queue=queue or f"care-{language}",
        assignee=assignee,
        brand=brand,
        conversation_key=f"{channel}:author:{case_id}",
        customer=message_pb2.Author(
            id=f"cust-{case_id}", handle=handle or f"@{case_id}", name=customer, followers=245000
        ),
        opened_at=to_timestamp(opened),
        updated_at=to_timestamp(opened),
        version=version,
        priority="normal",
    )
    case.sentiment.score = -0.6
    case.sentiment.label = message_pb2.SENTIMENT_LABEL_NEGATIVE
    case.sla.policy = f"first-response-{language}"
    case.sla.started_at.CopyFrom(to_timestamp(opened))
    case.sla.due_at.CopyFrom(to_timestamp(opened + timedelta(hours=1)))
    case.sla.state = case_pb2.SLA_STATE_RUNNING
    for n, text in enumerate(texts):
        case.messages.add(
            message_id=f"{case_id}-m{n}",
            direction=case_pb2.DIRECTION_INBOUND,
            author=handle or f"@{case_id}",
            text=text,
            created_at=to_timestamp(opened + timedelta(seconds=n)),
            language=language,
            sentiment=case.sentiment,
        )
    return case


def event(case: case_pb2.Case, kind: int = case_pb2.CASE_EVENT_TYPE_OPENED) -> case_pb2.CaseEvent:
    return case_pb2.CaseEvent(
        event_id=f"ev-{case.id}-{case.version}",
        type=case_pb2.CaseEventType.ValueType(kind),
        case=case,
        occurred_at=case.updated_at,
    )


ACME_EN = make_case("acme-1", brand="acme", texts=("Where is my order? <script>alert(1)</script>",))
ACME_MINE = make_case("acme-2", brand="acme", status="assigned", assignee="olivia")
ACME_NL = make_case("acme-nl", brand="acme", language="nl", texts=("Waar blijft mijn pakket?",))
GLOBEX_EN = make_case("globex-1", brand="globex", texts=("Globex secret complaint",))
ALL_CASES = (ACME_EN, ACME_MINE, ACME_NL, GLOBEX_EN)


@dataclass(frozen=True)
class Person:
    """A stored user account: what an admin would create with `POST /v1/users`."""

    username: str
    roles: frozenset[str]
    brands: frozenset[str]
    agent_id: str | None = None


AGENT = frozenset({Role.AGENT.value})
ACME = frozenset({"acme"})
GLOBEX = frozenset({"globex"})

PEOPLE = {
    "olivia": Person("olivia", AGENT, ACME, agent_id="olivia"),
    "sanne": Person("sanne", AGENT, ACME, agent_id="sanne"),
    "pieter-globex": Person("pieter", AGENT, GLOBEX, agent_id="pieter"),
    # The same roster agent as another account, of the other brand only.
    "olivia-globex": Person("olivia-globex", AGENT, GLOBEX, agent_id="olivia"),
    "ops": Person("ops", frozenset({Role.OPERATIONS.value}), ACME),
    # A team lead of acme who is also on the roster (as agent sanne).
    "lead": Person("lena", frozenset({Role.LEAD.value}), ACME, agent_id="sanne"),
}
ADMIN = "admin"
"""User `admin` (role admin, every brand), as `auth_support` seeds it."""
INTEGRATOR = "integrator"
"""Not a person: an API key of brand acme that may only ingest."""
INTEGRATOR_PERMISSIONS = frozenset({Permission.INGEST})


def display_name(username: str) -> str:
    return username.title()


def principal_of(who: str) -> Principal:
    """What the authenticator makes of `who`'s credential (`Authenticator.principal_of_user`,
    `principal_of_api_key`), but for the id, which the stored account chooses."""
    if who == ADMIN:
        roles = frozenset({Role.ADMIN.value})
        return Principal("user", who, "Administrator", roles, None, None, permissions_of(roles))
    if who == INTEGRATOR:
        roles = frozenset({Role.INTEGRATOR.value})
        return Principal("api_key", who, who, roles, ACME, None, INTEGRATOR_PERMISSIONS)
    person = PEOPLE[who]
    return Principal(
        kind="user",
        id=who,
        name=display_name(person.username),
        roles=person.roles,
        brands=person.brands,
        agent_id=person.agent_id,
        permissions=permissions_of(person.roles),
    )


PRINCIPALS = {who: principal_of(who) for who in [*PEOPLE, ADMIN, INTEGRATOR]}


@dataclass
class Console:
    """The console in a TestClient that is one browser: `get(path, user=...)` signs that
    user in first (their session's cookies in the client's cookie jar), or out."""

    client: TestClient
    board: CaseBoard
    runtime: Runtime
    auth: AuthParts
    cases: dict[str, case_pb2.Case] = field(default_factory=dict)
    # What routing's assigner answers to ListAgentStates; no agents: nobody seen yet.
    agent_states: services_pb2.ListAgentStatesResponse = field(
        default_factory=services_pb2.ListAgentStatesResponse
    )
    routing: FakeRouting | None = None
    user_ids: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, IssuedToken] = field(default_factory=dict)
    keys: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, case: case_pb2.Case, kind: int = case_pb2.CASE_EVENT_TYPE_OPENED) -> None:
        """A case routing has and the board heard of."""
        self.cases[case.id] = case
        self.board.apply(event(case, kind))

    def user_id(self, who: str) -> str:
        """The stored account of `who` (one of `PEOPLE`, or `ADMIN`), created on first use."""
        if who == ADMIN:
            return ADMIN_USER_ID
        if who not in self.user_ids:
            person = PEOPLE[who]
            self.user_ids[who] = new_user(
                self.runtime,
                person.username,
                display_name=display_name(person.username),
                roles=person.roles,
                brands=person.brands,
                agent_id=person.agent_id,
            ).id
        return self.user_ids[who]

    def session(self, who: str) -> IssuedToken:
        """`who`'s console session (one per person per test, as after signing in once)."""
        if who not in self.sessions:
            self.sessions[who] = session_of(self.auth, self.user_id(who))
        return self.sessions[who]

    def cookies(self, who: str) -> dict[str, str]:
        """The cookies of `who`'s signed-in browser."""
        return session_cookies(self.session(who))

    def bearer(self, who: str) -> dict[str, str]:
        """`Authorization: Bearer` of `who`: the integrator's API key, or a person's access
        token (what a script gets from `POST /v1/auth/token`)."""
        if who == INTEGRATOR:
            if who not in self.keys:
                self.keys[who] = api_key_headers(
                    self.runtime,
                    brand="acme",
                    permissions=[p.value for p in INTEGRATOR_PERMISSIONS],
                )
            return self.keys[who]
        return bearer(token_of(self.auth, self.user_id(who)))

    def sign_in(self, who: str | None) -> None:
        """This browser holds `who`'s session cookies from now on (None: no session)."""
        jar = self.client.cookies
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            jar.delete(name)
        if who is not None:
            for name, value in self.cookies(who).items():
                jar.set(name, value)

    def get(self, path: str, user: str | None = "olivia", **headers: str) -> httpx.Response:
        """GET `path` as `user`'s browser (an integrator: with its API key, no cookies)."""
        if user == INTEGRATOR:
            self.sign_in(None)
            headers.update(self.bearer(user))
        else:
            self.sign_in(user)
        response: httpx.Response = self.client.get(path, headers=headers, follow_redirects=False)
        return response


@pytest.fixture
def care_path(tmp_path: Path) -> Path:
    path = tmp_path / "care.yaml"
    path.write_text(CARE_YAML)
    return path


def open_console(tmp_path: Path, care_path: Path, *, with_api: bool) -> Iterator[Console]:
    """The console's router in `build_app` with the runtime's authenticator; `with_api`
    adds what `gateway.main.parts` serves beside it: the REST API the console's actions
    post to, and sign-in (`/v1/auth/...`). Served over HTTPS, as in production (the
    session cookies sign-in sets are Secure)."""
    cases: dict[str, case_pb2.Case] = {}
    agent_states = services_pb2.ListAgentStatesResponse()
    routing = FakeRouting(cases, agents=agent_states)
    server, address = serve(routing)
    settings = PlatformSettings(
        data_dir=tmp_path / "data",
        care_config=care_path,
        case_grpc_address=address,
        embedded_sync="normal",
    )
    runtime = Runtime(settings)
    search = runtime.search
    for name, schema in SCHEMAS.items():
        search.ensure_index(name, schema)
    board = CaseBoard(runtime.care, clock=lambda: NOW)
    board.mark_ready()
    client_for_cases = CaseClient(address, timeout_s=2.0)
    auth = open_test_auth(runtime)
    routers = [
        console_router(
            care=runtime.care,
            board=board,
            cases=client_for_cases,
            search=search,
            producer=runtime.producer,
            sso_enabled=False,
            clock=lambda: NOW,
        )
    ]
    if with_api:
        api = gateway_router(
            care=runtime.care, search=search, producer=runtime.producer, cases=client_for_cases
        )
        routers += [api, auth_router(auth)]
    app = build_app("console-test", routers, [], auth.authenticator)
    client = TestClient(app, base_url="https://testserver")
    harness = Console(client, board, runtime, auth, cases, agent_states, routing)
    for case in ALL_CASES:
        harness.add(case)
    try:
        yield harness
    finally:
        harness.client.close()
        client_for_cases.close()
        server.stop(grace=None).wait()
        runtime.close()


@pytest.fixture
def console(tmp_path: Path, care_path: Path) -> Iterator[Console]:
    """The console's pages, fragments and stream."""
    yield from open_console(tmp_path, care_path, with_api=False)


@pytest.fixture
def gateway(tmp_path: Path, care_path: Path) -> Iterator[Console]:
    """The console with the gateway's REST API and sign-in beside it, as a browser uses
    them: signing in and out, and the actions its pages post."""
    yield from open_console(tmp_path, care_path, with_api=True)


def index_cases(runtime: Runtime, *cases: case_pb2.Case) -> None:
    """Put cases in the search projection as the indexer would."""
    docs = [doc for case in cases for index, doc in case_documents(case) if index == CASES]
    runtime.search.upsert(CASES, docs)
    runtime.search.refresh(CASES)


def index_escalation(runtime: Runtime, body: dict[str, str]) -> None:
    runtime.search.upsert(ESCALATIONS, [IndexedDocument(body["id"], body)])
    runtime.search.refresh(ESCALATIONS)


def care_of(console: Console) -> CareConfig:
    return console.runtime.care
