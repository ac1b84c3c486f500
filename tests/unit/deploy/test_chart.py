"""charts/socialcare: helm lint, helm template with the default and the production-like
values, every rendered manifest validated offline against the Kubernetes schemas
(kubernetes-validate, strict) or, for the custom resources, against chart_crds.py, and the
chart's promises checked on what it renders: every service present and runnable, non-root
with a read-only root filesystem, probed, no secret value anywhere, env variables the code
reads, the care config mounted and valid, the topics from the registry.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic_settings import BaseSettings

import socialcare
from socialcare.cli import SERVICES
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.topics_admin import TopicSettings, render_json, topic_plans
from socialcare.gateway.instances import CaseTargets
from tests.unit.deploy.chart_crds import CRD_SCHEMAS
from tests.unit.deploy.chart_helm import (
    CHART,
    KUBE_VERSION,
    PRODUCTION_VALUES,
    RELEASE,
    REPO,
    Manifests,
    helm_path,
    load_yaml,
    render,
    render_error,
    run_helm,
)

CHART_SERVICES = (
    "ingestion",
    "enrichment",
    "routing",
    "sla",
    "escalation",
    "indexer",
    "gateway",
    "webhooks",
)
# The gRPC door of each service that has one, and the setting that makes it listen.
GRPC = {
    "ingestion": (50051, "SOCIALCARE_INGEST_GRPC_PORT"),
    "routing": (50052, "SOCIALCARE_CASE_GRPC_ADDRESS"),
    "sla": (50053, "SOCIALCARE_SLA_GRPC_ADDRESS"),
    "gateway": (50054, "SOCIALCARE_GATEWAY_GRPC_ADDRESS"),
}
SECRETISH = re.compile(r"SECRET|PASSWORD|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY")
ENV_SUFFIX = "_env"


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_path()


@pytest.fixture(scope="module")
def default(helm: str) -> Manifests:
    return Manifests(render(helm))


@pytest.fixture(scope="module")
def production(helm: str) -> Manifests:
    return Manifests(render(helm, [PRODUCTION_VALUES]))


@pytest.fixture(scope="module", params=["default", "production"])
def rendered(request: pytest.FixtureRequest) -> Manifests:
    manifests: Manifests = request.getfixturevalue(request.param)
    return manifests


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def env_value(container: dict[str, Any], name: str) -> str:
    entry = env_of(container).get(name)
    assert entry is not None and "value" in entry, f"{container['name']}: {name} is not set"
    return str(entry["value"])


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class of the package (each module imported, so none is missed)."""
    for module in pkgutil.walk_packages(socialcare.__path__, "socialcare."):
        if module.name.startswith("socialcare.v1") or module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)
    found: list[type[BaseSettings]] = []
    pending: list[type[BaseSettings]] = [BaseSettings]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("socialcare.") and cls not in found:
            found.append(cls)
    return found


def setting_names() -> set[str]:
    """Every SOCIALCARE_* variable a settings class of the package reads."""
    names: set[str] = set()
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix") or "")
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias
            names.add(alias if isinstance(alias, str) else f"{prefix}{field_name}".upper())
    return names


def care_env_names(config: Any) -> set[str]:
    """The variable names a care config names in its `*_env` fields."""
    found: set[str] = set()
    if isinstance(config, dict):
        for key, value in config.items():
            if key.endswith(ENV_SUFFIX) and isinstance(value, str):
                found.add(value)
            else:
                found |= care_env_names(value)
    elif isinstance(config, list):
        for item in config:
            found |= care_env_names(item)
    return found


# --- helm lint and the offline schema validation ---------------------------------------------


