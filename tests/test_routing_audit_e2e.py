"""Routing defects found by the session-14 audit, each reproduced through the real gateway."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import cheap_model, standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = [cheap_model("cheapo", 0.5), cheap_model("strong", 0.9)]
    config["routes"] = {
        # A route of a model that does not chat: every chat request has no candidate.
        "embed-only": {"strategy": "auto", "router": "prior", "candidates": ["text-embedding-3-small"]},
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-audit"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, timeout=30)


@pytest.mark.parametrize("logprobs", [None, True])
def test_a_route_with_no_chat_model_is_no_capable_candidate_not_a_context_error(
    gateway: GatewayProcess, logprobs: bool | None
) -> None:
    """The plain-request fast path (`_ChatCandidates`) called a route whose only candidate is an
    embedding model a context-window error (code context_length_exceeded, no param), where the
    per-candidate checks, which a logprobs request takes, say no_capable_candidate on `model`."""
    with pytest.raises(openai.BadRequestError) as e:
        client(gateway).chat.completions.create(
            model="embed-only", messages=[{"role": "user", "content": "hello"}], logprobs=logprobs
        )
    assert e.value.code == "no_capable_candidate"
    err = e.value.body
    assert isinstance(err, dict) and err.get("param") == "model"
    assert "an embedding model, which does not chat" in e.value.message
