"""Routes let Claude take `json_schema` requests where the Anthropic adapter enforces the schema
(natively, or through a forced tool call), and skip it where it could only ask in an instruction."""

from __future__ import annotations

import dataclasses
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
SCHEMA: Any = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}
FORMAT = {"type": "json_schema", "json_schema": {"name": "Person", "schema": SCHEMA, "strict": True}}
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
THINKING = {"type": "enabled", "budget_tokens": 2048}


def info(provider: str, model: str) -> ModelInfo:
    found = load_catalog().get(provider, model)
    assert found is not None
    return found


HAIKU = info("anthropic", "claude-3-5-haiku")
# Claude Sonnet 4.5 as a config could declare it (the catalog may not know it yet).
SONNET_45 = dataclasses.replace(
    info("anthropic", "claude-sonnet-4"), upstream_id="claude-sonnet-4-5-20250929"
)


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "x", "messages": [{"role": "user", "content": "Alice"}], "response_format": FORMAT, **kw}


def skipped(model: ModelInfo, dialect: str, **kw: Any) -> bool:
    why = unmet(model, dialect, needs_of(body(**kw)))
    assert why is None or (why.param, why.reason) == ("response_format", "no json_schema output")
    return why is not None


def test_claude_with_tools_takes_a_json_schema_request_through_the_anthropic_adapter() -> None:
    assert not HAIKU.json_schema  # what the catalog says of Anthropic's API...
    assert not skipped(HAIKU, "anthropic")  # ...which the adapter's forced tool makes up for
    assert not skipped(HAIKU, "anthropic", reasoning_effort="high")  # the tool wins over thinking
    assert not skipped(SONNET_45, "anthropic")


@pytest.mark.parametrize(
    "kw",
    [{"tools": TOOLS}, {"thinking": THINKING}, {"satisfice_messages_extras": {"thinking": THINKING}}],
)
def test_where_only_an_instruction_is_possible_claude_is_skipped_unless_native(kw: dict[str, Any]) -> None:
    assert skipped(HAIKU, "anthropic", **kw)
    assert not skipped(SONNET_45, "anthropic", **kw)


def test_other_dialects_and_models_without_tools_are_judged_as_before() -> None:
    assert skipped(info("openrouter", "claude-3-5-haiku"), "openai")  # not through the Anthropic adapter
    assert skipped(info("anthropic", "claude-2.1"), "anthropic")  # no tools: no forced tool either
    assert not skipped(info("openai", "gpt-4o-mini"), "openai")


def planner(routes: dict[str, Any]) -> Planner:
    s = parse_settings({"routes": routes}, ENV)
    return Planner(ModelDirectory(s, load_catalog(), s.providers), s.reliability, random.Random(0))


def test_a_route_picks_the_cheaper_claude_for_a_json_schema_request() -> None:
    p = planner({"r": {"strategy": "cheapest", "candidates": ["gpt-4o", "claude-3-5-haiku"]}})
    assert p.plan("r", needs_of(body())).targets[0].dep.model == "claude-3-5-haiku"
    # With tools of its own, the request is asked of the candidate whose API takes the schema.
    assert p.plan("r", needs_of(body(tools=TOOLS))).targets[0].dep.model == "gpt-4o"
    only = planner({"r": {"strategy": "first", "candidates": ["claude-3-5-haiku"]}})
    with pytest.raises(InvalidRequest) as err:
        only.plan("r", needs_of(body(tools=TOOLS)))
    assert err.value.param == "response_format"
