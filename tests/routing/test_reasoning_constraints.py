"""Routes skip OpenAI reasoning models for what the adapter cannot drop (logprobs, logit_bias)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from satisfice.catalog import ModelInfo, load_catalog
from satisfice.config import parse_settings
from satisfice.errors import InvalidRequest
from satisfice.routing.constraints import needs_of, unmet
from satisfice.routing.directory import ModelDirectory
from satisfice.routing.planner import Planner

ENV = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}


def info(provider: str, model: str) -> ModelInfo:
    found = load_catalog().get(provider, model)
    assert found is not None
    return found


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "x", "messages": [{"role": "user", "content": "hello"}], **kw}


def planner(routes: dict[str, Any]) -> Planner:
    s = parse_settings({"routes": routes}, ENV)
    return Planner(ModelDirectory(s, load_catalog(), s.providers), s.reliability, random.Random(0))


@pytest.mark.parametrize(
    ("kw", "param"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "logprobs"),
        ({"logit_bias": {"1734": -100}}, "logit_bias"),
    ],
)
def test_asks_the_adapter_cannot_drop_skip_openai_reasoning_models(kw: dict[str, Any], param: str) -> None:
    needs = needs_of(body(**kw))
    for provider, model, dialect in (("openai", "o3-mini", "openai"), ("azure", "o1", "azure")):
        why = unmet(info(provider, model), dialect, needs)
        assert why is not None and why.param == param and "reasoning" in why.reason
    # Not a reasoning model, or not OpenAI's own API (OpenRouter maps parameters itself), or a
    # dialect that does not send the field as it is: taken as before.
    assert unmet(info("openai", "gpt-4o-mini"), "openai", needs) is None
    assert unmet(info("openrouter", "o3-mini"), "openai", needs) is None
    assert unmet(info("openai", "o3-mini"), "simulated", needs) is None


@pytest.mark.parametrize(
    "kw",
    [
        {"max_tokens": 300, "temperature": 0, "top_p": 0.5, "presence_penalty": 1, "frequency_penalty": 1},
        {"logprobs": False, "top_logprobs": None, "logit_bias": {}},
        {"n": 3},
    ],
)
def test_what_the_adapter_drops_or_carries_does_not_skip_them(kw: dict[str, Any]) -> None:
    assert unmet(info("openai", "o3-mini"), "openai", needs_of(body(**kw))) is None


def test_route_falls_to_the_next_candidate_and_an_all_reasoning_route_names_the_field() -> None:
    p = planner(
        {
            "r": {"strategy": "first", "candidates": ["o3-mini", "gpt-4o-mini"]},
            "only": {"strategy": "first", "candidates": ["o3-mini", "o4-mini"]},
        }
    )
    plain = p.plan("r", needs_of(body(max_tokens=50, temperature=0)))
    assert [t.dep.model for t in plain.targets] == ["o3-mini", "gpt-4o-mini"]
    plan = p.plan("r", needs_of(body(logprobs=True, temperature=0)))
    assert [t.dep.model for t in plan.targets] == ["gpt-4o-mini"]
    assert "o3-mini: OpenAI reasoning models refuse logprobs" in plan.reason
    with pytest.raises(InvalidRequest) as err:
        p.plan("only", needs_of(body(logit_bias={"1734": -100})))
    assert err.value.param == "logit_bias"


@pytest.mark.parametrize(
    ("provider", "model"), [("anthropic", "claude-3-5-haiku"), ("gemini", "gemini-2.0-flash")]
)
def test_translated_providers_cannot_carry_a_logit_bias(provider: str, model: str) -> None:
    """Claude and Gemini answered without the bias (a ban, a forced label set) as if it held."""
    gap = unmet(info(provider, model), provider, needs_of(body(logit_bias={"1734": -100})))
    assert gap is not None and gap.param == "logit_bias"
    assert unmet(info(provider, model), provider, needs_of(body(logit_bias={}))) is None  # asks for nothing


def test_gemini_cannot_be_held_to_one_tool_call_a_turn() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    one = needs_of(body(tools=tools, parallel_tool_calls=False))
    gap = unmet(info("gemini", "gemini-2.0-flash"), "gemini", one)
    assert gap is not None and gap.param == "parallel_tool_calls"
    assert unmet(info("anthropic", "claude-3-5-haiku"), "anthropic", one) is None  # Claude can
    assert unmet(info("gemini", "gemini-2.0-flash"), "gemini", needs_of(body(tools=tools))) is None
