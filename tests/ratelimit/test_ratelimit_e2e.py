"""Rate limits through two real gateway processes that share one real Redis, with the official
openai and anthropic SDKs as clients and the fake upstream on loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from satisfice import tokens
from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess, free_port
from tests.redis_server import RedisServer


def limits_config(up: FakeUpstream, redis_url: str) -> dict[str, Any]:
    config = standard_config(up)
    config["rate_limits"] = {
        "store": "redis",
        "redis_url": "${TEST_REDIS_URL}",
        "key_prefix": f"e2e-{uuid.uuid4().hex[:8]}:",
        "rules": [
            {"per": "key", "requests_per_minute": 3},
            {"per": "key", "route": "claude", "tokens_per_day": 100_000},
            {"per": "key", "route": "gem", "tokens_per_minute": 1000},
            {"per": "key", "route": "lean", "tokens_per_minute": 1000},
        ],
    }
    config["routes"]["lean"] = {
        "strategy": "first",
        "candidates": ["gpt-4o-mini"],
        "trim": {"enabled": True, "level": "drop_oldest", "budget_tokens": 400},
    }
    return config


@pytest.fixture(scope="module")
def pair(
    upstream: FakeUpstream, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two replicas: separate processes and ledgers, one Redis."""
    config = limits_config(upstream, redis_server.url)
    env = {"FAKE_OPENAI_KEY": "k", "TEST_REDIS_URL": redis_server.url}
    with (
        GatewayProcess(tmp_path_factory.mktemp("rl-a"), config, env=env) as a,
        GatewayProcess(tmp_path_factory.mktemp("rl-b"), config, env=env) as b,
    ):
        yield a, b


def client(gw: GatewayProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)


def ask(gw: GatewayProcess, key: str, model: str = "first-ok") -> Any:
    return client(gw, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Say hello."}]
    )


def test_replicas_share_each_callers_request_limit(pair: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, b = pair
    key, other = f"sk-{uuid.uuid4().hex}", f"sk-{uuid.uuid4().hex}"
    answered = [ask(a, key), ask(b, key), ask(a, key)]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in answered] == ["2", "1", "0"]
    assert all(r.headers["x-ratelimit-limit-requests"] == "3" for r in answered)

    with pytest.raises(openai.RateLimitError) as refused:
        ask(b, key)  # the fourth, on the other replica
    err = refused.value
    assert err.status_code == 429
    assert err.code == "rate_limit_exceeded"
    assert "Rate limit reached for requests per minute (RPM)" in err.message
    assert 1 <= int(err.response.headers["retry-after"]) <= 20
    assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
    request_id = err.response.headers["x-satisfice-request-id"]
    row = b.row(request_id)
    assert row["status"] == 429 and row["outcome"] == "error" and "Rate limit reached" in row["error"]
    assert row["route"] == "first-ok"  # refused before planning, the row still says what was asked for
    assert row["tenant"].startswith("key_") and key not in str(row)  # the key itself is never stored
    # The fingerprint alone separates callers' counters and cached answers: 128 bits, not a guessable 48.
    assert re.fullmatch(r"key_[0-9a-f]{32}", row["tenant"])

    assert ask(b, other).http_response.status_code == 200  # another key has its own allowance


