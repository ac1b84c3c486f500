"""Where the integration tools are: buf and the official AsyncAPI JSON schemas, both from npm,
installed by `deploy/tools/install-buf.sh <cache-dir>` (`make node-tools`).

Missing tools fail the test (never skip it) and say how to install them: the checks they run
are part of `make test`. Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
DEFAULT_NODE_TOOLS = REPO / ".cache" / "tools"
INSTALL_HINT = (
    "install it with `make node-tools` (deploy/tools/install-buf.sh .cache/tools: buf and "
    "@asyncapi/specs from npm)"
)
RELEASED_DIR = REPO / "proto" / "released"
_RELEASE_NAME = re.compile(r"^socialcare-v(\d+)\.(\d+)\.(\d+)\.binpb$")


def node_tools() -> Path:
    """$SOCIALCARE_TEST_NODE_TOOLS (the install script's cache dir), else .cache/tools."""
    return Path(os.environ.get("SOCIALCARE_TEST_NODE_TOOLS") or DEFAULT_NODE_TOOLS)


def buf_binary() -> Path:
    """$SOCIALCARE_TEST_BUF, else <node tools>/node_modules/.bin/buf; fails when missing."""
    given = os.environ.get("SOCIALCARE_TEST_BUF")
    # Absolute: the tests run buf with the working directory of a copied workspace.
    path = Path(given).resolve() if given else node_tools() / "node_modules" / ".bin" / "buf"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"buf is not installed at {path}: {INSTALL_HINT}")
    return path


def asyncapi_json_schema(version: str = "3.0.0") -> dict[str, Any]:
    """The official AsyncAPI JSON schema of `version`, from the npm package @asyncapi/specs
    (the variant whose `$ref`s are local `#/definitions/...`); fails when missing."""
    path = (
        node_tools()
        / "node_modules"
        / "@asyncapi"
        / "specs"
        / "schemas"
        / f"{version}-without-$id.json"
    )
    if not path.is_file():
        pytest.fail(f"the AsyncAPI {version} JSON schema is not at {path}: {INSTALL_HINT}")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def released_images() -> list[Path]:
    """Every released schema image, oldest version first."""
    found = [
        (tuple(int(part) for part in match.groups()), path)
        for path in RELEASED_DIR.iterdir()
        if (match := _RELEASE_NAME.match(path.name))
    ]
    return [path for _, path in sorted(found)]


def latest_released() -> Path:
    """The newest released schema image: `buf breaking`'s baseline."""
    images = released_images()
    if not images:
        pytest.fail(f"no released schema image (socialcare-v<version>.binpb) in {RELEASED_DIR}")
    return images[-1]
