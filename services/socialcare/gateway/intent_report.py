"""The least-asked-questions report (scenario 7): `GET /v1/reports/intents`.

Conversation managers learn most from the questions customers rarely ask: they show what
the organisation does not know yet (a new product's first problems, a process nobody
documented). So the report lists intents least asked first, with the long tail complete:
every intent counted in the window however rare (`SearchIndex.count` is exact), the
taxonomy's intents nobody asked (total 0, first), and the messages no intent was found in
(what the taxonomy misses). Each intent has a series per calendar interval (day, week or
month in a time zone), so a question that is new or growing stands out.

Counted: the inbound messages of the search projection's messages index in the window (by
`created_at`), each message counted once per intent it asked (the indexer puts the case's
intents from that message on its document; a question the case still has open is not added
twice, so asking it again before an answer does not count again). A projection: it lags
the indexer by a moment, and a message erased or past its brand's retention is gone.

Who sees what: as the other reports (`gateway.reports`), `read_operations`; a principal
restricted to some brands counts those brands' messages only (a brand asked for but not
seen is 403). Message documents carry their case's configured brand name.

The console's "Questions" page renders the same report (`build_intent_report`), and
gRPC's ReportingService/GetIntentReport runs this route.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from socialcare.core.auth import Principal
from socialcare.core.clock import Clock, utc_now
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import CHANNELS
from socialcare.core.http_errors import error_responses
from socialcare.core.search import (
    CountQuery,
    CountResult,
    Interval,
    InvalidQueryError,
    SearchIndex,
    UnknownIndexError,
)
from socialcare.core.search.counting import MAX_INTERVALS, Intervals, calendar_intervals
from socialcare.core.search.indices import MESSAGES
from socialcare.gateway.access import BrandScope
from socialcare.gateway.reports import (
    MAX_PARAMETER_LENGTH,
    Operator,
    _bad,
    _listed,
    _moment,
    brand_filter,
)

__all__ = [
    "DEFAULT_WINDOW",
    "IntentReportQuery",
    "IntentReportRead",
    "build_intent_report",
    "intent_report_router",
    "parse_intent_report_query",
    "run_intent_report",
]

# The default window: the last 30 days (rare questions need a long look).
DEFAULT_WINDOW: Final = timedelta(days=30)
# Without `interval`: days up to this window, weeks up to two years, else months.
DAILY_UP_TO: Final = timedelta(days=92)
WEEKLY_UP_TO: Final = timedelta(days=731)
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True, slots=True)
class IntentReportQuery:
    """What to count: inbound messages from `start` (inclusive) to `end` (exclusive), UTC;
    `brands` None for any brand, else these (possibly none: nothing to count)."""

    start: datetime
    end: datetime
    interval: Interval
    time_zone: str
    brands: list[str] | None
    languages: list[str]
    channels: list[str]

    def count_query(self) -> CountQuery:
        filters: dict[str, str | Sequence[str]] = {"direction": "inbound"}
        if self.brands is not None:
            filters["brand"] = self.brands
        if self.languages:
            filters["language"] = self.languages
        if self.channels:
            filters["channel"] = self.channels
        return CountQuery(
            by="intents",
            filters=filters,
            date_field="created_at",
            since=self.start.isoformat(),
            until=self.end.isoformat(),
            interval=self.interval,
            time_zone=self.time_zone,
        )

    def intervals(self) -> Intervals:
        return calendar_intervals(
            _millis(self.start), _millis(self.end), self.interval, ZoneInfo(self.time_zone)
        )


def parse_intent_report_query(
    care: CareConfig,
    principal: Principal,
    *,
    from_: str | None,
    to: str | None,
    brand: str | None,
    language: str | None,
    channel: str | None,
    interval: str | None,
    time_zone: str | None,
    now: datetime,
) -> IntentReportQuery:
    """The parameters as REST and the console send them, checked: ReportParameterError
    (400) naming the first bad one, ForbiddenError (403) for a brand not seen."""
    params = {
        "from": from_,
        "to": to,
        "brand": brand,
        "language": language,
        "channel": channel,
        "interval": interval,
        "time_zone": time_zone,
    }
    for name, value in params.items():
        if value is not None and len(value) > MAX_PARAMETER_LENGTH:
            raise _bad(name, f"longer than {MAX_PARAMETER_LENGTH} characters")
    end = _moment("to", to) if to else now
    start = _moment("from", from_) if from_ else end - DEFAULT_WINDOW
    if start >= end:
        raise _bad("from", "must be before `to`")
    zone = _zone((time_zone or "").strip() or "UTC")
    every = _interval(interval, end - start)
    languages = _listed(language)
    for code in languages:
        if not _LANGUAGE.fullmatch(code):
            raise _bad("language", f"{code[:20]!r} is not a language code such as nl or pt-BR")
    channels = _listed(channel)
    for name in channels:
        if name not in CHANNELS:
            raise _bad("channel", f"{name[:20]!r} is not one of {', '.join(sorted(CHANNELS))}")
    brands = brand_filter(BrandScope.of(care, principal), _listed(brand))
    query = IntentReportQuery(
        start=start,
        end=end,
        interval=every,
        time_zone=zone,
        brands=brands,
        languages=languages,
        channels=channels,
    )
    try:
        query.intervals()
    except InvalidQueryError as exc:  # too many intervals in the window
        raise _bad("interval", str(exc)) from exc
    return query


def run_intent_report(
    care: CareConfig, search: SearchIndex, query: IntentReportQuery
) -> dict[str, Any]:
    """Count and build the report. A SearchError (503) propagates; an index the indexer
    has not created yet is an empty window."""
    if query.brands is not None and not query.brands:
        counted = CountResult(total=0, buckets=[])  # sees no brand: nothing to count
    else:
        try:
            counted = search.count(MESSAGES, query.count_query())
        except UnknownIndexError:
            counted = CountResult(total=0, buckets=[])
    return build_intent_report(query, counted, taxonomy(care, query.brands))


def taxonomy(care: CareConfig, brands: Sequence[str] | None) -> list[str]:
    """The intent names configured for these brands (every brand's for None)."""
    names = [b.name for b in care.effective_brands] if brands is None else list(brands)
    return sorted({entry.name for name in names for entry in care.intents_for(name)})


def build_intent_report(
    query: IntentReportQuery, counted: CountResult, names: Sequence[str]
) -> dict[str, Any]:
    """The report from the counts (pure): intents least asked first (total, then name),
    each with its share of the messages, first and last interval seen and its series
    (one count per interval of `intervals`); the taxonomy's `names` never asked are
    there with total 0; `without_intent`: the messages no intent was found in."""
    intervals = query.intervals()
    width = len(intervals.starts)
    series: dict[str | None, list[int]] = {name: [0] * width for name in names}
    series.setdefault(None, [0] * width)
    for bucket in counted.buckets:
        assert bucket.start is not None  # an interval count
        position = intervals.index_of(_millis(bucket.start))
        if position is None:
            continue
        series.setdefault(bucket.key, [0] * width)[position] += bucket.count
    messages = counted.total
    known = set(names)
    rows = []
    for name, counts in series.items():
        if name is None:
            continue
        rows.append(
            _row(intervals, counts, messages) | {"name": name, "in_taxonomy": name in known}
        )
    rows.sort(key=lambda row: (row["total"], row["name"]))
    starts = [intervals.start_of(i) for i in range(width)]
    return {
        "window": {"from": query.start, "to": query.end},
        "interval": query.interval.value,
        "time_zone": query.time_zone,
        "intervals": starts,
        "filters": {
            "brand": query.brands,
            "language": query.languages,
            "channel": query.channels,
        },
        "messages": messages,
        "intents": rows,
        "without_intent": _row(intervals, series[None], messages),
    }


def _row(intervals: Intervals, counts: list[int], messages: int) -> dict[str, Any]:
    seen = [i for i, count in enumerate(counts) if count]
    total = sum(counts)
    return {
        "total": total,
        "share": total / messages if messages else None,
        "first_seen": intervals.start_of(seen[0]) if seen else None,
        "last_seen": intervals.start_of(seen[-1]) if seen else None,
        "series": counts,
    }


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _zone(name: str) -> str:
    if len(name) > 100:
        raise _bad("time_zone", "not an IANA time zone name")
    try:
        return ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad(
            "time_zone", f"{name[:40]!r} is not an IANA time zone such as UTC or Europe/Amsterdam"
        ) from None


def _interval(value: str | None, window: timedelta) -> Interval:
    text = (value or "").strip()
    if not text:
        if window <= DAILY_UP_TO:
            return Interval.DAY
        return Interval.WEEK if window <= WEEKLY_UP_TO else Interval.MONTH
    try:
        return Interval(text)
    except ValueError:
        raise _bad(
            "interval", f"{text[:20]!r} is not one of {', '.join(i.value for i in Interval)}"
        ) from None


# -- the REST route ----------------------------------------------------------------------


class IntentCountRead(BaseModel):
    total: int = Field(description="Messages that asked it in the window.")
    share: float | None = Field(
        description="total / messages (the inbound messages in the window); null when there "
        "were none. Shares add up to more than 1 when messages ask several questions."
    )
    first_seen: datetime | None = Field(
        description="Start of the first interval it was asked in (in `time_zone`); null when never."
    )
    last_seen: datetime | None = Field(
        description="Start of the last interval it was asked in; null when never."
    )
    series: list[int] = Field(description="Messages per interval, one per `intervals` entry.")


class IntentRowRead(IntentCountRead):
    name: str = Field(description="The taxonomy's intent name.")
    in_taxonomy: bool = Field(
        description="false for an intent counted in the window that the taxonomy no longer "
        "has (or not for these brands)."
    )


class IntentReportFiltersRead(BaseModel):
    brand: list[str] | None = Field(description="The brands counted; null: every brand.")
    language: list[str]
    channel: list[str]


class IntentReportWindowRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="Start (inclusive), UTC.")
    to: datetime = Field(description="End (exclusive), UTC.")


