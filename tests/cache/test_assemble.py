"""A stream assembled into the answer it streamed, and a stored answer replayed as a stream, with
several choices, legacy function calls, audio, tool calls and logprobs, each shape checked against
the OpenAI spec. The streams and answers are the fake upstream's, which match OpenAI's."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from satisfice.cache.assemble import CachedStream, choice_texts, completion_from_events, event_text
from tests.fakes.behaviours import REFUSAL, openai_answers, openai_completion, openai_stream
from tests.spec import validate

TOOL = {"name": "lookup", "parameters": {"type": "object", "properties": {"echo": {"type": "string"}}}}
CASES: dict[str, dict[str, Any]] = {
    "text": {},
    "n": {"n": 3},
    "logprobs": {"logprobs": True, "n": 2},
    "function_call": {"functions": [TOOL]},
    "audio": {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}},
    "tool_calls": {"tools": [{"type": "function", "function": TOOL}]},
    "refusal1": {"n": 2, "model": "refuse1"},
}


def request(case: str) -> dict[str, Any]:
    messages = [{"role": "user", "content": "What is the weather in Paris today?"}]
    return {"model": "m", "messages": messages, **CASES[case]}


def whole(body: dict[str, Any]) -> dict[str, Any]:
    """The answer the fake gives without streaming, as the gateway stores it."""
    answer = openai_completion(openai_answers(body), "m", 1, True, bool(body.get("logprobs")))
    for choice in answer["choices"]:
        choice["message"].pop("annotations")  # not assembled from a stream (OpenAI streams none)
    return answer


def streamed(body: dict[str, Any]) -> list[bytes]:
    """The same answer's stream, as the gateway keeps its events (without `[DONE]`)."""
    events = openai_stream(openai_answers(body), "m", 1, True, bool(body.get("logprobs")))
    return [e for e in events if e != b"data: [DONE]\n\n"]


def replayed(answer: dict[str, Any]) -> list[bytes]:
    async def run() -> list[bytes]:
        return [e async for e in CachedStream(answer, "chatcmpl-x")]

    return asyncio.run(run())


def chunks(events: list[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(e[6:]) for e in events]


@pytest.mark.parametrize("case", list(CASES))
def test_a_stream_assembles_into_the_answer_it_streamed(case: str) -> None:
    """Function calls and audio used to be dropped, and `logprobs` and `refusal` left out (the spec
    requires them); the choices of several came back as streamed, each with its own logprobs."""
    body = request(case)
    back = completion_from_events(streamed(body))
    assert back is not None
    validate("CreateChatCompletionResponse", back)
    assert back["choices"] == whole(body)["choices"]
    assert back["usage"] == whole(body)["usage"]


@pytest.mark.parametrize("case", list(CASES))
def test_a_stored_answer_replays_as_the_stream_it_would_have_been(case: str) -> None:
    """Replayed logprobs, a function call and audio used to be dropped."""
    answer = whole(request(case))
    events = replayed(answer)
    for chunk in chunks(events):
        validate("CreateChatCompletionStreamResponse", chunk)
    back = completion_from_events(events)
    assert back is not None and back["choices"] == answer["choices"]


@pytest.mark.parametrize(
    "notes", [{"stop_reason": "###"}, {"native_finish_reason": "model_context_window_exceeded"}]
)
def test_what_rides_with_a_finish_reason_is_kept_and_replayed(notes: dict[str, str]) -> None:
    """The matched stop string and Anthropic's own stop reason were dropped from a stored stream and
    from a replay, so a /v1/messages client answered from the cache read `end_turn` or `max_tokens`."""
    events = streamed(request("text"))
    finish = chunks(events)[-2]  # the finish chunk, before the usage one
    assert finish["choices"][0]["finish_reason"] == "stop"
    finish["choices"][0].update(notes)
    events[-2] = b"data: " + orjson.dumps(finish) + b"\n\n"
    stored = completion_from_events(events)
    assert stored is not None and {k: stored["choices"][0].get(k) for k in notes} == notes
    replay = [c for chunk in chunks(replayed(stored)) for c in chunk["choices"]]
    assert [{k: c.get(k) for k in notes} == notes for c in replay] == [False] * (len(replay) - 1) + [True]
    back = completion_from_events(replayed(stored))
    assert back is not None and back["choices"] == stored["choices"]


def test_replayed_logprobs_go_with_the_text_they_score() -> None:
    answer = whole({**request("logprobs"), "messages": [{"role": "user", "content": "long " * 100}]})
    content = [c for chunk in chunks(replayed(answer)) for c in chunk["choices"] if c["delta"].get("content")]
    assert len(content) > 2  # several pieces
    for choice in content:
        assert "".join(t["token"] for t in choice["logprobs"]["content"]) == choice["delta"]["content"]


def test_each_choice_of_a_stream_has_its_own_text() -> None:
    """Several choices stream interleaved: their texts are kept apart (a held stream's prefix
    checks read each choice's own)."""
    events = streamed(request("refusal1"))
    texts = choice_texts(events)
    assert texts == {0: "echo: What is the weather in Paris today?", 1: REFUSAL}


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("function_call", '{"echo":"What is the weather in Paris today?"}'),
        ("audio", "echo: What is the weather in Paris today?"),
    ],
)
def test_a_function_call_and_a_transcript_are_output_text(case: str, text: str) -> None:
    """What a held stream measures and prefix-checks, and what a stream is billed for."""
    events = streamed(request(case))
    assert "".join(map(event_text, events)) == text
    assert choice_texts(events) == {0: text}
