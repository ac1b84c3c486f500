"""buf on the published protobuf schema: `buf lint` (STANDARD, buf.yaml) and `buf breaking`
(FILE) against the last released schema (proto/released/), plus copies of proto/ with a
lint violation or a breaking change, which must fail, so the checks can fail at all."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from google.protobuf import descriptor_pb2

from tests.unit.integrate.tools import REPO, buf_binary, latest_released, released_images

CASE_PROTO = Path("proto/socialcare/v1/case.proto")


def buf(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(buf_binary()), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def workspace_copy(tmp_path: Path, edit: Callable[[str], str]) -> Path:
    """buf.yaml and proto/ copied under tmp_path, case.proto rewritten by `edit`."""
    root = tmp_path / "workspace"
    shutil.copytree(REPO / "proto", root / "proto", ignore=shutil.ignore_patterns("released"))
    shutil.copy(REPO / "buf.yaml", root / "buf.yaml")
    path = root / CASE_PROTO
    original = path.read_text(encoding="utf-8")
    edited = edit(original)
    assert edited != original, "the edit must change case.proto"
    path.write_text(edited, encoding="utf-8")
    return root


def replacing(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new, 1)


def test_buf_lint_passes_on_proto() -> None:
    result = buf("lint")
    assert result.returncode == 0, f"buf lint:\n{result.stdout}{result.stderr}"


def test_no_breaking_change_against_the_last_released_schema() -> None:
    baseline = latest_released()
    result = buf("breaking", "--against", str(baseline))
    assert result.returncode == 0, (
        f"buf breaking against {baseline.name} (published fields and messages are only ever "
        f"added; see buf.yaml):\n{result.stdout}{result.stderr}"
    )


def test_a_renumbered_field_is_a_breaking_change(tmp_path: Path) -> None:
    root = workspace_copy(
        tmp_path,
        lambda text: text.replace(
            "  string id = 1;\n  CaseStatus", "  string id = 99;\n  CaseStatus", 1
        ),
    )
    result = buf("breaking", "--against", str(latest_released()), cwd=root)
    assert result.returncode != 0
    assert 'field "1" with name "id" on message "Case" was deleted' in result.stdout, result.stdout


def test_a_removed_field_is_a_breaking_change(tmp_path: Path) -> None:
    root = workspace_copy(tmp_path, replacing("  string queue = 5;\n", ""))
    result = buf("breaking", "--against", str(latest_released()), cwd=root)
    assert result.returncode != 0
    assert 'field "5" with name "queue" on message "Case" was deleted' in result.stdout


def test_a_renamed_field_is_breaking_for_generated_code(tmp_path: Path) -> None:
    """FILE, not WIRE_JSON: the same number and type under another name still breaks the
    integrators' generated code."""
    root = workspace_copy(
        tmp_path, lambda text: text.replace("  string queue = 5;", "  string queue_name = 5;", 1)
    )
    result = buf("breaking", "--against", str(latest_released()), cwd=root)
    assert result.returncode != 0
    assert "queue" in result.stdout, result.stdout


def test_an_added_field_is_not_breaking(tmp_path: Path) -> None:
    root = workspace_copy(
        tmp_path,
        lambda text: text.replace(
            "message Case {\n", "message Case {\n  string added_in_a_test = 900;\n", 1
        ),
    )
    result = buf("breaking", "--against", str(latest_released()), cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_lint_violation_fails_buf_lint(tmp_path: Path) -> None:
    root = workspace_copy(
        tmp_path, lambda text: text + "\nmessage bad_name {\n  string BadField = 1;\n}\n"
    )
    result = buf("lint", cwd=root)
    assert result.returncode != 0
    assert "bad_name" in result.stdout and "BadField" in result.stdout, result.stdout


def test_the_released_image_is_the_schema_before_issue_12() -> None:
    """v0.1.0 is the protos of commit 223ab85: no webhook, audit or privacy files, no
    Case.traceparent. (A buf image reads as a FileDescriptorSet.)"""
    [first, *_] = released_images()
    assert first.name == "socialcare-v0.1.0.binpb"
    images = descriptor_pb2.FileDescriptorSet.FromString(first.read_bytes())
    files = {f.name: f for f in images.file}
    ours = sorted(name for name in files if name.startswith("socialcare/"))
    assert "socialcare/v1/case.proto" in ours and "socialcare/v1/services.proto" in ours
    assert not {"socialcare/v1/webhook.proto", "socialcare/v1/audit.proto"} & set(ours)
    [case] = [m for m in files["socialcare/v1/case.proto"].message_type if m.name == "Case"]
    assert "traceparent" not in {f.name for f in case.field}
    assert "id" in {f.name for f in case.field}


def test_buf_yaml_breaking_rules_are_file_and_lint_exceptions_are_the_documented_ones() -> None:
    config = yaml.safe_load((REPO / "buf.yaml").read_text(encoding="utf-8"))
    assert config["version"] == "v2"
    assert config["modules"] == [{"path": "proto"}]
    assert config["breaking"]["use"] == ["FILE"]
    assert config["lint"]["use"] == ["STANDARD"]
    # Each exception is explained in buf.yaml; a new one needs a reason there and here.
    assert sorted(config["lint"].get("except", [])) == [
        "RPC_REQUEST_RESPONSE_UNIQUE",
        "RPC_REQUEST_STANDARD_NAME",
        "RPC_RESPONSE_STANDARD_NAME",
    ]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("socialcare-v0.1.0.binpb", "socialcare-v0.9.1.binpb"),
        ("socialcare-v0.10.0.binpb", "socialcare-v0.10.0.binpb"),
    ],
)
def test_latest_released_orders_versions_numerically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, expected: str
) -> None:
    from tests.unit.integrate import tools

    for name in ("socialcare-v0.2.0.binpb", "socialcare-v0.9.1.binpb", extra, "README.md"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(tools, "RELEASED_DIR", tmp_path)
    assert tools.latest_released().name == expected
