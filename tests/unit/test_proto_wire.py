"""core.proto_wire.explain: why bytes did not parse as a message, for DLQ reasons."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError

from socialcare.core.proto_wire import explain
from socialcare.v1 import message_pb2

DESCRIPTOR = message_pb2.SocialMessage.DESCRIPTOR


def message() -> message_pb2.SocialMessage:
    return message_pb2.SocialMessage(
        message_id="m1",
        text="Hoi ABC daar",
        author=message_pb2.Author(id="a1", name="Jan XY"),
        attachments=[message_pb2.Attachment(type="image", url="https://x/QQ")],
    )


def test_a_valid_message_has_nothing_to_explain() -> None:
    assert explain(message().SerializeToString(), DESCRIPTOR) == ""
    assert explain(b"", DESCRIPTOR) == ""


@pytest.mark.parametrize(
    ("placeholder", "bad", "explained"),
    [
        (b"ABC", b"\xed\xa0\xbd", "field text is not valid UTF-8 (byte 4 of 12: ed a0 bd;"),
        (b"XY", b"\xe2\x82", "field author.name is not valid UTF-8 (byte 4 of 6: e2 82;"),
        (b"QQ", b"\xc3\x28", "field attachments.url is not valid UTF-8 (byte 10 of 12: c3 28;"),
    ],
)
def test_the_string_field_that_is_not_utf8_is_named(
    placeholder: bytes, bad: bytes, explained: str
) -> None:
    value = message().SerializeToString().replace(placeholder, bad)
    with pytest.raises(DecodeError):
        message_pb2.SocialMessage().ParseFromString(value)
    assert explain(value, DESCRIPTOR).startswith(explained)


@pytest.mark.parametrize(
    ("value", "explained"),
    [
        (b"\xff\xff\xff", "not protobuf wire format (truncated varint at byte 3)"),
        (b"\x2a\x10abc", "not protobuf wire format (a field of 16 bytes at byte 2 runs past"),
        (b"\x0c", "not protobuf wire format (wire type 4 of field 1)"),
        (b"\x00", "not protobuf wire format (field number 0 at byte 1)"),
    ],
)
def test_bytes_that_are_not_protobuf_say_so(value: bytes, explained: str) -> None:
    assert explain(value, DESCRIPTOR).startswith(explained)
