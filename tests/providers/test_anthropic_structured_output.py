"""`response_format: json_schema` for Claude: native `output_config.format` where the model takes it,
else a forced tool call whose input comes back as the message content (streamed or not)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from satisfice.providers.anthropic import ANTHROPIC
from satisfice.providers.anthropic_request import (
    MESSAGES_EXTRAS,
    SCHEMA_TOOL,
    json_schema_mode,
    native_structured_output,
)
from satisfice.providers.base import Deployment
from tests.spec import validate

OLD = Deployment("anthropic", "claude", "claude-3-5-haiku-20241022", "https://x/v1", "anthropic")
THINKER = dataclasses.replace(OLD, upstream_model="claude-sonnet-4-20250514")  # budgeted thinking, no native
NATIVE = dataclasses.replace(OLD, upstream_model="claude-sonnet-4-5-20250929")
USER = {"role": "user", "content": "Alice is 30"}
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
# What the openai SDK's `parse(response_format=Person)` sends: a strict schema.
PERSON: dict[str, Any] = {
    "type": "object",
    "title": "Person",
    "properties": {"name": {"type": "string", "title": "Name"}, "age": {"type": "integer", "title": "Age"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def fmt(schema: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": schema, "strict": True, **spec},
    }


def build(dep: Deployment, schema: dict[str, Any] = PERSON, *, stream: bool = False, **extra: Any) -> Any:
    body = {"model": "claude", "messages": [USER], "response_format": fmt(schema), **extra}
    return orjson.loads(ANTHROPIC.build_chat(dep, body, stream=stream).body)


# -- which way, per model ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "native"),
    [
        ("claude-sonnet-4-5-20250929", True),
        ("claude-sonnet-4-5", True),
        ("claude-haiku-4-5-20251001", True),
        ("claude-opus-4-5", True),
        ("claude-opus-4-6", True),
        ("claude-sonnet-4.6", True),
        ("claude-opus-4-7", True),
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", True),  # a Bedrock id
        ("claude-opus-4-1-20250805", False),  # structured outputs were only ever a beta there
        ("claude-opus-4-20250514", False),  # a date, not a minor version
        ("claude-sonnet-4-0", False),
        ("claude-3-7-sonnet-20250219", False),
        ("claude-3-5-haiku-20241022", False),
    ],
)
def test_native_structured_outputs_by_model_id(model: str, native: bool) -> None:
    assert native_structured_output(model) is native


def test_other_response_formats_have_no_mode() -> None:
    base = {"model": "m", "messages": [USER]}
    assert json_schema_mode(base, "claude-sonnet-4-5") is None
    assert json_schema_mode({**base, "response_format": {"type": "json_object"}}, "claude-sonnet-4-5") is None


# -- native: output_config.format -----------------------------------------------------------------------


def test_a_native_model_gets_output_config_format_and_no_instruction() -> None:
    out = build(NATIVE)
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": PERSON}}
    assert "system" not in out and "tools" not in out and "tool_choice" not in out


def test_native_works_beside_own_tools_and_thinking() -> None:
    out = build(NATIVE, tools=[WEATHER], reasoning_effort="low")
    assert out["output_config"]["format"]["schema"] == PERSON
    assert [t["name"] for t in out["tools"]] == ["weather"] and "tool_choice" not in out
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_a_schema_is_fitted_to_what_anthropic_takes() -> None:
    schema = {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 0, "maximum": 150, "description": "Years"},
            "name": {"type": "string", "maxLength": 20, "format": "name"},
            "email": {"type": "string", "format": "email"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 5},
            "maybe": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "pet": {
                "oneOf": [
                    {"type": "object", "properties": {"cat": {"type": "boolean"}}, "required": ["cat"]},
                    {"type": "null"},
                ]
            },
            "minimum": {"$ref": "#/$defs/Place"},  # a property's name is no keyword
        },
        "required": ["age", "name"],
        "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string", "minLength": 1}}}},
    }
    fitted = build(NATIVE, schema)["output_config"]["format"]["schema"]
    props = fitted["properties"]
    assert fitted["additionalProperties"] is False and fitted["required"] == ["age", "name"]
    assert props["age"] == {"type": "integer", "description": "Years\n\n{minimum: 0, maximum: 150}"}
    assert props["name"] == {"type": "string", "description": '{maxLength: 20, format: "name"}'}
    assert props["email"] == {"type": "string", "format": "email"}
    assert props["tags"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": "{minItems: 2, maxItems: 5}",
    }
    assert props["maybe"]["minItems"] == 1
    (cat, null) = props["pet"]["anyOf"]
    assert cat["additionalProperties"] is False and null == {"type": "null"} and "oneOf" not in props["pet"]
    assert props["minimum"] == {"$ref": "#/$defs/Place"}
    place = fitted["$defs"]["Place"]
    assert place["additionalProperties"] is False
    assert place["properties"]["city"] == {"type": "string", "description": "{minLength: 1}"}


@pytest.mark.parametrize(
    "schema",
    [
        # an object open to any key (a dict[str, int]): closing it would change what it asks for
        {
            "type": "object",
            "properties": {"n": {"type": "object", "additionalProperties": {"type": "integer"}}},
        },
        {"type": "object", "properties": {"extra": {"type": "object"}}},
        {**PERSON, "additionalProperties": True},
        # a recursive type, which Anthropic refuses
        {
            "type": "object",
            "properties": {"root": {"$ref": "#/$defs/Node"}},
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                }
            },
        },
        {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}},
    ],
)
def test_a_schema_the_native_subset_cannot_carry_gets_the_tool(schema: dict[str, Any]) -> None:
    out = build(NATIVE, schema)
    assert "output_config" not in out
    assert out["tools"][0]["input_schema"] == schema
    assert out["tool_choice"] == {"type": "tool", "name": SCHEMA_TOOL}


# -- the forced tool --------------------------------------------------------------------------------------


def test_an_older_model_gets_the_forced_schema_tool() -> None:
    body = {
        "model": "claude",
        "messages": [USER],
        "response_format": fmt(PERSON, description="Who the text is about."),
        "parallel_tool_calls": False,
    }
    out = orjson.loads(ANTHROPIC.build_chat(OLD, body, stream=False).body)
    (tool,) = out["tools"]
    assert tool["name"] == SCHEMA_TOOL and tool["input_schema"] == PERSON
    assert "(Person)" in tool["description"] and tool["description"].endswith("Who the text is about.")
    assert out["tool_choice"] == {"type": "tool", "name": SCHEMA_TOOL}
    assert "system" not in out and "output_config" not in out


def test_reasoning_effort_leaves_thinking_off_for_the_forced_tool() -> None:
    """As for a client's forced tool_choice: the schema is a contract, thinking a hint."""
    out = build(THINKER, reasoning_effort="high")
    assert "thinking" not in out and out["tool_choice"]["name"] == SCHEMA_TOOL


