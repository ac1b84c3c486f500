"""gRPC door of the gateway: `socialcare.v1.AgentService`, the agent actions of the REST
API for integrators and tools, and beside it on the same server the rest of the REST API
(`gateway.rpc_services`: CaseViewService with WatchCases, EscalationService,
ReportingService, AccountService, AuthService, WebhookService, AuditService,
ErasureService); `gateway_grpc_server` assembles them. A method whose REST route this
gateway does not serve answers UNIMPLEMENTED.

* `Act`: one action on one case (the ActRequest's oneof), through the very code path the
  REST routes take (`gateway.actions.Actions`): the same access rules, the same case
  rules, the same command ids (the request's `idempotency_key` plays the
  `Idempotency-Key` header's part). The answer is the command's id once it is durably on
  care.commands; routing answers on care.cases.
* `SetPresence`: online, away or offline for an agent, as `PUT /v1/agents/{id}/presence`.
  The answer is the requested status (presence and since when); load and idle time are
  the assigner's, read with GET /v1/agents.
* `ListAgents`, `ListSpecialists`: `GET /v1/agents` and `GET /v1/specialists`, run by
  `gateway.rpc_bridge` (the routes' own handlers; `read_cases`).

Act and SetPresence need `authorization: Bearer <access token or API key>` metadata with the `act`
permission (`core.auth.grpc_auth`). Failures are the platform's one error model mapped to
gRPC codes (`core.errors.abort_call`): INVALID_ARGUMENT carries `field: reason` as REST's
422 does, NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION for REST's 409 (a resolved or
closed case), UNAVAILABLE when routing or the bus is down.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
from fastapi import APIRouter

from socialcare.console.board import CaseBoard
from socialcare.core.auth import Permission
from socialcare.core.auth.authenticator import Authenticator
from socialcare.core.auth.grpc_auth import grpc_principal
from socialcare.core.auth.principal import Principal
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.errors import InvalidRequestError, UnavailableError, abort_call
from socialcare.core.grpc_server import GrpcServer
from socialcare.gateway.actions import PRESENCE_NAMES, Actions
from socialcare.gateway.cases import CaseClient
from socialcare.gateway.models import CommandAccepted
from socialcare.gateway.rpc_bridge import RouteBridge
from socialcare.gateway.rpc_services import RPCS_BY_NAME, RouteDoor, route_handlers, run_route_rpc
from socialcare.gateway.rpc_watch import KEEPALIVE_S, MAX_WATCHES, CaseWatcher
from socialcare.v1 import services_pb2, services_pb2_grpc


class AgentServicer(services_pb2_grpc.AgentServiceServicer):
    """Adapts AgentService calls to the shared `Actions`; safe from many worker threads."""

    def __init__(
        self, actions: Actions, authenticator: Authenticator, door: RouteDoor | None = None
    ) -> None:
        self._actions = actions
        self._authenticator = authenticator
        self._door = door

    def ListAgents(  # noqa: N802
        self, request: services_pb2.ListAgentsRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListAgentsResponse:
        found: services_pb2.ListAgentsResponse = self._run("ListAgents", request, context)
        return found

    def ListSpecialists(  # noqa: N802
        self, request: services_pb2.ListSpecialistsRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListSpecialistsResponse:
        found: services_pb2.ListSpecialistsResponse = self._run("ListSpecialists", request, context)
        return found

    def _run(self, method: str, request: object, context: grpc.ServicerContext) -> Any:
        """The method's REST route (`rpc_services.ROUTE_RPCS`)."""
        name = f"AgentService/{method}"
        try:
            door = self._routes()
        except Exception as exc:
            abort_call(context, exc, method=name.replace("/", "."))
        return run_route_rpc(door, RPCS_BY_NAME[name], request, context)

    def _routes(self) -> RouteDoor:
        if self._door is None:
            raise UnavailableError(
                "this AgentService serves actions only (no REST routes to run)",
                code="not_served",
            )
        return self._door

    def Act(  # noqa: N802 (the proto names the method)
        self, request: services_pb2.ActRequest, context: grpc.ServicerContext
    ) -> services_pb2.ActResponse:
        try:
            principal = grpc_principal(self._authenticator, context, Permission.ACT)
            accepted = self._act(principal, request)
            return services_pb2.ActResponse(
                command_id=accepted.command_id, case_id=accepted.case_id
            )
        except Exception as exc:
            abort_call(context, exc, method="AgentService.Act")

    def SetPresence(  # noqa: N802
        self, request: services_pb2.SetPresenceRequest, context: grpc.ServicerContext
    ) -> services_pb2.AgentStatus:
        try:
            principal = grpc_principal(self._authenticator, context, Permission.ACT)
            name = PRESENCE_NAMES.get(request.presence)
            if name is None:
                raise InvalidRequestError(
                    "presence: set PRESENCE_ONLINE, PRESENCE_AWAY or PRESENCE_OFFLINE",
                    field="presence",
                )
            done = self._actions.set_presence(principal, request.agent, name)
            return services_pb2.AgentStatus(
                agent=done.agent,
                presence=request.presence,
                presence_since=to_timestamp(done.requested_at),
            )
        except Exception as exc:
            abort_call(context, exc, method="AgentService.SetPresence")

    def _act(self, principal: Principal, request: services_pb2.ActRequest) -> CommandAccepted:
        """The REST route's action for the request's oneof (field names as the REST bodies
        have them, so the errors name the same fields)."""
        acts = self._actions
        case_id = request.case_id.strip()
        if not case_id:
            raise InvalidRequestError("case_id: must not be blank", field="case_id")
        key = request.idempotency_key or None
        action = request.WhichOneof("action")
        if action == "reply":
            reply = request.reply
            return acts.reply(
                principal,
                case_id,
                agent=reply.agent,
                text=reply.text or None,
                template=reply.template if reply.HasField("template") else None,
                answers=list(reply.answers),
                idempotency_key=key,
            )
        if action == "transfer":
            transfer = request.transfer
            return acts.transfer(
                principal,
                case_id,
                agent=transfer.agent,
                reason=transfer.reason,
                by=transfer.by or None,
                idempotency_key=key,
            )
        if action == "assign":
            assign = request.assign
            return acts.assign(
                principal,
                case_id,
                agent=assign.agent,
                reason=assign.reason,
                by=assign.by or None,
                idempotency_key=key,
            )
        if action == "claim":
            return acts.claim(principal, case_id, agent=request.claim.agent, idempotency_key=key)
        if action == "consult":
            consult = request.consult
            return acts.consult(
                principal,
                case_id,
                agent=consult.agent,
                specialist=consult.specialist,
                question=consult.question,
                product=consult.product or None,
                idempotency_key=key,
            )
        if action == "answer_consultation":
            answer = request.answer_consultation
            return acts.answer_consultation(
                principal,
                case_id,
                specialist=answer.specialist,
                consultation_id=answer.consultation_id,
                answer=answer.answer,
                idempotency_key=key,
            )
        if action == "note":
            note = request.note
            return acts.note(
                principal,
                case_id,
                agent=note.agent,
                text=note.text,
                consult=note.consult or None,
                idempotency_key=key,
            )
        if action == "await_customer":
            waiting = request.await_customer
            return acts.await_customer(
                principal, case_id, agent=waiting.agent, note=waiting.note, idempotency_key=key
            )
        if action == "resolve":
            resolve = request.resolve
            return acts.resolve(
                principal, case_id, agent=resolve.agent, note=resolve.note, idempotency_key=key
            )
        if action == "reopen":
            reopen = request.reopen
            return acts.reopen(
                principal, case_id, agent=reopen.agent, reason=reopen.reason, idempotency_key=key
            )
        if action == "merge":
            merge = request.merge
            return acts.merge(
                principal,
                case_id,
                agent=merge.agent,
                into_case_id=merge.into_case_id,
                reason=merge.reason,
                idempotency_key=key,
            )
        if action == "link_identity":
            link = request.link_identity
            return acts.link_identity(
                principal,
                case_id,
                agent=link.agent,
                kind=link.kind,
                value=link.value,
                idempotency_key=key,
            )
        if action == "refer":
            refer = request.refer
            return acts.refer(
                principal,
                case_id,
                agent=refer.agent,
                to=refer.to,
                note=refer.note,
                idempotency_key=key,
            )
        if action == "set_priority":
            priority = request.set_priority
            return acts.set_priority(
                principal,
                case_id,
                agent=priority.agent,
                level=priority.level or None,
                reason=priority.reason,
                idempotency_key=key,
            )
        raise InvalidRequestError("action: the request names no action", field="action")


