"""Tool loops translated for Claude: thinking blocks an OpenAI-shaped client sends back, tool-call
ids from other providers, `allowed_tools`, and a tool result's error flag from /v1/messages."""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

import orjson
import pytest

from satisfice.api.anthropic_messages import messages_request_to_openai
from satisfice.errors import InvalidRequest
from satisfice.providers.anthropic import ANTHROPIC
from satisfice.providers.anthropic_request import MESSAGES_EXTRAS
from satisfice.providers.base import Deployment, Dialect
from satisfice.providers.gemini import GEMINI
from satisfice.providers.openai_compat import OPENAI
from satisfice.providers.thinking import THINKING_BLOCKS
from tests.fakes.behaviours import REDACTED_DATA, Answer, anthropic_message, anthropic_stream, signature
from tests.providers.test_anthropic_dialect import sse_events

DEP = Deployment("anthropic", "claude-sonnet-4", "claude-sonnet-4-20250514", "https://x/v1", "anthropic")
OAI = Deployment("openai", "gpt-4o-mini", "gpt-4o-mini", "https://o/v1", "openai")
GEM = Deployment("gemini", "gemini-2.0-flash", "gemini-2.0-flash", "https://g/v1beta", "gemini")
ANTHROPIC_ID = re.compile(r"[a-zA-Z0-9_-]+")
HI = {"role": "user", "content": "find x"}
LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
WEATHER = {"type": "function", "function": {"name": "weather"}}
SIGNED = {"type": "thinking", "thinking": "look it up", "signature": signature("look it up")}
REDACTED = {"type": "redacted_thinking", "data": REDACTED_DATA}


def sent(body: dict[str, Any], dep: Deployment = DEP) -> dict[str, Any]:
    """What a dialect sends upstream for `body` (which it must leave as it was)."""
    dialects: dict[str, Dialect] = {"anthropic": ANTHROPIC, "openai": OPENAI, "gemini": GEMINI}
    dialect = dialects[dep.dialect]
    frozen = copy.deepcopy(body)
    payload = orjson.loads(dialect.build_chat(dep, body, stream=False).body)
    assert body == frozen, "build_chat must not change the request body"
    assert isinstance(payload, dict)
    return payload


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4", "messages": list(messages), **extra}


def call(tool_id: str, name: str = "lookup") -> dict[str, Any]:
    return {"id": tool_id, "type": "function", "function": {"name": name, "arguments": '{"q": "x"}'}}


def hashed(tool_id: str) -> str:
    return "toolu_" + hashlib.sha256(tool_id.encode()).hexdigest()[:24]


# -- thinking blocks an OpenAI-shaped client sends back ------------------------------------------------


def test_an_answers_thinking_blocks_sent_back_keep_thinking_on_in_the_tool_loop() -> None:
    """The chat.completion message, as a client gets it, goes back as history: its blocks lead the
    assistant turn unchanged, and reasoning_effort keeps thinking on (Anthropic would refuse it
    without them)."""
    answer = Answer('{"echo": "find x"}', "lookup", {"echo": "find x"}, 5, 3)
    raw = anthropic_message(answer, "claude-sonnet-4", 1, True, thinking=[SIGNED, REDACTED])
    message = ANTHROPIC.parse_chat(DEP, orjson.dumps(raw))["choices"][0]["message"]
    assert message[THINKING_BLOCKS] == [SIGNED, REDACTED]
    tool_id = message["tool_calls"][0]["id"]
    result = {"role": "tool", "tool_call_id": tool_id, "content": "x is 4"}
    out = sent(chat(HI, message, result, reasoning_effort="high", tools=[LOOKUP]))
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert out["messages"][1]["content"] == [
        SIGNED,
        REDACTED,
        {"type": "tool_use", "id": tool_id, "name": "lookup", "input": {"echo": "find x"}},
    ]
    # Without them the turn cannot continue thinking: it stays off.
    bare = {k: v for k, v in message.items() if k != THINKING_BLOCKS}
    assert "thinking" not in sent(chat(HI, bare, result, reasoning_effort="high", tools=[LOOKUP]))


