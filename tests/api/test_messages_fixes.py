"""The /v1/messages translations: stream failures, interleaved tool calls, cache usage and hints,
Anthropic-only options per dialect, error types and structured outputs. Streams are read by the
official `anthropic` SDK; requests go through the real dialects."""

from __future__ import annotations

import copy
from typing import Any

import anthropic
import orjson
import pytest

from satisfice.api.anthropic_messages import (
    anthropic_error,
    count_message_tokens,
    count_tokens_request,
    messages_request_to_openai,
    openai_response_to_messages,
)
from satisfice.api.anthropic_messages_stream import AnthropicEncoder, anthropic_usage
from satisfice.catalog import load_catalog
from satisfice.errors import GatewayError, InvalidRequest, UpstreamFailed, UpstreamTimeout
from satisfice.ledger.record import price
from satisfice.providers.anthropic import ANTHROPIC
from satisfice.providers.anthropic_request import SCHEMA_TOOL
from satisfice.providers.base import Deployment
from satisfice.providers.gemini import GEMINI
from satisfice.providers.openai_compat import AZURE, OPENAI
from satisfice.routing.executor import Attempt
from satisfice.usage import usage_from_openai
from tests.api.test_anthropic_messages import chunk, consume, encode, run
from tests.providers.test_anthropic_dialect import sse_events

ANT = Deployment("anthropic", "claude", "claude-x", "https://x/v1", "anthropic")
OAI = Deployment("openai", "gpt", "gpt-x", "https://x/v1", "openai")
AZ = Deployment("azure", "gpt", "gpt-x", "https://x", "azure")
GEM = Deployment("gemini", "gem", "gemini-x", "https://x/v1beta", "gemini")
EPH = {"type": "ephemeral"}
TOOL = {"name": "f", "input_schema": {"type": "object", "properties": {}}}
HI = [{"role": "user", "content": "hi"}]


def sent(dialect: Any, dep: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(dialect.build_chat(dep, body, stream=False).body)
    return out


def call_delta(index: int, arguments: str, **head: Any) -> dict[str, Any]:
    fn: dict[str, Any] = {"arguments": arguments}
    if head:
        fn["name"] = head.pop("name")
        return chunk({"tool_calls": [{"index": index, **head, "type": "function", "function": fn}]})
    return chunk({"tool_calls": [{"index": index, "function": fn}]})


# -- 1: stream failures --------------------------------------------------------------------------------


def test_in_band_error_chunk_ends_the_stream_with_an_error_event() -> None:
    body = encode(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "partial"}),
            {"error": {"message": "upstream broke", "type": "server_error", "code": None}},
            chunk({"content": "never sent"}),
            chunk({}, "stop"),
        ]
    )
    names = [name for name, _ in sse_events(body.decode())]
    assert names[-1] == "error" and "message_stop" not in names and "message_delta" not in names
    with pytest.raises(anthropic.APIStatusError, match="upstream broke") as err:
        run(lambda: consume(body))
    assert err.value.body["error"]["type"] == "api_error"  # type: ignore[index]


def test_stream_without_a_finish_reason_is_an_error() -> None:
    body = encode([chunk({"role": "assistant", "content": ""}), chunk({"content": "cut"})])
    assert [name for name, _ in sse_events(body.decode())][-1] == "error"
    with pytest.raises(anthropic.APIStatusError, match="no finish reason"):
        run(lambda: consume(body))
    # The relay's encoder raises instead, so the request is recorded as failed.
    encoder = AnthropicEncoder("m", "msg_1", 1)
    encoder.feed(b"data: " + orjson.dumps(chunk({"content": "cut"})))
    with pytest.raises(UpstreamFailed, match="no finish reason"):
        encoder.ensure_complete()


# -- 5: interleaved tool calls ---------------------------------------------------------------------


