"""Claude 4.6 to 5.5 behind the gateway: the fake Anthropic upstream refuses what Anthropic says
these models refuse (sampling parameters, thinking budgets, forced tools, prefills), so a request
that reaches it was fitted to the model; what cannot be fitted is the client's 400, or a route's
next candidate."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
ASK: Any = [{"role": "user", "content": "weather in Oslo?"}]


@pytest.fixture()
def gw(gateway: GatewayProcess) -> GatewayProcess:
    return gateway


def _calls(upstream: FakeUpstream, model: str) -> int:
    return sum(1 for r in upstream.requests() if r["model"] == model)


def test_an_openai_request_is_fitted_to_claude_sonnet_5(oai: openai.OpenAI, upstream: FakeUpstream) -> None:
    """Sampling parameters dropped, and a forced tool with thinking switched off at an effort
    Sonnet 5 takes that with: the fake answers 400 to any of them left as they were."""
    resp = oai.chat.completions.create(
        model="claude-sonnet-5",
        messages=ASK,
        temperature=0.3,
        top_p=0.5,
        reasoning_effort="xhigh",
        tools=[WEATHER],
        tool_choice="required",
    )
    calls = resp.choices[0].message.tool_calls
    assert calls is not None and calls[0].type == "function" and calls[0].function.name == "weather"
    sent = upstream.sent("claude-sonnet-5")
    assert not {"temperature", "top_p"} & set(sent)
    assert sent["thinking"] == {"type": "disabled"} and sent["output_config"] == {"effort": "high"}
    assert sent["max_tokens"] == 128000  # the catalog's maximum output for the model


def test_a_forced_tool_is_the_clients_400_on_a_model_that_refuses_it(
    oai: openai.OpenAI, upstream: FakeUpstream
) -> None:
    before = _calls(upstream, "claude-opus-5-5")
    with pytest.raises(openai.BadRequestError) as refused:
        oai.chat.completions.create(
            model="claude-opus-5-5", messages=ASK, tools=[WEATHER], tool_choice="required"
        )
    assert refused.value.param == "tool_choice"
    assert "forced tool" in refused.value.message
    assert _calls(upstream, "claude-opus-5-5") == before  # nothing was sent, nothing billed


def test_a_route_skips_the_model_that_refuses_a_forced_tool(oai: openai.OpenAI) -> None:
    forced = oai.chat.completions.with_raw_response.create(
        model="claude-5", messages=ASK, tools=[WEATHER], tool_choice="required"
    )
    assert forced.headers["x-satisfice-model"] == "claude-sonnet-5"
    free = oai.chat.completions.with_raw_response.create(model="claude-5", messages=ASK, tools=[WEATHER])
    assert free.headers["x-satisfice-model"] == "claude-opus-5-5"  # the route's first, as usual


def test_a_prefill_is_the_clients_400_from_claude_4_6_on(oai: openai.OpenAI) -> None:
    prefill: Any = [*ASK, {"role": "assistant", "content": "It is"}]
    with pytest.raises(openai.BadRequestError) as refused:
        oai.chat.completions.create(model="claude-opus-4-8", messages=prefill)
    assert refused.value.param == "messages"
    resp = oai.chat.completions.create(model="claude-3-5-haiku", messages=prefill)  # older: a prefill
    assert resp.choices[0].message.content


def test_a_messages_clients_effort_and_budget_reach_the_newer_models_in_their_form(
    ant: anthropic.Anthropic, upstream: FakeUpstream
) -> None:
    msg = ant.messages.create(
        model="claude-opus-4-8",
        max_tokens=300,
        messages=[{"role": "user", "content": "hi there"}],
        output_config={"effort": "medium"},
        extra_body={"temperature": 0.5},  # as a client on the older API version sends it
    )
    assert msg.content[0].type == "text"
    sent = upstream.sent("claude-opus-4-8")
    assert sent["output_config"] == {"effort": "medium"}
    assert "thinking" not in sent and "temperature" not in sent  # effort alone leaves thinking off
    budget = ant.messages.create(
        model="claude-opus-5-5",
        max_tokens=3000,
        messages=[{"role": "user", "content": "think about it"}],
        thinking={"type": "enabled", "budget_tokens": 2000},
    )
    assert budget.stop_reason == "end_turn"
    assert upstream.sent("claude-opus-5-5")["thinking"] == {"type": "adaptive"}


def test_claude_4_gets_the_temperature_when_a_client_sends_top_p_too(
    oai: openai.OpenAI, upstream: FakeUpstream
) -> None:
    """Claude 4 takes temperature or top_p, not both (the fake refuses both, as Anthropic does)."""
    resp = oai.chat.completions.create(model="claude-sonnet-4-5", messages=ASK, temperature=0.4, top_p=0.9)
    assert resp.choices[0].message.content
    sent = upstream.sent("claude-sonnet-4-5-20250929")
    assert sent["temperature"] == 0.4 and "top_p" not in sent
