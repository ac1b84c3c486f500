"""Personal data in free text: find and redact e-mail addresses, phone numbers, IBANs and
payment card numbers.

Used where text leaves the platform's control without a reason to carry a customer's
details: every JSON log line (`core.telemetry.JsonFormatter`) goes through `redact`. Issue
13's enrichment reuses `find` to mark the spans in message text.

What counts (and what must not):

* e-mail: `local@domain.tld` (a TLD of two or more letters);
* IBAN: two letters, two check digits, then the account, grouped by spaces or not, of the
  country's length where known (else 15-34) and passing the ISO 7064 mod-97 check;
* card: 14-19 digits (grouped by spaces or dashes), a card network's prefix and length
  (Visa 4: 16/19, Mastercard 51-55/2221-2720: 16, Amex 34/37: 15, Diners 36/38/300-305:
  14/16, JCB 3528-3589 and Discover/UnionPay/Maestro 6: 16-19) and a valid Luhn digit (a
  13-digit EAN barcode is not a card);
* phone: international (`+31 6 1234 5678`, `+44 (0)20 7946 0958`, `0049 30 1234567`), or
  national with the trunk 0 (`06-12345678`, `030 1234567`, `01 23 45 67 89`, `07700
  900123`), or national without one when written in groups (`612 34 56 78`, `912 345
  678`, `333 123 4567`, `(555) 123-4567`, `555-123-4567`).

A number glued to letters (`1Z999AA10123456784`, a UUID's `550e8400`, `v2.10`), a date or
timestamp (`2024-11-26`, `01.12.2024 09:15`), a plain run of digits that does not start
like a phone number (order `100234567`, epoch `1732617600`), an IP address or a price is
left alone. The rules err on the side of leaving an unusual number in rather than
blanking ids an operator needs to read a log: a national number written solid without a
trunk 0 (`612345678`) is not found.

One precompiled pattern scans the text once; digit runs are then classified in Python.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["email", "phone", "iban", "card"]

__all__ = ["Kind", "Match", "find", "redact", "redact_value"]


@dataclass(frozen=True, slots=True)
class Match:
    """One piece of personal data in a text: `text[start:end]` is a `kind`."""

    kind: Kind
    start: int
    end: int


# What a redacted span becomes.
REPLACEMENT: Mapping[Kind, str] = {
    "email": "[email]",
    "phone": "[phone]",
    "iban": "[iban]",
    "card": "[card]",
}

_EMAIL = (
    r"(?P<email>(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(?![\w-]))"
)
# Country code, check digits, then groups of up to four: "NL91 ABNA 0417 1643 00".
_IBAN = r"(?P<iban>(?<![\w])[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,4})?(?![\w]))"
# A run of digits and the separators people write numbers with; classified afterwards.
_NUMBER = r"(?P<number>(?<![\w@+\-./,])(?:\+|\(\+?)?\d[\d \u00a0\-./()]*+)"

_PATTERN = re.compile(f"{_EMAIL}|{_IBAN}|{_NUMBER}", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_LOCAL_PART = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]")

_NON_DIGIT = re.compile(r"\D")
_TRAILING = re.compile(r"[^\d)]+$")
_DATE = re.compile(
    r"(?<!\d)(?:\d{1,2}[./-]\d{1,2}[./-](?:19|20)\d{2}|(?:19|20)\d{2}[./-]\d{1,2}[./-]\d{1,2})(?!\d)"
)
_US_PHONE = re.compile(r"\(\d{3}\) ?\d{3}[-. ]\d{4}")
# Groups of a national number written without its trunk 0 (es, pt, it, us): "612 34 56 78".
_GROUPED = re.compile(r"[2-9]\d{2}(?:[ \u00a0-]\d{2,4}){2,3}")
# The fewest characters a phone (E.164: 7 digits) or card number can be written in.
_MIN_NUMBER = 7
_CARD_SEPARATORS = frozenset(" -\u00a0")
# The fewest and most digits one number holds (a phone: 7, E.164; a card: 19) and the
# most space-separated groups it is written in ("+31 (0)6 12 34 56 78": 7): a window of
# groups outside these is never one number, which keeps the window search linear in the
# run's length (a 50,000-character run of "1 1 1 ..." takes milliseconds, not minutes).
_MIN_DIGITS = 7
_MAX_DIGITS = 19
_FEWEST_DIGITS: Mapping[Kind, int] = {"card": 14, "phone": _MIN_DIGITS, "email": 0, "iban": 0}
_MAX_GROUPS = 8

# IBAN lengths of the countries seen most (SWIFT IBAN registry); others: 15-34.
_IBAN_LENGTHS: Mapping[str, int] = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27,
    "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26, "UA": 29, "VA": 22,
}  # fmt: skip


def find(text: str) -> list[Match]:
    """Every e-mail address, phone number, IBAN and card number in `text`, in order and
    not overlapping."""
    if not _may_hold(text):
        return []  # the common message: no digit and no address, nothing to scan for
    found: list[Match] = []
    for candidate in _PATTERN.finditer(text):
        kind = candidate.lastgroup
        start, end = candidate.span()
        if kind == "email":
            found.append(Match("email", start, end))
        elif kind == "iban":
            if _is_iban(candidate.group()):
                found.append(Match("iban", start, end))
        else:
            found.extend(_numbers(text, start, end))
    return found


def _may_hold(text: str) -> bool:
    """Whether `text` has a digit (phones, cards, IBANs) or an "@" right after a character
    of an address's local part (a mention, " @user", has none): without either there is
    nothing to find, and most social messages have neither."""
    if _DIGIT.search(text) is not None:
        return True
    at = text.find("@")
    while at != -1:
        if at > 0 and _LOCAL_PART.match(text, at - 1):
            return True
        at = text.find("@", at + 1)
    return False


def redact(text: str) -> str:
    """`text` with every `find` match replaced by its kind in brackets (`[email]`,
    `[phone]`, `[iban]`, `[card]`)."""
    matches = find(text)
    if not matches:
        return text
    pieces: list[str] = []
    at = 0
    for match in matches:
        pieces.append(text[at : match.start])
        pieces.append(REPLACEMENT[match.kind])
        at = match.end
    pieces.append(text[at:])
    return "".join(pieces)


def redact_value(value: Any) -> Any:
    """`redact` for a log field's value: a string, or the strings in a list, tuple or
    dict (recursively); anything else as it is."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    return value


