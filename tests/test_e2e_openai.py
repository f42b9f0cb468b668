"""The official openai SDK against the real gateway on loopback, fake providers behind it."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import anthropic
import openai
import pytest

from satisfice.tokens import count_text
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.spec import validate


@pytest.fixture()
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="sk-client", max_retries=0, timeout=20)


def raw_post(
    gw: GatewayProcess, path: str, data: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(
        gw.url + path,
        data=data,
        method="POST",
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def test_chat_with_catalog_model_forwards_key_and_upstream_id(
    client: openai.OpenAI, gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}], temperature=0, seed=7
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == "echo: hello there"
    h = raw.headers
    assert h["x-satisfice-model"] == "gpt-4o-mini" and h["x-satisfice-provider"] == "openai"
    assert float(h["x-satisfice-cost-usd"]) > 0
    sent = upstream.wait_for(
        lambda rs: any(
            r["headers"].get("x-satisfice-probe") is None and (r["body"] or {}).get("seed") == 7 for r in rs
        )
    )
    req = [r for r in sent if (r["body"] or {}).get("seed") == 7][-1]
    assert req["headers"]["authorization"] == "Bearer sk-fake-openai"  # the provider key, not the client's
    assert req["body"]["temperature"] == 0
    row = gateway.row(h["x-satisfice-request-id"])
    assert row["model"] == "gpt-4o-mini" and row["status"] == 200 and row["prompt_tokens"] > 0
    assert row["cost_usd"] == pytest.approx(float(h["x-satisfice-cost-usd"]), rel=1e-6)
    validate("CreateChatCompletionResponse", resp.model_dump(exclude_unset=True))


def test_stream_with_usage(client: openai.OpenAI, gateway: GatewayProcess) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as resp:
        request_id = resp.headers["x-satisfice-request-id"]
        chunks = list(resp.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    row = gateway.row(request_id)
    assert (
        row["stream"] == 1
        and row["outcome"] == "ok"
        and row["completion_tokens"] == chunks[-1].usage.completion_tokens
    )
    assert row["ttft_ms"] is not None and row["ttft_ms"] > 0


def test_stream_without_usage_hides_the_usage_chunk_but_ledger_has_it(
    client: openai.OpenAI, gateway: GatewayProcess
) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "alpha beta"}],
        stream=True,
    ) as resp:
        request_id = resp.headers["x-satisfice-request-id"]
        chunks = list(resp.parse())
    assert all(c.usage is None for c in chunks)
    assert gateway.row(request_id)["completion_tokens"] > 0


def sse_events(gw: GatewayProcess, model: str, content: str) -> tuple[str, list[bytes]]:
    """A stream's request id and its SSE data lines, read raw (the body must end cleanly)."""
    data = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": content}]})
    req = urllib.request.Request(
        gw.base_url + "/chat/completions", data=data.encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=20) as r:
        assert r.status == 200
        return r.headers["x-request-id"], [
            line[6:] for line in r.read().splitlines() if line.startswith(b"data: ")
        ]


@pytest.mark.parametrize(
    "model",
    [
        "openai/endafter-3+nodone",  # two tokens, then a clean end: no finish reason, no [DONE]
        "openai/nofinish",  # the whole text and a [DONE], but no finish reason
    ],
)
def test_a_stream_that_ends_without_a_finish_reason_ends_with_an_error(
    client: openai.OpenAI, gateway: GatewayProcess, model: str
) -> None:
    """It got a [DONE] the gateway made up, and a 200 ok row: a cut answer passed for a whole one.
    Now as on /v1/messages: an error event, and a failed row."""
    rid, events = sse_events(gateway, model, "hello there")
    assert b"[DONE]" not in events
    error = json.loads(events[-1])["error"]
    assert error["code"] == "upstream_error" and "no finish reason" in error["message"]
    row = gateway.row(rid)
    assert (row["status"], row["outcome"]) == (502, "stream_error") and "no finish reason" in row["error"]
    with pytest.raises(openai.APIError, match="no finish reason"):  # the SDK raises on it
        list(
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )


