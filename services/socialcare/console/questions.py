"""The console's "Questions" page (`/reports/questions`): the least-asked-questions report
(scenario 7) for conversation managers, the same report as `GET /v1/reports/intents`.

The page is a plain GET form (its filters are the REST route's parameters, so a link to a
filtered view can be shared) over `gateway.intent_report`: the same parsing, brand scope
and counts, rendered least asked first with each intent's counts per interval, so the long
tail (and the taxonomy's intents nobody asked) is the first thing the reader sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any

from socialcare.core.auth import Principal
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import CHANNELS
from socialcare.core.errors import SocialcareError
from socialcare.core.search import Interval, SearchError, SearchIndex
from socialcare.gateway.access import BrandScope
from socialcare.gateway.intent_report import parse_intent_report_query, run_intent_report

__all__ = ["FORM_FIELDS", "interval_label", "question_page_values"]

# The form's fields: the REST route's parameters.
FORM_FIELDS = ("from", "to", "interval", "brand", "language", "channel", "time_zone")


def question_page_values(
    care: CareConfig,
    search: SearchIndex,
    principal: Principal,
    params: Mapping[str, str],
    now: datetime,
) -> dict[str, Any]:
    """What `questions.html` needs: the form's values and choices, and the report, or the
    problem (`problem`: the message, `status_code` 400/403/503) when there is none."""
    form = {name: (params.get(name) or "").strip() for name in FORM_FIELDS}
    scope = BrandScope.of(care, principal)
    values: dict[str, Any] = {
        "form": form,
        "brands": [b.name for b in care.effective_brands if scope.sees(b.name)],
        "channels": sorted(CHANNELS),
        "intervals": [i.value for i in Interval],
        "report": None,
        "label": interval_label,
        "problem": None,
        "status_code": HTTPStatus.OK,
    }
    try:
        query = parse_intent_report_query(
            care,
            principal,
            from_=form["from"] or None,
            to=form["to"] or None,
            brand=form["brand"] or None,
            language=form["language"] or None,
            channel=form["channel"] or None,
            interval=form["interval"] or None,
            time_zone=form["time_zone"] or None,
            now=now,
        )
        values["report"] = run_intent_report(care, search, query)
    except SocialcareError as exc:
        values.update(problem=exc.message, status_code=exc.http_status)
    except SearchError as exc:
        values.update(problem=str(exc), status_code=HTTPStatus.SERVICE_UNAVAILABLE)
    return values


def interval_label(start: datetime, interval: str) -> str:
    """An interval's start as a short label: 2026-11 for a month, else the date."""
    return start.strftime("%Y-%m") if interval == "month" else start.date().isoformat()
