"""The exact cache through the real gateway: the openai and anthropic SDKs as clients, the fake
upstream on loopback counting what reaches it, and the ledger on disk."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess


def cache_config(up: FakeUpstream, tmp: Path, backend: str = "memory") -> dict[str, Any]:
    config = standard_config(up)
    config["cache"] = {"backend": backend, "path": str(tmp / "cache.db"), "ttl_s": 600}
    config["routes"]["always"] = {
        "strategy": "first",
        "candidates": ["gpt-4o-mini"],
        "cache": {"when": "always"},
    }
    config["routes"]["never"] = {
        "strategy": "first",
        "candidates": ["gpt-4o-mini"],
        "cache": {"when": "never"},
    }
    return config


@pytest.fixture(scope="module")
def cached(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("gw-cache")
    with GatewayProcess(tmp, cache_config(upstream, tmp), env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def client(gw: GatewayProcess, key: str = "sk-tenant-a") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)


def question() -> list[ChatCompletionMessageParam]:
    """A message no other test sends, so upstream calls can be counted per test."""
    return [{"role": "user", "content": f"What is the answer? {uuid.uuid4().hex}"}]


def reached_upstream(up: FakeUpstream, messages: list[ChatCompletionMessageParam]) -> int:
    marker = str(messages[-1]["content"])
    return sum(1 for r in up.requests() if marker in json.dumps(r["body"]))


def ask(
    gw: GatewayProcess, messages: list[ChatCompletionMessageParam], *, key: str = "sk-tenant-a", **kw: Any
) -> Any:
    params: dict[str, Any] = {"model": "gpt-4o-mini", "messages": messages, "temperature": 0, **kw}
    return client(gw, key).chat.completions.with_raw_response.create(**params)


def test_a_repeat_at_temperature_zero_is_answered_from_the_cache(
    cached: GatewayProcess, upstream: FakeUpstream
) -> None:
    messages = question()
    first, second = ask(cached, messages), ask(cached, messages)
    assert first.headers["x-satisfice-cache"] == "miss"
    assert second.headers["x-satisfice-cache"] == "hit-exact"
    assert reached_upstream(upstream, messages) == 1
    a, b = first.parse(), second.parse()
    assert a.choices[0].message.content == b.choices[0].message.content
    assert a.id != b.id  # a new response, the same answer
    assert second.headers["x-satisfice-model"] == "gpt-4o-mini"
    assert float(second.headers["x-satisfice-cost-usd"]) == 0.0
    r1 = cached.row(first.headers["x-satisfice-request-id"])
    r2 = cached.row(second.headers["x-satisfice-request-id"])
    assert r1["cache"] == "miss" and r1["cost_usd"] > 0
    assert r2["cache"] == "hit-exact" and r2["cost_usd"] == 0 and r2["strategy"] == "cache"
    assert r2["cache_saved_usd"] == pytest.approx(r1["cost_usd"])
    assert r2["savings_usd"] == pytest.approx(r2["baseline_cost_usd"])
    assert r1["id"] in r2["reason"]  # the ledger (operator-only) names the answer's request
    assert r1["id"] not in second.headers["x-satisfice-reason"]  # a header does not: see /v1/feedback
    assert float(second.headers["x-satisfice-cache-saved-usd"]) == pytest.approx(r1["cost_usd"])


def test_answers_that_may_vary_are_not_cached_unless_asked(
    cached: GatewayProcess, upstream: FakeUpstream
) -> None:
    messages = question()
    first, second = ask(cached, messages, temperature=0.8), ask(cached, messages, temperature=0.8)
    assert first.headers["x-satisfice-cache"] == second.headers["x-satisfice-cache"] == "off"
    assert reached_upstream(upstream, messages) == 2
    on: dict[str, Any] = {"extra_headers": {"x-satisfice-cache": "on"}}
    third, fourth = ask(cached, messages, temperature=0.8, **on), ask(cached, messages, temperature=0.8, **on)
    assert (third.headers["x-satisfice-cache"], fourth.headers["x-satisfice-cache"]) == ("miss", "hit-exact")
    assert reached_upstream(upstream, messages) == 3


def test_routes_choose_when(cached: GatewayProcess, upstream: FakeUpstream) -> None:
    messages = question()
    hot = (
        ask(cached, messages, model="always", temperature=1),
        ask(cached, messages, model="always", temperature=1),
    )
    assert [r.headers["x-satisfice-cache"] for r in hot] == ["miss", "hit-exact"]
    never = (
        ask(cached, messages, model="never"),
        ask(cached, messages, model="never", extra_headers={"x-satisfice-cache": "on"}),
    )
    assert [r.headers["x-satisfice-cache"] for r in never] == ["off", "off"]
    assert reached_upstream(upstream, messages) == 3


def test_tenant_a_is_never_served_tenant_b_entry(cached: GatewayProcess, upstream: FakeUpstream) -> None:
    messages = question()
    assert ask(cached, messages, key="sk-tenant-a").headers["x-satisfice-cache"] == "miss"
    assert ask(cached, messages, key="sk-tenant-b").headers["x-satisfice-cache"] == "miss"
    assert ask(cached, messages, key="sk-tenant-b").headers["x-satisfice-cache"] == "hit-exact"
    assert reached_upstream(upstream, messages) == 2


def test_request_headers_control_reading_and_writing(cached: GatewayProcess, upstream: FakeUpstream) -> None:
    messages = question()
    no_store: dict[str, Any] = {"extra_headers": {"cache-control": "no-store"}}
    assert ask(cached, messages, **no_store).headers["x-satisfice-cache"] == "off"
    assert (
        ask(cached, messages, extra_headers={"x-satisfice-cache": "read"}).headers["x-satisfice-cache"]
        == "miss"
    )
    assert reached_upstream(upstream, messages) == 2  # neither request stored its answer
    assert ask(cached, messages).headers["x-satisfice-cache"] == "miss"  # stores
    assert ask(cached, messages).headers["x-satisfice-cache"] == "hit-exact"
    fresh = ask(cached, messages, extra_headers={"cache-control": "no-cache"})
    assert fresh.headers["x-satisfice-cache"] == "miss"
    assert (
        ask(cached, messages, extra_headers={"cache-control": "max-age=600"}).headers["x-satisfice-cache"]
        == "hit-exact"
    )
    assert reached_upstream(upstream, messages) == 4


def test_a_malformed_cache_header_is_a_400_with_a_ledger_row(cached: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client(cached).chat.completions.create(
            model="gpt-4o-mini",
            messages=question(),
            temperature=0,
            extra_headers={"x-satisfice-cache": "sometimes"},
        )
    assert "x-satisfice-cache" in err.value.message
    assert cached.row(err.value.response.headers["x-satisfice-request-id"])["status"] == 400


def test_errors_are_never_cached(cached: GatewayProcess, upstream: FakeUpstream) -> None:
    messages = question()
    for _ in range(2):
        with pytest.raises(openai.APIStatusError):
            client(cached).chat.completions.create(model="openai/error500", messages=messages, temperature=0)
    assert reached_upstream(upstream, messages) >= 2  # both requests reached the upstream


def test_a_streamed_request_is_answered_from_the_cache_as_a_proper_stream(
    cached: GatewayProcess, upstream: FakeUpstream
) -> None:
    messages = question()
    plain = ask(cached, messages).parse()
    with client(cached).chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=messages,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    ) as resp:
        assert resp.headers["x-satisfice-cache"] == "hit-exact"
        assert resp.headers["content-type"].startswith("text/event-stream")
        chunks = [c for c in resp.parse() if isinstance(c, ChatCompletionChunk)]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert (
        chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert reached_upstream(upstream, messages) == 1


def test_a_streamed_answer_is_stored_for_later_requests(
    cached: GatewayProcess, upstream: FakeUpstream
) -> None:
    messages = question()
    streamed = client(cached).chat.completions.create(
        model="gpt-4o-mini", messages=messages, temperature=0, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    again = ask(cached, messages)
    assert again.headers["x-satisfice-cache"] == "hit-exact"
    assert again.parse().choices[0].message.content == text
    assert reached_upstream(upstream, messages) == 1


def test_the_anthropic_endpoint_shares_the_cache(cached: GatewayProcess, upstream: FakeUpstream) -> None:
    marker = f"Name a colour. {uuid.uuid4().hex}"
    claude = anthropic.Anthropic(base_url=cached.url, api_key="sk-tenant-a", max_retries=0)
    params: dict[str, Any] = {
        "model": "claude-3-5-haiku",
        "max_tokens": 50,
        "extra_body": {"temperature": 0},  # this SDK version has no temperature argument
        "messages": [{"role": "user", "content": marker}],
    }
    first = claude.messages.with_raw_response.create(**params)
    second = claude.messages.with_raw_response.create(**params)
    assert (first.headers["x-satisfice-cache"], second.headers["x-satisfice-cache"]) == ("miss", "hit-exact")
    assert first.parse().content[0].text == second.parse().content[0].text
    with claude.messages.stream(**params) as stream:
        streamed = "".join(stream.text_stream)
    assert streamed == first.parse().content[0].text
    assert sum(1 for r in upstream.requests() if marker in json.dumps(r["body"])) == 1


def test_bad_feedback_evicts_the_answer(cached: GatewayProcess, upstream: FakeUpstream) -> None:
    messages = question()
    ask(cached, messages)
    hit = ask(cached, messages)
    assert hit.headers["x-satisfice-cache"] == "hit-exact"
    assert cached.feedback(hit.headers["x-satisfice-request-id"], 0.0) == 200  # feedback on the hit
    assert ask(cached, messages).headers["x-satisfice-cache"] == "miss"
    assert reached_upstream(upstream, messages) == 2
    assert cached.feedback("req_unknown", 0.0) == 404


def test_the_sqlite_backend_survives_a_restart(upstream: FakeUpstream, tmp_path: Path) -> None:
    messages = question()
    config = cache_config(upstream, tmp_path, backend="sqlite")
    with GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        assert ask(gw, messages).headers["x-satisfice-cache"] == "miss"
    with GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        assert ask(gw, messages).headers["x-satisfice-cache"] == "hit-exact"
    assert reached_upstream(upstream, messages) == 1


def test_report_shows_hits_and_what_they_saved(cached: GatewayProcess) -> None:
    messages = question()
    first, second = ask(cached, messages), ask(cached, messages)
    cached.row(second.headers["x-satisfice-request-id"])  # written by the background writer
    cost = cached.row(first.headers["x-satisfice-request-id"])["cost_usd"]
    out = subprocess.run(
        [sys.executable, "-m", "satisfice", "report", "--ledger", cached.ledger, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["cache_hits"]["hit-exact"] >= 1
    assert report["cache_saved_usd"] >= cost > 0
    table = subprocess.run(
        [sys.executable, "-m", "satisfice", "report", "--ledger", cached.ledger],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "cache hits" in table and "hit-exact" in table


def test_a_hit_gives_the_usage_counted_when_the_upstream_reported_none(cached: GatewayProcess) -> None:
    """Before, the answer was stored without usage when the upstream sent none: a streamed repeat that
    asked for `include_usage` got no usage chunk at all (the miss had got the gateway's count), and a
    repeat on /v1/messages reported 0 input and 0 output tokens."""
    messages = question()
    params: dict[str, Any] = {
        "model": "openai/gpt-4o-mini+nousage",
        "messages": messages,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    streams = []
    for _ in range(2):
        with client(cached).chat.completions.with_streaming_response.create(**params) as resp:
            streams.append((resp.headers["x-satisfice-cache"], [c for c in resp.parse() if c.usage]))
    (miss, counted), (hit, replayed) = streams
    assert (miss, hit) == ("miss", "hit-exact")
    assert len(counted) == len(replayed) == 1 and counted[0].usage is not None
    assert replayed[0].usage == counted[0].usage
    claude = anthropic.Anthropic(base_url=cached.url, api_key="sk-tenant-a", max_retries=0)
    marker = f"Name a colour. {uuid.uuid4().hex}"
    ask_claude: dict[str, Any] = {
        "model": "openai/gpt-4o-mini+nousage",
        "max_tokens": 50,
        "extra_body": {"temperature": 0},
        "messages": [{"role": "user", "content": marker}],
    }
    first = claude.messages.create(**ask_claude)
    again = claude.messages.with_raw_response.create(**ask_claude)
    assert again.headers["x-satisfice-cache"] == "hit-exact"
    assert again.parse().usage.output_tokens == first.usage.output_tokens > 0
