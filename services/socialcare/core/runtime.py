"""Process wiring shared by every service: backends, threads, HTTP, signals, shutdown.

A service contributes `Component`s (consumer loops, gRPC servers) and optionally a
FastAPI router; `serve()` runs them in one process. `socialcare run all` hands it every
service's parts, `socialcare run routing` only routing's, so the same code runs as one
process (embedded default) or one Deployment per service.

Shutdown: SIGTERM/SIGINT only set flags. The HTTP server stops accepting, every consumer
loop finishes its record, flushes and commits, then the shared producer is flushed and
the backends closed.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import FrameType
from typing import TYPE_CHECKING, Protocol

import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from socialcare import __version__
from socialcare.console.docs import docs_router
from socialcare.core import telemetry
from socialcare.core.backends import open_bus, open_search
from socialcare.core.bus import Bus, Producer
from socialcare.core.config import PlatformSettings
from socialcare.core.consumer_loop import (
    ConsumerLoop,
    LoopState,
    RecordProcessor,
    TypedProcessor,
)
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.topics import topic_layouts
from socialcare.core.http_errors import error_responses, install_error_handling
from socialcare.core.http_metrics import HttpMetricsMiddleware
from socialcare.core.search import SearchIndex

if TYPE_CHECKING:
    from socialcare.core.auth.authenticator import Authenticator
    from socialcare.core.auth.wiring import AuthParts

log = logging.getLogger(__name__)


class Component(Protocol):
    name: str

    def start(self) -> None:
        """Start in the background; return quickly."""

    def stop(self) -> None:
        """Ask to stop; must not block (may be called from a signal handler's thread)."""

    def join(self, timeout_s: float) -> None:
        """Wait until stopped."""


@dataclass(frozen=True)
class LoopHealth:
    """One consumer loop as /healthz and /readyz report it.

    `live`: its thread runs and it is not stuck (it finished an iteration, or an attempt to
    prepare or join, within the stall timeout; a loop rebuilding partition state may take
    longer). A process with a loop that is not live should be restarted.
    `ready`: live, running (not starting, rebuilding or retrying), its last attempt reached
    every backend, and its lag is known and at most the ready threshold. A process with a
    loop that is not ready should get no traffic yet.
    """

    state: str
    thread_alive: bool
    seconds_since_progress: float
    lag: int | None
    last_error: str | None
    live: bool
    ready: bool
    problem: str | None  # why it is not live, or not ready; None when both

    def as_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "live": self.live,
            "ready": self.ready,
            "problem": self.problem,
            "lag": self.lag,
            "last_error": self.last_error,
            "seconds_since_progress": round(self.seconds_since_progress, 3),
            "thread_alive": self.thread_alive,
        }


class LoopComponent:
    """A ConsumerLoop on its own thread, with the thresholds its health is judged by."""

    def __init__(
        self,
        loop: ConsumerLoop,
        *,
        stall_timeout_s: float = 60.0,
        ready_max_lag: int = 10_000,
    ) -> None:
        self.name = loop.group
        self.loop = loop
        self.stall_timeout_s = stall_timeout_s
        self.ready_max_lag = ready_max_lag
        self._thread = threading.Thread(target=self._run, name=loop.group, daemon=True)

    def _run(self) -> None:
        try:
            self.loop.run()
        except Exception:
            log.exception("consumer loop crashed", extra={"group": self.name})

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.loop.stop()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def health(self) -> LoopHealth:
        """The loop's liveness and readiness now (see LoopHealth). Safe from any thread: it
        only reads attributes the loop sets."""
        loop = self.loop
        state, lag, error = loop.state, loop.lag, loop.last_error
        idle = max(0.0, time.monotonic() - loop.last_iteration)
        thread_alive = self.alive
        problem: str | None = None
        if not thread_alive:
            problem = "the loop's thread is not running"
        elif state is not LoopState.REBUILDING and idle > self.stall_timeout_s:
            problem = f"no progress for {idle:.0f} s (stall timeout {self.stall_timeout_s:g} s)"
        live = problem is None
        if live:
            if state is not LoopState.RUNNING:
                problem = f"the loop is {state.value}"
            elif error is not None:
                problem = f"the last attempt failed: {error}"
            elif lag is None:
                problem = "lag not measured yet"
            elif lag > self.ready_max_lag:
                problem = f"catching up: lag {lag} > {self.ready_max_lag}"
        return LoopHealth(
            state=state.value,
            thread_alive=thread_alive,
            seconds_since_progress=idle,
            lag=lag,
            last_error=error,
            live=live,
            ready=problem is None,
            problem=problem,
        )


