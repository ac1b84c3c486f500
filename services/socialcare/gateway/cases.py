"""Client for routing's gRPC CaseService: the authoritative read of a case.

The search index lags routing by the indexer's delay, so anything that decides on a case's
current state (showing it to the agent who is about to answer, checking that it is not
resolved before a reply) asks routing.

Routing runs as N instances in one consumer group; each owns some partitions of the cases
and answers for those only (ADR 0005). The gateway does not know which instance owns which
partition (that changes with every rebalance), so it asks every instance at once and keeps
the owner's answer. The protocol, per instance:

- the case, when the instance owns the case's partition and has the case;
- NOT_FOUND, when it owns the partition and has no such case;
- FAILED_PRECONDITION, when it does not own the partition.

From the answers of all instances `get_case` decides, in this order:

1. some instance returned the case: the one with the highest `version` wins (during a
   rebalance the old and the new owner may both answer for a moment; the newer state wins);
2. some instance answered NOT_FOUND as the owner: there is no such case (None);
3. some instance failed otherwise (INTERNAL, ...): `CaseServiceError` (the owner may be the
   one that failed, so "not found" would be a guess);
4. the rest were unreachable, too slow, or not owners: `RoutingUnavailableError`, retry
   later. Either the owner is unreachable, or no instance owns the partition right now (a
   rebalance is moving it: every instance answered FAILED_PRECONDITION).

Where the instances are (`CaseTargets`): a fixed list of `host:port`, each one instance; or
one name (`dns:///routing:50052`, or `routing:50052`) that this client resolves to every
address it has and, while in use, re-resolves every `refresh_s` (30 s), so the pods behind a
Kubernetes headless Service are found as they come and go. An IP address alone is one instance.

One channel per instance serves every request (a channel is thread-safe and multiplexes
calls; opening one per request would redo the connection handshake each time). The calls
of one request go out together through the gRPC futures API, all with the same deadline,
so a request costs the caller at most `timeout_s` however many instances there are and
whichever of them hang, never a stuck HTTP worker. A request waits for every instance's
answer (or the deadline): a second owner's newer version can only be seen that way.
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
from typing import TypeVar

import grpc

from socialcare.v1 import case_pb2, services_pb2, services_pb2_grpc

log = logging.getLogger(__name__)

# An instance that gives one of these answered nothing: it is down, slow, or this client
# closed the call's channel while the call was running.
_UNREACHABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
# "This instance does not own the case's partition": the protocol's answer of a non-owner.
_NOT_OWNER = grpc.StatusCode.FAILED_PRECONDITION

# After a name failed to resolve, wait this long before trying again (not on every call).
_RESOLVE_RETRY_S = 1.0
# ListCases returns at most this many cases per instance (routing's own bound).
MAX_LIST_LIMIT = 1000

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")

Resolver = Callable[[str, int], Sequence[str]]
"""Resolves (host, port) to every `address:port` it has; raises OSError when it cannot."""


class CaseServiceError(Exception):
    """Routing's CaseService failed on a request; the message has the gRPC status."""


class RoutingUnavailableError(CaseServiceError):
    """No routing instance could answer for the case now (unreachable, too slow, or its
    partition is between owners during a rebalance); retrying later may help."""


@dataclass(frozen=True)
class CaseTargets:
    """Where the CaseService instances are: fixed `addresses`, or one `host` name (with
    `port`) resolved to every address it has. Build with `parse`."""

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
class _Instance:
    """One CaseService instance: its address and the channel to it."""

    address: str
    channel: grpc.Channel
    stub: services_pb2_grpc.CaseServiceStub


@dataclass(frozen=True)
class _Failure:
    address: str
    code: grpc.StatusCode
    details: str

    def __str__(self) -> str:
        return f"{self.address}: {self.code.name} {self.details}".strip()


def _newest_first(case: case_pb2.Case) -> tuple[int, int, str]:
    """Routing's list order (newest opened first, then id), as a descending sort key."""
    return (case.opened_at.seconds, case.opened_at.nanos, case.id)


