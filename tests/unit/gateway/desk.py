"""A care desk for the lifecycle actions over REST and gRPC: two brands, agents with skills,
calendars in three time zones (scenario 3's specialist network), canned answers, cases in
every state, and real gRPC CaseServices standing in for routing (two instances: agent
states and satisfaction answers are asked of each)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from fastapi.testclient import TestClient
from google.protobuf.message import Message

from socialcare.core.clock import to_timestamp
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode
from socialcare.core.runtime import Runtime
from socialcare.gateway.actions import Actions
from socialcare.gateway.agents import agents_router
from socialcare.gateway.api import router
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.reports import satisfaction_router
from socialcare.v1 import (
    case_pb2,
    commands_pb2,
    message_pb2,
    routing_pb2,
    services_pb2,
)
from tests.unit.auth_support import admin_headers, authed_app, open_test_auth, user_headers
from tests.unit.fake_routing import FakeRouting, serve

from .conftest import SATISFACTION_ROWS

# Thursday 26 November 2026, 02:00 UTC: night in Europe and Buenos Aires, 10:00 in Singapore.
NIGHT_IN_EUROPE = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

CARE_YAML = """
sla_policies:
  - {name: any, languages: ["*"], first_response: 1h}
calendars:
  - {name: madrid-day, time_zone: Europe/Madrid, hours: {mon: "08:00-20:00", tue: "08:00-20:00",
     wed: "08:00-20:00", thu: "08:00-20:00", fri: "08:00-20:00"}}
  - {name: buenos-aires-day, time_zone: America/Argentina/Buenos_Aires, hours: {
     mon: "08:00-20:00", tue: "08:00-20:00", wed: "08:00-20:00", thu: "08:00-20:00",
     fri: "08:00-20:00"}}
  - {name: singapore-day, time_zone: Asia/Singapore, hours: {mon: "08:00-20:00",
     tue: "08:00-20:00", wed: "08:00-20:00", thu: "08:00-20:00", fri: "08:00-20:00"}}
teams:
  - {name: Iberia, calendar: madrid-day}
  - {name: LatAm, calendar: buenos-aires-day}
queues:
  - {name: care, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne de Vries, languages: [nl, en], capacity: 8, brands: [acme]}
  - {id: olivia, name: Olivia Carter, languages: [en, nl], capacity: 8, brands: [acme]}
  - {id: lucia, name: Lucia Fernandez, languages: [es, en], capacity: 8, brands: [acme],
     team: Iberia, time_zone: Europe/Madrid, skills: {"product:router": 4}}
  - {id: diego, name: Diego Sosa, languages: [es], capacity: 4, specialist: true,
     team: LatAm, time_zone: America/Argentina/Buenos_Aires,
     skills: {"language:es": 5, "product:router": 5}}
  - {id: mei, name: Mei Tan, languages: [en, es], capacity: 4, specialist: true,
     time_zone: Asia/Singapore, calendar: singapore-day, skills: {"product:router": 3}}
  - {id: gerrit, name: Gerrit Globe, languages: [en, nl], capacity: 8, brands: [globex]}
brands:
  - {name: acme, signature: "^{first_name}"}
  - {name: globex}
canned_answers:
  - {id: nl-dm, language: nl, title: Vraag om DM,
     text: "Hoi {customer_first_name}, stuur je ons een DM? Groet, {agent_first_name}"}
  - {id: nl-long, language: nl, channel: x, title: Lang, text: "LONG"}
  - {id: en-dm, language: en, title: Ask for a DM, text: "Hi {customer_first_name}, DM us."}