class IntentReportRead(BaseModel):
    window: IntentReportWindowRead
    interval: str = Field(description="day, week (from Monday) or month.")
    time_zone: str = Field(description="The IANA time zone the intervals are calendar days of.")
    intervals: list[datetime] = Field(
        description="Start of each interval, in `time_zone`: the first holds `from`, the "
        "last holds the moment before `to` (so the first and last may be partly counted)."
    )
    filters: IntentReportFiltersRead
    messages: int = Field(description="Inbound messages in the window (with the filters).")
    intents: list[IntentRowRead] = Field(
        description="Least asked first (total, then name): the taxonomy's intents never "
        "asked in the window come first with total 0, then the long tail."
    )
    without_intent: IntentCountRead = Field(
        description="Messages in which no intent was found: what the taxonomy misses."
    )


_ERRORS = error_responses(
    400,
    401,
    403,
    422,
    503,
    descriptions={
        400: "A parameter cannot be used as given; `field` names it (`invalid_parameter`): "
        "`from`/`to` not RFC 3339 or a date, `from` not before `to`, an unknown `interval`, "
        f"more than {MAX_INTERVALS} intervals in the window, an unknown `time_zone`, "
        "`channel` or a malformed `language`.",
        401: "No credential, or not a valid one.",
        403: "The credential lacks `read_operations`, or asks for a brand it does not see "
        "(`forbidden`, `field`: `brand`).",
        422: "Not sent by this route: its parameters are checked as 400.",
        503: "The search index is unavailable (`search_unavailable`).",
    },
)


