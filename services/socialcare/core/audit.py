"""The audit log: who did what to which thing, when, from where, and how it ended.

Every action of an agent, an admin or an integrator's key becomes one `AuditRecord` on
`audit.log` (append-only, never compacted, keyed by the actor). The doors record them:

* HTTP: `AuditMiddleware` records every mutating request (POST, PUT, PATCH, DELETE) under
  `/v1/` and the console's form posts under `/console/`, the sign-ins (`/v1/auth/token`,
  `/v1/auth/login`, and the SSO callback, a GET) whether they succeed or fail, and
  sign-outs. Ingestion is not an action: messages sent in (`POST /v1/messages`, the channel
  webhooks under `/v1/channels/`) are the customers' words, carried by an integration, and
  are recorded on their own topics, so they are left out. So is a request no route serves
  (404 without a route, 405): nothing was done, and scanners would fill the log.
* gRPC: `AuditInterceptor` records every call of a method that changes something
  (AgentService.Act and SetPresence, and any method not named Get/List/Query/Search/View/
  Watch/Ingest...: a new mutating method is audited without being listed).

What a record holds: the principal (kind, id, name, roles; for a sign-in the username
tried), the action as a dotted name (`case.reply`, `user.create`, `api_key.revoke`,
`webhook.create`, `privacy.erase`, `auth.sign_in`), the target (type and id, from the route's
path parameters, or given by the handler with `note`), the brand where known, the client
address (`X-Forwarded-For` honoured only from `SOCIALCARE_TRUSTED_PROXIES`), the user
agent, the door (`rest`, `console`, `grpc`), the outcome (`ok` < 400, `refused` 4xx,
`failed` 5xx) with the status, the request and trace ids. Never a body, a password, a
token or a message's text: details are short non-personal words (the route, a role).

Durability (ADR 0012): an action's record is on the bus before the action's answer is
sent. The middleware publishes the record when the handler has produced its response
status and waits for the record's delivery (at most `SOCIALCARE_AUDIT_TIMEOUT_S`); only
then does the response go out. If the record cannot be written the client gets 503
`audit_unavailable` instead of the handler's answer. The action's own effect may then
already be on the bus (a command published by the handler): the client was told the
request failed, retries it (commands are idempotent by `Idempotency-Key`), and the retry
is audited. The audit record and the action's effect go to the same bus, so in practice
they fail together; what can never happen is an answered action without its record.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import anyio
import grpc
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct
from opentelemetry import trace
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from socialcare.core.auth.principal import Principal
from socialcare.core.bus import BusError, Producer
from socialcare.core.clock import to_timestamp, utc_now
from socialcare.core.domain.topics import Topic
from socialcare.core.errors import UnavailableError
from socialcare.core.events import publish
from socialcare.core.http_errors import error_response
from socialcare.v1 import audit_pb2

log = logging.getLogger(__name__)

VIA_REST = "rest"
VIA_CONSOLE = "console"
VIA_GRPC = "grpc"

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Ingestion: customers' messages carried in by integrations, not actions (module docstring).
NOT_ACTIONS = ("/v1/messages", "/v1/channels/")
SIGN_IN_PATHS = frozenset({"/v1/auth/token", "/v1/auth/login"})
SSO_CALLBACK = "/v1/auth/oidc/callback"
# A sign-in form is read for its username only; a bigger body is not a sign-in form.
_MAX_SIGN_IN_BODY = 64 * 1024
_STATE_KEY = "audit"


class AuditSettings(BaseSettings):
    """Settings of the audit log (prefix `SOCIALCARE_`)."""

    model_config = SettingsConfigDict(env_prefix="SOCIALCARE_", extra="ignore")

    trusted_proxies: str = Field(
        default="",
        description="SOCIALCARE_TRUSTED_PROXIES: the reverse proxies (load balancer, ingress) "
        "whose X-Forwarded-For header is believed, as comma-separated addresses or networks "
        "(`10.0.0.0/8,192.168.1.5`). The client address recorded in the audit log is then "
        "the last address in the header that is not a trusted proxy. Empty: the header is "
        "ignored and the peer's address recorded (any client could set it).",
    )
    audit_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="SOCIALCARE_AUDIT_TIMEOUT_S: how long an action waits for its audit "
        "record to be durable on audit.log before it answers 503 `audit_unavailable`.",
    )

    def proxies(self) -> TrustedProxies:
        return TrustedProxies.parse(self.trusted_proxies)


class AuditUnavailableError(UnavailableError):
    """The audit record of an action could not be written: the action answers 503."""

    default_code = "audit_unavailable"


# -- who, and from where -----------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who did it, as the record names them."""

    kind: str
    id: str
    name: str
    roles: tuple[str, ...] = ()

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.kind, principal.id, principal.name, tuple(sorted(principal.roles)))