@dataclass
class Runtime:
    """What a process shares between its services: settings, backends, one producer."""

    settings: PlatformSettings
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _auth: AuthParts | None = None

    @cached_property
    def care(self) -> CareConfig:
        return load_care_config(self.settings.care_config)

    @cached_property
    def bus(self) -> Bus:
        bus = open_bus(self.settings)
        for (partitions, compacted), topics in topic_layouts(
            self.settings.topic_partitions
        ).items():
            bus.create_topics(topics, partitions, compacted=compacted)
        self._closers.append(bus.close)
        return bus

    @cached_property
    def producer(self) -> Producer:
        producer = self.bus.producer("socialcare")
        self._closers.insert(0, producer.close)
        return producer

    @cached_property
    def search(self) -> SearchIndex:
        search = open_search(self.settings)
        self._closers.append(search.close)
        return search

    def consumer_loop(
        self,
        group: str,
        processor: RecordProcessor,
        topics: Sequence[str] | None = None,
        *,
        batch_size: int = 500,
    ) -> LoopComponent:
        """A consumer loop for `processor` (subscribed to `topics`, by default the topics a
        TypedProcessor handles) with its own producer, which the loop flushes before it
        commits, so the effects it publishes are durable first."""
        if topics is None:
            if not isinstance(processor, TypedProcessor):
                raise TypeError(f"{group}: name the topics of a {type(processor).__name__}")
            topics = processor.topics
        producer = self.bus.producer(group)
        self._closers.insert(0, producer.close)
        loop = ConsumerLoop(
            self.bus,
            group=group,
            topics=topics,
            processor=processor,
            producer=producer,
            batch_size=batch_size,
        )
        return LoopComponent(
            loop,
            stall_timeout_s=self.settings.loop_stall_timeout_s,
            ready_max_lag=self.settings.ready_max_lag,
        )

    def auth(self, *, bootstrap: bool = True) -> AuthParts:
        """This process's identity and access (ADR 0007), opened on first use: the account
        directory replayed from `auth.accounts`, its follower (`auth().components`, run once
        per process) and the authenticator every credential check goes through. Only a
        process that serves sign-in (the gateway) should `bootstrap` (create the signing
        key and user `admin` on a first start)."""
        if self._auth is None:
            from socialcare.core.auth.wiring import open_auth

            self._auth = open_auth(self, bootstrap=bootstrap)
        return self._auth

    def on_close(self, close: Callable[[], None]) -> None:
        """Run `close` when the runtime closes: after every component has stopped, before
        the backends close (the newest first)."""
        self._closers.insert(0, close)

    def close(self) -> None:
        for close in self._closers:
            try:
                close()
            except Exception:
                log.exception("error while closing a backend")
        self._closers.clear()


