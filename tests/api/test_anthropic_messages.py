"""The /v1/messages translations, checked against the real `anthropic` SDK where it matters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import orjson
import pytest
from aiohttp import web
from anthropic.types import Message

from satisfice.api.anthropic_messages import (
    MessagesStreamEncoder,
    anthropic_error_body,
    messages_request_to_openai,
    openai_response_to_messages,
)
from satisfice.errors import InvalidRequest
from satisfice.providers.anthropic import ANTHROPIC
from satisfice.providers.anthropic_request import MESSAGES_EXTRAS
from satisfice.providers.base import Deployment
from satisfice.providers.thinking import THINKING_BLOCKS
from tests.providers.test_anthropic_dialect import STREAM, sse_events
from tests.spec import validate

T = TypeVar("T")

RECORDED = Path(__file__).parents[1] / "providers" / "recorded"

CREATED = 1_730_000_000
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


@asynccontextmanager
async def serve(status: int, body: bytes, content_type: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """A one-route server answering POST /v1/messages with fixed bytes, and a client pointed at it."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, body=body, content_type=content_type)

    app = web.Application()
    app.router.add_post("/v1/messages", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    client = anthropic.AsyncAnthropic(base_url=f"http://{host}:{port}", api_key="test", max_retries=0)
    try:
        yield client
    finally:
        await client.close()
        await runner.cleanup()


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "gpt-4o-mini",
        "choices": choices,
        **extra,
    }


# A realistic OpenAI stream: text, then one tool call in fragments, then the usage chunk.
OPENAI_CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me"}),
    chunk({"content": " check."}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_Qm9vYmFy",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
    chunk({}, "tool_calls"),
    chunk(
        None,
        usage={
            "prompt_tokens": 120,
            "completion_tokens": 17,
            "total_tokens": 137,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    ),
]


def encode(chunks: list[dict[str, Any]]) -> bytes:
    encoder = MessagesStreamEncoder("claude-sonnet", "msg_gw_1", 42)
    out = encoder.start()
    for c in chunks:
        out += encoder.feed(c)
    return out + encoder.finish()


async def consume(body: bytes) -> tuple[Message, list[str]]:
    async with (
        serve(200, body, "text/event-stream") as client,
        client.messages.stream(
            model="claude-sonnet", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        texts = [text async for text in stream.text_stream]
        return await stream.get_final_message(), texts


# -- request ---------------------------------------------------------------------------------------


def test_full_request_translation() -> None:
    body = {
        "model": "claude-sonnet",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "use the tool", "signature": "sig"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Nice"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "timeout"},
                            {"type": "image", "source": {"type": "url", "url": "https://x.test/err.png"}},
                        ],
                    },
                    {"type": "text", "text": "Summarise."},
                ],
            },
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "stop_sequences": ["###"],
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "metadata": {"user_id": "u-1"},
        "stream": True,
    }
    out = messages_request_to_openai(body)
    validate("CreateChatCompletionRequest", out)
    assert out == {
        "model": "claude-sonnet",
        "max_tokens": 1024,
        "messages": [
            # A cache hint keeps the system prompt as parts (the OpenAI dialect strips the hint).
            {
                "role": "system",
                "content": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
            },
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "Checking.",
                # Thinking rides on the private carrier (the Anthropic dialect sends it back).
                THINKING_BLOCKS: [{"type": "thinking", "thinking": "use the tool", "signature": "sig"}],
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Nice"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: timeout"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://x.test/err.png"}},
                    {"type": "text", "text": "Summarise."},
                ],
            },
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": WEATHER_TOOL["input_schema"],
                    "description": "Current weather for a city",
                },
            }
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "stop": ["###"],
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u-1",
        "stream": True,
        "stream_options": {"include_usage": True},
        # The error flag rides apart from the text, for the Anthropic dialect.
        MESSAGES_EXTRAS: {"top_k": 40, "cache_hints": True, "tool_errors": ["toolu_2"]},
    }


def test_images_documents_and_thinking() -> None:
    out = messages_request_to_openai(
        {
            "model": "m",
            "max_tokens": 10,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                        },
                        {
                            "type": "document",
                            "title": "q3.pdf",
                            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                        },
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                        },
                    ],
                }
            ],
        }
    )
    assert out[MESSAGES_EXTRAS] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert out["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
        {"type": "file", "file": {"filename": "q3.pdf", "file_data": "data:application/pdf;base64,JVBE"}},
        {"type": "text", "text": "notes"},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": choice,
    }
    out = messages_request_to_openai(body)
    assert out["tool_choice"] == expected
    assert "parallel_tool_calls" not in out


def test_tool_choice_without_tools_is_dropped() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    out = messages_request_to_openai({**body, "tool_choice": {"type": "none"}})
    assert "tool_choice" not in out


