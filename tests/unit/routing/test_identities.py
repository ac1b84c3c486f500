"""Identities: one customer written one way, whatever way they wrote it (scenario 6)."""

from __future__ import annotations

import pytest

from socialcare.core.domain.identities import (
    calling_code_of,
    display,
    emails_in,
    identity_key,
    make_identity,
    message_identities,
    normalise,
    parse_key,
    phones_in,
)
from socialcare.v1 import message_pb2


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("+31 6 1234 5678", "+31612345678"),
        ("+31 (0)6-1234 5678", "+31612345678"),
        ("0031 6 12345678", "+31612345678"),
        ("0031-20-123 4567", "+31201234567"),
        ("+1 (555) 123-4567", "+15551234567"),
        ("tel:+44 20 7946 0958", "+442079460958"),
        ("31612345678", "+31612345678"),  # WhatsApp's wa_id: international without "+"
        ("+49 30 901820", "+4930901820"),
    ],
)
def test_international_numbers_become_e164(written: str, expected: str) -> None:
    assert normalise("phone", written) == expected


def test_a_national_number_needs_the_country_to_become_e164() -> None:
    assert normalise("phone", "(020) 123 4567", calling_code="31") == "+31201234567"
    assert normalise("phone", "06-12345678", calling_code="31") == "+31612345678"
    # Nothing tells the country: the national digits are kept, as written.
    assert normalise("phone", "(020) 123 4567") == "0201234567"


@pytest.mark.parametrize(
    ("written", "complaint"),
    [
        ("call me", "not a phone number"),
        ("+31 6 12ab5678", "not a phone number"),
        ("+31 6", "7 to 15 digits"),
        ("+31 6 1234 5678 9012 3456", "7 to 15 digits"),
        ("020 12", "9 to 12 digits"),
        ("", "needs a value"),
    ],
)
def test_invalid_numbers_say_what_is_wrong(written: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        normalise("phone", written)


def test_a_calling_code_is_checked() -> None:
    with pytest.raises(ValueError, match="calling code"):
        normalise("phone", "0612345678", calling_code="+31")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Jan@Example.NL", "jan@example.nl"),
        ("  mailto:jan.de.vries+klacht@example.nl ", "jan.de.vries+klacht@example.nl"),
        ("Jan de Vries <JAN@example.nl>", "jan@example.nl"),
        ("info@xn--bcher-kva.example", "info@xn--bcher-kva.example"),
    ],
)
def test_email_addresses_are_lower_cased(written: str, expected: str) -> None:
    assert normalise("email", written) == expected


@pytest.mark.parametrize("written", ["jan", "jan@", "jan@example", "jan @example.nl", "a..b@x.nl"])
def test_invalid_addresses_are_refused(written: str) -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        normalise("email", written)


def test_crm_handles_and_channel_ids() -> None:
    assert normalise("crm", "  KL 4711\t A ") == "KL 4711 A"
    assert normalise("handle:x", "@Jan_de_Vries") == "jan_de_vries"
    assert normalise("x", " 12345 ") == "12345"
    with pytest.raises(ValueError, match="not a channel"):
        normalise("handle:myspace", "jan")
    with pytest.raises(ValueError, match="not an identity kind"):
        normalise("fax", "0201234567")
    with pytest.raises(ValueError, match="at most 200"):
        normalise("crm", "x" * 201)


def test_keys_and_display() -> None:
    handle = make_identity("handle:x", "@Jan", source="m1")
    assert identity_key(handle) == "handle:x:jan"
    assert parse_key("handle:x:jan") == ("handle:x", "jan")
    assert parse_key("email:jan@example.nl") == ("email", "jan@example.nl")
    assert handle.display == display(handle) == "@jan on x"
    assert make_identity("crm", "4711", source="c").display == "CRM 4711"
    assert make_identity("x", "42", source="c").display == "x user 42"
    assert make_identity("phone", "+31612345678", source="c").display == "+31612345678"


def test_calling_codes() -> None:
    assert calling_code_of("+31612345678") == "31"
    assert calling_code_of("+15551234567") == "1"
    assert calling_code_of("+353861234567") == "353"
    assert calling_code_of("0612345678") is None


def test_numbers_and_addresses_in_text() -> None:
    text = (
        "Bel me op 06-12345678 of +31 (0)20 123 4567, mail jan@example.nl. "
        "Order 123456789 van 01-05-2024, (020) 765 4321."
    )
    assert phones_in(text) == ["06-12345678", "+31 (0)20 123 4567", "(020) 765 4321"]
    assert emails_in(text) == ["jan@example.nl"]


def _message(**fields: object) -> message_pb2.SocialMessage:
    message = message_pb2.SocialMessage(message_id="m1", **fields)  # type: ignore[arg-type]
    message.received_at.FromSeconds(1_700_000_000)
    return message


