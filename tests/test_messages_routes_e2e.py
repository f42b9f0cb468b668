"""/v1/messages through routing strategies (cascades, races, failover), with the official
`anthropic` SDK as the client and the fake upstream on loopback (audit, session 16)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.test_cascade import ladder, model

# slowafter-1-3000: the first call answers at once, later ones take 3 s (past the routes' timeout)
LOOP_CASCADE, LOOP_FIRST = "slowafter-1-3000+loopcascade", "slowafter-1-3000+loopfirst"
QUICK = {"timeout_s": 0.5, "deadline_s": 3.0, "retries": 0}


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = [model(LOOP_CASCADE, 0.01, 0.6)]
    config["routes"] = {
        "loop-cascade": {**ladder([LOOP_CASCADE, "claude-3-7-sonnet"]), "reliability": QUICK},
        "loop-first": {
            "strategy": "first",
            "candidates": [f"openai/{LOOP_FIRST}", "claude-3-7-sonnet"],
            "reliability": QUICK,
        },
        "overloaded": {"candidates": ["openai/error529+ov1", "openai/error503+ov2"], "reliability": QUICK},
    }
    tmp = tmp_path_factory.mktemp("gw-messages-routes")
    with GatewayProcess(tmp, config, env={"FAKE_OPENAI_KEY": "k"}) as g:
        yield g


@pytest.mark.parametrize("route", ["loop-cascade", "loop-first"])
def test_a_tool_loop_with_thinking_goes_on_when_the_route_moves_from_gpt_to_claude(
    ant: anthropic.Anthropic, route: str
) -> None:
    """GPT made the tool call (its turn has no thinking block); the next turn escalates or fails
    over to Claude, which refuses thinking in a tool loop whose assistant turn does not start with
    its thinking. The client had asked for thinking and got a 400 it could not act on."""
    tool: Any = {"name": "weather", "input_schema": {"type": "object", "properties": {}}}
    ask: Any = {"model": route, "max_tokens": 3000, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    question: Any = [{"role": "user", "content": "weather in Paris"}]
    first = ant.messages.create(**ask, messages=question, tools=[tool])
    use = next(b for b in first.content if b.type == "tool_use")
    assert first.model.startswith("slowafter-1-3000")  # GPT's call: no thinking block
    result = {"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}
    loop = [*question, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}]
    second = ant.messages.create(**ask, messages=loop, tools=[tool])
    assert second.model == "claude-3-7-sonnet"
    assert [b.type for b in second.content] == ["text"] and second.stop_reason == "end_turn"


@pytest.mark.parametrize("stream", [False, True])
def test_a_route_whose_candidates_are_all_overloaded_is_a_529_in_the_ledger_too(
    gw: GatewayProcess, ant: anthropic.Anthropic, stream: bool
) -> None:
    """The client is told 529 overloaded_error, as Anthropic tells it; the ledger said 502."""
    with pytest.raises(anthropic.APIStatusError) as err:
        ant.messages.create(
            model="overloaded", max_tokens=50, messages=[{"role": "user", "content": "hi"}], stream=stream
        )
    assert err.value.status_code == 529
    assert err.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    row = gw.row(err.value.response.headers["x-satisfice-request-id"])
    assert (row["status"], row["outcome"]) == (529, "error")
