"""`socialcare topics create` on a real Apache Kafka broker (the session's `kafka_bootstrap`):
every topic created with its partitions and configuration (compaction for care.cases and the
other compacted topics, retention for the rest), nothing changed on a second run, and a topic
that exists with another layout reported, not altered.

The plans are the registry's, renamed with a fresh prefix, so the shared broker's real
topics are never touched.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from socialcare.core.bus.kafka import KafkaBus
from socialcare.core.topics_admin import TopicPlan, TopicSettings, create, topic_plans

pytestmark = pytest.mark.kafka


@pytest.fixture
def bus(kafka_bootstrap: str) -> Iterator[KafkaBus]:
    opened = KafkaBus(kafka_bootstrap, default_partitions=3)
    yield opened
    opened.close()


@pytest.fixture
def admin(kafka_bootstrap: str) -> Iterator[Any]:
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap.split(","))
    yield client
    client.close()


def renamed(names: set[str]) -> list[TopicPlan]:
    prefix = f"contract-topics-{uuid.uuid4().hex[:8]}."
    plans = topic_plans(TopicSettings.model_validate({"topic_partitions": 3}))
    return [
        dataclasses.replace(plan, name=prefix + plan.name) for plan in plans if plan.name in names
    ]


def configs(admin: Any, names: list[str]) -> dict[str, dict[str, str]]:
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names], config_filter="all"
    )
    found: dict[str, dict[str, str]] = {}
    for resources in dict(described).values():
        for name, entries in dict(resources).items():
            found[str(name)] = {
                key: str(entry.get("value") if isinstance(entry, dict) else entry)
                for key, entry in dict(entries).items()
            }
    return found


def test_creates_every_topic_with_its_layout_then_changes_nothing(
    bus: KafkaBus, admin: Any
) -> None:
    plans = renamed({"care.cases", "care.cases.dlq", "care.sla", "audit.log", "auth.accounts"})
    first = create(bus, plans)
    assert [o.status for o in first] == ["created"] * len(plans), first
    partitions = {
        entry["name"]: len(entry["partitions"])
        for entry in admin.describe_topics([plan.name for plan in plans])
    }
    found = configs(admin, [plan.name for plan in plans])
    for plan in plans:
        assert partitions[plan.name] == plan.partitions, plan.name
        for key, value in plan.config.items():
            assert found[plan.name][key] == value, (plan.name, key)
    cases = next(plan for plan in plans if plan.name.endswith(".care.cases"))
    assert found[cases.name]["cleanup.policy"] == "compact"
    assert partitions[cases.name] == 3

    again = create(bus, plans)
    assert [o.status for o in again] == ["exists"] * len(plans), again


def test_a_topic_with_another_layout_is_reported_not_changed(bus: KafkaBus, admin: Any) -> None:
    (cases,) = renamed({"care.cases"})
    # Made by hand beforehand: 1 partition, not compacted.
    admin.create_topics(
        {cases.name: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True
    )
    (outcome,) = create(bus, [cases])
    assert outcome.status == "differs"
    assert "has 1 partitions, the registry wants 3" in outcome.detail
    assert "the registry wants 'compact'" in outcome.detail
    assert configs(admin, [cases.name])[cases.name]["cleanup.policy"] == "delete"
