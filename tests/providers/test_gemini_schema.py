"""JSON Schema → Gemini's schema subset."""

from __future__ import annotations

import copy
from typing import Any

from satisfice.providers.gemini_schema import GEMINI_SCHEMA_KEYS, sanitize_schema


def _keys(node: Any, inside_properties: bool = False) -> set[str]:
    """Every schema keyword used anywhere in `node` (property names excluded)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if not inside_properties:
                found.add(key)
            if (
                key in ("default", "example", "enum", "required", "propertyOrdering")
                and not inside_properties
            ):
                continue
            found |= _keys(value, key == "properties" and not inside_properties)
    elif isinstance(node, list):
        for item in node:
            found |= _keys(item)
    return found


def test_does_not_mutate_and_ignores_non_objects() -> None:
    schema = {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string"}}}
    before = copy.deepcopy(schema)
    assert sanitize_schema(schema) == {"type": "object", "properties": {"a": {"type": "string"}}}
    assert schema == before
    assert sanitize_schema(True) == {} and sanitize_schema(None) == {}


def test_rewrites_what_gemini_can_express() -> None:
    schema = {
        "type": "object",
        "properties": {
            "kind": {"const": "circle"},
            "size": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "label": {
                "anyOf": [{"type": "string", "maxLength": 20}, {"type": "null"}],
                "description": "shown",
            },
            "id": {"type": ["integer", "string"]},
            "meta": {
                "allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"type": "object"}]
            },
            "count": {"type": "integer", "enum": [1, 2, 3], "multipleOf": 1, "exclusiveMinimum": 0},
        },
    }
    assert sanitize_schema(schema)["properties"] == {
        "kind": {"enum": ["circle"], "type": "string"},
        "size": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "label": {"nullable": True, "type": "string", "maxLength": 20, "description": "shown"},
        "id": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "meta": {"properties": {"a": {"type": "string"}}, "required": ["a"], "type": "object"},
        "count": {"type": "integer"},
    }


def test_recursive_refs_are_cut_off() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/$defs/node",
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
            }
        },
    }
    out = sanitize_schema(schema)
    depth, node = 0, out
    while "properties" in node:
        depth += 1
        node = node["properties"]["children"]["items"]
    assert 3 <= depth <= 8
    assert _keys(out) <= GEMINI_SCHEMA_KEYS


def test_only_whitelisted_keywords_survive() -> None:
    schema = {
        "$id": "x",
        "type": "object",
        "patternProperties": {"^x": {"type": "string"}},
        "unevaluatedProperties": False,
        "properties": {
            "$schema": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string", "format": "uuid"}, "uniqueItems": True},
            "pos": {"type": "array", "prefixItems": [{"type": "number"}], "minItems": 1},
            "when": {"type": "string", "format": "date-time", "default": "now", "examples": ["x"]},
        },
        "definitions": {"unused": {"type": "string"}},
        "if": {"required": ["a"]},
        "then": {"required": ["b"]},
    }
    out = sanitize_schema(schema)
    assert set(out["properties"]) == {"$schema", "tags", "pos", "when"}  # names are data, not keywords
    assert _keys(out) <= GEMINI_SCHEMA_KEYS
    assert out["properties"]["when"] == {"type": "string", "format": "date-time", "default": "now"}


def test_formats_gemini_does_not_take_move_into_the_description() -> None:
    schema = {
        "type": "object",
        "properties": {
            "site": {"type": "string", "format": "uri", "description": "home page"},
            "mail": {"type": "string", "format": "email"},
            "day": {"type": ["string", "null"], "format": "date"},
            "id": {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]},
            "when": {"type": "string", "format": "date-time"},
            "pick": {"type": "string", "format": "enum", "enum": ["a", "b"]},
            "ratio": {"type": "number", "format": "double"},
            "size": {"type": "number", "format": "int32"},  # an integer format on a number
            "count": {"type": "integer", "format": "int64"},
            "small": {"type": "integer", "format": "uint8"},
            "flag": {"type": "boolean", "format": "yes-no"},
        },
    }
    props = sanitize_schema(schema)["properties"]
    assert props["site"] == {"type": "string", "description": "home page (format: uri)"}
    assert props["mail"] == {"type": "string", "description": "(format: email)"}
    assert props["day"] == {"type": "string", "nullable": True, "description": "(format: date)"}
    assert props["id"] == {"type": "string", "nullable": True, "description": "(format: uuid)"}
    assert props["when"]["format"] == "date-time" and props["pick"]["format"] == "enum"
    assert props["ratio"]["format"] == "double" and props["count"]["format"] == "int64"
    assert props["size"] == {"type": "number", "description": "(format: int32)"}
    assert props["small"] == {"type": "integer", "description": "(format: uint8)"}
    assert props["flag"] == {"type": "boolean", "description": "(format: yes-no)"}


def test_every_array_gets_items() -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "description": "any tags"},
            "pair": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}]},
            "mixed": {
                "type": "array",
                "prefixItems": [{"type": "number"}, {"type": "string", "format": "uri"}],
            },
            "old": {"type": "array", "items": [{"type": "integer"}, {"type": "integer"}]},
            "grid": {"type": "array", "items": {"type": "array"}},
            "maybe": {"type": ["array", "null"]},
        },
    }
    props = sanitize_schema(schema)["properties"]
    assert props["tags"] == {"type": "array", "description": "any tags", "items": {"type": "string"}}
    assert props["pair"] == {"type": "array", "items": {"type": "number"}}
    assert props["mixed"]["items"] == {
        "anyOf": [{"type": "number"}, {"type": "string", "description": "(format: uri)"}]
    }
    assert props["old"] == {"type": "array", "items": {"type": "integer"}}
    assert props["grid"] == {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}
    assert props["maybe"] == {"type": "array", "nullable": True, "items": {"type": "string"}}
    assert sanitize_schema({"type": "array"}) == {"type": "array", "items": {"type": "string"}}


def test_nested_objects_without_properties_are_left_out() -> None:
    free = {"type": "object", "additionalProperties": {"type": "string"}}
    schema = {
        "type": "object",
        "properties": {
            "q": {"type": "string"},
            "labels": free,
            "meta": {"type": "object"},
            "rows": {"type": "array", "items": free},
            "extra": {"anyOf": [free, {"type": "null"}]},
            "either": {"anyOf": [free, {"type": "string"}]},
            "hollow": {"type": "object", "properties": {"inner": {"type": "object"}}},
            "kept": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": free},
                "required": ["a", "b"],
            },
        },
        "required": ["q", "labels", "rows", "hollow"],
        "propertyOrdering": ["q", "labels", "kept"],
    }
    out = sanitize_schema(schema)
    assert out == {
        "type": "object",
        "properties": {
            "q": {"type": "string"},
            "either": {"type": "string"},
            "kept": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        },
        "required": ["q"],
        "propertyOrdering": ["q", "kept"],
    }
    # The top level has no parent: an object without properties stays (the request builder then
    # sends a function without a parameters schema).
    assert sanitize_schema(free) == {"type": "object"}


def _every_node(node: Any) -> list[dict[str, Any]]:
    """Every schema node of a sanitized schema."""
    if not isinstance(node, dict):
        return []
    found = [node]
    for sub in (node.get("properties") or {}).values():
        found += _every_node(sub)
    found += _every_node(node.get("items"))
    for sub in node.get("anyOf") or []:
        found += _every_node(sub)
    return found


def test_what_gemini_rejects_never_survives() -> None:
    """Gemini's 400s for formats, arrays and objects, checked on one schema of every shape above."""
    schema = {
        "type": "object",
        "properties": {
            "a": {
                "type": "array",
                "items": {"type": "object", "properties": {"u": {"type": "string", "format": "uri"}}},
            },
            "b": {"type": "array", "prefixItems": [{"type": "object"}, {"type": "string", "format": "date"}]},
            "c": {"oneOf": [{"type": "object", "additionalProperties": True}, {"type": "array"}]},
            "d": {"$ref": "#/$defs/map"},
        },
        "$defs": {"map": {"type": "object", "patternProperties": {".*": {"type": "string"}}}},
    }
    nodes = _every_node(sanitize_schema(schema))
    assert len(nodes) > 3
    for node in nodes:
        assert node.get("format") in (None, "enum", "date-time", "float", "double", "int32", "int64")
        assert node.get("type") != "array" or "items" in node
        assert node.get("type") != "object" or node.get("properties")
