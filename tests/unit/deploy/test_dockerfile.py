"""The Dockerfile, checked without a Docker daemon (none runs here, so the image is not
built): its stages, the pinned base, the non-root user, nothing written outside /data and
/tmp, no secrets, and that the files it copies exist, pass .dockerignore and are enough to
build the package's wheel (the builder stage's first step, run here for real)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.deploy.chart_helm import REPO, load_yaml

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PINNED_BASE = re.compile(r"^python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}$")
SECRETISH = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|PRIVATE", re.I)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        found.append(Instruction(keyword.upper(), " ".join(args.split())))
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def stages() -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages."""
    args: dict[str, str] = {}
    result: list[Stage] = []
    for instruction in instructions(DOCKERFILE.read_text()):
        if instruction.keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?: AS (\S+))?", instruction.args, re.I)
            assert match, instruction.args
            result.append(Stage(match.group(1), match.group(2) or "", []))
        elif not result:
            assert instruction.keyword == "ARG", "only ARG may come before the first FROM"
            name, _, default = instruction.args.partition("=")
            args[name] = default
        else:
            result[-1].instructions.append(instruction)
    return args, result


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `**` any number of directories, `*` and `?`
    within one path element."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves `path` (relative, posix) out of the build context: the
    last matching pattern wins, `!` re-includes, and a pattern matching a directory matches
    everything in it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


def dockerignore() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def builder_sources() -> list[str]:
    _, all_stages = stages()
    sources: list[str] = []
    for stage in all_stages:
        for args in stage.all("COPY"):
            if args.startswith("--from="):
                continue
            *paths, _destination = args.split()
            sources.extend(paths)
    return sources


# --- the tests --------------------------------------------------------------------------------


def test_two_stages_on_one_pinned_base() -> None:
    args, all_stages = stages()
    assert PINNED_BASE.match(args["PYTHON_IMAGE"]), args["PYTHON_IMAGE"]
    assert [stage.name for stage in all_stages] == ["builder", "runtime"]
    assert all(stage.base == "${PYTHON_IMAGE}" for stage in all_stages)
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"


def test_runtime_copies_only_the_virtualenv_from_the_builder() -> None:
    _, (builder, runtime) = stages()
    assert runtime.all("COPY") == ["--from=builder /opt/socialcare /opt/socialcare"]
    # The wheel is installed with the audited versions of its dependencies (the lock).
    assert any(
        "pip wheel" in run and "pip install -c requirements.lock /wheels/" in run
        for run in builder.all("RUN")
    )
    assert not runtime.all("ADD") and not builder.all("ADD")


def test_runtime_runs_as_a_numeric_non_root_user() -> None:
    _, (_, runtime) = stages()
    users = runtime.all("USER")
    assert users, "the runtime stage sets USER"
    match = re.fullmatch(r"(\d+):(\d+)", users[-1])
    assert match, "a numeric uid:gid (Kubernetes' runAsNonRoot can check it)"
    assert int(match.group(1)) >= 10000 and int(match.group(2)) >= 10000
    # The last instruction that changes the user is the non-root one.
    keywords = [i.keyword for i in runtime.instructions]
    assert "RUN" not in keywords[keywords.index("USER") :]


def test_entrypoint_command_and_ports() -> None:
    _, (_, runtime) = stages()
    assert runtime.all("ENTRYPOINT") == ['["socialcare"]']
    assert runtime.all("CMD") == ['["run", "all"]']
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["socialcare"] == "socialcare.cli:main"
    (exposed,) = runtime.all("EXPOSE")
    values = load_yaml(REPO / "charts" / "socialcare" / "values.yaml")
    grpc = {svc["grpcPort"] for svc in values["services"].values() if svc.get("grpcPort")}
    assert {int(p) for p in exposed.split()} == {8080} | grpc


def test_read_only_root_friendly() -> None:
    """Nothing is written next to the code at run time: bytecode compiled at build, HOME and
    the data directory point at the mounted /tmp and /data."""
    _, (builder, runtime) = stages()
    env = " ".join(runtime.all("ENV"))
    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "HOME=/tmp",
        "SOCIALCARE_DATA_DIR=/data",
        "SOCIALCARE_HTTP_HOST=0.0.0.0",
    ):
        assert setting in env, setting
    assert runtime.all("WORKDIR") == ["/data"]
    assert any("compileall" in run for run in builder.all("RUN"))


def test_no_secrets_in_the_image() -> None:
    args, all_stages = stages()
    for stage in all_stages:
        for instruction in stage.instructions:
            if instruction.keyword in ("ENV", "ARG", "LABEL"):
                assert not SECRETISH.search(instruction.args), instruction
    assert not any(SECRETISH.search(name) for name in args)
    # The context holds only the package's sources: no .env, keys, local data or venvs.
    patterns = dockerignore()
    assert patterns[0] == "*"
    for path in (".venv/bin/python", ".git/config", "data/bus/log.db", ".env", "tests/conftest.py"):
        assert ignored(path, patterns), path


def test_copied_files_exist_and_reach_the_build_context() -> None:
    patterns = dockerignore()
    sources = builder_sources()
    assert sources == ["pyproject.toml", "README.md", "requirements.lock", "services"]
    for source in sources:
        assert (REPO / source).exists(), source
        assert not ignored(source, patterns), source
    assert ignored("services/socialcare/__pycache__/cli.cpython-311.pyc", patterns)
    assert not ignored("services/socialcare/cli.py", patterns)


def test_the_build_context_builds_the_wheel(tmp_path: Path) -> None:
    """The builder's first step on exactly the files the Dockerfile copies (after
    .dockerignore): the wheel builds and carries the code, its data files and the console."""
    if shutil.which("git") is None:
        pytest.fail("git is needed to list the repository's files")
    patterns = dockerignore()
    context = tmp_path / "context"
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *builder_sources()],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in tracked:
        source = REPO / name
        if ignored(name, patterns) or not source.is_file():
            continue
        target = context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    wheels = tmp_path / "wheels"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(wheels),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = wheels.glob("socialcare-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "socialcare/cli.py",
        "socialcare/core/topics_admin.py",
        "socialcare/core/domain/default_care.yaml",
        "socialcare/v1/case_pb2.py",
    ):
        assert expected in names, expected
    assert any(n.startswith("socialcare/console/templates/") for n in names)
    assert any(n.startswith("socialcare/console/static/") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "socialcare = socialcare.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
