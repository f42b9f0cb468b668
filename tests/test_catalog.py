"""The packaged model catalog: coverage, lookups, cost arithmetic, overrides and validation errors."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

import pytest

from satisfice.catalog import Catalog, CatalogError, ModelInfo, load_catalog, parse_entries
from satisfice.catalog.catalog import catalog_from_document, versionless

# The benchmark datasets' models and the (historical) prices RouterBench used for them.
DATASET_PRICES = {
    ("openai", "gpt-4-1106-preview"): (10.0, 30.0),
    ("openai", "gpt-3.5-turbo-1106"): (1.0, 2.0),
    ("anthropic", "claude-instant-1.2"): (0.8, 2.4),
    ("anthropic", "claude-2"): (8.0, 24.0),
    ("anthropic", "claude-1"): (8.0, 24.0),
    ("together", "mixtral-8x7b-instruct"): (0.6, 0.6),
    ("together", "mistral-7b-instruct"): (0.2, 0.2),
    ("together", "llama-2-70b-chat"): (0.9, 0.9),
    ("together", "yi-34b-chat"): (0.8, 0.8),
    ("together", "codellama-34b-instruct"): (0.776, 0.776),
    ("together", "wizardlm-13b"): (0.3, 0.3),
}

# Model names as the shared datasets spell them (arena-bench-v1 models.csv, arena-battles-1k README).
DATASET_SPELLINGS = (
    "gpt-4-0314", "gpt-4", "gpt-3.5-turbo", "Mixtral-8x7B-Instruct-v0.1", "claude-2.1", "claude-instant-1",
    "Starling-LM-7B-alpha", "openchat_3.5", "Llama-2-70b-chat", "vicuna-33b-v1.3", "Mistral-7B-Instruct-v0.1",
    "palm-2-chat-bison-001", "llama-13b", "palm-2", "vicuna-33b", "wizardlm-70b", "vicuna-13b", "guanaco-33b",
    "koala-13b", "vicuna-7b", "llama-2-13b-chat", "gpt4all-13b-snoozy", "fastchat-t5-3b", "stablelm-7b",
    "chatglm-6b", "oasst-pythia-12b", "mpt-7b-chat", "mpt-30b-chat", "alpaca-13b", "RWKV-4-Raven-14B",
    "dolly-v2-12b", "chatglm2-6b", "llama-2-7b-chat", "zephyr-7b-beta",
    # RouterBench names and the routerbench-subset column names
    "claude-instant-v1", "claude-v1", "claude-v2", "mistralai/mixtral-8x7b-chat", "zero-one-ai/Yi-34B-Chat",
    "meta/code-llama-instruct-34b-chat", "meta/llama-2-70b-chat", "WizardLM/WizardLM-13B-V1.2", "gpt4_1106",
    "gpt35_turbo_1106", "mixtral_8x7b", "yi_34b",
)  # fmt: skip

MAINSTREAM = {
    "openai": (
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o1",
        "o1-mini",
        "o3-mini",
        "o3",
        "o4-mini",
        "gpt-5",
        "gpt-5.1",
        "gpt-5.5",
        "gpt-6-sol",
        "gpt-6-luna",
        "gpt-6.2-sol",
        "gpt-6.2-astra",
        "gpt-3.5-turbo",
        "gpt-4-turbo",
        "gpt-4",
        "text-embedding-3-small",
        "text-embedding-3-large",
        "text-embedding-ada-002",
    ),
    "anthropic": (
        "claude-3-haiku",
        "claude-3-sonnet",
        "claude-3-opus",
        "claude-3-5-haiku",
        "claude-3-5-sonnet",
        "claude-3-7-sonnet",
        "claude-sonnet-4",
        "claude-opus-4",
        "claude-opus-4-5",
        "claude-sonnet-4-6",
        "claude-opus-4-8",
        "claude-sonnet-5",
        "claude-opus-5",
        "claude-sonnet-5-5",
        "claude-opus-5-5",
        "claude-haiku-5-5",
    ),
    "gemini": (
        "gemini-1.5-flash",
        "gemini-1.5-flash-8b",
        "gemini-1.5-pro",
        "gemini-2.0-flash",
        "gemini-2.0-flash-lite",
        "gemini-2.5-flash",
        "gemini-2.5-pro",
    ),
    "mistral": (
        "mistral-small",
        "mistral-medium",
        "mistral-large",
        "codestral",
        "open-mistral-nemo",
        "ministral-8b",
    ),
    "deepseek": ("deepseek-chat", "deepseek-reasoner"),
}


def entry(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "m1", "provider": "acme", "input_per_mtok": 1.0, "output_per_mtok": 2.0, "context_window": 1000,
    }  # fmt: skip
    base.update(over)
    return base


# ---------------------------------------------------------------- the packaged data


def test_catalog_size_and_providers() -> None:
    cat = load_catalog()
    assert len(cat) >= 150
    assert len(cat.providers()) >= 12
    known = {
        "openai",
        "anthropic",
        "gemini",
        "mistral",
        "together",
        "fireworks",
        "deepinfra",
        "groq",
        "deepseek",
        "xai",
        "openrouter",
        "azure",
        "perplexity",
        "cerebras",
    }
    assert set(cat.providers()) <= known
    assert load_catalog() is cat  # cached


def test_every_entry_is_sourced_and_sane() -> None:
    for m in load_catalog():
        assert m.quality_source.strip(), m.qualified_id
        assert m.price_source.strip(), m.qualified_id
        assert 0.0 <= m.quality_prior <= 1.0
        assert m.kind in ("chat", "embedding")
        date.fromisoformat(m.price_date)
        if m.cached_input_per_mtok is not None:
            assert m.cached_input_per_mtok <= m.input_per_mtok, m.qualified_id
        if m.kind == "embedding":
            assert m.output_per_mtok == 0.0 and m.context_window in (8191, 8192)
        else:
            assert m.streaming, m.qualified_id


def test_packaged_file_spells_out_every_key() -> None:
    text = resources.files("satisfice.catalog").joinpath("models.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["schema_version"] == 1
    cat = load_catalog()
    for raw, m in zip(doc["models"], cat, strict=True):
        assert raw == m.to_public()


@pytest.mark.parametrize(("key", "prices"), sorted(DATASET_PRICES.items()))
def test_dataset_models_resolve_with_routerbench_prices(
    key: tuple[str, str], prices: tuple[float, float]
) -> None:
    provider, model_id = key
    cat = load_catalog()
    [info] = cat.lookup(f"{provider}/{model_id}")
    assert info.id == model_id and (info.input_per_mtok, info.output_per_mtok) == prices
    assert "routerbench" in info.price_source.lower()
    # the bare id finds the dataset's provider first (open models are hosted elsewhere too)
    assert cat.lookup(model_id)[0] is info


@pytest.mark.parametrize("name", DATASET_SPELLINGS)
def test_dataset_spellings_resolve(name: str) -> None:
    assert load_catalog().lookup(name), name


def test_mainstream_models_present() -> None:
    cat = load_catalog()
    for provider, ids in MAINSTREAM.items():
        for model_id in ids:
            info = cat.get(provider, model_id)
            assert info is not None and info.id == model_id, f"{provider}/{model_id}"
    embeddings = [m for m in cat if m.kind == "embedding" and m.provider == "openai"]
    assert {m.id for m in embeddings} >= {"text-embedding-3-small", "text-embedding-3-large"}


# ---------------------------------------------------------------- lookups


def test_lookup_by_alias_and_qualified_id() -> None:
    cat = load_catalog()
    assert [m.qualified_id for m in cat.lookup("claude-instant-1")] == ["anthropic/claude-instant-1.2"]
    assert [m.qualified_id for m in cat.lookup("anthropic/claude-3-5-haiku-20241022")] == [
        "anthropic/claude-3-5-haiku"
    ]
    assert [m.qualified_id for m in cat.lookup("openai/gpt-4o-mini")] == ["openai/gpt-4o-mini"]
    assert cat.get("openai", "gpt-4o-mini-2024-07-18") is cat.get("openai", "gpt-4o-mini")
    assert cat.get("anthropic", "gpt-4o-mini") is None
    assert cat.lookup("no-such-model") == [] and cat.lookup("openai/no-such-model") == []
    assert cat.lookup("GPT-4O-MINI") == []  # case-sensitive


def test_bare_name_returns_every_provider_in_file_order() -> None:
    cat = load_catalog()
    found = cat.lookup("gpt-4o-mini")
    providers = [m.provider for m in found]
    assert {"openai", "azure", "openrouter"} <= set(providers)
    order = list(cat)
    assert [order.index(m) for m in found] == sorted(order.index(m) for m in found)
    assert len(cat.lookup("llama-3.3-70b-instruct")) >= 3


def test_openrouter_double_slash() -> None:
    cat = load_catalog()
    found = cat.lookup("openrouter/openai/gpt-4o-mini")
    assert len(found) == 1
    m = found[0]
    assert m.provider == "openrouter" and m.upstream_id == "openai/gpt-4o-mini"
    assert cat.lookup("openrouter/gpt-4o-mini") == [m]
    # the slug alone: "openai" is a provider and has gpt-4o-mini, so the first-party entry wins
    assert cat.lookup("openai/gpt-4o-mini")[0].provider == "openai"
    # a slug whose prefix is not a provider is a plain alias
    assert [x.provider for x in cat.lookup("meta-llama/llama-3.1-70b-instruct")] == ["openrouter"]


def test_by_provider_and_azure_deployment_names() -> None:
    cat = load_catalog()
    azure = cat.by_provider("azure")
    assert azure and all(m.upstream_id == m.id for m in azure)
    assert cat.by_provider("nope") == []
    together = {m.id for m in cat.by_provider("together")}
    assert "mixtral-8x7b-instruct" in together


# ---------------------------------------------------------------- costs


def test_cost_usd_arithmetic() -> None:
    m = load_catalog().get("openai", "gpt-4o-mini")
    assert m is not None
    assert (m.input_per_mtok, m.output_per_mtok, m.cached_input_per_mtok) == (0.15, 0.6, 0.075)
    assert m.cost_usd(1_000_000, 0) == pytest.approx(0.15)
    assert m.cost_usd(1000, 500) == pytest.approx((1000 * 0.15 + 500 * 0.6) / 1e6)
    # 400 of the 1000 prompt tokens came from the cache
    assert m.cost_usd(1000, 500, cached_tokens=400) == pytest.approx(
        (600 * 0.15 + 400 * 0.075 + 500 * 0.6) / 1e6
    )
    assert m.cost_usd(0, 0) == 0.0


def test_cost_usd_cache_write_and_no_cache_price() -> None:
    cat = load_catalog()
    haiku = cat.get("anthropic", "claude-3-5-haiku")
    assert haiku is not None and haiku.cached_input_per_mtok == 0.08
    cost = haiku.cost_usd(10_000, 1000, cached_tokens=2000, cache_write_tokens=3000)
    assert cost == pytest.approx((5000 * 0.8 + 2000 * 0.08 + 3000 * 0.8 * 1.25 + 1000 * 4.0) / 1e6)
    mixtral = cat.get("together", "mixtral-8x7b-instruct")
    assert mixtral is not None and mixtral.cached_input_per_mtok is None
    assert mixtral.cost_usd(1000, 1000, cached_tokens=500) == pytest.approx(2000 * 0.6 / 1e6)
    with pytest.raises(ValueError):
        mixtral.cost_usd(-1, 0)


def test_a_long_prompt_is_billed_at_its_band_for_every_token() -> None:
    """Claude Haiku 5.5 and Gemini 2.5 Pro bill a call whose prompt (cache reads and writes
    included) exceeds a length at higher prices, output included."""
    cat = load_catalog()
    haiku = cat.get("anthropic", "claude-haiku-5-5")
    assert haiku is not None and haiku.long_prompt is not None and haiku.long_prompt.above_tokens == 100_000
    assert haiku.cost_usd(100_000, 1000) == pytest.approx((100_000 * 0.10 + 1000 * 0.50) / 1e6)
    long_cost = haiku.cost_usd(100_001, 1000, cached_tokens=60_000, cache_write_tokens=30_000)
    expected = 10_001 * 0.50 + 60_000 * 0.05 + 30_000 * 0.50 * 1.25 + 1000 * 2.50
    assert long_cost == pytest.approx(expected / 1e6)
    pro = cat.get("gemini", "gemini-2.5-pro")
    assert pro is not None
    assert pro.cost_usd(200_001, 10) == pytest.approx((200_001 * 2.50 + 10 * 15.0) / 1e6)
    assert pro.cost_usd(200_000, 10) == pytest.approx((200_000 * 1.25 + 10 * 10.0) / 1e6)


def test_a_band_without_a_cached_price_keeps_the_short_bands_cache_discount() -> None:
    """Gemini 3.1 Pro's band above 200K has no published cached price: cache reads are not billed
    at the band's full input price ($4), but at the short band's $0.20 scaled as input is (x2)."""
    pro = load_catalog().get("gemini", "gemini-3.1-pro-preview")
    assert pro is not None and pro.long_prompt is not None and pro.long_prompt.cached_input_per_mtok is None
    cost = pro.cost_usd(200_001, 0, cached_tokens=190_000)
    assert cost == pytest.approx((10_001 * 4.0 + 190_000 * 0.40) / 1e6)


def test_an_override_may_narrow_the_window_below_a_band() -> None:
    """A band above the context window never applies; narrowing a catalog model's window is fine."""
    cat = load_catalog().with_overrides(
        [{"provider": "gemini", "id": "gemini-2.5-pro", "context_window": 128000}]
    )
    pro = cat.get("gemini", "gemini-2.5-pro")
    assert pro is not None and pro.context_window == 128000 and pro.long_prompt is not None


