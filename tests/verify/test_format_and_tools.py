"""response_format (JSON mode, structured outputs, strict, invalid schemas) and tool_args."""

from __future__ import annotations

from typing import Any

import orjson

from satisfice.verify import Verdict
from tests.verify.helpers import ans, call, check, req, verdict

PASS, FAIL, UNSURE = Verdict.PASS, Verdict.FAIL, Verdict.UNSURE

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name"],
}


def schema_req(schema: Any, *, strict: bool | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": "person", "schema": schema}
    if strict is not None:
        spec["strict"] = strict
    return req("Extract the person.", response_format={"type": "json_schema", "json_schema": spec})


JSON_MODE = req("Reply in JSON.", response_format={"type": "json_object"})


def test_no_response_format_passes_anything() -> None:
    assert verdict("response_format", req(), ans("not json at all")) is PASS
    assert verdict("response_format", req(response_format={"type": "text"}), ans("plain")) is PASS


def test_json_object_mode() -> None:
    assert verdict("response_format", JSON_MODE, ans('{"a": 1}')) is PASS
    assert verdict("response_format", JSON_MODE, ans('  {"a": [1, 2]}\n')) is PASS
    assert verdict("response_format", JSON_MODE, ans("[1, 2]")) is FAIL  # JSON, but not an object
    assert verdict("response_format", JSON_MODE, ans('{"a": 1')) is FAIL
    assert verdict("response_format", JSON_MODE, ans("")) is FAIL
    fenced = check("response_format", JSON_MODE, ans('```json\n{"a": 1}\n```'))
    assert fenced.verdict is FAIL and "fence" in fenced.reason


def test_json_beyond_orjson_limits_still_parses() -> None:
    assert verdict("response_format", JSON_MODE, ans('{"big": 123456789012345678901234567890}')) is PASS
    assert verdict("response_format", JSON_MODE, ans('{"x": NaN}')) is FAIL  # not JSON


def test_json_schema_validates() -> None:
    request = schema_req(PERSON)
    assert verdict("response_format", request, ans('{"name": "Ada", "age": 36}')) is PASS
    wrong = check("response_format", request, ans('{"name": "Ada", "age": "old"}'))
    assert wrong.verdict is FAIL and "age" in wrong.reason
    assert verdict("response_format", request, ans('{"age": 3}')) is FAIL  # name is required
    assert verdict("response_format", request, ans("Ada is 36")) is FAIL


def test_strict_forbids_extra_keys_and_requires_all() -> None:
    extra = ans('{"name": "Ada", "age": 36, "city": "London"}')
    assert verdict("response_format", schema_req(PERSON), extra) is PASS  # plain JSON Schema allows extras
    assert verdict("response_format", schema_req(PERSON, strict=True), extra) is FAIL
    # strict, no `required` given: every property is required, like OpenAI's structured outputs.
    loose = {"type": "object", "properties": PERSON["properties"]}
    assert verdict("response_format", schema_req(loose), ans('{"name": "Ada"}')) is PASS
    assert verdict("response_format", schema_req(loose, strict=True), ans('{"name": "Ada"}')) is FAIL
    # an explicit `required` is the client's word
    assert verdict("response_format", schema_req(PERSON, strict=True), ans('{"name": "Ada"}')) is PASS
    nested = {"type": "object", "properties": {"p": PERSON}}
    bad = ans('{"p": {"name": "Ada", "age": 1, "x": 0}}')
    assert verdict("response_format", schema_req(nested, strict=True), bad) is FAIL
    assert verdict("response_format", schema_req(nested, strict=False), bad) is PASS


def test_invalid_schema_is_unsure_not_fail() -> None:
    broken = {"type": "object", "properties": {"age": {"type": "integr"}}}
    result = check("response_format", schema_req(broken), ans('{"age": 3}'))
    assert result.verdict is UNSURE and "invalid schema" in result.reason
    assert verdict("response_format", schema_req({"type": 5}), ans("{}")) is UNSURE
    assert verdict("response_format", schema_req("not a schema"), ans("{}")) is UNSURE
    remote = {"$ref": "https://example.invalid/schema.json"}
    assert verdict("response_format", schema_req(remote), ans("{}")) is UNSURE  # never fetched
    # Unparseable content is still the answer's fault.
    assert verdict("response_format", schema_req(broken), ans("nope")) is FAIL


def test_refusal_with_structured_outputs_is_not_json() -> None:
    answer = ans(None, refusal="I can't help with that.")
    assert verdict("response_format", schema_req(PERSON), answer) is FAIL


WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


def tools_req(choice: Any = None) -> dict[str, Any]:
    extra: dict[str, Any] = {"tools": [WEATHER, TIME]}
    if choice is not None:
        extra["tool_choice"] = choice
    return req("Weather in Paris?", **extra)


def test_tool_calls_valid() -> None:
    answer = ans(None, "tool_calls", tool_calls=[call("get_weather", '{"city": "Paris", "unit": "c"}')])
    assert verdict("tool_args", tools_req(), answer) is PASS
    no_args = ans(None, "tool_calls", tool_calls=[call("get_time", "")])  # "" from some providers
    assert verdict("tool_args", tools_req(), no_args) is PASS
    assert verdict("tool_args", tools_req(), ans("It is sunny.")) is PASS  # auto: text is fine
    assert verdict("tool_args", req(), ans("hi")) is PASS


def test_tool_args_failures() -> None:
    def tc(name: str, args: str) -> dict[str, Any]:
        return ans(None, "tool_calls", tool_calls=[call(name, args)])

    assert verdict("tool_args", tools_req(), tc("get_weather", '{"city": "Paris"')) is FAIL
    assert verdict("tool_args", tools_req(), tc("get_weather", "[1]")) is FAIL
    bad = check("tool_args", tools_req(), tc("get_weather", '{"unit": "k"}'))
    assert bad.verdict is FAIL and bad.reason.startswith("get_weather")
    unknown = check("tool_args", tools_req(), tc("launch_rocket", "{}"))
    assert unknown.verdict is FAIL and "not offered" in unknown.reason
    assert verdict("tool_args", req(), tc("get_weather", '{"city": "x"}')) is FAIL  # no tools offered


def test_tool_choice() -> None:
    text = ans("I think it's sunny.")
    assert verdict("tool_args", tools_req("required"), text) is FAIL
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert verdict("tool_args", tools_req(named), text) is FAIL
    other = ans(None, "tool_calls", tool_calls=[call("get_time", "{}")])
    assert verdict("tool_args", tools_req(named), other) is FAIL
    assert verdict("tool_args", tools_req("none"), other) is FAIL
    assert verdict("tool_args", tools_req("auto"), text) is PASS


def test_allowed_tools_choice() -> None:
    """tool_choice allowed_tools: only the listed tools, and a call is a must in mode "required"."""

    def allowed(mode: str) -> dict[str, Any]:
        listed = [{"type": "function", "function": {"name": "get_weather"}}]
        return tools_req({"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": listed}})

    weather = ans(None, "tool_calls", tool_calls=[call("get_weather", '{"city": "Paris"}')])
    time = ans(None, "tool_calls", tool_calls=[call("get_time", "{}")])
    text = ans("It is sunny in Paris.")
    assert verdict("tool_args", allowed("required"), weather) is PASS
    assert verdict("tool_args", allowed("required"), text) is FAIL
    assert verdict("tool_args", allowed("required"), time) is FAIL
    assert verdict("tool_args", allowed("auto"), text) is PASS
    assert verdict("tool_args", allowed("auto"), time) is FAIL


