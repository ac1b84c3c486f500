"""Audit requirements.lock against a vendored snapshot of the PyPA advisory database, offline.

Why not `pip-audit` itself: both of its vulnerability services are network services that
this project's machines and CI cannot use (PyPI's per-version JSON API, which carries the
`vulnerabilities` list, and api.osv.dev), its command line takes no local database, and its
Python API is private (`pip_audit._service`, untyped). What pip-audit does with the OSV
service is: send name and version, get back the advisories whose ranges contain that version
(the matching is done by the server). This module does that matching itself, on the OSV
records of github.com/pypa/advisory-database (the database PyPI's and OSV's PyPI data come
from), vendored for the locked packages under deploy/advisories/vulns/, and prints the
result in pip-audit's column format.

A locked version is affected by an advisory when the advisory is not withdrawn and one of
its `affected` entries names the package (PyPI ecosystem, canonical name) and either lists
the version in `versions` or has an ECOSYSTEM or SEMVER range whose events (introduced,
fixed, last_affected, limit; evaluated as in the OSV schema, with PEP 440 ordering) contain
it. GIT ranges (commit hashes) say nothing about released versions and are skipped.

Findings accepted after review are listed with the reason in deploy/advisories/accepted.yaml
(by id or alias, per package). Exit status: 0 no finding outside that list, 1 a finding not
accepted, 2 the inputs are wrong (an unparseable advisory or lock, a locked package the
snapshot was not taken for: `make advisories` after `make lock`).

The snapshot is only as fresh as its commit (deploy/advisories/snapshot.json): every run
prints its date and age, since advisories published after it are unknown to this audit.
`refresh` (make advisories) re-vendors from a clone of the database.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parents[2]
LOCK_PATH = REPO / "requirements.lock"
ADVISORIES_DIR = REPO / "deploy" / "advisories"
DATABASE_URL = "https://github.com/pypa/advisory-database"
# Range types whose events are package versions; GIT ranges hold commit hashes.
VERSION_RANGE_TYPES = frozenset({"ECOSYSTEM", "SEMVER"})


class AuditInputError(Exception):
    """An input of the audit is unusable: the message names the file and what to do."""


@dataclass(frozen=True)
class Advisory:
    """One OSV record, as much of it as the audit reads."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    withdrawn: bool
    affected: tuple[Mapping[str, Any], ...]
    source: str

    @property
    def ids(self) -> frozenset[str]:
        """The id and every alias: an accepted entry may name any of them."""
        return frozenset((self.id, *self.aliases))


@dataclass(frozen=True)
class Finding:
    """A locked package version inside an advisory's affected versions."""

    package: str
    version: str
    advisory: Advisory
    fixed: tuple[str, ...]


@dataclass(frozen=True)
class Accepted:
    """A finding accepted after review (accepted.yaml), with the reason it is acceptable."""

    id: str
    package: NormalizedName
    reason: str


@dataclass
class AuditResult:
    """What `audit` found: findings still open, findings accepted, and accepted entries that
    matched nothing (stale: the version moved past the advisory; the entry can go)."""

    open: list[Finding] = field(default_factory=list)
    accepted: list[tuple[Finding, Accepted]] = field(default_factory=list)
    unused: list[Accepted] = field(default_factory=list)
    packages: int = 0
    advisories: int = 0


def _version(text: object, where: str) -> Version:
    try:
        return Version(str(text))
    except InvalidVersion as exc:
        raise AuditInputError(f"{where}: {text!r} is not a PEP 440 version") from exc


def _event_order(event: Mapping[str, Any], where: str) -> tuple[int, Version | None, int]:
    """Sort key of a range event: `introduced: "0"` first, then by version; at one version
    `introduced` before the bounds, so a version both introduced and fixed is not affected."""
    kind, value = next(iter(event.items()))
    if kind == "introduced" and str(value) == "0":
        return (0, None, 0)
    return (1, _version(value, where), 0 if kind == "introduced" else 1)


