"""What the official OpenAI SDK reads from the gateway beyond the answer: request ids, whether to
retry, one model's entry, and a route whose first candidate's API cannot carry the request."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from satisfice.errors import UpstreamFailed
from satisfice.server.relay import OpenAIEncoder
from tests.conftest import dialect_providers, single_call_reliability
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


def client(gw: GatewayProcess, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="sk-client", max_retries=retries, timeout=20)


def cut_tool_history(marker: str) -> Any:
    """A tool loop whose call was cut off mid-arguments (finish_reason length): OpenAI takes it."""
    return [
        {"role": "user", "content": f"weather {marker}"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "Par'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]


def test_request_id_is_where_the_sdk_reads_it(gateway: GatewayProcess) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse()._request_id == raw.headers["x-satisfice-request-id"]
    with pytest.raises(openai.BadRequestError) as err:
        client(gateway).chat.completions.create(model="gpt-4o-mini", messages=[])
    assert err.value.request_id == err.value.response.headers["x-satisfice-request-id"]
    assert gateway.row(err.value.request_id)["status"] == 400


def test_a_5xx_after_the_gateways_own_retries_tells_the_sdk_not_to_retry(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    model = f"error500+{uuid.uuid4().hex[:8]}"
    with pytest.raises(openai.InternalServerError) as err:
        client(gateway, retries=2).chat.completions.create(
            model=f"openai/{model}", messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.response.headers["x-should-retry"] == "false"
    # The gateway's one retry (reliability.retries = 1), and no SDK retry on top: 2 calls, not 6.
    assert len([r for r in upstream.requests() if r["model"] == model]) == 2


def test_a_first_failure_leaves_the_sdk_free_to_retry(gateway: GatewayProcess) -> None:
    with pytest.raises(openai.RateLimitError) as err:
        client(gateway).chat.completions.create(
            model="openai/ratelimit-30", messages=[{"role": "user", "content": "x"}]
        )
    assert "x-should-retry" not in err.value.response.headers


def test_retrieve_one_model(gateway: GatewayProcess) -> None:
    c = client(gateway)
    listed = {m.id: m for m in c.models.list().data}
    for name in ("gpt-4o-mini", "first-ok", "auto"):
        assert c.models.retrieve(name) == listed[name]
    suffixed = c.models.retrieve("auto:0.9")
    assert (suffixed.id, suffixed.owned_by) == ("auto:0.9", "satisfice-route")
    qualified = c.models.retrieve("anthropic/claude-3-5-haiku")  # chat takes provider/model names
    assert (qualified.id, qualified.owned_by) == ("anthropic/claude-3-5-haiku", "anthropic")
    assert c.models.retrieve("openai/any-passthrough-name").owned_by == "openai"  # a passthrough's
    # A dated snapshot chat takes is a model here too; a knob chat refuses is refused here too.
    dated = "claude-3-5-haiku-20241022"
    assert c.chat.completions.create(model=dated, messages=[{"role": "user", "content": "hi"}]).choices
    assert c.models.retrieve(dated).id == dated
    with pytest.raises(openai.BadRequestError) as bad:
        c.models.retrieve("auto:bogus")
    assert bad.value.code == "invalid_knob"
    for unknown in ("no-such-model", "anthropic/no-such-model", "nobody/gpt-4o-mini"):
        with pytest.raises(openai.NotFoundError) as err:
            c.models.retrieve(unknown)
        assert err.value.code == "model_not_found" and unknown in err.value.message


def test_a_route_skips_a_candidate_whose_api_cannot_carry_the_request(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    marker = uuid.uuid4().hex
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="claude-first", messages=cut_tool_history(marker), tools=TOOLS
    )
    assert raw.parse().choices[0].message.content is not None
    assert raw.headers["x-satisfice-model"] == "gpt-4o-mini"
    row = gateway.row(raw.headers["x-satisfice-request-id"])
    outcomes = [(a["model"], a["outcome"]) for a in json.loads(row["attempts"])]
    assert outcomes == [("claude-3-5-haiku", "untranslatable"), ("gpt-4o-mini", "ok")]
    sent = [r for r in upstream.requests() if marker in json.dumps(r["body"])]
    assert [r["model"] for r in sent] == ["gpt-4o-mini"]  # nothing reached Anthropic


def test_when_no_candidate_can_carry_it_the_client_gets_the_translations_400(gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client(gateway).chat.completions.create(model="claude", messages=cut_tool_history("x"), tools=TOOLS)
    assert err.value.param == "messages[1].tool_calls[0].function.arguments"
    assert "x-should-retry" not in err.value.response.headers


def test_a_skipped_candidate_does_not_change_the_error_of_the_calls_made(gateway: GatewayProcess) -> None:
    """The untranslatable Claude made the rate limit of the only call a 502 that said not to retry."""
    with pytest.raises(openai.RateLimitError) as err:
        client(gateway).chat.completions.create(
            model="claude-then-limited", messages=cut_tool_history("x"), tools=TOOLS
        )
    assert err.value.response.headers["retry-after"] == "30"
    assert "x-should-retry" not in err.value.response.headers


def test_embeddings_refuse_a_chat_route_by_name(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    marker = uuid.uuid4().hex
    with pytest.raises(openai.BadRequestError) as err:
        client(gateway).embeddings.create(model="auto", input=marker)
    assert err.value.code == "model_not_supported" and "chat route" in err.value.message
    assert not [r for r in upstream.requests() if marker in json.dumps(r["body"])]


def test_a_model_name_with_a_control_character_is_a_400_before_any_call(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    """ "gpt-4o-mini\\n" (read from a file) was sent upstream and billed, then broke the response:
    the name is echoed in a header, where a newline is refused. The SDK's retries made it 3 calls."""
    import anthropic

    marker = uuid.uuid4().hex
    with pytest.raises(openai.BadRequestError) as err:
        client(gateway).chat.completions.create(
            model="openai/gpt-4o-mini\n", messages=[{"role": "user", "content": marker}]
        )
    assert err.value.code == "invalid_value" and err.value.param == "model"
    with pytest.raises(openai.BadRequestError):
        client(gateway).embeddings.create(model="text-embedding-3-small\r", input=marker)
    ant = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError):
        ant.messages.create(
            model="claude-3-5-haiku\n", max_tokens=5, messages=[{"role": "user", "content": marker}]
        )
    assert not [r for r in upstream.requests() if marker in json.dumps(r["body"])]


