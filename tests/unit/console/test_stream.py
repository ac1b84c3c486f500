"""`GET /v1/stream/cases`: server-sent events from the board, each only to principals who
may see the case (never across brands; agents: their own, their queues, in their
languages)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

from socialcare.v1 import case_pb2

from .conftest import Console, event, make_case


def data_events(lines: Iterator[str], count: int) -> list[dict[str, object]]:
    """The next `count` data events of the stream (comments and blank lines skipped)."""
    found: list[dict[str, object]] = []
    for line in lines:
        if line.startswith("data: "):
            found.append(json.loads(line.removeprefix("data: ")))
            if len(found) == count:
                break
    return found


def stream_ids(console: Console, user: str, publish: list[case_pb2.Case]) -> list[str]:
    """The case ids `user`'s stream receives while `publish` is applied, in order; the
    last published case must be one the user sees (it ends the read)."""
    console.sign_in(user)  # the console's EventSource sends the session cookie
    with console.client.stream("GET", "/v1/stream/cases") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        ready = data_events(lines, 1)
        assert ready == [{"type": "ready", "board_ready": True}]
        # The subscription exists once the stream has started: publish from another thread,
        # as the follower does.
        threading.Thread(target=lambda: [console.board.apply(event(c)) for c in publish]).start()
        seen: list[str] = []
        last = publish[-1].id
        while True:
            (received,) = data_events(lines, 1)
            case = received["case"]
            assert isinstance(case, dict)
            seen.append(str(case["id"]))
            if case["id"] == last:
                return seen


def test_stream_sends_only_cases_of_the_principals_brand(console: Console) -> None:
    other = make_case("globex-new", brand="globex", texts=("Globex only",), version=1)
    mine = make_case("acme-new", brand="acme", version=1)
    assert stream_ids(console, "olivia", [other, mine]) == ["acme-new"]


def test_other_brand_sees_its_case_and_not_ours(console: Console) -> None:
    ours = make_case("acme-new-2", brand="acme", version=1)
    theirs = make_case("globex-new-2", brand="globex", version=1)
    assert stream_ids(console, "olivia-globex", [ours, theirs]) == ["globex-new-2"]


def test_agent_stream_keeps_to_their_queues_and_languages(console: Console) -> None:
    dutch = make_case("acme-nl-new", brand="acme", language="nl", version=1)
    english = make_case("acme-en-new", brand="acme", language="en", version=1)
    # olivia speaks only English: the Dutch queue's case is not hers to see.
    assert stream_ids(console, "olivia", [dutch, english]) == ["acme-en-new"]
    # sanne speaks both.
    dutch2 = make_case("acme-nl-new2", brand="acme", language="nl", version=1)
    english2 = make_case("acme-en-new2", brand="acme", language="en", version=1)
    assert stream_ids(console, "sanne", [dutch2, english2]) == ["acme-nl-new2", "acme-en-new2"]


def test_event_carries_the_change_not_the_text(console: Console) -> None:
    case = make_case("acme-txt", brand="acme", texts=("private words",), version=1)
    # A script reads the stream with a bearer token.
    with console.client.stream(
        "GET", "/v1/stream/cases", headers=console.bearer("admin")
    ) as response:
        lines = response.iter_lines()
        data_events(lines, 1)
        threading.Thread(target=console.board.apply, args=(event(case),)).start()
        (received,) = data_events(lines, 1)
    assert received["type"] == "opened"
    assert received["case"] == {
        "id": "acme-txt",
        "brand": "acme",
        "status": "open",
        "language": "en",
        "channel": "x",
        "queue": "care-en",
        "assignee": None,
        "priority": "normal",
        "sla_state": "running",
        "sla_due_at": "2026-11-26T12:40:00+00:00",
        "version": 1,
    }
    assert "private words" not in json.dumps(received)


def test_rejections_carry_routings_reason(console: Console) -> None:
    case = make_case("acme-rej", brand="acme", version=1)
    rejected = event(case, case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED)
    rejected.rejection.reason = "olivia is at capacity"
    console.sign_in("olivia")
    with console.client.stream("GET", "/v1/stream/cases") as response:
        lines = response.iter_lines()
        data_events(lines, 1)
        threading.Thread(target=console.board.apply, args=(rejected,)).start()
        (received,) = data_events(lines, 1)
    assert received["type"] == "command_rejected"
    assert received["rejection"] == "olivia is at capacity"


def test_stream_needs_a_credential(console: Console) -> None:
    response = console.client.get("/v1/stream/cases")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_key_without_case_permissions_gets_no_stream(console: Console) -> None:
    response = console.client.get("/v1/stream/cases", headers=console.bearer("integrator"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_presence_counts_open_streams(console: Console) -> None:
    assert console.board.agents_present() == set()
    console.sign_in("sanne")
    with console.client.stream("GET", "/v1/stream/cases") as response:
        data_events(response.iter_lines(), 1)
        assert console.board.agents_present() == {"sanne"}
    deadline = time.monotonic() + 5
    while console.board.agents_present() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert console.board.agents_present() == set(), "a closed stream is no longer counted"