def _well_formed(body: bytes) -> None:
    """Anthropic's rule: one block open at a time; deltas only to the open block."""
    open_index: int | None = None
    for name, data in sse_events(body.decode()):
        event = orjson.loads(data)
        if name == "content_block_start":
            assert open_index is None, "a block started while another is open"
            open_index = event["index"]
        elif name == "content_block_delta":
            assert event["index"] == open_index, f"a delta for block {event['index']} (open: {open_index})"
        elif name == "content_block_stop":
            assert event["index"] == open_index
            open_index = None


def test_interleaved_tool_calls_each_get_all_their_input() -> None:
    chunks = [
        chunk({"role": "assistant", "content": "Let me look."}),
        call_delta(0, "", id="call_a", name="f"),
        call_delta(1, "", id="call_b", name="g"),
        call_delta(0, '{"x": '),
        call_delta(1, '{"y": '),
        call_delta(0, "1}"),
        call_delta(1, "2}"),
        chunk({"content": " (text after the calls)"}),
        call_delta(2, '{"z": 3}', id="call_c", name="h"),
        chunk({}, "tool_calls"),
    ]
    body = encode(chunks)
    _well_formed(body)
    message, texts = run(lambda: consume(body))
    blocks = [
        (b.type, getattr(b, "id", None), getattr(b, "input", getattr(b, "text", None)))
        for b in message.content
    ]
    assert blocks == [
        ("text", None, "Let me look."),
        ("tool_use", "call_a", {"x": 1}),  # streamed live
        ("tool_use", "call_b", {"y": 2}),  # held, then sent whole
        ("text", None, " (text after the calls)"),
        ("tool_use", "call_c", {"z": 3}),
    ]
    assert texts == ["Let me look.", " (text after the calls)"]
    assert message.stop_reason == "tool_use"


def test_a_single_tool_call_still_streams_live() -> None:
    chunks = [call_delta(0, '{"x"', id="call_a", name="f"), call_delta(0, ": 1}"), chunk({}, "tool_calls")]
    deltas = [orjson.loads(d) for n, d in sse_events(encode(chunks).decode()) if n == "content_block_delta"]
    assert [d["delta"]["partial_json"] for d in deltas] == ['{"x"', ": 1}"]


# -- 3: usage and cache hints -----------------------------------------------------------------------


def test_cache_usage_round_trips_through_the_anthropic_dialect() -> None:
    raw = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 10,
            "output_tokens": 7,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 50,
        },
    }
    out = openai_response_to_messages(ANTHROPIC.parse_chat(ANT, orjson.dumps(raw)), model="claude")
    assert out["usage"] == raw["usage"]


def test_one_hour_cache_writes_round_trip_and_are_priced_at_twice_the_input() -> None:
    """Anthropic's 1-hour cache writes cost 2x the input price, its 5-minute ones 1.25x: they were
    all priced at 1.25x, and the /v1/messages endpoint dropped the breakdown."""
    usage = {
        "input_tokens": 10,
        "output_tokens": 10,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600},
    }
    raw: dict[str, Any] = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x"}
    raw |= {"content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "usage": usage}
    completion = ANTHROPIC.parse_chat(ANT, orjson.dumps(raw))  # the OpenAI shape the gateway relays
    counted = usage_from_openai(completion["usage"])  # ... and reads back for the ledger
    assert counted is not None and counted.cache_write_1h_tokens == 600
    assert openai_response_to_messages(completion, model="claude")["usage"] == usage
    haiku = load_catalog().lookup("claude-3-5-haiku")[0]  # $0.8 in, $4 out per million tokens
    expected = (10 * 0.8 + 400 * 0.8 * 1.25 + 600 * 0.8 * 2 + 10 * 4) / 1e6
    assert price(haiku, counted) == pytest.approx(expected)


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 160, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 50}}
        | {"cache_creation_input_tokens": 100},  # LiteLLM's convention
        {"prompt_tokens": 160, "completion_tokens": 7}
        | {"prompt_tokens_details": {"cached_tokens": 50, "cache_write_tokens": 100}},  # OpenRouter's
    ],
)
def test_cache_usage_in_the_stream(usage: dict[str, Any]) -> None:
    assert anthropic_usage(usage) == {
        "input_tokens": 10,
        "output_tokens": 7,
        "cache_read_input_tokens": 50,
        "cache_creation_input_tokens": 100,
    }
    message, _ = run(lambda: consume(encode([chunk({"content": "hi"}, "stop"), chunk(None, usage=usage)])))
    got = message.usage
    assert (got.input_tokens, got.cache_creation_input_tokens, got.cache_read_input_tokens) == (10, 100, 50)


