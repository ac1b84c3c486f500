"""requirements.lock and the offline dependency audit (deploy/tools/dependency_lock.py,
deploy/tools/dependency_audit.py).

The lock must cover every dependency pyproject.toml names, pin exact versions inside
pyproject's ranges, and be what the venv has (so the tests run what was audited). The OSV
range matching is checked on real records of the PyPA advisory database: introduced/fixed
(several pairs), last_affected, a `versions` list alone, GIT ranges next to ECOSYSTEM ones,
withdrawn records. Last, the audit runs on the lock and must pass: a new advisory in the
snapshot that hits a locked version fails CI until the dependency is upgraded or the
finding accepted with a reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

# The tools are scripts (python deploy/tools/x.py); tests/unit/deploy shadows the name
# `deploy` under pytest, so they are imported from their directory, as tests/unit/bench does.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "tools"))

import dependency_audit as audit_tool
import dependency_lock as lock_tool

REPO = Path(__file__).resolve().parents[3]
LOCK = REPO / "requirements.lock"
ADVISORIES = REPO / "deploy" / "advisories"
NOW = datetime(2026, 11, 27, tzinfo=UTC)


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return [Requirement(line) for line in lines]


def _advisory(text: str) -> audit_tool.Advisory:
    record = yaml.safe_load(text)
    return audit_tool.Advisory(
        id=record["id"],
        aliases=tuple(record.get("aliases") or []),
        summary=record.get("summary") or record.get("details") or "",
        withdrawn=bool(record.get("withdrawn")),
        affected=tuple(record["affected"]),
        source="inline",
    )


# --- the lock ---------------------------------------------------------------------------


def test_lock_pins_every_pyproject_dependency_inside_its_range() -> None:
    pins = audit_tool.parse_lock(LOCK.read_text(), str(LOCK))
    by_name = {canonicalize_name(name): version for name, version in pins.items()}
    for requirement in _pyproject_requirements():
        key = canonicalize_name(requirement.name)
        assert key in by_name, f"{requirement.name} is in pyproject.toml but not locked"
        assert requirement.specifier.contains(by_name[key], prereleases=True), (
            f"{requirement.name}=={by_name[key]} is outside pyproject's {requirement.specifier}"
        )


def test_lock_has_only_exact_pins() -> None:
    pins = audit_tool.parse_lock(LOCK.read_text(), str(LOCK))
    assert len(pins) == len({canonicalize_name(name) for name in pins})
    for bad in ("fastapi>=0.165", "fastapi==0.*", "fastapi"):
        with pytest.raises(audit_tool.AuditInputError, match="not an exact"):
            audit_tool.parse_lock(bad, "inline")


def test_lock_is_what_the_venv_resolves() -> None:
    """`make venv` installs with the lock as constraints; a venv that differs (a package
    upgraded by hand, a pyproject change without `make lock`) tests other versions than
    the audited ones."""
    resolved = lock_tool.render_lock(lock_tool.resolve_installed())
    assert resolved == LOCK.read_text(), "the venv differs from requirements.lock: make lock"


def test_resolve_follows_extras_and_markers() -> None:
    """socialcare[dev] brings pytest (only through the extra) and its own dependency pluggy;
    pip is locked though nothing requires it; socialcare itself is not a pin."""
    resolved = lock_tool.resolve_installed()
    assert {"pytest", "pluggy", "pip", "fastapi", "starlette"} <= set(resolved)
    assert "socialcare" not in resolved
    runtime_only = lock_tool.resolve_installed(extras=frozenset())
    assert "pytest" not in runtime_only
    assert "fastapi" in runtime_only


# --- OSV range matching on real PyPA records ----------------------------------------------


def test_introduced_fixed_with_versions_list() -> None:
    """PYSEC-2021-66 (jinja2 ReDoS): introduced 0, fixed 2.11.3, plus the versions list."""
    advisory = audit_tool.load_advisory(ADVISORIES / "vulns/jinja2/PYSEC-2021-66.yaml")
    assert audit_tool.affected_by(advisory, "Jinja2", "2.11.2") == ("2.11.3",)
    assert audit_tool.affected_by(advisory, "jinja2", "2.0rc1") == ("2.11.3",)
    assert audit_tool.affected_by(advisory, "jinja2", "2.11.3") is None
    assert audit_tool.affected_by(advisory, "jinja2", "3.1.6") is None
    assert "CVE-2020-28493" in advisory.ids


DJANGO_PYSEC_2023_61 = """
id: PYSEC-2023-61
details: An issue was discovered in Django 3.2 before 3.2.19, 4 before 4.1.9, and 4.2
  before 4.2.1. It was possible to bypass validation when using one form field to upload
  multiple files.