def _numbers(text: str, start: int, end: int) -> list[Match]:
    """The phone and card numbers in one run of digits and separators `text[start:end]`.

    The run as a whole first; when it is neither (two numbers next to each other, or a
    number beside a date), every window of its space-separated groups, longest first."""
    raw = text[start:end]
    if len(raw) < _MIN_NUMBER:
        return []  # most runs in a log: counts, offsets, durations
    trimmed = _TRAILING.sub("", raw)
    after = text[end : end + 1]
    if len(trimmed) == len(raw) and (after.isalnum() or after == "_"):
        # "2024-11-26T10", "1Z999AA1", "550e8400": part of a word, not a number; only its
        # last group is, when a space parts it from the rest ("06 12345678 2e verdieping").
        cut = max(raw.rfind(" "), raw.rfind("\u00a0"))
        return _numbers(text, start, start + cut) if cut > 0 else []
    lead, trimmed = _unwrap(trimmed)
    start += lead
    kind = _classify(trimmed)
    if kind is not None:
        return [Match(kind, start, start + len(trimmed))]
    groups = [(m.start(), m.end()) for m in re.finditer(r"[^ \u00a0]+", trimmed)]
    if len(groups) < 2:
        return []
    run = _Run(trimmed, groups, [len(_NON_DIGIT.sub("", trimmed[a:b])) for a, b in groups])
    # Cards first (a Luhn digit is the stronger evidence), then phones between them, so
    # "00 4111 1111 1111 1111" is a card after a stray "00", not a phone and a loose "1111".
    found: list[tuple[int, int, Kind, int]] = []
    at = 0
    for card in run.windows(0, len(groups), "card"):
        found.extend(run.windows(at, card[0], "phone"))
        found.append(card)
        at = card[1] + 1
    found.extend(run.windows(at, len(groups), "phone"))
    return [
        Match(kind, start + groups[first][0], start + groups[first][0] + length)
        for first, _last, kind, length in found
    ]


