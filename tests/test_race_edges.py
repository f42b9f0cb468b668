"""Edges of the races (latency hedge, speculative execution) through the real gateway: a client that
leaves mid-race, racers that all fail, a strong answer that comes first, and what each one costs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.test_cascade import model, race

HEDGE = {"percentile": 50, "min_samples": 3, "budget_pct": 100}
PATIENT = {"timeout_s": 30.0, "deadline_s": 60.0, "retries": 0}  # only the client's leaving ends a call
BRISK = {"timeout_s": 0.5, "deadline_s": 10.0, "retries": 0}  # a slow primary times out at 0.5 s

# Models named for fake-upstream behaviours; the tags keep each test's counters and logs apart.
LEAVE_P, LEAVE_S = "slowafter-3-5000+leaveprimary", "hang+leavesecond"
FO_P, FO_S = "slowafter-3-1500+foprimary", "error500+fosecond"
ALL_P, ALL_S, ALL_T = "slowafter-3-1500+allprimary", "error500+allsecond", "error500+allthird"
TWO_P, TWO_S = "slowafter-3-1500+twoprimary", "error500+twosecond"
DL_P, DL_S, DL_T = "slowafter-3-1500+dlprimary", "error500+dlsecond", "hang+dlthird"
SPEC_CHEAP, SPEC_STRONG = "hang+speccheap", "hang+specstrong"
DRIP_CHEAP, DRIP_STRONG = "chunkdelay-100+specdrip", "hang+specstrong2"
LATE_CHEAP = "slow-700+latecheap"
SHORT_DRIP = "chunkdelay-40+shortdrip"
DOWN = "error500+racedown"


def hedged(candidates: list[str], reliability: dict[str, Any]) -> dict[str, Any]:
    return {"strategy": "first", "candidates": candidates, "hedge": HEDGE, "reliability": reliability}


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    cheap = [LEAVE_P, LEAVE_S, FO_P, FO_S, ALL_P, ALL_S, ALL_T, TWO_P, TWO_S, DL_P, DL_S, DL_T]
    cheap += [SPEC_CHEAP, DRIP_CHEAP]
    cheap += [LATE_CHEAP, SHORT_DRIP, "refuse"]
    config["models"] = [model(m, 0.01, 0.6) for m in cheap] + [
        model(m, 5.0, 0.97) for m in (SPEC_STRONG, DRIP_STRONG, DOWN)
    ]
    config["routes"] = {
        "hedge-leave": hedged([LEAVE_P, LEAVE_S], PATIENT),
        "hedge-failover": hedged([FO_P, FO_S, "gpt-4o-mini"], BRISK),
        "hedge-all-fail": hedged([ALL_P, ALL_S, ALL_T], BRISK),
        "hedge-two-fail": hedged([TWO_P, TWO_S], BRISK),
        "hedge-deadline": hedged([DL_P, DL_S, DL_T], {"timeout_s": 0.8, "deadline_s": 1.0, "retries": 0}),
        "race-leave": {**race([SPEC_CHEAP, SPEC_STRONG], 5000), "reliability": PATIENT},
        "race-leave-drip": {**race([DRIP_CHEAP, DRIP_STRONG], 5000), "reliability": PATIENT},
        "race-down": race(["refuse", DOWN], 1000),
        "race-strong-first": race([LATE_CHEAP, "gpt-4o"], 2000),
        "race-opened": race([SHORT_DRIP, "gpt-4o"], 2000),
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-race-edges"), config, env={"FAKE_OPENAI_KEY": "k"}) as g:
        yield g


def client(gw: GatewayProcess, timeout: float = 30) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, timeout=timeout)


def ask(gw: GatewayProcess, route: str, content: str, timeout: float = 30) -> Any:
    return client(gw, timeout).chat.completions.with_raw_response.create(
        model=route, messages=[{"role": "user", "content": content}]
    )


def warm(gw: GatewayProcess, route: str) -> None:
    """Three fast answers: the primary's latency history, past which the hedge fires."""
    for i in range(3):
        ask(gw, route, f"warm {i}")


def attempts_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(row["attempts"])
    return found


