"""The Anthropic dialect: request building, response/stream translation and error reading."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from satisfice.api.openai_request import REASONING_EFFORTS
from satisfice.catalog import load_catalog
from satisfice.errors import InvalidRequest, UpstreamFailed
from satisfice.providers.anthropic import ANTHROPIC
from satisfice.providers.anthropic_request import MESSAGES_EXTRAS, THINKING_BUDGETS
from satisfice.providers.base import Deployment, Dialect, StreamTranslator
from satisfice.providers.thinking import THINKING_BLOCKS
from satisfice.usage import usage_from_openai
from tests.spec import validate

RECORDED = Path(__file__).parent / "recorded"

DEP = Deployment(
    provider="anthropic",
    model="claude-sonnet",
    upstream_model="claude-3-5-sonnet-20241022",
    base_url="https://api.anthropic.com/v1",
    dialect="anthropic",
    api_key="sk-ant-test",
    headers=(("anthropic-beta", "prompt-caching-2024-07-31"),),
)

# A recorded stream (ids shortened): thinking, then text, then a tool call; the prompt hit the cache.
STREAM = (RECORDED / "anthropic_stream_tool_use.sse").read_text()


def sse_events(text: str) -> list[tuple[str | None, bytes]]:
    """Split an SSE body into (event name, data) pairs the way the runner feeds translators."""
    events: list[tuple[str | None, bytes]] = []
    for raw in text.strip().split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in raw.splitlines():
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].strip())
        events.append((name, "\n".join(data).encode()))
    return events


def recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def build(body: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    payload = orjson.loads(ANTHROPIC.build_chat(DEP, body, stream=stream).body)
    assert isinstance(payload, dict)
    return payload


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet", "messages": list(messages), **extra}


def test_is_a_dialect() -> None:
    dialect: Dialect = ANTHROPIC
    translator: StreamTranslator | None = dialect.stream_translator(DEP)
    assert dialect.name == "anthropic"
    assert translator is not None


# -- build_chat ------------------------------------------------------------------------------------


def test_build_chat_request_line_and_headers() -> None:
    body = chat({"role": "user", "content": "Hi"})
    original = copy.deepcopy(body)
    req = ANTHROPIC.build_chat(DEP, body, stream=False)
    assert body == original  # not mutated
    assert (req.method, req.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert req.headers["x-api-key"] == "sk-ant-test"
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert orjson.loads(req.body) == {
        "model": "claude-3-5-sonnet-20241022",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_tokens": 4096,
    }


def test_no_api_key_header_without_key() -> None:
    dep = Deployment("a", "m", "m", "http://localhost:9/v1", "anthropic")
    req = ANTHROPIC.build_chat(dep, chat({"role": "user", "content": "Hi"}), stream=True)
    assert "x-api-key" not in req.headers
    assert orjson.loads(req.body)["stream"] is True


def test_single_system_message_is_a_string() -> None:
    out = build(chat({"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}))
    assert out["system"] == "Be terse."


def test_several_system_messages_become_blocks_and_keep_cache_control() -> None:
    cached = {"type": "text", "text": "Long manual...", "cache_control": {"type": "ephemeral"}}
    out = build(
        chat(
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": [cached]},
            {"role": "user", "content": "Hi"},
        )
    )
    assert out["system"] == [{"type": "text", "text": "Be terse."}, cached]
    assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]


def test_images_data_and_http() -> None:
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
    ]
    out = build(chat({"role": "user", "content": content}))
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_unsupported_content_part() -> None:
    part = {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}
    with pytest.raises(InvalidRequest) as err:
        build(chat({"role": "user", "content": [part]}))
    assert err.value.param == "messages[0].content[0]"


def test_tool_calls_results_and_role_merging() -> None:
    calls = [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {"id": "toolu_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
    ]
    out = build(
        chat(
            {"role": "user", "content": "Weather and time in Paris?"},
            {"role": "user", "content": "Please."},
            {"role": "assistant", "content": "Checking.", "tool_calls": calls},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C, sunny"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "14:05"}]},
            {"role": "user", "content": "Thanks, and summarise."},
        )
    )
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather and time in Paris?"},
                {"type": "text", "text": "Please."},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "14:05"}],
                },
                {"type": "text", "text": "Thanks, and summarise."},
            ],
        },
    ]


def test_assistant_with_only_tool_calls_and_null_content() -> None:
    call = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    out = build(
        chat({"role": "user", "content": "go"}, {"role": "assistant", "content": None, "tool_calls": [call]})
    )
    assert out["messages"][1]["content"] == [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_invalid_tool_arguments(arguments: str) -> None:
    call = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    with pytest.raises(InvalidRequest) as err:
        build(chat({"role": "user", "content": "go"}, {"role": "assistant", "tool_calls": [call]}))
    assert err.value.param == "messages[1].tool_calls[0].function.arguments"


def test_tools_and_parallel_tool_calls() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    out = build(chat({"role": "user", "content": "hi"}, tools=[tool], parallel_tool_calls=False))
    assert out["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ({"type": "function", "function": {"name": "f"}}, {"type": "tool", "name": "f"}),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    tool = {"type": "function", "function": {"name": "f"}}
    out = build(chat({"role": "user", "content": "hi"}, tools=[tool], tool_choice=choice))
    assert out["tool_choice"] == expected
    assert out["tools"][0]["input_schema"] == {"type": "object", "properties": {}}


def test_sampling_stop_user_and_dropped_params() -> None:
    out = build(
        chat(
            {"role": "user", "content": "hi"},
            max_completion_tokens=300,
            max_tokens=999,
            temperature=1.7,
            top_p=0.9,
            stop="END",
            user="user-42",
            n=1,
            seed=7,
            logprobs=True,
            top_logprobs=2,
            frequency_penalty=0.5,
            presence_penalty=0.5,
            logit_bias={"50256": -100},
            reasoning_effort="low",
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
    )
    assert out == {
        "model": "claude-3-5-sonnet-20241022",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 300,
        "temperature": 1.0,  # clamped to Anthropic's range
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    assert build(chat({"role": "user", "content": "hi"}, stop=["a", "b"]))["stop_sequences"] == ["a", "b"]


def test_n_greater_than_one_is_rejected() -> None:
    with pytest.raises(InvalidRequest) as err:
        build(chat({"role": "user", "content": "hi"}, n=2))
    assert err.value.param == "n"


def test_json_object_and_json_schema_beside_own_tools_become_instructions() -> None:
    """The schema tool would override the client's own tools (test_anthropic_structured_output.py)."""
    out = build(
        chat(
            {"role": "system", "content": "You extract data."},
            {"role": "user", "content": "Alice is 30"},
            response_format={"type": "json_object"},
        )
    )
    assert out["system"][0] == {"type": "text", "text": "You extract data."}
    assert "JSON" in out["system"][1]["text"]

    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}
    out = build(chat({"role": "user", "content": "Alice is 30"}, response_format=fmt, tools=[WEATHER]))
    assert isinstance(out["system"], str)
    assert orjson.dumps(schema).decode() in out["system"]


