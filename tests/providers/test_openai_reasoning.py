"""The OpenAI adapter's rewrite of what OpenAI's reasoning models refuse (max_tokens, sampling)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from satisfice.catalog import load_catalog
from satisfice.providers.base import Deployment
from satisfice.providers.openai_compat import AZURE, OPENAI, openai_reasoning_model


def dep(provider: str, model: str, upstream: str | None = None, dialect: str = "openai") -> Deployment:
    """A deployment as the model directory builds it: the flag from the provider's catalog entry."""
    flag = openai_reasoning_model(load_catalog().get(provider, model), dialect, upstream or model)
    return Deployment(
        provider=provider,
        model=model,
        upstream_model=upstream or model,
        base_url="https://api.example.com/v1",
        dialect=dialect,
        api_key="sk-x",
        openai_reasoning=flag,
    )


def request(**kw: Any) -> dict[str, Any]:
    """A body with every parameter a reasoning model refuses (the empty asks included)."""
    return {
        "model": "route",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 300,
        "temperature": 0,
        "top_p": 0.9,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.5,
        "logprobs": False,
        "top_logprobs": None,
        "logit_bias": {},
        "seed": 7,
        "n": 2,
        "stop": ["\n\n"],
        "reasoning_effort": "low",
        **kw,
    }


