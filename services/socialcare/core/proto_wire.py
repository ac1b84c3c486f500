"""Why protobuf bytes did not parse, in words a DLQ reader can act on.

`ParseFromString` says only "Error parsing message with type ...". The commonest cause on
a topic of customer text is a string field that is not valid UTF-8: a producer that wrote a
lone surrogate (JSON allows `"\\ud83d"`; Java and JavaScript strings hold them; encoded
as CESU-8/WTF-8 bytes `ED A0 BD`) or cut a multi-byte character in half. proto3 requires
string fields to be UTF-8, so such a record can never be read; the DLQ reason should name
the field and where in it the bytes break.

`explain` walks the wire format with the message's descriptor: tags, varints, fixed
widths, length-delimited fields (strings checked, sub-messages walked). It never raises.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

_MAX_DEPTH = 32


class _MalformedError(Exception):
    """The bytes break the wire format itself (not only a string's encoding)."""


def explain(data: bytes, descriptor: Descriptor) -> str:
    """What is wrong with `data` as a `descriptor` message: the first string field that
    is not UTF-8 (dotted path, e.g. `text` or `author.name`, with the byte offset of the
    first bad byte in it), or that the bytes are not protobuf at all (truncated, a bad
    tag or wire type); "" when neither was found."""
    try:
        return _walk(memoryview(data), descriptor, "", 0) or ""
    except _MalformedError as exc:
        return f"not protobuf wire format ({exc})"


def _walk(data: memoryview, descriptor: Descriptor, prefix: str, depth: int) -> str | None:
    if depth > _MAX_DEPTH:
        return None
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise _MalformedError(f"field number 0 at byte {at}")
        if wire_type == 0:
            _, at = _varint(data, at)
        elif wire_type == 1:
            at = _skip(data, at, 8)
        elif wire_type == 5:
            at = _skip(data, at, 4)
        elif wire_type == 2:
            length, at = _varint(data, at)
            end = _skip(data, at, length)
            field = descriptor.fields_by_number.get(number)
            if field is not None:
                found = _check(data[at:end], field, prefix, depth)
                if found:
                    return found
            at = end
        else:
            raise _MalformedError(f"wire type {wire_type} of field {number}")
    return None


def _check(value: memoryview, field: FieldDescriptor, prefix: str, depth: int) -> str | None:
    path = f"{prefix}{field.name}"
    if field.type == FieldDescriptor.TYPE_STRING:
        try:
            str(value, "utf-8")
        except UnicodeDecodeError as exc:
            return (
                f"field {path} is not valid UTF-8 (byte {exc.start} of {len(value)}: "
                f"{bytes(value[exc.start : exc.start + 3]).hex(' ')}; a lone surrogate "
                "or a character cut in half)"
            )
    elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
        return _walk(value, field.message_type, f"{path}.", depth + 1)
    return None


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if at >= len(data):
            raise _MalformedError(f"truncated varint at byte {at}")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
    raise _MalformedError(f"varint longer than 10 bytes at byte {at}")


def _skip(data: memoryview, at: int, length: int) -> int:
    end = at + length
    if end > len(data):
        raise _MalformedError(f"a field of {length} bytes at byte {at} runs past the end")
    return end
