"""Every Kafka topic the platform needs, computed from the topic registry, and creating them.

`socialcare topics list` prints the list (a table, JSON, or Strimzi `KafkaTopic` manifests);
`socialcare topics create` creates every topic on the configured bus. Nobody writes a topic
list by hand: the Helm chart's `files/topics.json` is `socialcare topics list --format json`
with the default settings (a test checks it for drift), and its topic Job runs `socialcare
topics create`.

What a topic gets:
- partitions: the registry's fixed count (single-writer topics: 1), else the platform's
  partition count (SOCIALCARE_TOPIC_PARTITIONS), shared by every keyed topic so a key lands in
  the same partition number everywhere (co-partitioning, ADR 0005);
- compaction: `cleanup.policy=compact` for every compacted topic (care.cases, the
  changelogs, the account directory, the webhook outbox...), with the bus's own settings;
- retention, for the others: SOCIALCARE_TOPIC_RETENTION (the same variable erasure reports
  quote, routing/settings.py); the dead-letter topics SOCIALCARE_DLQ_RETENTION (time to look
  at and replay what failed); the audit log and the erasure records SOCIALCARE_AUDIT_RETENTION
  (the proof of who did what, and of each erasure, outlives the data);
- replication: SOCIALCARE_TOPIC_REPLICATION (a platform setting: the services create topics
  with it too).

Creating is idempotent: a topic that exists is left as it is, and compared with what the
registry wants; a difference (fewer partitions, not compacted) is reported and makes the
command fail, because the platform cannot fix it by itself (Kafka cannot shrink a topic, and
adding partitions moves keys).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import yaml
from pydantic import Field, field_validator

from socialcare.core.bus import Bus, BusError
from socialcare.core.bus.kafka import _COMPACTED_TOPIC_CONFIG
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.durations import parse_duration
from socialcare.core.domain.topics import REGISTRY, Topic

HOUR_MS = 60 * 60 * 1000

# What the bus creates compacted topics with (one source: core/bus/kafka.py): segments rolled
# hourly so the cleaner can compact them, a day of every key's history kept before
# compaction, tombstones kept a day after their key is compacted away.
COMPACTED_CONFIG: Mapping[str, str] = dict(_COMPACTED_TOPIC_CONFIG)

# Topics kept as long as the audit policy requires.
AUDIT_TOPICS: frozenset[Topic] = frozenset({Topic.AUDIT_LOG, Topic.PRIVACY_ERASURES})


class TopicSettings(PlatformSettings):
    """How `socialcare topics create` lays topics out, on top of the platform's
    SOCIALCARE_TOPIC_PARTITIONS and SOCIALCARE_TOPIC_REPLICATION. Durations: `7d`, `168h`,
    ... or seconds."""

    topic_retention: float = Field(
        default=7 * 86400.0,
        description="SOCIALCARE_TOPIC_RETENTION: how long Kafka keeps the records of the "
        "topics that are not compacted (their retention.ms; default 7d). Webhook replays from "
        "a point in time reach back at most this far; erasure reports quote it.",
    )
    dlq_retention: float = Field(
        default=30 * 86400.0,
        description="SOCIALCARE_DLQ_RETENTION: how long Kafka keeps the records of the "
        "dead-letter topics (*.dlq; default 30d).",
    )
    audit_retention: float = Field(
        default=400 * 86400.0,
        description="SOCIALCARE_AUDIT_RETENTION: how long Kafka keeps audit.log and "
        "privacy.erasures (default 400d): at least as long as your audit policy requires "
        "(the `audit` search index is rebuilt from audit.log).",
    )

    @field_validator("topic_retention", "dlq_retention", "audit_retention", mode="before")
    @classmethod
    def _duration(cls, value: str | float) -> float:
        return parse_duration(value)


class Retention(StrEnum):
    """Which retention a topic takes (the chart maps each to its values)."""

    COMPACTED = "compacted"
    TOPIC = "topic"
    DLQ = "dlq"
    AUDIT = "audit"


@dataclass(frozen=True, slots=True)
class TopicPlan:
    """One topic as it should exist on the cluster."""

    name: str
    partitions: int
    # True when the count is the platform's (SOCIALCARE_TOPIC_PARTITIONS), False when the
    # registry fixes it (a single writer's topic: 1).
    shared_partitions: bool
    replication: int
    compacted: bool
    retention: Retention
    config: dict[str, str]
    public: bool
    message_type: str
    description: str
    dlq_for: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["retention"] = self.retention.value
        return data


def _config(retention: Retention, settings: TopicSettings) -> dict[str, str]:
    if retention is Retention.COMPACTED:
        return dict(COMPACTED_CONFIG)
    seconds = {
        Retention.TOPIC: settings.topic_retention,
        Retention.DLQ: settings.dlq_retention,
        Retention.AUDIT: settings.audit_retention,
    }[retention]
    return {"cleanup.policy": "delete", "retention.ms": str(round(seconds * 1000))}


def topic_plans(settings: TopicSettings) -> list[TopicPlan]:
    """Every topic of the registry, each followed by its dead-letter topic."""
    plans: list[TopicPlan] = []
    for topic, spec in REGISTRY.items():
        partitions = spec.partitions or settings.topic_partitions
        if spec.compacted:
            retention = Retention.COMPACTED
        elif topic in AUDIT_TOPICS:
            retention = Retention.AUDIT
        else:
            retention = Retention.TOPIC
        shared = spec.partitions is None
        message_type = spec.message_type.DESCRIPTOR.full_name
        plans.append(
            TopicPlan(
                name=topic.value,
                partitions=partitions,
                shared_partitions=shared,
                replication=settings.topic_replication,
                compacted=spec.compacted,
                retention=retention,
                config=_config(retention, settings),
                public=spec.public,
                message_type=message_type,
                description=spec.description,
            )
        )
        plans.append(
            TopicPlan(
                name=topic.dlq,
                partitions=partitions,
                shared_partitions=shared,
                replication=settings.topic_replication,
                compacted=False,
                retention=Retention.DLQ,
                config=_config(Retention.DLQ, settings),
                public=False,
                message_type=message_type,
                description=f"Records of {topic.value} its consumers could not process.",
                dlq_for=topic.value,
            )
        )
    return plans


# --- output formats -------------------------------------------------------------------------


def render_json(plans: Sequence[TopicPlan]) -> str:
    """The list as JSON (charts/socialcare/files/topics.json is this with default settings)."""
    document = {
        "generated_by": "socialcare topics list --format json",
        "topics": [plan.to_json() for plan in plans],
    }
    return json.dumps(document, indent=2) + "\n"


def _duration_text(ms: int) -> str:
    for unit, size in (("d", 24 * HOUR_MS), ("h", HOUR_MS), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def render_table(plans: Sequence[TopicPlan]) -> str:
    width = max(len(plan.name) for plan in plans)
    lines = [f"{'TOPIC':<{width}}  PARTITIONS  REPLICAS  RETENTION"]
    for plan in plans:
        retention = plan.retention.value
        if plan.retention is not Retention.COMPACTED:
            retention = _duration_text(int(plan.config["retention.ms"]))
        lines.append(
            f"{plan.name:<{width}}  {plan.partitions:>10}  {plan.replication:>8}  {retention}"
        )
    return "\n".join(lines) + "\n"


def strimzi_topics(
    plans: Iterable[TopicPlan], cluster: str, namespace: str | None = None
) -> list[dict[str, Any]]:
    """Strimzi `KafkaTopic` resources (kafka.strimzi.io/v1beta2) for the Topic Operator of
    the Kafka cluster `cluster`. Topic names are valid resource names (lower case, digits,
    `.` and `-`), and `spec.topicName` states the name anyway."""
    resources: list[dict[str, Any]] = []
    for plan in plans:
        metadata: dict[str, Any] = {
            "name": plan.name,
            "labels": {
                "strimzi.io/cluster": cluster,
                "app.kubernetes.io/part-of": "socialcare",
            },
        }
        if namespace:
            metadata["namespace"] = namespace
        resources.append(
            {
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaTopic",
                "metadata": metadata,
                "spec": {
                    "topicName": plan.name,
                    "partitions": plan.partitions,
                    "replicas": plan.replication,
                    "config": dict(plan.config),
                },
            }
        )
    return resources


def render_strimzi(plans: Sequence[TopicPlan], cluster: str, namespace: str | None) -> str:
    documents = strimzi_topics(plans, cluster, namespace)
    return yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True)


# --- creating -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What `create` did with one topic: `created`, `exists` (present as wanted; on the
    embedded bus, which does not tell, also a topic it has just created) or `differs`."""

    topic: str
    status: str
    detail: str = ""