def test_a_stream_with_a_finish_reason_but_no_done_is_complete(
    client: openai.OpenAI, gateway: GatewayProcess
) -> None:
    """Some OpenAI-compatible servers never send [DONE]: the finish reason is what says it ended well."""
    rid, events = sse_events(gateway, "openai/nodone", "hello there")
    assert events[-1] == b"[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "echo: hello there"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    row = gateway.row(rid)
    assert (row["status"], row["outcome"]) == (200, "ok")


def test_tools_and_json_mode_pass_through(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "find",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    resp = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather"}],
        tools=tools,
        tool_choice="auto",
        parallel_tool_calls=False,
    )
    call: Any = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "lookup" and json.loads(call.function.arguments) == {"echo": "weather"}
    assert resp.choices[0].finish_reason == "tool_calls"
    resp = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "json please"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(resp.choices[0].message.content or "") == {"echo": "json please"}
    body = upstream.requests()[-1]["body"]
    assert body["response_format"] == {"type": "json_object"}


def test_image_parts_and_unknown_params_pass_through(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            }
        ],
        n=2,
        logprobs=True,
        top_logprobs=2,
        stop=["END"],
        user="u-1",
        extra_body={"vendor_knob": 3},
    )
    body = upstream.requests()[-1]["body"]
    assert (
        body["n"] == 2 and body["logprobs"] is True and body["stop"] == ["END"] and body["vendor_knob"] == 3
    )
    assert body["messages"][0]["content"][1]["type"] == "image_url"


def test_route_cheapest_picks_the_cheapest_candidate(client: openai.OpenAI, gateway: GatewayProcess) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="cheap", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-satisfice-model"] == "gpt-4o-mini"
    assert raw.headers["x-satisfice-route"] == "cheap"
    assert "cheapest" in raw.headers["x-satisfice-reason"]
    row = gateway.row(raw.headers["x-satisfice-request-id"])
    # Baseline = the route's most expensive candidate, priced on the same tokens.
    assert row["baseline_model"] == "gpt-4o" and row["baseline_cost_usd"] > row["cost_usd"] > 0
    assert row["savings_usd"] == pytest.approx(row["baseline_cost_usd"] - row["cost_usd"])


def test_models_list_conforms(client: openai.OpenAI, gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    with urllib.request.urlopen(gateway.base_url + "/models") as r:
        body = json.loads(r.read())
    validate("ListModelsResponse", body)
    ids = {m["id"] for m in body["data"]}
    assert {"gpt-4o-mini", "claude-3-5-haiku", "gemini-2.0-flash", "fallback", "auto"} <= ids
    assert "mock-gpt" in ids  # the passthrough endpoint's own list is merged in
    assert client.models.list().data
    listed = [r for r in upstream.requests() if r["path"] == "/v1/models"]
    assert listed and listed[-1]["headers"]["openai-organization"] == "org-test"  # sent as chat calls send it


def test_embeddings_pass_through(client: openai.OpenAI, gateway: GatewayProcess) -> None:
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["a b", "c"])
    resp = raw.parse()
    assert len(resp.data) == 2 and len(resp.data[0].embedding) > 0
    row = gateway.row(raw.headers["x-satisfice-request-id"])
    assert row["endpoint"] == "embeddings" and row["prompt_tokens"] > 0


def test_embeddings_without_upstream_usage_are_counted_and_priced(tight_gateway: GatewayProcess) -> None:
    """The provider bills them whether or not it says how many tokens: the row was $0, and its
    attempt carried no cost."""
    client = openai.OpenAI(base_url=tight_gateway.base_url, api_key="sk-client", max_retries=0)
    raw = client.embeddings.with_raw_response.create(model="embed-silent", input=["alpha beta gamma", "one"])
    row = tight_gateway.row(raw.headers["x-satisfice-request-id"])
    tokens = count_text("alpha beta gamma", "text-embedding-3-small") + count_text(
        "one", "text-embedding-3-small"
    )
    assert row["prompt_tokens"] == tokens and row["usage_estimated"] == 1
    assert row["cost_usd"] == pytest.approx(tokens * 1000 / 1e6)
    assert float(raw.headers["x-satisfice-cost-usd"]) == pytest.approx(row["cost_usd"])
    (attempt,) = json.loads(row["attempts"])
    assert attempt["cost_usd"] == pytest.approx(row["cost_usd"]) and attempt["tokens"] == tokens


