"""socialcare.core.topics_admin and `socialcare topics`: the topic list computed from the
registry and the settings, its formats (table, JSON, Strimzi KafkaTopic), and creating the
topics on the embedded bus (idempotent; a topic that differs is reported). Creating them on
Kafka: tests/contract/test_topics_admin_contract.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from socialcare.cli import main as cli_main
from socialcare.core.bus import BusError
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.bus.kafka import _COMPACTED_TOPIC_CONFIG
from socialcare.core.domain.topics import ALL_TOPICS, REGISTRY, Topic, topic_layouts
from socialcare.core.topics_admin import (
    COMPACTED_CONFIG,
    HOUR_MS,
    Outcome,
    Retention,
    TopicSettings,
    create,
    render_json,
    render_strimzi,
    render_table,
    report,
    topic_plans,
)


@pytest.fixture(autouse=True)
def _no_topic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SOCIALCARE_TOPIC_PARTITIONS",
        "SOCIALCARE_TOPIC_REPLICATION",
        "SOCIALCARE_TOPIC_RETENTION",
        "SOCIALCARE_DLQ_RETENTION",
        "SOCIALCARE_AUDIT_RETENTION",
        "SOCIALCARE_BUS",
    ):
        monkeypatch.delenv(name, raising=False)


def settings(**values: object) -> TopicSettings:
    return TopicSettings.model_validate(values)


def test_every_registry_topic_and_its_dlq_once() -> None:
    plans = topic_plans(settings())
    names = [plan.name for plan in plans]
    assert sorted(names) == sorted(ALL_TOPICS)
    assert len(names) == len(set(names))
    for topic in Topic:
        dlq = next(plan for plan in plans if plan.name == topic.dlq)
        assert dlq.dlq_for == topic.value
        assert dlq.retention is Retention.DLQ and not dlq.compacted and not dlq.public


def test_layout_matches_the_bus_layouts() -> None:
    """The same partitions and compaction as the services create on their own."""
    plans = topic_plans(settings(topic_partitions=6))
    layouts = topic_layouts(6)
    for plan in plans:
        assert plan.name in layouts[(plan.partitions, plan.compacted)], plan.name


def test_partitions_replication_and_retention_come_from_settings() -> None:
    plans = {
        plan.name: plan
        for plan in topic_plans(
            settings(
                topic_partitions=12,
                topic_replication=3,
                topic_retention="48h",
                dlq_retention="10d",
                audit_retention=3600,
            )
        )
    }
    cases = plans["care.cases"]
    assert cases.partitions == 12 and cases.shared_partitions and cases.replication == 3
    assert cases.compacted and cases.config == dict(COMPACTED_CONFIG)
    assert cases.config["cleanup.policy"] == "compact"
    single = plans[Topic.ASSIGNMENT_REQUESTS.value]
    assert single.partitions == 1 and not single.shared_partitions
    assert plans["care.sla"].config == {
        "cleanup.policy": "delete",
        "retention.ms": str(48 * HOUR_MS),
    }
    assert plans["care.sla.dlq"].config["retention.ms"] == str(240 * HOUR_MS)
    for audit in ("audit.log", "privacy.erasures"):
        assert plans[audit].retention is Retention.AUDIT
        assert plans[audit].config == {"cleanup.policy": "delete", "retention.ms": "3600000"}


def test_every_compacted_registry_topic_is_compacted() -> None:
    plans = {plan.name: plan for plan in topic_plans(settings())}
    for topic, spec in REGISTRY.items():
        assert plans[topic.value].compacted == spec.compacted
        assert (plans[topic.value].config["cleanup.policy"] == "compact") == spec.compacted


def test_compaction_settings_are_the_bus_own() -> None:
    assert dict(COMPACTED_CONFIG) == dict(_COMPACTED_TOPIC_CONFIG)
    assert COMPACTED_CONFIG["cleanup.policy"] == "compact"


def test_settings_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="topic_replication"):
        settings(topic_replication=0)
    with pytest.raises(ValueError, match="dlq_retention"):
        settings(dlq_retention="0s")
    with pytest.raises(ValueError, match="not a duration"):
        settings(audit_retention="a year")


def test_topic_retention_is_the_variable_erasure_reports_quote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One variable, SOCIALCARE_TOPIC_RETENTION, sets the topics' retention.ms and what
    routing's erasure reports say about them."""
    from socialcare.routing.settings import ErasureSettings

    monkeypatch.setenv("SOCIALCARE_TOPIC_RETENTION", "336h")
    assert TopicSettings().topic_retention == ErasureSettings().topic_retention == 336 * 3600
    plans = {plan.name: plan for plan in topic_plans(TopicSettings())}
    assert plans["care.sla"].config["retention.ms"] == str(336 * HOUR_MS)