class AgentGrpcServer(GrpcServer):
    """The gateway's gRPC server as a runtime `Component`: AgentService, and every service
    `services` registers (`gateway_grpc_server`).

    `address` is `host:port`; port 0 binds a free port (tests read `.port`). `main.parts`
    does not create the component when SOCIALCARE_GATEWAY_GRPC_ADDRESS is empty. `stop`
    first ends the WatchCases streams of `watcher` (they would otherwise hold the grace
    period), then stops the server.
    """

    def __init__(
        self,
        servicer: AgentServicer,
        address: str,
        *,
        workers: int = 8,
        grace_s: float = 5.0,
        services: Sequence[Callable[[grpc.Server], None]] = (),
        watcher: CaseWatcher | None = None,
        interceptors: Sequence[grpc.ServerInterceptor] = (),
    ) -> None:
        def register(server: grpc.Server) -> None:
            services_pb2_grpc.add_AgentServiceServicer_to_server(servicer, server)
            for add in services:
                add(server)

        super().__init__(
            "gateway-grpc",
            address,
            register,
            service="AgentService",
            setting_hint="set SOCIALCARE_GATEWAY_GRPC_ADDRESS to a free address, or empty to "
            "disable",
            workers=workers,
            grace_s=grace_s,
            interceptors=interceptors,
        )
        self.watcher = watcher

    def start(self) -> None:
        if self.watcher is not None:
            self.watcher.start()
        super().start()

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
        super().stop()


