"""An OpenAI-compatible upstream that refuses best-effort fields (as OpenAI's newer models refuse
sampling parameters and `max_tokens`): the gateway sends the call again without them, in the same
attempt, and remembers what that deployment refused. The fake's "picky" models refuse what OpenAI's
reasoning models refuse, whatever their name, as a model the catalog does not know would."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

ASK: Any = [{"role": "user", "content": "say hi"}]
SAMPLING: Any = {"temperature": 0.3, "top_p": 0.5, "max_tokens": 50, "reasoning_effort": "max"}


@pytest.fixture()
def gw(gateway: GatewayProcess) -> GatewayProcess:
    return gateway


def _sent(upstream: FakeUpstream, model: str) -> list[dict[str, Any]]:
    return [r["body"] for r in upstream.requests() if r["model"] == model]


def _answer(oai: openai.OpenAI, model: str, *, stream: bool) -> tuple[str, str]:
    """(the answer's text, its request id) of a call with the client's usual sampling fields."""
    if not stream:
        raw = oai.chat.completions.with_raw_response.create(model=model, messages=ASK, **SAMPLING)
        return raw.parse().choices[0].message.content or "", raw.headers["x-satisfice-request-id"]
    with oai.chat.completions.with_streaming_response.create(
        model=model, messages=ASK, stream=True, **SAMPLING
    ) as resp:
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
        return text, resp.headers["x-satisfice-request-id"]


@pytest.mark.parametrize("stream", [False, True])
def test_refused_sampling_fields_are_left_out_and_remembered(
    oai: openai.OpenAI, gateway: GatewayProcess, upstream: FakeUpstream, stream: bool
) -> None:
    model = f"gpt-next-{'stream' if stream else 'plain'}+picky"
    text, rid = _answer(oai, f"openai/{model}", stream=stream)
    assert text == "echo: say hi"
    sent = _sent(upstream, model)
    # One refusal per field (OpenAI names one per 400), then the call that was answered.
    assert len(sent) == 5
    assert {"temperature", "top_p", "max_tokens"}.isdisjoint(sent[-1])
    assert sent[-1]["max_completion_tokens"] == 50  # the same cap under the name the model takes
    assert sent[-1]["reasoning_effort"] == "high"  # "max": the nearest of those the 400 listed
    row = gateway.row(rid)
    assert row["status"] == 200 and [a["outcome"] for a in json.loads(row["attempts"])] == ["ok"]
    # The next call leaves them out from the start: one request upstream.
    assert _answer(oai, f"openai/{model}", stream=stream)[0] == "echo: say hi"
    again = _sent(upstream, model)
    assert len(again) == 6 and again[-1] == sent[-1]


def test_a_refused_field_the_client_relies_on_stays_the_clients_400(
    oai: openai.OpenAI, upstream: FakeUpstream
) -> None:
    """`logprobs` asked for cannot be dropped: the answer would silently lack them."""
    model = "gpt-next-logprobs+picky"
    with pytest.raises(openai.BadRequestError) as refused:
        oai.chat.completions.create(model=f"openai/{model}", messages=ASK, logprobs=True)
    assert refused.value.param == "logprobs"
    assert len(_sent(upstream, model)) == 1