def test_streams_and_embeddings_are_limited_before_anything_is_sent(
    pair: tuple[GatewayProcess, GatewayProcess], upstream: FakeUpstream
) -> None:
    a, _ = pair
    key = f"sk-{uuid.uuid4().hex}"
    c = client(a, key)
    c.embeddings.create(model="text-embedding-3-small", input="one")
    c.embeddings.create(model="text-embedding-3-small", input="two")
    with c.chat.completions.create(
        model="first-ok", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as stream:
        assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    marker = uuid.uuid4().hex
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(
            model="first-ok", messages=[{"role": "user", "content": marker}], stream=True
        )
    with pytest.raises(openai.RateLimitError):
        c.embeddings.create(model="text-embedding-3-small", input="three")
    assert not any(marker in str(r["body"]) for r in upstream.requests())  # refused: never sent upstream


def test_anthropic_clients_get_their_own_error_shape(pair: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, _ = pair
    key = f"sk-ant-{uuid.uuid4().hex}"
    c = anthropic.Anthropic(base_url=a.url, api_key=key, max_retries=0)
    for _ in range(3):
        c.messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.RateLimitError) as refused:
        c.messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 429
    assert refused.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_tokens_count_what_the_provider_reported(pair: tuple[GatewayProcess, GatewayProcess]) -> None:
    """The prompt estimate is charged at arrival, then corrected to the answer's usage."""
    a, b = pair
    key = f"sk-{uuid.uuid4().hex}"
    messages: list[Any] = [{"role": "user", "content": "Tell me about the sea, please."}]
    estimate = max(1, tokens.prompt_upper_bound({"messages": messages}) // 4)

    first = client(a, key).chat.completions.with_raw_response.create(model="claude", messages=messages)
    assert int(first.headers["x-ratelimit-remaining-tokens"]) == 100_000 - estimate
    usage = first.parse().usage
    assert usage is not None
    used = usage.prompt_tokens + usage.completion_tokens
    assert used != estimate  # so the correction below is visible

    time.sleep(0.3)  # charges reach Redis in batches, every 20 ms
    second = client(b, key).chat.completions.with_raw_response.create(model="claude", messages=messages)
    remaining = int(second.headers["x-ratelimit-remaining-tokens"])
    # the first request's usage and this one's estimate are counted; ~1.2 tokens a second came back
    assert 100_000 - used - estimate <= remaining <= 100_000 - used - estimate + 2


def test_the_report_counts_refusals_apart_from_provider_rate_limits(
    pair: tuple[GatewayProcess, GatewayProcess], tmp_path: Any
) -> None:
    a, _ = pair
    key = f"sk-{uuid.uuid4().hex}"
    for _ in range(3):
        ask(a, key)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError):
            ask(a, key)
    with pytest.raises(openai.RateLimitError) as upstream:  # the fake answers 429: a provider's limit
        ask(a, f"sk-{uuid.uuid4().hex}", model="openai/ratelimit-30")
    a.row(upstream.value.response.headers["x-satisfice-request-id"])  # waits until the ledger has it
    rows = a.rows()
    refused = sum(r["status"] == 429 and r["n_attempts"] == 0 for r in rows)
    by_providers = sum(r["status"] == 429 and r["n_attempts"] > 0 for r in rows)
    assert refused >= 2 and by_providers >= 1
    out = subprocess.run(
        [sys.executable, "-m", "satisfice", "report", "--ledger", a.ledger, "--json"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert json.loads(out.stdout)["rate_limited"] == {"gateway": refused, "providers": by_providers}


def test_check_says_whether_the_redis_of_the_limits_answers(redis_server: RedisServer, tmp_path: Any) -> None:
    def check(url: str, on_error: str) -> str:
        config = tmp_path / "limits.yaml"
        config.write_text(
            json.dumps(
                {
                    "rate_limits": {
                        "store": "redis",
                        "redis_url": url,
                        "on_store_error": on_error,
                        "rules": [{"requests_per_minute": 5}],
                    }
                }
            )
        )
        done = subprocess.run(
            [sys.executable, "-m", "satisfice", "check", "--config", str(config)],
            capture_output=True, text=True, check=True, cwd=tmp_path,
        )  # fmt: skip
        return done.stdout

    assert "warning: rate_limits" not in check(redis_server.url, "allow")
    nowhere = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    out = check(nowhere, "deny")
    assert "warning: rate_limits: Redis at 127.0.0.1:" in out and "refused with 503" in out
    assert "s3cret" not in out and "1 warnings" in out


def test_a_prompt_under_the_token_limit_is_not_refused_on_a_byte_guess(
    pair: tuple[GatewayProcess, GatewayProcess],
) -> None:
    """~4 bytes a token overestimates English: a 800-token prompt guessed at 1,200 was refused for
    good as "Request too large" under a 1,000-token limit. Over the limit, the guess is counted."""
    a, _ = pair
    messages: list[Any] = [{"role": "user", "content": "hello " * 800}]
    assert (
        tokens.prompt_upper_bound({"messages": messages}) // 4
        > 1000
        > tokens.count_prompt({"messages": messages})
    )
    resp = client(a, f"sk-{uuid.uuid4().hex}").chat.completions.create(model="gem", messages=messages)
    assert resp.choices[0].message.content
    with pytest.raises(openai.RateLimitError, match="Request too large") as refused:
        client(a, f"sk-{uuid.uuid4().hex}").chat.completions.create(
            model="gem", messages=[{"role": "user", "content": "hello " * 1500}]
        )
    assert refused.value.type == "tokens" and refused.value.code == "rate_limit_exceeded"  # as OpenAI's


def test_a_route_that_trims_is_charged_what_it_will_send(pair: tuple[GatewayProcess, GatewayProcess]) -> None:
    """A long conversation (4,700 tokens) the route trims to 400 was refused as too large
    for a 1,000-token limit; it is charged at most the trimming limit, then its usage."""
    a, _ = pair
    messages: list[Any] = []
    for i in range(40):
        messages += [
            {"role": "user", "content": f"question {i}: " + "tell me about the weather " * 10},
            {"role": "assistant", "content": f"answer {i}: " + "it was sunny and mild " * 10},
        ]
    messages.append({"role": "user", "content": "And tomorrow?"})
    assert tokens.count_prompt({"messages": messages}) > 4000
    raw = client(a, f"sk-{uuid.uuid4().hex}").chat.completions.with_raw_response.create(
        model="lean", messages=messages
    )
    assert raw.parse().choices[0].message.content
    assert 1000 - 400 <= int(raw.headers["x-ratelimit-remaining-tokens"]) < 1000