def test_only_system_messages_is_rejected() -> None:
    with pytest.raises(InvalidRequest) as err:
        build(chat({"role": "system", "content": "x"}))
    assert err.value.param == "messages"


# -- reasoning_effort -> extended thinking ----------------------------------------------------------

THINKING_DEP = dataclasses.replace(DEP, upstream_model="claude-sonnet-4-20250514")
HI = {"role": "user", "content": "hi"}
HI_BLOCKS = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
WEATHER = {"type": "function", "function": {"name": "weather"}}


def build_thinking(body: dict[str, Any], upstream_model: str = THINKING_DEP.upstream_model) -> dict[str, Any]:
    dep = dataclasses.replace(THINKING_DEP, upstream_model=upstream_model)
    frozen = copy.deepcopy(body)
    payload = orjson.loads(ANTHROPIC.build_chat(dep, body, stream=False).body)
    assert body == frozen, "build_chat must not mutate the request body"
    assert isinstance(payload, dict)
    return payload


def test_every_reasoning_effort_has_a_budget_or_means_no_thinking() -> None:
    assert set(THINKING_BUDGETS) | {"none", "minimal"} == set(REASONING_EFFORTS)
    assert min(THINKING_BUDGETS.values()) == 1024  # Anthropic's smallest budget
    # Without a client max_tokens, budget plus the default answer room fits Opus 4's 32000 output.
    assert max(THINKING_BUDGETS.values()) + 4096 <= 32000


