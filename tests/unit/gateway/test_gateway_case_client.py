"""The CaseService client against real gRPC servers on loopback.

One instance: NOT_FOUND is an answer, an unreachable or slow routing is
`RoutingUnavailableError`, anything else is `CaseServiceError`; a closed client fails the
same typed way. Several instances, each owning some partitions (routing scaled out): the
owner's answer wins, the highest version wins when two owners answer, a partition nobody
owns is a retry, one deadline bounds the whole fan-out, lists merge, and a name resolves
(and re-resolves) to every instance.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import grpc
import pytest

from socialcare.gateway.cases import (
    CaseClient,
    CaseServiceError,
    RoutingUnavailableError,
    merge_satisfaction_rows,
)
from socialcare.gateway.instances import CaseTargets
from socialcare.gateway.settings import GatewaySettings
from socialcare.v1 import case_pb2, services_pb2, services_pb2_grpc
from tests.unit.fake_routing import serve


class ScriptedRouting(services_pb2_grpc.CaseServiceServicer):
    """Answers by case id: `slow` waits past any test deadline, `broken` fails."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def GetCase(  # noqa: N802 (gRPC method name)
        self, request: services_pb2.GetCaseRequest, context: grpc.ServicerContext
    ) -> case_pb2.Case:
        if request.case_id == "slow":
            self.release.wait(5.0)
        if request.case_id == "broken":
            context.abort(grpc.StatusCode.INTERNAL, "case book corrupted")
        if request.case_id == "missing":
            context.abort(grpc.StatusCode.NOT_FOUND, "case missing not found")
        return case_pb2.Case(id=request.case_id)

    def ListCases(  # noqa: N802
        self, request: services_pb2.ListCasesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListCasesResponse:
        return services_pb2.ListCasesResponse()

    def ListAgentStates(  # noqa: N802
        self, request: services_pb2.ListAgentStatesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListAgentStatesResponse:
        context.abort(grpc.StatusCode.INTERNAL, "agent changelog corrupted")

    def SatisfactionReport(  # noqa: N802
        self, request: services_pb2.SatisfactionReportRequest, context: grpc.ServicerContext
    ) -> services_pb2.SatisfactionReportResponse:
        return services_pb2.SatisfactionReportResponse()


@pytest.fixture
def routing() -> Iterator[tuple[str, ScriptedRouting]]:
    servicer = ScriptedRouting()
    server, address = serve(servicer)
    yield address, servicer
    servicer.release.set()
    server.stop(grace=None).wait()


@pytest.fixture
def client(routing: tuple[str, ScriptedRouting]) -> Iterator[CaseClient]:
    case_client = CaseClient(routing[0], timeout_s=0.3)
    yield case_client
    case_client.close()


def test_found_and_not_found(client: CaseClient) -> None:
    found = client.get_case("case-1")
    assert found is not None and found.id == "case-1"
    assert client.get_case("missing") is None


def test_deadline_is_unavailable(client: CaseClient) -> None:
    with pytest.raises(RoutingUnavailableError, match="DEADLINE_EXCEEDED"):
        client.get_case("slow")


def test_other_failures_are_case_service_errors(client: CaseClient) -> None:
    with pytest.raises(CaseServiceError, match="INTERNAL case book corrupted") as caught:
        client.get_case("broken")
    assert not isinstance(caught.value, RoutingUnavailableError)


def test_nothing_listening_is_unavailable() -> None:
    case_client = CaseClient(f"127.0.0.1:{closed_port()}", timeout_s=2.0)
    try:
        with pytest.raises(RoutingUnavailableError, match="UNAVAILABLE"):
            case_client.get_case("case-1")
    finally:
        case_client.close()


def test_closed_by_the_component_lifecycle(client: CaseClient) -> None:
    client.start()
    client.stop()
    assert client.get_case("case-1") is not None  # still serving while HTTP drains
    client.join(1.0)
    with pytest.raises(RoutingUnavailableError, match="closed"):
        client.get_case("case-1")
    client.close()  # idempotent


# Routing scaled out: instances owning partitions.


def partition_of(case_id: str) -> int:
    """The test's partitioner: case ids are `case-<partition>-<n>`."""
    return int(case_id.split("-")[1])


def make_case(case_id: str, *, version: int = 1, opened_s: int = 0) -> case_pb2.Case:
    case = case_pb2.Case(id=case_id, version=version, queue="care-en")
    case.opened_at.seconds = 1_740_000_000 + opened_s
    return case


class PartitionedRouting(services_pb2_grpc.CaseServiceServicer):
    """One routing instance as the protocol says: it answers for the partitions it owns
    (the case, or NOT_FOUND), FAILED_PRECONDITION for the others; ListCases returns the
    cases of its partitions. While `hanging` is set it answers nothing until released."""

    def __init__(self, owned: set[int], cases: Sequence[case_pb2.Case]) -> None:
        self.owned = owned
        self.cases = {case.id: case for case in cases}
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def GetCase(  # noqa: N802 (gRPC method name)
        self, request: services_pb2.GetCaseRequest, context: grpc.ServicerContext
    ) -> case_pb2.Case:
        self.calls += 1
        if self.hanging.is_set():
            self.release.wait(10.0)
        partition = partition_of(request.case_id)
        if partition not in self.owned:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"case partition {partition} is not owned by this instance",
            )
        if request.case_id not in self.cases:
            context.abort(grpc.StatusCode.NOT_FOUND, f"case {request.case_id} not found")
        return self.cases[request.case_id]

    def ListCases(  # noqa: N802
        self, request: services_pb2.ListCasesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListCasesResponse:
        if self.hanging.is_set():
            self.release.wait(10.0)
        mine = [case for case in self.cases.values() if partition_of(case.id) in self.owned]
        mine.sort(key=lambda c: (c.opened_at.seconds, c.id), reverse=True)
        return services_pb2.ListCasesResponse(cases=mine[: request.limit])

    def ListAgentStates(  # noqa: N802
        self, request: services_pb2.ListAgentStatesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListAgentStatesResponse:
        """The instance owning partition 0 runs the assigner (its topic's one partition)."""
        if 0 not in self.owned:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the assigner runs elsewhere")
        return services_pb2.ListAgentStatesResponse(
            agents=[services_pb2.AgentStatus(agent="sanne", load=len(self.cases))]
        )

    def SatisfactionReport(  # noqa: N802
        self, request: services_pb2.SatisfactionReportRequest, context: grpc.ServicerContext
    ) -> services_pb2.SatisfactionReportResponse:
        """One CSAT answer of score 5 (of two surveys sent) per case of its partitions."""
        mine = [case for case in self.cases.values() if partition_of(case.id) in self.owned]
        return services_pb2.SatisfactionReportResponse(
            rows=[
                services_pb2.SatisfactionRow(
                    kind=case_pb2.SURVEY_KIND_CSAT,
                    channel="x",
                    language="en",
                    sent=2 * len(mine),
                    answered=len(mine),
                    score_counts=[0, 0, 0, 0, 0, len(mine)],
                )
            ]
            if mine
            else []
        )


@dataclass
class Instance:
    address: str
    port: int
    servicer: PartitionedRouting
    server: grpc.Server


@dataclass
class Cluster:
    """Routing instances started by a test; all stopped at the end."""

    instances: list[Instance] = field(default_factory=list)
    clients: list[CaseClient] = field(default_factory=list)

    def start(self, owned: set[int], cases: Sequence[case_pb2.Case] = ()) -> Instance:
        servicer = PartitionedRouting(owned, cases)
        server, address = serve(servicer, workers=8)
        port = int(address.rsplit(":", 1)[1])
        instance = Instance(address, port, servicer, server)
        self.instances.append(instance)
        return instance

    def client(self, targets: str, *, timeout_s: float) -> CaseClient:
        case_client = CaseClient(targets, timeout_s=timeout_s)
        self.clients.append(case_client)
        return case_client

    def stop(self) -> None:
        for case_client in self.clients:
            case_client.close()
        for instance in self.instances:
            instance.servicer.release.set()
            instance.server.stop(grace=None).wait()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    running = Cluster()
    yield running
    running.stop()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def targets(*instances: Instance | str) -> str:
    return ",".join(i if isinstance(i, str) else i.address for i in instances)


CASES = [
    make_case("case-0-a", opened_s=10),
    make_case("case-1-a", opened_s=30),
    make_case("case-2-a", opened_s=20),
    make_case("case-2-b", opened_s=40),
    make_case("case-3-a", opened_s=40),
]


def test_the_owner_answers_and_non_owners_are_ignored(cluster: Cluster) -> None:
    a = cluster.start({0, 1}, CASES)
    b = cluster.start({2}, CASES)
    c = cluster.start({3}, CASES)
    client = cluster.client(targets(a, b, c), timeout_s=2.0)

    for case_id in ("case-0-a", "case-2-b", "case-3-a"):
        found = client.get_case(case_id)
        assert found is not None and found.id == case_id
    assert (a.servicer.calls, b.servicer.calls, c.servicer.calls) == (3, 3, 3)


def test_not_found_from_the_owner_is_none(cluster: Cluster) -> None:
    a = cluster.start({0, 1}, CASES)
    b = cluster.start({2, 3}, CASES)
    client = cluster.client(targets(a, b), timeout_s=2.0)

    assert client.get_case("case-2-zzz") is None


@pytest.mark.parametrize("newer_first", [True, False])
def test_the_highest_version_wins_when_two_owners_answer(
    cluster: Cluster, newer_first: bool
) -> None:
    old = cluster.start({1}, [make_case("case-1-a", version=3)])
    new = cluster.start({1}, [make_case("case-1-a", version=4)])
    other = cluster.start({0}, CASES)
    order = (new, old, other) if newer_first else (other, old, new)
    client = cluster.client(targets(*order), timeout_s=2.0)

    found = client.get_case("case-1-a")
    assert found is not None and found.version == 4


def test_a_case_wins_over_not_found_from_another_owner(cluster: Cluster) -> None:
    # During a rebalance the new owner may not have the case yet while the old still has.
    rebuilding = cluster.start({1}, [])
    old = cluster.start({1}, [make_case("case-1-a", version=7)])
    client = cluster.client(targets(rebuilding, old), timeout_s=2.0)

    found = client.get_case("case-1-a")
    assert found is not None and found.version == 7


def test_an_instance_down_does_not_matter_when_the_owner_answers(cluster: Cluster) -> None:
    owner = cluster.start({2}, CASES)
    other = cluster.start({0, 1, 3}, CASES)
    down = f"127.0.0.1:{closed_port()}"
    client = cluster.client(targets(down, owner, other), timeout_s=2.0)

    found = client.get_case("case-2-a")
    assert found is not None and found.id == "case-2-a"
    assert client.get_case("case-2-none") is None


def test_owner_unreachable_is_unavailable(cluster: Cluster) -> None:
    other = cluster.start({0, 1, 3}, CASES)
    down = f"127.0.0.1:{closed_port()}"
    client = cluster.client(targets(other, down), timeout_s=2.0)

    with pytest.raises(RoutingUnavailableError, match="UNAVAILABLE") as caught:
        client.get_case("case-2-a")
    assert "FAILED_PRECONDITION case partition 2 is not owned" in str(caught.value)


def test_a_partition_nobody_owns_is_unavailable(cluster: Cluster) -> None:
    a = cluster.start({0, 1}, CASES)
    b = cluster.start({3}, CASES)
    client = cluster.client(targets(a, b), timeout_s=2.0)

    with pytest.raises(RoutingUnavailableError, match="rebalance") as caught:
        client.get_case("case-2-a")
    assert str(caught.value).count("FAILED_PRECONDITION") == 2


def test_another_failure_is_a_case_service_error(
    cluster: Cluster, routing: tuple[str, ScriptedRouting]
) -> None:
    non_owner = cluster.start({0}, CASES)
    client = cluster.client(targets(non_owner, routing[0]), timeout_s=2.0)

    with pytest.raises(CaseServiceError, match="INTERNAL case book corrupted") as caught:
        client.get_case("broken")
    assert not isinstance(caught.value, RoutingUnavailableError)


def test_one_deadline_bounds_the_fan_out(cluster: Cluster) -> None:
    owner = cluster.start({1}, CASES)
    stuck = [cluster.start({0}, CASES), cluster.start({2}, CASES), cluster.start({3}, CASES)]
    for instance in stuck:
        instance.servicer.hanging.set()
    client = cluster.client(targets(*stuck, owner), timeout_s=0.5)

    started = time.monotonic()
    found = client.get_case("case-1-a")
    took = time.monotonic() - started
    assert found is not None and found.id == "case-1-a"
    # The calls run in parallel: three hanging instances cost one deadline, not three.
    assert 0.45 <= took < 1.2

    started = time.monotonic()
    with pytest.raises(RoutingUnavailableError, match="DEADLINE_EXCEEDED"):
        client.get_case("case-3-a")  # its owner hangs
    assert time.monotonic() - started < 1.2


def test_lists_merge_newest_first(cluster: Cluster) -> None:
    a = cluster.start({0, 1}, CASES)
    b = cluster.start({2}, CASES)
    c = cluster.start({3}, CASES)
    client = cluster.client(targets(a, b, c), timeout_s=2.0)

    listed = client.list_cases(limit=100)
    assert [case.id for case in listed] == [
        "case-3-a",  # opened at 40, the larger id first
        "case-2-b",
        "case-1-a",
        "case-2-a",
        "case-0-a",
    ]
    assert [case.id for case in client.list_cases(limit=2)] == ["case-3-a", "case-2-b"]


def test_lists_keep_the_newest_version_once(cluster: Cluster) -> None:
    old = cluster.start({1}, [make_case("case-1-a", version=2, opened_s=5)])
    new = cluster.start({1, 0}, [make_case("case-1-a", version=3, opened_s=5), CASES[0]])
    client = cluster.client(targets(old, new), timeout_s=2.0)

    listed = client.list_cases()
    assert [(case.id, case.version) for case in listed] == [("case-0-a", 1), ("case-1-a", 3)]


def test_a_list_with_an_instance_missing_is_unavailable(cluster: Cluster) -> None:
    a = cluster.start({0, 1, 2, 3}, CASES)
    client = cluster.client(targets(a, f"127.0.0.1:{closed_port()}"), timeout_s=2.0)

    with pytest.raises(RoutingUnavailableError, match=r"ListCases.*UNAVAILABLE"):
        client.list_cases()
    with pytest.raises(ValueError, match="limit"):
        client.list_cases(limit=0)


@pytest.mark.parametrize("form", ["localhost:{port}", "dns:///localhost:{port}"])
def test_a_name_resolves_to_its_addresses(cluster: Cluster, form: str) -> None:
    owner = cluster.start({0, 1, 2, 3}, CASES)
    client = cluster.client(form.format(port=owner.port), timeout_s=2.0)
    assert client.addresses() == ()  # resolved on the first call, not before

    found = client.get_case("case-1-a")
    assert found is not None and found.id == "case-1-a"
    # localhost may also have ::1, where nothing listens: the owner's answer still wins.
    assert owner.address in client.addresses()
    assert all(a.startswith(("127.", "[::1]")) for a in client.addresses())


class ScriptedResolver:
    """A name's addresses, as a test says; raises OSError while `addresses` is empty."""

    def __init__(self, addresses: Sequence[str]) -> None:
        self.addresses = list(addresses)
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if not self.addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.addresses)


def eventually(check: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_name_is_re_resolved_as_instances_come_and_go(cluster: Cluster) -> None:
    first = cluster.start({0, 1}, CASES)
    second = cluster.start({2, 3}, CASES)
    resolver = ScriptedResolver([first.address])
    client = CaseClient("routing-headless:50052", timeout_s=0.3, refresh_s=0.1, resolver=resolver)
    cluster.clients.append(client)

    with pytest.raises(RoutingUnavailableError, match="rebalance"):
        client.get_case("case-2-a")  # only `first` is known, and it does not own 2
    assert resolver.asked == [("routing-headless", 50052)]

    resolver.addresses = [first.address, second.address]  # a pod came up
    eventually(lambda: _answers(client, "case-2-a"))
    assert client.addresses() == (first.address, second.address)

    resolver.addresses = [second.address]  # a pod went away
    # Names are re-resolved while the client is in use: each check makes a call.
    eventually(lambda: _answers(client, "case-3-a") and client.addresses() == (second.address,))
    calls = first.servicer.calls
    assert client.get_case("case-3-a") is not None
    assert first.servicer.calls == calls

    resolver.addresses = []  # the name stops resolving: the known instances stay
    time.sleep(0.3)
    assert client.get_case("case-3-a") is not None
    assert client.addresses() == (second.address,)


def test_a_name_that_does_not_resolve_yet_is_unavailable(cluster: Cluster) -> None:
    owner = cluster.start({0, 1, 2, 3}, CASES)
    resolver = ScriptedResolver([])
    client = CaseClient("routing-headless:50052", timeout_s=0.3, resolver=resolver)
    cluster.clients.append(client)

    with pytest.raises(RoutingUnavailableError, match=r"resolve to no address.*gaierror"):
        client.get_case("case-1-a")
    with pytest.raises(RoutingUnavailableError, match="resolve to no address"):
        client.get_case("case-1-a")
    assert len(resolver.asked) == 1  # a failed name is not asked again on every call

    resolver.addresses = [owner.address]
    eventually(lambda: _answers(client, "case-1-a"))


def _answers(client: CaseClient, case_id: str) -> bool:
    try:
        return client.get_case(case_id) is not None
    except RoutingUnavailableError:
        return False


# The targets setting.


@pytest.mark.parametrize(
    ("text", "addresses", "host", "port"),
    [
        ("127.0.0.1:50052", ("127.0.0.1:50052",), "", 0),
        ("[::1]:50052", ("[::1]:50052",), "", 0),
        (
            "10.0.0.1:1, 10.0.0.2:1,routing-0.routing:2",
            ("10.0.0.1:1", "10.0.0.2:1", "routing-0.routing:2"),
            "",
            0,
        ),
        ("routing:50052", (), "routing", 50052),
        (
            "dns:///routing.care.svc.cluster.local:50052",
            (),
            "routing.care.svc.cluster.local",
            50052,
        ),
    ],
)
def test_targets_parse(text: str, addresses: tuple[str, ...], host: str, port: int) -> None:
    parsed = CaseTargets.parse(text)
    assert (parsed.addresses, parsed.host, parsed.port) == (addresses, host, port)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "empty entry"),
        ("a:1,", "empty entry"),
        ("routing", "not host:port"),
        ("routing:http", "not host:port"),
        ("routing:0", "between 1 and 65535"),
        ("::1:50052", "in brackets"),
        ("[routing]:1", "only an IPv6"),
        ("dns://8.8.8.8/routing:1", "no DNS server authority"),
        ("dns:///routing:1,a:2", "must be the only target"),
        ("a:1,a:1", "twice"),
    ],
)
def test_bad_targets_say_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        CaseTargets.parse(text)


