"""Exploration on strategy auto: which neighbours are tried, with what logged probability, and the
whole loop through the real gateway: explored answers, their feedback, the gate, routing moving."""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator

import openai
import pytest

from satisfice.config import ConfigError, parse_settings
from satisfice.ledger.report import summarize
from satisfice.routing.auto import Decision
from satisfice.routing.explore import explore, neighbours
from satisfice.routing.knob import parse_knob
from tests.conftest import cheap_model, standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess


def decision(index: int, cost: list[float]) -> Decision:
    q = [0.5 + 0.1 * i for i in range(len(cost))]
    return Decision(index, q, cost, parse_knob("quality=0.6"), 0.6, list(q), lambda: 3)


def test_neighbours_are_the_next_cheaper_and_dearer() -> None:
    cost = [0.3, 0.1, 0.2, 0.4]  # cost order: 1, 2, 0, 3
    assert neighbours(cost, 2) == [1, 0]
    assert neighbours(cost, 1) == [2] and neighbours(cost, 3) == [0]
    assert neighbours([0.1, 0.1, 0.1], 1) == [0, 2]  # ties: by position
    assert neighbours([0.5], 0) == []


def test_explore_rate_and_propensities() -> None:
    rng = random.Random(7)
    cost = [0.1, 0.2, 0.3]
    assert explore(decision(1, cost), 0.0, rng) == decision(1, cost)  # off: untouched, propensity 1
    assert explore(decision(0, [0.1]), 0.3, rng).propensity == 1.0  # a single candidate
    picks = [explore(decision(1, cost), 0.2, rng) for _ in range(20_000)]
    n = Counter(d.index for d in picks)
    assert n[1] / len(picks) == pytest.approx(0.8, abs=0.01)
    for side in (0, 2):
        assert n[side] / len(picks) == pytest.approx(0.1, abs=0.01)
    for d in picks:
        if d.index == 1:
            assert d.propensity == pytest.approx(0.8) and d.explored_from is None
        else:
            assert d.propensity == pytest.approx(0.1) and d.explored_from == 1
            assert "exploring" in d.reason(["a", "b", "c"]) and "instead of b" in d.reason(["a", "b", "c"])
    # the probabilities of the possible picks sum to one
    assert sum({d.index: d.propensity for d in picks}.values()) == pytest.approx(1.0)


def test_explore_config() -> None:
    route = {"strategy": "auto", "candidates": ["a", "b"], "explore": 0.1}
    assert parse_settings({"routes": {"r": route}}, {}).routes[0].explore == 0.1
    for bad, strategy in ((0.7, "auto"), (-0.1, "auto"), (0.1, "cascade"), (0.1, "first")):
        with pytest.raises(ConfigError) as e:
            parse_settings({"routes": {"r": {**route, "explore": bad, "strategy": strategy}}}, {})
        assert str(e.value).startswith("routes.r.explore:")


