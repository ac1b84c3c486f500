"""The fault suite's cluster on real servers, and the faults it can suffer.

* `DedicatedInfra`: a Kafka broker (KRaft) and an Elasticsearch node of the suite's own,
  started by `deploy/local/localinfra.py` (the code behind `make infra-up`) with their own
  run directory and ports. Why not the session's servers (tests/conftest.py): the suite
  kills them, which must not disturb other tests, and its topics must start empty so the
  counts are exact. localinfra is configured by environment variables only, so it runs as
  a subprocess with the suite's values: nothing in this process's environment changes.
  `kill_*` sends SIGKILL and keeps the data; `resume_*` starts the server again on it, on
  the same ports (`localinfra kill | resume`).
* `Services`: every service of `socialcare.cli.SERVICES` in its own process
  (`tests.e2e.platform.as_service` copies of one base platform: the same settings, each its
  own data dir and ports), as production runs them. `restart` kills one with SIGKILL (no
  shutdown, nothing drained or committed) and starts it again on the same data dir and
  ports, then waits for its /readyz.
* `Phases`: how long each step took, printed at the end (figures, never asserted).

Ports of the dedicated servers come from below the kernel's ephemeral range: while the
broker is down, hundreds of client reconnects take ephemeral ports, and one of them could
otherwise take the broker's own port before it binds again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from socialcare.cli import SERVICES
from tests.e2e.platform import Platform, as_service

REPO = Path(__file__).resolve().parents[2]
LOCALINFRA = REPO / "deploy" / "local" / "localinfra.py"
HOST = "127.0.0.1"
INFRA_TIMEOUT_S = 240.0
"""How long one localinfra command may take (a first run fetches the jars with Maven)."""
STOP_TIMEOUT_S = 30.0
QUIET_PORTS = (20_000, 32_000)
"""Where the dedicated servers' ports are picked: below the ephemeral range (32768-)."""


@dataclass
class Phases:
    """Seconds per named step, in the order they ran; `text()` for the report."""

    seconds: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds.append((name, time.monotonic() - started))

    def add(self, name: str, seconds: float) -> None:
        self.seconds.append((name, seconds))

    def text(self) -> str:
        width = max((len(name) for name, _ in self.seconds), default=0)
        lines = [f"  {name.ljust(width)}  {s:6.1f} s" for name, s in self.seconds]
        return "phases:\n" + "\n".join(lines)


def quiet_port(taken: set[int]) -> int:
    """A free port below the ephemeral range, not in `taken` (which it joins)."""
    low, high = QUIET_PORTS
    start = low + os.getpid() * 7 % (high - low)
    for offset in range(high - low):
        port = low + (start - low + offset * 13) % (high - low)
        if port in taken:
            continue
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise AssertionError(f"no free port in {low}-{high}")


class DedicatedInfra:
    """A Kafka broker and an Elasticsearch node of the suite's own (see the module docs).

    Every method blocks until localinfra is done: `up` and `resume_*` until the server is
    ready, `kill_*` until its process is gone. A failing command raises AssertionError with
    localinfra's output and the server's log tail."""

    def __init__(self, run_dir: Path) -> None:
        taken: set[int] = set()
        self.run_dir = run_dir
        self.kafka_port = quiet_port(taken)
        self.es_port = quiet_port(taken)
        self._env = {
            **os.environ,
            "SOCIALCARE_INFRA_RUN": str(run_dir),
            "SOCIALCARE_KAFKA_PORT": str(self.kafka_port),
            "SOCIALCARE_KAFKA_CONTROLLER_PORT": str(quiet_port(taken)),
            "SOCIALCARE_ES_PORT": str(self.es_port),
            "SOCIALCARE_ES_TRANSPORT_PORT": str(quiet_port(taken)),
        }

    @property
    def kafka_bootstrap(self) -> str:
        return f"{HOST}:{self.kafka_port}"

    @property
    def elasticsearch_url(self) -> str:
        return f"http://{HOST}:{self.es_port}"

    def up(self, servers: tuple[str, ...] = ("kafka", "elasticsearch")) -> float:
        """Start both (or only those of `servers`: a suite that needs no Elasticsearch
        spares the machine a JVM), fresh and empty, side by side (localinfra locks each
        server on its own); seconds until all are ready."""
        started = time.monotonic()
        with ThreadPoolExecutor(len(servers)) as pool:
            running = [pool.submit(self._localinfra, "up", f"--{s}") for s in servers]
            for server in running:
                server.result()
        return time.monotonic() - started

    def kill_broker(self) -> float:
        return self._localinfra("kill", "--kafka")

    def resume_broker(self) -> float:
        return self._localinfra("resume", "--kafka")

    def kill_elasticsearch(self) -> float:
        return self._localinfra("kill", "--elasticsearch")

    def resume_elasticsearch(self) -> float:
        return self._localinfra("resume", "--elasticsearch")

    def down(self) -> float:
        """Stop both and wipe their data (also after a kill: nothing is left running)."""
        return self._localinfra("down")

    def log_tail(self, server: str, lines: int = 30) -> str:
        log = self.run_dir / f"{server}.log"
        if not log.exists():
            return f"({log} does not exist)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def _localinfra(self, *args: str) -> float:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(LOCALINFRA), *args],
            env=self._env,
            capture_output=True,
            text=True,
            timeout=INFRA_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"localinfra {' '.join(args)} failed ({done.returncode}):\n{done.stderr}\n"
                f"kafka.log:\n{self.log_tail('kafka')}\n"
                f"elasticsearch.log:\n{self.log_tail('elasticsearch')}"
            )
        return time.monotonic() - started