def _kafka_admin(bus: Bus) -> Any:
    """A Kafka admin client with the bus's connection settings (None for another bus)."""
    from socialcare.core.bus.kafka import KafkaBus

    if not isinstance(bus, KafkaBus):
        return None
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(**bus.common_config("topics-admin"))


def create(bus: Bus, plans: Sequence[TopicPlan]) -> list[Outcome]:
    """Create every topic of `plans` that is missing and check the ones that exist.

    On Kafka each topic gets its partitions, replication factor and configuration; on the
    embedded bus (one process, no brokers) its partitions and compaction."""
    admin = _kafka_admin(bus)
    if admin is None:
        return _create_on_bus(bus, plans)
    try:
        return _create_on_kafka(admin, plans)
    finally:
        admin.close()


def _create_on_bus(bus: Bus, plans: Sequence[TopicPlan]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for plan in plans:
        bus.create_topics([plan.name], plan.partitions, compacted=plan.compacted)
        found = bus.partition_count(plan.name)
        if found != plan.partitions:
            outcomes.append(
                Outcome(plan.name, "differs", f"has {found} partitions, wanted {plan.partitions}")
            )
        else:
            outcomes.append(Outcome(plan.name, "exists"))
    return outcomes


def _create_on_kafka(admin: Any, plans: Sequence[TopicPlan]) -> list[Outcome]:
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import TopicAlreadyExistsError

    by_name = {plan.name: plan for plan in plans}
    existing = {
        entry["name"]: len(entry.get("partitions") or ())
        for entry in admin.describe_topics(list(by_name))
        if not entry.get("error_code")
    }
    missing = [plan for plan in plans if plan.name not in existing]
    outcomes: dict[str, Outcome] = {}
    if missing:
        result = admin.create_topics(
            {
                plan.name: {
                    "num_partitions": plan.partitions,
                    "replication_factor": plan.replication,
                    "configs": dict(plan.config),
                }
                for plan in missing
            },
            timeout_ms=30_000,
            raise_errors=False,
        )
        for entry in result.get("topics", ()):
            name = str(entry.get("name"))
            code = int(entry.get("error_code", 0))
            if code == 0:
                outcomes[name] = Outcome(name, "created")
            elif code == TopicAlreadyExistsError.errno:
                # Created meanwhile (a service subscribing): checked below like the others.
                existing[name] = by_name[name].partitions
            else:
                message = entry.get("error_message") or ""
                raise RuntimeError(f"Kafka could not create topic {name!r}: error {code} {message}")
        created = [name for name, outcome in outcomes.items() if outcome.status == "created"]
        if created:
            admin.wait_for_topics(created, timeout_ms=60_000)
    if existing:
        described = admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, name, ["cleanup.policy"])
                for name in existing
            ],
            config_filter="all",
        )
        policies = _cleanup_policies(described)
        for name, partitions in existing.items():
            if name in outcomes:
                continue
            outcomes[name] = _compare(by_name[name], partitions, policies.get(name))
    return [outcomes[plan.name] for plan in plans]


