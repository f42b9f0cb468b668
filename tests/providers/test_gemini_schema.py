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