affected:
- package:
    name: django
    ecosystem: PyPI
    purl: pkg:pypi/django
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: "3.2"
    - fixed: 3.2.19
    - introduced: "4.0"
    - fixed: 4.1.9
    - introduced: "4.2"
    - fixed: 4.2.1
  versions:
  - 4.2a1
aliases:
- CVE-2023-31047
"""


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("3.1.14", False),
        ("3.2", True),
        ("3.2.18", True),
        ("3.2.19", False),
        ("3.2.25", False),
        ("4.0", True),
        ("4.1.8", True),
        ("4.1.9", False),
        ("4.2", True),
        ("4.2.1", False),
        ("5.0", False),
        # Before "introduced: 4.2" by PEP 440, but named in the record's versions list.
        ("4.2a1", True),
    ],
)
def test_several_introduced_fixed_pairs(version: str, affected: bool) -> None:
    advisory = _advisory(DJANGO_PYSEC_2023_61)
    fixed = audit_tool.affected_by(advisory, "Django", version)
    assert (fixed is not None) is affected
    if affected:
        assert fixed == ("3.2.19", "4.1.9", "4.2.1")


# The record's versions list (every release up to 1.11.0) is left out: the range decides.
PY_PYSEC_2022_42969 = """
id: PYSEC-2022-42969
details: The py library through 1.11.0 for Python allows remote attackers to conduct a ReDoS
  attack via a Subversion repository with crafted info data.
affected:
- package:
    name: py
    ecosystem: PyPI
    purl: pkg:pypi/py
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: '0'
    - last_affected: '1.11.0'
aliases:
- CVE-2022-42969
- GHSA-w596-4wvx-j9j6
"""


def test_last_affected_is_inclusive_and_has_no_fix() -> None:
    advisory = _advisory(PY_PYSEC_2022_42969)
    assert audit_tool.affected_by(advisory, "py", "1.11.0") == ()
    assert audit_tool.affected_by(advisory, "py", "0.9.0") == ()
    assert audit_tool.affected_by(advisory, "py", "1.11.1") is None
    assert audit_tool.affected_by(advisory, "pytest", "1.0") is None


GRATIENT_PYSEC_2024_1 = """
id: PYSEC-2024-1
summary: gratient 0.5 contains credential harvesting code
affected:
- package:
    ecosystem: PyPI
    name: gratient
    purl: pkg:pypi/gratient
  versions:
  - "0.5"
"""


def test_versions_list_without_ranges() -> None:
    advisory = _advisory(GRATIENT_PYSEC_2024_1)
    assert audit_tool.affected_by(advisory, "gratient", "0.5") == ()
    assert audit_tool.affected_by(advisory, "gratient", "0.5.0") == ()
    assert audit_tool.affected_by(advisory, "gratient", "0.4") is None


GEVENT_PYSEC_2023_177 = """
id: PYSEC-2023-177
details: An issue in Gevent before version 23.9.0 allows a remote attacker to escalate
  privileges via a crafted script to the WSGIServer component.
affected:
- package:
    ecosystem: PyPI
    name: gevent
    purl: pkg:pypi/gevent
  ranges:
  - type: GIT
    events:
    - introduced: "0"
    - fixed: 2f53c851eaf926767fbac62385615efd4886221c
    repo: https://github.com/gevent/gevent
  - type: ECOSYSTEM
    events:
    - introduced: "0"
    - fixed: 23.9.0
aliases:
- CVE-2023-41419
"""


def test_git_ranges_are_skipped() -> None:
    """A GIT range's events are commit hashes: evaluating them as versions would fail."""
    advisory = _advisory(GEVENT_PYSEC_2023_177)
    assert audit_tool.affected_by(advisory, "gevent", "22.10.2") == ("23.9.0",)
    assert audit_tool.affected_by(advisory, "gevent", "23.9.1") is None


# Withdrawn on 2024-08-02 (not a flaw of the PyPI package); its range covers every version.
ANSIBLE_PYSEC_2021_125 = """
id: PYSEC-2021-125
details: A flaw was found in Ansible where the secret information present in async_files
  are getting disclosed when the user changes the jobdir to a world readable directory.
aliases:
- CVE-2021-3532
withdrawn: '2024-08-02T20:32:38Z'
affected:
- package:
    name: ansible
    ecosystem: PyPI
    purl: pkg:pypi/ansible
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: '0'
"""


