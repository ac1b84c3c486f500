"""Wiring for SLA tracking: the clocks' timers, the SLA ledger and the ReportService.

* group "sla": care.cases in, care.sla out. The timers run in the loop's `tick()`, on the
  loop's thread, so warnings and breaches are published and committed like any effect;
  queue depth and at-risk gauges are read from its books at scrape time;
* group "sla-metrics": care.sla in, snapshots to sla.metrics-state; every SLA metric
  (histograms, met/breach/warning/at-risk counters) and the reports' hourly tallies are
  derived from the events, exactly once (ADR 0009);
* the gRPC ReportService on SOCIALCARE_SLA_GRPC_ADDRESS, over the ledger's tallies of the
  partitions this instance owns (the gateway adds up every instance's answer); every call
  needs a credential (ADR 0014).
"""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.registry import Collector

from socialcare.core.auth.service_auth import service_guard
from socialcare.core.clock import utc_now
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.sla.ledger_processor import GROUP as METRICS_GROUP
from socialcare.sla.ledger_processor import LedgerProcessor
from socialcare.sla.metrics_collector import register_sla_metrics
from socialcare.sla.processor import GROUP, SlaProcessor, register_sla_gauges
from socialcare.sla.rpc import USER_PERMISSIONS, ReportServer, ledger_servicer

# The collectors this process registered: a second `parts()` in one process (tests, a
# restarted runtime) replaces them instead of failing on duplicated time series.
_registered: list[Collector] = []


def parts(runtime: Runtime) -> ServiceParts:
    care = runtime.care
    timers = SlaProcessor(care, runtime.bus, utc_now)
    ledger = LedgerProcessor(care, changelog=runtime.bus)
    for collector in _registered:
        REGISTRY.unregister(collector)
    _registered[:] = [register_sla_gauges(timers, care), register_sla_metrics(ledger, care)]
    server = ReportServer(
        ledger_servicer(ledger),
        runtime.settings.sla_grpc_address,
        # Every call needs a credential (ADR 0014): the gateway's service token.
        guard=service_guard(
            runtime.auth(bootstrap=False).authenticator,
            server="sla's ReportService",
            user_permissions=USER_PERMISSIONS,
        ),
    )
    return ServiceParts(
        components=[
            runtime.consumer_loop(GROUP, timers),
            runtime.consumer_loop(METRICS_GROUP, ledger),
            server,
        ]
    )
