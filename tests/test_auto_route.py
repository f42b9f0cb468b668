"""Strategy auto end to end: the real gateway, the learned predictor, the fake upstream."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from satisfice import tokens
from satisfice.catalog import load_catalog
from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import ROOT, GatewayProcess

CANDIDATES = ["tiny-cheap", "gpt-4o-mini", "claude-3-5-haiku", "gpt-4o"]
THRIFTY_KEY, PICKY_KEY = "sk-thrifty-0123456789", "sk-picky-9876543210"


@pytest.fixture(scope="module")
def auto_gateway(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    # A very cheap model with a tiny context window and no tools: the knob would love it, the
    # constraints must keep long prompts and tool requests away from it.
    config["models"] = [
        {
            "id": "tiny-cheap",
            "provider": "openai",
            "input_per_mtok": 0.01,
            "output_per_mtok": 0.01,
            "context_window": 1000,
            "max_output": 500,
            "quality_prior": 0.3,
        },
        {  # the cheapest good-enough candidate, whose provider is down (the fake answers 500)
            "id": "error500+downcheap",
            "provider": "openai",
            "input_per_mtok": 0.01,
            "output_per_mtok": 0.01,
            "context_window": 100000,
            "quality_prior": 0.8,
        },
    ]
    config["routes"] = {
        "smart": {"strategy": "auto", "candidates": CANDIDATES, "knob": "quality=0.7", "baseline": "gpt-4o"},
        "tiny-only": {"strategy": "auto", "router": "prior", "candidates": ["tiny-cheap"]},
        "outage": {
            "strategy": "auto",
            "router": "prior",
            "knob": "quality=0.5",
            "candidates": ["error500+downcheap", "gpt-4o", "claude-3-5-haiku"],
        },
    }
    config["keys"] = {
        "thrifty": {"key": "${THRIFTY_KEY}", "knob": "quality=0"},
        "picky": {"key_sha256": hashlib.sha256(PICKY_KEY.encode()).hexdigest(), "knob": "loss=0"},
    }
    env = {"FAKE_OPENAI_KEY": "k", "THRIFTY_KEY": THRIFTY_KEY}
    with GatewayProcess(tmp_path_factory.mktemp("gw-auto"), config, env=env) as gw:
        yield gw


def client(gw: GatewayProcess, key: str = "k") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0, timeout=30)


def ask(
    gw: GatewayProcess, model: str, text: str = "What is the capital of France?", key: str = "k", **kw: Any
) -> dict[str, str]:
    raw = client(gw, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], **kw
    )
    raw.parse()
    return dict(raw.headers)


def test_auto_route_reports_prediction_knob_and_reason(auto_gateway: GatewayProcess) -> None:
    h = ask(auto_gateway, "smart")
    assert h["x-satisfice-route"] == "smart" and h["x-satisfice-model"] in CANDIDATES
    assert h["x-satisfice-knob"] == "quality=0.7"
    assert 0.0 <= float(h["x-satisfice-predicted-quality"]) <= 1.0
    assert h["x-satisfice-reason"].startswith("auto (quality=0.7)")
    row = auto_gateway.row(h["x-satisfice-request-id"])
    assert row["strategy"] == "auto" and row["knob"] == "quality=0.7"
    assert row["predicted_quality"] == pytest.approx(float(h["x-satisfice-predicted-quality"]), abs=1e-4)
    assert row["baseline_model"] == "gpt-4o"


def test_a_greeting_goes_to_the_cheapest_candidate_and_says_why(auto_gateway: GatewayProcess) -> None:
    """Even under a knob no candidate meets: the rule, not the knob, decides a trivial prompt."""
    h = ask(auto_gateway, "smart:quality=1", text="Hi there!")
    assert h["x-satisfice-model"] == "tiny-cheap"
    assert "the cheapest: a greeting, which any model answers" in h["x-satisfice-reason"]
    row = auto_gateway.row(h["x-satisfice-request-id"])
    assert row["model"] == "tiny-cheap" and "a greeting" in row["reason"]
    # The rule, not the knob, decided: the learner is not taught by it.
    assert auto_gateway.feedback(h["x-satisfice-request-id"], 1.0) == 404


def test_knob_extremes_via_suffix_and_header(auto_gateway: GatewayProcess) -> None:
    assert ask(auto_gateway, "smart:0")["x-satisfice-model"] == "tiny-cheap"  # anything is good enough
    top = ask(auto_gateway, "smart:quality=1")  # nothing is predicted perfect: the best predicted
    assert top["x-satisfice-model"] != "tiny-cheap" and "none meets" in top["x-satisfice-reason"]
    h = ask(auto_gateway, "smart", extra_headers={"x-satisfice-knob": "quality=0"})
    assert h["x-satisfice-model"] == "tiny-cheap" and h["x-satisfice-knob"] == "quality=0"
    assert ask(auto_gateway, "smart:loss=0")["x-satisfice-model"] == top["x-satisfice-model"]


def test_a_configured_key_brings_its_knob(auto_gateway: GatewayProcess) -> None:
    best = ask(auto_gateway, "smart:loss=0")["x-satisfice-model"]
    assert best != "tiny-cheap"
    thrifty = ask(auto_gateway, "smart", key=THRIFTY_KEY)
    assert thrifty["x-satisfice-model"] == "tiny-cheap" and thrifty["x-satisfice-knob"] == "quality=0"
    assert auto_gateway.row(thrifty["x-satisfice-request-id"])["knob"] == "quality=0"
    picky = ask(auto_gateway, "smart", key=PICKY_KEY)
    assert picky["x-satisfice-model"] == best and picky["x-satisfice-knob"] == "loss=0"
    # the request's own knob wins over the key's: the header, and above it the model suffix
    h = ask(auto_gateway, "smart", key=THRIFTY_KEY, extra_headers={"x-satisfice-knob": "loss=0"})
    assert h["x-satisfice-model"] == best and h["x-satisfice-knob"] == "loss=0"
    h = ask(auto_gateway, "smart:loss=0", key=THRIFTY_KEY, extra_headers={"x-satisfice-knob": "quality=0"})
    assert h["x-satisfice-model"] == best and h["x-satisfice-knob"] == "loss=0"
    # an unknown key gets the route's knob; an Anthropic client's x-api-key is recognised too
    assert ask(auto_gateway, "smart", key="sk-unknown")["x-satisfice-knob"] == "quality=0.7"
    msg = anthropic.Anthropic(base_url=auto_gateway.url, api_key=THRIFTY_KEY, max_retries=0)
    raw = msg.messages.with_raw_response.create(
        model="smart", max_tokens=20, messages=[{"role": "user", "content": "What is 2+2?"}]
    )
    assert raw.headers["x-satisfice-knob"] == "quality=0" and raw.headers["x-satisfice-model"] == "tiny-cheap"
    # the keys themselves are stored nowhere: not in the ledger's rows or files, not in the config
    rows = json.dumps(auto_gateway.rows())
    stored = b"".join(p.read_bytes() for p in auto_gateway.tmp.glob("*") if p.is_file())
    for key in (THRIFTY_KEY, PICKY_KEY):
        assert key not in rows and key.encode() not in stored


def test_constraints_beat_the_knob(auto_gateway: GatewayProcess) -> None:
    long_prompt = "Summarise this text. " + "lorem ipsum dolor sit amet " * 400  # ~2.4k tokens > 1000
    assert ask(auto_gateway, "smart:0", long_prompt)["x-satisfice-model"] != "tiny-cheap"
    tools: Any = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    h = ask(auto_gateway, "smart:0", "call f", tools=tools)
    assert h["x-satisfice-model"] != "tiny-cheap" and "tiny-cheap: no tool calling" in h["x-satisfice-reason"]


def test_a_request_without_max_tokens_leaves_room_for_its_answer(auto_gateway: GatewayProcess) -> None:
    """A ~860-token prompt fits tiny-cheap's 1,000-token window, but the ~256-token answer expected
    after it would stop at the window: without max_tokens it goes where the answer fits; with a
    max_tokens that fits, to the cheapest as the knob says."""
    text = "Summarise: " + "word " * 850
    assert 800 < tokens.count_prompt({"messages": [{"role": "user", "content": text}]}) < 1000 - 50
    h = ask(auto_gateway, "smart:0", text)
    assert h["x-satisfice-model"] != "tiny-cheap"
    assert "tiny-cheap: no room for an answer after the prompt" in h["x-satisfice-reason"]
    assert ask(auto_gateway, "smart:0", text, max_tokens=50)["x-satisfice-model"] == "tiny-cheap"
    # a route with nothing roomier still takes the prompt where it fits
    assert ask(auto_gateway, "tiny-only", text)["x-satisfice-model"] == "tiny-cheap"


def test_bad_knob_is_a_400(auto_gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        ask(auto_gateway, "smart:fast")
    assert e.value.code == "invalid_knob" and e.value.param == "model"
    for model in ("smart", "smart:0.5"):  # a malformed header is an error even where a suffix wins
        with pytest.raises(openai.BadRequestError) as e:
            ask(auto_gateway, model, extra_headers={"x-satisfice-knob": "loss=7"})
        assert e.value.code == "invalid_knob" and e.value.param == "x-satisfice-knob"


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "satisfice", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_predict_cli_contract(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "messages": [{"role": "user", "content": "Prove Fermat's last theorem for n=3."}]},
        {"id": "b", "messages": [{"role": "user", "content": "hi"}]},
    ]
    models = "gpt-4-1106-preview,gpt-3.5-turbo-1106,claude-instant-1.2,mixtral-8x7b-instruct,gpt-4o-mini"
    out = run_cli("predict", "--models", models, stdin="\n".join(json.dumps(x) for x in lines) + "\n")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    for r in rows:
        assert set(r["quality"]) == set(models.split(",")) and all(0 <= q <= 1 for q in r["quality"].values())
    again = run_cli("predict", "--models", models, stdin="\n".join(json.dumps(x) for x in lines) + "\n")
    assert again.stdout == out.stdout  # deterministic
    bad = run_cli("predict", "--models", "no-such-model", stdin="")
    assert bad.returncode == 2 and "unknown model" in bad.stderr
    bad = run_cli("predict", "--models", "gpt-4o", stdin="{oops\n")
    assert bad.returncode == 2 and "line 1" in bad.stderr


def test_route_cli_dry_run(tmp_path: Path) -> None:
    out = run_cli("route", "Write a haiku about autumn", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["strategy"] == "auto" and data["choice"] in {c["model"] for c in data["candidates"]}
    assert data["reason"].startswith("auto (loss=0.05)")
    text = run_cli("route", "Write a haiku", "--knob", "quality=0")
    assert text.returncode == 0 and "choice:" in text.stdout and "predicted" in text.stdout
    for bad in ("-5", "0", "many"):  # max_tokens is at least 1 in the API: a usage error, not a traceback
        out = run_cli("route", "Prove it", f"--max-tokens={bad}")
        assert (
            out.returncode == 2 and "argument --max-tokens:" in out.stderr and "Traceback" not in out.stderr
        )


def test_feedback_endpoint_through_the_gateway(auto_gateway: GatewayProcess) -> None:
    import urllib.error
    import urllib.request

    h = ask(auto_gateway, "smart", "Explain recursion briefly.")

    def post(body: object) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(
            auto_gateway.base_url + "/feedback",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    rid = h["x-satisfice-request-id"]
    deadline = time.monotonic() + 5
    status, body = post({"request_id": rid, "score": 0.0})
    while status == 404 and time.monotonic() < deadline:  # the decision is written off-path
        time.sleep(0.05)
        status, body = post({"request_id": rid, "score": 0.0})
    assert status == 200 and body["request_id"] == rid
    status, body = post({"request_id": "req_unknown", "score": 1})
    assert status == 404 and body["error"]["code"] == "request_not_found"
    status, body = post({"request_id": rid, "score": 3})
    assert status == 400 and body["error"]["param"] == "score"


def test_when_the_choice_fails_the_next_good_enough_candidate_answers(auto_gateway: GatewayProcess) -> None:
    """The fallback order is the knob's next choice: the next cheapest candidate that meets its
    target, not the best predicted one (which made every request of an outage the dearest)."""
    haiku = load_catalog().lookup("claude-3-5-haiku")[0].quality_prior  # the prior router's prediction
    assert haiku != 0.8  # the failed choice's
    headers = ask(auto_gateway, "outage", "Summarise the plot of Hamlet.")
    assert headers["x-satisfice-model"] == "claude-3-5-haiku"
    row = auto_gateway.row(headers["x-satisfice-request-id"])
    assert [a["model"] for a in json.loads(row["attempts"])][-1] == "claude-3-5-haiku"
    assert json.loads(row["attempts"])[0]["model"] == "error500+downcheap"
    # The predicted quality shown and kept is the answering model's, not the failed choice's.
    assert float(headers["x-satisfice-predicted-quality"]) == pytest.approx(haiku, abs=1e-4)
    assert row["predicted_quality"] == pytest.approx(haiku)
    with client(auto_gateway).chat.completions.with_streaming_response.create(
        model="outage", messages=[{"role": "user", "content": "Summarise Macbeth."}], stream=True
    ) as streamed:
        assert streamed.headers["x-satisfice-model"] == "claude-3-5-haiku"
        assert float(streamed.headers["x-satisfice-predicted-quality"]) == pytest.approx(haiku, abs=1e-4)
        assert any(streamed.iter_lines())
