"""The gRPC AgentService on a real in-process server: the same actions, rules and command
ids as the REST routes (one `Actions` behind both), credentials from the `authorization`
metadata, and the error model's gRPC codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from socialcare.core.domain.topics import Topic
from socialcare.gateway.rpc import AgentGrpcServer, AgentServicer
from socialcare.v1 import commands_pb2, routing_pb2, services_pb2, services_pb2_grpc

from .desk import Desk, on_topic, open_desk, the_command


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    yield from open_desk(tmp_path)


@pytest.fixture
def stub(desk: Desk) -> Iterator[services_pb2_grpc.AgentServiceStub]:
    server = AgentGrpcServer(
        AgentServicer(desk.actions, desk.runtime.auth().authenticator), "127.0.0.1:0"
    )
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield services_pb2_grpc.AgentServiceStub(channel)
    finally:
        server.stop()
        server.join(5.0)


def metadata(desk: Desk, who: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", desk.headers(who)["authorization"]),)


def code_of(call: object) -> grpc.StatusCode:
    assert isinstance(call, grpc.RpcError)
    code: grpc.StatusCode = call.code()
    return code


def act(
    stub: services_pb2_grpc.AgentServiceStub, desk: Desk, who: str, request: services_pb2.ActRequest
) -> services_pb2.ActResponse | grpc.StatusCode:
    try:
        answer: services_pb2.ActResponse = stub.Act(
            request, timeout=10, metadata=metadata(desk, who)
        )
    except grpc.RpcError as exc:
        return code_of(exc)
    return answer


def test_act_queues_the_command_as_rest_does(
    desk: Desk, stub: services_pb2_grpc.AgentServiceStub
) -> None:
    request = services_pb2.ActRequest(
        case_id="acme-1",
        idempotency_key="k-1",
        consult=commands_pb2.ConsultSpecialist(
            agent="sanne", specialist="mei", question="Firmware?", product="router"
        ),
    )
    answer = act(stub, desk, "sanne", request)
    assert isinstance(answer, services_pb2.ActResponse)
    command = the_command(desk.runtime, answer.command_id)
    assert (command.consult.specialist, command.consult.product) == ("mei", "router")
    # The same key over REST is the same command: one code path, one id.
    rest = desk.post(
        "sanne",
        "/v1/cases/acme-1/consultations",
        {"agent": "sanne", "specialist": "mei", "question": "Firmware?", "product": "router"},
        **{"Idempotency-Key": "k-1"},
    )
    assert rest.json()["command_id"] == answer.command_id


@pytest.mark.parametrize(
    ("who", "act_request", "code"),
    [
        # another agent's name
        (
            "sanne",
            services_pb2.ActRequest(case_id="acme-1", claim=commands_pb2.ClaimCase(agent="olivia")),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        # another brand's case is as absent
        (
            "sanne",
            services_pb2.ActRequest(
                case_id="globex-1", claim=commands_pb2.ClaimCase(agent="sanne")
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        # the case's state: REST's 409
        (
            "sanne",
            services_pb2.ActRequest(
                case_id="acme-closed", claim=commands_pb2.ClaimCase(agent="sanne")
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        # the request: REST's 422
        (
            "sanne",
            services_pb2.ActRequest(
                case_id="acme-1",
                transfer=commands_pb2.AssignCase(agent="olivia", reason=" "),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        ("sanne", services_pb2.ActRequest(case_id="acme-1"), grpc.StatusCode.INVALID_ARGUMENT),
        # a merge naming no case: the case rules' merge_target_missing
        (
            "sanne",
            services_pb2.ActRequest(case_id="acme-1", merge=commands_pb2.MergeCase(agent="sanne")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        # operations read, never act
        (
            "ops",
            services_pb2.ActRequest(case_id="acme-1", claim=commands_pb2.ClaimCase(agent="sanne")),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
    ],
)
def test_act_refuses_with_the_error_models_codes(
    desk: Desk,
    stub: services_pb2_grpc.AgentServiceStub,
    who: str,
    act_request: services_pb2.ActRequest,
    code: grpc.StatusCode,
) -> None:
    assert act(stub, desk, who, act_request) == code


def test_every_action_of_the_request_reaches_its_command(
    desk: Desk, stub: services_pb2_grpc.AgentServiceStub
) -> None:
    actions = {
        "reply": services_pb2.ActRequest(
            reply=commands_pb2.ReplyToCase(agent="sanne", text="Morgen.", answers=["order_status"])
        ),
        "assign": services_pb2.ActRequest(
            transfer=commands_pb2.AssignCase(agent="olivia", reason="English")
        ),
        "note": services_pb2.ActRequest(note=commands_pb2.AddNote(agent="sanne", text="Belde")),
        "await_customer": services_pb2.ActRequest(
            await_customer=commands_pb2.AwaitCustomer(agent="sanne")
        ),
        "link_identity": services_pb2.ActRequest(
            link_identity=commands_pb2.LinkIdentity(agent="sanne", kind="crm", value="C-1")
        ),
        "refer": services_pb2.ActRequest(refer=commands_pb2.ReferCase(agent="sanne", to="store")),
        "set_priority": services_pb2.ActRequest(
            set_priority=commands_pb2.SetPriority(agent="sanne", level="high")
        ),
        "merge": services_pb2.ActRequest(
            merge=commands_pb2.MergeCase(agent="sanne", into_case_id="acme-queued")
        ),
    }
    for action, request in actions.items():
        request.case_id = "acme-1"
        answer = act(stub, desk, "sanne", request)
        assert isinstance(answer, services_pb2.ActResponse), (action, answer)
        assert the_command(desk.runtime, answer.command_id).WhichOneof("action") == action
    answer = act(
        stub,
        desk,
        "diego",
        services_pb2.ActRequest(
            case_id="acme-1",
            answer_consultation=commands_pb2.AnswerConsultation(
                specialist="diego", consultation_id="consult-1", answer="v2"
            ),
        ),
    )
    assert isinstance(answer, services_pb2.ActResponse)
    reopen = act(
        stub,
        desk,
        "sanne",
        services_pb2.ActRequest(
            case_id="acme-resolved", reopen=commands_pb2.ReopenCase(agent="sanne")
        ),
    )
    assert isinstance(reopen, services_pb2.ActResponse)
    resolve = act(
        stub,
        desk,
        "sanne",
        services_pb2.ActRequest(
            case_id="acme-2", resolve=commands_pb2.ResolveCase(agent="sanne", note="ok")
        ),
    )
    assert isinstance(resolve, services_pb2.ActResponse)


def test_calls_need_a_credential(desk: Desk, stub: services_pb2_grpc.AgentServiceStub) -> None:
    request = services_pb2.ActRequest(case_id="acme-1", claim=commands_pb2.ClaimCase(agent="sanne"))
    with pytest.raises(grpc.RpcError) as raised:
        stub.Act(request, timeout=10)
    assert code_of(raised.value) == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as bad:
        stub.Act(request, timeout=10, metadata=(("authorization", "Bearer nope"),))
    assert code_of(bad.value) == grpc.StatusCode.UNAUTHENTICATED


def test_set_presence(desk: Desk, stub: services_pb2_grpc.AgentServiceStub) -> None:
    status = stub.SetPresence(
        services_pb2.SetPresenceRequest(agent="sanne", presence=routing_pb2.PRESENCE_AWAY),
        timeout=10,
        metadata=metadata(desk, "sanne"),
    )
    assert (status.agent, status.presence) == ("sanne", routing_pb2.PRESENCE_AWAY)
    [request] = on_topic(desk.runtime, Topic.ASSIGNMENT_REQUESTS, routing_pb2.AssignmentRequest)
    assert (request.kind, request.case_id, request.presence) == (
        routing_pb2.ASSIGNMENT_REQUEST_KIND_PRESENCE,
        "agent:sanne",
        routing_pb2.PRESENCE_AWAY,
    )
    for who, agent, presence, code in (
        ("sanne", "olivia", routing_pb2.PRESENCE_AWAY, grpc.StatusCode.PERMISSION_DENIED),
        ("sanne", "sanne", routing_pb2.PRESENCE_UNSPECIFIED, grpc.StatusCode.INVALID_ARGUMENT),
        ("olivia", "gerrit", routing_pb2.PRESENCE_AWAY, grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            stub.SetPresence(
                services_pb2.SetPresenceRequest(agent=agent, presence=presence),
                timeout=10,
                metadata=metadata(desk, who),
            )
        assert code_of(raised.value) == code, (who, agent)
    lead = stub.SetPresence(
        services_pb2.SetPresenceRequest(agent="sanne", presence=routing_pb2.PRESENCE_OFFLINE),
        timeout=10,
        metadata=metadata(desk, "olivia"),
    )
    assert lead.presence == routing_pb2.PRESENCE_OFFLINE


def test_the_address_taken_fails_loudly(desk: Desk) -> None:
    first = AgentGrpcServer(
        AgentServicer(desk.actions, desk.runtime.auth().authenticator), "127.0.0.1:0"
    )
    first.start()
    try:
        second = AgentGrpcServer(
            AgentServicer(desk.actions, desk.runtime.auth().authenticator),
            f"127.0.0.1:{first.port}",
        )
        with pytest.raises(RuntimeError, match="SOCIALCARE_GATEWAY_GRPC_ADDRESS"):
            second.start()
    finally:
        first.stop()
        first.join(5.0)


def test_act_assigns_as_rest_does(desk: Desk, stub: services_pb2_grpc.AgentServiceStub) -> None:
    """Assign (no reason needed, unlike transfer): a lead gives a queued case to an agent;
    the same key over REST is the same command; an agent cannot give away a case that is
    not theirs."""
    request = services_pb2.ActRequest(
        case_id="acme-queued",
        idempotency_key="assign-1",
        assign=commands_pb2.AssignCase(agent="sanne"),
    )
    answer = act(stub, desk, "olivia", request)
    assert isinstance(answer, services_pb2.ActResponse)
    command = the_command(desk.runtime, answer.command_id)
    assert (command.assign.agent, command.assign.by, command.assign.reason) == (
        "sanne",
        "olivia",
        "",
    )
    rest = desk.post(
        "olivia",
        "/v1/cases/acme-queued/assign",
        {"agent": "sanne"},
        **{"Idempotency-Key": "assign-1"},
    )
    assert rest.status_code == 202
    assert rest.json()["command_id"] == answer.command_id
    away = services_pb2.ActRequest(
        case_id="acme-2", assign=commands_pb2.AssignCase(agent="lucia", by="sanne")
    )
    assert act(stub, desk, "sanne", away) == grpc.StatusCode.PERMISSION_DENIED
