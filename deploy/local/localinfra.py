#!/usr/bin/env python3
"""Real Kafka and Elasticsearch on loopback, for local development and smoke tests.

Why this exists: our machines reach package registries and nothing else, so neither the
release tarballs nor container images are available. Both servers are therefore assembled
from Maven Central with the machine's own ``java`` and ``mvn``:

* Kafka 4.x (KRaft, one combined broker + controller) is just its jars; see
  ``kafka-broker/pom.xml``.
* Elasticsearch 8.x has no runnable distribution on Maven Central, so ``elasticsearch-node/``
  is a tiny launcher that embeds the server jar with the Netty HTTP transport and the analyzers our
  indices use (see ``LocalElasticsearch.java`` for what it skips and why).

Usage::

    python deploy/local/localinfra.py up|down|status|kill|stop|resume [--kafka] [--elasticsearch]

With neither flag, both servers are meant. ``up`` is a no-op for a server that is already
running and healthy; ``down`` stops it and wipes its data, so every ``up`` starts a fresh,
empty cluster. Test fixtures use :func:`ensure_up` and :func:`down` instead.

For fault tests, three commands keep the data: ``kill`` sends SIGKILL (what a crash leaves
behind), ``stop`` stops it cleanly, and ``resume`` starts it again on that data, on the same
ports (:func:`kill`, :func:`stop`, :func:`resume`). A second instance beside the usual one
(the fault suite's, which it may kill at will) is just other values of the variables below.

Environment:

* ``SOCIALCARE_INFRA_CACHE``: fetched jars and builds (default ``<repo>/.cache/infra``);
  Maven itself downloads into its usual local repository (``~/.m2``).
* ``SOCIALCARE_INFRA_RUN``: data, logs and pid files (default ``<cache>/run``).
* ``SOCIALCARE_KAFKA_PORT`` (9092), ``SOCIALCARE_KAFKA_CONTROLLER_PORT`` (9093),
  ``SOCIALCARE_ES_PORT`` (9200), ``SOCIALCARE_ES_TRANSPORT_PORT`` (9300).

Linux only: liveness is read from ``/proc``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

MIN_JAVA = 17
READY_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.25
LOG_TAIL_LINES = 40


class InfraError(RuntimeError):
    """A failure the user can act on; the CLI prints its message and exits non-zero."""


@dataclass(frozen=True)
class InfraEndpoints:
    """Where the servers listen.

    Addresses are those the servers are configured for; only the servers requested from
    :func:`ensure_up` are guaranteed to be up. ``startup_seconds`` holds, per server that call
    started, the seconds from launch to ready (excluding a first-time fetch); servers that
    were already running are absent.
    """

    kafka_bootstrap: str
    elasticsearch_url: str
    startup_seconds: dict[str, float]


def ensure_up(kafka: bool = True, elasticsearch: bool = True) -> InfraEndpoints:
    """Start the requested servers unless they already run healthy, and say where they are.

    Safe to call from several processes at once (e.g. parallel test workers): each server's
    start is serialised by a lock file, and later callers find it running.
    """
    startup: dict[str, float] = {}
    for server in _selected(kafka, elasticsearch):
        seconds = _up(server)
        if seconds is not None:
            startup[server.name] = seconds
    return InfraEndpoints(
        kafka_bootstrap=_Kafka().address,
        elasticsearch_url=f"http://{_Elasticsearch().address}",
        startup_seconds=startup,
    )


def is_running(name: str) -> bool:
    """Whether server `name` ("kafka" or "elasticsearch") runs healthy right now; fixtures
    use it to leave a server they did not start as they found it."""
    servers = {server.name: server for server in _selected(True, True)}
    if name not in servers:
        raise InfraError(f"unknown server {name!r}: use one of {', '.join(sorted(servers))}")
    return _describe(servers[name])[0]


def down(kafka: bool = True, elasticsearch: bool = True) -> None:
    """Stop the requested servers and wipe their data, so the next start is a fresh cluster."""
    for server in _selected(kafka, elasticsearch):
        _down(server)


def kill(kafka: bool = True, elasticsearch: bool = True) -> None:
    """SIGKILL the requested servers, keeping their data: a crash, for fault tests.

    Returns once the processes are gone; :func:`resume` starts them on what they left.
    """
    for server in _selected(kafka, elasticsearch):
        _halt(server, (signal.SIGKILL,))


def stop(kafka: bool = True, elasticsearch: bool = True) -> None:
    """Stop the requested servers cleanly (SIGTERM, then SIGKILL), keeping their data."""
    for server in _selected(kafka, elasticsearch):
        _halt(server, (signal.SIGTERM, signal.SIGKILL))


def resume(kafka: bool = True, elasticsearch: bool = True) -> InfraEndpoints:
    """Start the requested servers again on the data :func:`kill` or :func:`stop` kept.

    Same ports, same cluster (Kafka keeps its cluster id, topics, offsets; Elasticsearch its
    indices). A server that runs healthy is left alone; one without data starts fresh, as
    with :func:`ensure_up`.
    """
    startup: dict[str, float] = {}
    for server in _selected(kafka, elasticsearch):
        seconds = _resume(server)
        if seconds is not None:
            startup[server.name] = seconds
    return InfraEndpoints(
        kafka_bootstrap=_Kafka().address,
        elasticsearch_url=f"http://{_Elasticsearch().address}",
        startup_seconds=startup,
    )


# --- The two servers ------------------------------------------------------------------------


class _Server(ABC):
    """What differs between the servers: how to build, launch and probe one."""

    name: str
    # The Maven project under deploy/local/. Hyphenated so it can never pass for a Python
    # package: as "kafka/" it shadowed the kafka client for mypy and other path-based tools.
    source_dir: str
    maven_goals: tuple[str, ...]

    @property
    @abstractmethod
    def ports(self) -> tuple[int, ...]:
        """Every port the server binds; the first is the one clients use."""

    @property
    def address(self) -> str:
        return f"{HOST}:{self.ports[0]}"

    @abstractmethod
    def launch_command(self, java: str, build: Path, run: Path, log: Path) -> list[str]:
        """Write what the server needs into the fresh, empty ``run`` directory; return its command.

        The command must contain ``str(run)``: that is how a live process is recognised as
        ours rather than as a recycled pid. Preparation steps log to ``log``.
        """

    def relaunch_command(self, java: str, build: Path, run: Path, log: Path) -> list[str]:
        """The command that starts the server again on the ``run`` directory a former
        :meth:`launch_command` prepared (and the server filled with data). By default the
        same command: a server that formats nothing at launch needs nothing else."""
        return self.launch_command(java, build, run, log)

    @abstractmethod
    def is_ready(self, log: Path) -> bool:
        """Whether a server started with its output in ``log`` serves requests."""

    @abstractmethod
    def is_healthy(self) -> bool:
        """Whether the server at :attr:`address` serves requests."""


class _Kafka(_Server):
    """One KRaft node acting as broker and controller; a new cluster id on every start."""

    name = "kafka"
    source_dir = "kafka-broker"
    maven_goals = (
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        "-DoutputDirectory=lib",
    )

    # Without log4j.shutdownHookEnabled=false, Log4j stops at SIGTERM and the broker's
    # shutdown goes unlogged.
    _JVM_OPTIONS = (
        "-Xms256m",
        "-Xmx512m",
        "-Djava.awt.headless=true",
        "-Dlog4j.shutdownHookEnabled=false",
    )

    @property
    def ports(self) -> tuple[int, ...]:
        return (
            _port("SOCIALCARE_KAFKA_PORT", 9092),
            _port("SOCIALCARE_KAFKA_CONTROLLER_PORT", 9093),
        )

    def launch_command(self, java: str, build: Path, run: Path, log: Path) -> list[str]:
        config = run / "server.properties"
        config.write_text(self._server_properties(run / "data"))
        logging_and_classpath = [
            f"-Dlog4j2.configurationFile={build / 'log4j2.properties'}",
            "-cp",
            f"{build}/lib/*",
        ]
        storage_format = [
            "kafka.tools.StorageTool",
            "format",
            "-t",
            _new_cluster_id(),
            "-c",
            str(config),
        ]
        _run_logged(
            [java, *logging_and_classpath, *storage_format], log, what="formatting Kafka storage"
        )
        return self._broker_command(java, build, config)

    def relaunch_command(self, java: str, build: Path, run: Path, log: Path) -> list[str]:
        # The storage is formatted already (a second format would need a new cluster id and
        # lose every topic): rewrite the configuration for the current ports, start the broker.
        config = run / "server.properties"
        config.write_text(self._server_properties(run / "data"))
        return self._broker_command(java, build, config)

    def _broker_command(self, java: str, build: Path, config: Path) -> list[str]:
        return [
            java,
            *self._JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={build / 'log4j2.properties'}",
            "-cp",
            f"{build}/lib/*",
            "kafka.Kafka",
            str(config),
        ]

    def is_ready(self, log: Path) -> bool:
        started = "Kafka Server started" in log.read_text(errors="replace")
        return started and self.is_healthy()

    def is_healthy(self) -> bool:
        return _kafka_broker_count(HOST, self.ports[0]) > 0

    def _server_properties(self, data: Path) -> str:
        port, controller_port = self.ports
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{HOST}:{controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": "4",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())


class _Elasticsearch(_Server):
    """The embedded single-node Elasticsearch built from ``elasticsearch-node/``."""

    name = "elasticsearch"
    source_dir = "elasticsearch-node"
    maven_goals = (
        "compile",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        "-DoutputDirectory=lib",
    )

    # The system properties of Elasticsearch's own jvm.options that matter when embedded;
    # without log4j.shutdownHookEnabled=false, logging stops before the node has closed.
    _JVM_OPTIONS = (
        "-Xms512m",
        "-Xmx1g",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8",
        "-Dio.netty.noUnsafe=true",
        "-Dio.netty.noKeySetOptimization=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0",
        "-Dlog4j.shutdownHookEnabled=false",
        "-Dlog4j2.disable.jmx=true",
        "-Dlog4j2.formatMsgNoLookups=true",
    )

    @property
    def ports(self) -> tuple[int, ...]:
        return (
            _port("SOCIALCARE_ES_PORT", 9200),
            _port("SOCIALCARE_ES_TRANSPORT_PORT", 9300),
        )

    def launch_command(self, java: str, build: Path, run: Path, log: Path) -> list[str]:
        http_port, transport_port = self.ports
        return [
            java,
            *self._JVM_OPTIONS,
            "-cp",
            f"{build}/target/classes:{build}/lib/*",
            "socialcare.localinfra.LocalElasticsearch",
            f"-Epath.home={run / 'home'}",
            f"-Ehttp.port={http_port}",
            f"-Etransport.port={transport_port}",
        ]

    def is_ready(self, log: Path) -> bool:
        return self.is_healthy()

    def is_healthy(self) -> bool:
        base = f"http://{self.address}"
        banner = _http_headers(f"{base}/")
        if banner is None or banner.get("x-elastic-product") != "Elasticsearch":
            return False  # not up, or some other server on our port
        # 200 means the cluster reached yellow; Elasticsearch answers 408 on timeout.
        return (
            _http_headers(f"{base}/_cluster/health?wait_for_status=yellow&timeout=1s") is not None
        )


def _selected(kafka: bool, elasticsearch: bool) -> list[_Server]:
    chosen: list[_Server] = []
    if kafka:
        chosen.append(_Kafka())
    if elasticsearch:
        chosen.append(_Elasticsearch())
    return chosen


# --- Lifecycle ------------------------------------------------------------------------------


def _up(server: _Server) -> float | None:
    """Bring ``server`` up; return seconds from launch to ready, or None if it already ran."""
    with _locked(_run_dir() / f"{server.name}.lock"):
        pid = _running_pid(server)
        if pid is not None and server.is_healthy():
            _say(f"{server.name} already running on {server.address} (pid {pid})")
            return None
        if pid is not None:
            _say(f"{server.name} (pid {pid}) is not healthy; restarting it")
        _stop_and_wipe(server)
        java = _java()
        build = _fetch(server)
        return _start(server, java, build)


def _down(server: _Server) -> None:
    with _locked(_run_dir() / f"{server.name}.lock"):
        pid = _running_pid(server)
        _stop_and_wipe(server)
        _say(f"{server.name} stopped" if pid is not None else f"{server.name} was not running")


def _halt(server: _Server, signals: tuple[signal.Signals, ...]) -> None:
    """Stop the server with ``signals`` (each given STOP_TIMEOUT_SECONDS) and keep its run
    directory, so :func:`_resume` finds its data."""
    with _locked(_run_dir() / f"{server.name}.lock"):
        pid = _running_pid(server)
        if pid is not None:
            _terminate(pid, _server_run_dir(server), signals)
        _pid_file(server).unlink(missing_ok=True)
        _say(
            f"{server.name} halted ({'/'.join(s.name for s in signals)}), data kept"
            if pid is not None
            else f"{server.name} was not running"
        )


def _resume(server: _Server) -> float | None:
    """Start ``server`` on its kept data; return seconds from launch to ready, or None if it
    already ran healthy."""
    with _locked(_run_dir() / f"{server.name}.lock"):
        pid = _running_pid(server)
        if pid is not None and server.is_healthy():
            _say(f"{server.name} already running on {server.address} (pid {pid})")
            return None
        if pid is not None:
            _say(f"{server.name} (pid {pid}) is not healthy; restarting it on its data")
            _terminate(pid, _server_run_dir(server), (signal.SIGTERM, signal.SIGKILL))
        java = _java()
        build = _fetch(server)
        if not (_server_run_dir(server) / _DATA_KEPT).exists():
            _stop_and_wipe(server)
            return _start(server, java, build)
        return _start(server, java, build, resume=True)


def _describe(server: _Server) -> tuple[bool, str]:
    """Whether the server runs healthy, and a one-line description for ``status``."""
    pid = _running_pid(server)
    if pid is None:
        return False, "stopped"
    healthy = server.is_healthy()
    return (
        healthy,
        f"running (pid {pid}) on {server.address}, {'healthy' if healthy else 'NOT healthy'}",
    )


# Written into a server's run directory once its launch command prepared it: a run directory
# without it (a start that failed half-way) is not resumed but wiped and started fresh.
_DATA_KEPT = ".prepared"


def _start(server: _Server, java: str, build: Path, *, resume: bool = False) -> float:
    """Launch ``server`` and wait until it is ready. A fresh start prepares an empty run
    directory; ``resume`` starts on the existing one (the previous run's log is kept beside
    the new one as ``<name>.previous.log``: readiness is read from the new log alone)."""
    _ensure_ports_free(server)
    run = _server_run_dir(server)
    log = _log_file(server)
    if resume:
        if log.exists():
            log.replace(log.with_name(f"{server.name}.previous.log"))
    else:
        run.mkdir(parents=True)
    log.write_bytes(b"")
    started = time.monotonic()
    if resume:
        command = server.relaunch_command(java, build, run, log)
    else:
        command = server.launch_command(java, build, run, log)
        (run / _DATA_KEPT).touch()
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _pid_file(server).write_text(f"{process.pid}\n")
    _wait_ready(server, process, log)
    seconds = time.monotonic() - started
    _say(f"{server.name} ready on {server.address} in {seconds:.1f}s (pid {process.pid})")
    return seconds


def _wait_ready(server: _Server, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not server.is_ready(log):
        if process.poll() is not None:
            _pid_file(server).unlink()
            raise InfraError(
                f"{server.name} exited with code {process.returncode} during startup; "
                f"last lines of {log}:\n{_tail(log)}"
            )
        if time.monotonic() > deadline:
            _stop_and_wipe(server)
            raise InfraError(
                f"{server.name} was not ready within {READY_TIMEOUT_SECONDS:.0f}s; "
                f"last lines of {log}:\n{_tail(log)}"
            )
        time.sleep(POLL_SECONDS)


def _stop_and_wipe(server: _Server) -> None:
    """Stop the server if it runs, then delete its data and pid file; the log stays to read."""
    run = _server_run_dir(server)
    pid = _running_pid(server)
    if pid is not None:
        _terminate(pid, run, (signal.SIGTERM, signal.SIGKILL))
    shutil.rmtree(run, ignore_errors=True)
    _pid_file(server).unlink(missing_ok=True)


def _terminate(pid: int, run: Path, signals: tuple[signal.Signals, ...]) -> None:
    """Send ``signals`` in turn (e.g. SIGTERM, then SIGKILL), each next one only if the process
    outlives STOP_TIMEOUT_SECONDS after the one before."""
    for sig in signals:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _is_our_process(pid, run):
            if time.monotonic() > deadline:
                break
            time.sleep(POLL_SECONDS)
        else:
            return
    raise InfraError(f"pid {pid} survived {signals[-1].name} for {STOP_TIMEOUT_SECONDS:.0f}s")


def _running_pid(server: _Server) -> int | None:
    try:
        pid = int(_pid_file(server).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _is_our_process(pid, _server_run_dir(server)) else None


def _is_our_process(pid: int, run: Path) -> bool:
    """Whether ``pid`` is alive and was started for ``run`` (pids get recycled)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child (no zombies)
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(run).encode() in command_line


