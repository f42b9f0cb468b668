"""Conformance helper: validate a dict against a component schema of OpenAI's OpenAPI description.

The description lives outside the repository (`../shared/spec/openai-openapi.json` from the repo
root; set SATISFICE_OPENAPI_SPEC to use another copy). It is OpenAPI 3.1 but still says
`nullable: true` in places, which a JSON Schema 2020-12 validator ignores; the loaded document is
rewritten so that every `nullable: true` schema also accepts null.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]

DEFAULT_SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "spec" / "openai-openapi.json"

_MAX_ERRORS = 20
_MAX_MESSAGE = 300
_MAX_BRANCHES = 6


def spec_path() -> Path:
    return Path(os.environ.get("SATISFICE_OPENAPI_SPEC") or DEFAULT_SPEC)


def validate(schema_name: str, instance: object) -> None:
    """Raise AssertionError listing every violation of `#/components/schemas/<schema_name>`."""
    validator = _validator(str(spec_path()), schema_name)
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    lines = [f"{len(errors)} violation(s) of {schema_name}:"]
    for error in errors[:_MAX_ERRORS]:
        lines.append(f"  at {_where(error)}: {_short(error.message)}")
        # anyOf/oneOf: say why each branch failed (the useful one is rarely the first).
        for sub in error.context[:_MAX_BRANCHES]:
            branch = next(iter(sub.relative_schema_path), "?")
            lines.append(f"    branch {branch}, at {_where(sub)}: {_short(sub.message)}")
    if len(errors) > _MAX_ERRORS:
        lines.append(f"  ... and {len(errors) - _MAX_ERRORS} more")
    raise AssertionError("\n".join(lines))


def _where(error: Any) -> str:
    return "/" + "/".join(str(p) for p in error.absolute_path)


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[:_MAX_MESSAGE] + "..."


@cache
def _components(path: str) -> dict[str, Any]:
    doc = orjson.loads(Path(path).read_bytes())
    components = doc.get("components") if isinstance(doc, dict) else None
    if not isinstance(components, dict):
        raise RuntimeError(f"{path} has no 'components' section")
    result = _allow_null(components)
    assert isinstance(result, dict)
    return result


@cache
def _validator(path: str, schema_name: str) -> Any:
    components = _components(path)
    if schema_name not in components.get("schemas", {}):
        raise KeyError(f"no component schema {schema_name!r} in {path}")
    # A root that holds all components, so every "#/components/..." $ref resolves against it.
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": components,
        "$ref": f"#/components/schemas/{schema_name}",
    }
    return Draft202012Validator(root)


def _allow_null(node: Any) -> Any:
    """A copy of `node` where each schema with `nullable: true` becomes `anyOf: [schema, null]`.

    Wrapping (rather than adding "null" to `type`) also keeps an `enum` or `$ref` schema nullable.
    """
    if isinstance(node, list):
        return [_allow_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    # Only a boolean `nullable` is the keyword; a property *named* "nullable" holds a schema.
    out = {k: _allow_null(v) for k, v in node.items() if not (k == "nullable" and isinstance(v, bool))}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out
