"""The REST routes' own handlers, run for gRPC calls: one implementation of every rule.

The gateway's gRPC services (`gateway.rpc_services`) answer each method by running the
REST route it names (`RouteBridge.call("GET", "/v1/cases", principal, status=...)`): the
route's handler, so the same brand scope, case rules, search and routing calls; the
route's declared parameter constraints (each argument validated against the handler's
own annotation, `Query(ge=1, le=200)`, a body model's fields), so the same 422 naming the
same field; and the route's permission (`required_permission`, read from its
`Depends(require(...))`), so a gRPC caller needs exactly what a REST caller needs.

What the handler answers (a pydantic model, a dict, a list of either, or a Response with a
JSON body) comes back as JSON-compatible data, exactly the JSON the REST route sends; the
servicers put it into their messages (`google.protobuf.Struct` for JSON documents).
Failures are the handler's own `SocialcareError`s; the servicers map them to gRPC codes
with `core.errors.abort_call`.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import grpc
from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.responses import Response

from socialcare.core.auth import Permission, Principal
from socialcare.core.errors import (
    FieldProblem,
    InvalidRequestError,
    SocialcareError,
    field_problems,
)

# The handler parameter every authenticated route names its caller by.
PRINCIPAL = "principal"


class RouteMissingError(SocialcareError):
    """The bridge was asked for a route this process does not serve (its router is not
    wired here): UNIMPLEMENTED, 501."""

    http_status = HTTPStatus.NOT_IMPLEMENTED
    grpc_code = grpc.StatusCode.UNIMPLEMENTED
    default_code = "not_served"


@dataclass(frozen=True)
class Access:
    """What a route asks of its caller: `public` (no credential), else a credential and,
    when set, `permission`."""

    public: bool
    permission: Permission | None


def required_access(route: APIRoute) -> Access:
    """The route's own rule: `Depends(require(Permission.X))` on its `principal`
    parameter (`require` names its dependency `require_<permission>`), any valid
    credential for `CurrentPrincipal`, none when the handler takes no principal."""
    for dependency in route.dependant.dependencies:
        if dependency.name != PRINCIPAL:
            continue
        name = getattr(dependency.call, "__name__", "")
        if name.startswith("require_"):
            return Access(public=False, permission=Permission(name.removeprefix("require_")))
        return Access(public=False, permission=None)
    return Access(public=True, permission=None)


class RouteBridge:
    """The routes of `routers` by (method, path), callable with a principal and arguments.

    Thread-safe: it only reads the routes and their type hints (computed once)."""

    def __init__(self, routers: Iterable[APIRouter]) -> None:
        self._routes: dict[tuple[str, str], APIRoute] = {}
        for router in routers:
            for route in router.routes:
                if isinstance(route, APIRoute):
                    for method in route.methods or ():
                        self._routes[(method, route.path)] = route
        self._hints: dict[tuple[str, str], dict[str, Any]] = {}

    def routes(self) -> list[tuple[str, str]]:
        """(method, path) of every route the bridge can run."""
        return sorted(self._routes)

    def route(self, method: str, path: str) -> APIRoute:
        route = self._routes.get((method, path))
        if route is None:
            raise RouteMissingError(f"no route {method} {path} to run")
        return route

    def access(self, method: str, path: str) -> Access:
        return required_access(self.route(method, path))

    def call(
        self,
        method: str,
        path: str,
        principal: Principal | None,
        *,
        client: tuple[str, int] | None = None,
        **arguments: Any,
    ) -> Any:
        """Run the route's handler: `arguments` by the handler's parameter names (a body
        parameter as a mapping), each validated against its annotation (InvalidRequestError
        naming the REST field, its alias where it has one, as a 422 would); a parameter not
        given takes the handler's default. Returns the JSON the route would send (None for
        an empty body)."""
        route = self.route(method, path)
        hints = self._hints_of(method, path, route)
        signature = inspect.signature(route.endpoint)
        values: dict[str, Any] = {}
        problems: list[FieldProblem] = []
        for name, parameter in signature.parameters.items():
            hint: Any = hints.get(name)
            if name == PRINCIPAL:
                values[name] = principal
            elif hint is Request:
                values[name] = _request(method, path, client)
            elif hint is Response:
                # The handler's own response, for headers it sets (`X-Socialcare-Degraded`);
                # a gRPC answer carries the body only, so they are not passed on.
                values[name] = Response()
            elif name in arguments:
                try:
                    values[name] = TypeAdapter(hint).validate_python(arguments[name])
                except ValidationError as exc:
                    problems.extend(_problems(exc, _field_name(route, name), hint))
            elif parameter.default is inspect.Parameter.empty:
                problems.append(
                    FieldProblem(
                        field=_field_name(route, name), code="missing", message="Field required"
                    )
                )
        unknown = set(arguments) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{method} {path} takes no {', '.join(sorted(unknown))}")
        if problems:
            raise InvalidRequestError.from_problems(problems)
        return _as_json(route.endpoint(**values))

    def validate(self, method: str, path: str, name: str, value: Any) -> Any:
        """One argument checked against the route's annotation for it, as `call` checks."""
        route = self.route(method, path)
        hint = self._hints_of(method, path, route)[name]
        try:
            return TypeAdapter(hint).validate_python(value)
        except ValidationError as exc:
            raise InvalidRequestError.from_problems(
                _problems(exc, _field_name(route, name), hint)
            ) from None

    def _hints_of(self, method: str, path: str, route: APIRoute) -> dict[str, Any]:
        hints = self._hints.get((method, path))
        if hints is None:
            hints = typing.get_type_hints(route.endpoint, include_extras=True)
            self._hints[(method, path)] = hints
        return hints


def _field_name(route: APIRoute, name: str) -> str:
    """The parameter's name on the wire (`from` for a handler's `from_`)."""
    for param in (
        *route.dependant.query_params,
        *route.dependant.path_params,
        *route.dependant.header_params,
    ):
        if param.name == name:
            return str(param.alias)
    return name


def _problems(exc: ValidationError, field: str, hint: Any) -> list[FieldProblem]:
    """The validator's errors as the REST route names them: a body model's fields by their
    own names (REST drops the `body` part), a scalar parameter by its name."""
    body_model = _is_model(hint)
    errors = []
    for error in exc.errors(include_url=False):
        loc = tuple(error.get("loc", ()))
        errors.append({**error, "loc": loc if body_model else (field, *loc)})
    return field_problems(errors)


def _is_model(hint: Any) -> bool:
    candidates = typing.get_args(hint) if typing.get_origin(hint) is not None else (hint,)
    for candidate in candidates:
        inner = typing.get_args(candidate) if typing.get_origin(candidate) is not None else ()
        for option in (candidate, *inner):
            if isinstance(option, type) and issubclass(option, BaseModel):
                return True
    return False


def _request(method: str, path: str, client: tuple[str, int] | None) -> Request:
    """A request without headers or cookies, from the gRPC peer's address (rate limits
    and logs key on it)."""
    return Request(
        {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": b"",
            "headers": [],
            "client": client,
        }
    )


def _as_json(result: Any) -> Any:
    if isinstance(result, Response):
        body = bytes(result.body)
        return json.loads(body) if body else None
    return jsonable_encoder(result)


def peer_address(peer: str) -> tuple[str, int] | None:
    """grpc's `context.peer()` (`ipv4:127.0.0.1:5001`, `ipv6:[::1]:5001`) as (host, port)."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    host, _, port = rest.rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return None