@pytest.fixture(scope="module")
def exploring_gateway(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = [cheap_model("cheapo", 0.5)]
    # prior router: cheapo is predicted under the target, so without exploration it is never tried.
    route = {
        "strategy": "auto",
        "router": "prior",
        "knob": "quality=0.6",
        "candidates": ["cheapo", "gpt-4o"],
        "explore": 0.5,
    }
    config["routes"] = {"explorer": route, "explorer-cached": {**route, "cache": {"when": "always"}}}
    config["learning"] = {"gate_interval_s": 0.5}
    with GatewayProcess(tmp_path_factory.mktemp("gw-explore"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def test_explored_answers_teach_the_router_a_cheaper_model(exploring_gateway: GatewayProcess) -> None:
    gw = exploring_gateway
    c = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, timeout=30)
    prompt = [{"role": "user", "content": "Write a haiku about the sea."}]
    served: dict[str, str] = {}
    for _ in range(60):
        raw = c.chat.completions.with_raw_response.create(model="explorer", messages=prompt)  # type: ignore[arg-type]
        served[raw.headers["x-satisfice-request-id"]] = raw.headers["x-satisfice-model"]
        reason = raw.headers["x-satisfice-reason"]
        if raw.headers["x-satisfice-model"] == "cheapo":
            assert "exploring: cheapo" in reason and "instead of gpt-4o" in reason
        else:
            assert reason.startswith("auto (quality=0.6): gpt-4o")
    explored = Counter(served.values())["cheapo"]
    assert 10 <= explored <= 50  # about half, at 0.5
    gw.rows(len(served))  # the ledger is written off the request path
    report = summarize(gw.ledger)["explored"]
    assert report["requests"] == explored and report["cost_usd"] > 0  # `satisfice report` counts them
    # Users liked the cheap answers better than the strong ones.
    for rid, model in served.items():
        deadline = time.monotonic() + 5
        while gw.feedback(rid, 1.0 if model == "cheapo" else 0.7) == 404 and time.monotonic() < deadline:
            time.sleep(0.05)  # the decision is written off the request path
    logged: dict[str, float] = {}
    deadline = time.monotonic() + 5
    while not set(served) <= set(logged) and time.monotonic() < deadline:  # written in batches
        time.sleep(0.05)
        with sqlite3.connect(gw.tmp / "learn.db") as db:
            logged = dict(db.execute("SELECT request_id, propensity FROM decisions").fetchall())
    assert {logged[rid] for rid in served} == {0.5}  # each pick's probability, greedy or explored
    deadline = time.monotonic() + 15
    moved = None
    while time.monotonic() < deadline:  # the gate runs every 0.5 s; routing shifts once it promotes
        raw = c.chat.completions.with_raw_response.create(model="explorer", messages=prompt)  # type: ignore[arg-type]
        if raw.headers["x-satisfice-reason"].startswith("auto (quality=0.6): cheapo"):
            moved = raw
            break
        time.sleep(0.2)
    assert moved is not None, "the gate never promoted what exploration found"
    assert float(moved.headers["x-satisfice-predicted-quality"]) >= 0.6


def test_an_explored_answer_is_never_cached(exploring_gateway: GatewayProcess) -> None:
    c = openai.OpenAI(base_url=exploring_gateway.base_url, api_key="k", max_retries=0, timeout=30)

    def ask(text: str) -> tuple[str, str]:
        raw = c.chat.completions.with_raw_response.create(
            model="explorer-cached", messages=[{"role": "user", "content": text}]
        )
        return raw.headers["x-satisfice-model"], raw.headers["x-satisfice-cache"]

    explored_first = 0
    for i in range(24):  # each prompt twice: the second is a hit only if the first was stored
        text = f"Name colour number {i} of the rainbow."
        (first, _), (second, cache) = ask(text), ask(text)
        if first == "cheapo":  # explored (p = 0.5): not stored, so the repeat is answered afresh
            explored_first += 1
            assert not cache.startswith("hit")
        else:
            assert cache.startswith("hit") and second == "gpt-4o"
    assert explored_first  # (all 24 first answers unexplored: probability 1 in 16.8 million)


def test_a_trivial_prompt_is_not_explored(exploring_gateway: GatewayProcess) -> None:
    """The trivial-prompt rule sends a greeting to the cheapest candidate, and such a decision is
    never logged for the learner: exploring it would pay for a dearer answer that teaches nothing."""
    c = openai.OpenAI(base_url=exploring_gateway.base_url, api_key="k", max_retries=0, timeout=30)
    served: Counter[str] = Counter()
    for _ in range(12):  # at explore 0.5, all 12 on the cheapest by chance: 1 in 4,096
        raw = c.chat.completions.with_raw_response.create(
            model="explorer", messages=[{"role": "user", "content": "hi"}]
        )
        served[raw.headers["x-satisfice-model"]] += 1
        assert "exploring" not in raw.headers["x-satisfice-reason"], raw.headers["x-satisfice-reason"]
    assert served == {"cheapo": 12}
