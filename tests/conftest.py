"""Shared fixtures: one fake upstream on loopback and a real gateway process configured against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.redis_server import RedisServer


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


def cheap_model(model_id: str, prior: float) -> dict[str, Any]:
    """A catalog entry for a very cheap fake-upstream model with the given quality prior."""
    return {
        "id": model_id,
        "provider": "openai",
        "input_per_mtok": 0.01,
        "output_per_mtok": 0.02,
        "context_window": 100000,
        "quality_prior": prior,
    }


def cheap_tool_model(model_id: str) -> dict[str, Any]:
    """A catalog entry for a cheap fake-upstream model that calls tools (quality prior 0.6)."""
    return {
        "id": model_id,
        "provider": "openai",
        "input_per_mtok": 0.05,
        "output_per_mtok": 0.2,
        "context_window": 100000,
        "max_output": 1000,
        "quality_prior": 0.6,
        "capabilities": {"tools": True},
    }


def single_call_reliability(timeout_s: float, deadline_s: float) -> dict[str, Any]:
    """For tests that watch each upstream call: no retries, and no breaker opening in the way."""
    return {
        "timeout_s": timeout_s,
        "deadline_s": deadline_s,
        "retries": 0,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.02,
        "breaker_failures": 1000,
        "stream_idle_timeout_s": 3.0,
    }


def dialect_providers(up: FakeUpstream) -> list[dict[str, Any]]:
    """One passthrough provider per dialect on the fake: `oai/...`, `ant/...` and `gem/...` reach
    it with any model name (a name's tokens choose the fake's behaviour)."""

    def provider(name: str, kind: str, base_url: str) -> dict[str, Any]:
        return {"name": name, "type": kind, "base_url": base_url, "api_key": "k-" + name, "passthrough": True}

    return [
        provider("oai", "openai", up.openai_base),
        provider("ant", "anthropic", up.anthropic_base),
        provider("gem", "gemini", up.gemini_base),
    ]


def standard_config(up: FakeUpstream) -> dict[str, Any]:
    """Three providers on the fake (one per dialect) and routes that exercise failover."""
    fast = {
        "timeout_s": 2.0,
        "deadline_s": 6.0,
        "retries": 1,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "max_retry_wait_s": 1.5,
        "breaker_failures": 50,
        "breaker_window_s": 30,
        "breaker_cooldown_s": 30,
        "stream_idle_timeout_s": 2.0,
    }
    return {
        "reliability": fast,
        "providers": [
            {
                "name": "openai",
                "base_url": up.openai_base,
                "api_key": "${FAKE_OPENAI_KEY}",
                "headers": {"openai-organization": "org-test"},
                "passthrough": True,
            },
            {"name": "anthropic", "base_url": up.anthropic_base, "api_key": "sk-ant-test"},
            {"name": "gemini", "base_url": up.gemini_base, "api_key": "gm-test"},
        ],
        "routes": {
            "first-ok": {"strategy": "first", "candidates": ["gpt-4o-mini", "gpt-4o"]},
            "fallback": {
                "strategy": "first",
                "candidates": ["openai/ratelimit-30", "openai/error500", "gpt-4o-mini"],
            },
            "cheap": {"strategy": "cheapest", "candidates": ["gpt-4o", "gpt-4o-mini", "claude-3-5-haiku"]},
            "claude": {"strategy": "first", "candidates": ["claude-3-5-haiku"]},
            "claude-5": {"strategy": "first", "candidates": ["claude-opus-5-5", "claude-sonnet-5"]},
            "claude-first": {"strategy": "first", "candidates": ["claude-3-5-haiku", "gpt-4o-mini"]},
            "claude-then-limited": {
                "strategy": "first",
                "candidates": ["claude-3-5-haiku", "openai/ratelimit-30"],
            },
            "gem": {"strategy": "first", "candidates": ["gemini-2.0-flash"]},
            "stream-fallback": {"strategy": "first", "candidates": ["openai/cut-0", "gpt-4o-mini"]},
        },
        "embeddings": {"model": "text-embedding-3-small"},
    }


@pytest.fixture(scope="session")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp: Path = tmp_path_factory.mktemp("gw")
    with GatewayProcess(tmp, standard_config(upstream), env={"FAKE_OPENAI_KEY": "sk-fake-openai"}) as gw:
        yield gw


@pytest.fixture(scope="session")
def strict_gateway(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway with a small body limit, for the input-validation tests."""
    tmp: Path = tmp_path_factory.mktemp("gw-strict")
    config = standard_config(upstream)
    config["server"] = {"max_body_bytes": 200_000}
    config["providers"][0]["passthrough"] = False  # unknown model names are then a 404 of our own
    with GatewayProcess(tmp, config, env={"FAKE_OPENAI_KEY": "sk-fake-openai"}) as gw:
        yield gw


@pytest.fixture(scope="session")
def tight_gateway(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """Short timeouts, no retries and a breaker that opens after two failures."""
    tmp: Path = tmp_path_factory.mktemp("gw-tight")
    config = standard_config(upstream)
    config["reliability"] = {
        "timeout_s": 0.5,
        "deadline_s": 1.2,
        "retries": 0,
        "breaker_failures": 2,
        "breaker_window_s": 60,
        "breaker_cooldown_s": 600,
        "stream_idle_timeout_s": 0.5,
    }
    # Priced, so a call that timed out is charged something to see ($1,000 per million tokens).
    priced = {"id": "hang+a", "provider": "openai", "input_per_mtok": 1000.0, "output_per_mtok": 2000.0}
    config["models"] = [*config.get("models", []), {**priced, "context_window": 100000}]
    # An embeddings model whose upstream reports no usage: the gateway counts the tokens.
    silent: dict[str, Any] = {"id": "embed-silent", "kind": "embedding"}
    silent["upstream_id"] = "text-embedding-3-small+nousage"
    silent |= {"provider": "openai", "input_per_mtok": 1000.0, "output_per_mtok": 0.0, "context_window": 8191}
    config["models"].append(silent)
    # A Claude model whose upstream reports no usage: the gateway counts the tokens.
    claude: dict[str, Any] = {"id": "claude-silent", "upstream_id": "claude-3-5-haiku+nousage"}
    claude |= {"provider": "anthropic", "input_per_mtok": 1000.0, "output_per_mtok": 2000.0}
    config["models"].append({**claude, "context_window": 200000})
    gpt = {"id": "gpt-silent", "upstream_id": "gpt-4o-mini+nousage", "provider": "openai"}
    config["models"].append({**claude, **gpt, "context_window": 128000})
    config["routes"] = {
        "hang-then-ok": {"candidates": ["openai/hang+a", "gpt-4o-mini"]},
        "all-hang": {"candidates": ["openai/hang+b", "openai/hang+c", "openai/hang+d"]},
        "breaker": {"candidates": ["openai/error500+brk", "gpt-4o-mini"]},
    }
    with GatewayProcess(tmp, config, env={"FAKE_OPENAI_KEY": "sk-fake-openai"}) as gw:
        yield gw


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


# Clients of a module's own gateway: a module that defines a `gw` fixture gets these with it.
@pytest.fixture()
def ant(gw: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="sk-client", max_retries=0, timeout=20)


@pytest.fixture()
def oai(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="sk-client", max_retries=0, timeout=20)
