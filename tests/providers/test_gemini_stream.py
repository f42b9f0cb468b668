"""The Gemini stream translator, fed recorded `streamGenerateContent?alt=sse` streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from satisfice.errors import UpstreamFailed
from satisfice.providers.base import Deployment, StreamTranslator
from satisfice.providers.gemini import GEMINI
from tests.spec import validate

RECORDED = Path(__file__).parent / "recorded"
DEP = Deployment("google", "gemini-flash", "gemini-2.5-flash", "https://example.test/v1beta", "gemini")


def sse_events(name: str) -> list[bytes]:
    """The `data:` payloads of a recorded SSE stream, one per event."""
    raw = (RECORDED / name).read_bytes().replace(b"\r\n", b"\n")
    events = []
    for block in raw.split(b"\n\n"):
        data = [line[5:].lstrip() for line in block.split(b"\n") if line.startswith(b"data:")]
        if data:
            events.append(b"\n".join(data))
    return events


def run(events: list[bytes]) -> tuple[list[dict[str, Any]], StreamTranslator]:
    translator = GEMINI.stream_translator(DEP)
    assert translator is not None
    chunks: list[dict[str, Any]] = []
    for data in events:
        chunks.extend(translator.feed(None, data))
    chunks.extend(translator.finish())
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    return chunks, translator


def test_text_stream() -> None:
    events = sse_events("gemini_stream_text.sse")
    assert len(events) == 3
    chunks, translator = run(events)
    assert {c["id"] for c in chunks} == {"chatcmpl-tMkqaPH6Ia2Vz7IPzPXhmAc"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["model"] for c in chunks} == {"gemini-flash"}
    assert len({c["created"] for c in chunks}) == 1
    assert chunks[0]["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None, "logprobs": None}
    ]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Roses are red, violets are blue,\nGemini streams to you.\n"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert chunks[-2]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 8, "completion_tokens": 17, "total_tokens": 25}
    assert translator.usage is not None and translator.usage.completion_tokens == 17


def test_usage_attribute_follows_the_stream() -> None:
    events = sse_events("gemini_stream_text.sse")
    translator = GEMINI.stream_translator(DEP)
    assert translator is not None
    translator.feed(None, events[0])
    assert translator.usage is not None
    assert (translator.usage.prompt_tokens, translator.usage.completion_tokens) == (8, 0)


def test_tool_call_stream() -> None:
    chunks, translator = run(sse_events("gemini_stream_tool_call.sse"))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert all("content" not in d for d in deltas[1:])  # the thought summary is not answer text
    (calls,) = [d["tool_calls"] for d in deltas if "tool_calls" in d]
    (call,) = calls
    assert call["index"] == 0 and call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert call["extra_content"] == {"google": {"thought_signature": "CpMCAVSoXO7sig"}}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == 15 + 46
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 46}
    assert translator.usage is not None and translator.usage.reasoning_tokens == 46


def test_a_streamed_call_keeps_geminis_id() -> None:
    """Gemini's functionCall.id is the tool call's id in the stream too (an invented one without it)."""
    with_id = {"functionCall": {"id": "q2k9xw7z", "name": "f", "args": {"a": 1}}}
    without = {"functionCall": {"name": "g", "args": {}}}
    event = {"candidates": [{"content": {"parts": [with_id, without]}, "finishReason": "STOP", "index": 0}]}
    chunks, _ = run([orjson.dumps(event)])
    calls = [t for c in chunks if c["choices"] for t in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [(t["index"], t["function"]["name"]) for t in calls] == [(0, "f"), (1, "g")]
    assert calls[0]["id"] == "q2k9xw7z" and calls[1]["id"].startswith("call_")


def test_several_calls_get_increasing_indexes() -> None:
    part = {"functionCall": {"name": "f", "args": {}}}
    first = {"candidates": [{"content": {"parts": [part, part]}, "index": 0}]}
    second = {"candidates": [{"content": {"parts": [part]}, "finishReason": "STOP", "index": 0}]}
    chunks, _ = run([orjson.dumps(first), orjson.dumps(second)])
    indexes = [
        t["index"] for c in chunks if c["choices"] for t in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert indexes == [0, 1, 2]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"  # no usage seen: no usage chunk


def test_blocked_prompt_stream() -> None:
    event = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}
    chunks, _ = run([orjson.dumps(event)])
    assert [c["choices"][0]["finish_reason"] if c["choices"] else "usage" for c in chunks] == [
        None,
        "content_filter",
        "usage",
    ]


def test_blank_events_are_ignored_and_bad_ones_raise() -> None:
    translator = GEMINI.stream_translator(DEP)
    assert translator is not None
    assert translator.feed(None, b"") == [] and translator.feed(None, b"  \n") == []
    assert translator.finish() == []
    with pytest.raises(UpstreamFailed):
        translator.feed(None, b"{not json")
    with pytest.raises(UpstreamFailed, match="overloaded"):
        translator.feed(
            None, b'{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}'
        )


def test_a_malformed_function_call_fails_the_stream() -> None:
    translator = GEMINI.stream_translator(DEP)
    assert translator is not None
    event = {
        "candidates": [
            {"finishReason": "MALFORMED_FUNCTION_CALL", "finishMessage": "Malformed call", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
    }
    with pytest.raises(UpstreamFailed, match=r"MALFORMED_FUNCTION_CALL.*: Malformed call"):
        translator.feed(None, orjson.dumps(event))


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}, "overloaded_error"),
        ({"code": 503, "message": "The model is overloaded."}, "overloaded_error"),
        ({"message": "busy", "status": "UNAVAILABLE"}, "overloaded_error"),
        ({"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED"}, "rate_limit_error"),
        ({"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}, "upstream_error"),
    ],
)
def test_in_band_errors_keep_their_kind(error: dict[str, Any], code: str) -> None:
    """Gemini's overload and rate limit are named as Anthropic names them, so they fail over and
    reach /v1/messages clients as an Anthropic upstream's would."""
    translator = GEMINI.stream_translator(DEP)
    assert translator is not None
    with pytest.raises(UpstreamFailed) as e:
        translator.feed(None, orjson.dumps({"error": error}))
    assert e.value.code == code and e.value.message == error["message"]
