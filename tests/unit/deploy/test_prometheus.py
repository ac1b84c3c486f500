"""deploy/prometheus: the scrape config, the rules and their unit tests (promtool), and the
conventions promtool does not check: a scrape job per service, every rule tested, every alert
with a duration, a severity and a runbook, only metrics that exist."""

from __future__ import annotations

from typing import Any

from socialcare.cli import SERVICES
from tests.unit.deploy.metric_catalog import (
    PROMETHEUS_DIR,
    load_yaml,
    metric_names_in,
    recording_rule_names,
    rule_files,
    rules,
    unknown_names,
)
from tests.unit.deploy.promtool import run_promtool

CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
SEVERITIES = {"critical", "warning"}


def test_config_is_valid_with_its_rule_files(promtool: str) -> None:
    output = run_promtool(promtool, "check", "config", CONFIG)
    assert f"SUCCESS: {len(rule_files())} rule files found" in output


def test_rules_are_valid(promtool: str) -> None:
    run_promtool(promtool, "check", "rules", *rule_files())


def test_rule_unit_tests_pass(promtool: str) -> None:
    assert RULE_TESTS, "no promtool rule tests in deploy/prometheus/tests"
    output = run_promtool(promtool, "test", "rules", *RULE_TESTS)
    assert output.count("SUCCESS") == len(RULE_TESTS), output


def test_config_loads_every_rule_file() -> None:
    config = load_yaml(CONFIG)
    assert sorted(PROMETHEUS_DIR / name for name in config["rule_files"]) == rule_files()


def test_every_service_has_a_scrape_job_labelled_with_its_service() -> None:
    """One job per service (`socialcare run <service>`) and one for `socialcare run all`;
    each sets `service` and reads its targets from a file that exists and names targets."""
    jobs = {job["job_name"]: job for job in load_yaml(CONFIG)["scrape_configs"]}
    assert set(jobs) == {f"socialcare-{service}" for service in [*SERVICES, "all"]}
    for name, job in jobs.items():
        service = name.removeprefix("socialcare-")
        assert job.get("metrics_path", "/metrics") == "/metrics"
        assert {"target_label": "service", "replacement": service} in job["relabel_configs"]
        (discovery,) = job["file_sd_configs"]
        for file in discovery["files"]:
            groups = load_yaml(PROMETHEUS_DIR / file)
            assert groups and all(group["targets"] for group in groups), file


def rule_tests() -> list[dict[str, Any]]:
    return [test for path in RULE_TESTS for test in load_yaml(path)["tests"]]


def test_every_recording_rule_is_tested() -> None:
    tested = {
        name
        for test in rule_tests()
        for case in test.get("promql_expr_test", [])
        for name in metric_names_in(case["expr"])
    }
    untested = recording_rule_names() - tested
    assert not untested, f"recording rules without a promql_expr_test: {sorted(untested)}"


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases = [case for test in rule_tests() for case in test.get("alert_rule_test", [])]
    for rule in rules():
        if "alert" not in rule:
            continue
        outcomes = [
            bool(case["exp_alerts"]) for case in cases if case["alertname"] == rule["alert"]
        ]
        assert True in outcomes, f"{rule['alert']}: no test in which it fires"
        assert False in outcomes, f"{rule['alert']}: no test in which it does not fire"


def test_every_alert_has_a_duration_a_severity_and_a_runbook() -> None:
    alerts = [rule for rule in rules() if "alert" in rule]
    assert alerts
    for rule in alerts:
        name = rule["alert"]
        assert rule.get("for"), f"{name}: no `for:` (a single bad evaluation would page)"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = rule.get("annotations", {})
        assert "$labels." in annotations.get("summary", ""), f"{name}: summary without $labels"
        description = annotations.get("description", "")
        assert "$labels." in description, f"{name}: description without $labels"
        assert "Runbook:" in description, f"{name}: description without a runbook"


def test_rules_read_only_metrics_that_exist() -> None:
    assert unknown_names(rule["expr"] for rule in rules()) == {}


def test_rule_names_are_unique() -> None:
    names = [rule.get("record") or rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
