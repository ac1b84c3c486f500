"""Running promtool (Debian's prometheus package, `make promtool`) from the deploy tests.

promtool parses configs and rules exactly as Prometheus does and runs rule unit tests on its
own in-memory storage; no Prometheus server is started. Without it the tests fail, never
skip: a skipped check would let a broken alert ship.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.deploy.metric_catalog import PROMETHEUS_DIR


def promtool_path() -> str:
    """$SOCIALCARE_TEST_PROMTOOL (`make test` sets it), else promtool on PATH; fails the
    calling test when neither exists."""
    path = os.environ.get("SOCIALCARE_TEST_PROMTOOL") or shutil.which("promtool")
    if not path or not Path(path).is_file():
        pytest.fail(
            "promtool is missing: `make promtool` installs it (Debian's prometheus package), "
            "or set SOCIALCARE_TEST_PROMTOOL to a promtool binary"
        )
    return path


def run_promtool(promtool: str, *args: str | Path) -> str:
    """promtool's output; the calling test fails, with that output, when promtool does."""
    done = subprocess.run(
        [promtool, *map(str, args)],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"promtool {' '.join(map(str, args))} failed:\n{output}"
    return output
