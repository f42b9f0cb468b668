"""Tool loops with Claude through the real gateway, the official `openai` and `anthropic` SDKs as
clients and the fake upstream on loopback, which checks what Anthropic checks: a tool loop with
thinking on continues from the assistant turn's own signed thinking, and tool ids match
^[a-zA-Z0-9_-]+$."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import dialect_providers, single_call_reliability
from tests.fakes.behaviours import REDACTED_DATA, litellm_blocks, signature
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

SONNET = "claude-sonnet-4-20250514"  # the catalog's claude-sonnet-4 upstream
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "find things",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}}},
]
FIND: Any = {"role": "user", "content": "find x"}
CACHE_ON = {"x-satisfice-cache": "on"}


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The catalog's Claude models (`anthropic`), and `ant/`, `oai/` and `gem/` passthroughs."""
    config = {
        "reliability": single_call_reliability(2.0, 3.0),
        "providers": [
            {"name": "anthropic", "base_url": upstream.anthropic_base, "api_key": "sk-ant-test"},
            *dialect_providers(upstream),
        ],
        "cache": {"backend": "memory", "ttl_s": 600},  # used only by requests that ask for it
    }
    with GatewayProcess(tmp_path_factory.mktemp("tool-loops"), config) as g:
        yield g


def ask(oai: openai.OpenAI, stream: bool, **params: Any) -> dict[str, Any]:
    """One chat completion's assistant message as a dict (what a client sends back), streamed or not."""
    if not stream:
        message = oai.chat.completions.create(**params).choices[0].message
        dumped: dict[str, Any] = message.model_dump(exclude_none=True)
        return dumped
    calls: dict[int, dict[str, Any]] = {}
    fragments: list[dict[str, Any]] = []
    content = ""
    for chunk in oai.chat.completions.create(**params, stream=True):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        content += delta.content or ""
        fragments += (delta.model_extra or {}).get("thinking_blocks") or []
        for c in delta.tool_calls or []:
            entry = calls.setdefault(c.index, {"type": "function", "function": {"arguments": ""}})
            if c.id:
                entry["id"] = c.id
            if c.function and c.function.name:
                entry["function"]["name"] = c.function.name
            if c.function and c.function.arguments:
                entry["function"]["arguments"] += c.function.arguments
    out: dict[str, Any] = {"role": "assistant", "content": content or None}
    if calls:
        out["tool_calls"] = [calls[i] for i in sorted(calls)]
    if fragments:
        out["thinking_blocks"] = litellm_blocks(fragments)
    return out


def loop(first: dict[str, Any], result: str = "x is 4") -> list[Any]:
    """The history that continues `first`'s tool call, sent back as the client got it."""
    call = first["tool_calls"][0]
    return [FIND, first, {"role": "tool", "tool_call_id": call["id"], "content": result}]


# -- thinking in a tool loop for /v1/chat/completions clients --------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_effort_thinks_through_a_tool_loop(
    oai: openai.OpenAI, upstream: FakeUpstream, stream: bool
) -> None:
    params: Any = {"model": "claude-sonnet-4", "reasoning_effort": "high", "tools": TOOLS}
    first = ask(oai, stream, messages=[FIND], **params)
    assert first["tool_calls"][0]["function"]["name"] == "lookup"
    blocks = first["thinking_blocks"]
    assert [b["type"] for b in blocks] == ["thinking"]
    assert blocks[0]["signature"] == signature(blocks[0]["thinking"])
    assert upstream.sent(SONNET)["thinking"] == {"type": "enabled", "budget_tokens": 16384}

    second = ask(oai, stream, messages=loop(first), **params)
    assert second["content"] == "echo: find x" and second["thinking_blocks"][0]["type"] == "thinking"
    sent = upstream.sent(SONNET)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 16384}  # no longer kept off
    assert sent["messages"][1]["content"][0] == blocks[0]  # the signed block first, unchanged
    assert sent["messages"][1]["content"][1]["type"] == "tool_use"


@pytest.mark.parametrize("stream", [False, True])
def test_an_explicit_thinking_extra_with_tools_continues_the_loop(oai: openai.OpenAI, stream: bool) -> None:
    """The auditor's case: turn 2 failed with Anthropic's 400 ("Expected `thinking` ...")."""
    params: Any = {
        "model": f"ant/claude-explicit{int(stream)}+redacted",
        "tools": TOOLS,
        "extra_body": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        "max_tokens": 2000,
    }
    first = ask(oai, stream, messages=[FIND], **params)
    assert [b["type"] for b in first["thinking_blocks"]] == ["thinking", "redacted_thinking"]
    assert first["thinking_blocks"][1]["data"] == REDACTED_DATA
    assert ask(oai, stream, messages=loop(first), **params)["content"] == "echo: find x"


