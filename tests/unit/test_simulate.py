"""The traffic simulator against a small recording HTTP server on a free port.

The server validates every message with ingestion's own request model and de-duplicates
like ingestion does, and plays the gateway's case and agent endpoints, so the test checks
what the simulator really puts on the wire.
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

from socialcare.enrichment.language import detect_language
from socialcare.ingestion.models import MessageCreate
from socialcare.simulate import LANGUAGES, SPIKE_TOPIC, Traffic, compose_reply, main, simulate

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

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/v1/agents":
                self.answer(200, AGENTS)
            elif url.path == "/v1/cases" and parse_qs(url.query).get("status") == ["assigned"]:
                with recorder.lock:
                    recorder.case_lists += 1
                self.answer(200, {"total": len(CASES), "cases": CASES})
            else:
                self.answer(404, {"detail": "not found"})

        def do_POST(self) -> None:
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
            self.answer(200 if duplicate else 202, {"message_id": "m", "duplicate": duplicate})

    return Handler


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
    )

    # Everything sent arrived, was valid, and the counts agree with the server.
    assert recorder.invalid == []
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
    report = simulate(url, rate=20, duration_s=0.5, count=None, seed=1, reply=False, echo=print)
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