def _ensure_ports_free(server: _Server) -> None:
    for port in server.ports:
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                raise InfraError(
                    f"{server.name}: {HOST}:{port} is already in use by another process; "
                    "stop it or choose other ports (see the SOCIALCARE_*_PORT variables)"
                )


# --- Fetching and building (cached) ---------------------------------------------------------


def _fetch(server: _Server) -> Path:
    """Return the server's build directory, resolving and building it with Maven if needed.

    Builds are keyed on a hash of the server's source directory: editing a pom or the launcher
    leads to a new build, and a build is never changed or deleted under a server that runs
    from it (from another checkout's run directory, say). Old builds stay until the cache is
    deleted. Maven's own local repository keeps the jars, so a rebuild downloads only what
    changed.
    """
    source = HERE / server.source_dir
    build = _cache_dir() / f"{server.name}-{_tree_hash(source)[:12]}"
    marker = build / ".complete"
    with _locked(_cache_dir() / f"{server.name}.lock"):
        if marker.exists():
            return build
        _say(f"{server.name}: fetching and building with Maven (first run only)...")
        started = time.monotonic()
        shutil.rmtree(build, ignore_errors=True)  # an interrupted earlier attempt
        shutil.copytree(source, build)
        _maven(build, server.maven_goals)
        marker.touch()
        _say(f"{server.name}: fetched and built in {time.monotonic() - started:.1f}s")
    return build


