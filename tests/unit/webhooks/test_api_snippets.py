"""The verification snippets integrators copy (services/socialcare/webhooks/snippets/):
Python (standard library only) and JavaScript (Node's crypto only), each run against
signatures made by the platform's own signer (core/signing.py), the way a delivery is
signed: a good one, a tampered body, an old or future timestamp, a rotated secret (two
`v1=` entries), a wrong secret, malformed headers.

The JavaScript runs in a real `node` subprocess; a machine without node fails these tests
(the README promises a snippet that works, so it must be run).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from socialcare.core.signing import generic_signature, verify_generic

SNIPPETS = Path(__file__).resolve().parents[3] / "services" / "socialcare" / "webhooks" / "snippets"
SECRET = "whsec_current-secret-0123456789"
OLD_SECRET = "whsec_previous-secret-9876543210"
NOW = 1_767_225_600
BODY = json.dumps(
    {"specversion": "1.0", "type": "case.opened", "data": {"text": "Héllo, wörld \u2603"}},
    ensure_ascii=False,
).encode()


@dataclass(frozen=True)
class Example:
    name: str
    secret: str
    body: bytes
    header: str | None
    now: float
    valid: bool


def _rotated(secret: str, old: str, body: bytes, t: int) -> str:
    """What the sender sends during a rotation: one timestamp, a v1 per secret."""
    new_v1 = generic_signature(secret, body, timestamp=t).rpartition("v1=")[2]
    old_v1 = generic_signature(old, body, timestamp=t).rpartition("v1=")[2]
    return f"t={t},v1={new_v1},v1={old_v1}"


def examples() -> list[Example]:
    signed = generic_signature(SECRET, BODY, timestamp=NOW)
    rotated = _rotated(SECRET, OLD_SECRET, BODY, NOW)
    return [
        Example("signed", SECRET, BODY, signed, NOW, True),
        Example("signed, clock 299 s ahead", SECRET, BODY, signed, NOW + 299, True),
        Example("signed, clock 299 s behind", SECRET, BODY, signed, NOW - 299, True),
        Example("spaces after commas", SECRET, BODY, signed.replace(",", ", "), NOW, True),
        Example("upper-case hex", SECRET, BODY, f"t={NOW},v1={signed[-64:].upper()}", NOW, True),
        Example(
            "empty body", SECRET, b"", generic_signature(SECRET, b"", timestamp=NOW), NOW, True
        ),
        Example("tampered body", SECRET, BODY.replace(b"opened", b"closed"), signed, NOW, False),
        Example("one byte more", SECRET, BODY + b" ", signed, NOW, False),
        Example("timestamp 301 s old", SECRET, BODY, signed, NOW + 301, False),
        Example("timestamp 301 s ahead", SECRET, BODY, signed, NOW - 301, False),
        Example(
            "timestamp changed",
            SECRET,
            BODY,
            signed.replace(f"t={NOW}", f"t={NOW + 1}"),
            NOW,
            False,
        ),
        Example("wrong secret", "whsec_someone-else", BODY, signed, NOW, False),
        Example("rotation: verified with the new secret", SECRET, BODY, rotated, NOW, True),
        Example("rotation: verified with the old secret", OLD_SECRET, BODY, rotated, NOW, True),
        Example("rotation: a third secret", "whsec_third", BODY, rotated, NOW, False),
        Example(
            "rotation, tampered",
            OLD_SECRET,
            BODY + b"x",
            rotated,
            NOW,
            False,
        ),
        Example("no header", SECRET, BODY, None, NOW, False),
        Example("empty header", SECRET, BODY, "", NOW, False),
        Example("no timestamp", SECRET, BODY, signed.partition(",")[2], NOW, False),
        Example("no v1", SECRET, BODY, f"t={NOW}", NOW, False),
        Example("v0 only", SECRET, BODY, signed.replace("v1=", "v0="), NOW, False),
        Example(
            "timestamp not a number", SECRET, BODY, f"t=abc,{signed.split(',')[1]}", NOW, False
        ),
        Example("truncated signature", SECRET, BODY, signed[:-2], NOW, False),
        Example("timestamp of 5000 digits", SECRET, BODY, "t=" + "9" * 5000 + ",v1=00", NOW, False),
        Example("non-ASCII signature", SECRET, BODY, f"t={NOW},v1=\u00e9\u00e9", NOW, False),
    ]


EXAMPLES = examples()


def test_the_examples_agree_with_the_platforms_own_verifier() -> None:
    """The expectations are the platform's: core/signing.py's verifier agrees with each."""
    for example in EXAMPLES:
        got = verify_generic(example.secret, example.body, example.header, now=example.now)
        assert got == example.valid, example.name


def _load_python_snippet() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "socialcare_verify_snippet", SNIPPETS / "verify.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_python_snippet_uses_the_standard_library_only() -> None:
    source = (SNIPPETS / "verify.py").read_text()
    imported = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imported == {"__future__", "hashlib", "hmac", "time"}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_the_python_snippet_verifies(example: Example) -> None:
    verify: Callable[..., bool] = _load_python_snippet().verify_signature
    assert verify(example.secret, example.body, example.header, now=example.now) is example.valid


def test_the_python_snippet_uses_the_clock_by_default() -> None:
    import time

    verify: Callable[..., bool] = _load_python_snippet().verify_signature
    fresh = generic_signature(SECRET, BODY, timestamp=int(time.time()))
    stale = generic_signature(SECRET, BODY, timestamp=int(time.time()) - 3600)
    assert verify(SECRET, BODY, fresh) is True
    assert verify(SECRET, BODY, stale) is False


# The JavaScript snippet, driven by a small harness: it reads the examples as JSON on
# stdin and prints what verifySignature answered for each (null header: undefined).
_HARNESS = """
const { verifySignature } = require(process.argv[1]);
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((e) =>
    verifySignature(e.secret, Buffer.from(e.body, "base64"), e.header ?? undefined, 300, e.now)
  );
  const env = process.env;
  const clock = verifySignature(
    env.FRESH_SECRET, Buffer.from(env.FRESH_BODY, "base64"), env.FRESH_HEADER
  );
  process.stdout.write(JSON.stringify({ results, clock }));
});
"""


def _node() -> str:
    node = shutil.which("node")
    assert node is not None, "node is not installed: the JavaScript snippet cannot be tested"
    return node


def test_the_javascript_snippet_verifies() -> None:
    import time

    payload = [
        {
            "secret": e.secret,
            "body": base64.b64encode(e.body).decode(),
            "header": e.header,
            "now": e.now,
        }
        for e in EXAMPLES
    ]
    fresh = generic_signature(SECRET, BODY, timestamp=int(time.time()))
    done = subprocess.run(
        [_node(), "-e", _HARNESS, str(SNIPPETS / "verify.js")],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "FRESH_SECRET": SECRET,
            "FRESH_BODY": base64.b64encode(BODY).decode(),
            "FRESH_HEADER": fresh,
        },
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    got = dict(zip([e.name for e in EXAMPLES], answer["results"], strict=True))
    assert got == {e.name: e.valid for e in EXAMPLES}
    assert answer["clock"] is True


def test_the_javascript_snippet_needs_only_node_crypto() -> None:
    source = (SNIPPETS / "verify.js").read_text()
    required = {
        line.split("require(")[1].split(")")[0].strip("\"'")
        for line in source.splitlines()
        if "require(" in line and not line.lstrip().startswith("//")
    }
    assert required == {"crypto"}


@pytest.mark.parametrize("name", ["verify.py", "verify.js"])
def test_the_readme_shows_the_snippets_exactly_as_tested(name: str) -> None:
    """The README's verification snippets are these files, verbatim (so the code people
    copy is the code these tests run)."""
    readme = (SNIPPETS.parents[3] / "README.md").read_text()
    snippet = (SNIPPETS / name).read_text().strip("\n")
    assert snippet in readme, f"README.md does not embed {name} verbatim; paste the file"
