"""`GET /v1/reports/sla` end to end through real gRPC: the gateway's router and client, two
real ReportService servers (each owning some care.sla partitions, as two sla instances
do), and a fake ledger view under each server as the edge.

What it proves: the answer is the sum of the instances (equal to one instance holding
every partition), parameters are checked as 400 naming the field, brand-restricted
viewers see their brands only, and an incomplete sum (an instance down, a partition
between owners) is a 503 with Retry-After, never figures that are silently too low.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from socialcare.core.domain.sla_reports import OutcomeKey, ReportQuery, Tally, build_report
from socialcare.core.runtime import Runtime
from socialcare.gateway.access import BrandScope
from socialcare.gateway.reports import ReportClient, brand_filter, reports_router
from socialcare.gateway.settings import GatewaySettings
from socialcare.sla.rpc import HourlyView, ReportServer, ReportServicer
from tests.unit.auth_support import admin_headers, authed_app, care_runtime, user_headers
from tests.unit.reports.test_sla_report_figures import key, tally
from tests.unit.service_credentials import CREDENTIAL, service_guard

NOW = datetime(2026, 11, 26, 18, 40, tzinfo=UTC)
THIS_HOUR = NOW.replace(minute=0)
HOUR = timedelta(hours=1)
PARTITIONS = 4

CARE_YAML = """
sla_policies:
  - {name: any, languages: ["*"], first_response: 1h}
queues:
  - {name: care-nl, languages: [nl]}
  - {name: care-en, languages: [en]}
  - {name: care-global, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne, languages: [en, nl], capacity: 8}
brands:
  - {name: acme}
  - {name: globex}