def test_strict_tool_and_invalid_parameters() -> None:
    strict = {**WEATHER, "function": {**WEATHER["function"], "strict": True}}
    request = req("x", tools=[strict])
    extra = ans(None, tool_calls=[call("get_weather", '{"city": "Paris", "unit": "c", "x": 1}')])
    assert verdict("tool_args", request, extra) is FAIL
    broken = {"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}
    assert verdict("tool_args", req("x", tools=[broken]), ans(None, tool_calls=[call("f", "{}")])) is UNSURE


def test_legacy_functions_and_parsed_arguments() -> None:
    request = req("x", functions=[WEATHER["function"]])
    legacy = ans(
        None, "function_call", function_call={"name": "get_weather", "arguments": '{"city": "Rome"}'}
    )
    assert verdict("tool_args", request, legacy) is PASS
    parsed = ans(None, tool_calls=[call("get_weather", {"city": "Rome"})])
    assert verdict("tool_args", tools_req(), parsed) is PASS


def test_custom_tools() -> None:
    """A custom tool's call carries `custom: {name, input}` (free text), not a function."""
    grep = {"type": "custom", "custom": {"name": "grep", "description": "Search the repo"}}
    request = req("Find the TODOs", tools=[grep, WEATHER])

    def custom_call(name: str) -> dict[str, Any]:
        return {"id": "c1", "type": "custom", "custom": {"name": name, "input": "TODO"}}

    assert verdict("tool_args", request, ans(None, "tool_calls", tool_calls=[custom_call("grep")])) is PASS
    both = [custom_call("grep"), call("get_weather", '{"city": "Paris"}', "c2")]
    assert verdict("tool_args", request, ans(None, "tool_calls", tool_calls=both)) is PASS
    assert verdict("tool_args", request, ans(None, tool_calls=[custom_call("rm")])) is FAIL
    named = req("x", tools=[grep, WEATHER], tool_choice={"type": "custom", "custom": {"name": "grep"}})
    assert verdict("tool_args", named, ans("No need to search.")) is FAIL
    assert verdict("tool_args", named, ans(None, tool_calls=[custom_call("grep")])) is PASS


def test_many_tool_calls_reuse_the_compiled_schema() -> None:
    calls = [call("get_weather", orjson.dumps({"city": f"c{i}"}).decode(), f"id{i}") for i in range(50)]
    assert verdict("tool_args", tools_req(), ans(None, tool_calls=calls)) is PASS
