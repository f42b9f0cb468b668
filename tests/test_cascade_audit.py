"""Cascade, hold and race edges a demanding client hits through the real gateway (audit, session 15)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.test_cascade import ladder, model, race
from tests.test_race_edges import attempts_of, left_row

# slowafter-1-3000: the first call answers at once, the second (the self-consistency sample) takes 3 s
SC_LEAVE, SC_LEAVE_STREAM = "slowafter-1-3000+scleave", "slowafter-1-3000+scleavestream"
SC_TIMEOUT = "slowafter-1-3000+sctimeout"  # its second sample outlives the route's timeout_s
# A cheap stream that fails after its first events, while a cascade holds it: in band (OpenAI's
# `{"error": ...}` chunk), or as the provider's own error event that the translator reads (Anthropic).
OAI_ERR, ANT_ERR = "errorafter-4+heldoai", "errorafter-4+heldant"
AGREE_CHEAP, AGREE_DOWN = "agreecheap", "error500+agreedown"  # an agreement cascade's top rung is down
RACE_ERR, RACE_CUT = "errorafter-4+raceoai", "cut-4+racecut"  # cheap racers whose stream breaks
# A judge that outlives the route's timeout_s; the cheap answer's refusal marker is followed by more
# text than the route's refusal_followup_chars, which makes the chain unsure (a disclaimer?).
JUDGED, SLOW_JUDGE = "refuse+judged", "slow-3000+slowjudge"


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    cheap = [SC_LEAVE, SC_LEAVE_STREAM, SC_TIMEOUT, OAI_ERR, RACE_ERR, RACE_CUT, AGREE_CHEAP]
    cheap += [JUDGED, SLOW_JUDGE]
    config["models"] = [model(m, 0.01, 0.6) for m in cheap]
    config["models"].append({**model(ANT_ERR, 0.01, 0.6), "provider": "anthropic"})
    config["models"].append(model(AGREE_DOWN, 5.0, 0.97))
    config["routes"] = {
        "sc-leave": ladder([SC_LEAVE, "gpt-4o"], verify={"self_consistency": True}),
        "sc-leave-stream": ladder([SC_LEAVE_STREAM, "gpt-4o"], verify={"self_consistency": True}),
        "sc-timeout": {
            **ladder([SC_TIMEOUT, "gpt-4o"], verify={"self_consistency": True}),
            "reliability": {"timeout_s": 0.5, "deadline_s": 5.0, "retries": 0},
        },
        "held-oai-error": ladder([OAI_ERR, "gpt-4o"]),
        # max_escalations 1: the ladder is the cheap rung and the best, which is the partner
        "agree-down": ladder([AGREE_CHEAP, "gpt-4o-mini", AGREE_DOWN], agreement=True, max_escalations=1),
        "held-ant-error": ladder([ANT_ERR, "gpt-4o"]),
        "race-error": race([RACE_ERR, "gpt-4o"], 3000),
        "race-cut": race([RACE_CUT, "gpt-4o"], 3000),
        "judge-timeout": {
            **ladder(
                [JUDGED, "gpt-4o"],
                verify={"judge": True, "thresholds": {"refusal_followup_chars": 5}},
                judge_model=SLOW_JUDGE,
            ),
            "reliability": {"timeout_s": 0.5, "deadline_s": 5.0, "retries": 0},
        },
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-audit"), config, env={"FAKE_OPENAI_KEY": "k"}) as g:
        yield g


def client(gw: GatewayProcess, timeout: float = 30) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, timeout=timeout)


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_leaves_during_verification_still_pays_for_the_cheap_answer(
    gw: GatewayProcess, stream: bool
) -> None:
    """The cheap answer came and was paid for; the client leaves while its second sample is asked.
    The ledger row must carry the cheap answer's cost (it was lost: billed only after verifying; a
    held stream was neither closed nor billed) and the second sample's, cut off."""
    route = "sc-leave-stream" if stream else "sc-leave"
    with pytest.raises(openai.APITimeoutError):
        if stream:
            with client(gw, 1.0).chat.completions.create(
                model=route, messages=[{"role": "user", "content": "yes or no?"}], stream=True
            ) as s:
                list(s)
        else:
            client(gw, 1.0).chat.completions.create(
                model=route, messages=[{"role": "user", "content": "yes or no?"}]
            )
    row = left_row(gw, route)
    attempts = attempts_of(row)
    cheap = SC_LEAVE_STREAM if stream else SC_LEAVE
    answered = [a for a in attempts if a["model"] == cheap and a["outcome"] == "ok"]
    assert len(answered) == 1 and answered[0].get("cost_usd", 0) > 0, attempts
    # The second sample the client's leaving cut off is charged as a cancelled call too.
    assert [a["outcome"] for a in attempts if a["model"] == cheap] == ["ok", "cancelled"], attempts
    assert row["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts))


WORDS = " ".join(f"w{i}" for i in range(12))


def streamed_by_the_strong_model(gw: GatewayProcess, route: str) -> tuple[dict[str, Any], float]:
    """Stream WORDS through `route`, whose cheap stream breaks: gpt-4o answers, whole. The ledger
    row, and the cost the stream's headers estimated."""
    with client(gw).chat.completions.with_streaming_response.create(
        model=route, messages=[{"role": "user", "content": WORDS}], stream=True
    ) as raw:
        rid = raw.headers["x-satisfice-request-id"]
        assert raw.headers["x-satisfice-model"] == "gpt-4o"
        estimated = float(raw.headers["x-satisfice-cost-usd"])
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "echo: " + WORDS
    return gw.row(rid), estimated


@pytest.mark.parametrize("route", ["held-oai-error", "held-ant-error"])
def test_a_held_stream_that_fails_before_release_escalates(gw: GatewayProcess, route: str) -> None:
    """Nothing went out yet: the next rung answers, as when the stream breaks off while held. An
    OpenAI-compatible error chunk used to be held as text (the broken prefix passed and went out,
    then the client got the error); an Anthropic one was taken for the client leaving (a 502)."""
    row, estimated = streamed_by_the_strong_model(gw, route)
    attempts = attempts_of(row)
    assert row["outcome"] == "ok" and [a["model"] for a in attempts] == [attempts[0]["model"], "gpt-4o"]
    assert "stream failed" in attempts[0]["message"] and attempts[0]["cost_usd"] > 0
    # The cost estimated at the start holds what the abandoned stream was paid, not the prompt alone.
    with client(gw).chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": WORDS}], stream=True
    ) as direct:
        prompt_only = float(direct.headers["x-satisfice-cost-usd"])
    assert estimated == pytest.approx(prompt_only + attempts[0]["cost_usd"], rel=1e-6)
    assert row["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts))


@pytest.mark.parametrize("route", ["race-error", "race-cut"])
def test_a_raced_cheap_stream_that_breaks_loses_and_is_paid_for(gw: GatewayProcess, route: str) -> None:
    """The cheap stream of a streamed race fails after some tokens: the strong stream answers, and
    the cheap one, which the provider bills up to the break, is charged (it was not: a leg that
    failed was left unpriced). An in-band error chunk used to count as the cheap answer's text."""
    row, _ = streamed_by_the_strong_model(gw, route)
    attempts = attempts_of(row)
    cheap = next(a for a in attempts if a["model"] != "gpt-4o")
    assert cheap.get("cost_usd", 0) > 0, attempts
    assert row["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts))


def test_a_second_sample_that_times_out_is_charged(gw: GatewayProcess) -> None:
    """The provider had the sample's prompt and worked until the gateway hung up at timeout_s: it
    is charged like any call that timed out (it was left out of the ledger)."""
    raw = client(gw).chat.completions.with_raw_response.create(
        model="sc-timeout", messages=[{"role": "user", "content": "yes or no?"}]
    )
    assert raw.headers["x-satisfice-model"] == SC_TIMEOUT  # unsure, not failed: the cheap answer stands
    row = gw.row(raw.headers["x-satisfice-request-id"])
    attempts = attempts_of(row)
    assert [a["outcome"] for a in attempts] == ["ok", "timeout"], attempts
    assert attempts[1]["cost_usd"] > 0 and "charged" in attempts[1]["message"]
    assert row["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts))


def test_an_agreement_partner_that_is_down_is_no_verifier_error(gw: GatewayProcess) -> None:
    """The top rung, asked as the cheap answer's partner, is down: there is no partner answer to
    compare with, as when a middle rung is down. Its error used to escape into the verifier (a
    "verifier error" in the reason, and a logged traceback on every request of the outage)."""
    raw = client(gw).chat.completions.with_raw_response.create(
        model="agree-down", messages=[{"role": "user", "content": "yes or no?"}]
    )
    assert raw.headers["x-satisfice-model"] == AGREE_CHEAP
    row = gw.row(raw.headers["x-satisfice-request-id"])
    assert "verifier error" not in row["reason"], row["reason"]
    assert f"{AGREE_DOWN} unavailable" in row["reason"] and "no second sample" in row["reason"]


def test_a_streamed_partner_that_is_down_is_in_the_ledger_unbilled(gw: GatewayProcess) -> None:
    """The partner asked for a held stream fails: no second answer, but the call it made is an
    attempt of the row (every attempt is in the ledger), not billed."""
    with client(gw).chat.completions.with_streaming_response.create(
        model="agree-down", messages=[{"role": "user", "content": "yes or no, streamed?"}], stream=True
    ) as streamed:
        assert any(streamed.iter_lines())
        rid = streamed.headers["x-satisfice-request-id"]
    attempts = attempts_of(gw.row(rid))
    partner = [a for a in attempts if a["model"] == AGREE_DOWN]
    assert partner and partner[0]["outcome"] == "server_error", attempts
    assert partner[0]["message"].startswith("partner") and partner[0]["cost_usd"] == 0.0


def test_a_judge_that_times_out_is_charged(gw: GatewayProcess) -> None:
    """The chain is unsure of the cheap answer, so the judge is asked; it outlives timeout_s. The
    provider had its prompt and worked until the gateway hung up: charged, as any call timed out
    (the judge's call left no trace in the ledger)."""
    raw = client(gw).chat.completions.with_raw_response.create(
        model="judge-timeout", messages=[{"role": "user", "content": "What is the capital of Australia?"}]
    )
    assert raw.headers["x-satisfice-model"] == JUDGED  # unsure, not failed: the cheap answer stands
    row = gw.row(raw.headers["x-satisfice-request-id"])
    attempts = attempts_of(row)
    seen = [(a["model"], a["outcome"]) for a in attempts]
    assert seen == [(JUDGED, "ok"), (SLOW_JUDGE, "timeout")], attempts[0]["message"]
    assert attempts[1]["cost_usd"] > 0 and attempts[1]["message"].startswith("judge timed out; charged")
    assert "judge call failed" in attempts[0]["message"], attempts[0]["message"]
    assert row["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts))