# -- the instruction, where the tool cannot be forced ---------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "extra"),
    [
        (PERSON, {"tools": [WEATHER]}),
        (PERSON, {"tools": [WEATHER], "tool_choice": "none"}),
        (PERSON, {"thinking": {"type": "enabled", "budget_tokens": 2048}}),
        (PERSON, {MESSAGES_EXTRAS: {"thinking": {"type": "enabled", "budget_tokens": 2048}}}),
        ({"type": "array", "items": {"type": "integer"}}, {}),  # a tool's input must be an object
    ],
)
def test_the_instruction_where_the_tool_cannot_be_forced(
    schema: dict[str, Any], extra: dict[str, Any]
) -> None:
    out = build(THINKER, schema, **extra)
    assert orjson.dumps(schema).decode() in str(out["system"])
    assert "output_config" not in out
    assert all(t["name"] != SCHEMA_TOOL for t in out.get("tools", []))
    assert out.get("tool_choice", {}).get("type") != "tool"


def test_thinking_disabled_explicitly_keeps_the_tool() -> None:
    out = build(THINKER, thinking={"type": "disabled"})
    assert out["tool_choice"] == {"type": "tool", "name": SCHEMA_TOOL} and "system" not in out


# -- the answer, not streamed -----------------------------------------------------------------------------


