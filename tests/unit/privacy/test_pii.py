"""core.pii: personal data found and redacted in real-world formats of many countries, and
the numbers a log is full of (ids, dates, prices, versions) left alone."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from socialcare.core.http_errors import install_error_handling
from socialcare.core.pii import Match, find, redact, redact_value
from socialcare.core.telemetry import JsonFormatter

PHONES = [
    # nl
    "+31 6 1234 5678",
    "+31 (0)6-1234 5678",
    "0031 6 12345678",
    "06-12345678",
    "0612345678",
    "(020) 123 4567",
    "020-1234567",
    # de
    "+49 30 12345678",
    "0049 30 1234567",
    "030 1234567",
    "030/1234567",
    "0151 23456789",
    # fr
    "+33 6 12 34 56 78",
    "06 12 34 56 78",
    "01 23 45 67 89",
    "06.12.34.56.78",
    # es
    "+34 612 34 56 78",
    "612 34 56 78",
    "912 345 678",
    # it
    "+39 333 123 4567",
    "333 123 4567",
    "06 1234 5678",
    # pt
    "+351 912 345 678",
    "912 345 678",
    # en (uk, us)
    "+44 7700 900123",
    "+44 (0)20 7946 0958",
    "07700 900123",
    "020 7946 0958",
    "+1 (555) 123-4567",
    "(555) 123-4567",
    "555-123-4567",
    # be, ch, at, ie, pl
    "0470 12 34 56",
    "+32 470 12 34 56",
    "0470/12.34.56",
    "+41 44 668 18 00",
    "044 668 18 00",
    "+43 1 234567890",
    "+353 87 123 4567",
    "087 123 4567",
    "+48 512 345 678",
]

IBANS = [
    "NL91 ABNA 0417 1643 00",
    "NL91ABNA0417164300",
    "DE89 3704 0044 0532 0130 00",
    "FR14 2004 1010 0505 0001 3M02 606",
    "ES91 2100 0418 4502 0005 1332",
    "IT60 X054 2811 1010 0000 0123 456",
    "PT50 0002 0123 1234 5678 9015 4",
    "GB29 NWBK 6016 1331 9268 19",
    "BE68 5390 0754 7034",
    "CH93 0076 2011 6238 5295 7",
    "IE29 AIBK 9311 5212 3456 78",
    "AT61 1904 3002 3457 3201",
    "PL61 1090 1014 0000 0712 1981 2874",
    "SE45 5000 0000 0583 9825 7466",
]

CARDS = [
    "4111 1111 1111 1111",  # Visa
    "4111-1111-1111-1111",
    "4012888888881881",
    "5555 5555 5555 4444",  # Mastercard
    "5105105105105100",
    "2223 0031 2200 3222",  # Mastercard 2-series
    "3782 822463 10005",  # Amex
    "371449635398431",
    "6011 1111 1111 1117",  # Discover
    "3530 1113 3330 0000",  # JCB
    "3622 720627 1667",  # Diners
    "6200 0000 0000 0005",  # UnionPay
    "4111 1111 1111 1111 003",  # Visa, 19 digits
]

EMAILS = [
    "jan@example.com",
    "jan.jansen+orders@example.co.uk",
    "M.Muller@Firma.DE",
    "o'brien@mail.ie",
]

NEAR_MISSES = [
    "order 100234567",
    "ordernummer #2024-00123",
    "invoice INV-2024-000123",
    "2024-11-26",
    "26/11/2024",
    "26.11.2024",
    "01.12.2024 09:15",
    "2024-11-26T10:00:00Z",
    "2024-11-26 10:00:00.123+01:00",
    "epoch 1732617600 ms 1732617600123",
    "550e8400-e29b-41d4-a716-446655440000",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736",
    "1Z999AA10123456784",
    "3SDEVC1234567",
    "JJD0001234567890",
    "00340434161094042557",
    "€ 1.234,56",
    "EUR 1 299,00",
    "$1,234,567.89",
    "12345.67",
    "v2.10.4",
    "1.85.3",
    "192.168.1.10",
    "10.0.0.1:8080",
    "case-nl-1 version 12",
    "offset 123456 partition 3",
    "4111 1111 1111 1112",  # Luhn fails
    "1234 5678 9012 3456",  # no card network starts with 1
    "NL91 ABNA 0417 1643 01",  # mod-97 fails
    "NL91 ABNA 0417 1643",  # too short for NL
    "room 101, floor 3",
    "user@localhost",
    "12:30",
    "ref 2024/11/26",
    "pagina 12 van 30",
    "PO-000123456",
    "EAN 4006381333931",  # a German barcode
    "EAN 4006381333932",  # 13 digits that pass Luhn: still no card number
    "SKU 8712345678906",
    "+1 800 FLOWERS",
    "4111 1111 1111 1",  # 13 digits
    "4222222222222",  # an old 13-digit Visa test number: no longer issued, as EANs look
]


@pytest.mark.parametrize("phone", PHONES)
def test_phone_numbers_are_found_whole(phone: str) -> None:
    text = f"bel mij op {phone}, dank"
    assert find(text) == [Match("phone", 11, 11 + len(phone))]
    assert redact(text) == "bel mij op [phone], dank"


@pytest.mark.parametrize("iban", IBANS)
def test_ibans_are_found_and_checked(iban: str) -> None:
    text = f"IBAN: {iban}."
    assert find(text) == [Match("iban", 6, 6 + len(iban))]
    assert redact(text) == "IBAN: [iban]."


@pytest.mark.parametrize("card", CARDS)
def test_card_numbers_pass_luhn_and_are_found(card: str) -> None:
    text = f"kaart {card} verlopen"
    assert find(text) == [Match("card", 6, 6 + len(card))]
    assert redact(text) == "kaart [card] verlopen"


@pytest.mark.parametrize("email", EMAILS)
def test_email_addresses(email: str) -> None:
    assert redact(f"<{email}>") == "<[email]>"


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_left_alone(text: str) -> None:
    assert find(text) == []
    assert redact(text) == text


def test_several_kinds_in_one_text_in_order() -> None:
    text = (
        "Klant jan@example.nl (06-12345678) betaalde met 4111 1111 1111 1111 "
        "van NL91ABNA0417164300 voor order 100234567 op 2024-11-26."
    )
    assert [m.kind for m in find(text)] == ["email", "phone", "card", "iban"]
    assert redact(text) == (
        "Klant [email] ([phone]) betaalde met [card] van [iban] voor order 100234567 op 2024-11-26."
    )


def test_a_number_beside_another_is_still_found() -> None:
    # An order number and a phone number one space apart form one run of digits.
    assert redact("order 12345 06-12345678") == "order 12345 [phone]"
    assert redact("4111 1111 1111 1111 2027") == "[card] 2027"


def test_redact_value_walks_containers_and_keeps_other_types() -> None:
    value = {"to": ["jan@example.com", 3], "n": 7, "nested": {"p": "+31612345678"}}
    assert redact_value(value) == {"to": ["[email]", 3], "n": 7, "nested": {"p": "[phone]"}}
    assert redact_value(12.5) == 12.5


@pytest.mark.parametrize("text", [*PHONES, *IBANS, *CARDS, *EMAILS, *NEAR_MISSES])
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    once = redact(f"a {text} b")
    assert redact(once) == once


def test_text_without_personal_data_is_returned_as_is() -> None:
    text = "consumer loop crashed on care.commands/3 offset 1200"
    assert redact(text) is text


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_json_log_redacts_message_fields_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.pii.fields")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning(
            "reply to jan@example.com failed",
            extra={"phone": "+31 6 1234 5678", "case_id": "case-1", "attempt": 2},
        )
        try:
            raise ValueError("card 4111 1111 1111 1111 refused")
        except ValueError:
            log.exception("payment link")
    finally:
        log.removeHandler(handler)
    first, second = _json_lines(stream)
    assert first["msg"] == "reply to [email] failed"
    assert first["phone"] == "[phone]"
    assert first["case_id"] == "case-1"
    assert first["attempt"] == 2
    assert "4111" not in str(second["exc"])
    assert "[card]" in str(second["exc"])
    assert "ts" in first and "level" in first


def test_log_line_of_a_request_carrying_an_email_is_redacted() -> None:
    """A request whose handler fails with the customer's address in the error: the
    platform's last-resort handler logs it, with the address redacted."""
    app = FastAPI()
    install_error_handling(app)

    @app.get("/v1/customers/lookup")
    def lookup(email: str) -> dict[str, str]:
        raise RuntimeError(f"no customer with address {email}")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        response = client.get("/v1/customers/lookup", params={"email": "jan.jansen@example.nl"})
    finally:
        root.removeHandler(handler)
    assert response.status_code == 500
    lines = [line for line in _json_lines(stream) if line["msg"] == "request failed"]
    assert lines, stream.getvalue()
    assert "jan.jansen@example.nl" not in stream.getvalue()
    assert "no customer with address [email]" in str(lines[0]["exc"])
