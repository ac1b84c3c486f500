"""gRPC door of ingestion: `socialcare.v1.IngestService` for connectors and integrators.

* `Ingest` (unary): the REST rules and answers in gRPC terms, through the platform's one
  error model (`core.errors.abort_call`): INVALID_ARGUMENT carries the same
  `field: reason` text as REST's 422 `error.message`, UNAVAILABLE when the bus is down,
  INTERNAL (logged) for a fault of ours. UNAVAILABLE also answers a call refused by
  admission control (`ingestion.admission`, details starting `ingestion is overloaded`;
  nothing written), and every UNAVAILABLE carries trailing metadata `retry-after`: whole
  seconds to wait, as REST's `Retry-After` header.
* `IngestStream` (client streaming): each message is validated and accepted on its own,
  so one bad message is reported in `IngestSummary.errors` (index, field, reason) and the
  rest still go through. Every accepted message is durable before the next is read. If the
  bus fails mid-stream the call ends UNAVAILABLE saying how many were accepted; those are
  durable and come back as duplicates when the client re-sends the batch. Each message
  of a stream is admitted on its own, so a stream refused mid-way by admission control
  ends the same way (UNAVAILABLE, how many were accepted).

Every call needs `authorization: Bearer <token or API key>` metadata with the `ingest`
permission (UNAUTHENTICATED / PERMISSION_DENIED otherwise), and an API key ingests for its
own brand only (`ingestion.access`): PERMISSION_DENIED for `Ingest`, a per-message error
(field `brand`) in a stream.

Validation is the REST model itself (`domain.validate_proto`), never a second set of
rules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Never

import grpc
from opentelemetry import propagate
from opentelemetry.context import Context
from pydantic import ValidationError

from socialcare.core.auth import Permission, Principal
from socialcare.core.auth.authenticator import Authenticator
from socialcare.core.auth.grpc_auth import grpc_principal
from socialcare.core.bus import BusError
from socialcare.core.domain.cases import CHANNEL_NAMES
from socialcare.core.errors import (
    ForbiddenError,
    InvalidRequestError,
    UnavailableError,
    abort_call,
    as_socialcare_error,
    field_problems,
)
from socialcare.core.grpc_server import GrpcServer, host_port
from socialcare.ingestion.access import within_brands
from socialcare.ingestion.admission import Admission, OverloadedError
from socialcare.ingestion.domain import validate_proto
from socialcare.ingestion.ingestor import Ingestor, count_rejected
from socialcare.ingestion.models import MessageCreate
from socialcare.v1 import message_pb2, services_pb2, services_pb2_grpc


def _trace_parent(context: grpc.ServicerContext) -> Context:
    carrier = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
    return propagate.extract(carrier)


def _channel_sent(message: message_pb2.SocialMessage) -> str | None:
    return CHANNEL_NAMES.get(message.channel)


class IngestServicer(services_pb2_grpc.IngestServiceServicer):
    """Adapts gRPC calls to the shared `Ingestor`; safe to call from many worker threads."""

    def __init__(
        self,
        ingestor: Ingestor,
        authenticator: Authenticator,
        admission: Admission | None = None,
    ) -> None:
        self._ingestor = ingestor
        self._authenticator = authenticator
        self._admission = admission

    def _admitted(self, request: services_pb2.IngestRequest) -> AbstractContextManager[None]:
        """Room for one message (see `Admission.admitted`); no bound without `admission`."""
        if self._admission is None:
            return contextlib.nullcontext()
        return self._admission.admitted("grpc", request.ByteSize())

    def Ingest(  # noqa: N802 (the proto names the method)
        self, request: services_pb2.IngestRequest, context: grpc.ServicerContext
    ) -> services_pb2.IngestResponse:
        try:
            with self._admitted(request):
                principal = grpc_principal(self._authenticator, context, Permission.INGEST)
                payload = within_brands(principal, _validated(request.message))
                result = self._ingestor.ingest(payload, parent=_trace_parent(context))
            return services_pb2.IngestResponse(
                message_id=result.message_id, duplicate=result.duplicate
            )
        except Exception as exc:
            _abort(context, exc, method="IngestService.Ingest")

    def IngestStream(  # noqa: N802
        self,
        request_iterator: Iterator[services_pb2.IngestRequest],
        context: grpc.ServicerContext,
    ) -> services_pb2.IngestSummary:
        try:
            principal = grpc_principal(self._authenticator, context, Permission.INGEST)
            return self._ingest_stream(request_iterator, _trace_parent(context), principal)
        except Exception as exc:
            _abort(context, exc, method="IngestService.IngestStream")

    def _ingest_stream(
        self,
        request_iterator: Iterator[services_pb2.IngestRequest],
        parent: Context,
        principal: Principal,
    ) -> services_pb2.IngestSummary:
        summary = services_pb2.IngestSummary()
        for index, request in enumerate(request_iterator):
            try:
                payload = _validated(request.message)
            except InvalidRequestError as exc:
                summary.rejected += 1
                for problem in exc.details:
                    summary.errors.add(index=index, field=problem.field, reason=problem.message)
                continue
            try:
                payload = within_brands(principal, payload)
            except ForbiddenError as exc:
                summary.rejected += 1
                summary.errors.add(index=index, field=exc.field or "", reason=exc.message)
                continue
            try:
                with self._admitted(request):
                    result = self._ingestor.ingest(payload, parent=parent)
            except BusError as exc:
                raise UnavailableError(
                    f"event bus unavailable at message {index}; {summary.accepted} accepted "
                    f"before it are durable and will be duplicates on re-send: {exc}",
                    code="bus_unavailable",
                ) from exc
            except OverloadedError as exc:
                raise OverloadedError(
                    f"ingestion is overloaded at message {index}; {summary.accepted} accepted "
                    "before it are durable and will be duplicates on re-send",
                    retry_after_s=exc.retry_after_s,
                ) from exc
            if result.duplicate:
                summary.duplicates += 1
            else:
                summary.accepted += 1
        return summary


def _abort(context: grpc.ServicerContext, exc: BaseException, *, method: str) -> Never:
    """`abort_call`, with the error's retry delay as trailing metadata `retry-after` (gRPC
    has no header for it; a client reads it from the trailers of the failed call)."""
    retry_after_s = as_socialcare_error(exc).retry_after_s
    if retry_after_s is not None:
        context.set_trailing_metadata((("retry-after", str(retry_after_s)),))
    abort_call(context, exc, method=method)


def _validated(message: message_pb2.SocialMessage) -> MessageCreate:
    """The message by the REST rules; InvalidRequestError naming every bad field (and the
    refusal counted) otherwise."""
    try:
        return validate_proto(message)
    except ValidationError as exc:
        count_rejected(_channel_sent(message))
        raise InvalidRequestError.from_problems(field_problems(exc.errors())) from exc


class IngestGrpcServer(GrpcServer):
    """The IngestService gRPC server as a runtime `Component`.

    `port=0` binds a free port (tests read `.port`); `main.parts` does not create the
    component at all when SOCIALCARE_INGEST_GRPC_PORT is 0. Workers are threads: a
    streaming call holds one for its duration, so `workers` bounds concurrent streams.
    """

    def __init__(
        self,
        servicer: IngestServicer,
        *,
        host: str,
        port: int,
        workers: int = 16,
        grace_s: float = 5.0,
    ) -> None:
        super().__init__(
            "ingestion-grpc",
            host_port(host, port),
            lambda server: services_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server),
            service="IngestService",
            setting_hint="set SOCIALCARE_INGEST_GRPC_PORT to a free port, or 0 to disable",
            workers=workers,
            grace_s=grace_s,
        )
        self.port = port