@pytest.mark.parametrize(
    ("effort", "budget"),
    [("low", 1024), ("medium", 8192), ("high", 16384), ("xhigh", 24576), ("max", 27904)],
)
def test_reasoning_effort_switches_thinking_on(effort: str, budget: int) -> None:
    out = build_thinking(chat(HI, reasoning_effort=effort))
    assert out == {
        "model": "claude-sonnet-4-20250514",
        "messages": HI_BLOCKS,
        "max_tokens": 4096 + budget,  # no client cap: the answer keeps the default room
        "thinking": {"type": "enabled", "budget_tokens": budget},
    }


@pytest.mark.parametrize("effort", ["none", "minimal"])
def test_reasoning_effort_none_and_minimal_leave_thinking_off(effort: str) -> None:
    out = build_thinking(chat(HI, reasoning_effort=effort, temperature=0.3))
    assert out == {
        "model": "claude-sonnet-4-20250514",
        "messages": HI_BLOCKS,
        "max_tokens": 4096,
        "temperature": 0.3,
    }


@pytest.mark.parametrize(
    ("limits", "max_tokens", "budget"),
    [
        ({"max_completion_tokens": 10000}, 10000, 5000),  # high (16384) shrinks to half the cap
        ({"max_tokens": 40000}, 40000, 16384),  # room enough: the level's budget
        ({"max_completion_tokens": 2048, "max_tokens": 50000}, 2048, 1024),  # the smallest budget
        ({"max_tokens": 2047}, 2047, None),  # half of it is under 1024: no thinking
    ],
)
def test_reasoning_effort_keeps_the_clients_max_tokens(
    limits: dict[str, int], max_tokens: int, budget: int | None
) -> None:
    out = build_thinking(chat(HI, reasoning_effort="high", **limits))
    assert out["max_tokens"] == max_tokens
    if budget is None:
        assert "thinking" not in out
    else:
        assert out["thinking"] == {"type": "enabled", "budget_tokens": budget}
        assert out["thinking"]["budget_tokens"] < out["max_tokens"]


def test_reasoning_effort_drops_sampling_that_thinking_refuses() -> None:
    out = build_thinking(chat(HI, reasoning_effort="medium", temperature=0.2, top_p=0.5, top_k=40, stop="X"))
    assert out == {
        "model": "claude-sonnet-4-20250514",
        "messages": HI_BLOCKS,
        "max_tokens": 4096 + 8192,
        "stop_sequences": ["X"],
        "thinking": {"type": "enabled", "budget_tokens": 8192},
    }
    kept = build_thinking(chat(HI, reasoning_effort="medium", top_p=0.97))
    assert kept["top_p"] == 0.97 and kept["thinking"]["budget_tokens"] == 8192


def test_an_explicit_thinking_wins_over_reasoning_effort() -> None:
    disabled = {"type": "disabled"}
    out = build_thinking(chat(HI, reasoning_effort="high", thinking=disabled, temperature=0.2))
    assert out["thinking"] == disabled and out["temperature"] == 0.2 and out["max_tokens"] == 4096
    extras = {"thinking": {"type": "enabled", "budget_tokens": 2000}, "top_k": 5}
    out = build_thinking(chat(HI, reasoning_effort="high", max_tokens=3000, **{MESSAGES_EXTRAS: extras}))
    assert out["thinking"] == extras["thinking"] and out["top_k"] == 5 and out["max_tokens"] == 3000