def test_settings_default_to_the_platform_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOCIALCARE_CASE_GRPC_TARGETS", raising=False)
    settings = GatewaySettings(case_grpc_address="10.1.2.3:50052")
    assert settings.case_grpc_targets == "10.1.2.3:50052"

    monkeypatch.setenv("SOCIALCARE_CASE_GRPC_TARGETS", "dns:///routing-headless:50052")
    assert GatewaySettings().case_grpc_targets == "dns:///routing-headless:50052"

    monkeypatch.setenv("SOCIALCARE_CASE_GRPC_TARGETS", "routing-headless")
    with pytest.raises(ValueError, match="SOCIALCARE_CASE_GRPC_TARGETS: 'routing-headless'"):
        GatewaySettings()


# --- agent states and satisfaction --------------------------------------------------------


def test_agent_states_come_from_the_instance_running_the_assigner(cluster: Cluster) -> None:
    a = cluster.start({1}, CASES)
    b = cluster.start({0, 2, 3}, CASES)
    states = cluster.client(targets(a, b), timeout_s=2.0).list_agent_states()
    assert [(s.agent, s.load) for s in states.agents] == [("sanne", len(CASES))]
    only_a = cluster.client(targets(a), timeout_s=2.0)
    with pytest.raises(RoutingUnavailableError, match="no routing instance runs the assigner"):
        only_a.list_agent_states()
    down = cluster.client(targets(a, f"127.0.0.1:{closed_port()}"), timeout_s=2.0)
    with pytest.raises(RoutingUnavailableError):
        down.list_agent_states()