def range_contains(events: Sequence[Mapping[str, Any]], version: Version, where: str) -> bool:
    """Whether version is inside an OSV ECOSYSTEM/SEMVER range (the OSV schema's evaluation).

    Events sorted by version are walked in order: an `introduced` at or below the version
    opens the range, a `fixed` or `limit` at or below it closes it, a `last_affected` below
    it closes it. Raises AuditInputError on an event that is not one of those four or whose
    version is not PEP 440 (a range that cannot be evaluated must not pass silently)."""
    for event in events:
        if not isinstance(event, Mapping) or len(event) != 1:
            raise AuditInputError(f"{where}: range event {event!r} is not one key: version")
    affected = False
    for event in sorted(events, key=lambda e: _event_order(e, where)):
        kind, value = next(iter(event.items()))
        if kind == "introduced":
            if str(value) == "0" or version >= _version(value, where):
                affected = True
        elif kind in ("fixed", "limit"):
            if version >= _version(value, where):
                affected = False
        elif kind == "last_affected":
            if version > _version(value, where):
                affected = False
        else:
            raise AuditInputError(f"{where}: unknown range event {kind!r}")
    return affected


def _listed(versions: Iterable[object], version: Version) -> bool:
    """Whether version is in an OSV `versions` list, comparing PEP 440 forms (2.0 == 2.0.0)
    and, for a legacy non-PEP 440 entry, the text."""
    for listed in versions:
        try:
            if Version(str(listed)) == version:
                return True
        except InvalidVersion:
            if str(listed) == str(version):
                return True
    return False


def affected_by(advisory: Advisory, package: str, version: str) -> tuple[str, ...] | None:
    """The fixed versions when package==version is affected by advisory, else None.

    Withdrawn advisories affect nothing. The fixed versions are those of the ranges that
    name the package (ordered by version), empty when no release fixes it."""
    if advisory.withdrawn:
        return None
    wanted = canonicalize_name(package)
    parsed = Version(version)
    hit = False
    fixed: set[str] = set()
    for index, entry in enumerate(advisory.affected):
        where = f"{advisory.source} affected[{index}]"
        named = entry.get("package") or {}
        if named.get("ecosystem") != "PyPI" or canonicalize_name(str(named.get("name"))) != wanted:
            continue
        for range_ in entry.get("ranges") or []:
            if range_.get("type") not in VERSION_RANGE_TYPES:
                continue
            events = range_.get("events") or []
            fixed.update(str(e["fixed"]) for e in events if "fixed" in e)
            hit = hit or range_contains(events, parsed, where)
        hit = hit or _listed(entry.get("versions") or [], parsed)
    if not hit:
        return None
    return tuple(sorted(fixed, key=lambda v: _version(v, advisory.source)))


def load_advisory(path: Path) -> Advisory:
    """Read one OSV YAML record. Raises AuditInputError when it is not an OSV record."""
    try:
        record = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise AuditInputError(f"{path}: not YAML: {exc}") from exc
    if not isinstance(record, dict) or "id" not in record:
        raise AuditInputError(f"{path}: not an OSV record (no id)")
    summary = str(record.get("summary") or record.get("details") or "").strip()
    return Advisory(
        id=str(record["id"]),
        aliases=tuple(str(alias) for alias in record.get("aliases") or []),
        summary=" ".join(summary.split()),
        withdrawn=bool(record.get("withdrawn")),
        affected=tuple(record.get("affected") or []),
        source=str(path),
    )