def _maven(project: Path, goals: tuple[str, ...]) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError("mvn not found on PATH: install Maven 3.8+ (needed on first run only)")
    result = subprocess.run(
        [mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(project / "pom.xml"), *goals],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise InfraError(f"mvn failed in {project}:\n" + "\n".join(output[-LOG_TAIL_LINES:]))


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise InfraError(f"java not found on PATH: install Java {MIN_JAVA}+")
    banner = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', banner)
    if match is None or int(match.group(1)) < MIN_JAVA:
        raise InfraError(f"{java} is not Java {MIN_JAVA}+: {banner.strip()}")
    return java


# --- Paths ----------------------------------------------------------------------------------


def _cache_dir() -> Path:
    """Return the cache root, which git-ignores itself so no .gitignore needs to know it."""
    cache = Path(os.environ.get("SOCIALCARE_INFRA_CACHE", REPO / ".cache" / "infra"))
    cache.mkdir(parents=True, exist_ok=True)
    ignore = cache / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return cache


def _run_dir() -> Path:
    run = Path(os.environ.get("SOCIALCARE_INFRA_RUN", _cache_dir() / "run"))
    run.mkdir(parents=True, exist_ok=True)
    return run


def _server_run_dir(server: _Server) -> Path:
    return _run_dir() / server.name


def _pid_file(server: _Server) -> Path:
    return _run_dir() / f"{server.name}.pid"


def _log_file(server: _Server) -> Path:
    """Outside the server's run directory, so it survives ``down`` for a post-mortem."""
    return _run_dir() / f"{server.name}.log"


def _port(variable: str, default: int) -> int:
    value = os.environ.get(variable, str(default))
    if not value.isdigit():
        raise InfraError(f"{variable} must be a port number, got {value!r}")
    return int(value)


# --- Small helpers --------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` so concurrent callers take turns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run_logged(command: list[str], log: Path, what: str) -> None:
    with log.open("ab") as output:
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, check=False
        )
    if result.returncode != 0:
        raise InfraError(
            f"{what} failed (exit {result.returncode}); last lines of {log}:\n{_tail(log)}"
        )


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _new_cluster_id() -> str:
    """Make a Kafka cluster id: a random UUID in base64url, unpadded, not starting with '-'."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _kafka_broker_count(host: str, port: int) -> int:
    """Brokers listed by a Metadata (v4) request, or 0 if the broker does not answer.

    A bare Kafka protocol exchange rather than a client library: the module stays stdlib-only,
    and a listed broker means it is registered and unfenced, i.e. ready for producers.
    """
    client_id = b"localinfra"
    # Header: api_key=3 (Metadata), api_version=4, correlation_id=1, client_id.
    # Body: topics=[] (no topics, just brokers), allow_auto_topic_creation=false.
    request = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id + struct.pack(">ib", 0, 0)
    try:
        with socket.create_connection((host, port), timeout=2.0) as connection:
            connection.sendall(struct.pack(">i", len(request)) + request)
            response = _receive(connection, struct.unpack(">i", _receive(connection, 4))[0])
        # Response: correlation_id, throttle_time_ms, then the brokers array's length.
        correlation_id, _throttle, brokers = struct.unpack(">iii", response[:12])
    except (OSError, struct.error):
        return 0
    return int(brokers) if correlation_id == 1 else 0


def _receive(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed mid-response")
        data += chunk
    return data


def _http_headers(url: str) -> dict[str, str] | None:
    """GET ``url`` and return its headers (names lower-cased); None unless it answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=5.0) as response:
            return {name.lower(): value for name, value in response.headers.items()}
    except (urllib.error.URLError, OSError):
        return None


