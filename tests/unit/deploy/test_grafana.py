"""deploy/grafana: the dashboards load, lay out, and query only what exists.

Grafana shows a panel whose query names a missing metric or recording rule as "No data",
exactly like a quiet system, so every name a query reads is checked against the platform's
metrics and the recording rules (metric_catalog), and every query is parsed by promtool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.metric_catalog import (
    GRAFANA_DIR,
    metric_names_in,
    recording_rule_names,
    unknown_names,
)
from tests.unit.deploy.promtool import run_promtool

DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
EXPECTED = {"sla-per-language", "queues-and-agents", "pipeline-health"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
COLUMNS = 24
# Grafana's interval variables, replaced by a duration before promtool parses a query.
_INTERVALS = re.compile(
    r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}"
)
_LABEL_VALUES = re.compile(r"label_values\(\s*([^,\s)]+)\s*,")


def load(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return dashboard


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard["panels"]
    return found


def exprs(dashboard: dict[str, Any]) -> Iterator[str]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield target["expr"]


def variable_queries(dashboard: dict[str, Any]) -> Iterator[str]:
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield query["query"] if isinstance(query, dict) else query


def test_the_three_dashboards_exist() -> None:
    assert {path.stem for path in DASHBOARDS} == EXPECTED


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_identity(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["uid"] == f"socialcare-{path.stem}"
    assert dashboard["title"]
    assert dashboard["panels"]


def test_dashboard_uids_and_titles_are_unique() -> None:
    loaded = [load(path) for path in DASHBOARDS]
    assert len({d["uid"] for d in loaded}) == len({d["title"] for d in loaded}) == len(loaded)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panel_ids_are_unique(path: Path) -> None:
    ids = [panel["id"] for panel in panels(load(path))]
    assert len(ids) == len(set(ids)), ids


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panels_fit_the_grid_without_overlapping(path: Path) -> None:
    boxes: list[tuple[str, int, int, int, int]] = []
    for panel in panels(load(path)):
        grid = panel["gridPos"]
        x, y, w, h = grid["x"], grid["y"], grid["w"], grid["h"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0, panel["title"]
        assert x + w <= COLUMNS, f"{panel['title']}: beyond {COLUMNS} columns"
        for title, x2, y2, w2, h2 in boxes:
            overlap = x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h
            assert not overlap, f"{panel['title']!r} overlaps {title!r}"
        boxes.append((panel["title"], x, y, w, h))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_has_a_title_and_queries_the_chosen_datasource(path: Path) -> None:
    """The datasource is the dashboard's variable, never a uid of one Grafana's datasource,
    so the dashboards work against any Prometheus they are pointed at."""
    dashboard = load(path)
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    for panel in panels(dashboard):
        assert panel.get("title"), f"panel {panel['id']} has no title"
        assert panel.get("datasource") == DATASOURCE, panel["title"]
        targets = panel.get("targets")
        assert targets, f"{panel['title']}: no targets"
        for target in targets:
            assert target.get("datasource") == DATASOURCE, panel["title"]
            assert target.get("expr", "").strip(), f"{panel['title']}: empty query"
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, variable["name"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_queries_read_only_metrics_and_rules_that_exist(path: Path) -> None:
    dashboard = load(path)
    assert unknown_names(exprs(dashboard)) == {}
    for query in variable_queries(dashboard):
        match = _LABEL_VALUES.search(query)
        assert match, f"variable query {query!r} is not label_values(<metric>, <label>)"
        assert unknown_names([match.group(1)]) == {}, query


def test_dashboards_use_the_recording_rules() -> None:
    """The dashboards read the rules' pre-computed series (cheap, and the same numbers the
    alerts use), and every rule they name is one deploy/prometheus records."""
    used = {
        name
        for path in DASHBOARDS
        for expr in exprs(load(path))
        for name in metric_names_in(expr)
        if ":" in name
    }
    assert used, "no dashboard reads a recording rule"
    assert used <= recording_rule_names()


def test_every_query_parses(promtool: str, tmp_path: Path) -> None:
    """promtool parses each panel query as the expression of a recording rule (Grafana's
    interval variables replaced by a duration; label-value variables sit inside strings)."""
    rules = [
        {"record": f"dashboard_query:{path.stem.replace('-', '_')}:{index}", "expr": expr}
        for path in DASHBOARDS
        for index, expr in enumerate(exprs(load(path)))
    ]
    for rule in rules:
        rule["expr"] = _INTERVALS.sub("5m", rule["expr"])
        assert "$" not in _strip_strings(rule["expr"]), rule["expr"]
    file = tmp_path / "dashboard_queries.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    output = run_promtool(promtool, "check", "rules", file)
    assert f"SUCCESS: {len(rules)} rules found" in output


def _strip_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def test_provisioning_points_at_prometheus_and_the_dashboards() -> None:
    provisioning = GRAFANA_DIR / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (datasource,) = datasources["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"].startswith("http")
    providers = yaml.safe_load((provisioning / "dashboards" / "socialcare.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