def test_json_format() -> None:
    plans = topic_plans(settings())
    document = json.loads(render_json(plans))
    assert document["generated_by"] == "socialcare topics list --format json"
    topics = {entry["name"]: entry for entry in document["topics"]}
    assert topics["care.cases"]["message_type"] == "socialcare.v1.CaseEvent"
    assert topics["care.cases"]["retention"] == "compacted"
    assert topics["care.cases.dlq"]["dlq_for"] == "care.cases"
    assert [entry["name"] for entry in document["topics"]] == [plan.name for plan in plans]


def test_strimzi_format() -> None:
    plans = topic_plans(settings(topic_replication=3))
    documents = list(yaml.safe_load_all(render_strimzi(plans, "care", "kafka")))
    assert len(documents) == len(plans)
    cases = next(d for d in documents if d["spec"]["topicName"] == "care.cases")
    assert cases["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert cases["kind"] == "KafkaTopic"
    assert cases["metadata"] == {
        "name": "care.cases",
        "namespace": "kafka",
        "labels": {"strimzi.io/cluster": "care", "app.kubernetes.io/part-of": "socialcare"},
    }
    assert cases["spec"]["replicas"] == 3
    assert cases["spec"]["config"]["cleanup.policy"] == "compact"


def test_table_format() -> None:
    table = render_table(topic_plans(settings()))
    lines = table.splitlines()
    assert lines[0].split() == ["TOPIC", "PARTITIONS", "REPLICAS", "RETENTION"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["care.cases"] == ["4", "1", "compacted"]
    assert rows["care.sla"] == ["4", "1", "7d"]
    assert rows["care.sla.dlq"] == ["4", "1", "30d"]
    assert rows["audit.log"] == ["1", "1", "400d"]


def test_create_on_the_embedded_bus_is_idempotent(tmp_path: Path) -> None:
    plans = topic_plans(settings(topic_partitions=3))
    bus = EmbeddedBus(tmp_path, default_partitions=3, sync="normal")
    try:
        first = create(bus, plans)
        again = create(bus, plans)
        for outcome in (*first, *again):
            assert outcome.status == "exists", outcome
        assert bus.partition_count("care.cases") == 3
        assert bus.partition_count(Topic.AUDIT_LOG.value) == 1
    finally:
        bus.close()


def test_create_reports_a_topic_with_other_partitions(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path, default_partitions=2, sync="normal")
    try:
        bus.create_topics(["care.sla"], 2)
        outcomes = {o.topic: o for o in create(bus, topic_plans(settings(topic_partitions=4)))}
    finally:
        bus.close()
    assert outcomes["care.sla"].status == "differs"
    assert "has 2 partitions, wanted 4" in outcomes["care.sla"].detail
    assert outcomes["care.cases"].status == "exists"


def test_report_fails_when_a_topic_differs() -> None:
    text, status = report([Outcome("a", "created"), Outcome("b", "exists")])
    assert status == 0 and "2 topics: 1 created, 1 present as wanted, 0 differ" in text
    text, status = report([Outcome("a", "differs", "has 2 partitions, wanted 4")])
    assert status == 1
    assert "differs  a: has 2 partitions, wanted 4" in text


def test_cli_lists_and_creates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOCIALCARE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SOCIALCARE_EMBEDDED_SYNC", "normal")
    monkeypatch.setenv("SOCIALCARE_TOPIC_PARTITIONS", "2")
    assert cli_main(["topics", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {t["name"]: t["partitions"] for t in listed["topics"]}["care.cases"] == 2
    assert cli_main(["topics", "list", "--format", "strimzi", "--strimzi-cluster", "c1"]) == 0
    manifests = list(yaml.safe_load_all(capsys.readouterr().out))
    assert {m["metadata"]["labels"]["strimzi.io/cluster"] for m in manifests} == {"c1"}
    assert cli_main(["topics", "create"]) == 0
    out = capsys.readouterr().out
    assert f"{len(ALL_TOPICS)} topics: 0 created, {len(ALL_TOPICS)} present as wanted" in out
    bus = EmbeddedBus(tmp_path / "bus", default_partitions=2, sync="normal")
    try:
        assert bus.partition_count("care.cases") == 2
    finally:
        bus.close()


def test_cli_create_reports_an_unreachable_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from socialcare.core import topics_admin

    def unreachable(bus: object, plans: object) -> list[Outcome]:
        raise BusError("broker unreachable")

    monkeypatch.setenv("SOCIALCARE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(topics_admin, "create", unreachable)
    assert cli_main(["topics", "create"]) == 1
    assert "socialcare topics create: on embedded: BusError('broker unreachable')" in (
        capsys.readouterr().err
    )
