"""Brands are isolated on the gateway's gRPC doors too, for every query it serves.

tests/unit/test_access.py proves it for every REST read route (its list is derived from the
app's routes and fails on a new one). The gateway's gRPC methods mostly run those routes'
handlers (`gateway.rpc_services.ROUTE_RPCS`); a few have code of their own (ViewCase,
WatchCases, the agent's actions). Here every method the gateway's gRPC server serves
(derived: every method of the contracts that does not answer UNIMPLEMENTED there) is called
by an agent and an operator of one brand and an agent of the other, with an empty request
(a search gets words) and with every `*_id` field naming the other brand's case, and no
answer may carry the other brand's case ids. WatchCases is called too (the board here is
empty; tests/unit/console/test_stream.py and the gateway's watch tests fill it). Methods that run a
REST route other than GET change things: they are left to the action tests (an agent of one
brand acting on another's case is 404 there, `test_no_action_reaches_another_brands_case`).
The admin, who sees every brand, is asked the same way, so the check is seen to find the
ids where they may be shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from socialcare.gateway.rpc_services import PACKAGE, ROUTE_RPCS
from tests.security.test_exposure import contract_methods
from tests.unit.fake_routing import FakeRouting, serve
from tests.unit.gateway.conftest import AGENT_STATES, SATISFACTION_ROWS
from tests.unit.gateway.rpc_world import RpcWorld, open_world
from tests.unit.test_access import ACME_IDS, CASES_BY_ID, GLOBEX_IDS

SEARCH_WORDS = {"q": "parcel"}
"""A search needs words: every seeded case and message says "parcel"."""
WRITES = {f"{PACKAGE}.{rpc.name}" for rpc in ROUTE_RPCS if rpc.http != "GET"}
"""Methods that run a REST route changing something."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpcWorld]:
    server, address = serve(
        FakeRouting(dict(CASES_BY_ID), agents=AGENT_STATES, satisfaction=SATISFACTION_ROWS)
    )
    try:
        yield from open_world(tmp_path_factory.mktemp("isolation"), address)
    finally:
        server.stop(grace=None).wait()


def requests_for(method: MethodDescriptor, other_case: str) -> list[Message]:
    """An empty request (but the search words), and one whose every string `*_id` field
    names `other_case`."""
    request_class = GetMessageClass(method.input_type)
    empty, naming = request_class(), request_class()
    for field in method.input_type.fields:
        if field.type != field.TYPE_STRING or field.is_repeated:
            continue
        if field.name in SEARCH_WORDS:
            setattr(empty, field.name, SEARCH_WORDS[field.name])
            setattr(naming, field.name, SEARCH_WORDS[field.name])
        elif field.name.endswith("_id"):
            setattr(naming, field.name, other_case)
    return [empty, naming]


def answers(world: RpcWorld, who: str, path: str, method: MethodDescriptor, case: str) -> str:
    """Every answer `who` gets from `path` (an error's details too), as JSON text."""
    response_class = GetMessageClass(method.output_type)
    kinds: dict[str, Any] = {
        "request_serializer": lambda message: message.SerializeToString(),
        "response_deserializer": response_class.FromString,
    }
    metadata = world.metadata(who)
    texts = []
    for request in requests_for(method, case):
        try:
            if method.server_streaming:
                stream = world.channel.unary_stream(f"/{path}", **kinds)
                for message in stream(request, timeout=2, metadata=metadata):
                    texts.append(json_format.MessageToJson(message))
            else:
                unary = world.channel.unary_unary(f"/{path}", **kinds)
                answer = unary(request, timeout=10, metadata=metadata)
                texts.append(json_format.MessageToJson(answer))
        except grpc.RpcError as exc:
            texts.append(f"{exc.code().name} {exc.details()}")
    return "\n".join(texts)


def served_queries(world: RpcWorld) -> dict[str, MethodDescriptor]:
    """The gateway's served methods but its writes (UNIMPLEMENTED: not served here)."""
    found = {}
    for path, method in contract_methods().items():
        if path in WRITES or method.client_streaming:
            continue
        probe = world.channel.unary_unary(
            f"/{path}", request_serializer=bytes, response_deserializer=bytes
        )
        try:
            probe(b"", timeout=10)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                continue
        found[path] = method
    return found


def test_no_grpc_query_shows_another_brands_case(world: RpcWorld) -> None:
    queries = served_queries(world)
    assert {
        "socialcare.v1.CaseViewService/ViewCase",
        "socialcare.v1.CaseViewService/QueryCases",
    } <= set(queries)
    [globex] = sorted(GLOBEX_IDS)
    leaked: dict[str, list[str]] = {}
    for path, method in queries.items():
        for who, theirs, other_case in (
            ("sanne", GLOBEX_IDS, globex),  # an agent of acme
            ("ops", GLOBEX_IDS, globex),  # operations of acme: the reports and the wall
            ("gerrit", ACME_IDS, sorted(ACME_IDS)[0]),  # an agent of globex
        ):
            text = answers(world, who, path, method, other_case)
            # The other brand's id echoed in a refusal ("case globex-1 not found") is the
            # caller's own words, not a leak: only what an answer carries counts.
            shown = text if not text.startswith(("NOT_FOUND", "PERMISSION_DENIED")) else ""
            found = sorted(case for case in theirs if f'"{case}"' in shown)
            if found:
                leaked.setdefault(path, []).append(f"{who} saw {found}")
    assert leaked == {}


def test_the_check_finds_the_ids_where_they_may_be_shown(world: RpcWorld) -> None:
    """The admin sees every brand: the same calls carry both brands' case ids."""
    queries = served_queries(world)
    seen = "\n".join(
        answers(world, "admin", path, method, sorted(GLOBEX_IDS)[0])
        for path, method in queries.items()
    )
    assert all(f'"{case}"' in seen for case in ACME_IDS | GLOBEX_IDS)