@contextmanager
def dedicated_infra(run_dir: Path, phases: Phases) -> Iterator[DedicatedInfra]:
    """Both servers up for the body, and down (data wiped) afterwards, however it ends."""
    infra = DedicatedInfra(run_dir)
    try:
        phases.add("infra up (kafka + elasticsearch)", infra.up())
        yield infra
    finally:
        infra.down()


class Services:
    """Every service in its own process; see the module docstring.

    `base` is the platform whose settings they share (`make_platform` on the dedicated
    servers); its own process is never started."""

    def __init__(self, base: Platform, names: tuple[str, ...] = tuple(SERVICES)) -> None:
        self.base = base
        self.processes: dict[str, Platform] = {name: as_service(base, name) for name in names}

    def __getitem__(self, name: str) -> Platform:
        return self.processes[name]

    def start_all(self, timeout_s: float) -> None:
        """Start every service at once and wait until each is ready (its /readyz 200)."""
        with ThreadPoolExecutor(len(self.processes)) as pool:
            started = [pool.submit(p.start, timeout_s) for p in self.processes.values()]
            for future in started:
                future.result()

    def restart(self, name: str, timeout_s: float) -> float:
        """SIGKILL `name` and start it again on the same data dir and ports; seconds from
        the kill until it is ready again."""
        service = self.processes[name]
        process = service.process
        assert process is not None and process.poll() is None, f"{name} is not running"
        killed = time.monotonic()
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        service.start(timeout_s)
        return time.monotonic() - killed

    def wait_ready(self, timeout_s: float) -> float:
        """Until every service answers /readyz 200 (after a backend came back); seconds
        waited. Fails with the not-ready services' reports and log tails."""
        started = time.monotonic()
        deadline = started + timeout_s
        waiting = dict(self.processes)
        while waiting:
            for name, service in list(waiting.items()):
                assert service.process is not None and service.process.poll() is None, (
                    f"{name} exited ({service.process.returncode if service.process else '-'}):"
                    f"\n{service.log_tail()}"
                )
                if _ready(service) is None:
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                reports = {name: _ready(s) for name, s in waiting.items()}
                tails = "\n".join(f"--- {n}:\n{s.log_tail(20)}" for n, s in waiting.items())
                raise AssertionError(f"not ready within {timeout_s:.0f} s: {reports}\n{tails}")
            if waiting:
                time.sleep(0.5)
        return time.monotonic() - started

    def stop_all(self) -> Mapping[str, int | None]:
        """SIGTERM every running service, then wait (SIGKILL after STOP_TIMEOUT_S); the
        exit code per service (None: it had to be killed)."""
        running = {n: s for n, s in self.processes.items() if _alive(s)}
        for service in running.values():
            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for name, service in running.items():
            assert service.process is not None
            try:
                codes[name] = service.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
                codes[name] = None
        return codes


def _alive(service: Platform) -> bool:
    return service.process is not None and service.process.poll() is None


def _ready(service: Platform) -> str | None:
    """None when `service` answers /readyz 200; else what it said (or why it did not)."""
    try:
        answer = httpx.get(f"{service.base_url}/readyz", timeout=2.0)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if answer.status_code == 200:
        return None
    return answer.text[:400]