@dataclass(frozen=True, slots=True)
class _Run:
    """A run of digit groups that is not one number as a whole."""

    text: str
    groups: list[tuple[int, int]]
    digits: list[int]

    def windows(self, lo: int, hi: int, kind: Kind) -> list[tuple[int, int, Kind, int]]:
        """The numbers of `kind` among groups `lo`..`hi - 1`, left to right, the longest
        window first at each group: (first group, last group, kind, characters)."""
        found: list[tuple[int, int, Kind, int]] = []
        first = lo
        while first < hi:
            widest, held = first, self.digits[first]
            window_digits = [held]
            while (
                widest + 1 < hi
                and widest + 1 - first < _MAX_GROUPS
                and held + self.digits[widest + 1] <= _MAX_DIGITS
            ):
                widest += 1
                held += self.digits[widest]
                window_digits.append(held)
            for last in range(widest, first - 1, -1):
                if first == 0 and last == len(self.groups) - 1:
                    continue  # the whole run: classified before
                if window_digits[last - first] < _FEWEST_DIGITS[kind]:
                    break  # narrower windows hold even fewer digits
                piece = self.text[self.groups[first][0] : self.groups[last][1]]
                piece = _TRAILING.sub("", piece)
                if piece and piece[0] in "+(0123456789" and _classify(piece) == kind:
                    found.append((first, last, kind, len(piece)))
                    first = last
                    break
            first += 1
        return found


def _unwrap(number: str) -> tuple[int, str]:
    """The number without parentheses around it that belong to the text ("(06-12345678)",
    "06-12345678)" or "(call (555) 123-4567)"), and how many characters came off its start."""
    lead = 0
    while number.endswith(")") and number.count(")") > number.count("("):
        number = _TRAILING.sub("", number[:-1])
    while number.startswith("(") and number.count("(") > number.count(")"):
        number = number[1:]
        lead += 1
    if number.startswith("(") and number.endswith(")") and number.count("(") == 1:
        return lead + 1, number[1:-1]
    return lead, number


def _classify(number: str) -> Kind | None:
    """ "card", "phone" or None for one candidate (no trailing separators)."""
    digits = _NON_DIGIT.sub("", number)
    if _DATE.search(number):
        return None
    if _is_card(number, digits):
        return "card"
    if _is_phone(number, digits):
        return "phone"
    return None


def _is_card(number: str, digits: str) -> bool:
    if not 13 <= len(digits) <= 19 or number[0] in "+(":
        return False
    if any(not c.isdigit() and c not in _CARD_SEPARATORS for c in number):
        return False
    if not _card_prefix(digits):
        return False
    return _luhn(digits)


def _card_prefix(digits: str) -> bool:
    """A card network's prefix with that network's length (a 13-digit number is an EAN
    barcode, not a card: 13-digit Visa numbers are no longer issued)."""
    length = len(digits)
    first2 = int(digits[:2])
    first4 = int(digits[:4])
    if digits[0] == "4":  # Visa
        return length in (16, 19)
    if 51 <= first2 <= 55 or 2221 <= first4 <= 2720:  # Mastercard
        return length == 16
    if first2 in (34, 37):  # Amex
        return length == 15
    if first2 in (36, 38) or 300 <= int(digits[:3]) <= 305:  # Diners
        return length in (14, 16)
    if 3528 <= first4 <= 3589:  # JCB
        return 16 <= length <= 19
    if digits[0] == "6":  # Discover, UnionPay, Maestro
        return 16 <= length <= 19
    return False


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _is_phone(number: str, digits: str) -> bool:
    count = len(digits)
    if number.startswith(("+", "(+")):
        # E.164: country code and subscriber number, 7-15 digits; "(0)" may stand in it.
        return 7 <= count - number.count("(0)") <= 15
    if number.startswith("00"):
        return digits[2:3] not in ("", "0") and 8 <= count - 2 <= 13
    national = number.removeprefix("(")
    if national.startswith("0"):
        # The trunk 0, then a non-zero area or mobile prefix: nl, de, fr, it, uk, be, at.
        return national[1:2].isdigit() and national[1] != "0" and 9 <= count <= 12
    if _US_PHONE.fullmatch(number):
        return True
    return 9 <= count <= 10 and _GROUPED.fullmatch(number) is not None


def _is_iban(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    country = compact[:2]
    expected = _IBAN_LENGTHS.get(country)
    if expected is not None and len(compact) != expected:
        return False
    if not 15 <= len(compact) <= 34 or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1