def _bad(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (_bad(model=None), "model"),
        (_bad(max_tokens=None), "max_tokens"),
        (_bad(max_tokens=True), "max_tokens"),
        (_bad(messages=[]), "messages"),
        (_bad(messages=[{"role": "system", "content": "x"}]), "messages[0].role"),
        (_bad(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
        (
            _bad(
                messages=[{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "audio"}]}]
            ),
            "messages[1].content[0].type",
        ),
        (
            _bad(messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}]),
            "messages[0].content[0].source.type",
        ),
        (
            _bad(messages=[{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]),
            "messages[0].content[0].tool_use_id",
        ),
        (
            _bad(
                messages=[
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": 1}],
                    }
                ]
            ),
            "messages[0].content[0].input",
        ),
        (
            _bad(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "document", "source": {"type": "url", "url": "https://x"}}],
                    }
                ]
            ),
            "messages[0].content[0].source.type",
        ),
        (_bad(system=[{"type": "image"}]), "system[0]"),
        (_bad(tools=[{"type": "web_search_20250305", "name": "web_search"}]), "tools[0].type"),
        (_bad(tools=[{"name": "f"}]), "tools[0].input_schema"),
        (_bad(tool_choice={"type": "sometimes"}), "tool_choice"),
        (_bad(stop_sequences="###"), "stop_sequences"),
        (_bad(temperature="hot"), "temperature"),
    ],
)
def test_invalid_requests(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        messages_request_to_openai(body)
    assert err.value.param == param
    assert err.value.message


# -- response --------------------------------------------------------------------------------------


def completion(message: dict[str, Any], finish: str, **choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": CREATED,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish, **choice}],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 40,
            "total_tokens": 1240,
            "prompt_tokens_details": {"cached_tokens": 1024},
        },
    }


def test_response_with_text_and_tool_calls() -> None:
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {
            "id": "call_2",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Ni'},
        },
    ]
    resp = completion(
        {"role": "assistant", "content": "Checking.", "refusal": None, "tool_calls": calls}, "tool_calls"
    )
    out = openai_response_to_messages(resp, model="claude-sonnet")
    Message.model_validate(out)
    assert out == {
        "id": "msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {}},  # unparseable
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 176,
            "output_tokens": 40,
            "cache_read_input_tokens": 1024,
            "cache_creation_input_tokens": 0,
        },
    }


@pytest.mark.parametrize(
    ("finish", "extra", "reason", "sequence"),
    [
        ("stop", {}, "end_turn", None),
        ("stop", {"stop_reason": "###"}, "stop_sequence", "###"),
        ("length", {}, "max_tokens", None),
        ("tool_calls", {}, "tool_use", None),
        ("content_filter", {}, "refusal", None),
        (
            "length",
            {"native_finish_reason": "model_context_window_exceeded"},
            "model_context_window_exceeded",
            None,
        ),
        # A native reason that disagrees with the finish_reason, or is not one carried, is not taken.
        ("stop", {"native_finish_reason": "model_context_window_exceeded"}, "end_turn", None),
        ("length", {"native_finish_reason": "MAX_TOKENS"}, "max_tokens", None),  # Gemini's, via OpenRouter
        ("stop", {"native_finish_reason": "pause_turn"}, "end_turn", None),
        ("length", {"native_finish_reason": ["model_context_window_exceeded"]}, "max_tokens", None),
    ],
)
def test_stop_reasons(finish: str, extra: dict[str, Any], reason: str, sequence: str | None) -> None:
    resp = completion({"role": "assistant", "content": "ok", "refusal": None}, finish, **extra)
    out = openai_response_to_messages(resp, model="m")
    assert (out["stop_reason"], out["stop_sequence"]) == (reason, sequence)


def test_response_round_trips_through_the_anthropic_dialect() -> None:
    recorded = (RECORDED / "anthropic_message_tool_use.json").read_bytes()
    dep = Deployment("anthropic", "claude-sonnet", "claude-3-7-sonnet-20250219", "https://x/v1", "anthropic")
    out = openai_response_to_messages(ANTHROPIC.parse_chat(dep, recorded), model="claude-sonnet")
    original = orjson.loads(recorded)
    assert out["id"] == original["id"]
    assert out["content"] == original["content"]  # the thinking block first, signature and all
    assert out["stop_reason"] == "tool_use"
    # Input excludes cache reads and writes, as Anthropic reports it.
    assert out["usage"]["input_tokens"] == 384
    assert out["usage"]["cache_creation_input_tokens"] == 1024
    assert out["usage"]["cache_read_input_tokens"] == 2048


