"""A gRPC server as a runtime `Component`: the one lifecycle of every service's gRPC door.

`start` binds and serves in gRPC's own threads, `stop` asks in-flight calls to finish
within the grace period without blocking, `join` waits for them; `port` is the port bound
(port 0 in the address binds a free one, which tests read). A taken address fails `start`
with a RuntimeError naming the address and the setting that chooses it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc

log = logging.getLogger(__name__)


def host_port(host: str, port: int) -> str:
    """`host:port` as gRPC takes it (a bare IPv6 host in brackets)."""
    bare_ipv6 = ":" in host and not host.startswith("[")
    return f"[{host}]:{port}" if bare_ipv6 else f"{host}:{port}"


class GrpcServer:
    """One gRPC service on `address` (`host:port`) as a runtime `Component`.

    `register` adds the servicer to the server (`add_<Service>Servicer_to_server`);
    `service` names it in logs and errors; `setting_hint` tells the operator what to do
    when the address is taken (the setting to change). Workers are threads: a streaming
    call holds one for its duration, so `workers` bounds concurrent calls.
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
    ) -> None:
        self.name = name
        self.port = 0
        self._address = address
        self._register = register
        self._service = service
        self._setting_hint = setting_hint
        self._workers = workers
        self._grace_s = grace_s
        self._server: grpc.Server | None = None
        self._stopped: threading.Event | None = None

    def start(self) -> None:
        """Bind and serve in gRPC's own threads; RuntimeError if the address is taken."""
        server = grpc.server(
            ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=self.name),
            # gRPC sets SO_REUSEPORT by default on Linux: a second process would then share
            # the port silently and receive half the calls. Fail loudly instead.
            options=[("grpc.so_reuseport", 0)],
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
