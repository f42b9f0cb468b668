"""Extended thinking through the real gateway: the official `anthropic` SDK (and `openai` SDK) as
clients, the fake upstream on loopback checking thinking blocks passed back as Anthropic does (a
signature that matches its text; a tool loop's assistant turn starting with its thinking)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import Message

from tests.conftest import dialect_providers, single_call_reliability
from tests.fakes.behaviours import REDACTED_DATA, signature
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

THINKING: Any = {"type": "enabled", "budget_tokens": 1024}
TOOLS: Any = [
    {
        "name": "lookup",
        "description": "find things",
        "input_schema": {"type": "object", "properties": {"echo": {"type": "string"}}},
    }
]
CARRIER = "thinking_blocks"  # the field chat-completions clients get them in (LiteLLM's)
CACHE_ON = {"x-satisfice-cache": "on"}


def _config(up: FakeUpstream) -> dict[str, Any]:
    return {
        "reliability": single_call_reliability(2.0, 3.0),
        "providers": dialect_providers(up),
        "cache": {"backend": "memory", "ttl_s": 600},  # used only by requests that ask for it
    }


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(tmp_path_factory.mktemp("messages-thinking"), _config(upstream)) as g:
        yield g


def ask(ant: anthropic.Anthropic, stream: bool, **params: Any) -> Message:
    """One /v1/messages request, streamed through the SDK's stream helper or not."""
    params = {"max_tokens": 2000, "thinking": THINKING, **params}
    if not stream:
        message: Message = ant.messages.create(**params)
        return message
    with ant.messages.stream(**params) as s:
        events = list(s)
        final = s.get_final_message()
    # What the SDK's helper saw live: the thinking text in pieces, then one signature.
    thinking = "".join(e.thinking for e in events if e.type == "thinking")
    signatures = [e.signature for e in events if e.type == "signature"]
    blocks = [b for b in final.content if b.type == "thinking"]
    assert thinking == "".join(b.thinking for b in blocks)
    assert signatures == [b.signature for b in blocks]
    return final


def _first_turn() -> list[Any]:
    return [{"role": "user", "content": "find x"}]


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_and_redacted_thinking_blocks_come_back_signed(
    ant: anthropic.Anthropic, stream: bool
) -> None:
    msg = ask(ant, stream, model="ant/claude-think+redacted", tools=TOOLS, messages=_first_turn())
    assert [b.type for b in msg.content] == ["thinking", "redacted_thinking", "tool_use"]
    thinking, redacted, tool = msg.content
    assert thinking.type == "thinking" and thinking.thinking.startswith("The user said")
    assert thinking.signature == signature(thinking.thinking)
    assert redacted.type == "redacted_thinking" and redacted.data == REDACTED_DATA
    assert tool.type == "tool_use" and tool.input == {"echo": "find x"}
    assert msg.stop_reason == "tool_use"


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_loop_passes_the_thinking_blocks_back_unchanged(
    ant: anthropic.Anthropic, upstream: FakeUpstream, stream: bool
) -> None:
    model = f"claude-loop{int(stream)}+redacted"
    first = ask(ant, stream, model=f"ant/{model}", tools=TOOLS, messages=_first_turn())
    tool = first.content[-1]
    assert tool.type == "tool_use"
    history: Any = [
        *_first_turn(),
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "x is 4"}]},
    ]
    second = ask(ant, stream, model=f"ant/{model}", tools=TOOLS, messages=history)
    assert [b.type for b in second.content] == ["thinking", "redacted_thinking", "text"]
    assert second.content[-1].type == "text" and second.content[-1].text == "echo: find x"
    # Anthropic got the assistant turn exactly as it answered it: thinking first, signatures intact.
    returned = [b.model_dump(exclude_none=True) for b in first.content]
    assert upstream.sent(model)["messages"][1] == {"role": "assistant", "content": returned}


@pytest.mark.parametrize("model", ["oai/strict+think", "gem/gemini-think"])
def test_other_upstreams_never_receive_thinking_blocks(
    ant: anthropic.Anthropic, upstream: FakeUpstream, model: str
) -> None:
    history: Any = [
        *_first_turn(),
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "look it up", "signature": signature("look it up")},
                {"type": "redacted_thinking", "data": REDACTED_DATA},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"echo": "x"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "4"}]},
    ]
    msg = ant.messages.create(model=model, max_tokens=200, tools=TOOLS, messages=history)
    assert msg.content[0].type == "text"
    body = json.dumps(upstream.sent(model.partition("/")[2]))
    assert "look it up" not in body and REDACTED_DATA not in body
    assert "satisfice" not in body and CARRIER not in body


def test_chat_completions_clients_get_reasoning_content_and_the_blocks(
    oai: openai.OpenAI, upstream: FakeUpstream
) -> None:
    params: Any = {
        "model": "ant/claude-chat-think",
        "messages": [{"role": "user", "content": "hi"}],
        "extra_body": {"thinking": THINKING},
    }
    raw = oai.chat.completions.with_raw_response.create(**params)
    assert "satisfice" not in raw.text
    extra = raw.parse().choices[0].message.model_extra or {}
    reasoning = extra["reasoning_content"]
    assert reasoning.startswith("The user said")
    assert extra[CARRIER] == [{"type": "thinking", "thinking": reasoning, "signature": signature(reasoning)}]

    with oai.chat.completions.with_streaming_response.create(**params, stream=True) as resp:
        lines = [line for line in resp.iter_lines() if line.startswith("data: {")]
    assert lines and not any("satisfice" in line for line in lines)
    deltas = [c["choices"][0]["delta"] for c in map(lambda line: json.loads(line[6:]), lines) if c["choices"]]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == reasoning
    fragments = [f for d in deltas for f in d.get(CARRIER) or []]
    assert {f["type"] for f in fragments} == {"thinking"}
    assert "".join(f.get("thinking") or "" for f in fragments) == reasoning
    assert [f["signature"] for f in fragments if "signature" in f] == [signature(reasoning)]

    # An assistant turn sent back with its reasoning_content breaks nothing (and sends no thinking).
    history: Any = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "echo: hi", "reasoning_content": reasoning},
        {"role": "user", "content": "again"},
    ]
    again = oai.chat.completions.create(model="ant/claude-chat-back", messages=history)
    assert again.choices[0].message.content == "echo: again"
    assert upstream.sent("claude-chat-back")["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "echo: hi"}],
    }


def test_a_cached_answer_replays_whole_thinking_blocks(
    ant: anthropic.Anthropic, oai: openai.OpenAI, upstream: FakeUpstream
) -> None:
    params: Any = {"model": "ant/claude-cached", "tools": TOOLS, "messages": _first_turn()}
    first = ask(ant, True, **params, extra_headers=CACHE_ON)  # a streamed answer is stored
    calls = len([r for r in upstream.requests() if r["model"] == "claude-cached"])
    for stream in (False, True):
        again = ask(ant, stream, **params, extra_headers=CACHE_ON)
        assert [b.model_dump() for b in again.content] == [b.model_dump() for b in first.content]
    assert len([r for r in upstream.requests() if r["model"] == "claude-cached"]) == calls  # both hits
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.signature == signature(thinking.thinking)