def test_sdk_parses_a_translated_response() -> None:
    resp = completion({"role": "assistant", "content": "Bonjour", "refusal": None}, "stop")
    body = orjson.dumps(openai_response_to_messages(resp, model="claude-sonnet"))

    async def call() -> Message:
        async with serve(200, body, "application/json") as client:
            return await client.messages.create(
                model="claude-sonnet", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )

    message = run(call)
    assert message.content[0].type == "text" and message.content[0].text == "Bonjour"
    assert message.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("status", "kind", "exc"),
    [
        (400, "invalid_request_error", anthropic.BadRequestError),
        (401, "authentication_error", anthropic.AuthenticationError),
        (403, "permission_error", anthropic.PermissionDeniedError),
        (404, "not_found_error", anthropic.NotFoundError),
        (413, "request_too_large", anthropic.APIStatusError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (502, "api_error", anthropic.InternalServerError),
        (529, "overloaded_error", anthropic.InternalServerError),
    ],
)
def test_error_bodies(status: int, kind: str, exc: type[anthropic.APIStatusError]) -> None:
    body = anthropic_error_body(status, "nope")
    assert body == {"type": "error", "error": {"type": kind, "message": "nope"}}

    async def call() -> None:
        async with serve(status, orjson.dumps(body), "application/json") as client:
            await client.messages.create(
                model="m", max_tokens=1, messages=[{"role": "user", "content": "hi"}]
            )

    with pytest.raises(exc) as err:
        run(call)
    assert err.value.status_code == status
    assert "nope" in str(err.value)


# -- stream ----------------------------------------------------------------------------------------


def test_encoder_event_sequence() -> None:
    events = sse_events(encode(OPENAI_CHUNKS).decode())
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    for name, data in events:
        assert orjson.loads(data)["type"] == name
    start = orjson.loads(events[0][1])["message"]
    assert start["id"] == "msg_gw_1" and start["usage"]["input_tokens"] == 42
    assert orjson.loads(events[-2][1])["usage"] == {
        "input_tokens": 20,
        "output_tokens": 17,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 0,
    }


def test_sdk_consumes_encoded_stream() -> None:
    message, texts = run(lambda: consume(encode(OPENAI_CHUNKS)))
    assert texts == ["Let me", " check."]
    assert message.id == "msg_gw_1"
    assert message.model == "claude-sonnet"
    assert [b.type for b in message.content] == ["text", "tool_use"]
    text, tool = message.content
    assert text.type == "text" and text.text == "Let me check."
    assert tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == ("call_Qm9vYmFy", "get_weather", {"city": "Paris"})
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == 17
    assert message.usage.input_tokens == 20
    assert message.usage.cache_read_input_tokens == 100


def test_sdk_sees_stop_sequence_and_parallel_tools() -> None:
    chunks = [
        chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"x": 1}'},
                    },
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "g", "arguments": "{}"},
                    },
                ],
            }
        ),
        chunk({}, "stop"),
    ]
    chunks[-1]["choices"][0]["stop_reason"] = "END"
    message, texts = run(lambda: consume(encode(chunks)))
    assert texts == []
    assert [(b.type, getattr(b, "input", None)) for b in message.content] == [
        ("tool_use", {"x": 1}),
        ("tool_use", {}),
    ]
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "END")
    assert message.usage.output_tokens == 0  # no usage chunk was seen


def test_sdk_raises_on_error_event() -> None:
    encoder = MessagesStreamEncoder("m", "msg_1", 3)
    body = (
        encoder.start()
        + encoder.feed(chunk({"content": "partial"}))
        + encoder.error("Overloaded", "overloaded_error")
    )
    assert encoder.finish() == b""  # nothing after an error
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        run(lambda: consume(body))


def test_anthropic_stream_survives_both_translations() -> None:
    """Anthropic SSE -> OpenAI chunks (dialect) -> Anthropic SSE (encoder) -> the SDK."""
    dep = Deployment("anthropic", "claude-sonnet", "claude-3-7-sonnet-20250219", "https://x/v1", "anthropic")
    translator = ANTHROPIC.stream_translator(dep)
    chunks = [c for name, data in sse_events(STREAM) for c in translator.feed(name, data)]
    chunks += translator.finish()
    message, _ = run(lambda: consume(encode(chunks)))
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    thinking = message.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "Need the weather tool."
    assert thinking.signature == "EqQBCgIYAhIM1gbcDa9GJwZA"
    assert message.content[1].type == "text"
    assert message.content[1].text == "Okay, let's check the weather for San Francisco, CA:"
    tool = message.content[2]
    assert tool.type == "tool_use" and tool.id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert tool.input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (472, 1800)
    assert message.usage.output_tokens == 89


def test_request_round_trips_through_the_anthropic_dialect() -> None:
    """Anthropic request -> OpenAI body -> Anthropic dialect request keeps the conversation."""
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]
    body = {
        "model": "claude-sonnet",
        "max_tokens": 256,
        "system": "Be terse.",
        "messages": messages,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "stop_sequences": ["###"],
        "metadata": {"user_id": "u-1"},
    }
    dep = Deployment("anthropic", "claude-sonnet", "claude-3-5-haiku-20241022", "https://x/v1", "anthropic")
    upstream = orjson.loads(ANTHROPIC.build_chat(dep, messages_request_to_openai(body), stream=False).body)
    assert upstream == {**body, "model": "claude-3-5-haiku-20241022"}
