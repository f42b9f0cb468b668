"""Strategy cascade through the real gateway: verify a cheap answer, escalate when it fails."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import standard_config
from tests.fakes.behaviours import REFUSAL
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess


def model(name: str, price: float, prior: float) -> dict[str, object]:
    return {
        "id": name,
        "provider": "openai",
        "input_per_mtok": price,
        "output_per_mtok": 2 * price,
        "context_window": 100000,
        "quality_prior": prior,
        "capabilities": {"tools": True},
    }


RACER = "slow-100+racer"  # a cheap racer that answers in 0.1 s
# Models the catalog does not know (fake-upstream behaviours), priced so the ladders are known.
WEAK_NAMES = [*("alt", "refuse", "plain", "slow-800+cheapslow", "chunkdelay-50+drip", RACER)]
WEAK_NAMES += ["badjson+garbled", "chunkdelay-300+held", "hang+a", "refuse+speed", "cut-3+cutcheap"]
WEAK_NAMES += ["refuse+think-500"]  # a reasoning model: 500 hidden output tokens billed
STRONG_NAMES = (
    "slow-3000+strong",
    "slow-400+strong2",
    "slow-300+strong3",
    "error500+strongdown",
    "slow-300+strong4",
    "ratelimit+strongrl",
)
CHEAP = [
    *(model(name, 0.01, 0.6) for name in WEAK_NAMES),
    *(model(name, 5.0, 0.97) for name in STRONG_NAMES),
    # rungs of known order: a little dearer and better each
    model("refuse+again", 0.02, 0.7),
    model("hang+b", 0.02, 0.7),
    model("hang+c", 0.03, 0.8),
    # a two-rung ladder priced alike, so side calls weigh in the escalation budget's share
    model("plain+budgeta", 0.01, 0.6),
    model("plain+budgetb", 0.011, 0.97),
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {
                "type": "object",
                "properties": {"echo": {"type": "string"}},
                "required": ["echo"],
            },
        },
    }
]


def ladder(candidates: list[str], **cascade: Any) -> dict[str, Any]:
    """A cascade route with a known ladder (router: prior)."""
    return {
        "strategy": "cascade",
        "router": "prior",
        "knob": "quality=0.5",
        "candidates": candidates,
        "cascade": cascade,
    }


def race(candidates: list[str], deadline_ms: int) -> dict[str, Any]:
    """A speculative route over (cheap, strong) with a known ladder (router: prior)."""
    return {
        "strategy": "speculative",
        "router": "prior",
        "knob": "quality=0.5",
        "candidates": candidates,
        "cascade": {"speculative_deadline_ms": deadline_ms},
    }


@pytest.fixture(scope="module")
def cascade_gateway(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = CHEAP
    # router: prior ranks by the catalog's quality prior, so the ladder is known in advance.
    config["routes"] = {
        "thrifty": {
            "strategy": "cascade",
            "router": "prior",
            "knob": "quality=0.5",
            "candidates": ["refuse", "gpt-4o-mini", "gpt-4o"],
            "cascade": {"max_escalations": 2},
        },
        "refuse-alone": {  # a one-rung ladder: nothing to escalate to
            "strategy": "cascade",
            "router": "prior",
            "knob": "quality=0.5",
            "candidates": ["refuse"],
        },
        "thrifty-ok": {
            "strategy": "cascade",
            "router": "prior",
            "knob": "quality=0.5",
            "candidates": ["plain", "gpt-4o"],
        },
        "consistent": {
            "strategy": "cascade",
            "router": "prior",
            "knob": "quality=0.5",
            "candidates": ["plain", "gpt-4o"],
            "cascade": {"verify": {"self_consistency": True}},
        },
        "agree": {
            "strategy": "cascade",
            "router": "prior",
            "knob": "quality=0.5",
            "candidates": ["alt", "gpt-4o-mini", "gpt-4o"],
            "cascade": {"agreement": True},
        },
        "consistent-refuse": ladder(["refuse", "gpt-4o"], verify={"self_consistency": True}),
        "strong-down": ladder(["refuse", "error500+strongdown"]),
        "strong-down-stream": ladder(["refuse", "error500+strongdown"]),
        "strong-down-cut": ladder(["cut-3+cutcheap", "error500+strongdown"]),
        "no-budget": ladder(["refuse", "gpt-4o"], escalation_budget_pct=0),
        "side-budget": ladder(
            ["plain+budgeta", "plain+budgetb"], escalation_budget_pct=10, verify={"self_consistency": True}
        ),
        "thinking-first": ladder(["refuse+think-500", "gpt-4o"]),
        "garbled-first": ladder(["badjson+garbled", "gpt-4o"]),
        "two-refusals": ladder(["refuse", "refuse+again", "gpt-4o"]),
        "prefix-only": ladder(["plain", "gpt-4o"], hold_tokens=2),
        "teach-speed": race(["refuse+speed", "slow-300+strong4"], 1000),
        "use-speed": race([RACER, "slow-300+strong4"], 1000),
        "held-slow": ladder(["chunkdelay-300+held", "gpt-4o"], hold_tokens=400),
        "held-deadline": {
            **ladder(["chunkdelay-300+held", "gpt-4o"], hold_tokens=400),
            "reliability": {"timeout_s": 5.0, "deadline_s": 1.0},
        },
        "all-hang": {
            **ladder(["hang+a", "hang+b", "hang+c"]),
            "reliability": {"timeout_s": 0.4, "deadline_s": 1.0, "retries": 0},
        },
        # The cheap racer takes 0.1 s, so the strong request has surely reached the fake upstream
        # before a cheap win cancels it (an instant answer could cancel it before it was sent).
        "race": race([RACER, "slow-3000+strong"], 1500),
        "race-est": race(["plain", "slow-400+strong2"], 300),
        "race-backoff": race([RACER, "ratelimit+strongrl"], 1000),
        "slow-climb": ladder(["slow-800+cheapslow", "gpt-4o"]),
        "race-drip": race(["chunkdelay-50+drip", "gpt-4o"], 300),
        # the strong model answers after the deadline: the cheap one is then cancelled for being late
        "race-slow": race(["slow-800+cheapslow", "slow-300+strong3"], 200),
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-cascade"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, timeout=30)


def test_failing_cheap_answer_escalates_and_every_attempt_is_paid(
    cascade_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="thrifty", messages=[{"role": "user", "content": "help me plan a trip"}]
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == "echo: help me plan a trip"
    assert raw.headers["x-satisfice-model"] == "gpt-4o-mini"
    row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
    attempts = json.loads(row["attempts"])
    assert [(a["model"], a.get("verdict")) for a in attempts] == [("refuse", "fail"), ("gpt-4o-mini", "pass")]
    assert "refusal" in attempts[0]["message"]
    assert row["cost_usd"] == pytest.approx(attempts[0]["cost_usd"] + attempts[1]["cost_usd"])
    assert "refuse fail" in row["reason"] and row["reason"].startswith("cascade (quality=0.5)")
    assert [r["model"] for r in upstream.requests()[-2:]] == ["refuse", "gpt-4o-mini"]
    # Feedback on this request is about the answer the client got: the escalated model's.
    rid = raw.headers["x-satisfice-request-id"]
    assert cascade_gateway.feedback(rid, 0.0) == 200
    assert outcome_models(cascade_gateway, rid, "feedback") == ["gpt-4o-mini"]
    assert outcome_models(cascade_gateway, rid, "verify", expect=2) == ["gpt-4o-mini", "refuse"]


def outcome_models(gw: GatewayProcess, rid: str, source: str, expect: int = 1) -> list[str]:
    """The models the learning store credited with outcomes of one request (waits for the writer)."""
    deadline = time.monotonic() + 5
    while True:
        conn = sqlite3.connect(gw.env["SATISFICE_LEARN"])
        try:
            rows = conn.execute(
                "SELECT model FROM outcomes WHERE request_id = ? AND source = ? ORDER BY model", (rid, source)
            ).fetchall()
        except sqlite3.OperationalError:
            rows = []
        finally:
            conn.close()
        if len(rows) >= expect or time.monotonic() > deadline:
            return [r[0] for r in rows]
        time.sleep(0.05)


def test_a_verdict_on_the_top_rung_is_not_learned_from(cascade_gateway: GatewayProcess) -> None:
    """The refusal fails verification, but nothing is above it to escalate to: the client gets it,
    the ledger keeps the verdict, and the learner does not count it against the model."""
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="refuse-alone", messages=[{"role": "user", "content": "help me plan a trip"}]
    )
    alone = raw.headers["x-satisfice-request-id"]
    attempts = json.loads(cascade_gateway.row(alone)["attempts"])
    assert [(a["model"], a.get("verdict")) for a in attempts] == [("refuse", "fail")]
    later = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="thrifty", messages=[{"role": "user", "content": "help me plan a trip"}]
    )
    rid = later.headers["x-satisfice-request-id"]
    # The learner writes outcomes in order: once the later request's are in, the first one's would be.
    assert outcome_models(cascade_gateway, rid, "verify", expect=2) == ["gpt-4o-mini", "refuse"]
    assert outcome_models(cascade_gateway, alone, "verify", expect=0) == []


def test_passing_cheap_answer_stops_the_cascade(
    cascade_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    before = len(upstream.requests())
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="thrifty-ok", messages=[{"role": "user", "content": "what is the capital of France"}]
    )
    assert raw.headers["x-satisfice-model"] == "plain"
    assert [r["model"] for r in upstream.requests()[before:]] == ["plain"]  # gpt-4o never called
    row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
    assert [a.get("verdict") for a in json.loads(row["attempts"])] == ["pass"]


def test_code_and_worked_sums_that_read_as_loops_or_slips_do_not_escalate(
    cascade_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    """The fake echoes the prompt: an answer with stub classes (a repeated `pass`), a unit conversion
    and a clock time passes the default chain on the cheap rung, and the dear one is never asked."""
    classes = "".join(f"class {n}Error(AppError):\n    pass\n\n" for n in "ABCDEFGH")
    prompt = f"```python\n{classes}```\n3 dozen = 3 * 12 = 36 eggs, ready by 9:30 + 45 min = 10:15"
    before = len(upstream.requests())
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="thrifty-ok", messages=[{"role": "user", "content": prompt}]
    )
    assert raw.headers["x-satisfice-model"] == "plain"
    assert [r["model"] for r in upstream.requests()[before:]] == ["plain"]


def test_streaming_cascade_holds_back_and_escalates_before_any_byte(cascade_gateway: GatewayProcess) -> None:
    with client(cascade_gateway).chat.completions.with_streaming_response.create(
        model="thrifty",
        messages=[{"role": "user", "content": "tell me a story"}],
        stream=True,
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text == "echo: tell me a story"  # not one byte of the refusal reached the client
    row = cascade_gateway.row(rid)
    attempts = json.loads(row["attempts"])
    assert [(a["model"], a.get("verdict")) for a in attempts] == [("refuse", "fail"), ("gpt-4o-mini", "pass")]
    assert row["cost_usd"] > attempts[0]["cost_usd"] > 0  # the abandoned stream is billed too
    assert row["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts))  # the answer's too


def test_an_abandoned_held_stream_is_billed_the_usage_its_provider_reported(
    cascade_gateway: GatewayProcess,
) -> None:
    """The held cheap answer came whole with its usage (500 hidden reasoning tokens among them):
    the escalated stream bills that, as the same request without streaming does, not an estimate
    from the visible text (which was ~80 times too low here)."""
    chat = client(cascade_gateway).chat.completions
    plain = chat.with_raw_response.create(
        model="thinking-first", messages=[{"role": "user", "content": "tell me a story"}]
    )
    with chat.with_streaming_response.create(
        model="thinking-first", messages=[{"role": "user", "content": "tell me a story"}], stream=True
    ) as resp:
        streamed_id = resp.headers["x-satisfice-request-id"]
        assert "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    rows = [cascade_gateway.row(rid) for rid in (plain.headers["x-satisfice-request-id"], streamed_id)]
    cheap = [json.loads(r["attempts"])[0] for r in rows]
    assert [a["model"] for a in cheap] == ["refuse+think-500"] * 2
    words = len(REFUSAL.split())
    assert (
        cheap[1]["tokens"] == cheap[0]["tokens"] == 7 + words + 500
    )  # prompt (4 words + 3), output, thinking
    assert cheap[1]["cost_usd"] == pytest.approx(cheap[0]["cost_usd"])
    assert cheap[1]["cost_usd"] == pytest.approx((7 * 0.01 + (words + 500) * 0.02) / 1e6)
    assert rows[1]["cost_usd"] == pytest.approx(rows[0]["cost_usd"])


def test_speculative_cheap_wins_and_the_strong_request_is_cancelled_and_charged(
    cascade_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="race", messages=[{"role": "user", "content": "quick question"}]
    )
    assert raw.headers["x-satisfice-model"] == RACER
    upstream.wait_for(lambda rs: any(r["model"] == "slow-3000+strong" and r["cancelled"] for r in rs))
    row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
    attempts = {a["model"]: a for a in json.loads(row["attempts"])}
    assert attempts[RACER]["verdict"] == "pass"
    assert (
        attempts["slow-3000+strong"]["outcome"] == "cancelled"
        and attempts["slow-3000+strong"]["cost_usd"] > 0
    )
    assert row["cost_usd"] == pytest.approx(
        attempts[RACER]["cost_usd"] + attempts["slow-3000+strong"]["cost_usd"]
    )


def test_a_racer_cancelled_while_waiting_to_retry_is_not_billed(cascade_gateway: GatewayProcess) -> None:
    """The strong call got a 429 and waits out its Retry-After (1 s) when the cheap answer wins:
    no call of it is out, so nothing is billed (it was charged a prompt before)."""
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="race-backoff", messages=[{"role": "user", "content": "quick question"}]
    )
    assert raw.headers["x-satisfice-model"] == RACER
    row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
    strong = [a for a in json.loads(row["attempts"]) if a["model"] == "ratelimit+strongrl"]
    assert [a["outcome"] for a in strong] == ["rate_limited", "cancelled"]
    assert strong[1]["cost_usd"] == 0 and "not billed" in strong[1]["message"]
    racer = next(a for a in json.loads(row["attempts"]) if a["model"] == RACER)
    assert row["cost_usd"] == pytest.approx(racer["cost_usd"])


def test_a_rung_cut_off_by_the_client_leaving_is_charged(cascade_gateway: GatewayProcess) -> None:
    """The provider got the rung's prompt: the 499 row keeps that call, charged (it had no attempt)."""
    c = openai.OpenAI(base_url=cascade_gateway.base_url, api_key="k", max_retries=0, timeout=0.3)
    tag = f"leaves {time.time_ns()}"
    with pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model="slow-climb", messages=[{"role": "user", "content": tag}])
    deadline = time.monotonic() + 5
    mine: list[dict[str, Any]] = []
    while not mine and time.monotonic() < deadline:
        mine = [r for r in cascade_gateway.rows() if r["route"] == "slow-climb" and r["status"] == 499]
        time.sleep(0.05)
    (row,) = mine
    (cut,) = [a for a in json.loads(row["attempts"]) if a["outcome"] == "cancelled"]
    assert (
        cut["model"] == "slow-800+cheapslow" and cut["tokens"] > 0 and row["cost_usd"] == cut["cost_usd"] > 0
    )


