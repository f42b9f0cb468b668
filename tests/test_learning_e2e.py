"""Learning end to end: negative feedback on a cheap model, a promotion gate check, and routing
moves to the stronger candidate — all through the real gateway."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import pytest

from satisfice.cli import main
from tests.conftest import cheap_model, standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess


@pytest.fixture(scope="module")
def learning_gateway(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = [cheap_model("cheapo", 0.8)]
    # prior router: both candidates look good enough, so the knob picks the cheap one until learning says no.
    config["routes"] = {
        "learn": {
            "strategy": "auto",
            "router": "prior",
            "knob": "quality=0.6",
            "candidates": ["cheapo", "gpt-4o"],
        },
        # The same, written as provider/model: statistics must be kept under the route's names.
        "learn-named": {
            "strategy": "auto",
            "router": "prior",
            "knob": "quality=0.6",
            "candidates": ["openai/cheapo", "openai/gpt-4o"],
        },
        # The learned predictor: decisions are logged with the prompt's cluster.
        "learn-clustered": {"strategy": "auto", "knob": "quality=0.6", "candidates": ["cheapo", "gpt-4o"]},
        # Both candidates fail: the client gets an error, and there is no answer to score.
        "learn-down": {
            "strategy": "auto",
            "router": "prior",
            "candidates": ["openai/error500+dn1", "openai/error500+dn2"],
        },
    }
    config["learning"] = {"gate_interval_s": 0.5}
    with GatewayProcess(tmp_path_factory.mktemp("gw-learn"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


@pytest.mark.parametrize("route", ["learn", "learn-named"])
def test_feedback_passes_the_gate_and_shifts_routing(
    learning_gateway: GatewayProcess, capsys: pytest.CaptureFixture[str], route: str
) -> None:
    c = openai.OpenAI(base_url=learning_gateway.base_url, api_key="k", max_retries=0, timeout=30)
    prompt = [{"role": "user", "content": "Summarise the causes of the French Revolution."}]
    ids = []
    for _ in range(30):
        raw = c.chat.completions.with_raw_response.create(model=route, messages=prompt)  # type: ignore[arg-type]
        assert raw.headers["x-satisfice-model"] == "cheapo"
        ids.append(raw.headers["x-satisfice-request-id"])
    for rid in ids:  # users hated every cheap answer
        deadline = time.monotonic() + 5
        while learning_gateway.feedback(rid, 0.0) == 404 and time.monotonic() < deadline:
            time.sleep(0.05)  # the decision is written off the request path
    deadline = time.monotonic() + 15
    moved = None
    while time.monotonic() < deadline:  # the gate runs every 0.5 s; routing shifts once it promotes
        raw = c.chat.completions.with_raw_response.create(model=route, messages=prompt)  # type: ignore[arg-type]
        if raw.headers["x-satisfice-model"] == "gpt-4o":
            moved = raw
            break
        time.sleep(0.3)
    assert moved is not None, "routing never moved away from the model the feedback condemned"
    assert float(moved.headers["x-satisfice-predicted-quality"]) >= 0.6
    # The check that promoted it is logged, and `satisfice report --gate` shows it.
    path = learning_gateway.env["SATISFICE_LEARN"]
    assert main(["report", "--gate", "--learning", path, "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)
    assert any(c["promoted"] and c["new_value"] > c["old_value"] and route in c["reason"] for c in checks)
    assert main(["report", "--gate", "--learning", path]) == 0
    assert "promoted" in capsys.readouterr().out


def test_feedback_on_a_request_that_failed_is_refused(learning_gateway: GatewayProcess) -> None:
    """A harness that scores errors as 0 must not teach an outage as the models' quality."""
    c = openai.OpenAI(base_url=learning_gateway.base_url, api_key="k", max_retries=0, timeout=30)
    with pytest.raises(openai.APIStatusError) as err:
        c.chat.completions.create(
            model="learn-down", messages=[{"role": "user", "content": "Explain tides."}]
        )
    rid = err.value.response.headers["x-satisfice-request-id"]
    req = urllib.request.Request(
        learning_gateway.base_url + "/feedback",
        data=json.dumps({"request_id": rid, "score": 0}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    deadline = time.monotonic() + 5
    while True:
        try:
            urllib.request.urlopen(req, timeout=10)
            status, body = 200, {}
        except urllib.error.HTTPError as e:
            status, body = e.code, json.loads(e.read())
        if status != 404 or time.monotonic() > deadline:  # the decision is written off the request path
            break
        time.sleep(0.05)
    assert status == 409, body
    assert body["error"]["code"] == "request_not_answered" and body["error"]["param"] == "request_id"


def test_decisions_are_logged_with_the_prompts_cluster(learning_gateway: GatewayProcess) -> None:
    """The cluster is worked out after the request has gone upstream (it tokenises a new prompt);
    the learner still gets each prompt's own cluster with its decision, plain and streamed."""
    from satisfice.learn.cluster import cluster_of

    c = openai.OpenAI(base_url=learning_gateway.base_url, api_key="k", max_retries=0, timeout=30)
    prompts = [
        "Solve for x: 3x + 7 = 22. Show each step of the algebra.",
        "Write a short poem about the sea at night, in the style of a lullaby.",
        "def add(a, b):\n    return a - b\n\nFind the bug in this Python function and fix it.",
        "Quelle est la capitale de l'Australie, et pourquoi n'est-ce pas Sydney ?",
    ]
    want: dict[str, int] = {}
    for i, text in enumerate(prompts):
        msgs = [{"role": "user", "content": text}]
        if i % 2:
            with c.chat.completions.with_streaming_response.create(
                model="learn-clustered",
                messages=msgs,  # type: ignore[arg-type]
                stream=True,
            ) as streamed:
                rid = streamed.headers["x-satisfice-request-id"]
                assert any(streamed.iter_lines())
        else:
            raw = c.chat.completions.with_raw_response.create(model="learn-clustered", messages=msgs)  # type: ignore[arg-type]
            rid = raw.headers["x-satisfice-request-id"]
        want[rid] = cluster_of(msgs)
    assert len(set(want.values())) >= 2  # the prompts are not all in one cluster
    got: dict[str, int] = {}
    deadline = time.monotonic() + 10
    while len(got) < len(want) and time.monotonic() < deadline:  # written off the request path
        with sqlite3.connect(learning_gateway.env["SATISFICE_LEARN"]) as db:
            marks = ",".join("?" * len(want))
            rows = db.execute(
                f"SELECT request_id, cluster FROM decisions WHERE request_id IN ({marks})", list(want)
            ).fetchall()
        got = dict(rows)
        time.sleep(0.05)
    assert got == want
