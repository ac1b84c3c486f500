"""gRPC actions are audited by the interceptor, on a real gRPC server: who (from the call's
credentials), what (the ActRequest's action), the outcome from the status code; reads are
not; a call whose record cannot be written ends UNAVAILABLE."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from socialcare.core.audit import AuditInterceptor, AuditLog, TrustedProxies, grpc_action
from socialcare.core.auth.grpc_auth import grpc_principal
from socialcare.core.auth.principal import Permission
from socialcare.core.errors import ForbiddenError, abort_call
from socialcare.v1 import services_pb2, services_pb2_grpc
from tests.unit.audit.conftest import AuditedApp
from tests.unit.audit.test_audit_http import _DownProducer
from tests.unit.auth_support import admin_metadata, user_headers


class _Agents(services_pb2_grpc.AgentServiceServicer):
    def __init__(self, audited: AuditedApp) -> None:
        self.authenticator = audited.auth.authenticator

    def Act(  # noqa: N802
        self, request: services_pb2.ActRequest, context: grpc.ServicerContext
    ) -> services_pb2.ActResponse:
        try:
            grpc_principal(self.authenticator, context, Permission.ACT)
            if request.case_id == "closed":
                raise ForbiddenError("not yours")
            return services_pb2.ActResponse(command_id="cmd-1", case_id=request.case_id)
        except Exception as exc:
            abort_call(context, exc, method="AgentService.Act")

    def SetPresence(  # noqa: N802
        self, request: services_pb2.SetPresenceRequest, context: grpc.ServicerContext
    ) -> services_pb2.AgentStatus:
        return services_pb2.AgentStatus(agent=request.agent)

    def ListAgents(  # noqa: N802
        self, request: services_pb2.ListAgentsRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListAgentsResponse:
        return services_pb2.ListAgentsResponse()

    def ListSpecialists(  # noqa: N802
        self, request: services_pb2.ListSpecialistsRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListSpecialistsResponse:
        return services_pb2.ListSpecialistsResponse()


def _serve(audited: AuditedApp, audit: AuditLog) -> tuple[grpc.Server, grpc.Channel]:
    authenticator = audited.auth.authenticator
    interceptor = AuditInterceptor(
        audit, TrustedProxies(), lambda context: grpc_principal(authenticator, context)
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[interceptor])
    services_pb2_grpc.add_AgentServiceServicer_to_server(_Agents(audited), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, grpc.insecure_channel(f"127.0.0.1:{port}")


@pytest.fixture
def agents(audited: AuditedApp) -> Iterator[services_pb2_grpc.AgentServiceStub]:
    server, channel = _serve(audited, audited.audit)
    yield services_pb2_grpc.AgentServiceStub(channel)
    channel.close()
    server.stop(None)


def test_act_is_recorded_with_the_action_of_the_request(
    audited: AuditedApp, agents: services_pb2_grpc.AgentServiceStub
) -> None:
    request = services_pb2.ActRequest(case_id="case-3")
    request.reply.agent = "sanne"
    request.reply.text = "Beste jan@example.com, ..."
    metadata = (*admin_metadata(audited.runtime), ("user-agent-x", "tool"))
    assert agents.Act(request, metadata=metadata).command_id == "cmd-1"
    [record] = audited.records()
    assert (record.action, record.target_type, record.target_id) == (
        "case.reply",
        "case",
        "case-3",
    )
    assert (record.actor_id, record.via, record.outcome, record.status) == (
        "admin",
        "grpc",
        "ok",
        200,
    )
    assert record.client_ip == "127.0.0.1"
    assert record.details["method"] == "socialcare.v1.AgentService/Act"
    assert b"jan@example.com" not in record.SerializeToString()


def test_refused_calls_are_recorded_and_reads_are_not(
    audited: AuditedApp, agents: services_pb2_grpc.AgentServiceStub
) -> None:
    request = services_pb2.ActRequest(case_id="closed")
    request.claim.agent = "sanne"
    with pytest.raises(grpc.RpcError) as refused:
        agents.Act(request, metadata=admin_metadata(audited.runtime))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as anonymous:
        agents.Act(request)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    agents.ListAgents(services_pb2.ListAgentsRequest(), metadata=admin_metadata(audited.runtime))
    first, second = audited.records()
    assert (first.action, first.outcome, first.status, first.actor_id) == (
        "case.claim",
        "refused",
        403,
        "admin",
    )
    assert (second.outcome, second.status, second.actor_kind) == ("refused", 401, "anonymous")


def test_a_call_that_cannot_be_audited_ends_unavailable(audited: AuditedApp) -> None:
    server, channel = _serve(audited, AuditLog(_DownProducer(), timeout_s=0.1))
    try:
        stub = services_pb2_grpc.AgentServiceStub(channel)
        request = services_pb2.ActRequest(case_id="case-3")
        request.claim.agent = "sanne"
        headers = user_headers(audited.runtime, "sanne", roles=["agent"], agent_id="sanne")
        metadata = (("authorization", headers["Authorization"]),)
        with pytest.raises(grpc.RpcError) as failed:
            stub.Act(request, metadata=metadata)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "audit" in (failed.value.details() or "")
    finally:
        channel.close()
        server.stop(None)


def test_grpc_action_names() -> None:
    assert grpc_action(
        "/socialcare.v1.AccountService/RevokeApiKey", services_pb2.RevokeApiKeyRequest(key_id="k")
    ) == ("api_key.revoke", "api_key", "k")
    assert grpc_action(
        "/socialcare.v1.EscalationService/AcknowledgeEscalation",
        services_pb2.AcknowledgeEscalationRequest(escalation_id="e-1"),
    ) == ("escalation.acknowledge", "escalation", "e-1")
    assert grpc_action(
        "/socialcare.v1.AgentService/SetPresence", services_pb2.SetPresenceRequest(agent="sanne")
    ) == ("agent.set_presence", "agent", "sanne")