@pytest.mark.parametrize(
    ("choice", "thinks"),
    [
        ("required", False),
        ({"type": "function", "function": {"name": "weather"}}, False),
        ("auto", True),
        ("none", True),
    ],
)
def test_a_forced_tool_keeps_thinking_off(choice: Any, thinks: bool) -> None:
    out = build_thinking(chat(HI, reasoning_effort="low", tools=[WEATHER], tool_choice=choice))
    assert ("thinking" in out) is thinks
    assert out["max_tokens"] == (4096 + 1024 if thinks else 4096)


def test_a_tool_loop_without_its_thinking_keeps_thinking_off() -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    asked = {"role": "assistant", "content": None, "tool_calls": [call]}
    result = {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}
    loop = chat(HI, asked, result, reasoning_effort="high", tools=[WEATHER])
    assert "thinking" not in build_thinking(loop)  # Anthropic would refuse the unsigned turn
    block = {"type": "thinking", "thinking": "check the weather", "signature": "sig"}
    signed = chat(HI, {**asked, THINKING_BLOCKS: [block]}, result, reasoning_effort="high", tools=[WEATHER])
    out = build_thinking(signed)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert out["messages"][1]["content"][0] == block
    done = chat(HI, asked, result, {"role": "assistant", "content": "Sunny."}, HI, reasoning_effort="high")
    assert build_thinking(done)["thinking"] == {"type": "enabled", "budget_tokens": 16384}


def test_an_explicit_thinking_is_left_out_of_a_tool_loop_another_model_called() -> None:
    """A route that mixes providers: GPT made the call, Claude gets the next turn (a 400 with thinking)."""
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    asked = {"role": "assistant", "content": None, "tool_calls": [call]}
    result = {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    extras = {MESSAGES_EXTRAS: {"thinking": {"type": "enabled", "budget_tokens": 1024}}}
    loop = chat(HI, asked, result, max_tokens=3000, tools=[WEATHER], **extras)
    assert "thinking" not in build_thinking(loop)
    block = {"type": "thinking", "thinking": "check the weather", "signature": "sig"}
    signed = chat(HI, {**asked, THINKING_BLOCKS: [block]}, result, max_tokens=3000, tools=[WEATHER], **extras)
    assert build_thinking(signed)["thinking"] == {"type": "enabled", "budget_tokens": 1024}


@pytest.mark.parametrize(
    ("upstream_model", "thinks"),
    [
        ("claude-3-7-sonnet-20250219", True),
        ("claude-opus-4-20250514", True),
        ("claude-opus-4-1-20250805", True),
        ("claude-haiku-4-5-20251001", True),
        ("claude-sonnet-4-6", True),
        ("claude-3-5-sonnet-20241022", False),  # no extended thinking before 3.7
        ("claude-3-5-haiku-20241022", False),
        ("claude-3-haiku-20240307", False),
        ("claude-2.1", False),
        ("my-local-model", False),
    ],
)
def test_reasoning_effort_becomes_a_budget_on_models_with_budgeted_thinking(
    upstream_model: str, thinks: bool
) -> None:
    out = build_thinking(chat(HI, reasoning_effort="high", temperature=0.5), upstream_model)
    assert ("thinking" in out) is thinks
    assert ("temperature" in out) is not thinks
    assert out["max_tokens"] == (4096 + 16384 if thinks else 4096)


# -- parse_chat ------------------------------------------------------------------------------------


def test_parse_text_message() -> None:
    out = ANTHROPIC.parse_chat(DEP, recorded("anthropic_message_text.json"))
    validate("CreateChatCompletionResponse", out)
    assert out["id"] == "chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL"
    assert out["model"] == "claude-sonnet"
    assert isinstance(out["created"], int)
    choice = out["choices"][0]
    assert choice["message"]["content"] == "Hello! It's nice to meet you. How can I help you today?"
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"
    assert out["usage"] == {"prompt_tokens": 12, "completion_tokens": 18, "total_tokens": 30}


def test_parse_tool_use_message_with_thinking_and_cache() -> None:
    out = ANTHROPIC.parse_chat(DEP, recorded("anthropic_message_tool_use.json"))
    validate("CreateChatCompletionResponse", out)
    message = out["choices"][0]["message"]
    assert message["content"] == "I'll check the current weather in San Francisco for you."
    assert message["reasoning_content"] == "The user wants the weather; I should call get_weather."
    (call,) = message["tool_calls"]
    assert call["id"] == "toolu_01A09q90qw90lq917835lq9"
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"location": "San Francisco, CA", "unit": "celsius"}
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"] == {
        "prompt_tokens": 384 + 1024 + 2048,
        "completion_tokens": 92,
        "total_tokens": 384 + 1024 + 2048 + 92,
        # cache writes ride as OpenRouter's cache_write_tokens (read back by /v1/messages)
        "prompt_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 1024},
    }
    # ...and the ledger reads them back, so a write is priced at its premium, a read at its discount.
    usage = usage_from_openai(out["usage"])
    assert usage is not None and (usage.cached_tokens, usage.cache_write_tokens) == (2048, 1024)


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("model_context_window_exceeded", "length"),
    ],
)
def test_finish_reasons(stop_reason: str, finish: str) -> None:
    msg = orjson.loads(recorded("anthropic_message_text.json"))
    msg["stop_reason"] = stop_reason
    msg["stop_sequence"] = "###" if stop_reason == "stop_sequence" else None
    out = ANTHROPIC.parse_chat(DEP, orjson.dumps(msg))
    assert out["choices"][0]["finish_reason"] == finish
    if stop_reason == "stop_sequence":
        assert out["choices"][0]["stop_reason"] == "###"
    # Only a reason the finish_reason cannot say rides along as itself (OpenRouter's field).
    native = stop_reason if stop_reason == "model_context_window_exceeded" else None
    assert out["choices"][0].get("native_finish_reason") == native


