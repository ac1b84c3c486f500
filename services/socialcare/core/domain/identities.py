"""The ways to reach one customer, as identities that link their contacts into one case.

Scenario 6: a customer asks on X, calls (an agent's phone note), files a complaint form. Each
contact names the customer differently -- an X user id, a phone number, an e-mail address
-- and routing joins them into one case when two contacts share an identity. So an identity
must be written one way whatever way the customer wrote it: `normalise` is that one way,
and `identity_key` ("kind:value") is what the identity linker compares.

Kinds:
- a channel name ("x", "facebook", "whatsapp", ...): the author id on that channel (ids
  are stable across handle changes). On the channels of generic sources (forum, blog,
  review, generic) the id is the source's own, so the value is "<source>/<author id>":
  user "u-1" of one forum is not user "u-1" of a review site. The e-mail channel's author
  id is an address, so its identity is the "email" kind; WhatsApp's author id is a phone
  number (wa_id), so a WhatsApp author is also a "phone" identity.
- "handle:<channel>": the @handle, lower-cased without the "@" (X, Instagram and Facebook
  handles are case-insensitive).
- "email": lower-cased and checked (one "@", a domain with a dot); "mailto:" and a
  "Name <address>" wrapper are taken off.
- "phone": E.164 ("+" and digits). International numbers are accepted as "+31 6 1234
  5678", "+31 (0)6-1234 5678", "0031 6 12345678"; a national number ("06-12345678",
  "(020) 123 4567") becomes E.164 only when the country calling code is known: from the
  customer's own international number on the message (the WhatsApp author id or the
  author's phone), else the brand's `phone_country` (care config, passed as
  `calling_code`). Rule when neither tells: the number is
  kept in its national digits ("0201234567") -- it still links contacts that wrote it the
  same national way, and nothing guesses a country from a language (Dutch is spoken in
  two countries with different codes).
- "crm": the CRM's customer id, trimmed, inner whitespace collapsed (case kept: CRM ids
  may be case-sensitive).

What a customer writes in the text counts only where it is private: a direct message or a
private channel (WhatsApp, e-mail). Public posts often quote other people's numbers (a shop's
phone, a helpdesk address), which would link strangers into one case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from google.protobuf import timestamp_pb2

from socialcare.core.domain.cases import CHANNEL_NAMES, CHANNELS
from socialcare.v1 import case_pb2, message_pb2

__all__ = [
    "CRM",
    "EMAIL",
    "HANDLE_PREFIX",
    "PHONE",
    "calling_code_of",
    "display",
    "emails_in",
    "identity_key",
    "make_identity",
    "message_identities",
    "normalise",
    "parse_key",
    "phones_in",
]

EMAIL = "email"
PHONE = "phone"
CRM = "crm"
HANDLE_PREFIX = "handle:"

# Channels fed by generic sources (brands.GENERIC_CHANNELS but e-mail, whose author ids
# are addresses): their author ids and handles are scoped by the source.
_SOURCE_SCOPED = frozenset(
    {
        message_pb2.CHANNEL_FORUM,
        message_pb2.CHANNEL_BLOG,
        message_pb2.CHANNEL_REVIEW,
        message_pb2.CHANNEL_GENERIC,
    }
)
# Channels whose every message is private between customer and brand.
_PRIVATE_CHANNELS = frozenset({message_pb2.CHANNEL_WHATSAPP, message_pb2.CHANNEL_EMAIL})

# local@domain.tld: no spaces, one "@", domain labels of letters/digits/hyphens, a TLD of
# at least two letters (IDN TLDs as punycode "xn--...").
_EMAIL = re.compile(
    r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
)
_EMAIL_IN_TEXT = re.compile(
    r"(?<![a-z0-9.!#$%&'*+/=?^_`{|}~-])[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    re.IGNORECASE,
)
# A phone number as people write it: an optional "+" or "00", then digits with spaces,
# dashes, dots, slashes and parentheses between them; not inside a longer word or number.
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])(?:\+|\(\+?)?\d[\d\s\-./()]{5,22}\d(?![\w])")
_PHONE_SEPARATORS = re.compile(r"[\s\-./()\u00a0]")
# E.164: at most 15 digits after the "+" (country code included); the shortest numbers in
# use (small territories) have 7.
_E164_DIGITS = (7, 15)
# A national number with its trunk "0": 9 to 12 digits (Dutch 10, British 11, German up
# to 12). Shorter runs are more likely dates, amounts or order numbers.
_NATIONAL_DIGITS = (9, 12)
_CALLING_CODE = re.compile(r"[1-9]\d{0,2}")
_MAX_CRM = 200


def identity_key(identity: case_pb2.Identity) -> str:
    """The identity as the linker compares it: "kind:value" (e.g. "email:jan@example.nl")."""
    return f"{identity.kind}:{identity.value}"


def parse_key(key: str) -> tuple[str, str]:
    """(kind, value) of an `identity_key`; a "handle:<channel>" kind keeps its colon."""
    if key.startswith(HANDLE_PREFIX):
        channel, _, value = key.removeprefix(HANDLE_PREFIX).partition(":")
        return HANDLE_PREFIX + channel, value
    kind, _, value = key.partition(":")
    return kind, value


def normalise(kind: str, value: str, *, calling_code: str | None = None) -> str:
    """`value` written the one way identities of `kind` are compared.

    `calling_code` (digits, e.g. "31") turns a national phone number into E.164; without
    it a national number keeps its national digits (see the module docstring).
    Raises ValueError naming what is wrong: an unknown kind, an empty value, an address
    that is not one, a phone number with letters or the wrong number of digits.
    """
    text = value.strip()
    if not text:
        raise ValueError(f"an identity of kind {kind!r} needs a value")
    if kind == EMAIL:
        return _normalise_email(text)
    if kind == PHONE:
        return _normalise_phone(text, calling_code)
    if kind == CRM:
        crm_id = " ".join(text.split())
        if len(crm_id) > _MAX_CRM:
            raise ValueError(f"a CRM id is at most {_MAX_CRM} characters")
        return crm_id
    if kind.startswith(HANDLE_PREFIX):
        channel = kind.removeprefix(HANDLE_PREFIX)
        if channel not in CHANNELS:
            raise ValueError(f"{channel!r} in {kind!r} is not a channel ({', '.join(CHANNELS)})")
        handle = text.removeprefix("@").lower()
        if not handle or any(ch.isspace() for ch in handle):
            raise ValueError(f"{value!r} is not a handle (no spaces, not empty)")
        return handle
    if kind in CHANNELS:
        if any(ch.isspace() for ch in text):
            raise ValueError(f"{value!r} is not an author id on {kind} (no spaces)")
        return text
    raise ValueError(
        f"{kind!r} is not an identity kind: use email, phone, crm, a channel name "
        f"({', '.join(CHANNELS)}) or handle:<channel>"
    )


def _normalise_email(text: str) -> str:
    address = text
    if address.endswith(">") and "<" in address:  # "Jan de Vries <jan@example.nl>"
        address = address[address.rindex("<") + 1 : -1]
    address = address.strip().removeprefix("mailto:").lower()
    if not _EMAIL.fullmatch(address):
        raise ValueError(f"{text!r} is not an e-mail address (name@domain.tld)")
    if ".." in address or address.startswith(".") or ".@" in address:
        raise ValueError(f"{text!r} is not an e-mail address (dots may not touch)")
    return address


def _normalise_phone(text: str, calling_code: str | None) -> str:
    number = text.removeprefix("tel:")
    # "+31 (0)6 ..." : the "(0)" is the trunk prefix dialled only inside the country.
    number = re.sub(r"^(\+\d{1,3})\s*\(0\)", r"\1", number)
    number = _PHONE_SEPARATORS.sub("", number)
    if number.startswith("+"):
        digits = number[1:]
    elif number.startswith("00"):
        digits = number[2:]
    elif number.startswith("0"):
        if not number.isdigit():
            raise ValueError(f"{text!r} is not a phone number (digits, +, spaces, -, ())")
        if not _NATIONAL_DIGITS[0] <= len(number) <= _NATIONAL_DIGITS[1]:
            raise ValueError(
                f"{text!r} is not a phone number: a national number has "
                f"{_NATIONAL_DIGITS[0]} to {_NATIONAL_DIGITS[1]} digits"
            )
        if calling_code is None:
            return number
        if not _CALLING_CODE.fullmatch(calling_code):
            raise ValueError(f"{calling_code!r} is not a country calling code (1-3 digits)")
        digits = calling_code + number[1:]
    else:
        # No "+", "00" or trunk "0": the international form without its "+" (how WhatsApp
        # writes its wa_id, how many CRMs store numbers).
        digits = number
    if not digits.isdigit() or digits.startswith("0"):
        raise ValueError(
            f"{text!r} is not a phone number: write it as +<country code><number> "
            "(e.g. +31 6 1234 5678)"
        )
    if not _E164_DIGITS[0] <= len(digits) <= _E164_DIGITS[1]:
        raise ValueError(
            f"{text!r} is not a phone number: an international number has "
            f"{_E164_DIGITS[0]} to {_E164_DIGITS[1]} digits after the +"
        )
    return "+" + digits


def calling_code_of(e164: str) -> str | None:
    """The country calling code of an E.164 number, from the ITU's code lengths.

    Codes starting with 1 (North America) and 7 (Russia, Kazakhstan) are one digit; the
    two-digit codes are listed; every other code is three digits.
    """
    if not e164.startswith("+") or len(e164) < 3:
        return None
    digits = e164[1:]
    if digits[0] in "17":
        return digits[0]
    if digits[:2] in _TWO_DIGIT_CODES:
        return digits[:2]
    return digits[:3]


# ITU-T E.164 country codes of two digits (zones 2-9); the others in those zones have three.
_TWO_DIGIT_CODES = frozenset(
    {"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45"}
    | {"46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61"}
    | {"62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94"}
    | {"95", "98"}
)


def make_identity(
    kind: str,
    value: str,
    *,
    source: str,
    linked_at: timestamp_pb2.Timestamp | None = None,
    calling_code: str | None = None,
) -> case_pb2.Identity:
    """An Identity of `kind` with its value normalised; raises ValueError like `normalise`."""
    identity = case_pb2.Identity(
        kind=kind, value=normalise(kind, value, calling_code=calling_code), source=source
    )
    if linked_at is not None:
        identity.linked_at.CopyFrom(linked_at)
    identity.display = display(identity)
    return identity


def display(identity: case_pb2.Identity) -> str:
    """What a person reads: "@jan_de_vries on x", "jan@example.nl", "CRM 4711"."""
    if identity.kind.startswith(HANDLE_PREFIX):
        return f"@{identity.value} on {identity.kind.removeprefix(HANDLE_PREFIX)}"
    if identity.kind in (EMAIL, PHONE):
        return identity.value
    if identity.kind == CRM:
        return f"CRM {identity.value}"
    return f"{identity.kind} user {identity.value}"


def message_identities(
    message: message_pb2.SocialMessage, *, calling_code: str | None = None
) -> list[case_pb2.Identity]:
    """Every identity `message` tells about its author, the channel author first; no repeats.

    Invalid values (an author e-mail that is no address) are left out, never raised: a
    message is never refused for what it says about its author. National phone numbers
    are read in the country of the customer's own international number on the message
    (their WhatsApp id, their stated phone) when there is one, else in `calling_code` (the
    brand's `phone_country`), else kept national.
    """
    source = message.message_id
    linked_at = message.received_at if message.HasField("received_at") else message.created_at
    channel = CHANNEL_NAMES.get(message.channel)
    author = message.author
    candidates: list[tuple[str, str]] = []
    # On a generic source (a forum, a review site, a form) ids are the source's own: two
    # sources' "u-1" are two people, so the source (account) is part of the value.
    scope = (
        f"{message.account_id}/" if message.channel in _SOURCE_SCOPED and message.account_id else ""
    )
    if channel is not None and author.id:
        if message.channel == message_pb2.CHANNEL_WHATSAPP:
            candidates += [(channel, author.id), (PHONE, author.id)]
        else:
            candidates.append((channel, scope + author.id))
    if channel is not None and author.handle:
        candidates.append((HANDLE_PREFIX + channel, scope + author.handle.removeprefix("@")))
    if author.email:
        candidates.append((EMAIL, author.email))
    if author.crm_id:
        candidates.append((CRM, author.crm_id))
    code = _customer_calling_code(message) or calling_code
    if author.phone:
        candidates.append((PHONE, author.phone))
    if _is_private(message):
        candidates += [(EMAIL, address) for address in emails_in(message.text)]
        candidates += [(PHONE, number) for number in phones_in(message.text)]
    identities: dict[str, case_pb2.Identity] = {}
    for kind, value in candidates:
        try:
            identity = make_identity(
                kind, value, source=source, linked_at=linked_at, calling_code=code
            )
        except ValueError:
            continue
        identities.setdefault(identity_key(identity), identity)
    return list(identities.values())


def _is_private(message: message_pb2.SocialMessage) -> bool:
    return (
        message.kind == message_pb2.MESSAGE_KIND_DIRECT_MESSAGE
        or message.channel in _PRIVATE_CHANNELS
    )


def _customer_calling_code(message: message_pb2.SocialMessage) -> str | None:
    """The country code of the customer's own international number, when the message has one."""
    own: Iterable[str] = (
        [message.author.id] if message.channel == message_pb2.CHANNEL_WHATSAPP else []
    )
    for number in [*own, message.author.phone]:
        if not number:
            continue
        stripped = _PHONE_SEPARATORS.sub("", number)
        if stripped.startswith("0") and not stripped.startswith("00"):
            continue  # national: says nothing about the country
        try:
            e164 = _normalise_phone(number, None)
        except ValueError:
            continue
        return calling_code_of(e164)
    return None


def emails_in(text: str) -> list[str]:
    """The e-mail addresses written in `text`, in order."""
    return [match.group(0).rstrip(".") for match in _EMAIL_IN_TEXT.finditer(text)]


def phones_in(text: str) -> list[str]:
    """The phone numbers written in `text`, as written (see `normalise` for what counts).

    A run of digits counts only in a phone's shape: international ("+" or "00") or
    national with its trunk "0" and 9-12 digits; so an order number "123456789" or a date
    "01-05-2024" is not a phone number.
    """
    found: list[str] = []
    for match in _PHONE_IN_TEXT.finditer(text):
        candidate = match.group(0).strip()
        if candidate.count("(") != candidate.count(")"):
            candidate = candidate.strip("()")
        digits = _PHONE_SEPARATORS.sub("", candidate)
        international = digits.startswith(("+", "00"))
        national = digits.startswith("0") and (
            _NATIONAL_DIGITS[0] <= len(digits) <= _NATIONAL_DIGITS[1]
        )
        if international or national:
            found.append(candidate)
    return found
