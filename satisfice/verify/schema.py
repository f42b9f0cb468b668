"""JSON Schema validation (Draft 2020-12) for response_format and tool_args, with compiled validators cached.

jsonschema is imported on first use only. An invalid schema, an unresolvable $ref or a missing
jsonschema install is the schema's problem, not the answer's: those report UNSURE, never FAIL.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson

from satisfice.json_bytes import dumps_kept
from satisfice.verify.base import Verdict, clip

_CACHE_SIZE = 256
_cache: OrderedDict[bytes, Any] = OrderedDict()  # schema key → validator, or the SchemaError text
_lock = threading.Lock()
# Keywords whose value is a schema, a list of schemas or a mapping of schemas: strictify recurses into them.
_ONE = ("items", "additionalItems", "contains", "not", "if", "then", "else", "propertyNames")
_MANY = ("anyOf", "allOf", "oneOf", "prefixItems")
_MAP = ("properties", "$defs", "definitions", "patternProperties")


def strictify(schema: Any) -> Any:
    """OpenAI's strict mode semantics for providers that do not enforce them: every object schema with
    `properties` forbids other keys and requires them all, unless the schema says otherwise."""
    if not isinstance(schema, Mapping):
        return schema
    out = dict(schema)
    props = out.get("properties")
    if isinstance(props, Mapping):
        out.setdefault("additionalProperties", False)
        out.setdefault("required", list(props))
    for key in _ONE:
        if key in out:
            out[key] = strictify(out[key])
    for key in _MANY:
        if isinstance(out.get(key), list):
            out[key] = [strictify(s) for s in out[key]]
    for key in _MAP:
        if isinstance(out.get(key), Mapping):
            out[key] = {k: strictify(v) for k, v in out[key].items()}
    return out


def _validator(schema: Any, strict: bool) -> Any:
    """A compiled validator, or a str explaining why the schema cannot be used."""
    try:
        key = dumps_kept(schema, option=orjson.OPT_SORT_KEYS) + (b"!" if strict else b"")  # a kept key
    except TypeError:
        return "schema is not JSON-serialisable"
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    try:
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]
        from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # a dev dependency: production installs may lack it
        return "jsonschema is not installed"
    effective = strictify(schema) if strict else schema
    try:
        Draft202012Validator.check_schema(effective)
        result: Any = Draft202012Validator(effective)
    except SchemaError as e:
        result = f"invalid schema: {clip(e.message, 120)}"
    with _lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def validate(instance: Any, schema: Any, *, strict: bool = False) -> tuple[Verdict, str]:
    """(PASS, "") when `instance` matches; (FAIL, why) when it does not; (UNSURE, why) when the schema
    itself is unusable."""
    if schema is True or schema == {}:
        return Verdict.PASS, ""
    if not isinstance(schema, (Mapping, bool)):
        return Verdict.UNSURE, "invalid schema: not an object"
    validator = _validator(schema, strict)
    if isinstance(validator, str):
        return Verdict.UNSURE, validator
    from jsonschema.exceptions import ValidationError, best_match  # type: ignore[import-untyped,unused-ignore]

    try:
        error = best_match(validator.iter_errors(instance))
    except ValidationError as e:  # pragma: no cover - best_match returns rather than raises
        error = e
    except Exception as e:  # an unresolvable $ref and the like: the schema's fault
        return Verdict.UNSURE, f"schema could not be applied: {clip(str(e), 100)}"
    if error is None:
        return Verdict.PASS, ""
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return Verdict.FAIL, f"at {where}: {clip(error.message, 120)}"