def test_parse_garbage_is_upstream_failure() -> None:
    with pytest.raises(UpstreamFailed):
        ANTHROPIC.parse_chat(DEP, b"<html>502 Bad Gateway</html>")


# -- stream ----------------------------------------------------------------------------------------


def translate(text: str) -> tuple[list[dict[str, Any]], StreamTranslator]:
    translator = ANTHROPIC.stream_translator(DEP)
    chunks: list[dict[str, Any]] = []
    for event, data in sse_events(text):
        chunks.extend(translator.feed(event, data))
    chunks.extend(translator.finish())
    return chunks, translator


def test_stream_translation() -> None:
    chunks, translator = translate(STREAM)
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    assert {c["id"] for c in chunks} == {"chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U"}
    assert {c["model"] for c in chunks} == {"claude-sonnet"}
    assert len({c["created"] for c in chunks}) == 1

    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert (
        "".join(d.get("content") or "" for d in deltas)
        == "Okay, let's check the weather for San Francisco, CA:"
    )
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Need the weather tool."

    tool_deltas = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert tool_deltas[0] == {
        "index": 0,
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert all(set(tc) == {"index", "function"} and tc["index"] == 0 for tc in tool_deltas[1:])
    arguments = "".join(tc["function"]["arguments"] for tc in tool_deltas)
    assert orjson.loads(arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}

    finish = chunks[-2]
    assert finish["choices"][0]["finish_reason"] == "tool_calls"
    assert finish["choices"][0]["delta"] == {}
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-2]] == [None] * (len(chunks) - 2)

    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {
        "prompt_tokens": 472 + 1800,
        "completion_tokens": 89,
        "total_tokens": 472 + 1800 + 89,
        "prompt_tokens_details": {"cached_tokens": 1800},
    }
    usage = translator.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.cached_tokens, usage.cache_write_tokens) == (2272, 1800, 0)
    assert usage.completion_tokens == 89


def test_stream_cache_write_and_cumulative_message_delta_usage() -> None:
    text = (RECORDED / "anthropic_stream_cache_write.sse").read_text()
    chunks, translator = translate(text)
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    usage = translator.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.cache_write_tokens, usage.completion_tokens) == (3010, 3000, 5)


def test_stream_error_event_raises() -> None:
    translator = ANTHROPIC.stream_translator(DEP)
    name, data = sse_events(STREAM)[0]
    translator.feed(name, data)
    with pytest.raises(UpstreamFailed, match="Overloaded"):
        translator.feed("error", recorded("anthropic_error_overloaded.json"))


