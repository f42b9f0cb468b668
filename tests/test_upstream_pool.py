"""The gateway's own upstream connection pool (`server.upstream_connections`) through the real
gateway: a call waiting for a connection is the gateway's doing, so it opens no deployment's breaker,
teaches the learner nothing and is not billed; a pool that stays full is a 503 saying so; and the
pool is whole again however calls end."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import cheap_model, standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

POOL = 2
# Healthy but not instant: each answers in 0.5 s, well within the 0.8 s attempt timeout.
SLOW_A, SLOW_B = "slow-500+poolA", "slow-500+poolB"


@pytest.fixture(scope="module")
def pool_gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["server"] = {"upstream_connections": POOL}
    config["models"] = [cheap_model(SLOW_A, 0.8), cheap_model(SLOW_B, 0.8)]
    config["reliability"] = {
        "timeout_s": 0.8,
        "deadline_s": 6.0,
        "retries": 0,
        "breaker_failures": 2,  # two misattributed timeouts would open a healthy deployment's breaker
        "breaker_window_s": 60,
        "breaker_cooldown_s": 600,
        "stream_idle_timeout_s": 5.0,
    }
    config["routes"] = {
        # auto: its decisions go to the online learner, which must not hear of the pool's waits
        "pooled": {
            "strategy": "auto",
            "router": "prior",
            "knob": "quality=0.6",
            "candidates": [SLOW_A, SLOW_B],
        },
        "solo": {"strategy": "first", "candidates": ["gpt-4o-mini"]},
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-pool"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def client(gw: GatewayProcess, timeout: float = 20) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, timeout=timeout)


def msg(text: str) -> Any:
    return [{"role": "user", "content": text}]


def health(gw: GatewayProcess) -> dict[str, Any]:
    with urllib.request.urlopen(gw.url + "/health", timeout=5) as r:
        out: dict[str, Any] = json.loads(r.read())
        return out


def wait_pool_idle(gw: GatewayProcess, timeout: float = 10.0) -> dict[str, int]:
    """The pool once no call holds or waits for a place (bounded wait: cancellations unwind)."""
    deadline = time.monotonic() + timeout
    while True:
        pool: dict[str, int] = health(gw)["upstream_connections"]
        if (pool["in_use"] == 0 and pool["waiting"] == 0) or time.monotonic() > deadline:
            return pool
        time.sleep(0.05)


def learned(gw: GatewayProcess, request_ids: list[str]) -> tuple[set[str], list[tuple[str, str]]]:
    """(request ids with a logged decision, (model, source) of their outcomes) in the learning store."""
    conn = sqlite3.connect(gw.env["SATISFICE_LEARN"])
    marks = ",".join("?" * len(request_ids))
    try:
        decisions = conn.execute(
            f"SELECT request_id FROM decisions WHERE request_id IN ({marks})", request_ids
        )
        decided = {r[0] for r in decisions}
        outcomes = conn.execute(
            f"SELECT model, source FROM outcomes WHERE request_id IN ({marks})", request_ids
        )
        return decided, [(r[0], r[1]) for r in outcomes]
    except sqlite3.OperationalError:
        return set(), []
    finally:
        conn.close()


def test_a_full_pool_is_not_blamed_on_healthy_deployments(pool_gw: GatewayProcess) -> None:
    """Six calls at once through a pool of two, each upstream answering in 0.5 s: later calls wait.
    A call that waited and was then sent gets its whole timeout; one whose timeout ran out while it
    waited is `local_saturated` and its client gets a 503 at once (the next candidate would queue
    in the same pool). No timeout is recorded, no breaker opens, and nothing is taught to the
    learner."""
    c = client(pool_gw)
    c.chat.completions.create(model="pooled", messages=msg("warm up"))  # the router loads once

    def ask(i: int) -> tuple[int, str]:
        try:
            raw = c.chat.completions.with_raw_response.create(model="pooled", messages=msg(f"burst {i}"))
            return 200, raw.headers["x-satisfice-request-id"]
        except openai.APIStatusError as e:
            assert e.code == "gateway_saturated" and e.response.headers["retry-after"] == "1"
            return e.status_code, e.response.headers["x-satisfice-request-id"]

    with ThreadPoolExecutor(6) as ex:
        answers = list(ex.map(ask, range(6)))
    ids = [rid for _, rid in answers]
    rows = [pool_gw.row(i) for i in ids]
    assert sorted(status for status, _ in answers) == sorted(r["status"] for r in rows)
    assert {r["status"] for r in rows} == {200, 503}, rows  # the third wave waited past 0.8 s
    attempts = [a for r in rows for a in json.loads(r["attempts"])]
    outcomes = [a["outcome"] for a in attempts]
    assert "timeout" not in outcomes, attempts
    for r in rows:  # a saturated request is one attempt: no failover into the same queue
        if r["status"] == 503:
            assert [a["outcome"] for a in json.loads(r["attempts"])] == ["local_saturated"]
    saturated = [a for a in attempts if a["outcome"] == "local_saturated"]
    assert "upstream connection pool was full" in saturated[0]["message"]
    assert "server.upstream_connections" in saturated[0]["message"]
    assert all(a.get("cost_usd") in (None, 0.0) for a in saturated)  # never sent: nothing billed
    assert not [k for k in health(pool_gw)["open_breakers"] if "pool" in k]
    # The learner heard nothing: a later request's decision is written after the burst's outcomes
    # would have been (one writer, in order), and the burst has decisions but no outcomes.
    later = c.chat.completions.with_raw_response.create(model="pooled", messages=msg("after"))
    sentinel = later.headers["x-satisfice-request-id"]
    deadline = time.monotonic() + 5
    while sentinel not in learned(pool_gw, [sentinel])[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    decided, outcomes_learned = learned(pool_gw, ids)
    assert decided == set(ids) and outcomes_learned == []
    assert wait_pool_idle(pool_gw) == {"limit": POOL, "in_use": 0, "waiting": 0}


def test_a_pool_that_stays_full_is_a_503_naming_it(pool_gw: GatewayProcess) -> None:
    """Two streams hold both places (their first token out, then 4 s of nothing); a request to a
    one-candidate route waits its 0.8 s and gets a 503 in OpenAI's error shape that names the
    setting, with the breaker of its (healthy) deployment closed. Streams closed mid-way by their
    clients give their places back."""
    tag = uuid.uuid4().hex[:6]
    c = client(pool_gw)
    # Each returns once the gateway has read up to the stream's first token and answered 200.
    streams = [
        c.chat.completions.create(
            model=f"openai/stallat-2-4000+{tag}{i}", messages=msg("a b c d"), stream=True
        )
        for i in range(POOL)
    ]
    try:
        assert health(pool_gw)["upstream_connections"]["in_use"] == POOL
        for stream in (False, True):
            with pytest.raises(openai.APIStatusError) as err:
                c.chat.completions.create(model="solo", messages=msg(f"squeezed {stream}"), stream=stream)
            e = err.value
            assert e.status_code == 503 and e.code == "gateway_saturated" and e.type == "api_error"
            assert e.response.headers["retry-after"] == "1"
            assert "connection pool was full" in e.message and "server.upstream_connections" in e.message
            row = pool_gw.row(e.response.headers["x-satisfice-request-id"])
            assert row["status"] == 503
            assert [a["outcome"] for a in json.loads(row["attempts"])] == ["local_saturated"]
        # An Anthropic client is told to back off as Anthropic tells it: 529 overloaded_error.
        ant = anthropic.Anthropic(base_url=pool_gw.url, api_key="sk-client", max_retries=0, timeout=20)
        with pytest.raises(anthropic.APIStatusError) as overloaded:
            ant.messages.create(model="solo", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        assert overloaded.value.status_code == 529
        assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
        assert health(pool_gw)["open_breakers"] == []
    finally:
        for s in streams:
            s.close()  # the client leaves mid-stream: the gateway aborts the upstream call
    assert wait_pool_idle(pool_gw) == {"limit": POOL, "in_use": 0, "waiting": 0}


def test_every_way_a_call_ends_gives_its_place_back(pool_gw: GatewayProcess, upstream: FakeUpstream) -> None:
    """Answers, upstream errors, unreadable bodies, cut streams, stalled streams, timeouts, clients
    that leave before the answer and mid-stream, embeddings: afterwards no place is held, and a
    burst of fresh calls runs two at a time as it should."""
    tag = uuid.uuid4().hex[:6]
    c = client(pool_gw)
    quick = client(pool_gw, timeout=0.3)

    def call(model: str, stream: bool = False) -> None:
        try:
            if stream:
                for _ in c.chat.completions.create(model=model, messages=msg("a b c"), stream=True):
                    pass
            else:
                c.chat.completions.create(model=model, messages=msg("a b c"))
        except openai.APIError:
            pass

    for model, stream in [
        ("gpt-4o-mini", False),
        ("gpt-4o-mini", True),
        (f"openai/error500+{tag}", False),
        (f"openai/error400+{tag}", False),
        (f"openai/badjson+{tag}", False),
        (f"openai/cut-2+{tag}", True),
        (f"openai/cut-0+{tag}", False),
        (f"openai/hang+{tag}", False),  # the attempt times out
        (f"openai/hang+{tag}", True),
    ]:
        call(model, stream)
    with pytest.raises(openai.APITimeoutError):  # the client leaves while the upstream thinks
        quick.chat.completions.create(model=f"openai/slow-5000+{tag}", messages=msg("x"))
    with c.chat.completions.with_streaming_response.create(
        model=f"openai/chunkdelay-300+{tag}", messages=msg("a b c d e f g"), stream=True
    ) as resp:
        next(resp.iter_lines())  # the client leaves mid-stream
    c.embeddings.create(model="text-embedding-3-small", input="hello")
    upstream.wait_for(lambda rs: any(r["model"] == f"slow-5000+{tag}" and r["cancelled"] for r in rs))
    assert wait_pool_idle(pool_gw) == {"limit": POOL, "in_use": 0, "waiting": 0}