"""

# (partition, hour, key, tally): what the ledgers of the four care.sla partitions hold.
LEDGER: list[tuple[int, datetime, OutcomeKey, Tally]] = [
    (0, THIS_HOUR - 2 * HOUR, key(brand="acme"), tally(45.0, 50.0, met=2)),
    (1, THIS_HOUR - 3 * HOUR, key(brand="acme", channel="facebook"), tally(400.0, met=1)),
    (2, THIS_HOUR - HOUR, key(brand="globex", language="en"), tally(5000.0, breached=1)),
    (3, THIS_HOUR, key(brand="globex", language="en"), tally(100.0, 200.0, met=2)),
    (3, THIS_HOUR - 30 * HOUR, key(brand="acme"), tally(20.0, met=1)),  # yesterday
    (2, THIS_HOUR - HOUR, key(brand="other", clock="resolution"), tally(breached=1)),
]


@dataclass
class SlaInstance:
    """One sla instance: a real ReportService over the ledgers of `owned` partitions."""

    owned: set[int]
    down: bool = False
    failing: bool = False
    server: ReportServer = field(init=False)

    def __post_init__(self) -> None:
        self.server = ReportServer(
            ReportServicer(self.read, retention=timedelta(days=35), clock=lambda: NOW),
            "127.0.0.1:0",
            guard=service_guard(),
        )
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def read(self, start: datetime, end: datetime) -> HourlyView:
        if self.failing:
            raise RuntimeError("ledger broken")
        owned = frozenset(self.owned)
        return HourlyView(
            partitions=owned,
            partition_count=PARTITIONS,
            tallies=[(h, k, t) for p, h, k, t in LEDGER if p in owned and start <= h < end],
        )

    def stop(self) -> None:
        self.server.stop()
        self.server.join(5.0)


@dataclass
class World:
    runtime: Runtime
    instances: list[SlaInstance]
    client: TestClient
    admin: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    runtime = care_runtime(tmp_path_factory.mktemp("reports"), CARE_YAML, embedded_sync="normal")
    instances = [SlaInstance({0, 2}), SlaInstance({1, 3})]
    reports = ReportClient(
        ",".join(i.address for i in instances), timeout_s=2.0, credential=CREDENTIAL
    )
    app = authed_app(
        runtime, [reports_router(care=runtime.care, reports=reports, clock=lambda: NOW)]
    )
    with TestClient(app) as client:
        yield World(runtime, instances, client, admin_headers(runtime))
    reports.close()
    for instance in instances:
        instance.stop()
    runtime.close()


@pytest.fixture(autouse=True)
def healthy(world: World) -> Iterator[None]:
    """Every test starts (and leaves) with both instances owning their partitions."""
    yield
    world.instances[0].owned, world.instances[1].owned = {0, 2}, {1, 3}
    for instance in world.instances:
        instance.failing = False


def get(world: World, headers: dict[str, str] | None = None, /, **params: str) -> Any:
    return world.client.get(
        "/v1/reports/sla", params=params, headers=world.admin if headers is None else headers
    )


def one_instance(**kwargs: Any) -> dict[str, Any]:
    """What a single instance holding every partition reports, as the gateway renders it."""
    report = build_report(
        ReportQuery.of(NOW - 24 * HOUR, NOW, **kwargs),
        [(h, k, t) for _, h, k, t in LEDGER],
        partitions=range(PARTITIONS),
        partition_count=PARTITIONS,
    )
    return {
        "met": report.total.met,
        "breached": report.total.breached,
        "p90": report.total.p90_seconds,
    }


def test_the_last_day_is_the_sum_of_every_instance(world: World) -> None:
    response = get(world)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["requested"] == {"from": "2026-11-25T18:40:00Z", "to": "2026-11-26T18:40:00Z"}
    assert body["covered"] == {"from": "2026-11-25T18:00:00Z", "to": "2026-11-26T19:00:00Z"}
    assert body["group_by"] == [] and body["rows"] == []
    total = body["total"]
    # Yesterday's tally (30 h ago) is outside; four tallies of partitions on both instances.
    assert (total["met"], total["breached"], total["observed"]) == (5, 2, 6)
    assert total["attainment"] == pytest.approx(5 / 7)
    assert total["mean_seconds"] == pytest.approx((45 + 50 + 400 + 5000 + 100 + 200) / 6)
    whole = one_instance()
    assert (total["met"], total["breached"]) == (whole["met"], whole["breached"])
    assert total["p90_seconds"] == pytest.approx(whole["p90"])


def test_rows_grouped_by_the_dimensions_asked_for(world: World) -> None:
    body = get(world, group_by="language,channel", clock="first_response").json()
    assert body["group_by"] == ["language", "channel"]
    assert [(r["group"], r["met"], r["breached"]) for r in body["rows"]] == [
        ({"language": "en", "channel": "x"}, 2, 1),
        ({"language": "nl", "channel": "facebook"}, 1, 0),
        ({"language": "nl", "channel": "x"}, 2, 0),
    ]
    nl_x = body["rows"][2]
    assert nl_x["p50_seconds"] == pytest.approx(30 + 30 * 1 / 2)  # 45 s, 50 s: both in (30, 60]
    assert body["total"]["breached"] == 1  # the resolution breach is filtered out


def test_dates_are_whole_days_and_times_keep_their_offset(world: World) -> None:
    body = get(world, **{"from": "2026-11-26", "to": "2026-11-26T19:30:00+01:00"}).json()
    assert body["requested"] == {"from": "2026-11-26T00:00:00Z", "to": "2026-11-26T18:30:00Z"}
    assert body["covered"]["to"] == "2026-11-26T19:00:00Z"


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"from": "yesterday"}, "from", "expected RFC 3339"),
        ({"to": "2026-11-26T10:00:00"}, "to", "needs an offset"),
        ({"from": "2026-11-26T12:00:00Z", "to": "2026-11-26T12:00:00Z"}, "from", "not before to"),
        ({"group_by": "language,mood"}, "group_by", "cannot group by 'mood'"),
        ({"clock": "lunch"}, "clock", "unknown clock 'lunch'"),
        ({"group_by": "x" * 1001}, "group_by", "longer than 1000"),
        # Only the sla service knows the retention: its INVALID_ARGUMENT becomes the 400.
        ({"from": "2026-09-01"}, "from", "35-day retention"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(
    world: World, params: dict[str, str], field: str, words: str
) -> None:
    response = get(world, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["field"] == field
    assert words in error["message"]


def test_a_brand_restricted_viewer_sees_the_figures_of_their_brands_only(world: World) -> None:
    ops = user_headers(world.runtime, "ops-globex", roles=["operations"], brands=["globex"])
    body = get(world, ops, group_by="brand").json()
    assert [r["group"] for r in body["rows"]] == [{"brand": "globex"}]
    assert (body["total"]["met"], body["total"]["breached"]) == (2, 1)
    denied = get(world, ops, brand="acme")
    assert denied.status_code == 403
    assert denied.json()["error"]["field"] == "brand"
    # The admin sees every brand, and those outside the configuration as "other".
    admin = get(world, group_by="brand").json()
    assert [r["group"]["brand"] for r in admin["rows"]] == ["acme", "globex", "other"]
    assert get(world, brand="acme").json()["total"]["met"] == 3


def test_reports_need_read_operations(world: World) -> None:
    agent = user_headers(world.runtime, "agent-1", roles=["agent"], all_brands=True)
    assert get(world, agent).status_code == 403
    assert world.client.get("/v1/reports/sla").status_code == 401


def test_a_partition_without_owner_is_503_not_a_partial_answer(world: World) -> None:
    world.instances[1].owned = {1}  # partition 3 is between owners (a rebalance)
    response = get(world)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    error = response.json()["error"]
    assert error["code"] == "sla_unavailable"
    assert "partition(s) 3" in error["message"]
    world.instances[1].owned = {1, 2, 3}  # partition 2 on both for a moment
    assert "counted by two" in get(world).json()["error"]["message"]


def test_an_instance_that_fails_is_502(world: World) -> None:
    world.instances[0].failing = True
    response = get(world)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "sla_failed"


def test_an_unreachable_instance_is_503_with_retry_after(world: World) -> None:
    with socket.socket() as probe:  # an address on loopback where nothing listens
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
        reports = ReportClient(
            f"{world.instances[0].address},{address}", timeout_s=1.0, credential=CREDENTIAL
        )
        app = authed_app(
            world.runtime,
            [reports_router(care=world.runtime.care, reports=reports, clock=lambda: NOW)],
        )
        with TestClient(app) as client:
            response = client.get("/v1/reports/sla", headers=world.admin)
        reports.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "sla_unavailable"


def test_an_unreachable_instance_owning_nothing_does_not_stop_the_report(world: World) -> None:
    """Completeness is the test: a third instance that is down (scaled away) while the two
    others own every partition changes nothing."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
        reports = ReportClient(
            ",".join([*(i.address for i in world.instances), dead]),
            timeout_s=1.0,
            credential=CREDENTIAL,
        )
        try:
            report = reports.sla_report(ReportQuery.of(NOW - 24 * HOUR, NOW))
        finally:
            reports.close()
    assert report.total.met == 5
    assert sorted(report.partitions) == list(range(PARTITIONS))