def test_a_cached_answer_gives_the_same_thinking_blocks_as_a_fresh_one(
    oai: openai.OpenAI, upstream: FakeUpstream
) -> None:
    params: Any = {
        "model": "ant/claude-sonnet-4+cachedloop",
        "reasoning_effort": "low",
        "tools": TOOLS,
        "messages": [FIND],
        "extra_headers": CACHE_ON,
    }
    fresh = ask(oai, True, **params)  # a streamed answer is stored
    calls = len(upstream.requests())
    for stream in (False, True):
        again = ask(oai, stream, **params)
        assert again["thinking_blocks"] == fresh["thinking_blocks"]
        assert again["tool_calls"] == fresh["tool_calls"]
    assert len(upstream.requests()) == calls  # both were hits
    # And the replayed blocks continue the loop as the fresh ones would.
    follow = {k: v for k, v in params.items() if k != "messages"}
    assert ask(oai, False, messages=loop(again), **follow)["content"] == "echo: find x"
    assert (
        upstream.sent("claude-sonnet-4+cachedloop")["messages"][1]["content"][0]
        == again["thinking_blocks"][0]
    )


@pytest.mark.parametrize("model", ["oai/strict+blocks", "gem/gemini-blocks"])
def test_other_upstreams_never_receive_a_chat_clients_thinking_blocks(
    oai: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    text = "look it up"
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    history: Any = [
        FIND,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call],
            "thinking_blocks": [
                {"type": "thinking", "thinking": text, "signature": signature(text)},
                {"type": "redacted_thinking", "data": REDACTED_DATA},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "4"},
    ]
    oai.chat.completions.create(model=model, messages=history, tools=TOOLS)
    body = json.dumps(upstream.sent(model.partition("/")[2]))
    assert "thinking_blocks" not in body and REDACTED_DATA not in body and text not in body


# -- tool ids, allowed_tools, is_error -----------------------------------------------------------------


@pytest.mark.parametrize("foreign", ["functions.lookup:0", "call:1/2"])
def test_tool_call_ids_from_other_providers_reach_claude_valid(
    oai: openai.OpenAI, upstream: FakeUpstream, foreign: str
) -> None:
    """Kimi-style ids, say, in a history that moves to Claude: Anthropic would answer 400."""
    call = {"id": foreign, "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    history: Any = [
        FIND,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": foreign, "content": "x is 4"},
    ]
    resp = oai.chat.completions.create(model="claude-sonnet-4", messages=history, tools=TOOLS)
    assert resp.choices[0].message.content == "echo: find x"
    turns = upstream.sent(SONNET)["messages"]
    tool_use, tool_result = turns[1]["content"][0], turns[2]["content"][0]
    assert tool_use["id"] == tool_result["tool_use_id"] != foreign
    assert tool_use["id"].startswith("toolu_")


@pytest.mark.parametrize(("mode", "choice"), [("auto", "auto"), ("required", "any")])
def test_allowed_tools_reach_claude_as_the_allowed_tools_only(
    oai: openai.OpenAI, upstream: FakeUpstream, mode: str, choice: str
) -> None:
    allowed: Any = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": mode, "tools": [{"type": "function", "function": {"name": "weather"}}]},
    }
    resp = oai.chat.completions.create(
        model="claude-sonnet-4", messages=[FIND], tools=TOOLS, tool_choice=allowed
    )
    calls = resp.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls if c.type == "function"] == ["weather"]
    sent = upstream.sent(SONNET)
    assert [t["name"] for t in sent["tools"]] == ["weather"] and sent["tool_choice"] == {"type": choice}


@pytest.mark.parametrize(("model", "flagged"), [("ant/claude-iserror", True), ("oai/gpt-iserror", False)])
def test_a_tool_results_error_flag_reaches_claude(
    ant: anthropic.Anthropic, upstream: FakeUpstream, model: str, flagged: bool
) -> None:
    tools: Any = [{"name": "lookup", "input_schema": {"type": "object", "properties": {}}}]
    history: Any = [
        {"role": "user", "content": "find x"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "content": "timeout"}
            ],
        },
    ]
    ant.messages.create(model=model, max_tokens=100, tools=tools, messages=history)
    sent = upstream.sent(model.partition("/")[2])["messages"]
    if flagged:  # Anthropic gets the flag itself
        result = sent[2]["content"][0]
        assert result["is_error"] is True and result["tool_use_id"] == "toolu_1"
    else:  # the others the text form, and nothing they would refuse
        assert sent[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: timeout"}
        assert "satisfice" not in json.dumps(upstream.sent(model.partition("/")[2]))