@pytest.mark.parametrize(
    ("data", "status", "param", "code"),
    [
        (b"{not json", 400, None, "invalid_json"),
        (b"", 400, None, "invalid_json"),
        (b"[]", 400, None, "invalid_type"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model", "missing_required_parameter"),
        (b'{"model": "gpt-4o-mini"}', 400, "messages", "missing_required_parameter"),
        (b'{"model": 5, "messages": []}', 400, "model", "invalid_type"),
        (b'{"model": "gpt-4o-mini", "messages": []}', 400, "messages", "invalid_value"),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}',
            400,
            "messages[0].role",
            "invalid_value",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
            400,
            "temperature",
            "invalid_type",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "temperature": 9}',
            400,
            "temperature",
            "invalid_value",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
            400,
            "stream",
            "invalid_type",
        ),
        (
            b'{"model": "no-such-model-x", "messages": [{"role": "user", "content": "x"}]}',
            404,
            "model",
            "model_not_found",
        ),
    ],
)
def test_bad_requests_get_openai_errors(
    data: bytes,
    status: int,
    param: str | None,
    code: str,
    upstream: FakeUpstream,
    tmp_path_factory: Any,
    strict_gateway: GatewayProcess,
) -> None:
    got, headers, body = raw_post(strict_gateway, "/v1/chat/completions", data)
    assert got == status, body
    validate("ErrorResponse", body)
    assert body["error"]["param"] == param and body["error"]["code"] == code
    assert body["error"]["message"]
    assert strict_gateway.row(headers["x-satisfice-request-id"])["status"] == status


def test_body_over_the_limit_is_413(strict_gateway: GatewayProcess) -> None:
    big = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "' + b"x" * 300_000 + b'"}]}'
    status, _, body = raw_post(strict_gateway, "/v1/chat/completions", big)
    assert status == 413 and body["error"]["code"] == "request_too_large"
    validate("ErrorResponse", body)


def test_unknown_path_and_wrong_method(gateway: GatewayProcess) -> None:
    status, _, body = raw_post(gateway, "/v1/nope", b"{}")
    assert status == 404 and body["error"]["type"] == "invalid_request_error"
    req = urllib.request.Request(gateway.base_url + "/chat/completions", method="GET")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 405
    assert e.value.headers["allow"] == "POST" and e.value.headers["x-request-id"]  # what is allowed
    validate("ErrorResponse", json.loads(e.value.read()))
    # HEAD is allowed wherever GET is (HTTP requires it), with GET's headers and no body.
    for path in ("/v1/models", "/health"):
        with urllib.request.urlopen(urllib.request.Request(gateway.url + path, method="HEAD")) as r:
            assert r.status == 200 and r.read() == b""
    with urllib.request.urlopen(gateway.base_url + "/models") as r:  # the SDK reads it as _request_id
        assert r.headers["x-request-id"]
    req = urllib.request.Request(gateway.base_url + "/models", method="POST", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 405 and e.value.headers["allow"] == "GET, HEAD"


def test_sdk_raises_typed_errors(client: openai.OpenAI, strict_gateway: GatewayProcess) -> None:
    strict = openai.OpenAI(base_url=strict_gateway.base_url, api_key="k", max_retries=0)
    with pytest.raises(openai.NotFoundError) as nf:
        strict.chat.completions.create(model="no-such-model-x-y", messages=[{"role": "user", "content": "x"}])
    assert nf.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError) as nf:  # a model known to the catalog, provider not configured
        strict.chat.completions.create(model="grok-2", messages=[{"role": "user", "content": "x"}])
    assert "not configured" in nf.value.message or "no configured provider" in nf.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="openai/ctx", messages=[{"role": "user", "content": "x"}])
    assert "maximum context length" in str(e.value)
    with pytest.raises(openai.BadRequestError) as e:  # the provider's own 400: its field and code pass on
        client.chat.completions.create(model="openai/error400", messages=[{"role": "user", "content": "x"}])
    assert e.value.param == "temperature" and e.value.code == "invalid_value"


