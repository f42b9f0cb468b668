"""A stream that fails before its first token fails over, through the real gateway and the fake
upstream of each dialect: the role-only preamble (OpenAI's first chunk, Anthropic's translated
`message_start`) is not an answer, so an error event right after it is an attempt's failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import dialect_providers, single_call_reliability
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

HELLO: Any = [{"role": "user", "content": "hello there"}]


def _config(up: FakeUpstream) -> dict[str, Any]:
    def then_ok(first: str) -> dict[str, Any]:
        return {"strategy": "first", "candidates": [first, "oai/fine+start"]}

    return {
        "reliability": single_call_reliability(2.0, 3.0),
        "providers": dialect_providers(up),
        "routes": {
            "oai-after-role": then_ok("oai/errorafter-1+start"),  # role chunk, then the error
            "oai-error-first": then_ok("oai/errorafter-0+start"),  # the error is the first event
            "ant-after-start": then_ok("ant/claude+errorafter-1"),  # message_start, then overloaded_error
            "gem-error-first": then_ok("gem/gemini+errorafter-0"),
            "oai-after-token": then_ok("oai/errorafter-2+start"),  # role, one word, then the error
            "oai-role-only": then_ok("oai/endafter-1+start"),  # the role chunk, then [DONE]
        },
    }


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(tmp_path_factory.mktemp("stream-start"), _config(upstream)) as g:
        yield g


def _attempts(gw: GatewayProcess, rid: str) -> list[tuple[str, str]]:
    return [(a["model"], a["outcome"]) for a in json.loads(gw.row(rid)["attempts"])]


@pytest.mark.parametrize(
    ("route", "failed"),
    [
        ("oai-after-role", "errorafter-1+start"),
        ("oai-error-first", "errorafter-0+start"),
        ("ant-after-start", "claude+errorafter-1"),
        ("gem-error-first", "gemini+errorafter-0"),
    ],
)
def test_an_error_before_the_first_token_fails_over(
    gw: GatewayProcess, oai: openai.OpenAI, route: str, failed: str
) -> None:
    with oai.chat.completions.with_streaming_response.create(
        model=route, messages=HELLO, stream=True
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        chunks = list(resp.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hello there"
    assert chunks[0].choices[0].delta.role == "assistant"  # one preamble: the answering upstream's
    assert _attempts(gw, rid) == [(failed, "server_error"), ("fine+start", "ok")]
    assert gw.row(rid)["outcome"] == "ok"


def test_messages_clients_get_the_failed_over_answer(gw: GatewayProcess, ant: anthropic.Anthropic) -> None:
    """Anthropic's overloaded_error right after message_start, seen by a /v1/messages client."""
    with ant.messages.stream(model="ant-after-start", max_tokens=50, messages=HELLO) as s:
        rid = s.response.headers["x-satisfice-request-id"]
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "echo: hello there" and final.stop_reason == "end_turn"
    assert _attempts(gw, rid) == [("claude+errorafter-1", "server_error"), ("fine+start", "ok")]


def test_an_error_after_the_first_token_still_ends_the_stream(gw: GatewayProcess, oai: openai.OpenAI) -> None:
    got: list[str] = []
    rid = ""
    with (
        pytest.raises(openai.APIError, match="The server had an error while streaming"),
        oai.chat.completions.with_streaming_response.create(
            model="oai-after-token", messages=HELLO, stream=True
        ) as resp,
    ):
        rid = resp.headers["x-satisfice-request-id"]
        got.extend(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert "".join(got) == "echo: "  # the token that went out before the failure
    assert _attempts(gw, rid) == [("errorafter-2+start", "ok")]
    assert gw.row(rid)["outcome"] == "stream_error"


def test_a_stream_that_ends_with_only_its_role_chunk_fails_over(
    gw: GatewayProcess, oai: openai.OpenAI
) -> None:
    with oai.chat.completions.with_streaming_response.create(
        model="oai-role-only", messages=HELLO, stream=True
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        chunks = list(resp.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hello there"
    assert _attempts(gw, rid) == [("endafter-1+start", "bad_response"), ("fine+start", "ok")]


def test_overloaded_at_the_start_is_529_for_messages_clients(ant: anthropic.Anthropic) -> None:
    """No other candidate: Anthropic's overloaded_error, read before the first token, comes back as
    Anthropic would answer it outside a stream, so the SDK backs off."""
    with pytest.raises(anthropic.APIStatusError) as err:
        ant.messages.create(model="ant/claude+errorafter-1+alone", max_tokens=20, messages=HELLO, stream=True)
    assert err.value.status_code == 529
    assert err.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