def test_withdrawn_advisory_affects_nothing() -> None:
    advisory = _advisory(ANSIBLE_PYSEC_2021_125)
    assert advisory.withdrawn
    assert audit_tool.affected_by(advisory, "ansible", "2.9.0") is None
    live = _advisory(ANSIBLE_PYSEC_2021_125.replace("withdrawn: '2024-08-02T20:32:38Z'\n", ""))
    assert audit_tool.affected_by(live, "ansible", "2.9.0") == ()


def test_unparseable_range_version_is_an_error_not_a_pass() -> None:
    broken = _advisory(GEVENT_PYSEC_2023_177.replace("fixed: 23.9.0", "fixed: not-a-version"))
    with pytest.raises(audit_tool.AuditInputError, match="not a PEP 440 version"):
        audit_tool.affected_by(broken, "gevent", "22.10.2")
    two_keys = [{"introduced": "0", "fixed": "1.0"}]
    with pytest.raises(audit_tool.AuditInputError, match="is not one key"):
        audit_tool.range_contains(two_keys, Version("0.5"), "inline")
    with pytest.raises(audit_tool.AuditInputError, match="unknown range event"):
        audit_tool.range_contains([{"introduced": "0"}, {"patched": "1.0"}], Version("2"), "x")


def test_range_events_are_ordered_by_version_not_by_position() -> None:
    """The OSV schema evaluates events sorted by version; a record may list them otherwise.
    An `introduced` and a `fixed` at one version make an empty range."""
    events = [{"fixed": "2.0"}, {"introduced": "1.0"}]
    assert not audit_tool.range_contains(events, Version("0.5"), "inline")
    assert audit_tool.range_contains(events, Version("1.0"), "inline")
    assert audit_tool.range_contains(events, Version("1.9.9"), "inline")
    assert not audit_tool.range_contains(events, Version("2.0"), "inline")
    empty = [{"fixed": "1.0"}, {"introduced": "1.0"}]
    assert not audit_tool.range_contains(empty, Version("1.0"), "inline")


# --- the audit --------------------------------------------------------------------------


def test_audit_of_the_lock_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """CI's audit: every locked version against the vendored snapshot; a finding fails here
    until the dependency is upgraded or the finding accepted in accepted.yaml."""
    status = audit_tool.run_audit(LOCK, ADVISORIES, ADVISORIES / "accepted.yaml", NOW)
    out = capsys.readouterr()
    assert status == 0, out.out + out.err
    snapshot = json.loads((ADVISORIES / "snapshot.json").read_text())
    assert f"@ {snapshot['commit'][:12]}" in out.out
    assert "No known vulnerabilities found" in out.out
    print(out.out)


def test_snapshot_covers_the_lock_and_the_readme_names_its_commit() -> None:
    pins = audit_tool.parse_lock(LOCK.read_text(), str(LOCK))
    snapshot = json.loads((ADVISORIES / "snapshot.json").read_text())
    assert {canonicalize_name(name) for name in pins} <= set(snapshot["packages"])
    readme = (ADVISORIES / "README.md").read_text()
    assert snapshot["commit"] in readme
    assert snapshot["committed"] in readme
    for directory in (ADVISORIES / "vulns").iterdir():
        assert canonicalize_name(directory.name) in snapshot["packages"], directory


