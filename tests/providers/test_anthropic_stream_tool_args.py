"""Tool-call arguments out of Anthropic's stream: always JSON, even for a call without arguments."""

from __future__ import annotations

from typing import Any

import orjson

from satisfice.providers.anthropic_stream import AnthropicStreamTranslator
from tests.spec import validate


def _event(kind: str, **fields: Any) -> tuple[str, bytes]:
    return kind, orjson.dumps({"type": kind, **fields})


def _tool_block(index: int, name: str, fragments: list[str], given: Any = None) -> list[tuple[str, bytes]]:
    block = {
        "type": "tool_use",
        "id": f"toolu_{index}",
        "name": name,
        "input": {} if given is None else given,
    }
    deltas = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
    return [
        _event("content_block_start", index=index, content_block=block),
        *(_event("content_block_delta", index=index, delta=d) for d in deltas),
        _event("content_block_stop", index=index),
    ]


def _run(blocks: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    message = {"id": "msg_1", "usage": {"input_tokens": 3, "output_tokens": 1}}
    events = [
        _event("message_start", message=message),
        *blocks,
        _event("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 9}),
        _event("message_stop"),
    ]
    translator = AnthropicStreamTranslator("claude")
    chunks = [c for name, data in events for c in translator.feed(name, data)] + translator.finish()
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    return chunks


def _arguments(chunks: list[dict[str, Any]]) -> dict[int, list[str]]:
    """Each tool call's argument fragments, in order."""
    out: dict[int, list[str]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls", []):
                out.setdefault(call["index"], []).append(call["function"]["arguments"])
    return out


def test_a_call_without_arguments_ends_with_an_empty_object() -> None:
    """Anthropic streams `input: {}` and one empty delta; OpenAI's arguments are "{}", as the
    non-streaming path gives them."""
    chunks = _run(_tool_block(0, "now", [""]))
    assert _arguments(chunks) == {0: ["", "{}"]}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"  # the "{}" comes before the finish


def test_a_call_with_no_delta_at_all_gets_its_start_input() -> None:
    assert "".join(_arguments(_run(_tool_block(0, "now", [])))[0]) == "{}"
    given = {"city": "Paris"}
    assert orjson.loads("".join(_arguments(_run(_tool_block(0, "weather", [], given)))[0])) == given


def test_calls_with_arguments_stream_their_fragments_unchanged() -> None:
    text: tuple[str, bytes] = _event(
        "content_block_start", index=0, content_block={"type": "text", "text": "Hi"}
    )
    blocks = [
        text,
        _event("content_block_stop", index=0),
        *_tool_block(1, "weather", ['{"city"', ': "Paris"}']),
        *_tool_block(2, "now", [""]),
    ]
    assert _arguments(_run(blocks)) == {0: ["", '{"city"', ': "Paris"}'], 1: ["", "{}"]}
