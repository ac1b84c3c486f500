"""Running helm on charts/socialcare from the chart tests, and reading what it renders.

helm is built by `deploy/tools/install-helm.sh .cache/tools` (`make helm`; `make test` sets
SOCIALCARE_TEST_HELM). Without it the tests fail with that command, never skip: a chart that
was not rendered was not tested.

helm is given an explicit Kubernetes version (a `go install`ed helm reports v1.20 without it,
older than the chart's kubeVersion), the same version kubernetes-validate checks against.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "socialcare"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
DEFAULT_HELM = REPO / ".cache" / "tools" / "bin" / "helm"
# The Kubernetes version the manifests are rendered for and validated against (its schemas
# ship with kubernetes-validate).
KUBE_VERSION = "1.33.0"
RELEASE = "care"
NAMESPACE = "socialcare"


def helm_path() -> str:
    """$SOCIALCARE_TEST_HELM, else .cache/tools/bin/helm; fails the calling test when
    neither exists."""
    path = str(Path(os.environ.get("SOCIALCARE_TEST_HELM") or DEFAULT_HELM).resolve())
    if not Path(path).is_file():
        pytest.fail(
            f"helm is missing at {path}: build it with `make helm` (runs "
            "`deploy/tools/install-helm.sh .cache/tools`, ~5 minutes the first time), "
            "or set SOCIALCARE_TEST_HELM to a helm v3 binary"
        )
    return path


@dataclass(frozen=True)
class HelmResult:
    returncode: int
    stdout: str
    stderr: str


def run_helm(helm: str, *args: str | Path) -> HelmResult:
    done = subprocess.run(
        [helm, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HELM_CACHE_HOME": "/tmp/socialcare-helm-cache"},
    )
    return HelmResult(done.returncode, done.stdout, done.stderr)


def template_args(values: Sequence[Path] = (), sets: Sequence[str] = ()) -> list[str]:
    args = [
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
    ]
    for path in values:
        args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    return args


def render(
    helm: str, values: Sequence[Path] = (), sets: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Every manifest `helm template` renders; the calling test fails with helm's message
    when rendering fails."""
    result = run_helm(helm, *template_args(values, sets))
    if result.returncode != 0:
        pytest.fail(f"helm template failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_error(helm: str, values: Sequence[Path] = (), sets: Sequence[str] = ()) -> str:
    """helm's error message for values that must be refused (the test fails if rendered)."""
    result = run_helm(helm, *template_args(values, sets))
    if result.returncode == 0:
        pytest.fail(f"helm template accepted {list(sets)} {list(map(str, values))}")
    return result.stderr


@dataclass(frozen=True)
class Manifests:
    """Rendered manifests, looked up by kind and name."""

    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc.get("kind") == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        raise AssertionError(f"no {kind} {name!r} rendered")

    def workloads(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(workload, pod spec) of every Deployment and Job."""
        for doc in self.docs:
            if doc["kind"] in ("Deployment", "Job"):
                yield doc, doc["spec"]["template"]["spec"]

    def component(self, kind: str, service: str) -> dict[str, Any]:
        return self.get(kind, f"{RELEASE}-socialcare-{service}")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())
