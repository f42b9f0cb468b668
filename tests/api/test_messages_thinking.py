"""Thinking blocks through the translations: Anthropic SSE -> OpenAI chunks (the real dialect) ->
Anthropic SSE (the /v1/messages encoder) -> the official SDK, the cache's assembly and replay, the
`thinking_blocks` carrier as chat-completions clients get it, and the carrier reaching only the
Anthropic dialect. Streams are the fake upstream's."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import orjson

from satisfice.api.anthropic_messages import messages_request_to_openai, openai_response_to_messages
from satisfice.cache.assemble import CachedStream, completion_from_events
from satisfice.providers.anthropic import ANTHROPIC
from satisfice.providers.base import Deployment
from satisfice.providers.gemini import GEMINI
from satisfice.providers.openai_compat import AZURE, OPENAI
from satisfice.providers.thinking import THINKING_BLOCKS
from tests.api.test_anthropic_messages import chunk, consume, encode, run
from tests.api.test_messages_fixes import AZ, GEM, OAI, _well_formed, call_delta, sent
from tests.fakes.behaviours import (
    REDACTED_DATA,
    Answer,
    anthropic_message,
    anthropic_stream,
    litellm_blocks,
    parse_behaviour,
    signature,
    thinking_blocks,
)
from tests.providers.test_anthropic_dialect import sse_events
from tests.spec import validate

DEP = Deployment("anthropic", "claude", "claude-x", "https://x/v1", "anthropic")
ANSWER = Answer('{"echo": "find x"}', "lookup", {"echo": "find x"}, 5, 3)
BLOCKS = thinking_blocks(ANSWER, parse_behaviour("claude+redacted"))
SIGNED = {"type": "thinking", "thinking": "look it up", "signature": signature("look it up")}
REDACTED = {"type": "redacted_thinking", "data": REDACTED_DATA}


def translated(thinking: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fake's Anthropic stream for ANSWER, through the Anthropic dialect's translator."""
    text = b"".join(anthropic_stream(ANSWER, "claude-x", 1, True, thinking=thinking)).decode()
    translator = ANTHROPIC.stream_translator(DEP)
    out = [c for name, data in sse_events(text) for c in translator.feed(name, data)]
    return out + translator.finish()


def events(chunks: list[dict[str, Any]]) -> list[bytes]:
    return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks]


def replayed(answer: dict[str, Any]) -> list[dict[str, Any]]:
    async def main() -> list[bytes]:
        return [e async for e in CachedStream(answer, "chatcmpl-x")]

    return [orjson.loads(e[6:]) for e in asyncio.run(main())]


def blocks_of(body: bytes) -> list[dict[str, Any]]:
    message, _ = run(lambda: consume(body))
    return [b.model_dump(exclude_none=True) for b in message.content]


def test_a_streamed_answer_keeps_its_thinking_blocks_through_both_translations() -> None:
    whole = anthropic_message(ANSWER, "claude-x", 1, True, thinking=BLOCKS)
    chunks = translated(BLOCKS)
    for c in chunks:
        validate("CreateChatCompletionStreamResponse", c)
    body = encode(chunks)
    _well_formed(body)
    names = [
        orjson.loads(data)["delta"]["type"]
        for n, data in sse_events(body.decode())
        if n == "content_block_delta"
    ]
    assert names[0] == "thinking_delta" and names.count("signature_delta") == 1
    assert blocks_of(body) == whole["content"]  # thinking, redacted_thinking, tool_use
    # Non-streamed, the same answer comes back the same.
    parsed = ANTHROPIC.parse_chat(DEP, orjson.dumps(whole))
    validate("CreateChatCompletionResponse", parsed)
    assert openai_response_to_messages(parsed, model="claude")["content"] == whole["content"]


def test_the_cache_stores_and_replays_whole_thinking_blocks() -> None:
    stored = completion_from_events(events(translated(BLOCKS)))
    assert stored is not None
    parsed = ANTHROPIC.parse_chat(
        DEP, orjson.dumps(anthropic_message(ANSWER, "claude-x", 1, True, thinking=BLOCKS))
    )
    thinking = ("reasoning_content", THINKING_BLOCKS)
    message, whole = stored["choices"][0]["message"], parsed["choices"][0]["message"]
    assert [message[k] for k in thinking] == [whole[k] for k in thinking]  # as if not streamed
    again = replayed(stored)
    for c in again:
        validate("CreateChatCompletionStreamResponse", c)
    assert blocks_of(encode(again)) == anthropic_message(ANSWER, "c", 1, True, thinking=BLOCKS)["content"]
    assert completion_from_events(events(again)) == {
        **stored,
        "id": "chatcmpl-x",
        "created": again[0]["created"],
    }