def parse_lock(text: str, source: str) -> dict[str, str]:
    """Published name -> version from a lock of exact `name==version` pins.

    Raises AuditInputError on any other line: a range cannot be audited."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip() or "*" in version:
            raise AuditInputError(f"{source}:{number}: {raw!r} is not an exact name==version pin")
        _version(version.strip(), f"{source}:{number}")
        pins[name.strip()] = version.strip()
    return pins


def load_accepted(path: Path) -> list[Accepted]:
    """The accepted findings of path (missing file: none). Each entry needs an id (or alias),
    the package and a reason; raises AuditInputError otherwise."""
    if not path.exists():
        return []
    document = yaml.safe_load(path.read_text()) or {}
    entries = document.get("accepted") if isinstance(document, dict) else None
    if entries is None and isinstance(document, dict):
        entries = []
    if not isinstance(entries, list):
        raise AuditInputError(f"{path}: expected a mapping with an `accepted` list")
    accepted = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(
            str(entry.get(key) or "").strip() for key in ("id", "package", "reason")
        ):
            raise AuditInputError(f"{path}: accepted[{index}] needs id, package and reason")
        accepted.append(
            Accepted(
                id=str(entry["id"]),
                package=canonicalize_name(str(entry["package"])),
                reason=" ".join(str(entry["reason"]).split()),
            )
        )
    return accepted


def load_snapshot(advisories_dir: Path) -> dict[str, Any]:
    """snapshot.json: the database commit and date, and the packages it was vendored for."""
    path = advisories_dir / "snapshot.json"
    if not path.exists():
        raise AuditInputError(f"{path} is missing: run `make advisories`")
    snapshot: dict[str, Any] = json.loads(path.read_text())
    return snapshot


def audit(
    pins: Mapping[str, str],
    advisories_dir: Path,
    accepted: Sequence[Accepted],
    covered: Iterable[str],
) -> AuditResult:
    """Match every pin against the advisories vendored for it.

    covered: the canonical names the snapshot was taken for; a pin outside it raises
    AuditInputError, because "no advisory" would then mean "not looked up"."""
    covered_names = {canonicalize_name(name) for name in covered}
    missing = sorted(name for name in pins if canonicalize_name(name) not in covered_names)
    if missing:
        raise AuditInputError(
            f"the advisory snapshot was not taken for {', '.join(missing)}: "
            "run `make advisories` (the lock changed since)"
        )
    by_package: dict[NormalizedName, list[Path]] = {}
    vulns = advisories_dir / "vulns"
    if vulns.is_dir():
        for directory in sorted(vulns.iterdir()):
            by_package.setdefault(canonicalize_name(directory.name), []).extend(
                sorted(directory.glob("*.yaml"))
            )
    result = AuditResult(packages=len(pins))
    used: set[Accepted] = set()
    for name, version in sorted(pins.items(), key=lambda item: canonicalize_name(item[0])):
        key = canonicalize_name(name)
        for path in by_package.get(key, []):
            advisory = load_advisory(path)
            result.advisories += 1
            fixed = affected_by(advisory, name, version)
            if fixed is None:
                continue
            finding = Finding(name, version, advisory, fixed)
            match = next((a for a in accepted if a.package == key and a.id in advisory.ids), None)
            if match is None:
                result.open.append(finding)
            else:
                used.add(match)
                result.accepted.append((finding, match))
    result.unused = [entry for entry in accepted if entry not in used]
    return result


def _columns(rows: Sequence[Sequence[str]]) -> str:
    """pip-audit's column layout: left-aligned, a dashed rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, " ".join("-" * width for width in widths))
    return "\n".join(lines)


def _finding_row(finding: Finding, last: str) -> list[str]:
    advisory = finding.advisory
    aliases = ", ".join(sorted(advisory.aliases))
    return [finding.package, finding.version, advisory.id, ",".join(finding.fixed), aliases, last]