def test_a_non_ascii_model_name_is_percent_encoded_in_headers(gateway: GatewayProcess) -> None:
    """Raw UTF-8 in a header is read as Latin-1 by clients ("modÃ¨le")."""
    import urllib.parse

    raw = client(gateway).chat.completions.with_raw_response.create(
        model="openai/mod\u00e8le", messages=[{"role": "user", "content": "hi"}]
    )
    header = raw.headers["x-satisfice-model"]
    assert header.isascii() and urllib.parse.unquote(header) == "mod\u00e8le"


@pytest.fixture(scope="module")
def dialects(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "reliability": single_call_reliability(2.0, 4.0),
        "providers": dialect_providers(upstream),
        "routes": {
            "unreadable-first": {
                "strategy": "first",
                "candidates": ["ant/badjson+surface", "gem/badjson+surface", "oai/fine+surface"],
            }
        },
    }
    with GatewayProcess(tmp_path_factory.mktemp("surface-dialects"), config) as g:
        yield g


def test_an_unreadable_translated_answer_fails_over(dialects: GatewayProcess) -> None:
    raw = client(dialects).chat.completions.with_raw_response.create(
        model="unreadable-first", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().choices[0].message.content == "echo: hi"
    row = dialects.row(raw.headers["x-satisfice-request-id"])
    outcomes = [(a["model"], a["outcome"]) for a in json.loads(row["attempts"])]
    assert outcomes == [
        ("badjson+surface", "bad_response"),
        ("badjson+surface", "bad_response"),
        ("fine+surface", "ok"),
    ]


@pytest.mark.parametrize("model", ["claude-3-5-haiku", "gemini-2.0-flash", "gpt-4o-mini"])
def test_with_include_usage_every_chunk_but_the_last_has_usage_null(
    gateway: GatewayProcess, model: str
) -> None:
    with client(gateway).chat.completions.with_streaming_response.create(
        model=model,
        messages=[{"role": "user", "content": "count the usage words"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as resp:
        lines = [line for line in resp.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert len(chunks) > 2 and all("usage" in c for c in chunks)  # the spec: present, null until the end
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_usage_null_is_added_to_an_empty_chunk_as_valid_json() -> None:
    encoder = OpenAIEncoder(include_usage=True)
    assert json.loads(encoder.feed(b"data: {}\n\n")[6:]) == {"usage": None}
    assert json.loads(encoder.feed(b'data: {"choices": []}\n\n')[6:]) == {"choices": [], "usage": None}


def _chunk(index: int, finish: str | None = None) -> bytes:
    choice = {"index": index, "delta": {} if finish else {"content": "x"}, "finish_reason": finish}
    return b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n\n"


def test_with_n_choices_every_started_choice_must_finish() -> None:
    """n=2: choice 1 cut short after choice 0 finished was a complete stream ([DONE], a 200 row)."""
    cut = OpenAIEncoder(include_usage=False, choices=2)
    for event in (_chunk(0), _chunk(1), _chunk(0, "stop")):
        cut.feed(event)
    with pytest.raises(UpstreamFailed):
        cut.ensure_complete()
    whole = OpenAIEncoder(include_usage=False, choices=2)
    for event in (_chunk(0), _chunk(1), _chunk(1, "stop"), _chunk(0, "length")):
        whole.feed(event)
    whole.ensure_complete()
    assert whole.finish(None) == b"data: [DONE]\n\n"
    ignored = OpenAIEncoder(include_usage=False, choices=2)  # an upstream that ignores n
    for event in (_chunk(0), _chunk(0, "stop")):
        ignored.feed(event)
    ignored.ensure_complete()
    assert ignored.finish(None) == b"data: [DONE]\n\n"
