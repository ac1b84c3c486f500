from __future__ import annotations

import pytest

from tests.unit.deploy.promtool import promtool_path


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary (tests/unit/deploy/promtool.py)."""
    return promtool_path()