def test_a_signed_thinking_block_with_empty_text_is_kept_by_the_cache() -> None:
    """Its text comes in no delta (it is empty): the block is still whole, and Anthropic wants it
    back in a tool loop."""
    empty = {"type": "thinking", "thinking": "", "signature": signature("")}
    stored = completion_from_events(events(translated([empty])))
    assert stored is not None
    assert stored["choices"][0]["message"][THINKING_BLOCKS] == [empty]


def test_a_thinking_block_without_its_signature_is_never_replayed() -> None:
    unsigned = [c for c in translated(BLOCKS[:1]) if "signature" not in orjson.dumps(c).decode()]
    stored = completion_from_events(events(unsigned))
    assert stored is not None
    message = stored["choices"][0]["message"]
    assert THINKING_BLOCKS not in message and message["reasoning_content"] == BLOCKS[0]["thinking"]
    assert [b["type"] for b in blocks_of(encode(replayed(stored)))] == ["tool_use"]


def test_thinking_after_a_live_tool_call_is_held_and_sent_whole() -> None:
    fragments = [{"index": 0, "type": "thinking", "thinking": "then "}, {"index": 0, "thinking": "more"}]
    body = encode(
        [
            call_delta(0, '{"x": 1}', id="call_a", name="f"),
            chunk({"reasoning_content": "then ", THINKING_BLOCKS: fragments[:1]}),
            chunk({"reasoning_content": "more", THINKING_BLOCKS: fragments[1:]}),
            chunk({THINKING_BLOCKS: [{"index": 0, "signature": "sig-1"}, {"index": 1, **REDACTED}]}),
            chunk({}, "tool_calls"),
        ]
    )
    _well_formed(body)
    assert blocks_of(body) == [
        {"type": "tool_use", "id": "call_a", "name": "f", "input": {"x": 1}},
        {"type": "thinking", "thinking": "then more", "signature": "sig-1"},
        REDACTED,
    ]


def _history(*thinking: dict[str, Any]) -> dict[str, Any]:
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "4"}
    messages = [
        {"role": "user", "content": "find x"},
        {"role": "assistant", "content": [*thinking, {"type": "text", "text": "Looking."}, tool_use]},
        {"role": "user", "content": [result]},
    ]
    tools = [{"name": "lookup", "input_schema": {"type": "object", "properties": {}}}]
    return {"model": "m", "max_tokens": 100, "messages": messages, "tools": tools}


def test_history_thinking_reaches_only_the_anthropic_dialect() -> None:
    body = messages_request_to_openai(_history(SIGNED, REDACTED))
    before = copy.deepcopy(body)
    validate("CreateChatCompletionRequest", body)
    assistant = sent(ANTHROPIC, DEP, body)["messages"][1]["content"]
    assert [b["type"] for b in assistant] == ["thinking", "redacted_thinking", "text", "tool_use"]
    assert assistant[:2] == [SIGNED, REDACTED]
    plain = messages_request_to_openai(_history())
    for dialect, dep in ((OPENAI, OAI), (AZURE, AZ), (GEMINI, GEM)):
        assert sent(dialect, dep, body) == sent(dialect, dep, plain)  # as if there were none
    assert body == before  # the request (shared by every attempt) is not changed


def test_incomplete_thinking_blocks_in_history_are_dropped() -> None:
    unsigned = {"type": "thinking", "thinking": "no signature"}
    body = messages_request_to_openai(_history(unsigned, {"type": "redacted_thinking"}))
    assert THINKING_BLOCKS not in body["messages"][1]
    assert sent(ANTHROPIC, DEP, body)["messages"][1]["content"][0] == {"type": "text", "text": "Looking."}


def streamed_fragments(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `thinking_blocks` fragments of a stream's deltas, in order."""
    return [f for c in chunks if c["choices"] for f in c["choices"][0]["delta"].get(THINKING_BLOCKS) or []]


def test_chat_completions_answers_carry_the_blocks() -> None:
    """OpenAI-shaped clients get the signed blocks as `thinking_blocks` (LiteLLM's field), whole in
    an answer and in self-describing fragments in a stream, live or replayed from the cache."""
    parsed = ANTHROPIC.parse_chat(
        DEP, orjson.dumps(anthropic_message(ANSWER, "claude-x", 1, True, thinking=BLOCKS))
    )
    message = parsed["choices"][0]["message"]
    assert message[THINKING_BLOCKS] == BLOCKS and message["reasoning_content"] == BLOCKS[0]["thinking"]
    live = translated(BLOCKS)
    stored = completion_from_events(events(live))
    assert stored is not None
    for chunks in (live, replayed(stored)):
        fragments = streamed_fragments(chunks)
        assert fragments and all(f["type"] in ("thinking", "redacted_thinking") for f in fragments)
        assert litellm_blocks(fragments) == BLOCKS
