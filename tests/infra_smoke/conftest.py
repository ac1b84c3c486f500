"""Make ``deploy/local/localinfra.py`` importable: it is a standalone script, not a package."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