def test_stream_ignores_unknown_and_empty_events() -> None:
    translator = ANTHROPIC.stream_translator(DEP)
    assert translator.feed("ping", b'{"type": "ping"}') == []
    assert translator.feed(None, b"") == []
    assert translator.feed("future_event", b'{"type": "future_event"}') == []
    assert translator.finish() == []  # no usage known


# -- error_info ------------------------------------------------------------------------------------


def test_error_info_reads_message() -> None:
    info = ANTHROPIC.error_info(529, recorded("anthropic_error_overloaded.json"))
    assert info.message == "Overloaded"
    assert not info.context_window_exceeded


@pytest.mark.parametrize(
    "message",
    [
        "prompt is too long: 208310 tokens > 200000 maximum",
        "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000, decrease input length",
    ],
)
def test_error_info_context_window(message: str) -> None:
    raw = orjson.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": message}})
    assert ANTHROPIC.error_info(400, raw).context_window_exceeded
    assert ANTHROPIC.error_info(400, recorded("anthropic_error_prompt_too_long.json")).context_window_exceeded


def test_error_info_tolerates_non_json() -> None:
    info = ANTHROPIC.error_info(502, b"<html><body>Bad gateway</body></html>")
    assert "Bad gateway" in info.message
    assert not info.context_window_exceeded
    assert ANTHROPIC.error_info(503, b"").message == "Anthropic returned HTTP 503."


@pytest.mark.parametrize(
    ("upstream_model", "kept"), [("claude-sonnet-4-5", True), ("claude-3-5-haiku", False)]
)
def test_a_strict_tool_stays_strict_on_claude_models_that_take_structured_outputs(
    upstream_model: str, kept: bool
) -> None:
    """`strict` was dropped for every Claude model; older ones would refuse it, so they go without."""
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    tool = {"type": "function", "function": {"name": "lookup", "parameters": schema, "strict": True}}
    dep = dataclasses.replace(DEP, upstream_model=upstream_model)
    payload = orjson.loads(ANTHROPIC.build_chat(dep, chat(HI, tools=[tool]), stream=False).body)
    assert payload["tools"] == [
        {"name": "lookup", "input_schema": schema, **({"strict": True} if kept else {})}
    ]


def test_a_request_without_max_tokens_may_use_the_models_whole_output() -> None:
    """Anthropic needs a max_tokens; one the client did not set was 4096 whatever the model, so
    answers ended early where OpenAI's models write up to their maximum."""

    def sent(body: dict[str, Any], max_output: int | None, model: str = DEP.upstream_model) -> dict[str, Any]:
        dep = dataclasses.replace(DEP, upstream_model=model, max_output=max_output)
        payload: dict[str, Any] = orjson.loads(ANTHROPIC.build_chat(dep, body, stream=False).body)
        return payload

    assert sent(chat(HI), 8192)["max_tokens"] == 8192
    assert sent(chat(HI), None)["max_tokens"] == 4096  # a model the catalog does not know
    assert sent(chat(HI, max_tokens=100), 8192)["max_tokens"] == 100  # the client's cap holds
    thinking = chat(HI, reasoning_effort="high")  # 16,384 tokens of thinking, 4,096 of answer
    out = sent(thinking, 64000, THINKING_DEP.upstream_model)
    assert (out["max_tokens"], out["thinking"]["budget_tokens"]) == (20480, 16384)
    small = sent(thinking, 8192, THINKING_DEP.upstream_model)  # within the model's maximum
    assert (small["max_tokens"], small["thinking"]["budget_tokens"]) == (8192, 4096)


def test_routing_gives_a_deployment_its_catalog_maximum_output() -> None:
    from satisfice.config import parse_settings
    from satisfice.routing.directory import ModelDirectory

    s = parse_settings({}, {"ANTHROPIC_API_KEY": "k"})
    (target,) = ModelDirectory(s, load_catalog(), s.providers).targets("claude-3-5-haiku")
    assert target.dep.max_output == target.info.max_output == 8192  # type: ignore[union-attr]
