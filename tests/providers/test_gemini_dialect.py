"""The Gemini dialect: building Gemini requests from OpenAI chat-completions bodies.

Parsing recorded answers and errors is in `test_gemini_parse.py`, streams in `test_gemini_stream.py`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from satisfice.errors import InvalidRequest
from satisfice.providers.base import Deployment, Dialect
from satisfice.providers.gemini import GEMINI
from satisfice.providers.gemini_request import SKIP_SIGNATURE, build_body

RECORDED = Path(__file__).parent / "recorded"

DEP = Deployment(
    provider="google",
    model="gemini-flash",
    upstream_model="gemini-2.5-flash",
    base_url="https://generativelanguage.googleapis.com/v1beta",
    dialect="gemini",
    api_key="AIza-test-key",
    headers=(("x-team", "search"),),
)

_DIALECT: Dialect = GEMINI  # mypy checks that the class satisfies the protocol


def recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def build(body: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    frozen = copy.deepcopy(body)
    req = GEMINI.build_chat(DEP, body, stream=stream)
    assert body == frozen, "build_chat must not mutate the request body"
    out = orjson.loads(req.body)
    assert isinstance(out, dict)
    return out


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "gemini-flash", "messages": list(messages), **extra}


USER = {"role": "user", "content": "Hi"}

# ----------------------------------------------------------------------------- request: transport


def test_urls_and_headers() -> None:
    plain = GEMINI.build_chat(DEP, chat(USER), stream=False)
    assert plain.method == "POST"
    assert (
        plain.url
        == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    streamed = GEMINI.build_chat(DEP, chat(USER), stream=True)
    assert streamed.url.endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    for req in (plain, streamed):
        assert req.headers["x-goog-api-key"] == "AIza-test-key"
        assert req.headers["x-team"] == "search"
        assert req.headers["content-type"] == "application/json"
        assert "AIza" not in req.url and "key=" not in req.url


def test_models_prefix_in_upstream_id_is_tolerated() -> None:
    dep = Deployment("g", "m", "models/gemini-2.0-flash", DEP.base_url, "gemini")
    req = GEMINI.build_chat(dep, chat(USER), stream=False)
    assert req.url.endswith("/models/gemini-2.0-flash:generateContent")
    assert "x-goog-api-key" not in req.headers


# ----------------------------------------------------------------------------- request: messages


def test_system_roles_and_turn_merging() -> None:
    out = build(
        chat(
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hello"},
            {"role": "user", "content": [{"type": "text", "text": "Are you there?"}]},
            {"role": "assistant", "content": "Oui."},
            {"role": "user", "content": "Merci"},
        )
    )
    assert out["systemInstruction"] == {"parts": [{"text": "Be terse."}, {"text": "Answer in French."}]}
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "Hello"}, {"text": "Are you there?"}]},
        {"role": "model", "parts": [{"text": "Oui."}]},
        {"role": "user", "parts": [{"text": "Merci"}]},
    ]
    assert "generationConfig" not in out and "tools" not in out


def test_images() -> None:
    content = [
        {"type": "text", "text": "Compare these"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {
            "type": "image_url",
            "image_url": {"url": "https://example.com/cat.webp?size=large", "detail": "low"},
        },
        {"type": "image_url", "image_url": {"url": "https://example.com/render"}},
    ]
    parts = build(chat({"role": "user", "content": content}))["contents"][0]["parts"]
    assert parts == [
        {"text": "Compare these"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?size=large"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/render"}},
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}},
        {"type": "video", "video": {}},
    ],
)
def test_unsupported_content_parts(part: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        build(chat({"role": "user", "content": [part]}))


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "city": {"type": "string", "minLength": 1},
                    "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]},
                    "where": {"$ref": "#/$defs/place"},
                    "additionalProperties": {"type": "boolean", "description": "a property, not a keyword"},
                },
                "required": ["city", "ghost"],
                "$defs": {
                    "place": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"lat": {"type": "number"}},
                    }
                },
            },
        },
    },
    {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    },
]


def test_tools_are_declared_with_sanitized_schemas() -> None:
    out = build(chat(USER, tools=TOOLS))
    weather, clock = out["tools"][0]["functionDeclarations"]
    assert weather == {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 1},
                "unit": {"type": "string", "nullable": True, "enum": ["celsius", "fahrenheit"]},
                "where": {"type": "object", "properties": {"lat": {"type": "number"}}},
                "additionalProperties": {"type": "boolean", "description": "a property, not a keyword"},
            },
            "required": ["city"],
        },
    }
    assert clock == {"name": "get_time"}  # Gemini rejects an OBJECT schema without properties
    assert "toolConfig" not in out


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
        ),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    out = build(chat(USER, tools=TOOLS, tool_choice=choice))
    assert out["toolConfig"] == {"functionCallingConfig": config}


def test_tool_choice_allowed_tools_filters_declarations() -> None:
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "required",
            "tools": [{"type": "function", "function": {"name": "get_time"}}],
        },
    }
    out = build(chat(USER, tools=TOOLS, tool_choice=choice))
    assert [d["name"] for d in out["tools"][0]["functionDeclarations"]] == ["get_time"]
    assert out["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}
    }


def test_a_required_allowed_tools_choice_naming_no_offered_tool_is_a_400() -> None:
    """Every tool was filtered out and Gemini answered in text, where a call was required."""
    spec = {"mode": "required", "tools": [{"type": "function", "function": {"name": "nope"}}]}
    with pytest.raises(InvalidRequest, match="names none of the request's tools") as e:
        build(chat(USER, tools=TOOLS, tool_choice={"type": "allowed_tools", "allowed_tools": spec}))
    assert e.value.param == "tool_choice"


def _call(call_id: str, name: str, args: str, signature: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
    if signature:
        call["extra_content"] = {"google": {"thought_signature": signature}}
    return call


def test_tool_calls_and_results() -> None:
    out = build(
        chat(
            {"role": "user", "content": "Weather and time in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    _call("call_a", "get_weather", '{"city": "Paris"}', signature="sig-1"),
                    _call("call_b", "get_time", ""),
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": '{"temp_c": 21, "sky": "clear"}'},
            {"role": "tool", "tool_call_id": "call_b", "content": "14:05"},
            {"role": "assistant", "tool_calls": [_call("call_c", "get_time", "{}")]},
            {"role": "tool", "tool_call_id": "call_c", "content": [{"type": "text", "text": "[1, 2]"}]},
            {"role": "user", "content": "Thanks"},
            tools=TOOLS,
        )
    )
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "Weather and time in Paris?"}]},
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"id": "call_a", "name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "sig-1",
                },
                {"functionCall": {"id": "call_b", "name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "id": "call_a",
                        "name": "get_weather",
                        "response": {"temp_c": 21, "sky": "clear"},
                    }
                },
                {"functionResponse": {"id": "call_b", "name": "get_time", "response": {"content": "14:05"}}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"id": "call_c", "name": "get_time", "args": {}},
                    "thoughtSignature": SKIP_SIGNATURE,
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"id": "call_c", "name": "get_time", "response": {"content": "[1, 2]"}}},
                {"text": "Thanks"},
            ],
        },
    ]


def test_a_tool_result_paired_by_name_carries_no_id() -> None:
    """A result whose tool_call_id matches no call still pairs by its `name`; it has no call id to
    echo, and a call without an id (or with an empty one) is sent without one."""
    out = build(
        chat(
            USER,
            {"role": "assistant", "tool_calls": [_call("", "get_time", "{}")]},
            {"role": "tool", "tool_call_id": "call_lost", "name": "get_time", "content": "14:05"},
        )
    )
    assert out["contents"][1]["parts"][0]["functionCall"] == {"name": "get_time", "args": {}}
    assert out["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_time", "response": {"content": "14:05"}}}
    ]


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "system", "content": "Be terse."}],
        [{"role": "system", "content": "Be terse."}, {"role": "developer", "content": "French."}],
        [{"role": "system", "content": "Be terse."}, {"role": "user", "content": ""}],
        [{"role": "user", "content": [{"type": "text", "text": ""}]}, {"role": "assistant", "content": ""}],
        [],
    ],
)
def test_a_request_without_contents_is_refused_here(messages: list[dict[str, Any]]) -> None:
    """Gemini answers `contents: []` with a 400: refused locally instead, naming the field, so a
    route tries its next candidate (runner `_build`) and a lone Gemini model gives a clear 400."""
    with pytest.raises(InvalidRequest) as info:
        build(chat(*messages))
    assert (info.value.status, info.value.param) == (400, "messages")
    assert "user or assistant message" in info.value.message


@pytest.mark.parametrize("args", ['{"city": "Par', "[1, 2]", "null"])
def test_invalid_tool_call_arguments(args: str) -> None:
    assistant = {"role": "assistant", "tool_calls": [_call("call_a", "get_weather", args)]}
    with pytest.raises(InvalidRequest) as info:
        build(chat(USER, assistant))
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


def test_tool_result_without_matching_call() -> None:
    with pytest.raises(InvalidRequest):
        build(chat(USER, {"role": "tool", "tool_call_id": "call_zzz", "content": "x"}))


def test_generation_config() -> None:
    out = build(
        chat(
            USER,
            temperature=0.2,
            top_p=0.9,
            max_tokens=50,
            max_completion_tokens=100,
            stop="END",
            n=2,
            seed=7,
            presence_penalty=0.5,
            frequency_penalty=-0.5,
            logprobs=True,
            top_logprobs=3,
        )
    )
    assert out["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "candidateCount": 2,
        "seed": 7,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "responseLogprobs": True,
        "logprobs": 3,
    }
    config = build(chat(USER, max_tokens=64, stop=["a", "b"]))["generationConfig"]
    assert config == {"maxOutputTokens": 64, "stopSequences": ["a", "b"]}


def test_penalties_go_to_gemini_2_0_only() -> None:
    """Gemini 2.5 answers 400 "Penalty is not enabled for models/gemini-2.5-flash" to a non-zero
    penalty (as do 3 and later): best-effort fields, dropped there."""
    penalties = {"presence_penalty": 0.5, "frequency_penalty": -0.5}
    for model in ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "gemini-flash-latest"):
        assert "generationConfig" not in build_body(chat(USER, **penalties), model=model), model
    config = build_body(chat(USER, **penalties), model="gemini-2.0-flash")["generationConfig"]
    assert config == {"presencePenalty": 0.5, "frequencyPenalty": -0.5}


def thinking_config(model: str, **extra: Any) -> Any:
    body = chat(USER, **extra)
    frozen = copy.deepcopy(body)
    config = build_body(body, model=model).get("generationConfig", {})
    assert body == frozen, "build_body must not mutate the request body"
    return config.get("thinkingConfig")


@pytest.mark.parametrize(
    ("effort", "flash", "pro", "lite"),
    [
        ("none", 0, 128, 0),  # Pro cannot stop thinking: its smallest budget
        ("minimal", 0, 128, 0),
        ("low", 1024, 1024, 1024),
        ("medium", 8192, 8192, 8192),
        ("high", 16384, 16384, 16384),
        ("xhigh", 24576, 32768, 24576),  # the model's largest
        ("max", 24576, 32768, 24576),
    ],
)
def test_reasoning_effort_sets_the_thinking_budget_of_gemini_2_5(
    effort: str, flash: int, pro: int, lite: int
) -> None:
    for model, budget in (
        ("gemini-2.5-flash", flash),
        ("gemini-2.5-pro", pro),
        ("gemini-2.5-flash-lite", lite),
        ("gemini-2.5-flash-preview-04-17", flash),
    ):
        assert thinking_config(model, reasoning_effort=effort) == {"thinkingBudget": budget}, model
    body = build_body(chat(USER, reasoning_effort=effort, temperature=0.3), model="gemini-2.5-flash")
    assert body["generationConfig"] == {"temperature": 0.3, "thinkingConfig": {"thinkingBudget": flash}}


def test_thinking_budget_leaves_half_of_the_clients_max_tokens_to_the_answer() -> None:
    config = build_body(chat(USER, reasoning_effort="high", max_tokens=10000), model="gemini-2.5-flash")
    assert config["generationConfig"] == {
        "maxOutputTokens": 10000,
        "thinkingConfig": {"thinkingBudget": 5000},
    }
    assert thinking_config("gemini-2.5-pro", reasoning_effort="low", max_completion_tokens=100000) == {
        "thinkingBudget": 1024
    }
    # Below the model's smallest budget: thinking off, or Pro's smallest (it cannot stop).
    assert thinking_config("gemini-2.5-flash-lite", reasoning_effort="high", max_tokens=1000) == {
        "thinkingBudget": 0
    }
    assert thinking_config("gemini-2.5-pro", reasoning_effort="high", max_tokens=200) == {
        "thinkingBudget": 128
    }


@pytest.mark.parametrize(
    ("effort", "level", "minimal_taker"),
    [
        ("none", "low", "minimal"),
        ("minimal", "low", "minimal"),
        ("low", "low", "low"),
        ("medium", "medium", "medium"),
        ("high", "high", "high"),
        ("xhigh", "high", "high"),
        ("max", "high", "high"),
    ],
)
def test_reasoning_effort_sets_the_thinking_level_of_gemini_3_and_later(
    effort: str, level: str, minimal_taker: str
) -> None:
    """Low, medium and high on every one; minimal where Google lists it (none can stop thinking)."""
    for model in ("gemini-3.1-pro-preview", "gemini-3.8-flash", "gemini-4-argon"):
        assert thinking_config(model, reasoning_effort=effort) == {"thinkingLevel": level}, model
    for model in ("gemini-3-flash-preview", "gemini-3.5-flash-lite", "gemini-3.6-flash"):
        assert thinking_config(model, reasoning_effort=effort) == {"thinkingLevel": minimal_taker}, model


@pytest.mark.parametrize(
    "model",
    [
        "gemini-2.0-flash",
        "gemini-1.5-pro",
        "gemini-2.5-flash-image-preview",
        "gemini-2.5-flash-preview-tts",
    ],
)
def test_reasoning_effort_never_reaches_a_model_without_thinking(model: str) -> None:
    """2.0 and older answer 400 to a thinkingConfig."""
    assert thinking_config(model, reasoning_effort="high") is None
    assert thinking_config("gemini-2.5-flash") is None  # no reasoning_effort: Gemini's own default


def test_response_formats() -> None:
    config = build(chat(USER, response_format={"type": "json_object"}))["generationConfig"]
    assert config == {"responseMimeType": "application/json"}
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "score": {"type": "integer", "exclusiveMinimum": 0}},
        "required": ["answer", "score"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "verdict", "strict": True, "schema": schema}}
    config = build(chat(USER, response_format=fmt))["generationConfig"]
    assert config == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "object",
            "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
            "required": ["answer", "score"],
            "propertyOrdering": ["answer", "score"],
        },
    }
    assert build(chat(USER, response_format={"type": "text"})) == build(chat(USER))


def test_a_response_schema_keeps_its_property_order() -> None:
    """Gemini writes keys alphabetically unless `propertyOrdering` says otherwise; OpenAI's structured
    outputs follow the schema's order, which a client may rely on (reasoning before its answer)."""
    step = {"type": "object", "properties": {"why": {"type": "string"}, "action": {"type": "string"}}}
    schema = {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
            "answer": {"anyOf": [{"$ref": "#/$defs/step"}, {"type": "null"}]},
        },
        "$defs": {"step": step},
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "plan", "schema": schema}}
    out = build(chat(USER, response_format=fmt))["generationConfig"]["responseSchema"]
    assert out["propertyOrdering"] == ["reasoning", "steps", "answer"]
    assert out["properties"]["steps"]["items"]["propertyOrdering"] == ["why", "action"]
    assert out["properties"]["answer"]["propertyOrdering"] == ["why", "action"]
    given = {**schema, "propertyOrdering": ["answer", "reasoning", "steps"]}  # the client's own, kept
    fmt = {"type": "json_schema", "json_schema": {"name": "plan", "schema": given}}
    out = build(chat(USER, response_format=fmt))["generationConfig"]["responseSchema"]
    assert out["propertyOrdering"] == ["answer", "reasoning", "steps"]


def test_sampling_parameters_are_dropped_for_gemini_3_and_later() -> None:
    """Deprecated there (below temperature 1.0 the models may loop; 3.6 Flash refuses penalties)."""
    sampling = {
        "temperature": 0.2,
        "top_p": 0.9,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.5,
        "seed": 7,
    }
    for model in ("gemini-3.6-flash", "gemini-4-argon", "gemini-3.1-pro-preview"):
        config = build_body(chat(USER, **sampling, top_k=5), model=model)["generationConfig"]
        assert config == {"seed": 7}, model
    older = build_body(chat(USER, **sampling, top_k=5), model="gemini-2.5-flash")["generationConfig"]
    assert (older["temperature"], older["topP"], older["topK"]) == (0.2, 0.9, 5)
