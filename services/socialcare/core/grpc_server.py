"""A gRPC server as a runtime `Component`: the one lifecycle of every service's gRPC door.

`start` binds and serves in gRPC's own threads, `stop` asks in-flight calls to finish
within the grace period without blocking, `join` waits for them; `port` is the port bound
(port 0 in the address binds a free one, which tests read). A taken address fails `start`
with a RuntimeError naming the address and the setting that chooses it.

Every call is counted and timed (`RedInterceptor`: the RED metrics
`socialcare_grpc_server_handled_total{grpc_service,grpc_method,grpc_code}` and
`socialcare_grpc_server_handling_seconds{grpc_service,grpc_method}`), on every server built here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import grpc

from socialcare.core.metrics import GRPC_HANDLED, GRPC_HANDLING_SECONDS

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]

log = logging.getLogger(__name__)


def host_port(host: str, port: int) -> str:
    """`host:port` as gRPC takes it (a bare IPv6 host in brackets)."""
    bare_ipv6 = ":" in host and not host.startswith("[")
    return f"[{host}]:{port}" if bare_ipv6 else f"{host}:{port}"


class RedInterceptor(grpc.ServerInterceptor):
    """Counts every call by service, method and status code and times it (a streaming
    response: until its last message was sent or the stream failed). Labels come from the
    method's full name (`/socialcare.v1.CaseService/GetCase`), which only registered
    methods reach, so they stay bounded."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None  # gRPC answers UNIMPLEMENTED; an unknown name is not a label
        service, _, method = str(handler_call_details.method).lstrip("/").rpartition("/")
        service = service or "unknown"
        codec: dict[str, Any] = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary, service, method), **codec
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _unary(handler.stream_unary, service, method), **codec
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(handler.unary_stream, service, method), **codec
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _streaming(handler.stream_stream, service, method), **codec
            )
        return handler


def _code_of(context: grpc.ServicerContext, failed: bool) -> str:
    """The call's status code name: what the servicer set (`abort`, `set_code`), else OK,
    or UNKNOWN when an exception escaped without one."""
    code = getattr(context, "code", lambda: None)()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return "UNKNOWN" if failed else "OK"


def _record(service: str, method: str, code: str, started: float) -> None:
    GRPC_HANDLED.labels(service, method, code).inc()
    GRPC_HANDLING_SECONDS.labels(service, method).observe(time.perf_counter() - started)


def _unary(
    behavior: Callable[[Any, grpc.ServicerContext], Any], service: str, method: str
) -> Callable[[Any, grpc.ServicerContext], Any]:
    def counted(request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        failed = True
        try:
            response = behavior(request, context)
            failed = False
            return response
        finally:
            _record(service, method, _code_of(context, failed), started)

    return counted


def _streaming(
    behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]], service: str, method: str
) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
    def counted(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        started = time.perf_counter()
        failed = True
        try:
            yield from behavior(request, context)
            failed = False
        except GeneratorExit:
            failed = False  # the client went away (cancelled): its code says so
            raise
        finally:
            _record(service, method, _code_of(context, failed), started)

    return counted


QUEUED_CALLS_PER_WORKER = 1
"""Calls allowed to wait for a busy worker, per worker, before grpcio refuses new ones."""


class GrpcServer:
    """One gRPC service on `address` (`host:port`) as a runtime `Component`.

    `register` adds the servicer to the server (`add_<Service>Servicer_to_server`);
    `service` names it in logs and errors; `setting_hint` tells the operator what to do
    when the address is taken (the setting to change). Workers are threads: a streaming
    call holds one for its duration, so `workers` bounds concurrent calls. Beyond them at
    most as many calls again wait for a worker (`QUEUED_CALLS_PER_WORKER`); more are refused
    at once by grpcio with RESOURCE_EXHAUSTED, before any servicer code runs, so a flood
    of calls cannot grow the queue (and memory) without bound and a client learns to back
    off instead of waiting out its deadline. `interceptors` run after the RED interceptor
    (e.g. the audit log's), inside its timing.
    """

    def __init__(
        self,
        name: str,
        address: str,
        register: Callable[[grpc.Server], None],
        *,
        service: str,
        setting_hint: str,
        workers: int,
        grace_s: float,
        interceptors: Sequence[grpc.ServerInterceptor] = (),
    ) -> None:
        self.name = name
        self.port = 0
        self._address = address
        self._register = register
        self._service = service
        self._setting_hint = setting_hint
        self._workers = workers
        self._grace_s = grace_s
        # After RedInterceptor, which then also times them (e.g. the audit write).
        self._interceptors = tuple(interceptors)
        self._server: grpc.Server | None = None
        self._stopped: threading.Event | None = None

    def start(self) -> None:
        """Bind and serve in gRPC's own threads; RuntimeError if the address is taken."""
        server = grpc.server(
            ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=self.name),
            maximum_concurrent_rpcs=self._workers * (1 + QUEUED_CALLS_PER_WORKER),
            # gRPC sets SO_REUSEPORT by default on Linux: a second process would then share
            # the port silently and receive half the calls. Fail loudly instead.
            options=[("grpc.so_reuseport", 0)],
            interceptors=[RedInterceptor(), *self._interceptors],
        )
        self._register(server)
        try:
            bound = server.add_insecure_port(self._address)
        except RuntimeError:  # newer grpcio raises instead of returning 0
            bound = 0
        if bound == 0:
            server.stop(None)
            raise RuntimeError(
                f"cannot serve gRPC {self._service} on {self._address}: the address is in "
                f"use or not local; {self._setting_hint}"
            )
        self.port = bound
        server.start()
        self._server = server
        log.info("gRPC %s serving", self._service, extra={"address": self._address, "port": bound})

    def stop(self) -> None:
        """Stop accepting calls; in-flight calls get `grace_s` to finish. Does not block."""
        if self._server is not None and self._stopped is None:
            self._stopped = self._server.stop(self._grace_s)

    def join(self, timeout_s: float) -> None:
        """Wait until in-flight calls finished (or were cancelled after the grace period)."""
        if self._stopped is not None:
            self._stopped.wait(timeout_s)