def _say(message: str) -> None:
    print(f"localinfra: {message}", file=sys.stderr, flush=True)


# --- CLI ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (``status`` returns 3 if a server is not healthy)."""
    parser = argparse.ArgumentParser(
        prog="localinfra.py",
        description="Fetch, start and stop local Kafka and Elasticsearch on loopback.",
        epilog="With neither --kafka nor --elasticsearch, both are meant.",
    )
    parser.add_argument("command", choices=("up", "down", "status", "kill", "stop", "resume"))
    parser.add_argument("--kafka", action="store_true", help="only/also Kafka")
    parser.add_argument("--elasticsearch", action="store_true", help="only/also Elasticsearch")
    args = parser.parse_args(argv)
    both = not (args.kafka or args.elasticsearch)
    kafka, elasticsearch = args.kafka or both, args.elasticsearch or both
    try:
        if args.command == "up":
            ensure_up(kafka=kafka, elasticsearch=elasticsearch)
        elif args.command == "down":
            down(kafka=kafka, elasticsearch=elasticsearch)
        elif args.command == "kill":
            kill(kafka=kafka, elasticsearch=elasticsearch)
        elif args.command == "stop":
            stop(kafka=kafka, elasticsearch=elasticsearch)
        elif args.command == "resume":
            resume(kafka=kafka, elasticsearch=elasticsearch)
        else:
            all_healthy = True
            for server in _selected(kafka, elasticsearch):
                healthy, description = _describe(server)
                print(f"{server.name}: {description}")
                all_healthy = all_healthy and healthy
            return 0 if all_healthy else 3
    except InfraError as error:
        print(f"localinfra: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