@pytest.mark.parametrize(
    ("long_prompt", "message"),
    [
        ({"input_per_mtok": 1, "output_per_mtok": 2}, "models[0].long_prompt.above_tokens: required key"),
        (
            {"above_tokens": 10, "input_per_mtok": 1, "output_per_mtok": 2, "tier": 1},
            "long_prompt.tier: unknown",
        ),
        (
            {"above_tokens": 10, "input_per_mtok": -1, "output_per_mtok": 2},
            "long_prompt.input_per_mtok: expected",
        ),
        ([10, 1, 2], "models[0].long_prompt: expected null or an object"),
    ],
)
def test_a_long_prompt_band_is_checked(long_prompt: Any, message: str) -> None:
    with pytest.raises(CatalogError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_entries([entry(context_window=128000, long_prompt=long_prompt)])


@pytest.mark.parametrize(
    ("provider", "model"), [("anthropic", "claude-3-5-sonnet"), ("anthropic", "claude-haiku-5-5")]
)
def test_to_public_round_trips(provider: str, model: str) -> None:
    m = load_catalog().get(provider, model)
    assert m is not None
    pub = m.to_public()
    json.dumps(pub)
    assert parse_entries([pub]) == [m]
    assert m.qualified_id == f"{provider}/{model}"


# ---------------------------------------------------------------- overrides


def test_with_overrides_merges_partial_entry() -> None:
    cat = load_catalog()
    new = cat.with_overrides([{"provider": "openai", "id": "gpt-4o-mini", "input_per_mtok": 0.1,
                               "capabilities": {"vision": False}}])  # fmt: skip
    m = new.get("openai", "gpt-4o-mini")
    old = cat.get("openai", "gpt-4o-mini")
    assert m is not None and old is not None
    assert m.input_per_mtok == 0.1 and not m.vision
    assert m.output_per_mtok == old.output_per_mtok and m.tools and m.aliases == old.aliases
    assert old.input_per_mtok == 0.15  # the original catalog is untouched
    assert len(new) == len(cat)
    assert list(new).index(m) == list(cat).index(old)  # replaced in place


def test_a_partial_long_prompt_override_merges_into_the_band() -> None:
    """Only a new output price for Haiku 5.5's long band keeps the band's threshold and other
    prices (it replaced the band, which then failed for want of above_tokens); null removes it."""
    cat = load_catalog()
    new = cat.with_overrides(
        [{"provider": "anthropic", "id": "claude-haiku-5-5", "long_prompt": {"output_per_mtok": 3.0}}]
    )
    m = new.get("anthropic", "claude-haiku-5-5")
    assert m is not None and m.long_prompt is not None
    assert (m.long_prompt.above_tokens, m.long_prompt.input_per_mtok, m.long_prompt.output_per_mtok) == (
        100_000,
        0.5,
        3.0,
    )
    gone = cat.with_overrides([{"provider": "anthropic", "id": "claude-haiku-5-5", "long_prompt": None}])
    assert gone.get("anthropic", "claude-haiku-5-5").long_prompt is None  # type: ignore[union-attr]


def test_an_override_may_name_the_model_by_an_alias() -> None:
    """It was read as a new model, which failed for want of an output price."""
    cat = load_catalog()
    new = cat.with_overrides([{"provider": "openai", "id": "gpt-4.1-2025-04-14", "input_per_mtok": 1.5}])
    m = new.get("openai", "gpt-4.1")
    assert m is not None and m.input_per_mtok == 1.5 and m.id == "gpt-4.1"
    assert len(new) == len(cat) and new.lookup("gpt-4.1-2025-04-14") == [m]


def test_with_overrides_adds_entry_with_defaults() -> None:
    cat = load_catalog()
    new = cat.with_overrides([entry(provider="together", id="my-finetune", aliases=["mf"])])
    assert len(new) == len(cat) + 1
    [m] = new.lookup("together/mf")
    assert m.upstream_id == "my-finetune" and m.kind == "chat" and m.cached_input_per_mtok is None
    assert m.max_output == 4096 and m.streaming and not (m.tools or m.vision or m.json_schema or m.reasoning)
    assert (m.quality_prior, m.quality_source, m.price_source) == (0.5, "user config", "user config")
    assert (m.family, m.price_date, m.deprecated) == ("", "", False)
    assert new.lookup("my-finetune") == [m]
    assert "acme" in cat.with_overrides([entry()]).providers()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([entry(input_per_mtok=-1)], "models[0].input_per_mtok: expected a number >= 0, got -1"),
        ([entry(context_window="abc")], "models[0].context_window: expected a positive integer, got 'abc'"),
        ([entry(), entry(id="m2", max_output=0)], "models[1].max_output: expected a positive integer, got 0"),
        ([entry(quality_prior=1.5)], "models[0].quality_prior: expected a number in [0, 1], got 1.5"),
        (
            [entry(capabilities={"tools": "yes"})],
            "models[0].capabilities.tools: expected a boolean, got 'yes'",
        ),
        ([entry(capabilities={"telepathy": True})], "models[0].capabilities.telepathy: unknown capability"),
        ([{"id": "x", "provider": "acme", "input_per_mtok": 1}], "models[0].output_per_mtok: required key"),
        ([entry(input_price=1)], "models[0].input_price: unknown key"),
        ([entry(kind="image")], "models[0].kind: expected 'chat' or 'embedding', got 'image'"),
        ([entry(price_date="last year")], "models[0].price_date: expected an ISO date"),
        ([entry(provider="a/b")], "models[0].provider: expected a non-empty string"),
        (
            [entry(cached_input_per_mtok="free")],
            "models[0].cached_input_per_mtok: expected a number >= 0 or null",
        ),
        ([entry(), entry()], "models[1].id: 'm1' is already the id of models[0]"),
        (
            [entry(), entry(id="m2", aliases=["m1"])],
            "models[1].aliases[0]: 'm1' is already the id of models[0]",
        ),
        (["nope"], "models[0]: expected an object"),
    ],
)
def test_parse_entries_errors_name_the_key(entries: list[Any], message: str) -> None:
    with pytest.raises(CatalogError) as err:
        parse_entries(entries)
    assert message in str(err.value)