def _cleanup_policies(described: Any) -> dict[str, str]:
    """topic -> cleanup.policy from kafka-python's describe_configs answer."""
    policies: dict[str, str] = {}
    for resources in dict(described).values():
        for name, configs in dict(resources).items():
            entry = dict(configs).get("cleanup.policy")
            value = entry.get("value") if isinstance(entry, Mapping) else entry
            if value is not None:
                policies[str(name)] = str(value)
    return policies


def _compare(plan: TopicPlan, partitions: int, policy: str | None) -> Outcome:
    problems: list[str] = []
    if partitions != plan.partitions:
        problems.append(f"has {partitions} partitions, the registry wants {plan.partitions}")
    compacted = policy is not None and "compact" in policy.split(",")
    if plan.compacted and not compacted:
        problems.append(f"cleanup.policy is {policy!r}, the registry wants 'compact'")
    if not plan.compacted and compacted:
        problems.append(f"cleanup.policy is {policy!r}, the registry wants 'delete'")
    if problems:
        return Outcome(plan.name, "differs", "; ".join(problems))
    return Outcome(plan.name, "exists")


def report(outcomes: Sequence[Outcome]) -> tuple[str, int]:
    """A summary for the command line and its exit status (1 when any topic differs)."""
    lines = [
        f"{outcome.status:<8} {outcome.topic}" + (f": {outcome.detail}" if outcome.detail else "")
        for outcome in outcomes
    ]
    counts = {
        status: sum(o.status == status for o in outcomes)
        for status in ("created", "exists", "differs")
    }
    lines.append(
        f"{len(outcomes)} topics: {counts['created']} created, {counts['exists']} present as "
        f"wanted, {counts['differs']} differ"
    )
    if counts["differs"]:
        lines.append(
            "topics that differ are left as they are: fix them on the cluster (see the README, "
            "Deploy on Kubernetes, Topics) and run this again"
        )
    return "\n".join(lines) + "\n", 1 if counts["differs"] else 0


# --- the command ------------------------------------------------------------------------------


def main(
    action: str,
    *,
    output_format: str = "table",
    strimzi_cluster: str = "my-cluster",
    namespace: str | None = None,
) -> int:
    """`socialcare topics list|create` (socialcare/cli.py parses the arguments)."""
    import sys

    settings = TopicSettings()
    plans = topic_plans(settings)
    if action == "list":
        if output_format == "json":
            sys.stdout.write(render_json(plans))
        elif output_format == "strimzi":
            sys.stdout.write(render_strimzi(plans, strimzi_cluster, namespace))
        else:
            sys.stdout.write(render_table(plans))
        return 0
    if action != "create":
        raise ValueError(f"unknown topics action {action!r}")
    from kafka.errors import KafkaError

    from socialcare.core.backends import open_bus

    bus = open_bus(settings)
    try:
        text, status = report(create(bus, plans))
    except (BusError, KafkaError, RuntimeError, OSError) as exc:
        print(f"socialcare topics create: on {settings.bus}: {exc!r}", file=sys.stderr)
        return 1
    finally:
        bus.close()
    sys.stdout.write(text)
    return status