def message(stop_reason: str, *blocks: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-haiku-20241022",
            "content": list(blocks),
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 9},
        }
    )


def schema_call(value: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_1", "name": SCHEMA_TOOL, "input": value}


def test_the_schema_tools_input_is_the_content() -> None:
    out = ANTHROPIC.parse_chat(OLD, message("tool_use", schema_call({"name": "Alice", "age": 30})))
    validate("CreateChatCompletionResponse", out)
    choice = out["choices"][0]
    assert choice["message"]["content"] == '{"name":"Alice","age":30}'
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "stop"
    assert out["usage"] == {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}


def test_an_answer_cut_by_max_tokens_says_length() -> None:
    out = ANTHROPIC.parse_chat(OLD, message("max_tokens", schema_call({"name": "Al"})))
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["choices"][0]["message"]["content"] == '{"name":"Al"}'


def test_other_tool_calls_stay_tool_calls() -> None:
    weather = {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}}
    out = ANTHROPIC.parse_chat(OLD, message("tool_use", weather))
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "weather"


def test_a_native_answer_is_its_text() -> None:
    text = {"type": "text", "text": '{"name": "Alice", "age": 30}'}
    out = ANTHROPIC.parse_chat(NATIVE, message("end_turn", text))
    assert out["choices"][0]["message"]["content"] == '{"name": "Alice", "age": 30}'
    assert out["choices"][0]["finish_reason"] == "stop"


# -- the answer, streamed ---------------------------------------------------------------------------------


def event(kind: str, **fields: Any) -> tuple[str, bytes]:
    return kind, orjson.dumps({"type": kind, **fields})


def stream(stop_reason: str, fragments: list[str]) -> list[dict[str, Any]]:
    block = {"type": "tool_use", "id": "toolu_1", "name": SCHEMA_TOOL, "input": {}}
    deltas = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
    events = [
        event("message_start", message={"id": "msg_1", "usage": {"input_tokens": 20, "output_tokens": 1}}),
        event("content_block_start", index=0, content_block=block),
        *(event("content_block_delta", index=0, delta=d) for d in deltas),
        event("content_block_stop", index=0),
        event("message_delta", delta={"stop_reason": stop_reason}, usage={"output_tokens": 9}),
        event("message_stop"),
    ]
    translator = ANTHROPIC.stream_translator(OLD)
    chunks = [c for name, data in events for c in translator.feed(name, data)] + translator.finish()
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    return chunks


def streamed(chunks: list[dict[str, Any]]) -> tuple[str, list[Any], list[str]]:
    """(content, tool_calls deltas, finish reasons) of a stream's chunks."""
    choices = [c for chunk in chunks for c in chunk["choices"]]
    content = "".join(c["delta"].get("content") or "" for c in choices)
    calls = [call for c in choices for call in c["delta"].get("tool_calls", [])]
    return content, calls, [c["finish_reason"] for c in choices if c["finish_reason"]]


def test_streamed_input_json_deltas_are_content_deltas() -> None:
    chunks = stream("tool_use", ['{"name": "Al', 'ice", "age"', ": 30}"])
    content, calls, finishes = streamed(chunks)
    assert content == '{"name": "Alice", "age": 30}' and orjson.loads(content) == {"name": "Alice", "age": 30}
    assert calls == [] and finishes == ["stop"]
    assert chunks[-1]["usage"] == {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}


def test_a_streamed_empty_answer_is_an_empty_object_and_a_cut_one_says_length() -> None:
    content, calls, finishes = streamed(stream("tool_use", [""]))
    assert (content, calls, finishes) == ("{}", [], ["stop"])
    content, _, finishes = streamed(stream("max_tokens", ['{"name": "Al']))
    assert (content, finishes) == ('{"name": "Al', ["length"])