def test_agent_states_failing_elsewhere_is_an_error(routing: tuple[str, ScriptedRouting]) -> None:
    address, _ = routing
    client = CaseClient(address, timeout_s=2.0)
    try:
        with pytest.raises(CaseServiceError, match="agent changelog corrupted") as raised:
            client.list_agent_states()
        assert not isinstance(raised.value, RoutingUnavailableError)
    finally:
        client.close()


def test_satisfaction_rows_of_every_instance_add_up(cluster: Cluster) -> None:
    a = cluster.start({0, 1}, CASES)
    b = cluster.start({2, 3}, CASES)
    client = cluster.client(targets(a, b), timeout_s=2.0)
    [row] = client.satisfaction_report(services_pb2.SatisfactionReportRequest())
    assert (row.channel, row.language, row.sent, row.answered) == ("x", "en", 10, 5)
    assert list(row.score_counts) == [0, 0, 0, 0, 0, 5]


def test_satisfaction_needs_every_instance(cluster: Cluster) -> None:
    a = cluster.start({0, 1, 2, 3}, CASES)
    client = cluster.client(targets(a, f"127.0.0.1:{closed_port()}"), timeout_s=1.0)
    with pytest.raises(RoutingUnavailableError):
        client.satisfaction_report(services_pb2.SatisfactionReportRequest())


def test_satisfaction_rows_merge_by_kind_channel_and_language() -> None:
    csat = services_pb2.SatisfactionRow(
        kind=case_pb2.SURVEY_KIND_CSAT,
        channel="x",
        language="nl",
        sent=1,
        answered=1,
        score_counts=[0, 0, 0, 1],
    )
    longer = services_pb2.SatisfactionRow(
        kind=case_pb2.SURVEY_KIND_CSAT,
        channel="x",
        language="nl",
        sent=2,
        answered=1,
        score_counts=[0, 0, 0, 0, 0, 1],
    )
    nps = services_pb2.SatisfactionRow(
        kind=case_pb2.SURVEY_KIND_NPS, channel="x", language="nl", sent=1
    )
    merged = merge_satisfaction_rows([csat, nps, longer])
    assert [(r.kind, r.sent, r.answered, list(r.score_counts)) for r in merged] == [
        (case_pb2.SURVEY_KIND_CSAT, 3, 2, [0, 0, 0, 1, 0, 1]),
        (case_pb2.SURVEY_KIND_NPS, 1, 0, []),
    ]