def test_a_name_resolves_to_every_instance(world: World) -> None:
    addresses = [i.address for i in world.instances]
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return addresses

    reports = ReportClient(
        "dns:///sla:50053", resolver=resolver, timeout_s=2.0, credential=CREDENTIAL
    )
    try:
        report = reports.sla_report(ReportQuery.of(NOW - 24 * HOUR, NOW))
        assert asked == [("sla", 50053)]
        assert sorted(reports.addresses()) == sorted(addresses)
        assert report.total.met == 5
    finally:
        reports.close()


def test_the_settings_default_to_the_sla_address_and_check_the_targets() -> None:
    settings = GatewaySettings(sla_grpc_address="10.0.0.7:50053")
    assert settings.sla_grpc_targets == "10.0.0.7:50053"
    assert GatewaySettings(sla_grpc_targets="a:1,b:2").sla_grpc_targets == "a:1,b:2"
    with pytest.raises(ValueError, match="SOCIALCARE_SLA_GRPC_TARGETS"):
        GatewaySettings(sla_grpc_targets="a:1,,b:2")


def test_a_viewer_of_no_configured_brand_asks_for_none(world: World) -> None:
    """A principal whose brands were all removed from the configuration sees nothing: the
    filter is the empty set, not "any" (which an empty list means on the wire)."""
    assert brand_filter(BrandScope(world.runtime.care, frozenset()), []) == []
    assert brand_filter(BrandScope(world.runtime.care, None), []) is None
    assert brand_filter(BrandScope(world.runtime.care, frozenset({"globex"})), []) == ["globex"]


def test_openapi_documents_the_parameters_and_the_error_answers(world: World) -> None:
    operation = world.client.get("/openapi.json").json()["paths"]["/v1/reports/sla"]["get"]
    names = [parameter["name"] for parameter in operation["parameters"]]
    assert names == ["from", "to", "group_by", "clock", "language", "brand"]
    assert {"400", "401", "403", "502", "503"} <= set(operation["responses"])
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/SlaReportRead")