@pytest.mark.parametrize("stream", [False, True])
def test_an_anthropic_answer_without_usage_is_counted_not_free(
    tight_gateway: GatewayProcess, stream: bool
) -> None:
    """Anthropic's usage missing was read as zero tokens: a $0 row, not marked as estimated."""
    client = openai.OpenAI(base_url=tight_gateway.base_url, api_key="sk-client", max_retries=0)
    ask: Any = [{"role": "user", "content": "count these words please"}]
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model="claude-silent", messages=ask, stream=True
        ) as resp:
            rid = resp.headers["x-satisfice-request-id"]
            assert "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    else:
        rid = client.chat.completions.with_raw_response.create(model="claude-silent", messages=ask).headers[
            "x-satisfice-request-id"
        ]
    row = tight_gateway.row(rid)
    assert row["usage_estimated"] == 1 and row["prompt_tokens"] > 4 and row["completion_tokens"] > 0
    assert row["cost_usd"] == pytest.approx(
        (row["prompt_tokens"] * 1000 + row["completion_tokens"] * 2000) / 1e6
    )


def test_a_messages_answer_without_upstream_usage_reports_the_counted_tokens(
    tight_gateway: GatewayProcess,
) -> None:
    """Anthropic's Messages shape always has usage: it said 0 and 0 where the ledger counted."""
    import anthropic

    client = anthropic.Anthropic(
        base_url=tight_gateway.base_url.removesuffix("/v1"), api_key="x", max_retries=0
    )
    raw = client.messages.with_raw_response.create(
        model="claude-silent",
        max_tokens=50,
        messages=[{"role": "user", "content": "count these words please"}],
    )
    row = tight_gateway.row(raw.headers["request-id"])
    usage = raw.parse().usage
    assert (usage.input_tokens, usage.output_tokens) == (row["prompt_tokens"], row["completion_tokens"])
    assert usage.input_tokens > 4 and usage.output_tokens > 0


@pytest.mark.parametrize("model", ["gpt-silent", "claude-silent"])
def test_a_stream_without_upstream_usage_still_ends_with_the_usage_chunk_asked_for(
    tight_gateway: GatewayProcess, model: str
) -> None:
    """`stream_options.include_usage`: a usage chunk before [DONE]. An upstream that sends none
    left the client without one; it now carries the gateway's own count, as the ledger does."""
    client = openai.OpenAI(base_url=tight_gateway.base_url, api_key="sk-client", max_retries=0)
    with client.chat.completions.with_streaming_response.create(
        model=model,
        messages=[{"role": "user", "content": "count these words please"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        chunks = list(resp.parse())
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert chunks[0].id == last.id and chunks[0].model == last.model
    row = tight_gateway.row(rid)
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (
        row["prompt_tokens"],
        row["completion_tokens"],
    )
    assert row["usage_estimated"] == 1 and last.usage.completion_tokens > 0
    validate("CreateChatCompletionStreamResponse", last.model_dump(exclude_unset=True))


def test_a_messages_stream_without_upstream_usage_ends_with_the_counted_tokens(
    tight_gateway: GatewayProcess,
) -> None:
    """An Anthropic SDK stream whose upstream reported no usage: the final message's usage is the
    gateway's own count (the ledger's), not output_tokens 0."""
    client = anthropic.Anthropic(base_url=tight_gateway.url, api_key="sk-client", max_retries=0, timeout=20)
    with client.messages.stream(
        model="claude-silent", max_tokens=100, messages=[{"role": "user", "content": "count these words"}]
    ) as stream:
        final = stream.get_final_message()
        rid = stream.response.headers["x-satisfice-request-id"]
    row = tight_gateway.row(rid)
    assert row["usage_estimated"] == 1 and row["completion_tokens"] > 0
    assert final.usage.output_tokens == row["completion_tokens"]
    assert final.usage.input_tokens == row["prompt_tokens"]