def sent(d: Deployment, body: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    dialect = AZURE if d.dialect == "azure" else OPENAI
    out: dict[str, Any] = orjson.loads(dialect.build_chat(d, body, stream=stream).body)
    return out


REFUSED = ("max_tokens", "temperature", "top_p", "presence_penalty", "frequency_penalty")
EMPTY_ASKS = ("logprobs", "top_logprobs", "logit_bias")


@pytest.mark.parametrize("model", ["o1", "o1-mini", "o3", "o3-mini", "o4-mini", "o3-mini-2025-01-31"])
def test_reasoning_model_gets_max_completion_tokens_and_no_sampling_parameters(model: str) -> None:
    body = request()
    out = sent(dep("openai", model), body)
    assert out["max_completion_tokens"] == 300
    for key in (*REFUSED, *EMPTY_ASKS):
        assert key not in out, key
    # What the model takes is sent as it came (o1-mini takes no reasoning_effort at all).
    assert out["seed"] == 7 and out["n"] == 2 and out["stop"] == ["\n\n"]
    assert out.get("reasoning_effort") == (None if model == "o1-mini" else "low")
    assert out["model"] == model and out["messages"] == body["messages"]
    assert body == request()  # the caller's body is untouched


def test_client_max_completion_tokens_wins_over_max_tokens() -> None:
    out = sent(dep("openai", "o3-mini"), request(max_completion_tokens=50))
    assert out["max_completion_tokens"] == 50 and "max_tokens" not in out
    out = sent(dep("openai", "o3-mini"), request(max_completion_tokens=None))
    assert out["max_completion_tokens"] == 300
    out = sent(dep("openai", "o3-mini"), request(max_tokens=None))
    assert "max_tokens" not in out and "max_completion_tokens" not in out


@pytest.mark.parametrize(
    ("model", "efforts"),
    [
        # The o-series takes low, medium and high only.
        (
            "o3-mini",
            {"none": "low", "minimal": "low", "low": "low", "high": "high", "xhigh": "high", "max": "high"},
        ),
        ("o1", {"minimal": "low", "medium": "medium", "max": "high"}),
        ("o4-mini", {"none": "low", "xhigh": "high"}),
        ("o3-pro", {"minimal": "low", "xhigh": "high"}),  # not in the catalog: the name decides
        # GPT-5, -mini and -nano take minimal to high (no none before GPT-5.1, no xhigh).
        ("gpt-5", {"none": "minimal", "minimal": "minimal", "low": "low", "xhigh": "high", "max": "high"}),
        ("gpt-5-nano-2025-08-07", {"none": "minimal", "xhigh": "high"}),
    ],
)
def test_reasoning_effort_is_fitted_to_what_the_model_takes(model: str, efforts: dict[str, str]) -> None:
    for asked, expected in efforts.items():
        body = request(reasoning_effort=asked)
        assert sent(dep("openai", model), body)["reasoning_effort"] == expected, asked
        assert body["reasoning_effort"] == asked  # the caller's body is untouched


@pytest.mark.parametrize("model", ["o1-mini", "o1-preview", "o1-mini-2024-09-12"])
def test_reasoning_effort_is_dropped_for_models_that_take_none(model: str) -> None:
    assert "reasoning_effort" not in sent(dep("openai", model), request(reasoning_effort="high"))


def test_reasoning_effort_fitting_reads_the_catalog_id_before_the_deployment_name() -> None:
    """An Azure deployment name says nothing of the family; the catalog id does."""
    azure = dep("azure", "o1", upstream="prod-reasoner", dialect="azure")
    assert sent(azure, request(reasoning_effort="xhigh"))["reasoning_effort"] == "high"
    # A reasoning deployment of a family the table does not know keeps the client's value.
    unknown = Deployment(
        "p", "house-reasoner", "house-reasoner", "https://x.test/v1", "openai", openai_reasoning=True
    )
    assert sent(unknown, request(reasoning_effort="xhigh"))["reasoning_effort"] == "xhigh"


def test_reasoning_effort_is_left_alone_on_other_models() -> None:
    """Models that are no reasoning models are not rewritten."""
    for model in ("gpt-4.1", "gpt-4o-mini"):
        assert sent(dep("openai", model), request(reasoning_effort="xhigh"))["reasoning_effort"] == "xhigh"
        assert sent(dep("openai", model), request(reasoning_effort="none"))["reasoning_effort"] == "none"


@pytest.mark.parametrize(
    ("model", "efforts"),
    [
        ("gpt-5.1", {"none": "none", "xhigh": "high", "max": "high"}),
        ("gpt-5.5", {"none": "none", "xhigh": "xhigh", "max": "xhigh"}),
        ("gpt-6-sol", {"none": "none", "minimal": "minimal", "max": "max"}),
        ("gpt-6.2-sol", {"none": "low", "minimal": "low", "max": "max"}),  # none is refused
    ],
)
def test_newer_openai_models_get_the_efforts_their_pages_list(model: str, efforts: dict[str, str]) -> None:
    for asked, expected in efforts.items():
        assert sent(dep("openai", model), request(reasoning_effort=asked))["reasoning_effort"] == expected


def test_newer_openai_models_keep_sampling_parameters_at_no_effort() -> None:
    """GPT-5.1 and later take temperature and top_p at effort none (and the request that sets no
    effort sends them: a refusal is then left out, providers/refused.py); above it they go."""
    for effort in ("none", None):
        body = request(reasoning_effort=effort) if effort else {**request(), "reasoning_effort": None}
        out = sent(dep("openai", "gpt-6-sol"), body)
        assert (out["temperature"], out["top_p"]) == (0, 0.9), effort
    assert "temperature" not in sent(dep("openai", "gpt-6-sol"), request(reasoning_effort="high"))
    assert "temperature" not in sent(dep("openai", "gpt-5"), request(reasoning_effort="minimal"))


def test_newer_openai_names_the_catalog_lacks_get_the_same_rewrite() -> None:
    """A dated or passthrough GPT-5.x / 6.x name is read by its family, as the catalog ids are."""
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    dated = dep("openai", "gpt-6-sol-2026-09-22")
    assert dated.openai_reasoning
    assert sent(dated, request(reasoning_effort="high", tools=tools))["reasoning_effort"] == "none"
    assert sent(dep("openai", "gpt-5.2"), request(reasoning_effort="max"))["reasoning_effort"] == "xhigh"
    assert not dep("openai", "gpt-5.1-chat-latest").openai_reasoning  # a chat model, not a reasoning one


def test_tools_get_no_reasoning_where_chat_completions_calls_functions_only_so() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    out = sent(dep("openai", "gpt-6-luna"), request(reasoning_effort="high", tools=tools))
    assert out["reasoning_effort"] == "none" and out["temperature"] == 0
    declined = sent(
        dep("openai", "gpt-6-luna"), request(reasoning_effort="high", tools=tools, tool_choice="none")
    )
    assert declined["reasoning_effort"] == "high"
    assert (
        sent(dep("openai", "gpt-6.1-terra"), request(reasoning_effort="high", tools=tools))[
            "reasoning_effort"
        ]
        == "high"
    )


def test_real_logprobs_and_logit_bias_asks_are_not_dropped() -> None:
    """Dropping them would answer without what was asked: a route skips the model instead
    (routing/constraints.py), and a client that named it gets OpenAI's own 400."""
    out = sent(dep("openai", "o3-mini"), request(logprobs=True, top_logprobs=2, logit_bias={"1734": -100}))
    assert out["logprobs"] is True and out["top_logprobs"] == 2 and out["logit_bias"] == {"1734": -100}
    assert "temperature" not in out and out["max_completion_tokens"] == 300


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-mini"),
        ("openai", "gpt-4o"),
        ("azure", "gpt-4o"),
        ("openrouter", "o3-mini"),  # OpenRouter maps parameters itself; its schema has max_tokens
        ("together", "deepseek-r1"),  # a reasoning model that takes temperature and max_tokens
        ("deepseek", "deepseek-reasoner"),
        ("groq", "qwq-32b"),
        ("my-vllm", "meta-llama/Llama-3.1-8B-Instruct"),  # passthrough, unknown to the catalog
        ("my-vllm", "mock-gpt"),
        ("my-vllm", "openai/o3-mini"),  # an aggregator's name: not OpenAI's own API
        ("my-vllm", "gpt-5.2"),  # GPT-5.x takes sampling parameters (reasoning effort none)
        ("my-vllm", "gpt-5-chat-latest"),
    ],
)
def test_other_models_are_sent_as_they_came(provider: str, model: str) -> None:
    body = request()
    out = sent(dep(provider, model, upstream="upstream-id"), body)
    assert out == {**body, "model": "upstream-id"}


