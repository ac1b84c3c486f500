"""Channels to every instance of a scaled-out gRPC service, and one request sent to all.

Routing's CaseService and the sla service's ReportService both run as N instances, each
answering for the partitions it owns (ADR 0005); the gateway does not know which instance
owns what (that changes with every rebalance), so it asks every instance at once and
decides from all the answers. `InstancePool` is that machinery, shared by the clients
(`gateway.cases.CaseClient`, `gateway.reports.ReportClient`); what an answer means stays
with each client.

Where the instances are (`CaseTargets`): a fixed list of `host:port`, each one instance; or
one name (`dns:///routing:50052`, or `routing:50052`) that the pool resolves to every
address it has and, while in use, re-resolves every `refresh_s` (30 s), so the pods behind a
Kubernetes headless Service are found as they come and go. An IP address alone is one
instance.

One channel per instance serves every request (a channel is thread-safe and multiplexes
calls; opening one per request would redo the connection handshake each time). The calls
of one request go out together through the gRPC futures API, all with the same deadline,
so a request costs the caller at most `timeout_s` however many instances there are and
whichever of them hang, never a stuck HTTP worker.

Every call carries the pool's `credential` (ADR 0014: the gateway's service token, reused
until it is due for renewal), which routing's and sla's servers require.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import grpc

from socialcare.core.errors import SocialcareError

log = logging.getLogger(__name__)

# An instance that gives one of these answered nothing: it is down, slow, or the pool
# closed the call's channel while the call was running.
UNREACHABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)

# After a name failed to resolve, wait this long before trying again (not on every call).
_RESOLVE_RETRY_S = 1.0

_Stub = TypeVar("_Stub")
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")

Resolver = Callable[[str, int], Sequence[str]]
"""Resolves (host, port) to every `address:port` it has; raises OSError when it cannot."""

CallMetadata = tuple[tuple[str, str | bytes], ...]
Credential = Callable[[], CallMetadata]
"""The metadata every call carries (`ServiceToken.metadata`); raises a SocialcareError when
there is no credential to send now (no signing key yet)."""


@dataclass(frozen=True)
class CaseTargets:
    """Where the instances of a service are: fixed `addresses`, or one `host` name (with
    `port`) resolved to every address it has. Build with `parse`. (Named for the first
    service read this way, routing's CaseService; the sla ReportService's are the same.)"""

    text: str
    addresses: tuple[str, ...] = ()
    host: str = ""
    port: int = 0

    @property
    def resolves(self) -> bool:
        """True when the instances are found by resolving `host` (and re-resolving it)."""
        return bool(self.host)

    @classmethod
    def parse(cls, text: str) -> CaseTargets:
        """Targets from their setting: `host:port[,host:port...]` (each one instance, used
        as given), or a single `dns:///name:port` or `name:port` (resolved to every address).

        A single IP address is one instance. IPv6 addresses go in brackets: `[::1]:50052`.
        Raises ValueError saying what is wrong with `text`.
        """
        items = [item.strip() for item in text.split(",")]
        if any(not item for item in items):
            raise ValueError(
                f"{text!r} has an empty entry; expected host:port[,host:port...] "
                "or one dns:///name:port"
            )
        if len(items) == 1:
            item = items[0]
            if item.startswith("dns:"):
                if not item.startswith("dns:///"):
                    raise ValueError(
                        f"{item!r}: write a name to resolve as dns:///name:port "
                        "(no DNS server authority)"
                    )
                host, port = _host_port(item.removeprefix("dns:///"))
                return cls(text=text, host=host, port=port)
            host, port = _host_port(item)
            if _is_ip(host):
                return cls(text=text, addresses=(_join(host, port),))
            return cls(text=text, host=host, port=port)
        if any("://" in item or item.startswith("dns:") for item in items):
            raise ValueError(
                f"{text!r}: a name to resolve (dns:///name:port) must be the only target"
            )
        addresses = tuple(_join(*_host_port(item)) for item in items)
        if len(set(addresses)) != len(addresses):
            raise ValueError(f"{text!r} lists an address twice")
        return cls(text=text, addresses=addresses)


def resolve_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, as sorted `address:port` (IPv6 in brackets).

    Blocks for the system resolver; raises OSError (socket.gaierror) when the name does
    not resolve.
    """
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({_join(str(sockaddr[0]), port) for *_, sockaddr in found})