@pytest.mark.parametrize("dep", [OAI, GEM], ids=["openai", "gemini"])
def test_other_upstreams_never_receive_a_chat_clients_thinking_blocks(dep: Deployment) -> None:
    asked = {"role": "assistant", "content": None, "tool_calls": [call("call_1")]}
    result = {"role": "tool", "tool_call_id": "call_1", "content": "4"}
    with_blocks = chat(HI, {**asked, THINKING_BLOCKS: [SIGNED, REDACTED]}, result, tools=[LOOKUP])
    body = orjson.dumps(sent(with_blocks, dep))
    assert sent(with_blocks, dep) == sent(chat(HI, asked, result, tools=[LOOKUP]), dep)
    assert b"thinking_blocks" not in body and REDACTED_DATA.encode() not in body


def test_every_streamed_fragment_names_its_block_type() -> None:
    """A client reading fragments on their own (LiteLLM's way) needs each one's type."""
    answer = Answer("hi", None, {}, 5, 1)
    text = b"".join(anthropic_stream(answer, "c", 1, True, thinking=[SIGNED, REDACTED])).decode()
    translator = ANTHROPIC.stream_translator(DEP)
    chunks = [c for name, data in sse_events(text) for c in translator.feed(name, data)]
    fragments = [f for c in chunks for f in c["choices"][0]["delta"].get(THINKING_BLOCKS) or []]
    assert [f["type"] for f in fragments] == ["thinking"] * (len(fragments) - 1) + ["redacted_thinking"]
    assert [f["index"] for f in fragments] == [0] * (len(fragments) - 1) + [1]
    assert fragments[-2] == {"index": 0, "type": "thinking", "signature": SIGNED["signature"]}
    assert fragments[-1] == {"index": 1, **REDACTED}


# -- tool-call ids Anthropic would refuse ---------------------------------------------------------------


@pytest.mark.parametrize("foreign", ["functions.lookup:0", "", "call 1", "call/1#x", "ünïcode"])
def test_a_foreign_tool_call_id_is_rewritten_the_same_way_in_both_blocks(foreign: str) -> None:
    body = chat(
        HI,
        {"role": "assistant", "content": None, "tool_calls": [call(foreign), call("toolu_ok-1")]},
        {"role": "tool", "tool_call_id": foreign, "content": "4"},
        {"role": "tool", "tool_call_id": "toolu_ok-1", "content": "5"},
        tools=[LOOKUP],
    )
    out = sent(body)
    uses = [b["id"] for b in out["messages"][1]["content"]]
    results = [b["tool_use_id"] for b in out["messages"][2]["content"]]
    assert uses == results == [hashed(foreign), "toolu_ok-1"]  # a valid id is kept as it is
    assert all(ANTHROPIC_ID.fullmatch(i) for i in uses)
    assert sent(body) == out  # the same request is always sent the same way


def test_rewritten_ids_stay_apart_and_match_across_turns() -> None:
    first, second = "functions.lookup:0", "functions.lookup:1"
    body = chat(
        HI,
        {"role": "assistant", "content": None, "tool_calls": [call(first)]},
        {"role": "tool", "tool_call_id": first, "content": "4"},
        {"role": "assistant", "content": None, "tool_calls": [call(second)]},
        {"role": "tool", "tool_call_id": second, "content": "5"},
        tools=[LOOKUP],
    )
    turns = sent(body)["messages"]
    assert [turns[i]["content"][0]["id"] for i in (1, 3)] == [hashed(first), hashed(second)]
    assert [turns[i]["content"][0]["tool_use_id"] for i in (2, 4)] == [hashed(first), hashed(second)]


def test_a_rewritten_id_never_takes_an_id_the_request_already_uses() -> None:
    """Only a crafted id collides; it still gets an id of its own."""
    foreign = "functions.lookup:0"
    body = chat(
        HI,
        {"role": "assistant", "content": None, "tool_calls": [call(hashed(foreign)), call(foreign)]},
        {"role": "tool", "tool_call_id": hashed(foreign), "content": "4"},
        {"role": "tool", "tool_call_id": foreign, "content": "5"},
        tools=[LOOKUP],
    )
    out = sent(body)
    uses = [b["id"] for b in out["messages"][1]["content"]]
    assert uses == [hashed(foreign), hashed(foreign) + "_1"]
    assert [b["tool_use_id"] for b in out["messages"][2]["content"]] == uses


# -- allowed_tools ------------------------------------------------------------------------------------