def _hinted_request() -> dict[str, Any]:
    image = {"type": "base64", "media_type": "image/png", "data": "iVBO"}
    return {
        "model": "m",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B", "cache_control": EPH}],
        "tools": [{**TOOL, "cache_control": EPH}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": image, "cache_control": EPH},
                    {"type": "text", "text": "what?", "cache_control": EPH},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Calling.", "cache_control": EPH},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {}, "cache_control": EPH},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "ok", "cache_control": EPH}
                ],
            },
            {"role": "user", "content": [{"type": "text", "text": "go", "cache_control": EPH}]},
        ],
    }


def _unhinted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unhinted(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_unhinted(v) for v in value]
    return value


def test_cache_hints_reach_anthropic_where_they_sit() -> None:
    body = sent(ANTHROPIC, ANT, messages_request_to_openai(_hinted_request()))
    assert body["system"] == [
        {"type": "text", "text": "A"},
        {"type": "text", "text": "B", "cache_control": EPH},
    ]
    assert body["tools"][0]["cache_control"] == EPH
    user, assistant, results = body["messages"]
    assert [b.get("cache_control") for b in user["content"]] == [EPH, EPH]
    assert [b.get("cache_control") for b in assistant["content"]] == [EPH, EPH]
    assert [(b["type"], b.get("cache_control")) for b in results["content"]] == [
        ("tool_result", EPH),
        ("text", EPH),
    ]


@pytest.mark.parametrize(("dialect", "dep"), [(OPENAI, OAI), (AZURE, AZ)])
def test_openai_dialects_get_what_they_got_without_hints(dialect: Any, dep: Deployment) -> None:
    hinted = messages_request_to_openai(_hinted_request())
    before = copy.deepcopy(hinted)
    plain = messages_request_to_openai(_unhinted(_hinted_request()))
    assert sent(dialect, dep, hinted) == sent(dialect, dep, plain)
    assert hinted == before  # the request (shared by every attempt) is not changed


# -- 2: Anthropic-only options per dialect -----------------------------------------------------------