class CaseClient:
    """Reads cases from every routing instance. Thread-safe: request handlers share one.

    `targets` is a `CaseTargets` setting (see `CaseTargets.parse`); a single `host:port`
    keeps the one-instance behaviour. `resolver` and `refresh_s` say how a name is turned
    into instances and how often again; the first resolution happens on the first call
    (routing may start after us), later ones in the background while calls go on to the
    instances already known. When a name stops resolving, the last known instances stay.

    Also a runtime `Component` (name/start/stop/join), so the process closes the channels
    on shutdown; see `join` for why the closing happens there.
    """

    name = "gateway-case-client"

    def __init__(
        self,
        targets: str,
        *,
        timeout_s: float = 2.0,
        refresh_s: float = 30.0,
        resolver: Resolver = resolve_addresses,
    ) -> None:
        if timeout_s <= 0 or refresh_s <= 0:
            raise ValueError("timeout_s and refresh_s must be positive")
        self.targets = CaseTargets.parse(targets)
        self.timeout_s = timeout_s
        self.refresh_s = refresh_s
        self._resolver = resolver
        self._lock = threading.Lock()  # guards the fields below
        self._resolving = threading.Lock()  # one resolution at a time
        self._instances: dict[str, _Instance] = {}
        # Instances a re-resolution dropped, with when: their running calls end by their
        # deadline, so the channel is closed only after that.
        self._retired: list[tuple[float, _Instance]] = []
        self._next_resolution = 0.0
        self._resolution_error = ""
        self._refreshing = False
        self._closed = False
        if not self.targets.resolves:
            # Channels connect lazily, on the first call: routing may start after us.
            self._replace(self.targets.addresses, time.monotonic())
            self._next_resolution = math.inf

    def addresses(self) -> tuple[str, ...]:
        """The instances asked now (empty until a name first resolves); may change with
        every call, as names are re-resolved."""
        with self._lock:
            return tuple(self._instances)

    def get_case(self, case_id: str) -> case_pb2.Case | None:
        """The current case from the instance owning its partition, or None when the owner
        knows no case with this id.

        Blocks for at most about `timeout_s` (plus a first name resolution). Raises
        RoutingUnavailableError when no owner answered (unreachable, too slow, or the
        partition is between owners), CaseServiceError when an instance failed otherwise;
        see the module docstring for the whole rule.
        """
        request = services_pb2.GetCaseRequest(case_id=case_id)
        found, failures = self._ask_all(lambda stub: stub.GetCase, request)
        if found:
            best = max(found, key=lambda case: case.version)
            if len(found) > 1:
                log.info(
                    "two routing instances answered for one case",
                    extra={"case_id": case_id, "versions": sorted(c.version for c in found)},
                )
            return best
        codes = {failure.code for failure in failures}
        if grpc.StatusCode.NOT_FOUND in codes:
            return None
        detail = f"CaseService.GetCase {case_id}: " + "; ".join(str(f) for f in failures)
        if codes - _UNREACHABLE - {_NOT_OWNER}:
            raise CaseServiceError(detail)
        if codes & _UNREACHABLE:
            raise RoutingUnavailableError(detail)
        raise RoutingUnavailableError(
            f"{detail} (no routing instance owns the case's partition now: "
            "a rebalance is moving it)"
        )

    def list_cases(
        self,
        *,
        status: case_pb2.CaseStatus.ValueType = case_pb2.CASE_STATUS_UNSPECIFIED,
        language: str = "",
        queue: str = "",
        limit: int = 100,
    ) -> list[case_pb2.Case]:
        """The newest `limit` cases matching the filters (empty = any), from every
        instance's ListCases merged: newest opened first, then by id (descending), each
        case once (the highest version, when two owners answered during a rebalance).

        Every instance must answer: a list missing some partitions would look complete.
        Raises RoutingUnavailableError when an instance is unreachable or too slow,
        CaseServiceError when one failed otherwise, ValueError for a limit outside
        1..MAX_LIST_LIMIT. Cases of a partition no instance owns at this moment (during a
        rebalance) are missing from the answer: routing's ListCases cannot say so.
        """
        if not 0 < limit <= MAX_LIST_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}, not {limit}")
        request = services_pb2.ListCasesRequest(
            status=status, language=language, queue=queue, limit=limit
        )
        answers, failures = self._ask_all(lambda stub: stub.ListCases, request)
        if failures:
            detail = "CaseService.ListCases: " + "; ".join(str(f) for f in failures)
            if {failure.code for failure in failures} <= _UNREACHABLE:
                raise RoutingUnavailableError(detail)
            raise CaseServiceError(detail)
        newest: dict[str, case_pb2.Case] = {}
        for answer in answers:
            for case in answer.cases:
                known = newest.get(case.id)
                if known is None or case.version > known.version:
                    newest[case.id] = case
        return sorted(newest.values(), key=_newest_first, reverse=True)[:limit]

    def _ask_all(
        self,
        method: Callable[
            [services_pb2_grpc.CaseServiceStub], grpc.UnaryUnaryMultiCallable[_Request, _Response]
        ],
        request: _Request,
    ) -> tuple[list[_Response], list[_Failure]]:
        """Send `request` to every instance at once and wait for all answers; each call has
        the deadline `timeout_s`, so this returns within about that. Returns the answers
        and, per instance that gave none, its status."""
        calls: list[tuple[str, grpc.Future[_Response]]] = []
        failures: list[_Failure] = []
        for instance in self._current():
            try:
                calls.append(
                    (
                        instance.address,
                        method(instance.stub).future(request, timeout=self.timeout_s),
                    )
                )
            except ValueError as exc:
                # grpc raises ValueError for a call on a closed channel (a request arriving
                # while the process shuts down): as far as the caller knows, routing is gone.
                failures.append(_Failure(instance.address, grpc.StatusCode.CANCELLED, str(exc)))
        answers: list[_Response] = []
        for address, call in calls:
            try:
                answers.append(call.result())
            except grpc.RpcError as exc:
                failures.append(_Failure(address, exc.code(), exc.details() or ""))
            except grpc.FutureCancelledError:
                failures.append(_Failure(address, grpc.StatusCode.CANCELLED, "call cancelled"))
        return answers, failures

    def _current(self) -> tuple[_Instance, ...]:
        """The instances to ask now. Resolves the name first when none is known yet;
        starts a background re-resolution when the last one is older than `refresh_s`.
        Raises RoutingUnavailableError when closed or when there is no instance to ask."""
        now = time.monotonic()
        with self._lock:
            if self._closed:
                raise RoutingUnavailableError("CaseService client is closed")
            self._close_retired(now)
            instances = tuple(self._instances.values())
            due = now >= self._next_resolution
            in_background = due and bool(instances) and not self._refreshing
            if in_background:
                self._refreshing = True
        if in_background:
            threading.Thread(
                target=self._refresh_in_background, name="case-client-resolver", daemon=True
            ).start()
        elif due and not instances:
            self._resolve()  # nothing to ask until the name resolves
            with self._lock:
                if self._closed:
                    raise RoutingUnavailableError("CaseService client is closed")
                instances = tuple(self._instances.values())
        if not instances:
            raise RoutingUnavailableError(
                f"CaseService targets {self.targets.text!r} resolve to no address: "
                f"{self._resolution_error or 'no answer yet'}"
            )
        return instances

    def _refresh_in_background(self) -> None:
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
                    "cannot resolve routing's CaseService targets",
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
        client is shared): open channels to new ones, retire the dropped ones."""
        dropped = [address for address in self._instances if address not in addresses]
        for address in dropped:
            self._retired.append((now, self._instances.pop(address)))
        added = [address for address in addresses if address not in self._instances]
        for address in added:
            channel = grpc.insecure_channel(address)
            self._instances[address] = _Instance(
                address, channel, services_pb2_grpc.CaseServiceStub(channel)
            )
        if added or dropped:
            log.info(
                "routing CaseService instances changed",
                extra={"added": added, "dropped": dropped, "targets": self.targets.text},
            )

    def _close_retired(self, now: float) -> None:
        """Close the channels of retired instances whose calls have all ended (called with
        `_lock` held)."""
        grace_s = self.timeout_s + 1.0
        keep: list[tuple[float, _Instance]] = []
        for retired_at, instance in self._retired:
            if now - retired_at > grace_s:
                instance.channel.close()
            else:
                keep.append((retired_at, instance))
        self._retired = keep

    def close(self) -> None:
        """Close every channel; idempotent. Later calls raise RoutingUnavailableError."""
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
        drains in-flight requests, which may need routing for a little longer."""

    def join(self, timeout_s: float) -> None:
        """Close the channels. `serve` joins components after the HTTP server has exited,
        so no request is using them any more."""
        self.close()
