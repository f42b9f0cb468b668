"""A model the catalog says calls no tools, asked with tools it must not call (tool_choice "none",
or legacy functions with function_call "none"): a route may send it such a request, since it needs
no tool call, and the request goes without them; the fake refuses a request holding tools, as an
Ollama model without function calling does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

NO_TOOLS = "notools+ntcheap"
TOOLS: Any = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
ASK: Any = [{"role": "user", "content": "say hi"}]


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = [
        {
            "id": NO_TOOLS,
            "provider": "openai",
            "input_per_mtok": 0.01,
            "output_per_mtok": 0.02,
            "context_window": 100000,
            "capabilities": {"tools": False},
        }
    ]
    config["routes"] = {"nt": {"strategy": "cheapest", "candidates": [NO_TOOLS, "gpt-4o"]}}
    with GatewayProcess(tmp_path_factory.mktemp("gw-notools"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def _sent(upstream: FakeUpstream, model: str) -> dict[str, Any]:
    sent: dict[str, Any] = [r["body"] for r in upstream.requests() if r["model"] == model][-1]
    return sent


@pytest.mark.parametrize("model", ["nt", NO_TOOLS])
def test_tools_not_to_be_called_are_left_out_for_a_model_without_tools(
    gw: GatewayProcess, upstream: FakeUpstream, model: str
) -> None:
    oai = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    raw = oai.chat.completions.with_raw_response.create(
        model=model, messages=ASK, tools=TOOLS, tool_choice="none", parallel_tool_calls=True
    )
    assert raw.headers["x-satisfice-model"] == NO_TOOLS
    assert raw.parse().choices[0].message.content == "echo: say hi"
    assert {"tools", "tool_choice", "parallel_tool_calls"}.isdisjoint(_sent(upstream, NO_TOOLS))
    legacy = oai.chat.completions.create(
        model=model, messages=ASK, functions=[{"name": "lookup", "parameters": {}}], function_call="none"
    )
    assert legacy.choices[0].message.content == "echo: say hi"
    assert {"functions", "function_call"}.isdisjoint(_sent(upstream, NO_TOOLS))


def test_tools_to_call_still_go_to_a_model_that_calls_them(
    gw: GatewayProcess, upstream: FakeUpstream
) -> None:
    oai = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    raw = oai.chat.completions.with_raw_response.create(model="nt", messages=ASK, tools=TOOLS)
    assert raw.headers["x-satisfice-model"] == "gpt-4o"
    assert raw.parse().choices[0].message.tool_calls
    assert _sent(upstream, "gpt-4o")["tools"] == TOOLS