def test_thinking_top_k_and_cache_control_reach_only_the_dialects_that_take_them() -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    request = {"model": "m", "max_tokens": 2000, "messages": HI, "thinking": thinking, "top_k": 5}
    body = messages_request_to_openai({**request, "cache_control": EPH})
    for dialect, dep in ((OPENAI, OAI), (AZURE, AZ)):
        out = sent(dialect, dep, body)
        assert not {"thinking", "top_k", "cache_control", "satisfice_messages_extras"} & set(out)
    out = sent(ANTHROPIC, ANT, body)
    assert (out["thinking"], out["top_k"], out["cache_control"]) == (thinking, 5, EPH)
    gemini = sent(GEMINI, GEM, body)
    assert gemini["generationConfig"]["topK"] == 5
    assert "thinking" not in orjson.dumps(gemini).decode()


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"thinking": "on"}, "thinking"),
        ({"top_k": "5"}, "top_k"),
        ({"top_k": True}, "top_k"),
        ({"cache_control": "ephemeral"}, "cache_control"),
        ({"output_config": {"format": {"type": "json_object"}}}, "output_config.format"),
        ({"output_config": "json"}, "output_config"),
    ],
)
def test_invalid_options(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        messages_request_to_openai({"model": "m", "max_tokens": 5, "messages": HI, **extra})
    assert err.value.param == param


# -- 4: count_tokens ---------------------------------------------------------------------------------


def test_count_tokens_needs_no_max_tokens_and_validates_like_messages() -> None:
    small = count_message_tokens(count_tokens_request({"model": "claude", "messages": HI}))
    bigger = count_message_tokens(
        count_tokens_request({"model": "claude", "messages": HI, "system": "x " * 100, "tools": [TOOL]})
    )
    assert 0 < small < bigger
    with pytest.raises(InvalidRequest) as err:
        count_tokens_request({"model": "claude", "messages": [{"role": "system", "content": "x"}]})
    assert err.value.param == "messages[0].role"


# -- 6: error types ----------------------------------------------------------------------------------


def _attempt(status: int | None, outcome: str = "server_error") -> Attempt:
    return Attempt("anthropic", "claude", outcome, 1.0, status=status)


@pytest.mark.parametrize(
    ("err", "attempts", "status", "kind"),
    [
        (UpstreamFailed("x"), [_attempt(529)], 529, "overloaded_error"),
        (
            UpstreamFailed("x", code="all_candidates_failed"),
            [_attempt(503), _attempt(529)],
            529,
            "overloaded_error",
        ),
        (UpstreamFailed("x"), [_attempt(529), _attempt(500)], 502, "api_error"),
        (UpstreamFailed("x"), [_attempt(None, "circuit_open"), _attempt(529)], 529, "overloaded_error"),
        (UpstreamTimeout("x"), [_attempt(None, "timeout")], 504, "timeout_error"),
        (UpstreamFailed("x", code="overloaded_error"), [], 502, "overloaded_error"),  # mid-stream
        (GatewayError("x", status=413, code="request_too_large"), [], 413, "request_too_large"),
    ],
)
def test_error_types(err: GatewayError, attempts: list[Attempt], status: int, kind: str) -> None:
    assert anthropic_error(err, attempts) == (
        status,
        {"type": "error", "error": {"type": kind, "message": "x"}},
    )


def test_anthropic_mid_stream_error_keeps_its_type() -> None:
    translator = ANTHROPIC.stream_translator(ANT)
    event = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(UpstreamFailed) as err:
        translator.feed("error", orjson.dumps(event))
    encoder = AnthropicEncoder("m", "msg_1", 1)
    (name, data), *_ = sse_events((encoder.start() + encoder.error(err.value)).decode())[2:]
    assert name == "error" and orjson.loads(data)["error"] == event["error"]


# -- 8: structured outputs ---------------------------------------------------------------------------


def test_output_config_becomes_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    config = {"format": {"type": "json_schema", "schema": schema}, "effort": "low"}
    out = messages_request_to_openai({"model": "m", "max_tokens": 5, "messages": HI, "output_config": config})
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }
    assert "output_config" not in out
    # An Anthropic upstream without native structured output gets it as a forced schema tool.
    assert sent(ANTHROPIC, ANT, out)["tool_choice"] == {"type": "tool", "name": SCHEMA_TOOL}


def test_a_strict_tool_reaches_the_openai_shape_strict() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    out = messages_request_to_openai(
        {**body, "tools": [{"name": "lookup", "input_schema": schema, "strict": True}]}
    )
    assert out["tools"] == [
        {"type": "function", "function": {"name": "lookup", "parameters": schema, "strict": True}}
    ]


def test_an_openai_refusal_is_anthropics_refusal_stop_reason() -> None:
    """A structured-output client checks stop_reason before parsing: the refusal came back as plain
    text ending end_turn."""
    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    resp = {"id": "chatcmpl-1", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    out = openai_response_to_messages(resp, model="gpt-4o")
    assert out["stop_reason"] == "refusal" and out["stop_sequence"] is None
    assert out["content"] == [{"type": "text", "text": "I can't help with that."}]


def test_an_empty_user_turn_is_refused_not_dropped() -> None:
    """[user, assistant, user with no content] went upstream as [user, assistant]: an assistant
    prefill the client never asked for."""
    turns = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": []},
    ]
    with pytest.raises(InvalidRequest, match="A user message must have non-empty content") as e:
        messages_request_to_openai({"model": "m", "max_tokens": 10, "messages": turns})
    assert e.value.param == "messages[2].content"
