"""The series names that deploy/prometheus and deploy/grafana may query, in one place.

A rule or a dashboard panel that names a metric nobody exports shows nothing and fails
silently (an alert that can never fire looks exactly like a healthy system), so the deploy
tests check every name an expression uses against this catalog:

- the metrics the platform registers when its service modules are imported (read from
  prometheus_client's REGISTRY, expanded to the series names a scrape shows: a counter
  `x` is scraped as `x_total`, a histogram as `x_bucket`/`x_sum`/`x_count`);
- `COLLECTED_AT_RUNTIME`: metrics exported by custom collectors that a service registers
  only when it is wired into a process (the SLA ledger's collector, the SLA books' gauges),
  or by modules being written alongside these files; they are not in REGISTRY after an
  import, so they are listed here by hand, with who exports them. Keep this the only such
  list: a metric renamed in its exporter must be renamed here, and the rules and dashboards
  then fail their tests until they follow;
- the recording rules of deploy/prometheus/rules (names with a colon);
- `PROMETHEUS_SERIES`: series Prometheus itself writes for every target (`up`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
GRAFANA_DIR = REPO / "deploy" / "grafana"

_HISTOGRAM = ("_bucket", "_sum", "_count")

# name as registered -> (kind, exported by). Series names are derived from the kind.
COLLECTED_AT_RUNTIME: dict[str, tuple[str, str]] = {
    # SLA ledger (sla/metrics_collector.py): derived from care.sla, per partition.
    "socialcare_first_response_seconds": ("histogram", "sla ledger collector"),
    "socialcare_next_response_seconds": ("histogram", "sla ledger collector"),
    "socialcare_resolution_seconds": ("histogram", "sla ledger collector"),
    "socialcare_sla_met": ("counter", "sla ledger collector"),
    "socialcare_sla_breaches": ("counter", "sla ledger collector"),
    "socialcare_sla_warnings": ("counter", "sla ledger collector"),
    "socialcare_sla_at_risk": ("counter", "sla ledger collector"),
    "socialcare_sla_attainment_target": ("gauge", "sla ledger collector (from the config)"),
    # SLA books (sla/processor.py): open cases now, per partition.
    "socialcare_sla_at_risk_cases": ("gauge", "sla books collector"),
    "socialcare_queue_depth": ("gauge", "sla books collector"),
    # Crisis and notifications (escalation/crisis_processor.py, escalation/notify).
    "socialcare_incidents_open": ("gauge", "crisis processor"),
    "socialcare_notifications": ("counter", "notification sender"),
}

PROMETHEUS_SERIES = frozenset({"up"})

# The service modules whose imports register the platform's metrics (as `socialcare run
# <service>` loads them), plus core.metrics, which every consumer loop records.
SERVICE_MODULES = (
    "socialcare.core.metrics",
    "socialcare.ingestion.main",
    "socialcare.enrichment.main",
    "socialcare.routing.main",
    "socialcare.sla.main",
    "socialcare.escalation.main",
    "socialcare.indexer.main",
    "socialcare.gateway.main",
    "socialcare.webhooks.main",
)


def series_names(name: str, kind: str) -> set[str]:
    """The names a scrape shows for a metric family `name` of type `kind`."""
    if kind == "counter":
        base = name.removesuffix("_total")
        return {f"{base}_total", f"{base}_created"}
    if kind == "histogram":
        return {name + suffix for suffix in (*_HISTOGRAM, "_created")}
    if kind == "summary":
        return {name, f"{name}_sum", f"{name}_count", f"{name}_created"}
    if kind == "info":
        return {f"{name}_info"}
    return {name}


@cache
def registered_series() -> frozenset[str]:
    """Every series name the platform's metrics registry can expose after importing the
    service modules (families without samples yet included)."""
    for module in SERVICE_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        names |= series_names(family.name, family.type)
    return frozenset(names)


def runtime_series() -> frozenset[str]:
    names: set[str] = set()
    for name, (kind, _exporter) in COLLECTED_AT_RUNTIME.items():
        names |= series_names(name, kind)
    return frozenset(names)


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def rules() -> Iterator[dict[str, Any]]:
    """Every rule (recording and alerting) of deploy/prometheus/rules."""
    for path in rule_files():
        for group in load_yaml(path)["groups"]:
            yield from group["rules"]


def recording_rule_names() -> frozenset[str]:
    return frozenset(rule["record"] for rule in rules() if "record" in rule)


def known_series() -> frozenset[str]:
    return registered_series() | runtime_series() | recording_rule_names() | PROMETHEUS_SERIES


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_RANGE = re.compile(r"\[[^\]]*\]")
_NAME = re.compile(r"(?<![\w:$])[A-Za-z_:][\w:]*")


def metric_names_in(expr: str) -> set[str]:
    """The platform metrics (`socialcare_*`) and recording rules (`level:metric:op`) a PromQL
    expression reads. Label values (strings) and ranges (`[5m]`, `[1h:1m]`,
    `[$__rate_interval]`) are removed first; other identifiers (functions, keywords, label
    names) are never `socialcare_*` and never contain a colon."""
    bare = _RANGE.sub("", _STRING.sub('""', expr))
    return {
        name
        for name in _NAME.findall(bare)
        if name.startswith("socialcare_") or ":" in name.strip(":")
    }


def unknown_names(exprs: Iterable[str]) -> dict[str, set[str]]:
    """expr -> the names it reads that nothing exports or records."""
    known = known_series()
    missing = {expr: metric_names_in(expr) - known for expr in exprs}
    return {expr: names for expr, names in missing.items() if names}
