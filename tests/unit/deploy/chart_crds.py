"""JSON schemas of the custom resources the chart renders, which kubernetes-validate's
built-in Kubernetes schemas do not cover: only the fields the chart uses, with the types and
values their operators accept (Prometheus operator ServiceMonitor monitoring.coreos.com/v1,
Strimzi KafkaTopic kafka.strimzi.io/v1beta2, after their published CRDs). Unknown fields are
refused, so a typo in a template fails here as kubernetes-validate's strict mode fails it
for built-in kinds."""

from __future__ import annotations

from typing import Any

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}


def _metadata(namespaced: bool = True) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "name": _NAME,
        "labels": _LABELS,
        "annotations": _LABELS,
    }
    if namespaced:
        properties["namespace"] = _NAME
    return {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": properties,
    }


SERVICE_MONITOR: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _metadata(),
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": _LABELS},
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "scheme": {"enum": ["http", "https"]},
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}

KAFKA_TOPIC: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1beta2"},
        "kind": {"const": "KafkaTopic"},
        "metadata": {
            **_metadata(),
            "required": ["name", "labels"],
            "properties": {
                **_metadata()["properties"],
                # The Topic Operator only manages topics labelled with their cluster.
                "labels": {**_LABELS, "required": ["strimzi.io/cluster"]},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["partitions", "replicas"],
            "properties": {
                "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                # Kafka topic configs: strings here (the operator accepts strings, numbers
                # and booleans; the chart always quotes).
                "config": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
}

CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": SERVICE_MONITOR,
    "KafkaTopic": KAFKA_TOPIC,
}