""".replace("LONG", ("Uitleg " * 40).strip())

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def make_case(
    case_id: str,
    *,
    brand: str = "acme",
    status: case_pb2.CaseStatus.ValueType = case_pb2.CASE_STATUS_ASSIGNED,
    assignee: str = "sanne",
    language: str = "nl",
) -> case_pb2.Case:
    case = case_pb2.Case(
        id=case_id,
        status=status,
        language=language,
        channel=message_pb2.CHANNEL_X,
        queue="care",
        assignee=assignee,
        brand=brand,
        conversation_key=f"x:author:{case_id}",
        customer=message_pb2.Author(id=f"cust-{case_id}", handle=f"@{case_id}", name="Kim Jansen"),
        opened_at=to_timestamp(T0),
        updated_at=to_timestamp(T0),
        version=1,
        priority="normal",
    )
    case.messages.add(
        message_id=f"{case_id}-m0",
        direction=case_pb2.DIRECTION_INBOUND,
        author=f"@{case_id}",
        text="Waar is mijn pakket? En klopt mijn factuur?",
        created_at=to_timestamp(T0),
        language=language,
    )
    return case


def desk_cases() -> dict[str, case_pb2.Case]:
    """acme-1: sanne's, with two questions (one answered) and a consultation of diego's;
    acme-2: olivia's; acme-queued: nobody's; acme-closed; acme-resolved; globex-1."""
    own = make_case("acme-1")
    own.intents.add(name="order_status", question="Waar is mijn pakket?")
    own.intents.add(name="invoice", question="Klopt mijn factuur?", answered=True)
    own.consultations.add(
        id="consult-1",
        specialist="diego",
        asked_by="sanne",
        question="Welke firmware?",
        asked_at=to_timestamp(T0),
        product="router",
    )
    cases = [
        own,
        make_case("acme-2", assignee="olivia"),
        make_case("acme-queued", status=case_pb2.CASE_STATUS_OPEN, assignee=""),
        make_case("acme-closed", status=case_pb2.CASE_STATUS_CLOSED),
        make_case("acme-resolved", status=case_pb2.CASE_STATUS_RESOLVED),
        make_case("globex-1", brand="globex", assignee="gerrit", language="en"),
    ]
    return {case.id: case for case in cases}


# The assigner's view: sanne online with one case; mei away.
AGENT_STATES = services_pb2.ListAgentStatesResponse(
    agents=[
        services_pb2.AgentStatus(
            agent="sanne",
            presence=routing_pb2.PRESENCE_ONLINE,
            load=1,
            load_by_channel={"x": 1},
            on_shift=True,
        ),
        services_pb2.AgentStatus(agent="mei", presence=routing_pb2.PRESENCE_AWAY, on_shift=True),
    ]
)


@dataclass
class Instance:
    servicer: FakeRouting
    server: grpc.Server
    address: str


def serve_routing(servicer: FakeRouting) -> Instance:
    return Instance(servicer, *serve(servicer))


@dataclass
class Desk:
    runtime: Runtime
    routing: list[Instance]
    cases: CaseClient
    actions: Actions
    now: datetime = NIGHT_IN_EUROPE
    clients: dict[str, TestClient] = field(default_factory=dict)

    def post(self, who: str, path: str, body: dict[str, Any], **headers: str) -> Any:
        return self.clients[who].post(path, json=body, headers=headers)

    def headers(self, who: str) -> dict[str, str]:
        return dict(self.clients[who].headers)


def open_desk(tmp_path: Path, *, assigner: bool = True) -> Iterator[Desk]:
    """Two routing instances: the first runs the assigner (unless `assigner` is false),
    both hold satisfaction answers; the REST routers on one `Actions`; a client per
    user: admin, sanne and diego (agents of acme), olivia (lead of acme), gerrit (agent
    of globex), ops (operations of acme)."""
    care_path = tmp_path / "care.yaml"
    care_path.write_text(CARE_YAML)
    cases = desk_cases()
    instances = [
        serve_routing(
            FakeRouting(
                cases, agents=AGENT_STATES if assigner else None, satisfaction=SATISFACTION_ROWS
            )
        ),
        serve_routing(FakeRouting({}, satisfaction=SATISFACTION_ROWS[:1])),
    ]
    runtime = Runtime(
        PlatformSettings(
            data_dir=tmp_path / "data",
            care_config=care_path,
            case_grpc_address=instances[0].address,
            embedded_sync="normal",
        )
    )
    client = CaseClient(",".join(i.address for i in instances), timeout_s=2.0)
    desk = Desk(
        runtime,
        instances,
        client,
        Actions(care=runtime.care, producer=runtime.producer, cases=client),
    )
    desk.actions.clock = lambda: desk.now
    open_test_auth(runtime)
    routers = [
        router(
            care=runtime.care,
            search=runtime.search,
            producer=runtime.producer,
            cases=client,
            actions=desk.actions,
            clock=lambda: desk.now,
        ),
        agents_router(
            care=runtime.care, cases=client, actions=desk.actions, clock=lambda: desk.now
        ),
        satisfaction_router(care=runtime.care, cases=client, clock=lambda: desk.now),
    ]
    app = authed_app(runtime, routers)
    users = {
        "admin": admin_headers(runtime),
        "sanne": user_headers(runtime, "sanne", roles=["agent"], brands=["acme"], agent_id="sanne"),
        "diego": user_headers(runtime, "diego", roles=["agent"], brands=["acme"], agent_id="diego"),
        "olivia": user_headers(
            runtime, "olivia", roles=["lead"], brands=["acme"], agent_id="olivia"
        ),
        "gerrit": user_headers(
            runtime, "gerrit", roles=["agent"], brands=["globex"], agent_id="gerrit"
        ),
        "ops": user_headers(runtime, "ops", roles=["operations"], brands=["acme"]),
    }
    desk.clients = {who: TestClient(app, headers=headers) for who, headers in users.items()}
    try:
        yield desk
    finally:
        client.close()
        for instance in instances:
            instance.server.stop(grace=None).wait()
        runtime.close()


def on_topic(runtime: Runtime, topic: Topic, kind: type[Message]) -> list[Any]:
    """Every message on `topic` so far (the gateway flushes before it answers, so what it
    published is there to read)."""
    consumer = runtime.bus.consumer(f"desk-{uuid.uuid4().hex[:8]}", [topic.value])
    try:
        records: list[Any] = []
        while batch := consumer.poll(500, timeout_s=0.3):
            records.extend(batch)
        return [decode(record, kind) for record in records]
    finally:
        consumer.close()


def commands(runtime: Runtime) -> list[commands_pb2.AgentCommand]:
    return on_topic(runtime, Topic.COMMANDS, commands_pb2.AgentCommand)


def the_command(runtime: Runtime, command_id: str) -> commands_pb2.AgentCommand:
    """The one command with this id on care.commands."""
    found = [c for c in commands(runtime) if c.command_id == command_id]
    assert len(found) == 1, f"{len(found)} commands {command_id}"
    return found[0]
