"""What each Claude model takes (`claude_models.py`), and how the Anthropic dialect fits a request
to it: Claude 4.6 to 5.5 refuse shapes the older models took (sampling parameters, budgeted
thinking, forced tools, prefills), per Anthropic's model pages and migration guides."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import orjson
import pytest

from satisfice.api.anthropic_messages import messages_request_to_openai
from satisfice.errors import InvalidRequest
from satisfice.providers.anthropic import ANTHROPIC
from satisfice.providers.anthropic_request import MESSAGES_EXTRAS, SCHEMA_TOOL, json_schema_mode
from satisfice.providers.base import Deployment
from satisfice.providers.claude_models import Claude, claude

DEP = Deployment(
    provider="anthropic",
    model="claude",
    upstream_model="claude-opus-5",
    base_url="https://api.anthropic.com/v1",
    dialect="anthropic",
    api_key="sk-ant-test",
)
HI = {"role": "user", "content": "hi"}
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
OPEN_SCHEMA = {  # an object open to other keys: structured outputs cannot carry it
    "type": "json_schema",
    "json_schema": {"name": "answer", "schema": {"type": "object", "additionalProperties": True}},
}
CLOSED_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def build(model: str, **body: Any) -> dict[str, Any]:
    request = {"model": "claude", "messages": [HI], **body}
    frozen = copy.deepcopy(request)
    payload = orjson.loads(
        ANTHROPIC.build_chat(dataclasses.replace(DEP, upstream_model=model), request, stream=False).body
    )
    assert request == frozen, "build_chat must not mutate the request body"
    assert isinstance(payload, dict)
    return payload


@pytest.mark.parametrize(
    ("model", "tier", "version"),
    [
        ("claude-opus-5-5", "opus", (5, 5)),
        ("claude-opus-5", "opus", (5, 0)),
        ("claude-fable-5-1", "fable", (5, 1)),
        ("claude-haiku-5-5", "haiku", (5, 5)),
        ("claude-opus-4-5-20251101", "opus", (4, 5)),
        ("claude-opus-4-20250514", "opus", (4, 0)),  # a date where the minor would be
        ("claude-sonnet-4-0", "sonnet", (4, 0)),
        ("global.anthropic.claude-opus-4-8", "opus", (4, 8)),  # a Bedrock id
        ("claude-3-7-sonnet-20250219", "sonnet", (3, 7)),
        ("claude-3-5-haiku-latest", "haiku", (3, 5)),
        ("claude-3-haiku-20240307", "haiku", (3, 0)),
        ("anthropic/claude-3.5-sonnet", "sonnet", (3, 5)),
    ],
)
def test_model_ids_give_tier_and_version(model: str, tier: str, version: tuple[int, int]) -> None:
    assert claude(model) == Claude(tier, version)


@pytest.mark.parametrize("model", ["claude-2.1", "claude-instant-1.2", "gpt-4o", "my-claude-proxy"])
def test_other_ids_are_no_known_claude(model: str) -> None:
    assert claude(model) is None


# Per model: budgeted thinking, adaptive only, thinks by default, always thinks, fixed sampling,
# refuses prefill, refuses forced tools, native structured output (Anthropic's pages, 2026-11).
TABLE = {
    "claude-3-7-sonnet-20250219": (1, 0, 0, 0, 0, 0, 0, 0),
    "claude-3-5-sonnet-20241022": (0, 0, 0, 0, 0, 0, 0, 0),
    "claude-sonnet-4-5-20250929": (1, 0, 0, 0, 0, 0, 0, 1),
    "claude-haiku-4-5-20251001": (1, 0, 0, 0, 0, 0, 0, 1),
    "claude-sonnet-4-6": (1, 0, 0, 0, 0, 1, 0, 1),
    "claude-opus-4-7": (0, 1, 0, 0, 1, 1, 0, 1),
    "claude-opus-4-8": (0, 1, 0, 0, 1, 1, 0, 1),
    "claude-sonnet-5": (0, 1, 1, 0, 1, 1, 0, 1),
    "claude-opus-5": (0, 1, 1, 0, 1, 1, 0, 1),
    "claude-fable-5": (0, 1, 1, 1, 1, 1, 0, 1),
    "claude-fable-5-1": (0, 1, 1, 1, 1, 1, 1, 1),
    "claude-opus-5-5": (0, 1, 1, 1, 1, 1, 1, 1),
    "claude-sonnet-5-5": (0, 1, 1, 1, 1, 1, 1, 1),
    "claude-haiku-5-5": (0, 1, 1, 0, 1, 1, 0, 1),
}


@pytest.mark.parametrize("model", sorted(TABLE))
def test_what_each_model_takes(model: str) -> None:
    spec = claude(model)
    assert spec is not None
    got = (
        spec.budgeted_thinking, spec.adaptive_only, spec.thinks_by_default, spec.always_thinks,
        spec.fixed_sampling, spec.refuses_prefill, spec.refuses_forced_tools, spec.native_structured_output,
    )  # fmt: skip
    assert got == tuple(bool(x) for x in TABLE[model])


# -- sampling ------------------------------------------------------------------------------------


def test_sampling_parameters_are_dropped_from_opus_4_7_on() -> None:
    extras = {MESSAGES_EXTRAS: {"top_k": 5}}
    for model in ("claude-opus-4-7", "claude-sonnet-5", "claude-opus-5-5"):
        out = build(model, temperature=0.2, top_p=0.9, **extras)
        assert not {"temperature", "top_p", "top_k"} & set(out), model
    # Claude 4 before 4.7 takes temperature or top_p, not both: the temperature is kept.
    older = build("claude-sonnet-4-5-20250929", temperature=0.2, top_p=0.9, **extras)
    assert (older["temperature"], older["top_k"]) == (0.2, 5) and "top_p" not in older
    assert build("claude-sonnet-4-5-20250929", top_p=0.9)["top_p"] == 0.9
    claude_3 = build("claude-3-5-sonnet-20241022", temperature=0.2, top_p=0.9)
    assert (claude_3["temperature"], claude_3["top_p"]) == (0.2, 0.9)


# -- reasoning_effort ----------------------------------------------------------------------------


def test_reasoning_effort_on_opus_4_7_switches_on_adaptive_thinking_at_that_effort() -> None:
    out = build("claude-opus-4-7", reasoning_effort="xhigh", temperature=0.5)
    assert out["thinking"] == {"type": "adaptive"}
    assert out["output_config"] == {"effort": "xhigh"}
    assert out["max_tokens"] == 4096 and "temperature" not in out  # no budget arithmetic
    assert "thinking" not in build("claude-opus-4-7", reasoning_effort="none")
    assert "output_config" not in build("claude-opus-4-7", reasoning_effort="minimal")


def test_reasoning_effort_on_claude_5_sets_the_effort_of_its_default_thinking() -> None:
    out = build("claude-opus-5", reasoning_effort="low")
    assert out["output_config"] == {"effort": "low"} and "thinking" not in out
    # "none": switched off where the model can stop, the lowest effort where it cannot.
    assert build("claude-opus-5", reasoning_effort="none")["thinking"] == {"type": "disabled"}
    always = build("claude-opus-5-5", reasoning_effort="none")
    assert "thinking" not in always and always["output_config"] == {"effort": "low"}


def test_a_forced_tool_switches_default_thinking_off_at_an_effort_it_is_taken_at() -> None:
    out = build("claude-opus-5", tools=[WEATHER], tool_choice="required", reasoning_effort="max")
    assert out["tool_choice"] == {"type": "any"}
    assert out["thinking"] == {"type": "disabled"}
    assert out["output_config"] == {"effort": "high"}  # Opus 5 refuses "disabled" above high
    # Thinking off by default (Opus 4.7): a forced tool keeps it off, the effort still applies.
    older = build("claude-opus-4-7", tools=[WEATHER], tool_choice="required", reasoning_effort="high")
    assert "thinking" not in older and older["output_config"] == {"effort": "high"}


def test_a_tool_loop_another_model_called_switches_default_thinking_off() -> None:
    """GPT made the call (a route that mixes providers), Claude 5 gets the next turn: with its default
    thinking on, Anthropic refuses a tool loop whose assistant turn has no thinking block."""
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    loop = [HI, {"role": "assistant", "content": None, "tool_calls": [call]}]
    loop.append({"role": "tool", "tool_call_id": "call_1", "content": "sunny"})
    out = build("claude-opus-5", messages=loop, tools=[WEATHER], reasoning_effort="max")
    assert out["thinking"] == {"type": "disabled"} and out["output_config"] == {"effort": "high"}
    assert "thinking" not in build("claude-opus-5", messages=[HI], tools=[WEATHER])  # no loop: its default
    assert "thinking" not in build("claude-opus-4-7", messages=loop, tools=[WEATHER])  # off by default


# -- explicit thinking ---------------------------------------------------------------------------


def test_an_explicit_budget_becomes_adaptive_where_only_that_is_taken() -> None:
    asked = {"type": "enabled", "budget_tokens": 2048, "display": "summarized"}
    assert build("claude-opus-5-5", thinking=asked)["thinking"] == {
        "type": "adaptive",
        "display": "summarized",
    }
    assert build("claude-sonnet-4-5-20250929", thinking=asked)["thinking"] == asked


def test_disabled_thinking_is_dropped_only_where_the_model_always_thinks() -> None:
    off = {"type": "disabled"}
    assert "thinking" not in build("claude-opus-5-5", thinking=off)
    assert build("claude-opus-5", thinking=off)["thinking"] == off


def test_a_messages_clients_effort_is_sent_as_it_is_where_effort_is_taken() -> None:
    body = messages_request_to_openai(
        {"model": "claude", "max_tokens": 100, "messages": [HI], "output_config": {"effort": "medium"}}
    )
    assert body["reasoning_effort"] == "medium"  # the other dialects' nearest form
    out = build("claude-opus-4-8", **{k: v for k, v in body.items() if k not in ("model", "messages")})
    assert out["output_config"] == {"effort": "medium"} and "thinking" not in out  # effort alone
    old = build(
        "claude-sonnet-4-5-20250929", **{k: v for k, v in body.items() if k not in ("model", "messages")}
    )
    assert "output_config" not in old and "thinking" not in old
    with pytest.raises(InvalidRequest) as bad:
        messages_request_to_openai(
            {"model": "c", "max_tokens": 1, "messages": [HI], "output_config": {"effort": "huge"}}
        )
    assert bad.value.param == "output_config.effort"


# -- what a model refuses outright ---------------------------------------------------------------


@pytest.mark.parametrize(
    "choice",
    ["required", {"type": "function", "function": {"name": "weather"}}, {
        "type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [WEATHER]},
    }],
)  # fmt: skip
def test_a_forced_tool_is_refused_for_models_that_refuse_it(choice: Any) -> None:
    with pytest.raises(InvalidRequest, match="forced tool") as refused:
        build("claude-opus-5-5", tools=[WEATHER], tool_choice=choice)
    assert refused.value.param == "tool_choice"
    assert build("claude-opus-5-5", tools=[WEATHER], tool_choice="auto")["tool_choice"] == {"type": "auto"}
    assert "tool_choice" in build("claude-haiku-5-5", tools=[WEATHER], tool_choice=choice)


def test_a_prefill_is_refused_from_claude_4_6_on() -> None:
    prefill = [HI, {"role": "assistant", "content": "The answer is"}]
    with pytest.raises(InvalidRequest, match="ends with an assistant message") as refused:
        build("claude-sonnet-4-6", messages=prefill)
    assert refused.value.param == "messages"
    assert build("claude-sonnet-4-5-20250929", messages=prefill)["messages"][-1]["role"] == "assistant"


def test_json_schema_reaches_claude_5_natively_or_by_instruction_where_no_tool_can_be_forced() -> None:
    assert json_schema_mode({"response_format": CLOSED_SCHEMA}, "claude-opus-5-5") == "native"
    assert "output_config" in build("claude-opus-5-5", response_format=CLOSED_SCHEMA)
    # A schema structured outputs cannot carry: a forced tool where the model takes one...
    assert json_schema_mode({"response_format": OPEN_SCHEMA}, "claude-opus-5") == "tool"
    forced = build("claude-opus-5", response_format=OPEN_SCHEMA)
    assert forced["tool_choice"] == {"type": "tool", "name": SCHEMA_TOOL}
    assert forced["thinking"] == {"type": "disabled"}  # Anthropic refuses a forced tool with thinking
    # ...else an instruction, which routes do not count as enforcing the schema.
    assert json_schema_mode({"response_format": OPEN_SCHEMA}, "claude-opus-5-5") == "instruction"
    assert "tool_choice" not in build("claude-opus-5-5", response_format=OPEN_SCHEMA)


def test_api_version_2026_10_21_takes_no_sampling_parameters_on_any_model() -> None:
    """A deployment configured for the newer API version (an option, or its header) sends none."""
    body = {"model": "claude", "messages": [HI], "temperature": 0.2, "top_p": 0.9}
    older = dataclasses.replace(DEP, upstream_model="claude-sonnet-4-5-20250929")
    assert orjson.loads(ANTHROPIC.build_chat(older, body, stream=False).body)["temperature"] == 0.2
    for dep in (
        dataclasses.replace(older, options=(("anthropic_version", "2026-10-21"),)),
        dataclasses.replace(older, headers=(("anthropic-version", "2026-10-21"),)),
    ):
        request = ANTHROPIC.build_chat(dep, body, stream=False)
        assert request.headers["anthropic-version"] == "2026-10-21"
        assert not {"temperature", "top_p"} & set(orjson.loads(request.body))


def test_the_prefill_check_reads_the_turns_anthropic_would_get() -> None:
    """A system message after the assistant's is hoisted (the assistant's turn is still last); an
    empty assistant message is dropped (the user's turn is last)."""
    with pytest.raises(InvalidRequest, match="ends with an assistant message"):
        build(
            "claude-opus-5-5",
            messages=[HI, {"role": "assistant", "content": "{"}, {"role": "system", "content": "x"}],
        )
    out = build("claude-opus-5-5", messages=[HI, {"role": "assistant", "content": ""}])
    assert out["messages"][-1]["role"] == "user"


def test_a_messages_effort_of_xhigh_reaches_claude_4_6_as_max() -> None:
    """4.6 takes low, medium, high and max: xhigh, above high, is sent as max."""
    body = messages_request_to_openai(
        {"model": "claude", "max_tokens": 100, "messages": [HI], "output_config": {"effort": "xhigh"}}
    )
    fields = {k: v for k, v in body.items() if k not in ("model", "messages")}
    assert build("claude-opus-4-6", **fields)["output_config"] == {"effort": "max"}
    assert build("claude-opus-4-7", **fields)["output_config"] == {"effort": "xhigh"}