def _write_lock(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "old.lock"
    path.write_text(text)
    return path


def test_audit_reports_findings_like_pip_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = _write_lock(tmp_path, "Jinja2==2.10\nPyYAML==6.0.4\n")
    status = audit_tool.run_audit(lock, ADVISORIES, tmp_path / "none.yaml", NOW)
    out = capsys.readouterr().out
    assert status == 1
    assert "Found 2 known vulnerabilities in 1 package" in out
    header = next(line for line in out.splitlines() if line.startswith("Name"))
    assert header.split() == ["Name", "Version", "ID", "Fix", "Versions", "Aliases", "Summary"]
    rows = {line.split()[2]: line.split() for line in out.splitlines() if "PYSEC" in line}
    assert set(rows) == {"PYSEC-2019-217", "PYSEC-2021-66"}
    assert rows["PYSEC-2019-217"][:4] == ["Jinja2", "2.10", "PYSEC-2019-217", "2.10.1"]


def test_accepted_findings_pass_with_their_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = _write_lock(tmp_path, "jinja2==2.11.2\n")
    accepted = tmp_path / "accepted.yaml"
    accepted.write_text(
        "accepted:\n"
        "- id: CVE-2020-28493\n"
        "  package: Jinja2\n"
        "  reason: the urlize filter is never used on user input\n"
        "- id: PYSEC-2019-217\n"
        "  package: jinja2\n"
        "  reason: fixed long ago\n"
    )
    status = audit_tool.run_audit(lock, ADVISORIES, accepted, NOW)
    out = capsys.readouterr().out
    assert status == 0
    assert "No known vulnerabilities found" in out
    assert "the urlize filter is never used on user input" in out
    assert "accepted entry PYSEC-2019-217 (jinja2) matches no finding any more" in out


def test_accepted_entry_without_reason_is_refused(tmp_path: Path) -> None:
    accepted = tmp_path / "accepted.yaml"
    accepted.write_text("accepted:\n- id: PYSEC-2021-66\n  package: jinja2\n")
    with pytest.raises(audit_tool.AuditInputError, match="needs id, package and reason"):
        audit_tool.load_accepted(accepted)


def test_package_not_in_the_snapshot_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A package added to the lock after the snapshot was taken was never looked up: its
    "no advisory" would be a false pass."""
    lock = _write_lock(tmp_path, "jinja2==3.1.6\nflask==3.0.0\n")
    status = audit_tool.run_audit(lock, ADVISORIES, tmp_path / "none.yaml", NOW)
    assert status == 2
    assert "not taken for flask" in capsys.readouterr().err


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def test_refresh_vendors_the_locked_packages_from_a_clone(tmp_path: Path) -> None:
    database = tmp_path / "advisory-database"
    records = {
        # The directory named as published (Jinja2), not canonically: matched by canonical name.
        "vulns/Jinja2/PYSEC-2021-66.yaml": (
            ADVISORIES / "vulns/jinja2/PYSEC-2021-66.yaml"
        ).read_text(),
        "vulns/py/PYSEC-2022-42969.yaml": PY_PYSEC_2022_42969,
    }
    for relative, text in records.items():
        path = database / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(database.parent, "init", "-q", str(database))
    _git(database, "add", "vulns")
    _git(
        database,
        "-c",
        "user.name=advisories",
        "-c",
        "user.email=advisories@example.invalid",
        "commit",
        "-q",
        "-m",
        "snapshot",
    )
    out = tmp_path / "advisories"
    count = audit_tool.refresh(database, "HEAD", {"jinja2": "3.1.6", "httpx": "0.28.1"}, out)
    assert count == 1
    assert [p.relative_to(out).as_posix() for p in sorted(out.rglob("*.yaml"))] == [
        "vulns/Jinja2/PYSEC-2021-66.yaml"
    ]
    snapshot = json.loads((out / "snapshot.json").read_text())
    assert snapshot["packages"] == ["httpx", "jinja2"]
    assert len(snapshot["commit"]) == 40
    assert snapshot["commit"] in (out / "README.md").read_text()
    lock = _write_lock(tmp_path, "jinja2==2.11.2\nhttpx==0.28.1\n")
    assert audit_tool.run_audit(lock, out, out / "accepted.yaml", NOW) == 1


def test_crosscheck_compares_ranges_with_versions_lists(tmp_path: Path) -> None:
    """Run on the whole database after a refresh (`crosscheck --repository`): a listed
    version outside the ranges is reported (django's pre-releases before `introduced: 4.2`),
    a range that cannot be evaluated too."""
    django = DJANGO_PYSEC_2023_61.replace("  - 4.2a1\n", "  - 4.2a1\n  - 3.2.18\n  - 4.0.1\n")
    broken = GEVENT_PYSEC_2023_177.replace(
        "    - fixed: 23.9.0\n", "    - fixed: not-a-version\n  versions:\n  - 22.10.2\n"
    )
    for relative, text in {
        "vulns/django/PYSEC-2023-61.yaml": django,
        "vulns/gevent/PYSEC-2023-177.yaml": broken,
    }.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True)
        path.write_text(text)
    checked = audit_tool.crosscheck(tmp_path)
    assert checked.advisories == 2
    assert checked.inside == 2
    assert [line.rsplit(": ", 1)[1] for line in checked.outside] == ["4.2a1"]
    assert len(checked.unevaluable) == 1
    assert "PYSEC-2023-177" in checked.unevaluable[0]
