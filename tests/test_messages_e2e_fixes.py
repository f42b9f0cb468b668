"""/v1/messages through the real gateway, the fake upstream and the official `anthropic` SDK: stream
failures, Anthropic-only options on mixed routes, prompt caching, count_tokens, interleaved tool
calls, error types, request ids, structured outputs and stop reasons OpenAI's finish_reason cannot say."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from pydantic import BaseModel

from satisfice import tokens
from satisfice.api.anthropic_messages import messages_request_to_openai
from tests.conftest import dialect_providers, single_call_reliability
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

HELLO: Any = [{"role": "user", "content": "hello there"}]
TOOLS: Any = [
    {
        "name": "lookup",
        "description": "find things",
        "input_schema": {"type": "object", "properties": {"echo": {"type": "string"}}},
    }
]


def _config(up: FakeUpstream) -> dict[str, Any]:
    return {
        "reliability": single_call_reliability(2.0, 3.0),
        "providers": dialect_providers(up),
        # "first" picks the OpenAI model: what a mixed route does whenever an OpenAI model wins.
        "routes": {"mixed": {"strategy": "first", "candidates": ["oai/strict+mixed", "ant/claude-mixed"]}},
    }


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(tmp_path_factory.mktemp("messages-fixes"), _config(upstream)) as g:
        yield g


# -- 1: an upstream failing mid-stream is a failed request --------------------------------------------


@pytest.mark.parametrize("model", ["oai/errorafter-3", "oai/nofinish"])
def test_messages_stream_that_breaks_raises_and_is_recorded_as_failed(
    ant: anthropic.Anthropic, gw: GatewayProcess, model: str
) -> None:
    texts: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as err,
        ant.messages.stream(model=model, max_tokens=50, messages=HELLO) as s,
    ):
        rid = s.response.headers["x-satisfice-request-id"]
        texts.extend(s.text_stream)
    assert err.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    # what came before the failure: two text pieces (errorafter-3), or the whole text (nofinish)
    assert "".join(texts) == ("echo: hello " if "errorafter" in model else "echo: hello there")
    row = gw.row(rid)
    assert (row["outcome"], row["status"]) == ("stream_error", 502), row
    assert row["error"]


def test_chat_stream_with_an_in_band_error_is_recorded_as_failed(
    oai: openai.OpenAI, gw: GatewayProcess
) -> None:
    with oai.chat.completions.with_streaming_response.create(
        model="oai/errorafter-3", messages=HELLO, stream=True
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        with pytest.raises(openai.APIError, match="The server had an error while streaming"):
            list(resp.parse())
    row = gw.row(rid)
    assert (row["outcome"], row["status"]) == ("stream_error", 502), row


# -- 2: Anthropic-only options reach only the dialects that take them ---------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_and_top_k_on_a_mixed_route(
    ant: anthropic.Anthropic, upstream: FakeUpstream, stream: bool
) -> None:
    """The OpenAI model ("strict": refuses unknown parameters, as OpenAI does) answers the route."""
    options: Any = {"thinking": {"type": "enabled", "budget_tokens": 1024}, "extra_body": {"top_k": 5}}
    if stream:
        with ant.messages.stream(model="mixed", max_tokens=2000, messages=HELLO, **options) as s:
            text = "".join(s.text_stream)
    else:
        msg = ant.messages.create(model="mixed", max_tokens=2000, messages=HELLO, **options)
        text = msg.content[0].text if msg.content[0].type == "text" else ""
    assert text == "echo: hello there"
    body = upstream.sent("strict+mixed")
    assert not {"thinking", "top_k", "satisfice_messages_extras"} & set(body), body


def test_thinking_and_top_k_reach_anthropic_and_top_k_reaches_gemini(
    ant: anthropic.Anthropic, upstream: FakeUpstream
) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    ant.messages.create(
        model="ant/claude-x", max_tokens=2000, messages=HELLO, thinking=thinking, extra_body={"top_k": 7}
    )
    body = upstream.sent("claude-x")
    assert body["thinking"] == thinking and body["top_k"] == 7
    assert "satisfice_messages_extras" not in body
    ant.messages.create(
        model="gem/gemini-x", max_tokens=20, messages=HELLO, thinking=thinking, extra_body={"top_k": 3}
    )
    config = upstream.sent("gemini-x")["generationConfig"]
    assert config["topK"] == 3 and "thinking" not in json.dumps(config)


def test_anthropic_only_fields_and_betas_reach_anthropic(
    ant: anthropic.Anthropic, upstream: FakeUpstream
) -> None:
    """The client's anthropic-beta header and fields such as service_tier and inference_geo were
    dropped on the way to Anthropic itself (the request is carried in the OpenAI shape)."""
    fields = {"service_tier": "standard_only", "inference_geo": "us", "container": "cont_1"}
    ant.beta.messages.create(
        model="ant/claude-betas",
        max_tokens=20,
        messages=HELLO,
        betas=["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"],
        extra_body=fields,
    )
    (sent,) = [r for r in upstream.requests() if r["model"] == "claude-betas"][-1:]
    assert {k: sent["body"].get(k) for k in fields} == fields
    assert sent["headers"]["anthropic-beta"] == "context-1m-2025-08-07,interleaved-thinking-2025-05-14"
    # A data-residency demand no other provider's API takes: a route skips them, a direct one refuses.
    with pytest.raises(anthropic.BadRequestError) as err:
        ant.messages.create(
            model="oai/gpt-x", max_tokens=20, messages=HELLO, extra_body={"inference_geo": "us"}
        )
    assert "inference_geo" in err.value.message
    ant.messages.create(
        model="oai/gpt-geo", max_tokens=20, messages=HELLO, extra_body={"service_tier": "auto"}
    )
    assert "service_tier" not in upstream.sent("gpt-geo")  # the others are Anthropic's alone: dropped


# -- 3: prompt caching -----------------------------------------------------------------------------


def _cached_request() -> dict[str, Any]:
    eph: Any = {"type": "ephemeral"}
    return {
        "max_tokens": 50,
        "system": [
            {"type": "text", "text": "You are terse."},
            {"type": "text", "text": "Long reference text.", "cache_control": eph},
        ],
        "tools": [{**TOOLS[0], "cache_control": eph}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "find x", "cache_control": eph}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}, "cache_control": eph}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x", "cache_control": eph},
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
    }


def test_cache_control_reaches_anthropic_and_never_openai(
    ant: anthropic.Anthropic, upstream: FakeUpstream
) -> None:
    eph = {"type": "ephemeral"}
    ant.messages.create(model="ant/claude-cache", **_cached_request())
    body = upstream.sent("claude-cache")
    assert body["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Long reference text.", "cache_control": eph},
    ]
    assert body["tools"][0]["cache_control"] == eph
    first, tool_use, results = (m["content"] for m in body["messages"])
    assert first == [{"type": "text", "text": "find x", "cache_control": eph}]
    assert tool_use[0]["type"] == "tool_use" and tool_use[0]["cache_control"] == eph
    assert results[0]["type"] == "tool_result" and results[0]["cache_control"] == eph
    assert "cache_control" not in results[1]

    ant.messages.create(model="oai/strict+cache", **_cached_request())
    body = upstream.sent("strict+cache")
    assert "cache_control" not in json.dumps(body)
    # The shape the OpenAI upstream got before hints were kept: plain strings.
    assert body["messages"][0] == {"role": "system", "content": "You are terse.\n\nLong reference text."}
    assert body["messages"][1] == {"role": "user", "content": "find x"}


@pytest.mark.parametrize("stream", [False, True])
def test_cache_usage_is_reported_as_anthropic_does(ant: anthropic.Anthropic, stream: bool) -> None:
    if stream:
        with ant.messages.stream(model="ant/cacheusage", max_tokens=50, messages=HELLO) as s:
            "".join(s.text_stream)
            usage = s.get_final_message().usage
    else:
        usage = ant.messages.create(model="ant/cacheusage", max_tokens=50, messages=HELLO).usage
    counts = (usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens)
    assert counts == (10, 100, 50)


# -- 3b: Anthropic's stop reasons -------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("upstream_reason", "messages_reason", "finish"),
    [
        ("model_context_window_exceeded", "model_context_window_exceeded", "length"),
        ("refusal", "refusal", "content_filter"),
        ("pause_turn", "end_turn", "stop"),  # no server tools go upstream: the text is the answer
    ],
)
def test_anthropic_stop_reasons_reach_each_api_as_it_says_them(
    ant: anthropic.Anthropic,
    oai: openai.OpenAI,
    stream: bool,
    upstream_reason: str,
    messages_reason: str,
    finish: str,
) -> None:
    """A full context window became finish_reason "length", then `max_tokens` on /v1/messages: the
    client could not tell it from its own max_tokens, which a bigger one would have cured."""
    model = f"ant/claude-stop+endwith-{upstream_reason}"
    message: anthropic.types.Message
    if stream:
        with ant.messages.stream(model=model, max_tokens=50, messages=HELLO) as s:
            message = s.get_final_message()
        chunks = list(oai.chat.completions.create(model=model, messages=HELLO, stream=True))
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    else:
        message = ant.messages.create(model=model, max_tokens=50, messages=HELLO)
        finishes = [oai.chat.completions.create(model=model, messages=HELLO).choices[0].finish_reason]
    assert (message.stop_reason, message.stop_sequence) == (messages_reason, None)
    assert [block.type for block in message.content] == ["text"]
    assert finishes == [finish]


# -- 4: count_tokens, and other paths under /v1/messages ---------------------------------------------


def test_count_tokens(ant: anthropic.Anthropic) -> None:
    request: Any = {"model": "mixed", "system": "be brief", "messages": HELLO, "tools": TOOLS}
    raw = ant.messages.with_raw_response.count_tokens(**request)
    count = raw.parse()
    # The offline count of the translated request (max_tokens plays no part in it).
    expected = tokens.count_prompt(messages_request_to_openai({**request, "max_tokens": 1}), "mixed")
    assert count.input_tokens == expected > 0
    assert raw.headers["request-id"].startswith("req_")
    assert raw.headers["x-satisfice-token-count"] == "offline-estimate"
    with pytest.raises(anthropic.BadRequestError) as err:
        ant.messages.count_tokens(model="mixed", messages=[])
    assert err.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


def test_count_tokens_of_an_unknown_model_is_the_404_of_messages(strict_gateway: GatewayProcess) -> None:
    """The strict gateway has no passthrough provider: an unknown name is our own 404."""
    strict = anthropic.Anthropic(base_url=strict_gateway.url, api_key="k", max_retries=0, timeout=20)
    request: Any = {"model": "no-such-model", "messages": HELLO}
    with pytest.raises(anthropic.NotFoundError) as counted:
        strict.messages.count_tokens(**request)
    with pytest.raises(anthropic.NotFoundError) as created:
        strict.messages.create(max_tokens=5, **request)
    body: Any = counted.value.body
    assert body["error"] == created.value.body["error"]  # type: ignore[index]  # as /v1/messages
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    # Each names its own request, as Anthropic's error bodies do, and as the header says.
    assert body["request_id"] == counted.value.response.headers["request-id"]
    assert created.value.body["request_id"] == created.value.response.headers["request-id"]  # type: ignore[index]
    assert "'no-such-model'" in body["error"]["message"]
    assert (counted.value.request_id or "").startswith("req_")
    # The body is checked first, as on /v1/messages; served models and routes are counted.
    with pytest.raises(anthropic.BadRequestError):
        strict.messages.count_tokens(model="no-such-model", messages=[])
    for model in ("claude-3-5-haiku", "anthropic/claude-3-5-haiku", "claude", "claude:0.9"):
        assert strict.messages.count_tokens(model=model, messages=HELLO).input_tokens > 0, model


def test_other_paths_under_messages_answer_in_anthropic_shape(
    ant: anthropic.Anthropic, gw: GatewayProcess
) -> None:
    with pytest.raises(anthropic.NotFoundError) as err:
        ant.messages.batches.list()
    body: Any = err.value.body
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert err.value.request_id
    with pytest.raises(urllib.error.HTTPError) as got:
        urllib.request.urlopen(gw.url + "/v1/messages/count_tokens", timeout=10)
    assert got.value.code == 405
    assert json.loads(got.value.read())["error"]["type"] == "invalid_request_error"


# -- 5: interleaved tool-call deltas ----------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_interleaved_tool_calls(ant: anthropic.Anthropic, stream: bool) -> None:
    """The upstream alternates the argument fragments of two tool calls; each tool_use block is
    complete when it stops (what a client acting on content_block_stop runs with)."""
    request: Any = {"model": "oai/interleave", "max_tokens": 50, "tools": TOOLS, "messages": HELLO}
    expected = {"echo": "hello there"}
    if stream:
        at_stop: list[Any] = []
        with ant.messages.stream(**request) as s:
            for event in s:
                if event.type == "content_block_stop" and event.content_block.type == "tool_use":
                    at_stop.append(json.loads(json.dumps(event.content_block.input)))  # as it is now
            msg = s.get_final_message()
        assert at_stop == [expected, expected]
    else:
        msg = ant.messages.create(**request)
    calls = [(b.id, b.input) for b in msg.content if b.type == "tool_use"]
    assert [c[1] for c in calls] == [expected, expected] and calls[0][0] != calls[1][0]
    assert msg.stop_reason == "tool_use"


# -- 6: error types ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["ant/error529", "ant/error503"])
def test_overloaded_upstream_is_overloaded_error(ant: anthropic.Anthropic, model: str) -> None:
    with pytest.raises(anthropic.OverloadedError) as err:
        ant.messages.create(model=model, max_tokens=10, messages=HELLO)
    assert err.value.status_code == 529
    assert err.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_overloaded_mid_stream_keeps_its_type(ant: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.APIStatusError) as err,
        ant.messages.stream(model="ant/errorafter-4", max_tokens=10, messages=HELLO) as s,
    ):
        "".join(s.text_stream)
    assert err.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_deadline_is_timeout_error(ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.GatewayTimeoutError) as err:
        ant.messages.create(model="ant/hang", max_tokens=10, messages=HELLO)
    assert err.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]


# -- 7: request-id -----------------------------------------------------------------------------------


def test_request_id_header(ant: anthropic.Anthropic) -> None:
    raw = ant.messages.with_raw_response.create(model="oai/m", max_tokens=10, messages=HELLO)
    assert raw.parse()._request_id == raw.headers["x-satisfice-request-id"]
    with ant.messages.stream(model="oai/m", max_tokens=10, messages=HELLO) as s:
        assert s.request_id == s.response.headers["x-satisfice-request-id"]
    with pytest.raises(anthropic.APIStatusError) as err:
        ant.messages.create(model="ant/error400", max_tokens=10, messages=HELLO)
    assert err.value.request_id == err.value.response.headers["x-satisfice-request-id"]


# -- 8: structured outputs ------------------------------------------------------------------------


class Echo(BaseModel):
    echo: str


def test_output_format_becomes_response_format(ant: anthropic.Anthropic, upstream: FakeUpstream) -> None:
    msg = ant.messages.parse(model="oai/strict+parse", max_tokens=50, messages=HELLO, output_format=Echo)
    assert msg.parsed_output == Echo(echo="hello there")
    fmt = upstream.sent("strict+parse")["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["properties"]["echo"]


def test_the_anthropic_sdk_lists_and_reads_models_in_its_shape(gateway: GatewayProcess) -> None:
    """It got OpenAI's list: every field it reads (created_at, display_name, has_more...) was None."""
    ant = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0, timeout=20)
    openai_ids = [m.id for m in openai.OpenAI(base_url=gateway.base_url, api_key="k").models.list().data]
    page = ant.models.list(limit=2)
    assert [m.id for m in page.data] == openai_ids[:2] and page.has_more and page.last_id == openai_ids[1]
    assert all(m.type == "model" and m.display_name and m.created_at for m in page.data)
    assert [m.id for m in ant.models.list(limit=1000)] == openai_ids  # every page, through the SDK's paging
    assert ant.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(anthropic.NotFoundError) as err:
        ant.models.retrieve("no-such-model")
    assert err.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
