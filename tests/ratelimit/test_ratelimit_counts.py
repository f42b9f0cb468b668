"""What a request counts against its rate limits: every upstream call it was billed for (a
cascade's escalated answer as well as the answer the client got), under the model's catalog id
whatever name it was asked by."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from satisfice import tokens
from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.test_cascade import ladder

LIMIT = 100_000


@pytest.fixture(scope="module")
def limited(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = [
        {"id": "refuse", "provider": "openai", "input_per_mtok": 0.01, "output_per_mtok": 0.02,
         "context_window": 100000, "quality_prior": 0.6},
    ]  # fmt: skip
    config["routes"] = {"climb": ladder(["refuse", "gpt-4o"])}
    config["rate_limits"] = {
        "rules": [
            {"per": "key", "route": "climb", "tokens_per_day": LIMIT},
            {"per": "key", "route": "gpt-4o", "requests_per_day": 1},
            {"per": "key", "route": "text-embedding-3-small", "requests_per_day": 1},
        ]
    }
    with GatewayProcess(tmp_path_factory.mktemp("rl-cascade"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def test_an_escalated_cascade_counts_both_calls_tokens(limited: GatewayProcess) -> None:
    c = openai.OpenAI(base_url=limited.base_url, api_key=f"sk-{uuid.uuid4().hex}", max_retries=0)
    messages: list[dict[str, str]] = [{"role": "user", "content": "Tell me about the sea, please."}]
    first = c.chat.completions.with_raw_response.create(model="climb", messages=messages)  # type: ignore[arg-type]
    assert first.headers["x-satisfice-model"] == "gpt-4o"  # the cheap refusal was escalated
    usage = first.parse().usage
    assert usage is not None
    answer = usage.prompt_tokens + usage.completion_tokens
    attempts = json.loads(limited.row(first.headers["x-satisfice-request-id"])["attempts"])
    billed = {a["model"]: a["tokens"] for a in attempts}
    assert set(billed) == {"refuse", "gpt-4o"} and billed["gpt-4o"] == answer and billed["refuse"] > 0

    second = c.chat.completions.with_raw_response.create(model="climb", messages=messages)  # type: ignore[arg-type]
    estimate = max(1, tokens.prompt_upper_bound({"messages": messages}) // 4)
    remaining = int(second.headers["x-ratelimit-remaining-tokens"])
    spent = answer + billed["refuse"] + estimate  # the first request's two calls, this one's estimate
    assert LIMIT - spent <= remaining <= LIMIT - spent + 5  # ~1.2 tokens a second come back


def test_a_models_limit_holds_under_each_of_its_names(limited: GatewayProcess) -> None:
    c = openai.OpenAI(base_url=limited.base_url, api_key=f"sk-{uuid.uuid4().hex}", max_retries=0)
    messages: list[dict[str, str]] = [{"role": "user", "content": "Say hello."}]
    c.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    for name in ("openai/gpt-4o", "gpt-4o-2024-08-06"):  # the same model by its provider and alias
        with pytest.raises(openai.RateLimitError, match="gpt-4o"):
            c.chat.completions.create(model=name, messages=messages)  # type: ignore[arg-type]


def test_an_embeddings_models_limit_holds_under_each_of_its_names(limited: GatewayProcess) -> None:
    """/v1/embeddings charged the name as written: "openai/text-embedding-3-small" escaped a limit
    written for text-embedding-3-small (chat requests already read the model's catalog id)."""
    c = openai.OpenAI(base_url=limited.base_url, api_key=f"sk-{uuid.uuid4().hex}", max_retries=0)
    c.embeddings.create(model="text-embedding-3-small", input="one")
    with pytest.raises(openai.RateLimitError, match="text-embedding-3-small"):
        c.embeddings.create(model="openai/text-embedding-3-small", input="two")


def test_counting_a_huge_prompt_for_a_token_limit_does_not_hold_other_requests(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """A prompt whose byte guess is over a token limit is counted exactly before it is refused as
    too large. For a 4.7 MB prompt that took about a second on the event loop, and every other
    request of the process (any caller's, /health too) waited for it."""
    config = standard_config(upstream)
    config["rate_limits"] = {"rules": [{"per": "key", "route": "gem", "tokens_per_minute": 1_000_000}]}
    with GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        words = " ".join(f"w{i}" for i in range(600_000))
        huge = openai.OpenAI(base_url=gw.base_url, api_key=f"sk-{uuid.uuid4().hex}", max_retries=0)

        def send_huge() -> None:
            with pytest.raises(openai.RateLimitError, match="Request too large"):
                huge.chat.completions.create(model="gem", messages=[{"role": "user", "content": words}])

        waits = []
        with ThreadPoolExecutor(1) as pool:
            sent = pool.submit(send_huge)
            while not sent.done():
                started = time.perf_counter()
                with urllib.request.urlopen(f"{gw.url}/health", timeout=10) as r:
                    assert r.status == 200
                waits.append(time.perf_counter() - started)
            sent.result()
    assert max(waits) < 0.4, waits
