"""Special moments onto the case (routing/case_moments.py through the case book): one per
kind, the newest quote and last, bounded, kept across messages without moments, taken
over when cases merge; the case JSON carries them."""

from __future__ import annotations

from datetime import timedelta

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import case_json
from socialcare.routing.case_moments import (
    MAX_CASE_MOMENTS,
    MAX_QUOTE_CHARS,
    add_moments,
    take_moments,
)
from socialcare.v1 import case_pb2, message_pb2
from tests.unit.factories import enriched
from tests.unit.routing.harness import Routing, case_events
from tests.unit.routing.test_merging import Linked, merge, tweet

CARE = CareConfig.model_validate(
    {
        "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [{"id": "sanne", "name": "Sanne", "languages": ["nl", "en"], "capacity": 3}],
    }
)


def told(external_id: str, *moments: tuple[str, str]) -> message_pb2.EnrichedMessage:
    message = enriched(external_id, author="jan", language="en", text="hello")
    message.moments.extend(message_pb2.SpecialMoment(kind=k, quote=q) for k, q in moments)
    return message


def kinds_and_quotes(case: case_pb2.Case) -> list[tuple[str, str]]:
    return [(m.kind, m.quote) for m in case.moments]


def test_the_opening_message_brings_its_moments() -> None:
    routing = Routing(CARE)
    opened = case_events(routing.message(told("m1", ("birth", "We just had our daughter!"))))[0]
    assert opened.type == case_pb2.CASE_EVENT_TYPE_OPENED
    assert kinds_and_quotes(opened.case) == [("birth", "We just had our daughter!")]


def test_later_messages_add_kinds_and_renew_a_kind_at_the_end() -> None:
    routing = Routing(CARE)
    opened = case_events(routing.message(told("m1", ("trip", "Off to Spain next week."))))[0]
    routing.message(told("m2", ("birthday", "It's my birthday today.")))
    routing.message(told("m3"))  # no moment: the case keeps its own
    routing.message(told("m4", ("trip", "My nephew from Australia wants to see a match.")))
    assert kinds_and_quotes(routing.case(opened.case.id)) == [
        ("birthday", "It's my birthday today."),
        ("trip", "My nephew from Australia wants to see a match."),
    ]


def test_a_case_keeps_one_moment_per_kind_and_at_most_the_bound() -> None:
    case = case_pb2.Case()
    message = message_pb2.EnrichedMessage()
    message.moments.extend(
        message_pb2.SpecialMoment(kind=f"kind{i}", quote="x" * 500) for i in range(20)
    )
    message.moments.append(message_pb2.SpecialMoment(kind="", quote="no kind"))
    add_moments(case, message)
    assert len(case.moments) == MAX_CASE_MOMENTS
    assert [m.kind for m in case.moments] == [f"kind{i}" for i in range(9, 20)]  # newest
    assert all(len(m.quote) == MAX_QUOTE_CHARS for m in case.moments)


def test_the_case_json_lists_the_moments() -> None:
    case = case_pb2.Case(id="c1")
    assert case_json(case)["moments"] == []
    add_moments(case, told("m1", ("wedding", "We are getting married in June!")))
    assert case_json(case)["moments"] == [
        {"kind": "wedding", "quote": "We are getting married in June!"}
    ]


def test_a_merged_case_hands_over_the_kinds_the_survivor_lacks() -> None:
    survivor = case_pb2.Case()
    survivor.moments.add(kind="trip", quote="Off to Rome tomorrow.")
    source = case_pb2.Case()
    source.moments.add(kind="trip", quote="Going on holiday.")
    source.moments.add(kind="birth", quote="We had a baby!")
    take_moments(survivor, source)
    assert kinds_and_quotes(survivor) == [
        ("birth", "We had a baby!"),
        ("trip", "Off to Rome tomorrow."),
    ]


def test_merging_two_cases_keeps_both_cases_moments() -> None:
    linked = Linked()
    a = tweet("x-1", 0, author="1")
    a.moments.add(kind="wedding", quote="We are getting married in June!")
    b = tweet("x-2", 10, author="2")
    b.moments.add(kind="new_home", quote="We just moved house.")
    linked.message(a)
    linked.at(timedelta(minutes=10)).message(b)
    older, newer = linked.case_of(a), linked.case_of(b)
    linked.at(timedelta(minutes=20)).command(merge(older.id, newer.id, "m-1"))
    assert kinds_and_quotes(linked.case(newer.id)) == [
        ("wedding", "We are getting married in June!"),
        ("new_home", "We just moved house."),
    ]
