"""`gateway.rpc_bridge`: a REST route's own handler run for a gRPC call, with the route's
parameter constraints (the field names REST's 422 gives), its permission and its answer
as the JSON REST sends."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

import grpc
import pytest
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from socialcare.core.auth import Permission, Principal, require
from socialcare.core.auth.dependencies import CurrentPrincipal
from socialcare.core.errors import InvalidRequestError, NotFoundError
from socialcare.gateway.rpc_bridge import (
    Access,
    RouteBridge,
    RouteMissingError,
    peer_address,
)

Reader = Annotated[Principal, Depends(require(Permission.READ_CASES))]


class ThingCreate(BaseModel):
    name: str = Field(min_length=1, max_length=10)
    size: int = Field(default=1, ge=1)


def things_router() -> APIRouter:
    api = APIRouter(prefix="/v1")

    @api.get("/things")
    def list_things(
        principal: Reader,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        from_: Annotated[str | None, Query(alias="from", max_length=5)] = None,
    ) -> dict[str, Any]:
        return {"limit": limit, "from": from_, "caller": principal}

    @api.get("/things/{thing_id}")
    def get_thing(
        thing_id: Annotated[str, Path(min_length=1, max_length=3)], principal: CurrentPrincipal
    ) -> dict[str, Any]:
        if thing_id == "no":
            raise NotFoundError(f"thing {thing_id} not found")
        return {"id": thing_id}

    @api.post("/things", status_code=HTTPStatus.CREATED)
    def create_thing(
        body: ThingCreate,
        principal: Reader,
        idempotency_key: Annotated[str | None, Header(max_length=4)] = None,
    ) -> ThingCreate:
        return ThingCreate(name=body.name + (idempotency_key or ""), size=body.size)

    @api.post("/things/token")
    def token(request: Request, username: str) -> JSONResponse:
        client = request.client
        return JSONResponse({"user": username, "from": client.host if client else None})

    @api.delete("/things/{thing_id}", status_code=HTTPStatus.NO_CONTENT)
    def delete_thing(thing_id: str, principal: Reader) -> Response:
        return Response(status_code=HTTPStatus.NO_CONTENT)

    return api


@pytest.fixture
def bridge() -> RouteBridge:
    return RouteBridge([things_router()])


def test_the_routes_permission_is_read_from_the_route(bridge: RouteBridge) -> None:
    assert bridge.access("GET", "/v1/things") == Access(
        public=False, permission=Permission.READ_CASES
    )
    assert bridge.access("GET", "/v1/things/{thing_id}") == Access(public=False, permission=None)
    assert bridge.access("POST", "/v1/things/token") == Access(public=True, permission=None)
    with pytest.raises(RouteMissingError):
        bridge.access("GET", "/v1/nothing")


def test_defaults_and_the_principal_reach_the_handler(bridge: RouteBridge) -> None:
    caller: Any = "the principal"
    assert bridge.call("GET", "/v1/things", caller) == {
        "limit": 50,
        "from": None,
        "caller": "the principal",
    }
    assert bridge.call("GET", "/v1/things", caller, limit=7, from_="x")["limit"] == 7


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"limit": 500}, "limit"),
        ({"limit": 0}, "limit"),
        ({"from_": "too long"}, "from"),  # the parameter's name on the wire
    ],
)
def test_a_bad_argument_names_the_field_rest_names(
    bridge: RouteBridge, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        bridge.call("GET", "/v1/things", None, **arguments)
    assert caught.value.field == field


def test_a_body_is_validated_as_the_routes_model(bridge: RouteBridge) -> None:
    made = bridge.call(
        "POST", "/v1/things", None, body={"name": "lamp", "size": 2}, idempotency_key="k1"
    )
    assert made == {"name": "lampk1", "size": 2}
    with pytest.raises(InvalidRequestError) as caught:
        bridge.call("POST", "/v1/things", None, body={"name": "", "size": 0})
    assert {p.field for p in caught.value.details} == {"name", "size"}
    with pytest.raises(InvalidRequestError) as missing:
        bridge.call("POST", "/v1/things", None)
    assert missing.value.field == "body"
    with pytest.raises(InvalidRequestError) as header:
        bridge.call("POST", "/v1/things", None, body={"name": "x"}, idempotency_key="12345")
    assert header.value.field == "idempotency-key"


def test_the_handlers_errors_and_answers_come_through(bridge: RouteBridge) -> None:
    with pytest.raises(NotFoundError):
        bridge.call("GET", "/v1/things/{thing_id}", None, thing_id="no")
    with pytest.raises(InvalidRequestError) as caught:
        bridge.call("GET", "/v1/things/{thing_id}", None, thing_id="long")
    assert caught.value.field == "thing_id"
    answer = bridge.call("POST", "/v1/things/token", None, client=("10.0.0.7", 5), username="u")
    assert answer == {"user": "u", "from": "10.0.0.7"}
    assert bridge.call("DELETE", "/v1/things/{thing_id}", None, thing_id="a") is None
    with pytest.raises(TypeError):
        bridge.call("GET", "/v1/things", None, colour="red")
    with pytest.raises(RouteMissingError) as missing:
        bridge.call("GET", "/v1/elsewhere", None)
    assert missing.value.grpc_code == grpc.StatusCode.UNIMPLEMENTED


def test_peer_addresses() -> None:
    assert peer_address("ipv4:127.0.0.1:50123") == ("127.0.0.1", 50123)
    assert peer_address("ipv6:[::1]:443") == ("::1", 443)
    assert peer_address("unix:/tmp/socket") is None