def test_speculative_slow_cheap_loses_to_the_strong_model(
    cascade_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="race-slow", messages=[{"role": "user", "content": "another question"}]
    )
    assert raw.headers["x-satisfice-model"] == "slow-300+strong3"
    upstream.wait_for(lambda rs: any(r["model"] == "slow-800+cheapslow" and r["cancelled"] for r in rs))
    row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
    outcomes = {a["model"]: a["outcome"] for a in json.loads(row["attempts"])}
    assert outcomes == {"slow-800+cheapslow": "cancelled", "slow-300+strong3": "ok"}
    assert "not done in 200 ms" in row["reason"]


def test_a_cancelled_call_is_charged_the_output_it_likely_produced(
    cascade_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    c = client(cascade_gateway)
    prompt = [{"role": "user", "content": "Please repeat after me: " + "many words " * 500}]

    def race() -> dict[str, Any]:
        raw = c.chat.completions.with_raw_response.create(model="race-est", messages=prompt)  # type: ignore[arg-type]
        assert raw.headers["x-satisfice-model"] == "plain"
        row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
        lost: dict[str, Any] = {a["model"]: a for a in json.loads(row["attempts"])}["slow-400+strong2"]
        assert lost["outcome"] == "cancelled"
        return lost

    first = race()  # nothing is known of the strong model's speed yet: the prompt alone
    assert first["message"] == "charged prompt only (no output speed known yet)"
    assert first["cost_usd"] > 0
    # One whole answer (~1,000 tokens in 0.4 s) teaches the gateway its output speed ...
    c.chat.completions.create(model="slow-400+strong2", messages=prompt)  # type: ignore[arg-type]
    second = race()  # ... so the next cancelled call is charged the output it ran long enough to make
    assert "output tokens (estimated from its recent output speed)" in second["message"]
    produced = int(second["message"].split("~")[1].split()[0])
    assert 0 < produced <= 1100
    per_token = 2 * 5.0 / 1e6  # the model's output price
    assert second["cost_usd"] == pytest.approx(first["cost_usd"] + produced * per_token, rel=1e-6)


def test_a_cancelled_stream_is_charged_the_output_it_sent(cascade_gateway: GatewayProcess) -> None:
    # The cheap stream drips a word every 50 ms: not done by the 300 ms deadline, so it is closed.
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    with client(cascade_gateway).chat.completions.with_streaming_response.create(
        model="race-drip", messages=[{"role": "user", "content": text}], stream=True
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        got = "".join(ch.choices[0].delta.content or "" for ch in resp.parse() if ch.choices)
    assert got == "echo: " + text
    attempts = {a["model"]: a for a in json.loads(cascade_gateway.row(rid)["attempts"])}
    lost = attempts["chunkdelay-50+drip"]
    assert lost["outcome"] == "cancelled" and "output tokens received" in lost["message"]
    received = int(lost["message"].split("+ ")[1].split()[0])
    assert 1 <= received < 20  # some words went out before the close, not the whole answer


def test_self_consistency_samples_the_cheap_model_twice_and_pays_for_both(
    cascade_gateway: GatewayProcess,
) -> None:
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="consistent", messages=[{"role": "user", "content": "What is 6 times 7?"}]
    )
    assert raw.headers["x-satisfice-model"] == "plain"
    row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
    attempts = json.loads(row["attempts"])
    assert [(a["model"], a["outcome"]) for a in attempts] == [("plain", "ok"), ("plain", "second_sample")]
    assert attempts[0]["verdict"] == "pass"
    assert row["cost_usd"] == pytest.approx(attempts[0]["cost_usd"] + attempts[1]["cost_usd"])


def test_agreement_cascade_escalates_on_disagreement_and_reuses_the_partner_answer(
    cascade_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    before = len(upstream.requests())
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="agree", messages=[{"role": "user", "content": "what is 6 times 7"}]
    )
    assert raw.headers["x-satisfice-model"] == "gpt-4o-mini"  # alt disagreed; mini agreed with gpt-4o
    # Each rung was asked exactly once: the partner's answer was reused on escalation.
    assert sorted(r["model"] for r in upstream.requests()[before:]) == ["alt", "gpt-4o", "gpt-4o-mini"]
    row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
    verdicts = {a["model"]: a.get("verdict") for a in json.loads(row["attempts"])}
    assert verdicts["alt"] == "fail" and verdicts["gpt-4o-mini"] == "pass"
    assert row["cost_usd"] > 0 and "alt fail" in row["reason"]
    # every call is priced on its attempt (the partner asked but not used too): they add up to the row
    assert row["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in json.loads(row["attempts"])))


def test_speculative_stream_cheap_wins_and_the_strong_stream_is_closed(
    cascade_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    before = sum(r["model"] == "slow-3000+strong" and r["cancelled"] for r in upstream.requests())
    with client(cascade_gateway).chat.completions.with_streaming_response.create(
        model="race", messages=[{"role": "user", "content": "streamed quick question"}], stream=True
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text == "echo: streamed quick question"
    upstream.wait_for(
        lambda rs: sum(r["model"] == "slow-3000+strong" and r["cancelled"] for r in rs) > before
    )
    row = cascade_gateway.row(rid)
    attempts = {a["model"]: a for a in json.loads(row["attempts"])}
    assert row["model"] == RACER and attempts[RACER]["verdict"] == "pass"
    assert attempts["slow-3000+strong"]["outcome"] == "cancelled"
    assert row["cost_usd"] > attempts["slow-3000+strong"]["cost_usd"] > 0


def test_speculative_stream_slow_cheap_loses(cascade_gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    with client(cascade_gateway).chat.completions.with_streaming_response.create(
        model="race-slow", messages=[{"role": "user", "content": "streamed other question"}], stream=True
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text == "echo: streamed other question"
    row = cascade_gateway.row(rid)
    outcomes = {a["model"]: a["outcome"] for a in json.loads(row["attempts"])}
    assert outcomes == {"slow-800+cheapslow": "cancelled", "slow-300+strong3": "ok"}


def stream_chunks(gw: GatewayProcess, route: str, content: str, **kw: Any) -> tuple[str, list[Any]]:
    """(request id, chunks) of a streamed request."""
    with client(gw).chat.completions.with_streaming_response.create(
        model=route, messages=[{"role": "user", "content": content}], stream=True, **kw
    ) as resp:
        return resp.headers["x-satisfice-request-id"], list(resp.parse())


@pytest.mark.parametrize(("route", "cheap"), [("thrifty-ok", "plain"), ("race", RACER)])
def test_a_streamed_tool_call_is_verified_like_a_whole_one(
    cascade_gateway: GatewayProcess, route: str, cheap: str
) -> None:
    """A streamed answer made of a tool call carries no content; it used to be judged an empty
    answer, so every rung failed and the strongest model answered every streamed tool call."""
    rid, chunks = stream_chunks(cascade_gateway, route, "find the weather", tools=TOOLS)
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert "".join(tc.function.arguments or "" for tc in calls) == '{"echo":"find the weather"}'
    attempts = json.loads(cascade_gateway.row(rid)["attempts"])
    assert (attempts[0]["model"], attempts[0].get("verdict")) == (cheap, "pass")
    assert cascade_gateway.row(rid)["model"] == cheap


def test_a_streamed_verdict_is_recorded_as_given(cascade_gateway: GatewayProcess) -> None:
    """The verdict of a held stream is the verifiers' own (an unsure answer used to be logged as a
    pass, and taught the learner a success); with no budget to escalate, the trail says so."""
    rid, _ = stream_chunks(cascade_gateway, "no-budget", "hello there")
    row = cascade_gateway.row(rid)
    attempts = json.loads(row["attempts"])
    assert [(a["model"], a.get("verdict")) for a in attempts] == [("refuse", "fail")]
    assert "refuse held" in row["reason"] and "fail: refusal" in row["reason"]
    assert row["reason"].endswith("escalation budget spent")


def test_self_consistency_pays_for_a_second_sample_only_when_it_can_compare(
    cascade_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    before = len(upstream.requests())
    long_prompt = " ".join(
        f"Tell me about town number {i} along the river, its bridges and markets." for i in range(6)
    )
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="consistent", messages=[{"role": "user", "content": long_prompt}]
    )
    row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
    assert [(a["model"], a["outcome"], a["verdict"]) for a in json.loads(row["attempts"])] == [
        ("plain", "ok", "pass")
    ]
    assert "long answer: no second sample taken" in row["reason"]
    # A refusal fails the chain: no second sample either, straight to the next rung.
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="consistent-refuse", messages=[{"role": "user", "content": "What is 6 times 7?"}]
    )
    row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
    assert [(a["model"], a["outcome"]) for a in json.loads(row["attempts"])] == [
        ("refuse", "ok"),
        ("gpt-4o", "ok"),
    ]
    assert [r["model"] for r in upstream.requests()[before:]] == ["plain", "refuse", "gpt-4o"]


def test_when_no_rung_above_answers_the_failed_answer_is_returned_and_paid(
    cascade_gateway: GatewayProcess,
) -> None:
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="strong-down", messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.parse().choices[0].message.content == "I'm sorry, but I can't help with that request."
    row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
    assert row["reason"].endswith("answered with refuse's answer, which failed verification")
    refused = json.loads(row["attempts"])[0]
    assert refused["verdict"] == "fail" and refused["cost_usd"] > 0
    assert row["cost_usd"] == pytest.approx(refused["cost_usd"])


def test_a_stream_that_ends_in_an_error_keeps_what_it_paid(cascade_gateway: GatewayProcess) -> None:
    """The cheap stream broke while held and was billed for what it sent; the strong model then
    failed. The error row used to say the request cost nothing."""
    words = " ".join(f"w{i}" for i in range(20))
    with pytest.raises(openai.APIStatusError) as err:
        stream_chunks(cascade_gateway, "strong-down-cut", words)
    row = cascade_gateway.row(err.value.response.headers["x-satisfice-request-id"])
    abandoned = json.loads(row["attempts"])[0]
    assert row["outcome"] == "error" and abandoned["model"] == "cut-3+cutcheap" and abandoned["cost_usd"] > 0
    assert row["cost_usd"] == pytest.approx(abandoned["cost_usd"])
    assert "cut-3+cutcheap stream failed" in row["reason"]  # what the cascade tried stays in the row


def test_a_whole_streamed_answer_that_failed_is_replayed_when_nothing_above_answers(
    cascade_gateway: GatewayProcess,
) -> None:
    """As without streaming: the short refusal came whole and was paid for; with the strong rung
    down it is streamed back (it used to end in a 502)."""
    rid, chunks = stream_chunks(cascade_gateway, "strong-down-stream", "hello")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REFUSAL
    row = cascade_gateway.row(rid)
    refused = json.loads(row["attempts"])[0]
    assert row["outcome"] == "ok" and row["model"] == "refuse" and refused["verdict"] == "fail"
    assert row["cost_usd"] == pytest.approx(refused["cost_usd"]) and refused["cost_usd"] > 0
    assert row["reason"].endswith("answered with refuse's answer, which failed verification")


def test_an_unreadable_answer_is_an_outcome_for_the_learner(cascade_gateway: GatewayProcess) -> None:
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="garbled-first", messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.headers["x-satisfice-model"] == "gpt-4o"
    assert outcome_models(cascade_gateway, raw.headers["x-satisfice-request-id"], "upstream_error") == [
        "badjson+garbled"
    ]


def test_an_anthropic_client_streams_a_verified_tool_call_through_a_cascade(
    cascade_gateway: GatewayProcess,
) -> None:
    claude = anthropic.Anthropic(base_url=cascade_gateway.url, api_key="k", max_retries=0)
    tool = {"name": "lookup", "input_schema": {"type": "object", "properties": {"echo": {"type": "string"}}}}
    with claude.messages.stream(
        model="thrifty-ok",
        max_tokens=200,
        messages=[{"role": "user", "content": "find the tide times"}],
        tools=[tool],  # type: ignore[list-item]
    ) as stream:
        message = stream.get_final_message()
    uses = [b for b in message.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [("lookup", {"echo": "find the tide times"})]
    assert message.stop_reason == "tool_use"


def test_the_default_budget_lets_a_first_request_climb_every_rung(cascade_gateway: GatewayProcess) -> None:
    """With only failed spend recorded so far, 'failed share < 100 %' was false: the second failure
    of a fresh route's first request stopped the climb at the default budget of 100 %."""
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="two-refusals", messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.headers["x-satisfice-model"] == "gpt-4o"
    assert "budget" not in cascade_gateway.row(raw.headers["x-satisfice-request-id"])["reason"]


def test_a_client_that_leaves_a_held_stream_closes_it_and_pays_for_it(
    cascade_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    words = " ".join(f"w{i}" for i in range(80))  # echoed one word per chunk, 0.3 s apart: ~24 s
    impatient = openai.OpenAI(base_url=cascade_gateway.base_url, api_key="k", max_retries=0, timeout=1.0)
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(
            model="held-slow", messages=[{"role": "user", "content": words}], stream=True
        )
    upstream.wait_for(lambda rs: any(r["model"] == "chunkdelay-300+held" and r["cancelled"] for r in rs))
    deadline = time.monotonic() + 5
    while not (found := [r for r in cascade_gateway.rows() if r["route"] == "held-slow"]):
        assert time.monotonic() < deadline, "no ledger row for the abandoned request"
        time.sleep(0.05)
    row = found[-1]
    assert row["outcome"] == "client_closed" and row["cost_usd"] > 0
    assert json.loads(row["attempts"])[0]["message"] == "client left while held"


def test_a_cascade_keeps_one_deadline_for_all_its_rungs(cascade_gateway: GatewayProcess) -> None:
    """Three hanging rungs, a 0.4 s attempt timeout and a 1 s deadline: each rung used to get a
    fresh deadline (1.2 s and more in all)."""
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as err:
        client(cascade_gateway).chat.completions.create(
            model="all-hang", messages=[{"role": "user", "content": "hello"}]
        )
    assert time.monotonic() - started < 1.15
    assert err.value.status_code == 504


def test_the_deadline_ends_a_hold_and_the_stream_goes_on(cascade_gateway: GatewayProcess) -> None:
    """A slow stream is held only until the route's deadline (it used to hold all 400 tokens, the
    first byte coming long after the deadline); then it is released as far as it was checked."""
    words = " ".join(f"w{i}" for i in range(12))  # one word per chunk, 0.3 s apart: ~4 s in all
    started = time.monotonic()
    first_byte: float | None = None
    text = ""
    with client(cascade_gateway).chat.completions.with_streaming_response.create(
        model="held-deadline", messages=[{"role": "user", "content": words}], stream=True
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        for chunk in resp.parse():
            first_byte = first_byte or time.monotonic() - started
            text += "".join(c.delta.content or "" for c in chunk.choices)
    assert text == "echo: " + words  # nothing lost around the read the hold left running
    assert first_byte is not None and first_byte < 2.0
    assert cascade_gateway.row(rid)["reason"].endswith("the deadline ended the hold")


def test_a_plain_routes_answer_carries_its_cost_on_its_attempt(cascade_gateway: GatewayProcess) -> None:
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    row = cascade_gateway.row(raw.headers["x-satisfice-request-id"])
    [attempt] = json.loads(row["attempts"])
    assert row["cost_usd"] > 0 and attempt["cost_usd"] == pytest.approx(row["cost_usd"])


def test_an_answer_that_failed_verification_is_never_served_from_the_cache(
    cascade_gateway: GatewayProcess,
) -> None:
    """The refusal was returned only because nothing better answered (the strong rung was down);
    a repeat must try again, not get the refusal from the cache for a day."""
    ask = {"model": "strong-down", "messages": [{"role": "user", "content": "cache me?"}], "temperature": 0}
    first = client(cascade_gateway).chat.completions.with_raw_response.create(**ask)  # type: ignore[call-overload]
    assert first.headers["x-satisfice-cache"] == "miss"
    again = client(cascade_gateway).chat.completions.with_raw_response.create(**ask)  # type: ignore[call-overload]
    assert again.headers["x-satisfice-cache"] == "miss"  # not "hit-exact"


def test_a_streamed_agreement_cascade_asks_the_partner_and_escalates_on_disagreement(
    cascade_gateway: GatewayProcess,
) -> None:
    """The held answer came whole: it is checked against the next rung like a non-streamed one
    (streams used to skip the partner, the second sample and the judge)."""
    rid, chunks = stream_chunks(cascade_gateway, "agree", "what is 6 times 7 streamed")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "echo: what is 6 times 7 streamed"
    )
    attempts = [(a["model"], a["outcome"]) for a in json.loads(cascade_gateway.row(rid)["attempts"])]
    assert attempts[:2] == [("alt", "ok"), ("gpt-4o-mini", "partner")]  # alt said 41: they disagreed


def test_a_stream_checked_only_by_its_prefix_is_unsure(cascade_gateway: GatewayProcess) -> None:
    """Prefix checks can only fail an answer: one that passes them is not a verified pass (it
    would teach the learner a success and prove the answer for the cache)."""
    words = " ".join(f"w{i}" for i in range(30))  # far more than the 2 held tokens' worth
    rid, _ = stream_chunks(cascade_gateway, "prefix-only", words)
    [attempt] = json.loads(cascade_gateway.row(rid)["attempts"])
    assert attempt["verdict"] == "unsure" and "only the held prefix" in attempt["message"]


def test_a_race_teaches_the_strong_models_speed_for_pricing_its_cancelled_calls(
    cascade_gateway: GatewayProcess,
) -> None:
    """Only single-call requests used to teach output speeds, so a model met only in races was
    always charged its prompt alone when cancelled, and savings were overstated."""
    taught = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="teach-speed", messages=[{"role": "user", "content": "a question with a longer echoed answer"}]
    )
    assert taught.headers["x-satisfice-model"] == "slow-300+strong4"  # the cheap one refused
    raw = client(cascade_gateway).chat.completions.with_raw_response.create(
        model="use-speed", messages=[{"role": "user", "content": "another question"}]
    )
    assert raw.headers["x-satisfice-model"] == RACER
    attempts = {
        a["model"]: a
        for a in json.loads(cascade_gateway.row(raw.headers["x-satisfice-request-id"])["attempts"])
    }
    assert attempts["slow-300+strong4"]["outcome"] == "cancelled"
    assert "estimated from its recent output speed" in attempts["slow-300+strong4"]["message"]


CITY_TOOL: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
]


def test_the_escalation_budget_is_a_share_of_all_the_routes_spend(cascade_gateway: GatewayProcess) -> None:
    """Failed answers may cost at most escalation_budget_pct of the route's whole spend, second
    samples included. They used to be left out of the whole, so a route that paid for samples
    stopped escalating early: here the third request was answered with a failed answer."""
    c = client(cascade_gateway)
    ids = []
    raw = c.chat.completions.with_raw_response.create(
        model="side-budget",
        messages=[
            {
                "role": "user",
                "content": "Name one river that flows through a capital city of Europe, "
                "and say in a word which country that city belongs to.",
            }
        ],
    )
    ids.append(raw.headers["x-satisfice-request-id"])
    for _ in range(2):  # the fake calls the tool with {"echo": ...}: invalid arguments, a failed answer
        raw = c.chat.completions.with_raw_response.create(
            model="side-budget", messages=[{"role": "user", "content": "weather in Paris"}], tools=CITY_TOOL
        )
        ids.append(raw.headers["x-satisfice-request-id"])
    rows = [cascade_gateway.row(i) for i in ids]
    attempts = [json.loads(r["attempts"]) for r in rows]
    assert [(a["model"], a["outcome"]) for a in attempts[0]] == [
        ("plain+budgeta", "ok"),
        ("plain+budgeta", "second_sample"),
    ]
    assert [(a["model"], a["verdict"]) for a in attempts[1]] == [
        ("plain+budgeta", "fail"),
        ("plain+budgetb", "fail"),
    ]
    # Before the third request: the failed answer's share of all spend, and of answers alone.
    failed = attempts[1][0]["cost_usd"]
    answers = attempts[0][0]["cost_usd"] + failed + attempts[1][1]["cost_usd"]
    assert failed / (rows[0]["cost_usd"] + rows[1]["cost_usd"]) * 100 <= 10 < failed / answers * 100
    assert [(a["model"], a["verdict"]) for a in attempts[2]] == [
        ("plain+budgeta", "fail"),
        ("plain+budgetb", "fail"),
    ]
    assert "escalation budget spent" not in rows[2]["reason"]
