"""Latency hedge through the real gateway: fires only past the percentile; the loser is cancelled."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

PRIMARY = "slowafter-3-1500+hedgeprimary"  # fast three times, then 1.5 s slow
MIXED = "slowafter-3-300+mixedprimary"  # fast three times (streamed, below), then 0.3 s slow


def priced(name: str) -> dict[str, object]:
    return {
        "id": name,
        "provider": "openai",
        "input_per_mtok": 1.0,
        "output_per_mtok": 2.0,
        "context_window": 100000,
    }


@pytest.fixture(scope="module")
def hedge_gateway(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = [priced(PRIMARY), priced(MIXED)]
    hedge = {"percentile": 50, "min_samples": 3, "budget_pct": 100}
    config["routes"] = {
        "hedged": {"strategy": "first", "candidates": [PRIMARY, "gpt-4o"], "hedge": hedge},
        "mixed": {"strategy": "first", "candidates": [MIXED, "gpt-4o"], "hedge": hedge},
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-hedge"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def test_hedge_fires_only_past_the_percentile_and_cancels_the_loser(
    hedge_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    c = openai.OpenAI(base_url=hedge_gateway.base_url, api_key="k", max_retries=0, timeout=30)
    before = len(upstream.requests())
    for i in range(3):  # builds the primary's latency history; no hedge while it is fast
        raw = c.chat.completions.with_raw_response.create(
            model="hedged", messages=[{"role": "user", "content": f"q{i}"}]
        )
        assert raw.headers["x-satisfice-model"] == PRIMARY
    assert [r["model"] for r in upstream.requests()[before:]] == [PRIMARY] * 3
    raw = c.chat.completions.with_raw_response.create(
        model="hedged", messages=[{"role": "user", "content": "slow"}]
    )
    assert raw.headers["x-satisfice-model"] == "gpt-4o"  # the hedge answered first
    upstream.wait_for(lambda rs: any(r["model"] == PRIMARY and r["cancelled"] for r in rs))
    row = hedge_gateway.row(raw.headers["x-satisfice-request-id"])
    attempts = {a["model"]: a for a in json.loads(row["attempts"])}
    assert attempts[PRIMARY]["outcome"] == "cancelled" and attempts[PRIMARY]["cost_usd"] > 0
    assert attempts["gpt-4o"]["outcome"] == "ok"
    assert row["cost_usd"] > attempts[PRIMARY]["cost_usd"]  # the winner's cost plus the charged loser
    assert f"hedged: {PRIMARY} slower than" in row["reason"] and "gpt-4o won" in row["reason"]


def test_streams_do_not_set_the_hedge_threshold_of_whole_answers(hedge_gateway: GatewayProcess) -> None:
    """A stream's first event comes long before a whole answer: three fast streams must not make
    the first non-streamed request look slow (it used to be hedged at once, at the dearer model)."""
    c = openai.OpenAI(base_url=hedge_gateway.base_url, api_key="k", max_retries=0, timeout=30)
    for i in range(3):
        with c.chat.completions.with_streaming_response.create(
            model="mixed", messages=[{"role": "user", "content": f"s{i}"}], stream=True
        ) as resp:
            assert resp.headers["x-satisfice-model"] == MIXED
            list(resp.parse())
    raw = c.chat.completions.with_raw_response.create(
        model="mixed", messages=[{"role": "user", "content": "whole"}]
    )
    assert raw.headers["x-satisfice-model"] == MIXED  # no history of whole answers yet: no hedge
    assert "hedged" not in hedge_gateway.row(raw.headers["x-satisfice-request-id"])["reason"]
