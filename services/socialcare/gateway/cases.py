"""Client for routing's gRPC CaseService: the authoritative read of one case.

The search index lags routing by the indexer's delay, so anything that decides on a case's
current state (showing it to the agent who is about to answer, checking that it is not
resolved before a reply) asks routing. One channel serves every request (a channel is
thread-safe and multiplexes calls; opening one per request would redo the connection
handshake each time). Every call has a deadline, so a slow routing costs the caller at most
`timeout_s`, never a stuck HTTP worker.

Failures are typed: NOT_FOUND is an answer (None), UNAVAILABLE and DEADLINE_EXCEEDED mean
"routing cannot be reached now, retry later" (`RoutingUnavailableError`), anything else is
routing failing on this request (`CaseServiceError`).
"""

from __future__ import annotations

import logging
import threading

import grpc

from socialcare.v1 import case_pb2, services_pb2, services_pb2_grpc

log = logging.getLogger(__name__)

_UNREACHABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class CaseServiceError(Exception):
    """Routing's CaseService failed on a request; the message has the gRPC status."""


class RoutingUnavailableError(CaseServiceError):
    """Routing did not answer in time or cannot be reached; retrying later may help."""


class CaseClient:
    """Reads cases from routing. Thread-safe: request handlers share one instance.

    Also a runtime `Component` (name/start/stop/join), so the process closes the channel
    on shutdown; see `join` for why the closing happens there.
    """

    name = "gateway-case-client"

    def __init__(self, address: str, *, timeout_s: float = 2.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        # The channel connects lazily, on the first call: routing may start after us.
        self._channel = grpc.insecure_channel(address)
        self._stub = services_pb2_grpc.CaseServiceStub(self._channel)
        self._closed = False
        self._lock = threading.Lock()

    def get_case(self, case_id: str) -> case_pb2.Case | None:
        """The current case, or None when routing knows no case with this id.

        Blocks for at most `timeout_s`. Raises RoutingUnavailableError when routing is
        unreachable or too slow, CaseServiceError for any other failure.
        """
        request = services_pb2.GetCaseRequest(case_id=case_id)
        try:
            return self._stub.GetCase(request, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.NOT_FOUND:
                return None
            detail = f"CaseService.GetCase at {self.address}: {code.name} {exc.details() or ''}"
            if code in _UNREACHABLE:
                raise RoutingUnavailableError(detail.strip()) from exc
            raise CaseServiceError(detail.strip()) from exc
        except ValueError as exc:
            # grpc raises ValueError for a call on a closed channel (a request that arrives
            # while the process shuts down): as far as the caller knows, routing is gone.
            raise RoutingUnavailableError(f"CaseService client is closed: {exc}") from exc

    def close(self) -> None:
        """Close the channel; idempotent. Later calls raise RoutingUnavailableError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._channel.close()

    # Component protocol (socialcare.core.runtime.Component).

    def start(self) -> None:
        """Nothing to start: the channel connects on the first call."""

    def stop(self) -> None:
        """Does not close yet: `serve` calls stop on SIGTERM while the HTTP server still
        drains in-flight requests, which may need routing for a little longer."""

    def join(self, timeout_s: float) -> None:
        """Close the channel. `serve` joins components after the HTTP server has exited,
        so no request is using it any more."""
        self.close()