def allowed(mode: str, *names: str) -> dict[str, Any]:
    tools = [{"type": "function", "function": {"name": n}} for n in names]
    return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": tools}}


@pytest.mark.parametrize(("mode", "choice"), [("auto", "auto"), ("required", "any")])
def test_allowed_tools_sends_only_the_allowed_tools(mode: str, choice: str) -> None:
    out = sent(chat(HI, tools=[LOOKUP, WEATHER], tool_choice=allowed(mode, "weather", "unknown")))
    assert [t["name"] for t in out["tools"]] == ["weather"]
    assert out["tool_choice"] == {"type": choice}
    serial = sent(
        chat(HI, tools=[LOOKUP, WEATHER], tool_choice=allowed(mode, "weather"), parallel_tool_calls=False)
    )
    assert serial["tool_choice"] == {"type": choice, "disable_parallel_tool_use": True}


def test_allowed_tools_that_allow_nothing() -> None:
    """Mode auto: no call may be made, and the tools stay (a history's tool calls need them)."""
    out = sent(chat(HI, tools=[LOOKUP, WEATHER], tool_choice=allowed("auto")))
    assert [t["name"] for t in out["tools"]] == ["lookup", "weather"] and out["tool_choice"] == {
        "type": "none"
    }
    with pytest.raises(InvalidRequest) as err:
        sent(chat(HI, tools=[LOOKUP], tool_choice=allowed("required", "weather")))
    assert err.value.param == "tool_choice"


@pytest.mark.parametrize(
    "choice",
    [
        {"type": "allowed_tools"},
        {"type": "allowed_tools", "allowed_tools": {"mode": "any", "tools": []}},
        {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": "lookup"}},
    ],
)
def test_a_malformed_allowed_tools_is_an_invalid_request(choice: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as err:
        sent(chat(HI, tools=[LOOKUP], tool_choice=choice))
    assert err.value.param == "tool_choice"


@pytest.mark.parametrize(("mode", "thinks"), [("auto", True), ("required", False)])
def test_allowed_tools_required_forces_a_call_so_thinking_stays_off(mode: str, thinks: bool) -> None:
    out = sent(chat(HI, tools=[LOOKUP], tool_choice=allowed(mode, "lookup"), reasoning_effort="low"))
    assert ("thinking" in out) is thinks


# -- a tool result's error flag from /v1/messages ------------------------------------------------------


def messages_body(*results: dict[str, Any]) -> dict[str, Any]:
    uses = [{"type": "tool_use", "id": r["tool_use_id"], "name": "lookup", "input": {}} for r in results]
    return messages_request_to_openai(
        {
            "model": "claude",
            "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "find x"},
                {"role": "assistant", "content": uses},
                {"role": "user", "content": list(results)},
            ],
            "tools": [{"name": "lookup", "input_schema": {"type": "object", "properties": {}}}],
        }
    )


def test_is_error_reaches_anthropic_as_the_flag() -> None:
    failed = {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "content": "timeout"}
    fine = {"type": "tool_result", "tool_use_id": "toolu_2", "content": "4"}
    body = messages_body(failed, fine)
    assert sent(body)["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Error: timeout", "is_error": True},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "4"},
    ]


@pytest.mark.parametrize("dep", [OAI, GEM], ids=["openai", "gemini"])
def test_other_upstreams_get_the_error_as_text_only(dep: Deployment) -> None:
    failed = {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "content": "timeout"}
    body = messages_body(failed)
    assert body[MESSAGES_EXTRAS] == {"tool_errors": ["toolu_1"]}
    out = orjson.dumps(sent(body, dep))
    assert b"Error: timeout" in out and b"tool_errors" not in out and b"is_error" not in out


def test_the_error_flag_follows_a_rewritten_id() -> None:
    foreign = "functions.lookup:0"
    body = chat(
        HI,
        {"role": "assistant", "content": None, "tool_calls": [call(foreign)]},
        {"role": "tool", "tool_call_id": foreign, "content": "Error: boom"},
        tools=[LOOKUP],
        **{MESSAGES_EXTRAS: {"tool_errors": [foreign]}},
    )
    result = sent(body)["messages"][2]["content"][0]
    assert result == {
        "type": "tool_result",
        "tool_use_id": hashed(foreign),
        "content": "Error: boom",
        "is_error": True,
    }
