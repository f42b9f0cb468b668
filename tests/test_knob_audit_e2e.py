"""Knob defects of the `auto` route found by the session's routing audit, each reproduced through
the real gateway with the OpenAI SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import yaml

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import ROOT, GatewayProcess

# gpt-4o is the strongest of these on the reference prompts (the highest mean prediction).
STRONG_SET = ["gpt-4o-mini", "gpt-4o", "gemini-2.0-flash", "claude-3-5-haiku"]


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["routes"] = {
        "smart": {"strategy": "auto", "candidates": ["gpt-4o-mini", "gpt-4o"], "knob": "quality=0.7"},
        "strong": {"strategy": "auto", "candidates": STRONG_SET, "knob": "share=1"},
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-knob"), config, env={"FAKE_OPENAI_KEY": "k"}) as proc:
        yield proc


def ask(
    gw: GatewayProcess, model: str, text: str = "What is the capital of France?", **kw: Any
) -> dict[str, str]:
    client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, timeout=30)
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], **kw
    )
    raw.parse()
    return dict(raw.headers)


def test_an_empty_model_suffix_is_a_bad_knob_not_the_routes(gw: GatewayProcess) -> None:
    """`smart:` was read as no knob: the route's knob decided, silently overriding the request's
    x-satisfice-knob header (the suffix wins over it), while GET /v1/models/smart: called it a bad
    knob."""
    for headers in ({}, {"x-satisfice-knob": "quality=0"}):
        with pytest.raises(openai.BadRequestError) as e:
            ask(gw, "smart:", extra_headers=headers)
        assert e.value.code == "invalid_knob" and e.value.param == "model"
    # an empty header is still no knob: the route's decides
    assert ask(gw, "smart", extra_headers={"x-satisfice-knob": ""})["x-satisfice-knob"] == "quality=0.7"


def test_share_1_sends_every_prompt_to_the_strongest(gw: GatewayProcess) -> None:
    """share=1 was calibrated to the lowest quality target that sends every reference prompt to the
    strongest candidate (0.87 here), so an easy prompt on which cheaper candidates are predicted
    above it (gpt-4o-mini 0.91, gemini-2.0-flash 0.90) went to the cheapest of them."""
    text = "Capitalise 'paris'."
    for model in ("strong", "strong:share=1"):
        h = ask(gw, model, text)
        assert h["x-satisfice-model"] == "gpt-4o", h["x-satisfice-reason"]
        assert "the strongest (none meets 1.00)" in h["x-satisfice-reason"]
    assert ask(gw, "strong:share=0", text)["x-satisfice-model"] == "gemini-2.0-flash"  # the cheapest


def test_the_knob_shown_and_kept_is_the_one_that_decided(gw: GatewayProcess) -> None:
    """The knob was written with six significant digits: the response header and the ledger (whose
    text the promotion gate parses to replay the decision) said quality=0.123457 for a request
    routed with 0.1234567891, and a knob of -0 came back as 'quality=-0'."""
    exact = "quality=0.1234567891"
    for sent, shown in ((exact, exact), ("-0", "quality=0"), ("0.5", "quality=0.5")):
        h = ask(gw, "smart", extra_headers={"x-satisfice-knob": sent})
        assert h["x-satisfice-knob"] == shown and f"auto ({shown})" in h["x-satisfice-reason"]
        assert gw.row(h["x-satisfice-request-id"])["knob"] == shown


def test_count_tokens_refuses_the_malformed_knob_messages_refuses(gw: GatewayProcess) -> None:
    """/v1/messages/count_tokens counted for `smart:bogus` and `smart:`, models /v1/messages
    refuses (400 invalid_knob), though it is there to check a request before sending it."""
    ant = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    hi: Any = [{"role": "user", "content": "hi"}]
    for model in ("smart:bogus", "smart:"):
        with pytest.raises(anthropic.BadRequestError):
            ant.messages.create(model=model, max_tokens=10, messages=hi)
        with pytest.raises(anthropic.BadRequestError) as e:
            ant.messages.count_tokens(model=model, messages=hi)
        assert "knob" in e.value.message
    assert ant.messages.count_tokens(model="smart:0.9", messages=hi).input_tokens > 0


def test_the_dry_run_marks_a_provider_qualified_choice(tmp_path: Path) -> None:
    """`satisfice route` marked the row whose name equals the chosen deployment's model name, so a
    route whose candidates are written provider/model ("openai/gpt-4o-mini") had no row marked."""
    config = tmp_path / "satisfice.yaml"
    route = {"strategy": "auto", "candidates": ["openai/gpt-4o-mini", "openai/gpt-4o"]}
    config.write_text(yaml.safe_dump({"routes": {"q": route}}))
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env |= {"PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "k"}
    args = ["route", "--config", str(config), "--route", "q", "--knob", "loss=0", "Capitalise paris."]
    out = subprocess.run(
        [sys.executable, "-m", "satisfice", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines() if line.startswith("->")] == [
        "->openai/gpt-4o"
    ]
    # --json names it the route's way too, next to the deployment's model and provider
    cmd = [sys.executable, "-m", "satisfice", *args, "--json"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    data = json.loads(out.stdout)
    assert (data["candidate"], data["choice"], data["provider"]) == ("openai/gpt-4o", "gpt-4o", "openai")
    assert data["candidate"] in {c["model"] for c in data["candidates"]}
