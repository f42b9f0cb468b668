"""Latency hedge through the real gateway: fires only past the percentile; the loser is cancelled."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

PRIMARY = "slowafter-3-1500+hedgeprimary"  # fast three times, then 1.5 s slow
MIXED = "slowafter-3-300+mixedprimary"  # fast three times (streamed, below), then 0.3 s slow
STEADY = "slowafter-3-3000+steadyprimary"  # fast three times, then slow for good
STEADY_HEDGE = "slow-300+steadyhedge"  # always answers in 0.3 s


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
    config["models"] = [priced(PRIMARY), priced(MIXED), priced(STEADY), priced(STEADY_HEDGE)]
    hedge = {"percentile": 50, "min_samples": 3, "budget_pct": 100}
    config["routes"] = {
        "hedged": {"strategy": "first", "candidates": [PRIMARY, "gpt-4o"], "hedge": hedge},
        "mixed": {"strategy": "first", "candidates": [MIXED, "gpt-4o"], "hedge": hedge},
        "steady": {"strategy": "first", "candidates": [STEADY, STEADY_HEDGE], "hedge": hedge},
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


def test_a_primary_that_stays_slow_raises_its_own_hedge_threshold(hedge_gateway: GatewayProcess) -> None:
    """A hedged primary is cancelled before it answers; its wait so far still enters its history
    as a lower bound. Left out, the history kept only the three fast answers, so every later
    request was hedged at the same few milliseconds, however long the primary had been slow."""
    c = openai.OpenAI(base_url=hedge_gateway.base_url, api_key="k", max_retries=0, timeout=30)
    thresholds = []
    for i in range(8):
        raw = c.chat.completions.with_raw_response.create(
            model="steady", messages=[{"role": "user", "content": f"p{i}"}]
        )
        reason = hedge_gateway.row(raw.headers["x-satisfice-request-id"])["reason"]
        found = re.search(r"slower than (\d+) ms", reason)
        thresholds.append(int(found.group(1)) if found else None)
    assert thresholds[:3] == [None, None, None]  # fast: no hedge
    assert all(t is not None for t in thresholds[3:])  # slow from the fourth on: hedged
    # The first slow ones are hedged at the fast answers' level; once cut-off waits (each at least
    # the hedge's 300 ms) are most of the history, its median is one of them.
    assert thresholds[3] is not None and thresholds[3] < 100
    assert thresholds[7] is not None and thresholds[7] >= 250, thresholds