@pytest.mark.parametrize(
    "model", ["o3-pro", "o1-pro-2025-03-19", "o4-mini-deep-research", "gpt-5", "gpt-5-nano"]
)
def test_uncatalogued_openai_reasoning_names_fall_back_to_the_name(model: str) -> None:
    out = sent(dep("my-proxy", model), request())
    assert out["max_completion_tokens"] == 300 and "temperature" not in out


def test_catalog_entry_decides_before_the_name() -> None:
    catalog = load_catalog()
    # The entry the directory resolved: OpenAI's o3-mini yes, OpenRouter's no (whatever the name).
    assert openai_reasoning_model(catalog.get("openai", "o3-mini"), "openai", "o3-mini")
    assert openai_reasoning_model(catalog.get("azure", "o4-mini"), "azure", "prod-reasoner")
    openrouter = catalog.get("openrouter", "o3-mini") or catalog.get("openrouter", "openai/o3-mini")
    assert openrouter is not None and not openai_reasoning_model(openrouter, "openai", "o3-mini")
    # An entry that is not a reasoning model is not rewritten, even under a reasoning-like name.
    assert not openai_reasoning_model(catalog.get("openai", "gpt-4.1-mini"), "openai", "o3-mini")
    # No entry: OpenAI's reasoning names, on OpenAI's dialects only.
    assert openai_reasoning_model(None, "openai", "o3-pro")
    assert not openai_reasoning_model(None, "anthropic", "o3-pro")
    assert not openai_reasoning_model(None, "openai", "gpt-4.1-mini")


def test_azure_deployment_of_a_reasoning_model_is_rewritten_and_keeps_its_path() -> None:
    d = dep("azure", "o3-mini", upstream="prod-reasoner", dialect="azure")
    req = AZURE.build_chat(d, request(), stream=True)
    out = orjson.loads(req.body)
    assert "/openai/deployments/prod-reasoner/chat/completions" in req.url
    assert out["max_completion_tokens"] == 300 and "max_tokens" not in out and "temperature" not in out
    assert out["stream_options"] == {"include_usage": True}
