"""`SearchIndex.count`, run against both backends (as tests/contract/test_search_contract.py).

`embedded` is the SQLite store in a temporary directory; `elasticsearch` the real local
node of the session fixture `elasticsearch_url`, with a unique index prefix per test. The
documents are messages with intents (a multi-valued keyword, some with none), a brand and
a time, spread over days, a DST change in Amsterdam, weeks and months, and a long tail of
intents asked once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from socialcare.core.search import (
    CountBucket,
    CountQuery,
    FieldKind,
    IndexedDocument,
    IndexSchema,
    Interval,
    InvalidQueryError,
    SearchIndex,
    UnknownIndexError,
)
from socialcare.core.search.counting import MAX_INTERVALS
from tests.contract.search_backends import search_backend

INDEX = "messages"
SCHEMA = IndexSchema(
    {
        "intents": FieldKind.KEYWORD,
        "brand": FieldKind.KEYWORD,
        "direction": FieldKind.KEYWORD,
        "created_at": FieldKind.DATE,
        "text": FieldKind.TEXT,
        "score": FieldKind.NUMBER,
    }
)
AMS = ZoneInfo("Europe/Amsterdam")
UTC = ZoneInfo("UTC")

DOCS: dict[str, dict[str, Any]] = {
    # Sat 30 March 2024, the day before Amsterdam's clocks go forward.
    "m1": {"intents": ["billing"], "brand": "acme", "created_at": "2024-03-30T10:00:00Z"},
    # 22:30Z is still the 30th in Amsterdam (+01:00); 23:30Z is the 31st.
    "m2": {"intents": ["billing", "outage"], "brand": "acme", "created_at": "2024-03-30T22:30:00Z"},
    "m3": {"intents": ["outage"], "brand": "acme", "created_at": "2024-03-30T23:30:00Z"},
    # Sun 31 March (23 hours long in Amsterdam): 21:59Z is 23:59 local (+02:00).
    "m4": {"intents": ["billing"], "brand": "acme", "created_at": "2024-03-31T21:59:00Z"},
    # 22:00Z on the 31st is Monday 1 April 00:00 in Amsterdam: a new week and month there.
    "m5": {"intents": ["delivery"], "brand": "acme", "created_at": "2024-03-31T22:00:00Z"},
    "m6": {"intents": [], "brand": "acme", "created_at": "2024-04-02T09:00:00Z"},
    "m7": {"brand": "acme", "created_at": "2024-04-03T09:00:00Z"},  # no intents field
    "m8": {"intents": ["safety"], "brand": "acme", "created_at": "2024-04-15T09:00:00Z"},
    "g1": {"intents": ["billing"], "brand": "globex", "created_at": "2024-03-30T10:00:00Z"},
    "g2": {"intents": ["legal_threat"], "brand": "globex", "created_at": "2024-04-01T10:00:00Z"},
    "x1": {"intents": ["billing"], "brand": "acme"},  # no time
    "o1": {
        "intents": ["billing"],
        "brand": "acme",
        "direction": "outbound",
        "created_at": "2024-03-30T11:00:00Z",
    },
}
SINCE, UNTIL = "2024-03-30T00:00:00Z", "2024-05-01T00:00:00Z"


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def search(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
    with search_backend(request, tmp_path) as index:
        yield index


@pytest.fixture
def messages(search: SearchIndex) -> SearchIndex:
    search.ensure_index(INDEX, SCHEMA)
    search.upsert(INDEX, [IndexedDocument(i, body) for i, body in DOCS.items()])
    search.refresh(INDEX)
    return search


def counts(buckets: list[CountBucket]) -> dict[str | None, int]:
    assert all(b.start is None for b in buckets)
    return {b.key: b.count for b in buckets}


def series(buckets: list[CountBucket]) -> list[tuple[str | None, str, int]]:
    found = []
    for b in buckets:
        assert b.start is not None
        found.append((b.key, b.start.isoformat(), b.count))
    return found


class TestCount:
    def test_every_value_counted_with_the_documents_without_one(
        self, messages: SearchIndex
    ) -> None:
        result = messages.count(INDEX, CountQuery(by="intents"))
        assert result.total == len(DOCS)
        assert counts(result.buckets) == {
            "billing": 6,
            "delivery": 1,
            "legal_threat": 1,
            "outage": 2,
            "safety": 1,
            None: 2,  # m6 (empty list) and m7 (no field)
        }
        keys = [b.key for b in result.buckets]
        assert keys == ["billing", "delivery", "legal_threat", "outage", "safety", None]

    def test_filters_and_a_window_narrow_the_documents(self, messages: SearchIndex) -> None:
        result = messages.count(
            INDEX,
            CountQuery(
                by="intents",
                filters={"brand": "acme"},
                date_field="created_at",
                since="2024-03-31T00:00:00+02:00",
                until="2024-04-15T09:00:00Z",  # exclusive: m8 is out
            ),
        )
        assert counts(result.buckets) == {
            "billing": 2,  # m2 (22:30Z) and m4; m1 and o1 are earlier
            "outage": 2,  # m2, m3
            "delivery": 1,
            None: 2,
        }
        assert result.total == 6  # m2 m3 m4 m5 m6 m7; x1 has no time
        anyof = messages.count(INDEX, CountQuery(by="brand", filters={"intents": ["safety", "x"]}))
        assert counts(anyof.buckets) == {"acme": 1}

    def test_daily_intervals_follow_the_time_zone_across_a_dst_change(
        self, messages: SearchIndex
    ) -> None:
        query = CountQuery(
            by="intents",
            filters={"brand": "acme"},
            date_field="created_at",
            since="2024-03-30T00:00:00+01:00",
            until="2024-04-02T00:00:00+02:00",
            interval=Interval.DAY,
            time_zone="Europe/Amsterdam",
        )
        result = messages.count(INDEX, query)
        assert series(result.buckets) == [
            ("billing", "2024-03-30T00:00:00+01:00", 3),  # m1, o1, m2 (23:30 local)
            ("billing", "2024-03-31T00:00:00+01:00", 1),  # m4 (23:59 local, +02:00)
            ("delivery", "2024-04-01T00:00:00+02:00", 1),  # m5 (00:00 local)
            ("outage", "2024-03-30T00:00:00+01:00", 1),  # m2
            ("outage", "2024-03-31T00:00:00+01:00", 1),  # m3 (00:30 local)
        ]
        assert result.total == 6
        utc = messages.count(INDEX, CountQuery(**{**_fields(query), "time_zone": "UTC"}))
        assert series(utc.buckets) == [
            ("billing", "2024-03-30T00:00:00+00:00", 3),  # m1, o1, m2 (22:30Z)
            ("billing", "2024-03-31T00:00:00+00:00", 1),
            ("delivery", "2024-03-31T00:00:00+00:00", 1),
            ("outage", "2024-03-30T00:00:00+00:00", 2),
        ]

    def test_weeks_start_on_monday_and_months_on_the_first(self, messages: SearchIndex) -> None:
        base = CountQuery(
            by="brand",
            date_field="created_at",
            time_zone="Europe/Amsterdam",
            since=SINCE,
            until=UNTIL,
        )
        weekly = messages.count(INDEX, CountQuery(**{**_fields(base), "interval": Interval.WEEK}))
        assert series(weekly.buckets) == [
            ("acme", "2024-03-25T00:00:00+01:00", 5),  # m1 m2 m3 m4 o1
            ("acme", "2024-04-01T00:00:00+02:00", 3),  # m5 m6 m7
            ("acme", "2024-04-15T00:00:00+02:00", 1),
            ("globex", "2024-03-25T00:00:00+01:00", 1),
            ("globex", "2024-04-01T00:00:00+02:00", 1),
        ]
        monthly = messages.count(INDEX, CountQuery(**{**_fields(base), "interval": Interval.MONTH}))
        assert series(monthly.buckets) == [
            ("acme", "2024-03-01T00:00:00+01:00", 5),
            ("acme", "2024-04-01T00:00:00+02:00", 4),
            ("globex", "2024-03-01T00:00:00+01:00", 1),
            ("globex", "2024-04-01T00:00:00+02:00", 1),
        ]

    def test_documents_without_a_value_have_their_own_series(self, messages: SearchIndex) -> None:
        result = messages.count(
            INDEX,
            CountQuery(
                by="intents",
                filters={"brand": "acme"},
                date_field="created_at",
                interval=Interval.DAY,
                since=SINCE,
                until=UNTIL,
            ),
        )
        missing = [(s, n) for key, s, n in series(result.buckets) if key is None]
        assert missing == [("2024-04-02T00:00:00+00:00", 1), ("2024-04-03T00:00:00+00:00", 1)]

    def test_the_long_tail_is_exact_past_a_page(self, search: SearchIndex) -> None:
        """2,500 intents (more than a composite page of 1,000), most asked once."""
        search.ensure_index(INDEX, SCHEMA)
        documents = [
            IndexedDocument(
                f"d{i}",
                {
                    "intents": [f"intent-{i:04d}", "common"],
                    "created_at": f"2024-01-{1 + i % 28:02d}T12:00:00Z",
                },
            )
            for i in range(2500)
        ]
        search.upsert(INDEX, documents)
        search.refresh(INDEX)
        result = search.count(INDEX, CountQuery(by="intents"))
        found = counts(result.buckets)
        assert len(found) == 2501
        assert found["common"] == 2500
        assert all(found[f"intent-{i:04d}"] == 1 for i in range(2500))
        daily = search.count(
            INDEX,
            CountQuery(
                by="intents",
                date_field="created_at",
                since="2024-01-01",
                until="2024-02-01",
                interval=Interval.DAY,
            ),
        )
        assert len(daily.buckets) == 2500 + 28
        assert sum(b.count for b in daily.buckets if b.key == "common") == 2500

    def test_nothing_to_count(self, messages: SearchIndex) -> None:
        empty = messages.count(INDEX, CountQuery(by="intents", filters={"brand": "initech"}))
        assert (empty.total, empty.buckets) == (0, [])
        none_of = messages.count(INDEX, CountQuery(by="intents", filters={"brand": []}))
        assert (none_of.total, none_of.buckets) == (0, [])

    @pytest.mark.parametrize(
        "query",
        [
            CountQuery(by="text"),  # text field
            CountQuery(by="score"),  # not a keyword
            CountQuery(by="nope"),
            CountQuery(by="intents", filters={"nope": "x"}),
            CountQuery(by="intents", date_field="brand"),
            CountQuery(by="intents", since="2024-01-01"),  # no date field
            CountQuery(by="intents", date_field="created_at", since="yesterday"),
            CountQuery(
                by="intents", date_field="created_at", since="2024-02-01", until="2024-01-01"
            ),
            CountQuery(by="intents", date_field="created_at", interval=Interval.DAY),
            CountQuery(
                by="intents",
                date_field="created_at",
                since="2020-01-01",
                until="2024-01-01",
                interval=Interval.DAY,  # more than MAX_INTERVALS days
            ),
            CountQuery(
                by="intents",
                date_field="created_at",
                time_zone="Mars/Olympus_Mons",
                since=SINCE,
                until=UNTIL,
            ),
            CountQuery(
                by="intents",
                date_field="created_at",
                interval="fortnight",  # type: ignore[arg-type]
                since=SINCE,
                until=UNTIL,
            ),
        ],
    )
    def test_invalid_counts_raise_invalid_query_error(
        self, messages: SearchIndex, query: CountQuery
    ) -> None:
        with pytest.raises(InvalidQueryError):
            messages.count(INDEX, query)

    def test_an_unknown_index(self, search: SearchIndex) -> None:
        with pytest.raises(UnknownIndexError):
            search.count("nothing-here", CountQuery(by="intents"))

    def test_the_interval_limit_is_inclusive(self, messages: SearchIndex) -> None:
        start = datetime(2024, 1, 1, tzinfo=UTC)
        until = datetime.fromtimestamp(start.timestamp() + MAX_INTERVALS * 86400, tz=UTC)
        result = messages.count(
            INDEX,
            CountQuery(
                by="brand",
                date_field="created_at",
                since=start.isoformat(),
                until=until.isoformat(),
                interval=Interval.DAY,
            ),
        )
        assert sum(b.count for b in result.buckets) == result.total == 11


def _fields(query: CountQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in CountQuery.__dataclass_fields__}
