"""OpenAI's reasoning models through the real gateway and the official SDKs: the fake upstream
refuses what OpenAI's o-series refuses (`max_tokens`, temperature other than 1, top_p, penalties,
logprobs, logit_bias) with OpenAI's own 400, as the real API does, and the gateway must still
answer a valid request from the route's reasoning model."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import single_call_reliability
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess


def _config(up: FakeUpstream) -> dict[str, Any]:
    return {
        "reliability": single_call_reliability(3.0, 6.0),
        "providers": [
            {"name": "openai", "base_url": up.openai_base, "api_key": "sk-o"},
            {
                "name": "azure",
                "type": "azure",
                "base_url": up.url,
                "api_key": "az-key",
                "api_version": "2024-12-01-preview",
                "models": ["o1"],
                "model_map": {"o1": "o1-prod"},  # the Azure deployment name
            },
        ],
        "routes": {
            "reason": {"strategy": "first", "candidates": ["o3-mini", "gpt-4o-mini"]},
            "reason-azure": {"strategy": "first", "candidates": ["azure/o1", "gpt-4o-mini"]},
        },
    }


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(tmp_path_factory.mktemp("reasoning"), _config(upstream)) as g:
        yield g


def marked() -> tuple[str, list[Any]]:
    """A prompt no other request sends (the fake upstream's log is shared by the session)."""
    text = f"reasoning check {uuid.uuid4().hex}"
    return text, [{"role": "user", "content": text}]


def bodies(up: FakeUpstream, text: str) -> list[dict[str, Any]]:
    """What the gateway sent upstream for this prompt, in order (model, body)."""
    out = []
    for r in up.requests():
        body = r["body"] if isinstance(r["body"], dict) else {}
        if text in str(body.get("messages")):
            out.append({"upstream": r["model"], "path": r["path"], **body})
    return out


REFUSED = ("max_tokens", "temperature", "top_p", "presence_penalty", "frequency_penalty")


def test_route_answers_from_o3_mini_with_max_completion_tokens(
    oai: openai.OpenAI, gw: GatewayProcess, upstream: FakeUpstream
) -> None:
    text, messages = marked()
    raw = oai.chat.completions.with_raw_response.create(
        model="reason", messages=messages, max_tokens=200, temperature=0, seed=3
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == f"echo: {text}"
    assert raw.headers["x-satisfice-model"] == "o3-mini"
    [sent] = bodies(upstream, text)  # one call: no 400, no failover
    assert sent["upstream"] == "o3-mini" and sent["max_completion_tokens"] == 200 and sent["seed"] == 3
    assert not any(k in sent for k in REFUSED)
    row = gw.row(raw.headers["x-satisfice-request-id"])
    assert row["status"] == 200 and row["model"] == "o3-mini"


def test_streamed_route_answers_from_o3_mini(oai: openai.OpenAI, upstream: FakeUpstream) -> None:
    text, messages = marked()
    stream = oai.chat.completions.create(
        model="reason", messages=messages, max_tokens=200, temperature=0.2, top_p=0.5, stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"echo: {text}"
    [sent] = bodies(upstream, text)
    assert sent["upstream"] == "o3-mini" and sent["max_completion_tokens"] == 200
    assert not any(k in sent for k in REFUSED)


def test_named_reasoning_model_is_rewritten_too(oai: openai.OpenAI, upstream: FakeUpstream) -> None:
    text, messages = marked()
    resp = oai.chat.completions.create(
        model="o3-mini",
        messages=messages,
        max_tokens=100,
        max_completion_tokens=150,
        temperature=0,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        logprobs=False,
    )
    assert resp.choices[0].message.content == f"echo: {text}"
    [sent] = bodies(upstream, text)
    assert sent["max_completion_tokens"] == 150  # the client's own max_completion_tokens wins
    assert not any(k in sent for k in (*REFUSED, "logprobs"))


@pytest.mark.parametrize(("effort", "expected"), [("minimal", "low"), ("none", "low"), ("xhigh", "high")])
def test_reasoning_effort_the_o_series_refuses_is_sent_as_the_nearest_it_takes(
    oai: openai.OpenAI, upstream: FakeUpstream, effort: str, expected: str
) -> None:
    """The fake refuses what the o-series refuses (anything but low, medium, high), as OpenAI does."""
    text, messages = marked()
    raw = oai.chat.completions.with_raw_response.create(
        model="reason", messages=messages, extra_body={"reasoning_effort": effort}
    )
    assert raw.parse().choices[0].message.content == f"echo: {text}"
    assert raw.headers["x-satisfice-model"] == "o3-mini"
    [sent] = bodies(upstream, text)  # one call: no 400, no failover
    assert sent["upstream"] == "o3-mini" and sent["reasoning_effort"] == expected


def test_streamed_reasoning_effort_is_fitted_on_a_named_azure_reasoning_model(
    oai: openai.OpenAI, upstream: FakeUpstream
) -> None:
    text, messages = marked()
    stream = oai.chat.completions.create(
        model="azure/o1", messages=messages, stream=True, extra_body={"reasoning_effort": "max"}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == f"echo: {text}"
    [sent] = bodies(upstream, text)
    assert sent["path"] == "/openai/deployments/o1-prod/chat/completions"
    assert sent["reasoning_effort"] == "high"


def test_logprobs_skip_the_reasoning_model_in_a_route(
    oai: openai.OpenAI, gw: GatewayProcess, upstream: FakeUpstream
) -> None:
    text, messages = marked()
    raw = oai.chat.completions.with_raw_response.create(
        model="reason", messages=messages, logprobs=True, top_logprobs=2, max_tokens=50
    )
    resp = raw.parse()
    assert raw.headers["x-satisfice-model"] == "gpt-4o-mini"
    assert resp.choices[0].logprobs is not None
    assert "o3-mini: OpenAI reasoning models refuse logprobs" in raw.headers["x-satisfice-reason"]
    [sent] = bodies(upstream, text)  # o3-mini was never asked
    assert sent["upstream"] == "gpt-4o-mini" and sent["logprobs"] is True and sent["max_tokens"] == 50


def test_logprobs_asked_of_a_named_reasoning_model_get_openais_400(
    oai: openai.OpenAI, upstream: FakeUpstream
) -> None:
    _, messages = marked()
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(model="o3-mini", messages=messages, logprobs=True, temperature=0)
    assert isinstance(err.value.body, dict) and err.value.body.get("param") == "logprobs"


def test_azure_reasoning_deployment(oai: openai.OpenAI, upstream: FakeUpstream) -> None:
    text, messages = marked()
    raw = oai.chat.completions.with_raw_response.create(
        model="reason-azure", messages=messages, max_tokens=64, temperature=0.7
    )
    assert raw.parse().choices[0].message.content == f"echo: {text}"
    assert raw.headers["x-satisfice-model"] == "o1" and raw.headers["x-satisfice-provider"] == "azure"
    [sent] = bodies(upstream, text)
    assert sent["path"] == "/openai/deployments/o1-prod/chat/completions"
    assert sent["max_completion_tokens"] == 64 and not any(k in sent for k in REFUSED)


def test_anthropic_client_reaches_o3_mini(ant: anthropic.Anthropic, upstream: FakeUpstream) -> None:
    """/v1/messages always carries max_tokens (Anthropic requires it)."""
    text, _ = marked()
    msg = ant.messages.create(
        model="o3-mini",
        max_tokens=300,
        messages=[{"role": "user", "content": text}],
        extra_body={"temperature": 0},  # this SDK version has no temperature argument
    )
    assert msg.content[0].type == "text" and msg.content[0].text == f"echo: {text}"
    [sent] = bodies(upstream, text)
    assert sent["max_completion_tokens"] == 300 and not any(k in sent for k in REFUSED)


def test_other_models_keep_their_parameters(oai: openai.OpenAI, upstream: FakeUpstream) -> None:
    text, messages = marked()
    oai.chat.completions.create(
        model="gpt-4o-mini", messages=messages, max_tokens=40, temperature=0, top_p=0.5, presence_penalty=1
    )
    [sent] = bodies(upstream, text)
    assert sent["max_tokens"] == 40 and sent["temperature"] == 0 and sent["top_p"] == 0.5
    assert sent["presence_penalty"] == 1 and "max_completion_tokens" not in sent


def test_openais_other_models_do_not_get_reasoning_effort(oai: openai.OpenAI, upstream: FakeUpstream) -> None:
    """gpt-4o-mini refuses reasoning_effort with a 400 (never failed over): a route asked for it,
    say for Claude's thinking, must not fail on OpenAI's other models."""
    text, messages = marked()
    oai.chat.completions.create(model="gpt-4o-mini", messages=messages, reasoning_effort="low")
    [sent] = bodies(upstream, text)
    assert sent["upstream"].startswith("gpt-4o-mini") and "reasoning_effort" not in sent