@pytest.mark.parametrize("values", [None, PRODUCTION_VALUES], ids=["default", "production"])
def test_helm_lint_passes_strict(helm: str, values: Path | None) -> None:
    args = ["lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART)]
    if values is not None:
        args += ["--values", str(values)]
    result = run_helm(helm, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_every_manifest_is_valid_for_its_schema(rendered: Manifests) -> None:
    problems: list[str] = []
    for doc in rendered.docs:
        where = f"{doc['kind']} {doc['metadata']['name']}"
        crd = CRD_SCHEMAS.get(doc["kind"])
        try:
            if crd is not None:
                jsonschema.validate(doc, crd)
            else:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except (
            kubernetes_validate.ValidationError,
            kubernetes_validate.SchemaNotFoundError,
            jsonschema.ValidationError,
        ) as exc:
            problems.append(f"{where}: {exc}")
    assert not problems, "\n".join(problems)


def test_custom_resources_have_their_schema(production: Manifests) -> None:
    """The production values render both custom resource kinds, so their schemas in
    chart_crds.py are exercised (any other kind without a Kubernetes schema fails above)."""
    kinds = {doc["kind"] for doc in production.docs}
    assert set(CRD_SCHEMAS) <= kinds


def test_chart_version_follows_the_package(helm: str) -> None:
    chart = load_yaml(CHART / "Chart.yaml")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert chart["appVersion"] == pyproject["project"]["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])


# --- every service, runnable and locked down --------------------------------------------------


def test_every_service_of_the_platform_is_in_the_chart(rendered: Manifests) -> None:
    assert set(CHART_SERVICES) == set(SERVICES), "the chart's services are `socialcare run`'s"
    for service in CHART_SERVICES:
        deployment = rendered.component("Deployment", service)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["run", service]
        rendered.component("Service", service)
        rendered.component("PodDisruptionBudget", service)
        rendered.component("NetworkPolicy", service)


def test_pods_run_non_root_read_only_without_capabilities(rendered: Manifests) -> None:
    dockerfile_uid = re.search(r"^USER (\d+)", (REPO / "Dockerfile").read_text(), re.M)
    assert dockerfile_uid is not None
    for workload, pod in rendered.workloads():
        where = workload["metadata"]["name"]
        pod_ctx = pod["securityContext"]
        assert pod_ctx["runAsNonRoot"] is True, where
        assert pod_ctx["runAsUser"] == int(dockerfile_uid.group(1)), where
        assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod["automountServiceAccountToken"] is False, where
        for container in containers(pod):
            ctx = container["securityContext"]
            assert ctx["runAsNonRoot"] is True, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["capabilities"] == {"drop": ["ALL"]}, where
            assert container["resources"]["requests"], where
            assert container["resources"]["limits"]["memory"], where
            # The only writable places: emptyDirs at /data and /tmp.
            volumes = {volume["name"]: volume for volume in pod["volumes"]}
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            for path in ("/data", "/tmp"):
                assert "emptyDir" in volumes[mounts[path]], (where, path)
            assert env_value(container, "SOCIALCARE_DATA_DIR") == "/data"
            for mount in container["volumeMounts"]:
                if "emptyDir" not in volumes[mount["name"]]:
                    assert mount.get("readOnly") is True, (where, mount)


def test_services_are_probed_on_healthz_and_readyz(rendered: Manifests) -> None:
    for service in CHART_SERVICES:
        pod = rendered.component("Deployment", service)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports["http"] == 8080
        assert env_value(container, "SOCIALCARE_HTTP_PORT") == "8080"
        assert env_value(container, "SOCIALCARE_HTTP_HOST") == "0.0.0.0"
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_grpc_ports_are_served_and_reached(rendered: Manifests) -> None:
    for service, (port, variable) in GRPC.items():
        (container,) = rendered.component("Deployment", service)["spec"]["template"]["spec"][
            "containers"
        ]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["grpc"] == port, service
        bound = env_value(container, variable)
        assert bound in (str(port), f"0.0.0.0:{port}"), (service, bound)
        svc_ports = {p["name"]: p for p in rendered.component("Service", service)["spec"]["ports"]}
        assert svc_ports["grpc"]["port"] == port and svc_ports["grpc"]["targetPort"] == "grpc"
    (gateway,) = rendered.component("Deployment", "gateway")["spec"]["template"]["spec"][
        "containers"
    ]
    for variable, service in (
        ("SOCIALCARE_CASE_GRPC_TARGETS", "routing"),
        ("SOCIALCARE_SLA_GRPC_TARGETS", "sla"),
    ):
        targets = CaseTargets.parse(env_value(gateway, variable))
        # One name, resolved to every pod: a headless Service.
        assert targets.resolves
        service_doc = rendered.component("Service", service)
        assert targets.host == service_doc["metadata"]["name"]
        assert targets.port == GRPC[service][0]
        assert service_doc["spec"]["clusterIP"] == "None"


def test_services_select_their_pods(rendered: Manifests) -> None:
    for doc in rendered.of_kind("Service"):
        name = doc["metadata"]["name"]
        deployment = rendered.get("Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert doc["spec"]["selector"].items() <= labels.items(), name
        assert deployment["spec"]["selector"]["matchLabels"] == doc["spec"]["selector"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        names = {port["name"] for port in container["ports"]}
        assert {port["targetPort"] for port in doc["spec"]["ports"]} <= names, name
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for doc in rendered.of_kind(kind):
            selector = doc["spec"].get("selector") or doc["spec"]["podSelector"]
            matched = [
                d
                for d in rendered.of_kind("Deployment")
                if selector["matchLabels"].items()
                <= d["spec"]["template"]["metadata"]["labels"].items()
            ]
            assert matched, f"{kind} {doc['metadata']['name']} selects no pod"


# --- secrets, settings, the care config -------------------------------------------------------


def test_no_secret_value_is_rendered(rendered: Manifests) -> None:
    assert not rendered.of_kind("Secret"), "the chart references Secrets, it never makes one"
    for workload, pod in rendered.workloads():
        for container in containers(pod):
            for name, entry in env_of(container).items():
                if SECRETISH.search(name):
                    ref = entry.get("valueFrom", {}).get("secretKeyRef")
                    assert ref and "value" not in entry, (workload["metadata"]["name"], name)


def test_env_variables_are_read_by_the_code(rendered: Manifests) -> None:
    """Every SOCIALCARE_* variable the chart sets is a field of a settings class, and every
    other one is a secret the care config names (`*_env`)."""
    known = setting_names()
    care = care_config_of(rendered)
    named_by_care = care_env_names(care) if care is not None else set()
    for workload, pod in rendered.workloads():
        for container in containers(pod):
            for name in env_of(container):
                where = (workload["metadata"]["name"], name)
                assert name in known or name in named_by_care, where


def test_rendered_env_is_accepted_by_every_settings_class(
    rendered: Manifests, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pod's environment, with its secret references filled in, is read by every
    settings class of the package without a validation error (the process would stop at
    start with one)."""
    classes = settings_classes()
    for workload, pod in rendered.workloads():
        for container in containers(pod):
            with monkeypatch.context() as env:
                for name in [n for n in os.environ if n.startswith("SOCIALCARE_")]:
                    env.delenv(name)
                for name, entry in env_of(container).items():
                    env.setenv(name, str(entry.get("value", "s" * 40)))
                for cls in classes:
                    try:
                        cls()
                    except ValueError as exc:
                        pytest.fail(f"{workload['metadata']['name']}: {cls.__name__}: {exc}")


def care_config_of(rendered: Manifests) -> Any:
    maps = rendered.of_kind("ConfigMap")
    if not maps:
        return None
    (config_map,) = maps
    return yaml.safe_load(config_map["data"]["care.yaml"])


def test_default_install_runs_the_packaged_care_config(default: Manifests) -> None:
    assert not default.of_kind("ConfigMap")
    for _, pod in default.workloads():
        for container in containers(pod):
            assert "SOCIALCARE_CARE_CONFIG" not in env_of(container)


def test_care_config_is_mounted_valid_with_its_secrets(
    production: Manifests, tmp_path: Path
) -> None:
    (config_map,) = production.of_kind("ConfigMap")
    written = tmp_path / "care.yaml"
    written.write_text(config_map["data"]["care.yaml"])
    config = load_care_config(written)
    assert isinstance(config, CareConfig) and config.brands
    named = care_env_names(yaml.safe_load(written.read_text()))
    assert named, "the production values' care config names its secrets"
    for service in CHART_SERVICES:
        pod = production.component("Deployment", service)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        path = PurePosixPath(env_value(container, "SOCIALCARE_CARE_CONFIG"))
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        assert volume["configMap"]["name"] == config_map["metadata"]["name"]
        assert path.name in config_map["data"]
        env = env_of(container)
        for name in named:
            assert "secretKeyRef" in env[name]["valueFrom"], (service, name)
        annotations = production.component("Deployment", service)["spec"]["template"]["metadata"]
        assert annotations["annotations"]["checksum/care-config"]


def test_production_backends_use_tls_and_secret_references(production: Manifests) -> None:
    (container,) = production.component("Deployment", "routing")["spec"]["template"]["spec"][
        "containers"
    ]
    env = env_of(container)
    assert env_value(container, "SOCIALCARE_BUS").startswith("kafka://")
    assert env_value(container, "SOCIALCARE_KAFKA_SECURITY_PROTOCOL") == "SASL_SSL"
    assert env["SOCIALCARE_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
    assert env_value(container, "SOCIALCARE_SEARCH").startswith("https://")
    assert env["SOCIALCARE_SEARCH_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "elastic"
    assert env["SOCIALCARE_AUTH_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "socialcare-auth"
    pod = production.component("Deployment", "routing")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    for variable, volume in (
        ("SOCIALCARE_KAFKA_SSL_CAFILE", "kafka-ca"),
        ("SOCIALCARE_SEARCH_CA_CERTS", "elasticsearch-ca"),
    ):
        path = PurePosixPath(env_value(container, variable))
        assert str(path.parent) == mounts[volume]
        assert path.name in {item["path"] for item in volumes[volume]["secret"]["items"]}


# --- scaling, disruption, monitoring, network, ingress ----------------------------------------


def test_production_scales_on_cpu_and_consumer_lag(production: Manifests) -> None:
    hpas = {
        doc["spec"]["scaleTargetRef"]["name"]: doc
        for doc in production.of_kind("HorizontalPodAutoscaler")
    }
    routing = production.component("Deployment", "routing")
    # Routing is scaled by partition, by hand: 3 replicas, no autoscaler.
    assert routing["spec"]["replicas"] == 3
    assert routing["metadata"]["name"] not in hpas
    assert len(hpas) == len(CHART_SERVICES) - 1
    for name, hpa in hpas.items():
        deployment = production.get("Deployment", name)
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns its replicas"
        kinds = {metric["type"] for metric in hpa["spec"]["metrics"]}
        assert kinds == {"Resource", "Pods"}
        lag = next(m for m in hpa["spec"]["metrics"] if m["type"] == "Pods")
        assert lag["pods"]["metric"]["name"] == "socialcare_consumer_lag_records"


def test_default_install_has_no_autoscaler_or_monitor(default: Manifests) -> None:
    assert not default.of_kind("HorizontalPodAutoscaler")
    assert not default.of_kind("ServiceMonitor")
    assert not default.of_kind("Ingress")


def test_service_monitor_scrapes_every_service(production: Manifests) -> None:
    (monitor,) = production.of_kind("ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [
        doc
        for doc in production.of_kind("Service")
        if selector.items() <= doc["metadata"]["labels"].items()
    ]
    assert len(scraped) == len(CHART_SERVICES)
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    # The RED metrics' own `service` label is kept (deploy/prometheus does the same).
    assert endpoint["honorLabels"] is True
    assert all(endpoint["port"] in {p["name"] for p in s["spec"]["ports"]} for s in scraped)


def test_network_policies_deny_by_default_and_open_what_is_needed(rendered: Manifests) -> None:
    deny = rendered.get("NetworkPolicy", f"{RELEASE}-socialcare-default-deny-ingress")
    assert deny["spec"]["policyTypes"] == ["Ingress"] and not deny["spec"].get("ingress")

    def peers(service: str) -> list[tuple[str, set[str]]]:
        policy = rendered.component("NetworkPolicy", service)
        found = []
        for rule in policy["spec"]["ingress"]:
            ports = {p["port"] for p in rule["ports"]}
            for peer in rule["from"]:
                if "namespaceSelector" in peer:
                    ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    found.append((f"ns:{ns}", ports))
                else:
                    components = next(
                        e["values"]
                        for e in peer["podSelector"]["matchExpressions"]
                        if e["key"] == "app.kubernetes.io/component"
                    )
                    found.extend((f"pod:{c}", ports) for c in components)
        return found

    for service in CHART_SERVICES:
        assert ("ns:monitoring", {"http"}) in peers(service), service
    for service in ("routing", "sla"):
        assert ("pod:gateway", {"grpc"}) in peers(service)
        assert not any(peer.startswith("ns:ingress") for peer, _ in peers(service))
    for service in ("gateway", "ingestion"):
        assert ("ns:ingress-nginx", {"http", "grpc"}) in peers(service)
    for service in ("enrichment", "escalation", "indexer", "webhooks"):
        assert [peer for peer, _ in peers(service)] == ["ns:monitoring"], service


def test_ingress_sends_channels_to_ingestion_and_the_rest_to_the_gateway(
    production: Manifests,
) -> None:
    (ingress,) = production.of_kind("Ingress")
    assert ingress["spec"]["tls"][0]["secretName"] == "socialcare-tls"
    (rule,) = ingress["spec"]["rules"]
    backends = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    ingestion = production.component("Service", "ingestion")["metadata"]["name"]
    gateway = production.component("Service", "gateway")["metadata"]["name"]
    assert backends == {
        "/v1/messages": ingestion,
        "/v1/messages:batch": ingestion,
        "/v1/channels": ingestion,
        "/": gateway,
    }


# --- topics -----------------------------------------------------------------------------------


def test_topics_json_is_generated_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """files/topics.json is `socialcare topics list --format json` with the default
    settings: regenerate it when the topic registry changes."""
    for name in ("TOPIC_PARTITIONS", "TOPIC_REPLICATION", "TOPIC_RETENTION"):
        monkeypatch.delenv(f"SOCIALCARE_{name}", raising=False)
    for name in ("DLQ_RETENTION", "AUDIT_RETENTION"):
        monkeypatch.delenv(f"SOCIALCARE_{name}", raising=False)
    expected = render_json(topic_plans(TopicSettings()))
    committed = (CHART / "files" / "topics.json").read_text()
    assert committed == expected, (
        "charts/socialcare/files/topics.json is stale: run `socialcare topics list --format "
        "json > charts/socialcare/files/topics.json`"
    )


def test_default_install_creates_topics_with_a_hook_job(default: Manifests) -> None:
    (job,) = default.of_kind("Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["topics", "create"]
    assert env_value(container, "SOCIALCARE_BUS") == "kafka://my-cluster-kafka-bootstrap:9092"
    # It runs before the release's ServiceAccount exists.
    assert "serviceAccountName" not in pod
    assert not default.of_kind("KafkaTopic")


def test_strimzi_topics_follow_the_registry_and_the_values(production: Manifests) -> None:
    assert not production.of_kind("Job")
    topics = {doc["spec"]["topicName"]: doc for doc in production.of_kind("KafkaTopic")}
    values = load_yaml(PRODUCTION_VALUES)["topics"]
    plans = topic_plans(TopicSettings(topic_partitions=values["partitions"]))
    assert set(topics) == {plan.name for plan in plans}
    for plan in plans:
        topic = topics[plan.name]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "care"
        assert topic["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert topic["spec"]["partitions"] == plan.partitions
        assert topic["spec"]["replicas"] == values["replication"]
        config = topic["spec"]["config"]
        assert (config["cleanup.policy"] == "compact") == plan.compacted, plan.name
        if plan.dlq_for:
            assert config["retention.ms"] == str(values["dlqRetentionHours"] * 3_600_000)
    assert topics["care.cases"]["spec"]["config"]["cleanup.policy"] == "compact"
    assert topics["care.cases"]["spec"]["partitions"] == values["partitions"]
    for audit in ("audit.log", "privacy.erasures"):
        retention = topics[audit]["spec"]["config"]["retention.ms"]
        assert retention == str(values["auditRetentionHours"] * 3_600_000)
    assert topics["social.messages.raw"]["spec"]["config"]["retention.ms"] == str(
        values["retentionHours"] * 3_600_000
    )


# --- values the schema and templates refuse ---------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["kafka.securityProtocol=TLS"], "/kafka/securityProtocol"),
        (["env.SOCIALCARE_AUTH_SECRET=plain"], "/env/SOCIALCARE_AUTH_SECRET"),
        (["services.gateway.env.SOCIALCARE_OIDC_CLIENT_SECRET=x"], "SOCIALCARE_OIDC_CLIENT_SECRET"),
        (["env.SOCIALCARE_BUS=embedded"], "/env/SOCIALCARE_BUS"),
        (["elasticsearch.password=plain"], "additional properties 'password' not allowed"),
        (["elasticsearch.url=https://elastic:pw@es:9200"], "/elasticsearch/url"),
        (["securityContext.readOnlyRootFilesystem=false"], "readOnlyRootFilesystem"),
        (["podSecurityContext.runAsNonRoot=false"], "runAsNonRoot"),
        (["services.routing.grpcPort=0"], "/services/routing/grpcPort"),
        (["services.search.enabled=true"], "additional properties 'search' not allowed"),
        (["topics.create.mode=manual"], "/topics/create/mode"),
        (["image.digest=latest"], "/image/digest"),
        (["services.routing.replicas=8"], "exceed topics.partitions"),
        (["kafka.securityProtocol=SASL_SSL"], "kafka.sasl.username is required"),
        (["ingress.enabled=true", "ingress.tls.enabled=true"], "ingress.tls.secretName"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(
    helm: str, sets: list[str], message: str
) -> None:
    assert message in render_error(helm, sets=sets)


def test_image_by_digest(helm: str) -> None:
    digest = "sha256:" + "ab" * 32
    manifests = Manifests(render(helm, sets=[f"image.digest={digest}"]))
    for _, pod in manifests.workloads():
        for container in containers(pod):
            assert container["image"] == f"registry.example.com/socialcare@{digest}"


def test_disabled_service_renders_nothing(helm: str) -> None:
    manifests = Manifests(render(helm, sets=["services.webhooks.enabled=false"]))
    assert not [doc for doc in manifests.docs if doc["metadata"]["name"].endswith("-webhooks")]


def test_topics_mode_none_renders_no_topic_resources(helm: str) -> None:
    manifests = Manifests(render(helm, sets=["topics.create.mode=none"]))
    assert not manifests.of_kind("Job") and not manifests.of_kind("KafkaTopic")


def test_strimzi_topics_are_never_hooks(production: Manifests) -> None:
    """A hook resource is deleted before it is made again (hook-delete-policy), and deleting
    a KafkaTopic deletes the topic's data: the topics are ordinary, kept resources."""
    for topic in production.of_kind("KafkaTopic"):
        assert not any(key.startswith("helm.sh/hook") for key in topic["metadata"]["annotations"])


def test_lag_metric_as_an_external_metric(helm: str) -> None:
    manifests = Manifests(
        render(
            helm,
            sets=[
                "autoscaling.enabled=true",
                "autoscaling.lagMetric.enabled=true",
                "autoscaling.lagMetric.type=External",
            ],
        )
    )
    hpa = manifests.component("HorizontalPodAutoscaler", "indexer")
    external = next(m for m in hpa["spec"]["metrics"] if m["type"] == "External")["external"]
    assert external["metric"]["name"] == "socialcare_consumer_lag_records"
    assert external["metric"]["selector"]["matchLabels"] == {"service": "care-socialcare-indexer"}
    for doc in manifests.of_kind("HorizontalPodAutoscaler"):
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_helm_lint_refuses_a_bad_value(helm: str) -> None:
    result = run_helm(
        helm,
        "lint",
        "--kube-version",
        KUBE_VERSION,
        str(CHART),
        "--set",
        "topics.partitions=0",
    )
    assert result.returncode != 0
    assert "at '/topics/partitions': minimum: got 0, want 1" in result.stdout + result.stderr


def test_values_env_cannot_override_what_the_chart_sets(production: Manifests) -> None:
    """The schema refuses in `env` every variable the chart sets from its own values (a
    second entry of one name would silently win or lose)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    refused = set(schema["$defs"]["plainEnv"]["properties"])
    values = load_yaml(PRODUCTION_VALUES)
    from_values = set(values["env"]) | {
        name for service in values["services"].values() for name in service.get("env", {})
    }
    for _, pod in production.workloads():
        for container in containers(pod):
            for name, entry in env_of(container).items():
                if name.startswith("SOCIALCARE_") and "value" in entry and name not in from_values:
                    assert name in refused, name