def _summary(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render(result: AuditResult, snapshot: Mapping[str, Any], now: datetime) -> str:
    """The report: the snapshot's commit and age, then the open and the accepted findings in
    pip-audit's columns (Name, Version, ID, Fix Versions, Aliases, then the summary or the
    reason of acceptance)."""
    committed = datetime.fromisoformat(str(snapshot["committed"]))
    age = (now - committed).days
    lines = [
        f"advisory snapshot: {snapshot['source']} @ {str(snapshot['commit'])[:12]}, "
        f"committed {committed.date().isoformat()} ({age} days ago); advisories published "
        "since then are not known to this audit (refresh: make advisories)",
        f"audited {result.packages} locked packages against {result.advisories} advisories",
    ]
    header = ["Name", "Version", "ID", "Fix Versions", "Aliases"]
    if result.open:
        packages = len({finding.package for finding in result.open})
        lines.append(
            f"Found {len(result.open)} known vulnerabilit{'y' if len(result.open) == 1 else 'ies'}"
            f" in {packages} package{'' if packages == 1 else 's'}"
        )
        rows = [[*header, "Summary"]]
        rows += [_finding_row(f, _summary(f.advisory.summary)) for f in result.open]
        lines.append(_columns(rows))
    else:
        lines.append("No known vulnerabilities found")
    if result.accepted:
        lines.append(f"Accepted after review ({len(result.accepted)}, deploy/advisories):")
        rows = [[*header, "Reason"]]
        rows += [_finding_row(f, accepted.reason) for f, accepted in result.accepted]
        lines.append(_columns(rows))
    for entry in result.unused:
        lines.append(
            f"note: accepted entry {entry.id} ({entry.package}) matches no finding any more; "
            "remove it"
        )
    return "\n".join(lines)


def run_audit(lock: Path, advisories_dir: Path, accepted_path: Path, now: datetime) -> int:
    """Audit lock and print the report; the exit status of the module's `audit` command."""
    try:
        snapshot = load_snapshot(advisories_dir)
        pins = parse_lock(lock.read_text(), str(lock))
        result = audit(pins, advisories_dir, load_accepted(accepted_path), snapshot["packages"])
    except AuditInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(result, snapshot, now))
    return 1 if result.open else 0


def _git(repository: Path, *args: str) -> bytes:
    completed = subprocess.run(
        ["git", "-C", str(repository), *args], check=True, capture_output=True
    )
    return completed.stdout


def refresh(repository: Path, revision: str, pins: Mapping[str, str], out_dir: Path) -> int:
    """Re-vendor the advisories of the locked packages from a clone of the database (bare or
    not) at revision into out_dir: vulns/<package>/*.yaml, snapshot.json and the README.
    Returns how many advisory files were vendored."""
    commit = _git(repository, "rev-parse", f"{revision}^{{commit}}").decode().strip()
    committed = _git(repository, "show", "-s", "--format=%cI", commit).decode().strip()
    listing = _git(repository, "ls-tree", "--name-only", commit, "vulns/").decode().split()
    wanted = {canonicalize_name(name) for name in pins}
    directories = [path for path in listing if canonicalize_name(Path(path).name) in wanted]
    vulns = out_dir / "vulns"
    with tempfile.TemporaryDirectory() as scratch:
        count = 0
        if directories:
            archive = _git(repository, "archive", "--format=tar", commit, *directories)
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                for member in tar.getmembers():
                    path = PurePosixPath(member.name)
                    if not member.isfile() or path.suffix != ".yaml" or len(path.parts) != 3:
                        continue
                    extracted = tar.extractfile(member)
                    if extracted is None:
                        continue
                    target = Path(scratch, *path.parts[1:])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(extracted.read())
                    count += 1
        if vulns.exists():
            shutil.rmtree(vulns)
        shutil.copytree(scratch, vulns)
    snapshot = {
        "source": DATABASE_URL,
        "commit": commit,
        "committed": committed,
        "packages": sorted(wanted),
    }
    (out_dir / "snapshot.json").write_text(json.dumps(snapshot, indent=2) + "\n")
    (out_dir / "README.md").write_text(readme(snapshot, count))
    return count


@dataclass
class CrossCheck:
    """How the range evaluation agrees with the `versions` lists of the same records."""

    advisories: int = 0
    inside: int = 0
    outside: list[str] = field(default_factory=list)
    unevaluable: list[str] = field(default_factory=list)


def crosscheck(directory: Path) -> CrossCheck:
    """Check range_contains on a whole database (directory holding vulns/<package>/): the
    records list the affected versions as well as the ranges, so every PEP 440 version in a
    `versions` list should lie inside that entry's ECOSYSTEM/SEMVER ranges. The few that do
    not are the records' own inconsistencies (the audit counts a listed version affected
    either way); an unevaluable range would make the audit stop on that package."""
    result = CrossCheck()
    for path in sorted(directory.glob("vulns/*/*.yaml")):
        advisory = load_advisory(path)
        result.advisories += 1
        for index, entry in enumerate(advisory.affected):
            ranges = [
                r["events"]
                for r in entry.get("ranges") or []
                if r.get("type") in VERSION_RANGE_TYPES
            ]
            if not ranges:
                continue
            for listed in entry.get("versions") or []:
                try:
                    version = Version(str(listed))
                except InvalidVersion:
                    continue
                try:
                    inside = any(range_contains(e, version, str(path)) for e in ranges)
                except AuditInputError as exc:
                    result.unevaluable.append(f"{path} affected[{index}]: {exc}")
                    break
                if inside:
                    result.inside += 1
                else:
                    result.outside.append(f"{path}: {listed}")
    return result


