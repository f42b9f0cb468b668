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
* `required` and `propertyOrdering` keep only names that appear in `properties`;
* `format` stays only where Gemini takes it (`enum` and `date-time` on strings, `float` and `double`
  on numbers, `int32` and `int64` on integers); any other (`uri`, `email`, `date`, `uuid`, ...) is a
  400 there, so it moves into the description as "(format: uri)";
* an array always gets `items` (Gemini answers "items: missing field" otherwise): a tuple's
  (`prefixItems`, or draft 4's list `items`) element schemas become one `anyOf`, and an array that
  does not say what it holds gets strings, the usual guess of other gateways;
* a nested object with no properties (a free-form map, e.g. only `additionalProperties`) is left
  out of its parent, and so is an array of such objects or an `anyOf` of nothing else. Gemini
  rejects an OBJECT without properties, and a JSON string in its place would change the argument's
  type under the client; leaving it out is what the request builder does at the top level (a
  function without arguments goes without a schema). The model then cannot fill that value.

Dropping a keyword loosens the constraint; the model's output is not checked against it here.

A response schema also gets `propertyOrdering` (`ordered_properties`): Gemini writes an object's
keys in alphabetical order unless told otherwise, where OpenAI's structured outputs write them in
the schema's order (a "reasoning" key before an "answer" key, as a client may rely on).
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

# The formats Gemini's Schema takes, by type (any other is a 400, "only 'enum' and 'date-time' are
# supported for STRING type").
_FORMATS: dict[str, frozenset[str]] = {
    "string": frozenset({"enum", "date-time"}),
    "number": frozenset({"float", "double"}),
    "integer": frozenset({"int32", "int64"}),
}
# What an array that does not say what it holds is taken to hold: Gemini requires `items`.
_UNKNOWN_ITEMS: dict[str, Any] = {"type": "string"}

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
        if key not in GEMINI_SCHEMA_KEYS or key == "items":  # items: below, with prefixItems
            continue
        if key == "type":
            _set_type(out, value)
        elif key == "properties" and isinstance(value, dict):
            cleaned = {
                n: _nested(sub, root, depth) if isinstance(sub, dict) else {} for n, sub in value.items()
            }
            out[key] = {name: sub for name, sub in cleaned.items() if sub is not None}
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
    if "items" not in out and (out.get("type") == "array" or "items" in src or "prefixItems" in src):
        items = _items(src, root, depth)
        if items is not None:
            out["items"] = items
    props = out.get("properties")
    for key in ("required", "propertyOrdering"):
        if isinstance(out.get(key), list):
            out[key] = [name for name in out[key] if isinstance(props, dict) and name in props]
            if not out[key]:
                del out[key]
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    _check_format(out)
    return out


def _describable(out: dict[str, Any]) -> bool:
    """False for a cleaned schema Gemini rejects wherever it is nested (see the module docstring):
    an object without properties, or an array whose elements are such objects."""
    if out.get("type") == "object":
        return bool(out.get("properties"))
    return out.get("type") != "array" or "items" in out


def _nested(schema: dict[str, Any], root: dict[str, Any], depth: int) -> dict[str, Any] | None:
    """A nested schema cleaned, or None when its parent must leave it out."""
    out = _clean(schema, root, depth)
    return out if _describable(out) else None


def _items(src: dict[str, Any], root: dict[str, Any], depth: int) -> dict[str, Any] | None:
    """The one `items` schema of an array (see the module docstring); None when its elements are
    objects Gemini cannot describe."""
    items = src.get("items")
    if isinstance(items, dict):
        return _nested(items, root, depth)
    prefix = src.get("prefixItems")
    elements = prefix if isinstance(prefix, list) else items if isinstance(items, list) else []
    elements = [e for e in elements if isinstance(e, dict)]
    if not elements:
        return dict(_UNKNOWN_ITEMS)
    out: dict[str, Any] = {}
    _set_any_of(out, elements, root, depth)
    return out if _describable(out) else None


def _check_format(out: dict[str, Any]) -> None:
    """Keep `format` only where Gemini takes it; say any other in the description instead."""
    fmt, kind = out.get("format"), out.get("type")
    if fmt is None or (isinstance(kind, str) and fmt in _FORMATS.get(kind, frozenset())):
        return
    del out["format"]
    if isinstance(fmt, str) and fmt:
        note = f"(format: {fmt})"
        description = out.get("description")
        out["description"] = f"{description} {note}" if isinstance(description, str) and description else note


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
    undescribable: list[dict[str, Any]] = []
    for branch in value:
        if not isinstance(branch, dict):
            continue
        if branch.get("type") == "null" and len(branch) == 1:
            out["nullable"] = True
            continue
        cleaned = _clean(branch, root, depth)
        if cleaned in branches:
            continue  # a tuple's elements, or a union, that say the same thing twice
        (branches if _describable(cleaned) else undescribable).append(cleaned)
    if not branches:
        # Nothing Gemini can describe: keep one such branch, so that the parent leaves this one out.
        branches = undescribable[:1]
    if len(branches) == 1:
        _merge_into(out, branches[0])  # `anyOf: [X, null]` is just a nullable X
    elif branches:
        out.setdefault("anyOf", []).extend(branches)


def ordered_properties(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a cleaned `schema` whose objects say their properties' order (`propertyOrdering`,
    as listed), where they do not already: Gemini's own order is alphabetical."""
    out = dict(schema)
    props = out.get("properties")
    if isinstance(props, dict) and props:
        out["properties"] = {n: ordered_properties(p) if isinstance(p, dict) else p for n, p in props.items()}
        out.setdefault("propertyOrdering", list(props))
    if isinstance(out.get("items"), dict):
        out["items"] = ordered_properties(out["items"])
    if isinstance(out.get("anyOf"), list):
        out["anyOf"] = [ordered_properties(b) if isinstance(b, dict) else b for b in out["anyOf"]]
    return out
