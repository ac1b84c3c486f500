"""Reading a platform's webhook JSON so that every refusal names the field.

A webhook body is decoded JSON: anything can sit where the documentation promises an
object, a list or an id. The parsers read it through `Obj`, which knows its own path
(`entry.0.changes.1.value`), so a wrong shape becomes a `PayloadError` naming exactly the
field the sender must fix, and never a `KeyError` or `TypeError` (a 500) deep inside a
parser. Unknown extra fields are ignored: platforms add fields without notice.

Platforms are inconsistent about types (ids as JSON numbers or strings, timestamps as
seconds, milliseconds or text, sometimes quoted), so the accessors accept what the
documentation shows and nothing looser.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from socialcare.channels.parsed import PayloadError
from socialcare.ingestion.models import MessageCreate

EpochUnit = Literal["s", "ms", "auto"]
# Seconds since 1970 pass 1e11 only in the year 5138: a larger number is milliseconds.
_MILLIS_THRESHOLD = 100_000_000_000


def join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


class Obj:
    """A JSON object at a known path; accessors raise `PayloadError` naming the field."""

    __slots__ = ("_value", "path")

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            raise PayloadError(path or "body", "must be a JSON object")
        self._value: Mapping[str, Any] = value
        self.path = path

    def at(self, key: str) -> str:
        return join(self.path, key)

    def has(self, key: str) -> bool:
        return self._value.get(key) is not None

    def field_names(self) -> list[str]:
        return [str(key) for key in self._value]

    def raw(self, key: str) -> Any:
        return self._value.get(key)

    def req(self, key: str) -> str:
        """A required id or text; a JSON integer counts (ids are often numeric)."""
        value = self.opt(key)
        if value is None or not value.strip():
            raise PayloadError(self.at(key), "is required")
        return value

    def opt(self, key: str) -> str | None:
        value = self._value.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise PayloadError(self.at(key), "must be a string")
        return str(value)

    def flag(self, key: str) -> bool:
        value = self._value.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise PayloadError(self.at(key), "must be true or false")
        return value

    def number(self, key: str) -> float:
        value = self._value.get(key)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise PayloadError(self.at(key), "must be a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PayloadError(self.at(key), "must be a number")
        return float(value)

    def obj(self, key: str) -> Obj:
        if self._value.get(key) is None:
            raise PayloadError(self.at(key), "is required")
        return Obj(self._value[key], self.at(key))

    def opt_obj(self, key: str) -> Obj | None:
        if self._value.get(key) is None:
            return None
        return Obj(self._value[key], self.at(key))

    def items(self, key: str, *, required: bool = False) -> list[Any]:
        value = self._value.get(key)
        if value is None:
            if required:
                raise PayloadError(self.at(key), "is required")
            return []
        if not isinstance(value, list):
            raise PayloadError(self.at(key), "must be a list")
        return value

    def objs(self, key: str, *, required: bool = False) -> list[Obj]:
        """The objects of a list field; absent or null is an empty list unless required."""
        return [
            Obj(item, join(self.at(key), index))
            for index, item in enumerate(self.items(key, required=required))
        ]

    def epoch(self, key: str, unit: EpochUnit) -> datetime:
        """A Unix time (number or quoted number) in `unit`; "auto" tells seconds from
        milliseconds by size, for fields Meta documents both ways (`entry.time`). An ISO
        8601 text with an offset is taken too: Graph objects write times that way."""
        value = self._value.get(key)
        path = self.at(key)
        if isinstance(value, str):
            text = value.strip()
            if text.isascii() and text.isdigit():
                value = int(text)
            else:
                return _iso(text, path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PayloadError(path, "must be a Unix timestamp")
        if unit == "ms" or (unit == "auto" and value >= _MILLIS_THRESHOLD):
            value = value / 1000
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(path, "is not a valid Unix timestamp") from None


def message(data: dict[str, Any], *, path: str, sources: Mapping[str, str]) -> MessageCreate:
    """Validate what a parser built from the platform's fields.

    `sources` maps MessageCreate fields (`author.id`, `text`) to where the parser read them
    in the body, so a value the model refuses (a 20 000-character comment, an empty id) is
    reported at the platform's field; anything unmapped is reported at `path`, the item.
    """
    try:
        return MessageCreate.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(part) for part in error["loc"]]
        field = path or "body"
        for end in range(len(loc), 0, -1):
            prefix = ".".join(loc[:end])
            if prefix in sources:
                field = sources[prefix]
                break
        raise PayloadError(field, str(error["msg"])) from None


def attachment(
    kind: str,
    *,
    url: str | None = None,
    mime_type: str | None = None,
    external_id: str | None = None,
) -> dict[str, str]:
    """An attachment as MessageCreate takes it, without the fields the platform left out."""
    fields = {"type": kind, "url": url, "mime_type": mime_type, "external_id": external_id}
    return {key: value for key, value in fields.items() if value is not None}


def _iso(text: str, path: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(path, "must be a Unix timestamp or an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise PayloadError(path, "must name its timezone offset")
    try:
        # In UTC now, so no later conversion can leave the calendar (0001-01-01T00:30+01:00).
        return moment.astimezone(UTC)
    except OverflowError:
        raise PayloadError(path, "is not a valid time") from None