def readme(snapshot: Mapping[str, Any], count: int) -> str:
    """The README beside the snapshot: what it is, its commit and date, how to refresh."""
    return f"""\
# Vendored advisories (PyPA advisory database snapshot)

The OSV records of [{snapshot["source"]}]({snapshot["source"]}) for the packages in
`requirements.lock`, read by `make audit` (`deploy/tools/dependency_audit.py`), which checks
every locked version against them offline (no network service is reachable from CI).

* Commit: `{snapshot["commit"]}`
* Committed: {snapshot["committed"]}
* {count} advisory files for {len(snapshot["packages"])} locked packages (`snapshot.json` lists
  the packages looked up, with or without advisories).

**How stale it is.** The audit knows only the advisories published up to the commit's date;
anything published since is invisible to it, and every run prints the snapshot's age. A
passing audit means "no advisory known on that date", not "no known vulnerability today".
Refresh it where GitHub is reachable, and after every `make lock` that adds a package (the
audit refuses a locked package the snapshot was not taken for):

    make advisories                      # clones or updates .cache/advisory-database
    python deploy/tools/dependency_audit.py refresh --repository PATH   # any clone, bare or not

then commit `deploy/advisories/`. `make advisories` also runs `dependency_audit.py crosscheck`,
which evaluates every range of the whole database against the records' own `versions`
lists: a record whose ranges cannot be evaluated stops it (the audit would stop on it too).

Findings accepted after review, with the reason, go in `accepted.yaml` (kept by refresh).

The advisory data is from the PyPA advisory database, licensed CC-BY 4.0.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    audit_parser = commands.add_parser("audit", help="audit the lock; exit 1 on an open finding")
    audit_parser.add_argument("--lock", type=Path, default=LOCK_PATH)
    audit_parser.add_argument("--advisories", type=Path, default=ADVISORIES_DIR)
    audit_parser.add_argument("--accepted", type=Path, default=None)
    refresh_parser = commands.add_parser("refresh", help="re-vendor advisories from a clone")
    refresh_parser.add_argument("--repository", type=Path, required=True)
    refresh_parser.add_argument("--revision", default="HEAD")
    refresh_parser.add_argument("--lock", type=Path, default=LOCK_PATH)
    refresh_parser.add_argument("--advisories", type=Path, default=ADVISORIES_DIR)
    check_parser = commands.add_parser(
        "crosscheck",
        help="compare the range evaluation with the versions lists of a whole database",
    )
    check_parser.add_argument("--repository", type=Path, required=True)
    check_parser.add_argument("--revision", default="HEAD")
    args = parser.parse_args(argv)
    if args.command == "crosscheck":
        with tempfile.TemporaryDirectory() as scratch:
            archive = _git(args.repository, "archive", "--format=tar", args.revision, "vulns")
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(scratch, filter="data")
            checked = crosscheck(Path(scratch))
        print(
            f"{checked.advisories} advisories: {checked.inside} listed versions inside the "
            f"ranges, {len(checked.outside)} outside, {len(checked.unevaluable)} "
            "entries with a range that cannot be evaluated"
        )
        for line in [*checked.outside, *checked.unevaluable]:
            print(f"  {line.replace(scratch + '/', '')}")
        return 2 if checked.unevaluable else 0
    if args.command == "audit":
        accepted = args.accepted or args.advisories / "accepted.yaml"
        return run_audit(args.lock, args.advisories, accepted, datetime.now(UTC))
    try:
        pins = parse_lock(args.lock.read_text(), str(args.lock))
    except AuditInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    count = refresh(args.repository, args.revision, pins, args.advisories)
    print(f"vendored {count} advisories for {len(pins)} locked packages into {args.advisories}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