def left_row(gw: GatewayProcess, route: str) -> dict[str, Any]:
    """The ledger row of the request on `route` whose client left (its id never reached the client)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = [r for r in gw.rows() if r["route"] == route and r["outcome"] == "client_closed"]
        if rows:
            return rows[-1]
        time.sleep(0.05)
    raise AssertionError(f"no client_closed row for {route}")


def cancelled(model_name: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda rs: any(r["model"] == model_name and r["cancelled"] for r in rs)


def test_a_client_that_leaves_a_hedged_race_cancels_and_pays_for_both_racers(
    gw: GatewayProcess, upstream: FakeUpstream
) -> None:
    warm(gw, "hedge-leave")
    with pytest.raises(openai.APITimeoutError):  # the primary is slow, the hedge hangs: the client leaves
        ask(gw, "hedge-leave", "go", timeout=1.0)
    # Both connections close at once (the hedge used to run on until its 30 s timeout).
    upstream.wait_for(lambda rs: cancelled(LEAVE_P)(rs) and cancelled(LEAVE_S)(rs), timeout=3)
    row = left_row(gw, "hedge-leave")
    attempts = attempts_of(row)
    assert [(a["model"], a["outcome"]) for a in attempts] == [(LEAVE_P, "cancelled"), (LEAVE_S, "cancelled")]
    assert all(a["cost_usd"] > 0 for a in attempts)
    assert row["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts))


def test_when_both_hedge_racers_fail_the_rest_of_the_candidates_are_tried(gw: GatewayProcess) -> None:
    warm(gw, "hedge-failover")
    raw = ask(gw, "hedge-failover", "go")  # the primary times out, the hedge fails: the third answers
    assert raw.headers["x-satisfice-model"] == "gpt-4o-mini"
    row = gw.row(raw.headers["x-satisfice-request-id"])
    assert [(a["model"], a["outcome"]) for a in attempts_of(row)] == [
        (FO_P, "timeout"),
        (FO_S, "server_error"),
        ("gpt-4o-mini", "ok"),
    ]
    assert "hedged: " in row["reason"] and "gpt-4o-mini answered" in row["reason"]


@pytest.mark.parametrize(
    ("route", "models"), [("hedge-all-fail", [ALL_P, ALL_S, ALL_T]), ("hedge-two-fail", [TWO_P, TWO_S])]
)
def test_when_every_candidate_of_a_hedge_fails_the_error_names_every_attempt(
    gw: GatewayProcess, upstream: FakeUpstream, route: str, models: list[str]
) -> None:
    warm(gw, route)
    with pytest.raises(openai.APIStatusError) as err:
        ask(gw, route, "go")
    assert err.value.status_code == 502
    message = err.value.response.json()["error"]["message"]
    assert all(m in message for m in models), message  # it used to name the primary alone
    assert {r["model"] for r in upstream.requests()} >= set(models)
    row = gw.row(err.value.response.headers["x-satisfice-request-id"])
    assert [a["model"] for a in attempts_of(row)] == models


def test_a_client_that_leaves_a_speculative_race_pays_for_both_racers(
    gw: GatewayProcess, upstream: FakeUpstream
) -> None:
    with pytest.raises(openai.APITimeoutError):
        ask(gw, "race-leave", "go", timeout=1.0)
    upstream.wait_for(lambda rs: cancelled(SPEC_CHEAP)(rs) and cancelled(SPEC_STRONG)(rs), timeout=3)
    row = left_row(gw, "race-leave")
    attempts = {a["model"]: a for a in attempts_of(row)}
    assert {m: a["outcome"] for m, a in attempts.items()} == {
        SPEC_CHEAP: "cancelled",
        SPEC_STRONG: "cancelled",
    }
    assert attempts[SPEC_STRONG]["cost_usd"] > attempts[SPEC_CHEAP]["cost_usd"] > 0
    assert row["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts.values()))


def test_a_client_that_leaves_a_streamed_race_pays_for_what_the_cheap_stream_sent(
    gw: GatewayProcess,
) -> None:
    words = " ".join(f"word{i}" for i in range(40))  # a word every 100 ms: four seconds of answer
    with (
        pytest.raises(openai.APITimeoutError),
        client(gw, timeout=1.0).chat.completions.with_streaming_response.create(
            model="race-leave-drip", messages=[{"role": "user", "content": words}], stream=True
        ),
    ):
        pass
    row = left_row(gw, "race-leave-drip")
    attempts = {a["model"]: a for a in attempts_of(row)}
    assert {m: a["outcome"] for m, a in attempts.items()} == {
        DRIP_CHEAP: "cancelled",
        DRIP_STRONG: "cancelled",
    }
    received = int(attempts[DRIP_CHEAP]["message"].split("+ ")[1].split()[0])
    assert 3 <= received < 40  # the words it had sent before the client left
    assert row["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts.values()))


def test_a_failed_cheap_answer_is_returned_when_the_strong_model_fails(gw: GatewayProcess) -> None:
    raw = ask(gw, "race-down", "hello")
    assert raw.parse().choices[0].message.content == "I'm sorry, but I can't help with that request."
    row = gw.row(raw.headers["x-satisfice-request-id"])
    assert row["reason"].endswith("answered with refuse's answer, which failed verification")
    refused = next(a for a in attempts_of(row) if a["model"] == "refuse")
    assert refused["verdict"] == "fail" and refused["cost_usd"] > 0
    assert row["cost_usd"] == pytest.approx(refused["cost_usd"])


def test_a_streamed_race_whose_strong_model_fails_relays_the_failed_cheap_answer(gw: GatewayProcess) -> None:
    """As unstreamed (above): the cheap answer was paid for, and beats an error. The stream used to
    end in a 502 before its first byte."""
    with client(gw).chat.completions.with_streaming_response.create(
        model="race-down", messages=[{"role": "user", "content": "hello"}], stream=True
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        assert resp.headers["x-satisfice-model"] == "refuse"
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text == "I'm sorry, but I can't help with that request."
    row = gw.row(rid)
    assert row["outcome"] == "ok" and row["model"] == "refuse"
    assert row["reason"].endswith("answered with refuse's answer, which failed verification")
    refused = next(a for a in attempts_of(row) if a["model"] == "refuse")
    assert refused["verdict"] == "fail" and refused["cost_usd"] > 0
    down = [a for a in attempts_of(row) if a["model"] == DOWN]
    assert down and all(a["outcome"] != "ok" and not a.get("cost_usd") for a in down)
    assert row["cost_usd"] == pytest.approx(refused["cost_usd"])


def test_a_strong_answer_that_comes_first_is_returned_at_once(
    gw: GatewayProcess, upstream: FakeUpstream
) -> None:
    """The cheap answer would pass within the deadline, but the strong one is already paid for:
    waiting for the cheap one could save nothing."""
    raw = ask(gw, "race-strong-first", "what is the capital of France")
    assert raw.headers["x-satisfice-model"] == "gpt-4o"
    upstream.wait_for(cancelled(LATE_CHEAP), timeout=3)
    row = gw.row(raw.headers["x-satisfice-request-id"])
    attempts = {a["model"]: a for a in attempts_of(row)}
    assert attempts[LATE_CHEAP]["outcome"] == "cancelled" and attempts[LATE_CHEAP]["cost_usd"] > 0
    assert attempts["gpt-4o"]["outcome"] == "ok" and attempts["gpt-4o"]["cost_usd"] > 0
    assert row["cost_usd"] == pytest.approx(attempts["gpt-4o"]["cost_usd"] + attempts[LATE_CHEAP]["cost_usd"])
    assert row["latency_ms"] < 600  # not held until the cheap answer came at 700 ms
    assert f"{LATE_CHEAP} cancelled at" in row["reason"] and "gpt-4o answered first" in row["reason"]


def test_an_opened_strong_stream_that_loses_is_logged_once(gw: GatewayProcess) -> None:
    with client(gw).chat.completions.with_streaming_response.create(
        model="race-opened", messages=[{"role": "user", "content": "hi there"}], stream=True
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text == "echo: hi there" and resp.headers["x-satisfice-model"] == SHORT_DRIP
    row = gw.row(rid)
    strong = [a for a in attempts_of(row) if a["model"] == "gpt-4o"]
    assert [a["outcome"] for a in strong] == ["cancelled"] and strong[0]["cost_usd"] > 0
    assert row["cost_usd"] > strong[0]["cost_usd"]
    # The estimate sent with the stream's headers includes the loser, already paid then.
    assert resp.headers["x-satisfice-cost-estimated"] == "prompt-only"
    assert float(resp.headers["x-satisfice-cost-usd"]) >= strong[0]["cost_usd"]


def test_a_hedges_failover_keeps_what_is_left_of_the_deadline(gw: GatewayProcess) -> None:
    """The primary times out at 0.8 s and the hedge failed at once; the third candidate hangs. It
    gets the 0.2 s left of the 1 s deadline, not a fresh deadline (0.8 s more)."""
    warm(gw, "hedge-deadline")
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as err:
        ask(gw, "hedge-deadline", "go")
    assert time.monotonic() - started < 1.4
    assert f"{DL_T}: timeout" in err.value.message and "no answer within 0.2s" in err.value.message
