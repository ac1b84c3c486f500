"""The traffic simulator against a small recording HTTP server on a free port.

The server validates every message with ingestion's own request model and de-duplicates
like ingestion does, and plays the gateway's case and agent endpoints, so the test checks
what the simulator really puts on the wire. Like the platform (ADR 0007) it answers 401
to a `/v1` request without a valid bearer token, and gives tokens at `/v1/auth/token`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import ValidationError

from socialcare import cli
from socialcare.enrichment.language import detect_language
from socialcare.ingestion.models import MessageCreate
from socialcare.simulate import (
    LANGUAGES,
    SIGN_IN_HINT,
    SPIKE_TOPIC,
    Credentials,
    Traffic,
    compose_reply,
    main,
    simulate,
)

TOKEN = "an-api-key-or-token"
ADMIN_PASSWORD = "admin-password-1"
AS_ADMIN = Credentials(token=TOKEN)

AGENTS: list[dict[str, Any]] = [
    {"id": "sanne", "name": "Sanne de Vries", "languages": ["nl", "en"], "capacity": 8},
    {"id": "camille", "name": "Camille Laurent", "languages": ["fr"], "capacity": 8},
    {"id": "olivia", "name": "Olivia Carter", "languages": ["en"], "capacity": 10},
]
CASES: list[dict[str, Any]] = [
    {
        "id": "case-nl",
        "status": "assigned",
        "language": "nl",
        "channel": "x",
        "assignee": "sanne",
        "customer": {"id": "1", "handle": "@jvdberg", "name": "Jeroen van den Berg"},
        "message_count": 1,
    },
    {
        "id": "case-fr",
        "status": "assigned",
        "language": "fr",
        "channel": "email",
        "assignee": "camille",
        "customer": {"id": "2", "handle": "", "name": "Léa Moreau"},
        "message_count": 2,
    },
    {
        "id": "case-resolved-meanwhile",
        "status": "assigned",
        "language": "en",
        "channel": "facebook",
        "assignee": "olivia",
        "customer": {"id": "3", "handle": "", "name": ""},
        "message_count": 1,
    },
    {"id": "case-unassigned", "status": "assigned", "assignee": None, "message_count": 1},
]


@dataclass
class Recorder:
    """What the fake platform received."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    seen: set[tuple[str, str]] = field(default_factory=set)
    replies: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    case_lists: int = 0
    sign_ins: int = 0
    issued: list[str] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    expire_first_token_after: int | None = None
    """Messages accepted after which the first issued token counts as expired."""
    authorised: int = 0
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads the recorder, not the log."""

        def answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self) -> Any:
            return json.loads(self.rfile.read(int(self.headers["content-length"])))

        def signed_in(self) -> bool:
            """Whether the request has a valid bearer token; else answers 401."""
            header = self.headers.get("authorization") or ""
            token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
            with recorder.lock:
                if token in recorder.expired:
                    code = "token_expired"
                elif token == TOKEN or token in recorder.issued:
                    recorder.authorised += 1
                    return True
                else:
                    code = "unauthenticated" if token is None else "invalid_token"
                recorder.refused.append(code)
            self.answer(401, {"error": {"code": code, "message": "sign in first"}})
            return False

        def sign_in(self) -> None:
            raw = self.rfile.read(int(self.headers["content-length"])).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            if (form.get("username"), form.get("password")) != ("admin", ADMIN_PASSWORD):
                self.answer(
                    401,
                    {
                        "error": {
                            "code": "invalid_credentials",
                            "message": "wrong username or password",
                        }
                    },
                )
                return
            with recorder.lock:
                recorder.sign_ins += 1
                token = f"token-{recorder.sign_ins}"
                recorder.issued.append(token)
            self.answer(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if not self.signed_in():
                return
            if url.path == "/v1/agents":
                self.answer(200, AGENTS)
            elif url.path == "/v1/cases" and parse_qs(url.query).get("status") == ["assigned"]:
                with recorder.lock:
                    recorder.case_lists += 1
                self.answer(200, {"total": len(CASES), "cases": CASES})
            else:
                self.answer(404, {"detail": "not found"})

        def do_POST(self) -> None:
            if self.path == "/v1/auth/token":
                self.sign_in()
                return
            if not self.signed_in():
                return
            if self.path == "/v1/messages":
                self.message(self.body())
            elif self.path.startswith("/v1/cases/") and self.path.endswith("/replies"):
                case_id = self.path.split("/")[3]
                with recorder.lock:
                    key = self.headers.get("idempotency-key")
                    recorder.replies.append((case_id, self.body(), key))
                if case_id == "case-resolved-meanwhile":
                    self.answer(409, {"detail": "case is resolved"})
                else:
                    self.answer(202, {"command_id": "c", "case_id": case_id})
            else:
                self.answer(404, {"detail": "not found"})

        def message(self, body: dict[str, Any]) -> None:
            try:
                message = MessageCreate.model_validate(body)
            except ValidationError as exc:
                with recorder.lock:
                    recorder.invalid.append(str(exc))
                self.answer(422, {"detail": str(exc)})
                return
            key = (message.channel, message.external_id)
            with recorder.lock:
                recorder.messages.append(body)
                duplicate = key in recorder.seen
                recorder.seen.add(key)
                if duplicate:
                    recorder.duplicates += 1
                else:
                    recorder.accepted += 1
                if recorder.accepted == recorder.expire_first_token_after and recorder.issued:
                    recorder.expired.add(recorder.issued[0])
            self.answer(200 if duplicate else 202, {"message_id": "m", "duplicate": duplicate})

    return Handler


@pytest.fixture(autouse=True)
def no_credentials_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SOCIALCARE_TOKEN", "SOCIALCARE_USERNAME", "SOCIALCARE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def platform() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(recorder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host!s}:{port}", recorder
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_generated_traffic_is_valid_and_in_the_language_it_claims() -> None:
    messages = list(itertools.islice(Traffic(seed=11), 120))
    for message in messages:
        MessageCreate.model_validate(message.payload)
        assert detect_language(message.payload["text"]).code == message.language, message
    assert {m.language for m in messages} == set(LANGUAGES)
    assert len({m.external_id for m in messages}) == len(messages), "external ids are unique"
    assert len({m.payload["text"] for m in messages}) > 60, "texts vary"


def test_same_seed_same_content_but_new_external_ids() -> None:
    first = [m.payload for m in itertools.islice(Traffic(seed=5), 30)]
    second = [m.payload for m in itertools.islice(Traffic(seed=5), 30)]
    assert [p["text"] for p in first] == [p["text"] for p in second]
    assert not {p["external_id"] for p in first} & {p["external_id"] for p in second}


def test_follow_ups_come_after_the_message_they_answer_from_the_same_author() -> None:
    messages = list(itertools.islice(Traffic(seed=2), 150))
    position = {m.external_id: i for i, m in enumerate(messages)}
    follow_ups = [m for m in messages if m.payload.get("in_reply_to")]
    assert any(m.storyline == "supermarket-again" for m in follow_ups)
    for follow_up in follow_ups:
        original = follow_up.payload["in_reply_to"]
        if original not in position:
            continue
        assert position[original] < position[follow_up.external_id]
        if follow_up.storyline.endswith("-again"):
            assert messages[position[original]].payload["author"] == follow_up.payload["author"]
            assert follow_up.payload["thread_id"] == original


def test_simulation_sends_valid_varied_traffic_with_a_spike_and_replies(
    platform: tuple[str, Recorder],
) -> None:
    url, recorder = platform
    progress: list[str] = []
    count, rate = 80, 40.0

    report = simulate(
        url,
        rate=rate,
        duration_s=None,
        count=count,
        seed=3,
        reply=True,
        progress_interval_s=0.5,
        reply_interval_s=0.2,
        echo=progress.append,
        credentials=AS_ADMIN,
    )

    # Everything sent arrived, was valid, and the counts agree with the server.
    assert recorder.invalid == []
    assert recorder.refused == [], "every request carried the token"
    assert report.refused is None
    assert report.sent == len(recorder.messages) == count
    assert (report.accepted, report.duplicates) == (recorder.accepted, recorder.duplicates)
    assert report.errors == {}
    # Paced: 80 messages at 40/s take about two seconds.
    assert (count - 1) / rate * 0.9 <= report.elapsed_s < 15
    assert progress and all(line.startswith("simulate: ") for line in progress)

    texts = [m["text"] for m in recorder.messages]
    assert {detect_language(t).code for t in texts} >= set(LANGUAGES)
    assert len({m["channel"] for m in recorder.messages}) >= 6
    assert any(m["author"]["followers"] == 245_000 for m in recorder.messages)
    assert any(m.get("in_reply_to") for m in recorder.messages)

    # The spike: one forum thread, one topic, several different authors.
    by_thread: dict[str, set[str]] = defaultdict(set)
    for m in recorder.messages:
        if m["channel"] == "forum" and SPIKE_TOPIC in m["text"].lower():
            by_thread[m.get("thread_id", "")].add(m["author"]["id"])
    assert max(len(authors) for authors in by_thread.values()) >= 4

    # Agents answered assigned cases, personally, in the case's language.
    assert recorder.case_lists >= 2
    assert recorder.replies, "some assigned cases got a reply"
    first_names = {a["id"]: a["name"].split()[0] for a in AGENTS}
    for case_id, body, idempotency_key in recorder.replies:
        assert case_id != "case-unassigned"
        assert body["agent"] in first_names  # the platform signs with the agent's name
        assert idempotency_key
    nl_replies = [body for case_id, body, _ in recorder.replies if case_id == "case-nl"]
    for body in nl_replies:
        assert body["agent"] == "sanne"
        assert "Jeroen" in body["text"]
        assert detect_language(body["text"]).code == "nl"
    assert len(nl_replies) <= 1, "a case is answered once per customer message"
    tolerated = sum(1 for case_id, _, _ in recorder.replies if case_id.endswith("meanwhile"))
    assert report.replies + report.replies_skipped == len(recorder.replies)
    assert report.replies_skipped == tolerated
    assert report.reply_errors == {}


def test_duration_bounds_the_run(platform: tuple[str, Recorder]) -> None:
    url, recorder = platform
    started = time.monotonic()
    report = simulate(
        url,
        rate=20,
        duration_s=0.5,
        count=None,
        seed=1,
        reply=False,
        echo=print,
        credentials=AS_ADMIN,
    )
    assert time.monotonic() - started < 3
    assert 5 <= report.sent <= 12
    assert report.sent == len(recorder.messages)
    assert recorder.case_lists == 0, "no replies asked for"


def test_nothing_listening_is_counted_and_main_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status = main(
        url=f"http://127.0.0.1:{port}", rate=100, duration_s=None, count=3, seed=None, reply=False
    )
    assert status == 1
    out = capsys.readouterr()
    assert "errors 3" in out.out
    assert "is the platform running?" in out.err


def test_a_username_and_password_are_exchanged_for_a_token_renewed_when_it_expires(
    platform: tuple[str, Recorder],
) -> None:
    url, recorder = platform
    recorder.expire_first_token_after = 5
    report = simulate(
        url,
        rate=100,
        duration_s=None,
        count=20,
        seed=4,
        reply=True,
        reply_interval_s=0.02,
        echo=print,
        credentials=Credentials(username="admin", password=ADMIN_PASSWORD),
    )
    # Signed in before the first message; after the token expired, the one refused request
    # was sent again with a new token: nothing was lost.
    assert recorder.issued == ["token-1", "token-2"]
    assert recorder.refused == ["token_expired"]
    assert report.refused is None and report.errors == {} and report.reply_errors == {}
    assert report.accepted + report.duplicates == report.sent == len(recorder.messages) == 20
    assert recorder.case_lists >= 1


def test_without_a_credential_the_run_stops_at_the_first_401_and_says_how_to_sign_in(
    platform: tuple[str, Recorder], capsys: pytest.CaptureFixture[str]
) -> None:
    url, recorder = platform
    status = main(url=url, rate=100, duration_s=None, count=10, seed=None, reply=True)
    assert status == 1
    assert recorder.refused == ["unauthenticated"], "stops at once, no flood of 401s"
    assert recorder.messages == []
    err = capsys.readouterr().err
    assert "401 unauthenticated" in err
    assert SIGN_IN_HINT in err and "sign in: pass --token or --username/--password" in err


def test_a_refused_token_and_a_wrong_password_fail_clearly(
    platform: tuple[str, Recorder], capsys: pytest.CaptureFixture[str]
) -> None:
    url, recorder = platform
    assert main(url=url, count=3, rate=100, reply=False, token="stale") == 1
    assert "refused the token (401 invalid_token" in capsys.readouterr().err

    assert main(url=url, count=3, rate=100, reply=False, username="admin", password="x") == 1
    err = capsys.readouterr().err
    assert "sign-in as admin refused (401 invalid_credentials: wrong username or password)" in err
    assert recorder.messages == [] and recorder.sign_ins == 0


def test_the_command_line_takes_credentials_from_flags_or_the_environment(
    platform: tuple[str, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, recorder = platform
    run = ["simulate", "--url", url, "--count", "3", "--rate", "100", "--no-replies"]
    assert cli.main([*run, "--token", TOKEN]) == 0
    assert cli.main([*run, "--username", "admin", "--password", ADMIN_PASSWORD]) == 0
    assert recorder.sign_ins == 1
    monkeypatch.setenv("SOCIALCARE_USERNAME", "admin")
    monkeypatch.setenv("SOCIALCARE_PASSWORD", ADMIN_PASSWORD)
    assert cli.main(run) == 0
    assert recorder.sign_ins == 2
    monkeypatch.setenv("SOCIALCARE_TOKEN", TOKEN)
    assert cli.main(run) == 0
    assert recorder.sign_ins == 2, "a token in the environment goes before a password"
    assert recorder.refused == []
    assert len(recorder.messages) == 12


def test_credentials_resolve_flags_before_the_environment() -> None:
    env = {
        "SOCIALCARE_TOKEN": "env-token",
        "SOCIALCARE_USERNAME": "ops",
        "SOCIALCARE_PASSWORD": "env-password",
    }
    assert Credentials.resolve(token="flag", environ=env) == Credentials(token="flag")
    assert Credentials.resolve(environ=env) == Credentials(token="env-token")
    assert Credentials.resolve(username="admin", environ=env) == Credentials(
        username="admin", password="env-password"
    )
    assert Credentials.resolve(password="p", environ={"SOCIALCARE_USERNAME": "ops"}) == (
        Credentials(username="ops", password="p")
    )
    assert Credentials.resolve(environ={}) == Credentials()
    asked = Credentials.resolve(username="admin", environ={}, ask_password=lambda _: "typed")
    assert asked == Credentials(username="admin", password="typed")
    with pytest.raises(ValueError, match="needs --password"):
        Credentials.resolve(username="admin", environ={})
    with pytest.raises(ValueError, match="needs --username"):
        Credentials.resolve(password="p", environ={})
    assert "env-password" not in repr(Credentials.resolve(environ=env | {"SOCIALCARE_TOKEN": ""}))


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate"):
        simulate("http://127.0.0.1:9", rate=0, duration_s=1, count=None, seed=None, reply=False)


@pytest.mark.parametrize("language", [*LANGUAGES, "und", ""])
def test_replies_leave_room_for_the_signature_on_x(language: str) -> None:
    case = {"language": language, "channel": "x", "customer": {"name": "Noor Visser"}}
    text = compose_reply(case)
    assert len(text) + 30 <= 280  # the platform adds the agent's signature
    greetings = ("Hoi", "Hallo", "Hi", "Hello", "Bonjour", "Hola", "Buenas,")
    assert text.startswith(tuple(f"{g} Noor" for g in greetings))
    email = compose_reply({**case, "channel": "email", "customer": {}})
    assert "Noor" not in email
