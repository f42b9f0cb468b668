"""Gemini behind the gateway as Google's API behaves, through the OpenAI SDK: a deployment Google
refuses with a 400 (a key that is not valid, a project it does not serve) fails over; penalties,
which Gemini 2.5 refuses, are dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import dialect_providers, single_call_reliability
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

HELLO: Any = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "reliability": single_call_reliability(2.0, 4.0),
        "providers": dialect_providers(upstream),
        "routes": {
            "gem-badkey": {"strategy": "first", "candidates": ["gem/badkey+audit", "oai/next+audit"]},
            "gem-noregion": {"strategy": "first", "candidates": ["gem/noregion+audit", "oai/next+audit"]},
        },
    }
    with GatewayProcess(tmp_path_factory.mktemp("gemini-audit"), config) as g:
        yield g


def _outcomes(gw: GatewayProcess, request_id: str) -> list[tuple[str, str]]:
    return [(a["model"], a["outcome"]) for a in json.loads(gw.row(request_id)["attempts"])]


@pytest.mark.parametrize("why", ["badkey", "noregion"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_deployment_gemini_refuses_with_a_400_fails_over(
    oai: openai.OpenAI, gw: GatewayProcess, why: str, stream: bool
) -> None:
    """Google answers a key that is not valid with 400 INVALID_ARGUMENT (reason API_KEY_INVALID) and a
    project in a region it does not serve with 400 FAILED_PRECONDITION: the deployment's fault, not
    the request's, so the next candidate answers (as for a 401/403)."""
    if stream:
        with oai.chat.completions.with_streaming_response.create(
            model=f"gem-{why}", messages=HELLO, stream=True
        ) as resp:
            rid = resp.headers["x-satisfice-request-id"]
            text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    else:
        raw = oai.chat.completions.with_raw_response.create(model=f"gem-{why}", messages=HELLO)
        rid, text = raw.headers["x-satisfice-request-id"], raw.parse().choices[0].message.content or ""
    assert text == "echo: hello there"
    assert _outcomes(gw, rid) == [(f"{why}+audit", "refused"), ("next+audit", "ok")]


def test_a_bad_gemini_key_alone_is_no_invalid_request(oai: openai.OpenAI) -> None:
    """With no other candidate the client learns the deployment was refused, not that its request
    was wrong."""
    with pytest.raises(openai.APIStatusError) as err:
        oai.chat.completions.create(model="gem/badkey+audit", messages=HELLO)
    assert "API key not valid" in err.value.message
    assert err.value.code == "upstream_refused"


@pytest.mark.parametrize("stream", [False, True])
def test_penalties_do_not_fail_a_gemini_2_5_request(
    oai: openai.OpenAI, upstream: FakeUpstream, stream: bool
) -> None:
    """Gemini 2.5 answers 400 "Penalty is not enabled for models/gemini-2.5-flash" to a non-zero
    penalty; README promises such best-effort fields are dropped, not refused."""
    model = f"gemini-2.5-flash+penalty{int(stream)}"
    kwargs: Any = {"presence_penalty": 0.5, "frequency_penalty": 0.3, "temperature": 0.2}
    if stream:
        chunks = list(
            oai.chat.completions.create(model=f"gem/{model}", messages=HELLO, stream=True, **kwargs)
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = (
            oai.chat.completions.create(model=f"gem/{model}", messages=HELLO, **kwargs)
            .choices[0]
            .message.content
            or ""
        )
    assert text == "echo: hello there"
    sent = upstream.sent(model)["generationConfig"]
    assert "presencePenalty" not in sent and "frequencyPenalty" not in sent and sent["temperature"] == 0.2
