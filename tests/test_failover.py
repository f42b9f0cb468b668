"""Retries, failover, breaker, deadline and client disconnects through the real gateway."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
import uuid
from typing import Any

import openai
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess


def client_for(gw: GatewayProcess, timeout: float = 20) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="sk-client", max_retries=0, timeout=timeout)


def msg(text: str = "hi") -> Any:
    return [{"role": "user", "content": text}]


def test_failover_on_429_and_5xx_with_retry(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    raw = client_for(gateway).chat.completions.with_raw_response.create(model="fallback", messages=msg())
    assert raw.parse().choices[0].message.content == "echo: hi"
    assert raw.headers["x-satisfice-model"] == "gpt-4o-mini"
    row = gateway.row(raw.headers["x-satisfice-request-id"])
    outcomes = [(a["model"], a["outcome"]) for a in json.loads(row["attempts"])]
    # Retry-After 30 s is beyond max_retry_wait: move on at once; the 500 is retried once, then failover.
    assert outcomes == [
        ("ratelimit-30", "rate_limited"),
        ("error500", "server_error"),
        ("error500", "server_error"),
        ("gpt-4o-mini", "ok"),
    ]
    assert row["n_attempts"] == 4


def test_retry_recovers_a_flaky_deployment(gateway: GatewayProcess) -> None:
    name = f"openai/flaky-1+{uuid.uuid4().hex[:6]}"
    raw = client_for(gateway).chat.completions.with_raw_response.create(model=name, messages=msg())
    row = gateway.row(raw.headers["x-satisfice-request-id"])
    assert [a["outcome"] for a in json.loads(row["attempts"])] == ["server_error", "ok"]


def test_rate_limit_is_mirrored_with_retry_after(gateway: GatewayProcess) -> None:
    with pytest.raises(openai.RateLimitError) as e:
        client_for(gateway).chat.completions.create(model="openai/ratelimit-30", messages=msg())
    assert e.value.response.headers["retry-after"] == "30"


def test_malformed_upstream_json_is_a_502(gateway: GatewayProcess) -> None:
    with pytest.raises(openai.APIStatusError) as e:
        client_for(gateway).chat.completions.create(model="openai/badjson", messages=msg())
    assert e.value.status_code == 502


def test_timeout_fails_over_and_cancels_the_slow_upstream(
    tight_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    raw = client_for(tight_gateway).chat.completions.with_raw_response.create(
        model="hang-then-ok", messages=msg()
    )
    assert raw.headers["x-satisfice-model"] == "gpt-4o-mini"
    upstream.wait_for(lambda rs: any(r["model"] == "hang+a" and r["cancelled"] for r in rs))
    row = tight_gateway.row(raw.headers["x-satisfice-request-id"])
    attempts = json.loads(row["attempts"])
    assert [a["outcome"] for a in attempts] == ["timeout", "ok"]
    # The provider got the prompt and worked until the gateway closed the call: it bills that, as
    # for a race's loser (it was free before, while the same call cut by the client was charged).
    assert "charged prompt" in attempts[0]["message"]
    assert attempts[0]["cost_usd"] == pytest.approx(attempts[0]["tokens"] * 1000 / 1e6)  # its prompt
    assert row["cost_usd"] == pytest.approx(attempts[0]["cost_usd"] + attempts[1]["cost_usd"])


def test_overall_deadline(tight_gateway: GatewayProcess) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as e:
        client_for(tight_gateway).chat.completions.create(model="all-hang", messages=msg())
    assert e.value.status_code == 504
    assert time.monotonic() - started < 5  # bounded by the 1.2 s deadline, not three 0.5 s timeouts plus more
    row = tight_gateway.row(e.value.response.headers["x-satisfice-request-id"])
    assert row["outcome"] == "error" and row["status"] == 504


def test_breaker_opens_and_skips_the_failing_deployment(
    tight_gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    c = client_for(tight_gateway)
    for _ in range(2):
        c.chat.completions.create(model="breaker", messages=msg())
    before = sum(1 for r in upstream.requests() if r["model"] == "error500+brk")
    raw = c.chat.completions.with_raw_response.create(model="breaker", messages=msg())
    after = sum(1 for r in upstream.requests() if r["model"] == "error500+brk")
    assert before == 2 and after == 2  # the open breaker kept the third call away from the upstream
    row = tight_gateway.row(raw.headers["x-satisfice-request-id"])
    assert [a["outcome"] for a in json.loads(row["attempts"])] == ["circuit_open", "ok"]
    # An operator sees it: /health says degraded (still 200: the gateway answers).
    with urllib.request.urlopen(tight_gateway.url + "/health", timeout=5) as r:
        health = json.loads(r.read())
    assert health["status"] == "degraded" and any("error500+brk" in p for p in health["problems"])


def test_stream_fails_over_before_the_first_byte(gateway: GatewayProcess) -> None:
    with client_for(gateway).chat.completions.with_streaming_response.create(
        model="stream-fallback",
        messages=msg("abc"),
        stream=True,
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text == "echo: abc"
    row = gateway.row(rid)
    # The cut is retried once on the same deployment (retries: 1), then the next candidate answers.
    assert [a["outcome"] for a in json.loads(row["attempts"])] == ["connection", "connection", "ok"]


def test_stream_cut_after_first_byte_ends_with_an_error_event(gateway: GatewayProcess) -> None:
    got: list[str] = []
    rid = ""
    with (
        pytest.raises(openai.APIError),
        client_for(gateway).chat.completions.with_streaming_response.create(
            model="openai/cut-3",
            messages=msg("one two three four five six"),
            stream=True,
        ) as resp,
    ):
        rid = resp.headers["x-satisfice-request-id"]
        for c in resp.parse():
            got.append(c.choices[0].delta.content or "" if c.choices else "")
    assert 0 < len(got) <= 3
    row = gateway.row(rid)
    assert row["outcome"] == "stream_error" and row["n_attempts"] == 1


def test_client_disconnect_cancels_the_upstream_request(
    gateway: GatewayProcess, upstream: FakeUpstream
) -> None:
    tag = uuid.uuid4().hex[:6]
    with pytest.raises(openai.APITimeoutError):
        client_for(gateway, timeout=0.3).chat.completions.create(
            model=f"openai/slow-5000+{tag}", messages=msg()
        )
    upstream.wait_for(lambda rs: any(r["model"] == f"slow-5000+{tag}" and r["cancelled"] for r in rs))
    rows = gateway.rows()
    mine = [
        r for r in rows if r["model"] == f"slow-5000+{tag}" or f"slow-5000+{tag}" in (r["attempts"] or "")
    ]
    deadline = time.monotonic() + 5
    while not mine and time.monotonic() < deadline:
        time.sleep(0.05)
        mine = [
            r
            for r in gateway.rows()
            if f"slow-5000+{tag}" in (r["attempts"] or "") or r["route"] == f"openai/slow-5000+{tag}"
        ]
    assert len(mine) == 1 and mine[0]["outcome"] == "client_closed" and mine[0]["status"] == 499
    # The provider got the prompt and bills it: the call out is in the row as a cancelled attempt.
    (cancelled,) = [a for a in json.loads(str(mine[0]["attempts"])) if a["outcome"] == "cancelled"]
    assert cancelled["model"] == f"slow-5000+{tag}" and cancelled["tokens"] > 0


def test_stream_disconnect_mid_way_cancels_upstream(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    tag = uuid.uuid4().hex[:6]
    body = json.dumps(
        {"model": f"openai/chunkdelay-300+{tag}", "stream": True, "messages": msg("a b c d e f g h i j")}
    ).encode()
    with socket.create_connection(("127.0.0.1", gateway.port)) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        first = s.recv(65536)
        assert b"200" in first.split(b"\r\n")[0]
    upstream.wait_for(lambda rs: any(r["model"] == f"chunkdelay-300+{tag}" and r["cancelled"] for r in rs))
    deadline = time.monotonic() + 5
    mine: list[dict[str, object]] = []
    while not mine and time.monotonic() < deadline:
        mine = [r for r in gateway.rows() if r["route"] == f"openai/chunkdelay-300+{tag}"]
        time.sleep(0.05)
    assert len(mine) == 1 and mine[0]["outcome"] == "client_closed"


def test_stalled_stream_ends_with_a_timeout_error_event(tight_gateway: GatewayProcess) -> None:
    """Stalled after its first token (role chunk, "a", then 1.5 s of nothing)."""
    rid = ""
    with (
        pytest.raises(openai.APIError) as e,
        client_for(tight_gateway).chat.completions.with_streaming_response.create(
            model=f"openai/stallat-2-1500+{uuid.uuid4().hex[:6]}", messages=msg("a b c"), stream=True
        ) as resp,
    ):
        rid = resp.headers["x-satisfice-request-id"]
        for _ in resp.parse():
            pass
    assert "stalled" in str(e.value)
    row = tight_gateway.row(rid)
    assert row["outcome"] == "stream_error" and row["status"] == 504


def test_a_stream_stalled_before_its_first_token_is_an_attempt_timeout(tight_gateway: GatewayProcess) -> None:
    """Only the role chunk came: nothing has gone to the client, so it is a timed-out attempt."""
    with pytest.raises(openai.APIStatusError) as e:
        client_for(tight_gateway).chat.completions.create(
            model=f"openai/stallat-1-1500+{uuid.uuid4().hex[:6]}", messages=msg("a b c"), stream=True
        )
    assert e.value.status_code == 504
    row = tight_gateway.row(e.value.response.headers["x-satisfice-request-id"])
    assert [a["outcome"] for a in json.loads(row["attempts"])] == ["timeout"]