def platform_router(
    components: Sequence[Component], *, metrics_require_auth: bool = False
) -> APIRouter:
    """/healthz, /readyz and /metrics, which every process serves.

    All three are public (probes and scrapers carry no credential), except /metrics with
    `metrics_require_auth` (SOCIALCARE_METRICS_REQUIRE_AUTH): then it needs a credential with
    `read_operations` (401/403 otherwise; ADR 0007).

        /healthz is liveness (restart me when 503): every consumer loop's thread runs and is not
        stuck. /readyz is readiness (send me traffic when 200): every loop is running, reached
        its backends on its last attempt, and is caught up to within the lag threshold. Both
        answer JSON with each loop's state, lag, last error and why it fails the check.
    """
    router = APIRouter()
    loops = [c for c in components if isinstance(c, LoopComponent)]

    def report(
        response: Response, check: Callable[[LoopHealth], bool], good: str, bad: str
    ) -> dict[str, object]:
        health = {c.name: c.health() for c in loops}
        passed = all(check(h) for h in health.values())
        response.status_code = 200 if passed else 503
        return {
            "status": good if passed else bad,
            "version": __version__,
            "loops": {name: h.as_json() for name, h in health.items()},
        }

    @router.get("/healthz", tags=["operations"])
    def healthz(response: Response) -> dict[str, object]:
        return report(response, lambda h: h.live, "ok", "failing")

    @router.get("/readyz", tags=["operations"])
    def readyz(response: Response) -> dict[str, object]:
        return report(response, lambda h: h.ready, "ready", "not ready")

    if metrics_require_auth:
        from fastapi import Depends

        from socialcare.core.auth import Permission, require

        dependencies = [Depends(require(Permission.READ_OPERATIONS))]
        errors = error_responses(401, 403)
    else:
        dependencies, errors = [], {}

    # The OpenAPI document says what a scraper gets: Prometheus's text format, not JSON.
    @router.get(
        "/metrics",
        tags=["operations"],
        dependencies=dependencies,
        responses=errors,
        response_class=PlainTextResponse,
    )
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def build_app(
    title: str,
    routers: Sequence[APIRouter],
    components: Sequence[Component],
    authenticator: Authenticator | None = None,
    *,
    tracing: bool = False,
) -> FastAPI:
    """The process's HTTP app: platform routes, the services' routers, and the one error
    model (`core.http_errors`) for every route, so no service renders its own errors.
    `authenticator` checks the credentials the routes require (ADR 0007); an app without
    one answers every protected route 500, never lets it through. /metrics needs a
    credential when the authenticator's settings say so (SOCIALCARE_METRICS_REQUIRE_AUTH)."""
    # The API docs come from the platform itself, never from a CDN (console/docs.py).
    # FastAPI's own telemetry: request spans only when traces are exported (`tracing`: a
    # webhook's trace then starts there); spans per operation, and metrics and logs we do not
    # read (Prometheus is ours), never. Unexported, they cost ~25 % of a signed webhook's CPU
    # (bench/webhooks.py --gil).
    app = FastAPI(
        title=title,
        version=__version__,
        docs_url=None,
        redoc_url=None,
        telemetry={
            "tracing": tracing or telemetry.recording(),
            "operation_spans": False,
            "metrics": False,
            "logs": False,
        },
    )
    # RED metrics of every route (rate, errors, duration), labelled by route template.
    app.add_middleware(HttpMetricsMiddleware)
    install_error_handling(app)
    if authenticator is not None:
        from socialcare.core.auth import install_auth

        install_auth(app, authenticator)
    metrics_require_auth = authenticator is not None and authenticator.settings.metrics_require_auth
    app.include_router(platform_router(components, metrics_require_auth=metrics_require_auth))
    app.include_router(docs_router(title))
    for router in routers:
        app.include_router(router)
    return app


def serve(
    runtime: Runtime,
    components: Sequence[Component],
    app: FastAPI,
    *,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run components and the HTTP server until SIGTERM/SIGINT; then shut down in order."""
    settings = runtime.settings
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = _QuietServer(config)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stopping.set()
        server.should_exit = True
        for component in components:
            component.stop()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for component in components:
            component.start()
        if on_ready is not None:
            threading.Thread(target=_when_up, args=(server, on_ready), daemon=True).start()
        server.run()
    finally:
        stopping.set()
        for component in components:
            component.stop()
        for component in components:
            component.join(30.0)
        runtime.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("stopped")


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: `serve` owns SIGTERM/SIGINT for the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _when_up(server: uvicorn.Server, callback: Callable[[], None]) -> None:
    while not server.started and not server.should_exit:
        threading.Event().wait(0.05)
    if server.started:
        callback()


@dataclass
class ServiceParts:
    """What one service adds to a process: background components and HTTP routes."""

    components: list[Component] = field(default_factory=list)
    routers: list[APIRouter] = field(default_factory=list)
    installers: list[Callable[[FastAPI], None]] = field(default_factory=list)
    """Called with the process's app after `build_app` (e.g. the audit middleware)."""
