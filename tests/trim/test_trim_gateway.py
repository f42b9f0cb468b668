"""Prompt trimming through the real gateway: what the fake upstream receives, the ledger's token
counts, and the error when even what must stay does not fit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

SYSTEM = "You are the support assistant of Acme. Answer in one short paragraph."


@pytest.fixture(scope="module")
def trimming(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["routes"]["lean"] = {
        "strategy": "first",
        "candidates": ["gpt-4o-mini"],
        "trim": {
            "enabled": True,
            "level": "drop_oldest",
            "budget_tokens": 400,
            "tool_output_max_tokens": 100,
        },
    }
    config["routes"]["whole"] = {"strategy": "first", "candidates": ["gpt-4o-mini"]}
    config["routes"]["cut-only"] = {  # a level that drops no turn
        "strategy": "first",
        "candidates": ["gpt-4o-mini"],
        "trim": {"enabled": True, "level": "tool_outputs", "budget_tokens": 400},
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-trim"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def conversation(marker: str) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for i in range(12):
        msgs.append({"role": "user", "content": f"Earlier question {i}: " + "tell me about the weather " * 8})
        msgs.append({"role": "assistant", "content": f"Earlier answer {i}: " + "it was sunny and mild " * 8})
    msgs.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": "{}"}}
            ],
        }
    )
    msgs.append({"role": "tool", "tool_call_id": "call_1", "content": "order line; " * 600})
    msgs.append({"role": "user", "content": f"So where is my order? {marker}"})
    return msgs


def sent_upstream(up: FakeUpstream, marker: str) -> list[dict[str, Any]]:
    found = [r["body"] for r in up.requests() if marker in json.dumps(r["body"])]
    assert len(found) == 1
    messages: list[dict[str, Any]] = found[0]["messages"]
    return messages


def create(gw: GatewayProcess, model: str, messages: list[dict[str, Any]]) -> Any:
    client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    return client.chat.completions.with_raw_response.create(model=model, messages=messages)  # type: ignore[arg-type]


def test_a_long_conversation_is_trimmed_to_the_route_budget(
    trimming: GatewayProcess, upstream: FakeUpstream
) -> None:
    marker = uuid.uuid4().hex
    original = conversation(marker)
    resp = create(trimming, "lean", original)
    sent = sent_upstream(upstream, marker)
    assert sent[0] == {"role": "system", "content": SYSTEM}  # the system prompt always stays
    assert sent[-1]["content"] == original[-1]["content"]  # and the last user turn
    assert len(sent) < len(original)
    # The tool result stays with its call, cut with a visible marker.
    tool = [m for m in sent if m["role"] == "tool"]
    assert len(tool) == 1 and len(tool[0]["content"]) < len(original[-2]["content"])
    assert any(m.get("tool_calls") for m in sent)
    row = trimming.row(resp.headers["x-satisfice-request-id"])
    assert row["trim_tokens_before"] > row["trim_tokens_after"] > 0
    assert row["trim_tokens_after"] <= 400
    assert row["trim_saved_usd"] > 0
    assert "trimmed:" in row["reason"]


def test_a_route_without_trimming_sends_everything(trimming: GatewayProcess, upstream: FakeUpstream) -> None:
    marker = uuid.uuid4().hex
    original = conversation(marker)
    resp = create(trimming, "whole", original)
    assert len(sent_upstream(upstream, marker)) == len(original)
    row = trimming.row(resp.headers["x-satisfice-request-id"])
    assert row["trim_tokens_before"] == row["trim_tokens_after"] == 0


def test_what_must_stay_not_fitting_is_a_context_error(
    trimming: GatewayProcess, upstream: FakeUpstream
) -> None:
    marker = uuid.uuid4().hex
    huge = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "words " * 2000 + marker}]
    with pytest.raises(openai.BadRequestError) as err:
        create(trimming, "lean", huge)
    assert err.value.code == "context_length_exceeded"
    assert "even after trimming" in err.value.message
    assert not [r for r in upstream.requests() if marker in json.dumps(r["body"])]


def test_the_error_says_why_when_the_level_drops_no_turns(trimming: GatewayProcess) -> None:
    """Below drop_oldest the whole conversation must fit: the error said the system prompt and the
    last user turn alone needed the whole conversation's count."""
    marker = uuid.uuid4().hex
    with pytest.raises(openai.BadRequestError) as err:
        create(trimming, "cut-only", conversation(marker))
    assert err.value.code == "context_length_exceeded"
    assert "at its trimming level (tool_outputs), which drops no turns" in err.value.message
    assert "alone need" not in err.value.message


def test_max_tokens_beyond_the_window_is_named_as_such(trimming: GatewayProcess) -> None:
    """The error said "the limit is -72000"; it names max_tokens and the window."""
    client = openai.OpenAI(base_url=trimming.base_url, api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="lean", messages=[{"role": "user", "content": "hi"}], max_tokens=200_000
        )
    assert err.value.param == "max_tokens" and "-" not in err.value.message.split("window is")[-1]
    assert "leaves no room" in err.value.message