def test_an_x_mention_gives_author_and_handle_not_numbers_in_the_text() -> None:
    message = _message(
        channel=message_pb2.CHANNEL_X,
        kind=message_pb2.MESSAGE_KIND_MENTION,
        author=message_pb2.Author(id="42", handle="Jan_de_Vries"),
        text="@provider bel de helpdesk op 0800-1234567 of mail help@provider.nl",
    )
    identities = message_identities(message)
    assert [identity_key(i) for i in identities] == ["x:42", "handle:x:jan_de_vries"]
    assert all(i.source == "m1" for i in identities)
    assert identities[0].linked_at.seconds == 1_700_000_000


def test_a_direct_message_gives_what_the_customer_wrote() -> None:
    message = _message(
        channel=message_pb2.CHANNEL_X,
        kind=message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
        author=message_pb2.Author(id="42", phone="+31 6 1111 2222"),
        text="Mijn klantnummer staat op jan@example.nl, bel 020 123 4567 of 06 1111 2222",
    )
    keys = [identity_key(i) for i in message_identities(message)]
    # The author's own international number tells the country of the national ones; the
    # second writing of the author's number is no second identity.
    assert keys == ["x:42", "phone:+31611112222", "email:jan@example.nl", "phone:+31201234567"]


def test_whatsapp_author_is_a_phone_and_gives_the_country() -> None:
    message = _message(
        channel=message_pb2.CHANNEL_WHATSAPP,
        kind=message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
        author=message_pb2.Author(id="31612345678", name="Jan"),
        text="Thuis ben ik bereikbaar op 020-1234567",
    )
    keys = [identity_key(i) for i in message_identities(message)]
    assert keys == ["whatsapp:31612345678", "phone:+31612345678", "phone:+31201234567"]


def test_a_complaint_form_gives_its_email_phone_and_crm_id() -> None:
    message = _message(
        channel=message_pb2.CHANNEL_GENERIC,
        account_id="klachten",
        kind=message_pb2.MESSAGE_KIND_POST,
        author=message_pb2.Author(
            id="form-77", email="Jan@Example.nl", phone="0612345678", crm_id=" KL-4711 "
        ),
        text="Al 8 dagen geen antwoord. Bel ook 0800-1234567 niet meer.",
    )
    keys = [identity_key(i) for i in message_identities(message)]
    # A public post: no numbers from the text; a national author phone stays national.
    # A generic source's author id is the source's own: scoped by it.
    assert keys == [
        "generic:klachten/form-77",
        "email:jan@example.nl",
        "crm:KL-4711",
        "phone:0612345678",
    ]
    assert message_identities(message, calling_code="31")[-1].value == "+31612345678"


def test_invalid_author_fields_are_left_out_not_raised() -> None:
    message = _message(
        channel=message_pb2.CHANNEL_EMAIL,
        author=message_pb2.Author(id="Jan <JAN@example.nl>", email="not an address", phone="?"),
        text="",
    )
    assert [identity_key(i) for i in message_identities(message)] == ["email:jan@example.nl"]


def test_the_same_author_id_on_two_generic_sources_is_two_people() -> None:
    forum = _message(
        channel=message_pb2.CHANNEL_FORUM,
        account_id="warmtepomp-forum",
        author=message_pb2.Author(id="u-1", handle="@Wim"),
    )
    other_forum = _message(
        channel=message_pb2.CHANNEL_FORUM,
        account_id="energie-forum",
        author=message_pb2.Author(id="u-1", handle="@Wim"),
    )
    assert [identity_key(i) for i in message_identities(forum)] == [
        "forum:warmtepomp-forum/u-1",
        "handle:forum:warmtepomp-forum/wim",
    ]
    assert not {identity_key(i) for i in message_identities(forum)} & {
        identity_key(i) for i in message_identities(other_forum)
    }


def test_the_customers_own_country_goes_before_the_brands() -> None:
    # A Belgian customer of a Dutch brand, on WhatsApp, writes a national number.
    message = _message(
        channel=message_pb2.CHANNEL_WHATSAPP,
        kind=message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
        author=message_pb2.Author(id="32470123456"),
        text="Of bel mijn vaste nummer: 02 123 45 67",
    )
    keys = [identity_key(i) for i in message_identities(message, calling_code="31")]
    assert keys[-1] == "phone:+3221234567"
    # Without a number of the customer's own, the brand's country reads it.
    dm = _message(
        channel=message_pb2.CHANNEL_X,
        kind=message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
        author=message_pb2.Author(id="42"),
        text="Bel 06 1234 5678",
    )
    assert [identity_key(i) for i in message_identities(dm, calling_code="31")][-1] == (
        "phone:+31612345678"
    )