def test_with_overrides_errors_name_the_key() -> None:
    cat = load_catalog()
    with pytest.raises(CatalogError, match=r"^models\[0\]\.input_per_mtok: expected a number >= 0, got -1$"):
        cat.with_overrides([{"provider": "openai", "id": "gpt-4o", "input_per_mtok": -1}])
    with pytest.raises(CatalogError, match=r"^models\[1\]\.context_window: required key is missing"):
        cat.with_overrides([entry(), {"provider": "openai", "id": "brand-new", "input_per_mtok": 1,
                                      "output_per_mtok": 1}])  # fmt: skip
    with pytest.raises(CatalogError, match=r"^models\[0\]\.aliases\[0\]: 'gpt-4o' is already the id"):
        cat.with_overrides([entry(provider="openai", id="my-4o", aliases=["gpt-4o"])])
    assert isinstance(CatalogError("x"), ValueError)


def test_catalog_rejects_duplicates_and_bad_documents() -> None:
    [m] = parse_entries([entry()])
    with pytest.raises(CatalogError, match="already the id"):
        Catalog([m, m])
    with pytest.raises(CatalogError, match="schema_version"):
        catalog_from_document({"schema_version": 2, "models": []})
    with pytest.raises(CatalogError, match=r"models\[0\]\.upstream_id: key is missing"):
        catalog_from_document({"schema_version": 1, "models": [entry()]})
    small = catalog_from_document({"schema_version": 1, "models": [entry()]}, complete=False)
    assert isinstance(small.lookup("acme/m1")[0], ModelInfo)


