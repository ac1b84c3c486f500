"""Real protobuf messages with every field set, and strict JSON Schema validation, for the
tests that check the AsyncAPI document's payload schemas against what messages write."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message


def strict(schema: Any, *, part_of_all_of: bool = False) -> Any:
    """A copy in which every object schema with properties forbids unknown ones (the
    document allows them, for readers of newer schemas): what a message writes must be
    exactly what the schema names. The parts of an `allOf` stay open (each sees the whole
    object); the `$ref`ed part is closed where it is defined, so an `allOf` refines it."""
    if isinstance(schema, dict):
        out = {
            k: ([strict(part, part_of_all_of=True) for part in v] if k == "allOf" else strict(v))
            for k, v in schema.items()
        }
        if "properties" in out and "additionalProperties" not in out and not part_of_all_of:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def validator_for(document: Mapping[str, Any], schema: Mapping[str, Any]) -> Any:
    root = {**strict(dict(schema)), "components": strict(document["components"])}
    return jsonschema.Draft7Validator(root)


def fill(message: Message, variant: int, depth: int = 0) -> None:
    """Set every field of `message` (and of its sub-messages, up to a depth): for each
    oneof, the alternative number `variant` (modulo their count)."""
    descriptor: Any = message.DESCRIPTOR
    skipped: set[str] = set()
    for oneof in descriptor.oneofs:
        fields = list(oneof.fields)
        if len(fields) > 1 or not fields[0].has_presence or fields[0].message_type:
            chosen = fields[variant % len(fields)]
            skipped |= {f.name for f in fields if f is not chosen}
    for field in descriptor.fields:
        if field.name in skipped:
            continue
        target = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            key = scalar(key_field)
            if value_field.message_type is not None:
                if depth < 3:
                    fill(target[key], variant, depth + 1)
            else:
                target[key] = scalar(value_field)
        elif field.message_type is not None:
            if depth >= 3:
                continue
            if field.is_repeated:
                for _ in range(2):
                    fill_message(target.add(), variant, depth + 1)
            else:
                fill_message(target, variant, depth + 1)
        elif field.is_repeated:
            target.extend([scalar(field), scalar(field)])
        else:
            setattr(message, field.name, scalar(field))


def fill_message(message: Message, variant: int, depth: int) -> None:
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        message.FromDatetime(datetime(2026, 11, 26, 12, 30, 5, 123000, tzinfo=UTC))  # type: ignore[attr-defined]
    elif name == "google.protobuf.Duration":
        message.FromSeconds(90)  # type: ignore[attr-defined]
    else:
        fill(message, variant, depth)
        if not message.ByteSize():
            # A message with no fields (or only deeper ones) still appears as {}.
            message.SetInParent()


def scalar(field: FieldDescriptor) -> Any:
    if field.enum_type is not None:
        return field.enum_type.values[-1].number
    kind = field.type
    if kind in (FieldDescriptor.TYPE_STRING,):
        return f"{field.name}-value"
    if kind == FieldDescriptor.TYPE_BYTES:
        return b"\x00\xffbytes"
    if kind == FieldDescriptor.TYPE_BOOL:
        return True
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 1.5
    if kind in (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_FIXED64,
    ):
        return 1_234_567_890_123
    return 7


def populated(message_type: type[Message], variant: int) -> Message:
    message = message_type()
    fill(message, variant)
    return message


def variants(message_type: type[Message]) -> range:
    """Enough variants for every oneof alternative of the message (top level) to appear."""
    sizes = [len(o.fields) for o in message_type.DESCRIPTOR.oneofs] or [1]
    return range(max(sizes))
