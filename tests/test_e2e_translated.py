"""Anthropic and Gemini dialects behind the gateway, and the Anthropic Messages endpoint in front."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.spec import validate

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "find things",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


@pytest.fixture()
def gw(gateway: GatewayProcess) -> GatewayProcess:
    """The session's standard gateway, for the `oai` and `ant` clients of conftest."""
    return gateway


@pytest.mark.parametrize(
    ("model", "provider", "upstream_path"),
    [
        ("claude-3-5-haiku", "anthropic", "/v1/messages"),
        ("gemini-2.0-flash", "gemini", "/v1beta/models/gemini-2.0-flash:generateContent"),
    ],
)
def test_openai_sdk_through_translated_providers(
    oai: openai.OpenAI,
    gateway: GatewayProcess,
    upstream: FakeUpstream,
    model: str,
    provider: str,
    upstream_path: str,
) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi you"}],
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == "echo: hi you"
    assert raw.headers["x-satisfice-provider"] == provider
    validate("CreateChatCompletionResponse", json.loads(raw.http_response.content))
    sent = [r for r in upstream.requests() if r["path"] == upstream_path][-1]
    if provider == "anthropic":
        assert sent["headers"]["x-api-key"] == "sk-ant-test" and sent["body"]["system"] == "be brief"
        assert sent["body"]["model"] == "claude-3-5-haiku-20241022"
    else:
        assert sent["headers"]["x-goog-api-key"] == "gm-test" and "key=" not in sent["query"]
    row = gateway.row(raw.headers["x-satisfice-request-id"])
    assert row["provider"] == provider and row["cost_usd"] > 0 and row["prompt_tokens"] > 0


@pytest.mark.parametrize("model", ["claude-3-5-haiku", "gemini-2.0-flash"])
def test_openai_sdk_streams_and_tools_through_translated_providers(
    oai: openai.OpenAI, gateway: GatewayProcess, model: str
) -> None:
    with oai.chat.completions.with_streaming_response.create(
        model=model,
        messages=[{"role": "user", "content": "a b c"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        chunks = list(resp.parse())
    for c in chunks:
        validate("CreateChatCompletionStreamResponse", c.model_dump(exclude_unset=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: a b c"
    assert chunks[-1].usage is not None
    assert gateway.row(rid)["completion_tokens"] == chunks[-1].usage.completion_tokens
    resp2 = oai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "find x"}], tools=TOOLS
    )
    call: Any = resp2.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "lookup" and json.loads(call.function.arguments) == {"echo": "find x"}
    assert resp2.choices[0].finish_reason == "tool_calls"


def test_reasoning_effort_switches_on_claude_thinking(
    oai: openai.OpenAI, gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="claude-sonnet-4",
        messages=[{"role": "user", "content": "think hard"}],
        reasoning_effort="high",
        temperature=0.2,  # Anthropic refuses it with thinking: dropped
    )
    resp = raw.parse()
    sent = upstream.sent("claude-sonnet-4-20250514")
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert sent["max_tokens"] == 16384 + 4096 and "temperature" not in sent
    assert "reasoning_effort" not in sent
    message = resp.choices[0].message
    assert message.content == "echo: think hard"
    assert "think hard" in (message.model_extra or {}).get("reasoning_content", "")  # the fake's thinking
    assert gateway.row(raw.headers["x-satisfice-request-id"])["provider"] == "anthropic"


def test_reasoning_effort_sets_gemini_thinking_budget(
    oai: openai.OpenAI, gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "think a little"}],
        reasoning_effort="low",
        max_completion_tokens=4000,
    )
    assert raw.parse().choices[0].message.content == "echo: think a little"
    config = upstream.sent("gemini-2.5-flash")["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 1024}
    assert config["maxOutputTokens"] == 4000  # the client's cap holds: thinking counts in it
    assert gateway.row(raw.headers["x-satisfice-request-id"])["provider"] == "gemini"


def test_an_unknown_reasoning_effort_is_a_400(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(
            model="claude-sonnet-4",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"reasoning_effort": "extreme"},
        )
    assert (err.value.param, err.value.code) == ("reasoning_effort", "invalid_value")
    assert "'extreme'" in err.value.message


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude", "gem"])
def test_anthropic_sdk_on_messages_endpoint(
    ant: anthropic.Anthropic, gateway: GatewayProcess, model: str
) -> None:
    raw = ant.messages.with_raw_response.create(
        model=model, max_tokens=100, system="be brief", messages=[{"role": "user", "content": "hello there"}]
    )
    msg = raw.parse()
    assert msg.content[0].type == "text" and msg.content[0].text == "echo: hello there"
    assert msg.stop_reason == "end_turn" and msg.usage.output_tokens > 0
    row = gateway.row(raw.headers["x-satisfice-request-id"])
    assert row["endpoint"] == "messages" and row["status"] == 200


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude", "gem"])
def test_anthropic_sdk_streaming_on_messages_endpoint(ant: anthropic.Anthropic, model: str) -> None:
    with ant.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "x y z"}]
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "echo: x y z" and final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_anthropic_sdk_tool_use_round_trip(ant: anthropic.Anthropic, upstream: FakeUpstream) -> None:
    tools: Any = [
        {"name": "lookup", "description": "find", "input_schema": {"type": "object", "properties": {}}}
    ]
    msg = ant.messages.create(
        model="gpt-4o-mini", max_tokens=100, tools=tools, messages=[{"role": "user", "content": "where"}]
    )
    block = msg.content[0]
    assert block.type == "tool_use" and block.name == "lookup" and block.input == {"echo": "where"}
    assert msg.stop_reason == "tool_use"
    follow = ant.messages.create(
        model="gpt-4o-mini",
        max_tokens=100,
        tools=tools,
        messages=[
            {"role": "user", "content": "where"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": block.id, "name": "lookup", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": block.id, "content": "found"},
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
    )
    assert follow.content  # the fake answers a trailing user text with another tool call
    sent = upstream.requests()[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert sent[1]["tool_calls"][0]["id"] == block.id and sent[2]["tool_call_id"] == block.id
    assert sent[2]["content"] == "found" and sent[3]["content"] == "thanks"


def test_anthropic_sdk_errors(ant: anthropic.Anthropic, strict_gateway: GatewayProcess) -> None:
    with pytest.raises(anthropic.BadRequestError) as e:
        ant.messages.create(model="gpt-4o-mini", max_tokens=0, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    strict = anthropic.Anthropic(base_url=strict_gateway.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.NotFoundError):
        strict.messages.create(
            model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )


def test_translated_context_window_errors_fail_over_or_surface(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(
            model="gemini-2.0-flash",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"max_tokens": 10_000_000},
        )
    assert e.value.code in ("context_length_exceeded", "no_capable_candidate", "upstream_rejected")
