"""Generate Python code, gRPC stubs and typed stubs from proto/.

The generated code is committed so the package installs without grpcio-tools; `--check`
regenerates into a scratch directory and fails on any difference, which is how CI catches
a .proto edited without `make proto`.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO / "proto"
PACKAGE_DIR = Path("socialcare") / "v1"


def generate(out_root: Path) -> Path:
    """Run protoc into out_root (a directory that plays the role of `services/`)."""
    include = Path(protoc.__file__).parent / "_proto"
    # protoc finds the mypy plugins (protoc-gen-mypy, protoc-gen-mypy_grpc) on PATH.
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    sources = sorted(
        str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto")
    )
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed; see the errors above")
    target = out_root / PACKAGE_DIR
    (target / "__init__.py").write_text('"""Generated from proto/ by `make proto`."""\n')
    (target / "py.typed").write_text("")
    return target


def differences(left: Path, right: Path) -> list[str]:
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__"])
    return [*cmp.left_only, *cmp.right_only, *cmp.diff_files]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write generated code to this directory")
    group.add_argument("--check", type=Path, help="compare generated code with this directory")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        generated = generate(Path(scratch))
        if ns.out is not None:
            out = REPO / ns.out
            if out.exists():
                shutil.rmtree(out)
            shutil.copytree(generated, out)
            print(f"generated {out.relative_to(REPO)}")
            return 0
        drift = differences(generated, REPO / ns.check)
        if drift:
            print(f"generated code is out of date ({', '.join(sorted(drift))}): run `make proto`")
            return 1
        print("generated code matches proto/")
        return 0


if __name__ == "__main__":
    sys.exit(main())
