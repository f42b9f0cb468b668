"""`response_format`: JSON mode answers parse as a JSON object; structured outputs match their schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from satisfice.verify.base import Check, Verdict, failed, passed, unsure
from satisfice.verify.schema import validate
from satisfice.verify.text import content, parse_json, tool_calls


class ResponseFormat:
    name = "response_format"

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        fmt = request.get("response_format")
        kind = fmt.get("type") if isinstance(fmt, Mapping) else None
        if kind not in ("json_object", "json_schema"):
            return passed(self.name, "no JSON response_format")
        assert isinstance(fmt, Mapping)
        text = content(answer).strip()
        if not text:
            if tool_calls(answer):
                return passed(self.name, "answered with tool calls")
            return failed(self.name, f"{kind}: empty content")
        if text.startswith(("```", "~~~")):
            # Clients json.loads the content as is; a fenced block breaks them.
            return failed(self.name, f"{kind}: JSON wrapped in a code fence")
        ok, value = parse_json(text)
        if not ok:
            return failed(self.name, f"{kind}: content is not valid JSON")
        if kind == "json_object":
            if not isinstance(value, dict):
                return failed(self.name, f"json_object: got a JSON {type(value).__name__}, not an object")
            return passed(self.name, "json_object")
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if schema is None:
            return passed(self.name, "json_schema without a schema: parses")
        strict = bool(spec.get("strict")) if isinstance(spec, Mapping) else False
        verdict, why = validate(value, schema, strict=strict)
        if verdict is Verdict.PASS:
            return passed(self.name, "json_schema" + (" (strict)" if strict else ""))
        if verdict is Verdict.FAIL:
            return failed(self.name, f"json_schema: {why}")
        return unsure(self.name, f"json_schema: {why}")
