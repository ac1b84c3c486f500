"""The protobuf -> JSON Schema mapping of core/asyncapi.py on a sample schema that has
every kind of field our published protos use or may use (maps, repeated, proto3 optional,
oneof, recursion, well-known types, 64-bit integers, bytes, enums), compiled here with
protoc: each field's schema is what the proto3 JSON mapping writes, and fully populated
messages (every oneof alternative) validate against the schemas with no property unknown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from grpc_tools import protoc

from socialcare.core.asyncapi import SchemaCollector, descriptor_of
from tests.unit.integrate.messages import populated, strict, variants

SAMPLE = """
syntax = "proto3";
package asyncapi.test;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";

enum Colour {
  COLOUR_UNSPECIFIED = 0;
  COLOUR_RED = 1;
}

message Node {
  string name = 1;
  repeated Node children = 2;
}

message Sample {
  map<string, int64> counts = 1;
  map<int32, Node> nodes = 2;
  repeated uint64 ids = 3;
  optional string nickname = 4;
  oneof choice {
    string text = 5;
    Node node = 6;
    Colour colour_choice = 14;
  }
  google.protobuf.Timestamp at = 7;
  google.protobuf.Duration took = 8;
  google.protobuf.Int64Value maybe = 9;
  bytes blob = 10;
  Colour colour = 11;
  double ratio = 12;
  fixed32 small = 13;
  sint32 signed_small = 15;
  bool flag = 16;
}
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> type[Message]:
    root = tmp_path_factory.mktemp("proto")
    (root / "sample.proto").write_text(SAMPLE, encoding="utf-8")
    include = Path(protoc.__file__).parent / "_proto"
    out = root / "sample.binpb"
    code = protoc.main(
        [
            "protoc",
            f"-I{root}",
            f"-I{include}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            "sample.proto",
        ]
    )
    assert code == 0
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("asyncapi.test.Sample"))


@pytest.fixture(scope="module")
def schemas(sample: type[Message]) -> dict[str, Any]:
    collector = SchemaCollector()
    assert collector.ref(descriptor_of(sample)) == {
        "$ref": "#/components/schemas/asyncapi.test.Sample"
    }
    return collector.schemas


def test_each_field_maps_as_the_proto3_json_mapping_writes_it(schemas: dict[str, Any]) -> None:
    props = schemas["asyncapi.test.Sample"]["properties"]
    assert props["counts"] == {
        "type": "object",
        "additionalProperties": {
            "type": "string",
            "pattern": "^-?[0-9]+$",
            "description": "64-bit integer (a string).",
        },
    }
    assert props["nodes"] == {
        "type": "object",
        "additionalProperties": {"$ref": "#/components/schemas/asyncapi.test.Node"},
    }
    assert props["ids"]["type"] == "array"
    assert props["ids"]["items"]["pattern"] == "^[0-9]+$"
    assert props["nickname"] == {"type": "string"}
    assert props["at"]["format"] == "date-time"
    assert props["took"]["pattern"].endswith("s$")
    assert props["maybe"]["pattern"] == "^-?[0-9]+$"
    assert props["blob"]["contentEncoding"] == "base64"
    assert props["colour"] == {"$ref": "#/components/schemas/asyncapi.test.Colour"}
    assert props["ratio"]["type"] == "number"
    assert props["small"] == {"type": "integer", "format": "int32", "minimum": 0}
    assert props["signed_small"]["type"] == "integer"
    assert props["flag"] == {"type": "boolean"}
    assert schemas["asyncapi.test.Colour"]["enum"] == ["COLOUR_UNSPECIFIED", "COLOUR_RED"]
    # Recursion is a $ref to the message's own component.
    node = schemas["asyncapi.test.Node"]["properties"]["children"]
    assert node == {"type": "array", "items": {"$ref": "#/components/schemas/asyncapi.test.Node"}}
    # Well-known types are inline, never components.
    assert not [name for name in schemas if name.startswith("google.protobuf.")]
    # A real oneof is listed; proto3 `optional` (a synthetic oneof) is not.
    assert schemas["asyncapi.test.Sample"]["x-protobuf-oneofs"] == {
        "choice": ["text", "node", "colour_choice"]
    }
    assert "`choice`" in schemas["asyncapi.test.Sample"]["description"]


def test_populated_messages_validate_strictly(
    sample: type[Message], schemas: dict[str, Any]
) -> None:
    root = {
        "$ref": "#/components/schemas/asyncapi.test.Sample",
        "components": {"schemas": strict(schemas)},
    }
    validator = jsonschema.Draft7Validator(root)
    seen: set[str] = set()
    for variant in variants(sample):
        message = populated(sample, variant)
        as_json = json_format.MessageToDict(message, preserving_proto_field_name=True)
        seen |= set(as_json)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(as_json)]
        assert not errors, "\n".join(errors)
    assert seen == set(schemas["asyncapi.test.Sample"]["properties"]), "every field was set"
    wrong = json_format.MessageToDict(populated(sample, 0), preserving_proto_field_name=True)
    wrong["counts"] = {"a": 5}
    assert not validator.is_valid(wrong)
