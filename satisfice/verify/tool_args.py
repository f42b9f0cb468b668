"""`tool_args`: tool calls name offered tools, their arguments parse and match the tool's parameters, and
`tool_choice` is obeyed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from satisfice.verify.base import Check, Verdict, clip, failed, passed, unsure
from satisfice.verify.schema import validate
from satisfice.verify.text import parse_json, tool_calls


def offered_tools(request: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Tool name → its function definition, from `tools` and the legacy `functions`."""
    out: dict[str, Mapping[str, Any]] = {}
    for tool in request.get("tools") or ():
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            out[fn["name"]] = fn
    for fn in request.get("functions") or ():
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            out[fn["name"]] = fn
    return out


def custom_tools(request: Mapping[str, Any]) -> set[str]:
    """Names of the custom tools offered (`{"type": "custom", "custom": {"name": ...}}`): free-text input."""
    out: set[str] = set()
    for tool in request.get("tools") or ():
        spec = tool.get("custom") if isinstance(tool, Mapping) and tool.get("type") == "custom" else None
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            out.add(spec["name"])
    return out


def _choice(request: Mapping[str, Any]) -> tuple[str, str | None]:
    """("auto" | "none" | "required" | "named", name)."""
    choice = request.get("tool_choice", request.get("function_call"))
    if isinstance(choice, str):
        return (choice if choice in ("none", "required") else "auto"), None
    if isinstance(choice, Mapping) and choice.get("type") == "allowed_tools":
        spec = choice.get("allowed_tools")
        return ("required" if isinstance(spec, Mapping) and spec.get("mode") == "required" else "auto"), None
    if isinstance(choice, Mapping):
        fn = choice.get("function", choice.get("custom"))
        name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
        if isinstance(name, str):
            return "named", name
    return "auto", None


def _allowed(request: Mapping[str, Any]) -> set[str] | None:
    """The names an `allowed_tools` tool_choice lets the model call; None for any other choice."""
    choice = request.get("tool_choice")
    if not isinstance(choice, Mapping) or choice.get("type") != "allowed_tools":
        return None
    spec = choice.get("allowed_tools")
    listed = spec.get("tools") if isinstance(spec, Mapping) else None
    out: set[str] = set()
    for tool in listed if isinstance(listed, list) else ():
        fn = tool.get("function", tool.get("custom")) if isinstance(tool, Mapping) else None
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            out.add(fn["name"])
    return out


class ToolArgs:
    name = "tool_args"

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        calls = tool_calls(answer)
        tools = offered_tools(request)
        mode, wanted = _choice(request)
        if not calls:
            if tools and mode == "required":
                return failed(self.name, 'tool_choice "required" but no tool call')
            if tools and mode == "named":
                return failed(self.name, f"tool_choice names {wanted!r} but no tool call")
            return passed(self.name, "no tool calls")
        if mode == "none":
            return failed(self.name, 'tool_choice "none" but the answer calls a tool')
        doubts: list[str] = []
        custom = custom_tools(request)
        allowed = _allowed(request)
        for i, call in enumerate(calls):
            if call.get("type") == "custom":  # its input is free text (or the tool's grammar): the name only
                fn = call.get("custom")
                name = fn.get("name") if isinstance(fn, Mapping) else None
                if not isinstance(name, str) or name not in custom:
                    return failed(self.name, f"custom tool call {i} names no offered custom tool")
                if mode == "named" and name != wanted:
                    return failed(self.name, f"tool_choice names {wanted!r} but the answer calls {name!r}")
                if allowed is not None and name not in allowed:
                    return failed(self.name, f"call to {clip(name, 40)!r}, which allowed_tools leaves out")
                continue
            fn = call.get("function")
            if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
                return failed(self.name, f"tool call {i} has no function name")
            name = fn["name"]
            spec = tools.get(name)
            if spec is None:
                return failed(self.name, f"call to {clip(name, 40)!r}, which was not offered")
            if mode == "named" and name != wanted:
                return failed(self.name, f"tool_choice names {wanted!r} but the answer calls {name!r}")
            if allowed is not None and name not in allowed:
                return failed(self.name, f"call to {clip(name, 40)!r}, which allowed_tools leaves out")
            raw = fn.get("arguments")
            if isinstance(raw, Mapping):  # some providers hand back parsed arguments
                args: Any = raw
            elif isinstance(raw, str) or raw is None:
                # "" (seen from some providers for argument-less calls) means {}
                ok, args = parse_json((raw or "").strip() or "{}")
                if not ok:
                    return failed(self.name, f"{name}: arguments are not valid JSON")
            else:
                return failed(self.name, f"{name}: arguments are a {type(raw).__name__}")
            if not isinstance(args, dict):
                return failed(self.name, f"{name}: arguments are a JSON {type(args).__name__}, not an object")
            params = spec.get("parameters")
            if params is None:
                continue
            verdict, why = validate(args, params, strict=bool(spec.get("strict")))
            if verdict is Verdict.FAIL:
                return failed(self.name, f"{name}: {why}")
            if verdict is Verdict.UNSURE:
                doubts.append(f"{name}: {why}")
        if doubts:
            return unsure(self.name, "; ".join(doubts))
        return passed(self.name, f"{len(calls)} tool call(s) valid")