def test_loose_lookup_ignores_case_and_underscores_but_exact_lookup_does_not() -> None:
    catalog = load_catalog()
    exact = catalog.lookup("gpt-4-1106-preview")
    assert exact and catalog.lookup("GPT-4-1106-preview") == []
    assert catalog.lookup_loose("GPT-4-1106-preview") == exact
    assert catalog.lookup_loose("mixtral-8x7b")[0].id == "mixtral-8x7b-instruct"  # alias mixtral_8x7b
    assert catalog.lookup_loose("no-such-model") == []


@pytest.mark.parametrize(
    ("name", "shorter"),
    [
        ("claude-instant-v1.2", ["claude-instant-v1", "claude-instant"]),
        ("Mistral-7B-Instruct-v0.2", ["mistral-7b-instruct-v0", "mistral-7b-instruct"]),
        ("claude-3-opus@20240229", ["claude-3-opus"]),
        ("gemini-1.5-pro-001", ["gemini-1.5-pro"]),
        ("gpt-4o-2024-08-06", ["gpt-4o"]),
        ("gemini-2.5-pro-preview-latest", ["gemini-2.5-pro-preview", "gemini-2.5-pro"]),
        ("gpt-4.5", []),  # a minor version is another model, not a snapshot
        ("llama-3-8b", []),
    ],
)
def test_versionless_cuts_one_version_tag_at_a_time(name: str, shorter: list[str]) -> None:
    assert list(versionless(name)) == shorter


