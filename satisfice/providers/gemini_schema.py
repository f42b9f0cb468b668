"""JSON Schema → the OpenAPI-3.0 subset Gemini accepts for `parameters` and `responseSchema`.

Gemini answers 400 ("Invalid JSON payload received. Unknown name ...") for any keyword outside its
Schema message, so this keeps a whitelist (`GEMINI_SCHEMA_KEYS`) rather than a blacklist; dropped
keywords include `$schema`, `$id`, `$defs`, `additionalProperties`, `unevaluatedProperties`,
`patternProperties`, `prefixItems`, `not`, `if`/`then`/`else`, `exclusiveMinimum`/`Maximum`,
`multipleOf` and `uniqueItems`. What can be expressed is rewritten instead of dropped:

* local `$ref`s (`#/$defs/X`, `#/definitions/X`) are inlined (recursive ones are cut off at a depth);
* `type: [T, "null"]` and `anyOf: [..., {type: null}]` become `nullable: true`;
* `oneOf` becomes `anyOf`; `const` becomes a one-value `enum`; `allOf` is merged into its parent;
* `enum` keeps string values only (Gemini enums are strings), else it is dropped;
* `required` keeps only names that appear in `properties`.

Dropping a keyword loosens the constraint; the model's output is not checked against it here.
"""

from __future__ import annotations

from typing import Any

GEMINI_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "items",
        "properties",
        "required",
        "propertyOrdering",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "anyOf",
        "default",
        "example",
    }
)

# Deep enough for real nesting, shallow enough that a self-referencing schema cannot blow up the body.
_MAX_REF_DEPTH = 6


def sanitize_schema(schema: Any) -> dict[str, Any]:
    """A copy of `schema` that Gemini accepts (see the module docstring). Never mutates its input."""
    if not isinstance(schema, dict):
        return {}
    return _clean(schema, schema, 0)


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any] | None:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            defs = root.get(prefix[2:-1])
            target = defs.get(ref[len(prefix) :]) if isinstance(defs, dict) else None
            return target if isinstance(target, dict) else None
    if ref == "#":
        return root
    return None


def _flatten(schema: dict[str, Any], root: dict[str, Any], depth: int) -> tuple[dict[str, Any], int]:
    """Inline a `$ref` and merge `allOf`, so the caller sees one plain schema object."""
    out = dict(schema)
    ref = out.pop("$ref", None)
    if isinstance(ref, str):
        target = _resolve(ref, root) if depth < _MAX_REF_DEPTH else None
        depth += 1
        if target is not None:
            flat, depth = _flatten(target, root, depth)
            out = {**flat, **out}  # sibling keywords (e.g. a description) win over the target's
    parts = out.pop("allOf", None)
    if isinstance(parts, list):
        for part in parts:
            if isinstance(part, dict):
                flat, _ = _flatten(part, root, depth)
                _merge_into(out, flat)
    return out, depth


def _merge_into(out: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if key == "properties" and isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = {**out[key], **value}
        elif key == "required" and isinstance(out.get(key), list) and isinstance(value, list):
            out[key] = list(dict.fromkeys([*out[key], *value]))
        else:
            out.setdefault(key, value)


def _clean(schema: dict[str, Any], root: dict[str, Any], depth: int) -> dict[str, Any]:
    src, depth = _flatten(schema, root, depth)
    if "oneOf" in src and "anyOf" not in src:
        src["anyOf"] = src.pop("oneOf")
    if "const" in src and "enum" not in src:
        src["enum"] = [src["const"]]
    out: dict[str, Any] = {}
    for key, value in src.items():
        if key not in GEMINI_SCHEMA_KEYS:
            continue
        if key == "type":
            _set_type(out, value)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {
                name: _clean(sub, root, depth) if isinstance(sub, dict) else {} for name, sub in value.items()
            }
        elif key == "items":
            if isinstance(value, dict):
                out[key] = _clean(value, root, depth)
        elif key == "anyOf" and isinstance(value, list):
            _set_any_of(out, value, root, depth)
        elif key == "enum" and isinstance(value, list):
            if None in value:
                out["nullable"] = True
            values = [v for v in value if v is not None]
            if values and all(isinstance(v, str) for v in values):
                out[key] = values
        else:
            out[key] = value  # the parent's own keywords win over a merged `anyOf` branch
    if isinstance(out.get("required"), list):
        props = out.get("properties")
        props = props if isinstance(props, dict) else {}
        out["required"] = [name for name in out["required"] if name in props]
        if not out["required"]:
            del out["required"]
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def _set_type(out: dict[str, Any], value: Any) -> None:
    if isinstance(value, str):
        if value == "null":
            out["nullable"] = True
        else:
            out["type"] = value
        return
    if not isinstance(value, list):
        return
    types = [t for t in value if isinstance(t, str) and t != "null"]
    if len(types) < len(value):
        out["nullable"] = True
    if len(types) == 1:
        out["type"] = types[0]
    elif types:
        out.setdefault("anyOf", []).extend({"type": t} for t in types)


def _set_any_of(out: dict[str, Any], value: list[Any], root: dict[str, Any], depth: int) -> None:
    branches: list[dict[str, Any]] = []
    for branch in value:
        if not isinstance(branch, dict):
            continue
        if branch.get("type") == "null" and len(branch) == 1:
            out["nullable"] = True
            continue
        branches.append(_clean(branch, root, depth))
    if len(branches) == 1:
        _merge_into(out, branches[0])  # `anyOf: [X, null]` is just a nullable X
    elif branches:
        out.setdefault("anyOf", []).extend(branches)