def intent_report_router(
    *, care: CareConfig, search: SearchIndex, clock: Clock = utc_now
) -> APIRouter:
    """`GET /v1/reports/intents` over the search projection's messages."""
    api = APIRouter(prefix="/v1")

    @api.get(
        "/reports/intents",
        tags=["reports"],
        summary="Intents over time, least asked first: the long tail, never-asked intents "
        "and messages without one",
        response_model=IntentReportRead,
        responses=_ERRORS,
    )
    def intent_report(
        principal: Operator,
        from_: Annotated[
            str | None,
            Query(
                alias="from",
                description="Start (inclusive): RFC 3339 with an offset or a date (its "
                "midnight UTC). Default: `to` minus 30 days.",
            ),
        ] = None,
        to: Annotated[
            str | None, Query(description="End (exclusive), as `from`. Default: now.")
        ] = None,
        brand: Annotated[
            str | None, Query(description="Only these brands (comma-separated).")
        ] = None,
        language: Annotated[
            str | None,
            Query(description="Only messages in these languages (comma-separated codes)."),
        ] = None,
        channel: Annotated[
            str | None,
            Query(description=f"Only these channels (comma-separated): {', '.join(CHANNELS)}."),
        ] = None,
        interval: Annotated[
            str | None,
            Query(
                description="day, week or month. Default: day for a window up to 92 days, "
                "week up to two years, else month."
            ),
        ] = None,
        time_zone: Annotated[
            str | None,
            Query(description="IANA time zone of the intervals' calendar. Default: UTC."),
        ] = None,
    ) -> dict[str, Any]:
        query = parse_intent_report_query(
            care,
            principal,
            from_=from_,
            to=to,
            brand=brand,
            language=language,
            channel=channel,
            interval=interval,
            time_zone=time_zone,
            now=clock(),
        )
        report = run_intent_report(care, search, query)
        # As JSON here, so gRPC (which runs this handler) gets the REST answer's exact text.
        return IntentReportRead.model_validate(report).model_dump(mode="json", by_alias=True)

    return api