def test_lookup_versionless_prefers_an_exact_or_loose_match() -> None:
    catalog = load_catalog()
    assert [m.id for m in catalog.lookup_versionless("gpt-3.5-turbo-0301")[0]][:1] == ["gpt-3.5-turbo"]
    assert catalog.lookup_versionless("gpt-3.5-turbo-0301")[1] == "gpt-3.5-turbo"
    found, matched = catalog.lookup_versionless("GPT-4-1106-preview")  # listed: not cut to gpt-4
    assert (found[0].id, matched) == ("gpt-4-1106-preview", "GPT-4-1106-preview")
    assert catalog.lookup_versionless("gpt-4.5") == ([], "gpt-4.5")


def test_meta_spellings_are_read_offline_only() -> None:
    """predict reads Meta's own spelling of a Llama model; the gateway, which routes by exact names
    and aliases, does not (it would send them to another provider's quantised variant)."""
    catalog = load_catalog()
    for name in (
        "Meta-Llama-3-8B-Instruct",
        "meta-llama/Meta-Llama-3-70B-Instruct",
        "Meta-Llama-3.1-8B-Instruct",
    ):
        assert catalog.lookup(name) == []
    found, _ = catalog.lookup_versionless("Meta-Llama-3.1-8B-Instruct")
    assert found[0].id == "llama-3.1-8b-instruct"
