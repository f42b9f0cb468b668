"""The gateway learns how long each model's answers run and prices candidates with it: a model
cheap per token that bills thousands of hidden reasoning tokens stops looking cheap."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

VERBOSE = "verbose+think-3000"  # the fake bills 3,000 hidden reasoning tokens an answer
TERSE = "terse"


def model(name: str, input_price: float) -> dict[str, object]:
    return {
        "id": name,
        "provider": "openai",
        "input_per_mtok": input_price,
        "output_per_mtok": 4 * input_price,
        "context_window": 100000,
        "quality_prior": 0.8,
    }


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = [model(VERBOSE, 0.1), model(TERSE, 0.2)]
    # quality=0: every candidate meets the target, so the cheapest by estimated cost answers.
    config["routes"] = {
        "lean": {"strategy": "auto", "router": "prior", "knob": "quality=0", "candidates": [VERBOSE, TERSE]},
        "lean-cheapest": {"strategy": "cheapest", "candidates": [VERBOSE, TERSE]},
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-lengths"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def ask(gw: GatewayProcess, route: str, text: str, max_tokens: int | None = None) -> tuple[str, float]:
    client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, timeout=30)
    raw = client.chat.completions.with_raw_response.create(
        model=route, messages=[{"role": "user", "content": text}], max_tokens=max_tokens
    )
    raw.parse()
    return raw.headers["x-satisfice-model"], float(raw.headers["x-satisfice-cost-usd"])


def test_a_verbose_reasoning_model_stops_looking_cheap(gateway: GatewayProcess) -> None:
    # An answer cut off by the client's max_tokens says nothing of the model's length: not learned.
    for _ in range(3):
        assert ask(gateway, "lean", "Name a colour.", max_tokens=2000)[0] == VERBOSE
    # Before any full answer both are assumed to answer in 256 tokens: the cheaper per token first.
    first, paid = ask(gateway, "lean", "Summarise the history of the printing press.")
    assert first == VERBOSE
    assert paid > 3000 * 0.4 / 1e6  # it billed its hidden reasoning as output
    # Its 3,000-token answer is now part of its expected length: the terse model is cheaper.
    assert ask(gateway, "lean", "Explain how tides work.")[0] == TERSE
    assert ask(gateway, "lean", "Describe the water cycle.")[0] == TERSE
    assert ask(gateway, "lean-cheapest", "What causes seasons on Earth?")[0] == TERSE  # strategy cheapest
    # A one-word-answer prompt is learned apart: the verbose model has no history there yet.
    assert ask(gateway, "lean", "Is the sky blue? Answer with yes or no.")[0] == VERBOSE