def gateway_grpc_server(
    *,
    address: str,
    actions: Actions,
    authenticator: Authenticator,
    routers: Sequence[APIRouter],
    care: CareConfig,
    cases: CaseClient,
    board: CaseBoard | None = None,
    workers: int = 8,
    grace_s: float = 5.0,
    watch_keepalive_s: float = KEEPALIVE_S,
    max_watches: int = MAX_WATCHES,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
) -> AgentGrpcServer:
    """The gateway's gRPC server with every service: AgentService over `actions`, the
    others running the REST `routers`' handlers, WatchCases over the console's `board`
    (without one WatchCases is UNIMPLEMENTED). Each stream holds a worker thread:
    `max_watches` must leave workers for the other calls. `interceptors` (the audit log's)
    see every call: the REST handlers run in-process, past the HTTP middleware."""
    if board is not None and max_watches >= workers:
        raise ValueError(
            f"max_watches ({max_watches}) must be below workers ({workers}): each "
            "WatchCases stream holds a worker"
        )
    door = RouteDoor(RouteBridge(routers), authenticator)
    watcher = (
        CaseWatcher(
            board, care, authenticator, keepalive_s=watch_keepalive_s, max_watches=max_watches
        )
        if board is not None
        else None
    )
    handlers = route_handlers(door, care=care, cases=cases, watcher=watcher)
    return AgentGrpcServer(
        AgentServicer(actions, authenticator, door),
        address,
        workers=workers,
        grace_s=grace_s,
        watcher=watcher,
        interceptors=interceptors,
        services=[lambda server: server.add_generic_rpc_handlers(tuple(handlers))],
    )
