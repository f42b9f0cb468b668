"""The Gemini dialect: parsing recorded Gemini answers and error bodies.

Every OpenAI dict the dialect produces is checked against OpenAI's published schema.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from satisfice.errors import UpstreamFailed
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.providers.gemini import GEMINI
from satisfice.providers.gemini_response import FINISH_REASONS, finish_reason
from tests.providers.test_gemini_dialect import DEP, USER, build, chat, recorded
from tests.spec import validate

# ----------------------------------------------------------------------------- responses


def test_parse_text_answer() -> None:
    out = GEMINI.parse_chat(DEP, recorded("gemini_text.json"))
    validate("CreateChatCompletionResponse", out)
    assert out["id"] == "chatcmpl-3cUqaI2TFP-Zz7IPvNCe0Ac"
    assert out["object"] == "chat.completion" and out["model"] == "gemini-flash"
    assert out["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The capital of France is **Paris**.",
                "refusal": None,
            },
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert out["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 8 + 526,
        "total_tokens": 11 + 8 + 526,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 526},
    }


def test_parse_function_call_and_replay_signature() -> None:
    out = GEMINI.parse_chat(DEP, recorded("gemini_function_call.json"))
    validate("CreateChatCompletionResponse", out)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    first, second = choice["message"]["tool_calls"]
    assert first["id"].startswith("call_") and first["id"] != second["id"]
    assert first["function"] == {"name": "get_weather", "arguments": '{"city":"Paris","unit":"celsius"}'}
    assert orjson.loads(second["function"]["arguments"]) == {"timezone": "Europe/Paris"}
    signature = first["extra_content"]["google"]["thought_signature"]
    assert signature.startswith("CtQB") and "extra_content" not in second
    # The client echoes the assistant message back: the signature must reach Gemini again.
    replay = build(
        chat(USER, choice["message"], {"role": "tool", "tool_call_id": first["id"], "content": "sunny"})
    )
    parts = replay["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == signature and "thoughtSignature" not in parts[1]
    assert replay["contents"][2]["parts"][0]["functionResponse"]["name"] == "get_weather"


def test_geminis_function_call_id_is_the_tool_call_id_and_goes_back_on_both_parts() -> None:
    """Gemini (3 and later) gives each functionCall an id and wants it back on the matching
    functionResponse: the id is the OpenAI tool_call id, and the replay carries it on both parts."""
    calls = [
        {"functionCall": {"id": "lpndqlku", "name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"id": "m6rogicj", "name": "get_weather", "args": {"city": "Tokyo"}}},
        {"functionCall": {"name": "get_time", "args": {}}},  # no id from Gemini: an invented one
    ]
    body = {"candidates": [{"content": {"parts": calls, "role": "model"}, "finishReason": "STOP"}]}
    out = GEMINI.parse_chat(DEP, orjson.dumps(body))
    validate("CreateChatCompletionResponse", out)
    message = out["choices"][0]["message"]
    paris, tokyo, clock = message["tool_calls"]
    assert (paris["id"], tokyo["id"]) == ("lpndqlku", "m6rogicj")
    assert clock["id"].startswith("call_") and len(clock["id"]) == 29
    results = [{"role": "tool", "tool_call_id": c["id"], "content": "ok"} for c in (tokyo, paris, clock)]
    replay = build(chat(USER, message, *results))
    sent_calls = [p["functionCall"] for p in replay["contents"][1]["parts"]]
    assert [c["id"] for c in sent_calls] == ["lpndqlku", "m6rogicj", clock["id"]]
    responses = [p["functionResponse"] for p in replay["contents"][2]["parts"]]
    assert [(r["id"], r["name"]) for r in responses] == [
        ("m6rogicj", "get_weather"),
        ("lpndqlku", "get_weather"),
        (clock["id"], "get_time"),
    ]


def test_parse_blocked_prompt() -> None:
    out = GEMINI.parse_chat(DEP, recorded("gemini_blocked_prompt.json"))
    validate("CreateChatCompletionResponse", out)
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "refusal": None},
            "finish_reason": "content_filter",
            "logprobs": None,
        }
    ]
    assert out["usage"]["prompt_tokens"] == 17 and out["usage"]["completion_tokens"] == 0


def test_parse_several_candidates_finish_reasons_and_logprobs() -> None:
    lp = {
        "topCandidates": [
            {
                "candidates": [
                    {"token": "Yes", "tokenId": 1, "logProbability": -0.1},
                    {"token": "No", "logProbability": -2.4},
                ]
            }
        ],
        "chosenCandidates": [{"token": "Yes", "tokenId": 1, "logProbability": -0.1}],
    }
    body = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Yes"}], "role": "model"},
                "finishReason": "MAX_TOKENS",
                "logprobsResult": lp,
            },
            {
                "finishReason": "SAFETY",
                "index": 1,
                "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT"}],
            },
            {
                "content": {"parts": [{"text": "hmm", "thought": True}, {"text": "Ok"}]},
                "finishReason": "OTHER",
                "index": 2,
            },
        ]
    }
    out = GEMINI.parse_chat(DEP, orjson.dumps(body))
    validate("CreateChatCompletionResponse", out)
    first, second, third = out["choices"]
    assert (first["index"], first["finish_reason"], first["message"]["content"]) == (0, "length", "Yes")
    assert first["logprobs"] == {
        "content": [
            {
                "token": "Yes",
                "logprob": -0.1,
                "bytes": [89, 101, 115],
                "top_logprobs": [
                    {"token": "Yes", "logprob": -0.1, "bytes": [89, 101, 115]},
                    {"token": "No", "logprob": -2.4, "bytes": [78, 111]},
                ],
            }
        ],
        "refusal": None,
    }
    assert (second["index"], second["finish_reason"], second["message"]["content"]) == (
        1,
        "content_filter",
        None,
    )
    # thoughts are not the answer; OTHER (a stop Gemini gives no reason for) may have cut it
    assert (third["finish_reason"], third["message"]["content"]) == ("content_filter", "Ok")
    assert "usage" not in out and out["id"].startswith("chatcmpl-")


@pytest.mark.parametrize(
    ("reason", "has_calls", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("OTHER", False, "content_filter"),
        ("LANGUAGE", False, "content_filter"),
        ("BLOCKLIST", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("IMAGE_SAFETY", False, "content_filter"),
        ("MALFORMED_FUNCTION_CALL", False, None),
        ("MALFORMED_FUNCTION_CALL", True, None),
        ("UNEXPECTED_TOOL_CALL", False, None),
        ("TOO_MANY_TOOL_CALLS", True, None),
        ("MALFORMED_RESPONSE", False, None),
        ("MISSING_THOUGHT_SIGNATURE", False, None),
        ("SOME_FUTURE_REASON", True, "tool_calls"),
        (None, False, "stop"),
    ],
)
def test_finish_reasons(reason: str | None, has_calls: bool, expected: str | None) -> None:
    assert finish_reason(reason, has_calls) == expected


def test_every_finish_reason_maps_to_an_openai_one_or_to_a_failure() -> None:
    assert set(FINISH_REASONS.values()) == {"stop", "length", "content_filter", None}


def test_a_malformed_function_call_is_a_failed_attempt() -> None:
    """Gemini's broken tool call (no parts, finishReason MALFORMED_FUNCTION_CALL) is no answer: a bad
    response the runner fails over from, not an empty "stop" the client is charged for."""
    body: dict[str, Any] = {
        "candidates": [
            {
                "finishReason": "MALFORMED_FUNCTION_CALL",
                "finishMessage": "Malformed function call: x(",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
    }
    with pytest.raises(AttemptFailed) as e:
        GEMINI.parse_chat(DEP, orjson.dumps(body))
    assert e.value.kind is FailureKind.BAD_RESPONSE
    assert "MALFORMED_FUNCTION_CALL" in e.value.message and "Malformed function call: x(" in e.value.message
    del body["candidates"][0]["finishMessage"]
    with pytest.raises(AttemptFailed, match=r"no usable answer \(finishReason MALFORMED_FUNCTION_CALL\)$"):
        GEMINI.parse_chat(DEP, orjson.dumps(body))


@pytest.mark.parametrize("reason", ["TOO_MANY_TOOL_CALLS", "MALFORMED_RESPONSE", "MISSING_THOUGHT_SIGNATURE"])
def test_geminis_other_failed_candidates_are_failed_attempts(reason: str) -> None:
    """FinishReason values Google added after MALFORMED_FUNCTION_CALL that mean no answer came: not
    an empty "stop" the client is charged for, but an attempt that fails over."""
    body = {"candidates": [{"finishReason": reason, "index": 0}], "usageMetadata": {"promptTokenCount": 3}}
    with pytest.raises(AttemptFailed) as e:
        GEMINI.parse_chat(DEP, orjson.dumps(body))
    assert e.value.kind is FailureKind.BAD_RESPONSE and reason in e.value.message
    stream = GEMINI.stream_translator(DEP)
    with pytest.raises(UpstreamFailed, match=reason):
        stream.feed(None, orjson.dumps(body))


def test_parse_rejects_non_json() -> None:
    with pytest.raises(UpstreamFailed):
        GEMINI.parse_chat(DEP, b"<html>502 Bad Gateway</html>")


# ----------------------------------------------------------------------------- errors


def test_error_info() -> None:
    info = GEMINI.error_info(400, recorded("gemini_error_invalid_key.json"))
    assert info.message == "API key not valid. Please pass a valid API key."
    assert not info.context_window_exceeded
    assert info.refused  # a 400, but the deployment's key: the next candidate may take the request
    info = GEMINI.error_info(400, recorded("gemini_error_context_window.json"))
    assert info.message.startswith("The input token count (1200293) exceeds")
    assert info.context_window_exceeded and not info.refused
    region = b'{"error": {"code": 400, "message": "User location is not supported for the API use.", '
    assert GEMINI.error_info(400, region + b'"status": "FAILED_PRECONDITION"}}').refused


def test_error_info_tolerates_odd_bodies() -> None:
    wrapped = b'[{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}]'
    assert GEMINI.error_info(503, wrapped).message == "The model is overloaded."
    assert GEMINI.error_info(502, b"<html>Bad Gateway</html>").message == "<html>Bad Gateway</html>"
    assert GEMINI.error_info(500, b"").message == "Gemini returned HTTP 500"
    assert (
        GEMINI.error_info(429, b'{"error": {"status": "RESOURCE_EXHAUSTED"}}').message == "RESOURCE_EXHAUSTED"
    )
