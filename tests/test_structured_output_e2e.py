"""Schema-valid JSON from Claude for `response_format: json_schema`, through the real gateway with the
official SDKs as clients: `client.chat.completions.parse(response_format=SomePydanticModel)` works
on a Claude model (a forced tool call, or native `output_config.format` on Claude 4.5+), and a
route whose only candidate with the catalog's json_schema capability is OpenAI's may now pick
Claude. The fake Anthropic upstream answers a forced tool with an input built from its schema, and
a native structured output with JSON in its schema, and refuses what Anthropic refuses (a native
schema outside Anthropic's subset, a forced tool with thinking on)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from pydantic import BaseModel, Field

from satisfice.providers.anthropic_request import SCHEMA_TOOL
from tests.conftest import dialect_providers, single_call_reliability
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

HAIKU = "claude-3-5-haiku-20241022"  # the catalog's claude-3-5-haiku upstream: no native structured outputs
SONNET_45 = "claude-sonnet-4-5-20250929"  # takes output_config.format
ASK: Any = [{"role": "user", "content": "Alice, 30, lives in Paris"}]


class Address(BaseModel):
    city: str
    country: str | None


class Person(BaseModel):
    name: str
    age: int = Field(ge=0)  # a constraint Anthropic's structured outputs refuse in a schema
    tags: list[str]
    address: Address


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The catalog's OpenAI and Claude models, `ant/` and `oai/` passthroughs, and a route whose
    only json_schema-capable candidate, by the catalog, is gpt-4o."""
    config = {
        "reliability": single_call_reliability(3.0, 5.0),
        "providers": [
            {"name": "openai", "base_url": upstream.openai_base, "api_key": "sk-test"},
            {"name": "anthropic", "base_url": upstream.anthropic_base, "api_key": "sk-ant-test"},
            *dialect_providers(upstream),
        ],
        "routes": {"extract": {"strategy": "cheapest", "candidates": ["gpt-4o", "claude-3-5-haiku"]}},
    }
    with GatewayProcess(tmp_path_factory.mktemp("structured"), config) as g:
        yield g


def parsed(oai: openai.OpenAI, model: str, stream: bool, **params: Any) -> tuple[str, Person]:
    """(the answering model, the parsed Person) of one parse() call, streamed or not."""
    if stream:
        with oai.chat.completions.stream(model=model, messages=ASK, response_format=Person, **params) as s:
            completion = s.get_final_completion()
    else:
        completion = oai.chat.completions.parse(model=model, messages=ASK, response_format=Person, **params)
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    assert choice.message.parsed is not None
    return completion.model, choice.message.parsed


@pytest.mark.parametrize("stream", [False, True])
def test_parse_on_claude_through_a_forced_tool(
    oai: openai.OpenAI, upstream: FakeUpstream, stream: bool
) -> None:
    model, person = parsed(oai, "claude-3-5-haiku", stream)
    assert model == "claude-3-5-haiku"
    assert person.name == "Alice, 30, lives in Paris" and person.address.city == person.name
    sent = upstream.sent(HAIKU)
    assert [t["name"] for t in sent["tools"]] == [SCHEMA_TOOL]
    assert sent["tool_choice"] == {"type": "tool", "name": SCHEMA_TOOL}
    assert sent["tools"][0]["input_schema"]["properties"]["age"]["minimum"] == 0  # a tool takes it as it is


@pytest.mark.parametrize("stream", [False, True])
def test_parse_on_claude_4_5_through_native_structured_outputs(
    oai: openai.OpenAI, upstream: FakeUpstream, stream: bool
) -> None:
    """The schema is fitted to Anthropic's subset (the fake refuses `minimum`, as Anthropic does),
    and thinking from reasoning_effort stays on beside it."""
    model, person = parsed(oai, f"ant/{SONNET_45}", stream, reasoning_effort="low")
    assert model == SONNET_45 and person.age == 1
    sent = upstream.sent(SONNET_45)
    schema = sent["output_config"]["format"]["schema"]
    assert (
        "minimum" not in schema["properties"]["age"]
        and "minimum: 0" in schema["properties"]["age"]["description"]
    )
    assert "tools" not in sent and sent["thinking"]["type"] == "enabled"


@pytest.mark.parametrize("stream", [False, True])
def test_a_route_whose_only_schema_capable_candidate_was_openai_now_picks_claude(
    oai: openai.OpenAI, upstream: FakeUpstream, stream: bool
) -> None:
    upstream.reset()
    model, person = parsed(oai, "extract", stream)
    assert model == "claude-3-5-haiku" and person.tags == [person.name]
    assert [r["model"] for r in upstream.requests()] == [HAIKU]


def test_a_messages_client_gets_json_text_for_output_config(ant: anthropic.Anthropic) -> None:
    schema = Person.model_json_schema()
    msg = ant.messages.create(
        model="claude-3-5-haiku",
        max_tokens=200,
        messages=ASK,
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert msg.stop_reason == "end_turn" and [b.type for b in msg.content] == ["text"]
    assert Person.model_validate(json.loads(msg.content[0].text)).name == "Alice, 30, lives in Paris"  # type: ignore[union-attr]