ANONYMOUS = Actor("anonymous", "", "")
SYSTEM = Actor("system", "system", "socialcare")


@dataclass(frozen=True)
class TrustedProxies:
    """Which peers' `X-Forwarded-For` to believe (SOCIALCARE_TRUSTED_PROXIES)."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """`10.0.0.0/8, 192.168.1.5, ::1`; ValueError naming a bad entry."""
        networks = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(
                    f"SOCIALCARE_TRUSTED_PROXIES: {item!r} is not an address or network"
                ) from exc
        return cls(tuple(networks))

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_ip(self, peer: str, forwarded_for: Iterable[str] = ()) -> str:
        """The client's address: the peer's, unless the peer is a trusted proxy; then the
        right-most address of `X-Forwarded-For` (all its headers, in order) that is not a
        trusted proxy (each proxy appends the address it saw; the left part is whatever
        the client wrote). All trusted: the left-most."""
        if not self.trusts(peer):
            return peer
        hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
        hops = [hop for hop in hops if hop]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer


# -- the log -------------------------------------------------------------------------------


def outcome_of(status: int) -> str:
    """ "ok" below 400, "refused" for 4xx, "failed" for 5xx (and anything else)."""
    if status < 400:
        return "ok"
    if status < 500:
        return "refused"
    return "failed"


def audit_record(
    actor: Actor,
    action: str,
    *,
    target_type: str = "",
    target_id: str = "",
    brand: str = "",
    client_ip: str = "",
    user_agent: str = "",
    via: str = "",
    status: int = 200,
    request_id: str = "",
    trace_id: str = "",
    details: Mapping[str, str] | None = None,
) -> audit_pb2.AuditRecord:
    """One record (id and time are set by `AuditLog.append`)."""
    return audit_pb2.AuditRecord(
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        actor_roles=list(actor.roles),
        action=action,
        target_type=target_type,
        target_id=target_id,
        brand=brand,
        client_ip=client_ip,
        user_agent=user_agent[:512],
        via=via,
        outcome=outcome_of(status),
        status=status,
        request_id=request_id,
        trace_id=trace_id,
        details=dict(details or {}),
    )


class AuditLog:
    """Appends records to audit.log and waits until each is durable. Thread-safe (the
    producer is); `append` blocks for up to `timeout_s`."""

    def __init__(
        self,
        producer: Producer,
        *,
        source: str = "gateway",
        timeout_s: float = 5.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._producer = producer
        self._source = source
        self._timeout_s = timeout_s
        self._clock = clock

    def append(self, record: audit_pb2.AuditRecord) -> audit_pb2.AuditRecord:
        """Give `record` an id and a time (unless set), publish it and wait for it to be
        durable. Raises AuditUnavailableError when it could not be written in time."""
        if not record.record_id:
            record.record_id = uuid.uuid4().hex
        if not record.HasField("at"):
            record.at.CopyFrom(to_timestamp(self._clock()))
        key = record.actor_id or record.actor_name or "anonymous"
        try:
            publish(
                self._producer,
                Topic.AUDIT_LOG,
                record,
                key=key,
                event_id=record.record_id,
                source=self._source,
            ).wait(self._timeout_s)
        except BusError as exc:
            log.error(
                "audit record not written",
                extra={"action": record.action, "error": str(exc)},
            )
            raise AuditUnavailableError(
                "the audit log cannot be written now, so the action is not confirmed; "
                f"retry later ({exc})",
                code="audit_unavailable",
            ) from exc
        return record


# -- HTTP ----------------------------------------------------------------------------------


def note(
    request: Request,
    *,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    brand: str | None = None,
    actor_name: str | None = None,
    details: Mapping[str, str] | None = None,
) -> None:
    """Tell the audit middleware what the route cannot show: the id of a thing the handler
    created (`user.create` → the new user's id), the brand, a non-personal detail. Given
    values replace the middleware's guesses; call it anywhere in the handler."""
    noted: dict[str, Any] = request.scope.setdefault("state", {}).setdefault(_STATE_KEY, {})
    for name, value in (
        ("action", action),
        ("target_type", target_type),
        ("target_id", target_id),
        ("brand", brand),
        ("actor_name", actor_name),
    ):
        if value is not None:
            noted[name] = value
    if details:
        noted.setdefault("details", {}).update(details)


_ACTIONS: Mapping[tuple[str, str], str] = {
    ("POST", "/v1/auth/token"): "auth.sign_in",
    ("POST", "/v1/auth/login"): "auth.sign_in",
    ("GET", SSO_CALLBACK): "auth.sign_in_sso",
    ("POST", "/v1/auth/logout"): "auth.sign_out",
    ("POST", "/v1/users"): "user.create",
    ("PATCH", "/v1/users/{user_id}"): "user.update",
    ("POST", "/v1/api-keys"): "api_key.create",
    ("DELETE", "/v1/api-keys/{key_id}"): "api_key.revoke",
    ("POST", "/v1/privacy/erasures"): "privacy.erase",
    ("POST", "/console/language"): "user.set_language",
}
_VERBS: Mapping[str, str] = {
    "replies": "reply",
    "notes": "note",
    "consultations": "consult",
    "identities": "link_identity",
    "referrals": "refer",
    "escalations": "escalate",
    "priority": "set_priority",
    "presence": "set_presence",
    "replays": "replay",
}
_METHOD_VERBS: Mapping[str, str] = {
    "POST": "create",
    "PUT": "update",
    "PATCH": "update",
    "DELETE": "delete",
    "GET": "read",
}


def _singular(word: str) -> str:
    word = word.replace("-", "_")
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@dataclass(frozen=True)
class RouteAction:
    action: str
    target_type: str = ""
    target_param: str = ""


def route_action(method: str, template: str) -> RouteAction:
    """The action a request to route `template` (`/v1/cases/{case_id}/replies`) does, and
    where its target's id is: the last `<things>/{id}` pair of the path names the target
    (`case`, `case_id`); the literal after it is the verb (`replies` → `reply`), else the
    method's (`POST` → `create`). A few routes have names of their own (sign-in, users,
    API keys, erasure). `case.reply`, `escalation.acknowledge`, `webhook.create`."""
    segments = [s for s in template.strip("/").split("/") if s]
    if segments[:1] in (["v1"], ["console"]):
        segments = segments[1:]
    target_type, target_param, verb = "", "", ""
    resource = ""
    for index, segment in enumerate(segments):
        if segment.startswith("{"):
            continue
        following = segments[index + 1] if index + 1 < len(segments) else ""
        if following.startswith("{"):
            target_type, target_param = _singular(segment), following.strip("{}")
            resource, verb = target_type, ""
        elif not resource:
            resource = _singular(segment)
        else:
            verb = segment
    named = _ACTIONS.get((method, template))
    if named is None:
        action_verb = _VERBS.get(verb, verb.replace("-", "_")) or _METHOD_VERBS.get(
            method, method.lower()
        )
        named = f"{resource or 'platform'}.{action_verb}"
    return RouteAction(named, target_type, target_param)


def is_audited(method: str, path: str) -> bool:
    """Does a request of `method` to `path` do an action the audit log records?"""
    if method == "GET":
        return path == SSO_CALLBACK
    if method not in MUTATING_METHODS:
        return False
    if path.startswith(NOT_ACTIONS):
        return False
    return path.startswith(("/v1/", "/console/"))


def _header_values(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == name]


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def _trace_id(traceparent: str | None) -> str:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return format(context.trace_id, "032x")
    if traceparent:
        found = _TRACEPARENT.match(traceparent.strip())
        if found:
            return found.group(1)
    return ""


def _effective_status(path: str, start: AsgiMessage) -> int:
    """The response's status, except for a browser's sign-in that failed: the console's
    form is answered 303 back to the sign-in page with `?error=<code>`, recorded as 401."""
    status = int(start["status"])
    if 300 <= status < 400 and (path in SIGN_IN_PATHS or path == SSO_CALLBACK):
        for name, value in start.get("headers", ()):
            if name.lower() == b"location" and b"error=" in value:
                return 401
    return status


def _sign_in_username(body: bytes) -> str:
    """The `username` field of a sign-in form (never anything else of it)."""
    try:
        values = parse_qs(body.decode("utf-8", "replace"), max_num_fields=20).get("username")
    except ValueError:
        return ""
    return values[0].strip().lower()[:100] if values else ""


class AuditMiddleware:
    """Records every audited request (see `is_audited`) on the `AuditLog` before its
    response goes out; answers 503 `audit_unavailable` instead when it cannot.

    Pure ASGI: reads the route and path parameters FastAPI leaves in the scope, the
    principal the auth dependency leaves in `request.state`, and what the handler `note`d.
    The record is written on a worker thread (the bus's delivery wait blocks)."""

    def __init__(self, app: ASGIApp, *, audit: AuditLog, proxies: TrustedProxies) -> None:
        self.app = app
        self.audit = audit
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_audited(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        body = bytearray()
        sign_in = scope["path"] in SIGN_IN_PATHS

        async def receive_reading_username() -> AsgiMessage:
            message = await receive()
            if message["type"] == "http.request" and len(body) < _MAX_SIGN_IN_BODY:
                body.extend(message.get("body", b""))
            return message

        replaced = False

        async def send_after_audit(message: AsgiMessage) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and (
                scope.get("route") is None or message["status"] == 405
            ):
                pass  # no route serves it (404, 405): nothing was done, nothing to record
            elif message["type"] == "http.response.start":
                status = _effective_status(scope["path"], message)
                record = self._record(scope, state, status, bytes(body))
                try:
                    await anyio.to_thread.run_sync(self.audit.append, record)
                except AuditUnavailableError as exc:
                    replaced = True
                    await error_response(exc)(scope, receive, send)
                    return
            elif replaced:
                return  # the handler's body, after the 503 went out instead
            await send(message)

        await self.app(scope, receive_reading_username if sign_in else receive, send_after_audit)

    def _record(
        self, scope: Scope, state: Mapping[str, Any], status: int, body: bytes
    ) -> audit_pb2.AuditRecord:
        method, path = scope["method"], scope["path"]
        route = scope.get("route")
        template = getattr(route, "path", None) or path
        named = route_action(method, template)
        params: Mapping[str, Any] = scope.get("path_params") or {}
        noted: Mapping[str, Any] = state.get(_STATE_KEY) or {}
        principal = state.get("principal")
        actor = Actor.of(principal) if isinstance(principal, Principal) else ANONYMOUS
        if path in SIGN_IN_PATHS and body:
            actor = Actor("user", "", _sign_in_username(body))
        if noted.get("actor_name"):
            kind = "user" if actor is ANONYMOUS else actor.kind
            actor = Actor(kind, actor.id, str(noted["actor_name"]), actor.roles)
        brand = ""
        if isinstance(principal, Principal) and principal.brands and len(principal.brands) == 1:
            [brand] = principal.brands
        peer = scope.get("client")
        client = self.proxies.client_ip(
            peer[0] if peer else "", _header_values(scope, b"x-forwarded-for")
        )
        user_agent = next(iter(_header_values(scope, b"user-agent")), "")
        request_id = next(iter(_header_values(scope, b"x-request-id")), "")[:100]
        traceparent = next(iter(_header_values(scope, b"traceparent")), None)
        details = {"method": method, "route": template}
        details.update(noted.get("details") or {})
        action = str(noted.get("action") or named.action)
        target_id = str(noted.get("target_id") or params.get(named.target_param, "") or "")
        # A noted id without a type is of the action's thing ("user.create" -> a user).
        target_type = str(noted.get("target_type") or named.target_type)
        if target_id and not target_type:
            target_type = action.partition(".")[0]
        return audit_record(
            actor,
            action,
            target_type=target_type,
            target_id=target_id,
            brand=str(noted.get("brand") or brand),
            client_ip=client,
            user_agent=user_agent,
            # The console: its pages' form posts, and its calls of /v1 with the session cookie.
            via=VIA_CONSOLE if path.startswith("/console/") or "session_id" in state else VIA_REST,
            status=status,
            request_id=request_id,
            trace_id=_trace_id(traceparent),
            details=details,
        )


def install_audit(app: Any, audit: AuditLog, proxies: TrustedProxies) -> None:
    """Put `AuditMiddleware` on a FastAPI app (outside its error handling, so a 500 is
    recorded as failed). Call before the app serves. A second call on the same app (two
    services of one process both asking for it) does nothing: one record per action."""
    if getattr(app.state, "socialcare_audit", False):
        return
    app.state.socialcare_audit = True
    app.add_middleware(AuditMiddleware, audit=audit, proxies=proxies)


# -- gRPC ----------------------------------------------------------------------------------

# Methods that only read: not audited. Every other unary method is.
_READ_VERBS = ("Get", "List", "Query", "Search", "View", "Watch", "Ingest")
_GRPC_ACTIONS: Mapping[str, str] = {
    "AgentService/SetPresence": "agent.set_presence",
    "AuthService/IssueToken": "auth.sign_in",
}
_TARGET_FIELDS = ("case_id", "escalation_id", "user_id", "key_id", "subscription_id", "agent")
_TARGET_TYPES: Mapping[str, str] = {"key_id": "api_key", "subscription_id": "webhook"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def grpc_action(method: str, request: Message) -> tuple[str, str, str]:
    """(action, target type, target id) of a call to `method`
    (`/socialcare.v1.AgentService/Act`): Act is `case.<the ActRequest's action>`; others
    are `<object>.<verb>` from the method's name (`RevokeApiKey` → `api_key.revoke`), the
    target the request's first id field (case_id, escalation_id, user_id, key_id, ...)."""
    service, _, name = method.lstrip("/").rpartition("/")
    short = f"{service.rpartition('.')[2]}/{name}"
    target_type, target_id = "", ""
    for field in _TARGET_FIELDS:
        if field in request.DESCRIPTOR.fields_by_name:
            value = getattr(request, field)
            if isinstance(value, str) and value:
                target_type = _TARGET_TYPES.get(field, field.removesuffix("_id"))
                target_id = value
                break
    if short == "AgentService/Act":
        which = request.WhichOneof("action") or "unknown"
        return f"case.{which}", "case", target_id
    if short in _GRPC_ACTIONS:
        return _GRPC_ACTIONS[short], target_type, target_id
    words = _CAMEL.sub("_", name).lower().split("_")
    verb, thing = words[0], "_".join(words[1:]) or "platform"
    return f"{thing}.{verb}", target_type, target_id


def created_id(response: Message) -> str:
    """The `id` of the thing a creating call answers with: the response's first field that
    is a message (or a Struct, as the REST bridge answers) holding a string `id`."""
    for descriptor, value in response.ListFields():
        if descriptor.message_type is None or descriptor.is_repeated:
            continue
        if isinstance(value, Struct):
            found = value.fields.get("id")
            if found is not None and found.WhichOneof("kind") == "string_value":
                return str(found.string_value)
        elif "id" in value.DESCRIPTOR.fields_by_name:
            found_id = getattr(value, "id", "")
            if isinstance(found_id, str) and found_id:
                return found_id
    return ""


def grpc_audited(method: str) -> bool:
    name = method.rpartition("/")[2]
    return not name.startswith(_READ_VERBS)


def _code_of(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The status the servicer set (`abort`, `set_code`), if any (grpcio's context has
    `code()`; its type stubs do not say so)."""
    code = getattr(context, "code", None)
    value = code() if callable(code) else None
    return value if isinstance(value, grpc.StatusCode) else None


def _grpc_peer_ip(peer: str) -> str:
    """The address of `context.peer()` (`ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000`)."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return peer


class AuditInterceptor(grpc.ServerInterceptor):
    """Records every mutating unary call (see `grpc_audited`) before its answer goes out;
    a call whose record cannot be written ends UNAVAILABLE instead.

    `principal_of` resolves the call's caller from its metadata (the servicer's own check
    refuses bad credentials; here a failure just means an anonymous actor)."""

    def __init__(
        self,
        audit: AuditLog,
        proxies: TrustedProxies,
        principal_of: Callable[[grpc.ServicerContext], Principal],
    ) -> None:
        self.audit = audit
        self.proxies = proxies
        self.principal_of = principal_of

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = continuation(handler_call_details)
        method = str(handler_call_details.method)
        if handler is None or handler.unary_unary is None or not grpc_audited(method):
            return handler
        inner = handler.unary_unary

        def audited(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                response = inner(request, context)
            except Exception:
                code = _code_of(context) or grpc.StatusCode.UNKNOWN
                self._append(method, request, context, code, raise_on_failure=False)
                raise
            code = _code_of(context) or grpc.StatusCode.OK
            self._append(method, request, context, code, raise_on_failure=True, response=response)
            return response

        return grpc.unary_unary_rpc_method_handler(
            audited,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _append(
        self,
        method: str,
        request: Any,
        context: grpc.ServicerContext,
        code: grpc.StatusCode,
        *,
        raise_on_failure: bool,
        response: Any = None,
    ) -> None:
        action, target_type, target_id = grpc_action(method, request)
        if not target_id and isinstance(response, Message):
            # A creation: the new thing's id is in the answer (CreateUser -> user.id).
            target_id = created_id(response)
            target_type = target_type or (action.partition(".")[0] if target_id else "")
        metadata = {k.lower(): v for k, v in (context.invocation_metadata() or ())}
        try:
            actor = Actor.of(self.principal_of(context))
        except Exception:
            actor = ANONYMOUS
        username = getattr(request, "username", "")
        if isinstance(username, str) and username and actor is ANONYMOUS:
            actor = Actor("user", "", username.strip().lower()[:100])
        forwarded = metadata.get("x-forwarded-for")
        record = audit_record(
            actor,
            action,
            target_type=target_type,
            target_id=target_id,
            client_ip=self.proxies.client_ip(
                _grpc_peer_ip(context.peer()),
                [forwarded] if isinstance(forwarded, str) else [],
            ),
            user_agent=str(metadata.get("user-agent", "")),
            via=VIA_GRPC,
            status=_HTTP_OF_GRPC.get(code, 500),
            trace_id=_trace_id(None),
            details={"method": method.lstrip("/"), "code": code.name},
        )
        try:
            self.audit.append(record)
        except AuditUnavailableError as exc:
            if raise_on_failure:
                context.abort(grpc.StatusCode.UNAVAILABLE, exc.message)


# The HTTP status a gRPC code stands for (the error model's mapping, reversed), so a record
# has one `status` and `outcome` whatever the door.
_HTTP_OF_GRPC: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.CANCELLED: 499,
}