def _host_port(item: str) -> tuple[str, int]:
    host, sep, port_text = item.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{item!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not _is_ip(host):
            raise ValueError(f"{item!r}: only an IPv6 address goes in brackets")
    elif ":" in host:
        raise ValueError(f"{item!r}: write an IPv6 address in brackets, [address]:port")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"{item!r}: the port must be between 1 and 65535")
    return host, port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Failure:
    """An instance that gave no answer to a request: its address and status."""

    address: str
    code: grpc.StatusCode
    details: str

    def __str__(self) -> str:
        return f"{self.address}: {self.code.name} {self.details}".strip()


@dataclass(frozen=True)
class _Instance(Generic[_Stub]):
    """One instance: its address, the channel to it, and the service's stub on it."""

    address: str
    channel: grpc.Channel
    stub: _Stub


class InstancePool(Generic[_Stub]):
    """Channels to every instance of one gRPC service. Thread-safe: request handlers share
    one. The base of a service's client, which sets `name` (its runtime `Component` name).

    `targets` is a `CaseTargets` setting (see `CaseTargets.parse`); `stub` makes the
    service's stub on a channel; `service` names the service in logs and errors
    ("routing's CaseService"); `unavailable` is the client's error for "no instance can be
    asked now" (closed, or no address known).

    `resolver` and `refresh_s` say how a name is turned into instances and how often
    again; the first resolution happens on the first call (the service may start after
    us). A due re-resolution runs in the background while calls go on to the instances
    already known (`refresh_in_background`), or on the calling thread before the call.
    When a name stops resolving, the last known instances stay.

    `credential` gives the metadata each request carries (None: none, which a guarded
    server refuses with UNAUTHENTICATED; tests of a client against a bare servicer).

    Also a runtime `Component` (name/start/stop/join), so the process closes the channels
    on shutdown; see `join` for why the closing happens there.
    """

    name: str

    def __init__(
        self,
        targets: str,
        *,
        stub: Callable[[grpc.Channel], _Stub],
        service: str,
        unavailable: Callable[[str], Exception],
        timeout_s: float,
        refresh_s: float,
        resolver: Resolver,
        refresh_in_background: bool,
        credential: Credential | None = None,
    ) -> None:
        if timeout_s <= 0 or refresh_s <= 0:
            raise ValueError("timeout_s and refresh_s must be positive")
        self.targets = CaseTargets.parse(targets)
        self.timeout_s = timeout_s
        self.refresh_s = refresh_s
        self._stub = stub
        self._service = service
        self._unavailable = unavailable
        self._resolver = resolver
        self._refresh_in_background = refresh_in_background
        self._credential = credential
        self._lock = threading.Lock()  # guards the fields below
        self._resolving = threading.Lock()  # one resolution at a time
        self._instances: dict[str, _Instance[_Stub]] = {}
        # Instances a re-resolution dropped, with when: their running calls end by their
        # deadline, so the channel is closed only after that.
        self._retired: list[tuple[float, _Instance[_Stub]]] = []
        self._next_resolution = 0.0
        self._resolution_error = ""
        self._refreshing = False
        self._closed = False
        if not self.targets.resolves:
            # Channels connect lazily, on the first call: the service may start after us.
            self._replace(self.targets.addresses, time.monotonic())
            self._next_resolution = math.inf

    def addresses(self) -> tuple[str, ...]:
        """The instances asked now (empty until a name first resolves); may change with
        every call, as names are re-resolved."""
        with self._lock:
            return tuple(self._instances)

    def ask_all(
        self,
        method: Callable[[_Stub], grpc.UnaryUnaryMultiCallable[_Request, _Response]],
        request: _Request,
    ) -> tuple[list[_Response], list[Failure]]:
        """Send `request` to every instance at once and wait for all answers; each call has
        the deadline `timeout_s`, so this returns within about that (plus a first or due
        name resolution). Returns the answers and, per instance that gave none, its status.
        Raises the `unavailable` error when closed, when there is no instance to ask, or
        when there is no credential to send yet."""
        calls: list[tuple[str, grpc.Future[_Response]]] = []
        failures: list[Failure] = []
        metadata = self._metadata()
        for instance in self._current():
            try:
                calls.append(
                    (
                        instance.address,
                        method(instance.stub).future(
                            request, timeout=self.timeout_s, metadata=metadata
                        ),
                    )
                )
            except ValueError as exc:
                # grpc raises ValueError for a call on a closed channel (a request arriving
                # while the process shuts down): as far as the caller knows, it is gone.
                failures.append(Failure(instance.address, grpc.StatusCode.CANCELLED, str(exc)))
        answers: list[_Response] = []
        for address, call in calls:
            try:
                answers.append(call.result())
            except grpc.RpcError as exc:
                failures.append(Failure(address, exc.code(), exc.details() or ""))
            except grpc.FutureCancelledError:
                failures.append(Failure(address, grpc.StatusCode.CANCELLED, "call cancelled"))
        return answers, failures

    def _metadata(self) -> CallMetadata | None:
        if self._credential is None:
            return None
        try:
            return self._credential()
        except SocialcareError as exc:
            raise self._unavailable(f"no credential for {self._service} yet: {exc}") from exc

    def _current(self) -> tuple[_Instance[_Stub], ...]:
        """The instances to ask now. Resolves the name first when none is known yet (or,
        without `refresh_in_background`, when a re-resolution is due); else starts a due
        re-resolution in the background."""
        now = time.monotonic()
        with self._lock:
            self._raise_if_closed()
            self._close_retired(now)
            instances = tuple(self._instances.values())
            due = now >= self._next_resolution
            here = due and (not instances or not self._refresh_in_background)
            in_background = due and not here and not self._refreshing
            if in_background:
                self._refreshing = True
        if in_background:
            threading.Thread(
                target=self._refresh_in_background_thread,
                name=f"{self.name}-resolver",
                daemon=True,
            ).start()
        elif here:
            self._resolve()
            with self._lock:
                self._raise_if_closed()
                instances = tuple(self._instances.values())
        if not instances:
            raise self._unavailable(
                f"{self._service} targets {self.targets.text!r} resolve to no address: "
                f"{self._resolution_error or 'no answer yet'}"
            )
        return instances

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise self._unavailable(f"the {self._service} client is closed")

    def _refresh_in_background_thread(self) -> None:
        try:
            self._resolve()
        finally:
            with self._lock:
                self._refreshing = False

    def _resolve(self) -> None:
        """Resolve the name and replace the instances with what it resolves to now. On
        failure keep the instances known and try again after `_RESOLVE_RETRY_S`."""
        with self._resolving:
            if time.monotonic() < self._next_resolution:
                return  # another thread has just resolved it
            try:
                addresses = sorted(set(self._resolver(self.targets.host, self.targets.port)))
                if not addresses:
                    raise OSError("the name has no address")
            except (OSError, ValueError) as exc:
                log.warning(
                    f"cannot resolve {self._service} targets",
                    extra={"targets": self.targets.text, "error": str(exc)},
                )
                with self._lock:
                    self._resolution_error = f"{type(exc).__name__}: {exc}"
                    self._next_resolution = time.monotonic() + _RESOLVE_RETRY_S
                return
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                self._resolution_error = ""
                self._next_resolution = now + self.refresh_s
                self._replace(addresses, now)

    def _replace(self, addresses: Sequence[str], now: float) -> None:
        """Ask exactly `addresses` from now on (called with `_lock` held, or before the
        pool is shared): open channels to new ones, retire the dropped ones."""
        dropped = [address for address in self._instances if address not in addresses]
        for address in dropped:
            self._retired.append((now, self._instances.pop(address)))
        added = [address for address in addresses if address not in self._instances]
        for address in added:
            channel = grpc.insecure_channel(address)
            self._instances[address] = _Instance(address, channel, self._stub(channel))
        if added or dropped:
            log.info(
                f"{self._service} instances changed",
                extra={"added": added, "dropped": dropped, "targets": self.targets.text},
            )

    def _close_retired(self, now: float) -> None:
        """Close the channels of retired instances whose calls have all ended (called with
        `_lock` held)."""
        grace_s = self.timeout_s + 1.0
        keep: list[tuple[float, _Instance[_Stub]]] = []
        for retired_at, instance in self._retired:
            if now - retired_at > grace_s:
                instance.channel.close()
            else:
                keep.append((retired_at, instance))
        self._retired = keep

    def close(self) -> None:
        """Close every channel; idempotent. Later calls raise the `unavailable` error."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            channels = [i.channel for i in self._instances.values()]
            channels += [i.channel for _, i in self._retired]
            self._instances = {}
            self._retired = []
        for channel in channels:
            channel.close()

    # Component protocol (socialcare.core.runtime.Component).

    def start(self) -> None:
        """Nothing to start: channels connect, and a name resolves, on the first call."""

    def stop(self) -> None:
        """Does not close yet: `serve` calls stop on SIGTERM while the HTTP server still
        drains in-flight requests, which may need the service for a little longer."""

    def join(self, timeout_s: float) -> None:
        """Close the channels. `serve` joins components after the HTTP server has exited,
        so no request is using them any more."""
        self.close()
