"""Checks of single config values shared by the config sections (care, SLA, escalation):
names, language codes, time zones, values from a fixed list, durations.

Each is a plain function of the value that returns it (cleaned) or raises ValueError with
what is wrong, so a pydantic model uses it as `field_validator("field")(check)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from socialcare.core.domain.durations import parse_duration

__all__ = [
    "ANY_LANGUAGE",
    "NAME_PATTERN",
    "check_language",
    "check_languages",
    "check_time_zone",
    "check_unique",
    "one_of",
    "optional_duration",
]

# The language entry that matches every language.
ANY_LANGUAGE = "*"
# The names of config entries (queues, calendars, policies, categories, customer tiers):
# lower-case letters, digits, - and _, not starting with - or _.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"

_LANGUAGE = re.compile(r"[a-z]{2}")

_Value = TypeVar("_Value")


def check_language(value: str, *, any_allowed: bool = False) -> str:
    """An ISO 639-1 code (two letters), lower-cased; with `any_allowed` also '*'."""
    code = value.strip().lower()
    if any_allowed and code == ANY_LANGUAGE:
        return code
    if not _LANGUAGE.fullmatch(code):
        raise ValueError(
            f"{code!r} is not an ISO 639-1 code (two letters)"
            + (f" or {ANY_LANGUAGE!r}" if any_allowed else "")
        )
    return code


def check_languages(value: Sequence[str]) -> list[str]:
    """ISO 639-1 codes (lower-cased) or '*'; at least one."""
    cleaned = [check_language(code, any_allowed=True) for code in value]
    if not cleaned:
        raise ValueError("at least one language is needed")
    return cleaned


def check_time_zone(value: str) -> str:
    """An IANA time zone name (Europe/Amsterdam)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Amsterdam)") from None
    return value


def check_unique(kind: str, names: Sequence[str]) -> None:
    """ValueError "duplicate {kind}: a, b" naming every name listed more than once."""
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate {kind}: {', '.join(duplicates)}")


def one_of(kind: str, allowed: Collection[str]) -> Callable[[_Value], _Value]:
    """A check that a value (None: not set), or every value of a list, is in `allowed`;
    ValueError "'x' is not a {kind} (a, b, c)"."""

    def check(value: _Value) -> _Value:
        values = value if isinstance(value, list) else [] if value is None else [value]
        for item in values:
            if item not in allowed:
                raise ValueError(f"{item!r} is not a {kind} ({', '.join(allowed)})")
        return value

    return check


def optional_duration(value: str | float | None) -> float | None:
    """A duration (`parse_duration`), or None when not set."""
    return None if value is None else parse_duration(value)
