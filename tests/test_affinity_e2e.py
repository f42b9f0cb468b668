"""Conversation affinity through the real gateway: a tool loop's next step goes to the model that
called the tool, even when the router alone would now pick another (here: a stricter knob)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import cheap_tool_model, standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

CHEAP = "toolcheap"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = [cheap_tool_model(CHEAP)]

    def route(**kw: Any) -> dict[str, Any]:
        return {
            "strategy": "auto",
            "router": "prior",
            "knob": "quality=0",
            "candidates": [CHEAP, "gpt-4o"],
            **kw,
        }

    config["routes"] = {
        "agent": route(),
        "agent-free": route(affinity="none"),
        "chat": route(affinity="conversation"),
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-affinity"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, timeout=30)


def ask(gw: GatewayProcess, model: str, messages: list[Any], **kw: Any) -> tuple[Any, dict[str, str]]:
    raw = client(gw).chat.completions.with_raw_response.create(model=model, messages=messages, **kw)
    return raw.parse().choices[0].message, dict(raw.headers)


def test_a_tool_loop_stays_with_the_model_that_called_the_tool(gateway: GatewayProcess) -> None:
    for route, kept in (("agent", True), ("agent-free", False)):
        ask_weather = [{"role": "user", "content": f"What is the weather in Paris? ({route})"}]
        call, headers = ask(gateway, route, ask_weather, tools=[WEATHER])  # quality=0: the cheapest
        assert headers["x-satisfice-model"] == CHEAP and call.tool_calls
        result = {"role": "tool", "tool_call_id": call.tool_calls[0].id, "content": "18 C and sunny"}
        loop = [*ask_weather, call, result]  # the SDK's own message object, sent back as it is
        # quality=1: alone, the router would now pick the best predicted model
        answer, headers = ask(gateway, f"{route}:quality=1", loop, tools=[WEATHER])
        assert answer.content
        if kept:
            assert headers["x-satisfice-model"] == CHEAP
            assert "kept: it answered this tool loop's previous turn" in headers["x-satisfice-reason"]
        else:
            assert headers["x-satisfice-model"] == "gpt-4o"
        # A new user turn is routed afresh (affinity: tools keeps tool loops only).
        again = [*loop, answer, {"role": "user", "content": "And in Rome?"}]
        assert ask(gateway, f"{route}:quality=1", again, tools=[WEATHER])[1]["x-satisfice-model"] == "gpt-4o"


def test_the_kept_model_yields_when_it_cannot_take_the_next_step(gateway: GatewayProcess) -> None:
    ask_weather = [{"role": "user", "content": "What is the weather in Oslo?"}]
    call, _ = ask(gateway, "agent", ask_weather, tools=[WEATHER])
    result = {"role": "tool", "tool_call_id": call.tool_calls[0].id, "content": "2 C"}
    # max_tokens beyond the cheap model's 1,000-token output cap: it cannot take this step
    _, headers = ask(gateway, "agent", [*ask_weather, call, result], tools=[WEATHER], max_tokens=4000)
    assert headers["x-satisfice-model"] == "gpt-4o"


def test_conversation_affinity_keeps_every_follow_up_turn(gateway: GatewayProcess) -> None:
    first = [{"role": "user", "content": "Tell me about the Loire valley."}]
    answer, headers = ask(gateway, "chat", first)
    assert headers["x-satisfice-model"] == CHEAP
    follow = [*first, answer, {"role": "user", "content": "Which castles should I visit?"}]
    _, headers = ask(gateway, "chat:quality=1", follow, stream=False)
    assert headers["x-satisfice-model"] == CHEAP
    assert "kept: it answered this conversation's previous turn" in headers["x-satisfice-reason"]


def test_a_streamed_turn_and_an_anthropic_client_keep_it_too(gateway: GatewayProcess) -> None:
    ask_weather: list[Any] = [{"role": "user", "content": "What is the weather in Lyon?"}]
    stream = client(gateway).chat.completions.create(
        model="agent", messages=ask_weather, tools=[WEATHER], stream=True
    )
    calls: dict[int, dict[str, Any]] = {}
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            got = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            got["id"] += tc.id or ""
            got["name"] += (tc.function.name or "") if tc.function else ""
            got["arguments"] += (tc.function.arguments or "") if tc.function else ""
    made = calls[0]
    echoed = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": made["id"],
                "type": "function",
                "function": {"name": made["name"], "arguments": made["arguments"]},
            }
        ],
    }
    result = {"role": "tool", "tool_call_id": made["id"], "content": "20 C"}
    _, headers = ask(gateway, "agent:quality=1", [*ask_weather, echoed, result], tools=[WEATHER])
    assert headers["x-satisfice-model"] == CHEAP

    claude = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    tool = {"name": "weather", "input_schema": WEATHER["function"]["parameters"]}
    question: list[Any] = [{"role": "user", "content": "What is the weather in Nice?"}]
    first = claude.messages.create(model="agent", max_tokens=300, messages=question, tools=[tool])  # type: ignore[list-item]
    use = next(b for b in first.content if b.type == "tool_use")
    loop = [
        *question,
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "22 C"}]},
    ]
    raw = claude.messages.with_raw_response.create(
        model="agent:quality=1",
        max_tokens=300,
        messages=loop,
        tools=[tool],  # type: ignore[list-item]
    )
    raw.parse()
    assert raw.headers["x-satisfice-model"] == CHEAP
