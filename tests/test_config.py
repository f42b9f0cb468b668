from pathlib import Path
from typing import Any

import pytest

from satisfice.cli import banner
from satisfice.config import ConfigError, load_settings, parse_settings, providers_from_env


def err(doc: object, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as e:
        parse_settings(doc, env or {})
    return str(e.value)


def test_errors_name_the_bad_key() -> None:
    assert err({"server": {"port": "80"}}).startswith("server.port:")
    assert err({"server": {"port": 70000}}).startswith("server.port:")
    assert err({"routes": {"auto": {"strategy": "smart", "candidates": ["a"]}}}).startswith(
        "routes.auto.strategy:"
    )
    assert err({"routes": {"auto": {"candidates": []}}}).startswith("routes.auto.candidates:")
    assert err(
        {"routes": {"r": {"strategy": "weighted", "candidates": ["a", "b"], "weights": [1]}}}
    ).startswith("routes.r.weights:")
    assert err({"providers": [{"name": "x", "type": "nope", "base_url": "http://h"}]}).startswith(
        "providers[0].type:"
    )
    assert err({"providers": [{"name": "local", "base_url": "http://h"}]}).startswith("providers[0].type:")
    assert err({"providers": [{"name": "v", "type": "vllm"}]}).startswith("providers[0].base_url:")
    assert err({"providers": [{"name": "openai", "base_url": "ftp://x"}]}).startswith(
        "providers[0].base_url:"
    )
    assert err({"reliability": {"timeout_s": -1}}).startswith("reliability.timeout_s:")
    assert err({"reliability": {"retries": True}}).startswith("reliability.retries:")
    assert err({"bogus": 1}).startswith("config.bogus:")
    assert err({"providers": [{"name": "openai"}, {"name": "openai"}]}).startswith("providers[1].name:")


def test_the_upstream_connection_pool_size_is_a_positive_whole_number() -> None:
    assert parse_settings({}, {}).upstream_connections == 1000
    assert parse_settings({"server": {"upstream_connections": 64}}, {}).upstream_connections == 64
    for bad in (0, -5, 2.5, "100", True):
        assert err({"server": {"upstream_connections": bad}}).startswith("server.upstream_connections:")


def test_the_upstream_answer_limits_are_positive_whole_numbers_set_server_wide() -> None:
    rel = parse_settings({}, {}).reliability
    assert (rel.max_event_bytes, rel.max_response_bytes) == (8 << 20, 64 << 20)
    doc = {"reliability": {"max_event_bytes": 65536, "max_response_bytes": 1 << 20}}
    rel = parse_settings(doc, {}).reliability
    assert (rel.max_event_bytes, rel.max_response_bytes) == (65536, 1 << 20)
    for key in ("max_event_bytes", "max_response_bytes"):
        for bad in (0, -1, 2.5, "8MB", True):
            assert err({"reliability": {key: bad}}).startswith(f"reliability.{key}:")
        # The one HTTP runner's limits: a route cannot change them (it would be silently ignored).
        route = {"candidates": ["a"], "reliability": {key: 1 << 20}}
        assert err({"routes": {"r": route}}).startswith(f"routes.r.reliability.{key}: server-wide")


def test_learning_settings_that_would_silently_stop_learning_are_errors() -> None:
    assert err({"learning": {"half_life_s": float("nan")}}).startswith(
        "learning.half_life_s: expected a finite"
    )
    assert err({"learning": {"gate_interval_s": float("inf")}}).startswith("learning.gate_interval_s:")
    assert err({"learning": {"path": ""}}).startswith("learning.path: expected a file path")
    assert err({"ledger": {"path": " "}}).startswith("ledger.path:")
    # YAML 1.1 (PyYAML) reads 1e5 as a string: it is still the number it looks like
    assert load_from_yaml("learning: {half_life_s: 1e5}").learn_half_life_s == 1e5


def load_from_yaml(text: str) -> Any:
    import yaml

    return parse_settings(yaml.safe_load(text), {})


def test_route_settings_a_strategy_would_ignore_are_errors() -> None:
    def route(**kw: object) -> dict[str, object]:
        return {"routes": {"r": {"candidates": ["a", "b"], **kw}}}

    assert err(route(strategy="first", knob="quality=0.9")).startswith(
        "routes.r.knob: strategy first has no knob"
    )
    assert err(route(strategy="cheapest", cascade={"max_escalations": 1})).startswith("routes.r.cascade:")
    judge_alone = route(strategy="cascade", cascade={"verify": {"judge": True}})
    assert err(judge_alone).startswith("routes.r.cascade.judge_model: verify.judge is on")


def test_keys_come_from_env_references_and_presets() -> None:
    env = {"MY_KEY": "sk-secret", "ANTHROPIC_API_KEY": "ak"}
    s = parse_settings(
        {
            "providers": [
                {"name": "openai", "api_key": "${MY_KEY}"},
                {"name": "anthropic"},
                {
                    "name": "local",
                    "type": "openai",
                    "base_url": "http://127.0.0.1:1/v1",
                    "api_key": "env:UNSET",
                },
            ]
        },
        env,
    )
    openai, anthropic, local = s.providers
    assert openai.api_key == "sk-secret" and openai.key_source == "MY_KEY"
    assert anthropic.api_key == "ak" and anthropic.dialect == "anthropic"
    assert local.api_key is None and local.dialect == "openai" and local.catalog_provider == "local"
    assert "sk-secret" not in repr(s)  # keys never show in a printed settings object
    assert not s.simulated


def test_a_preset_key_is_only_sent_to_the_presets_own_endpoint() -> None:
    """OPENAI_API_KEY must not reach a local vLLM configured as type: openai (a leaked secret)."""
    env = {
        "OPENAI_API_KEY": "sk-real",
        "OPENAI_BASE_URL": "https://proxy.example/v1",
        "AZURE_OPENAI_API_KEY": "az",
    }
    s = parse_settings(
        {
            "providers": [
                {"name": "local-vllm", "type": "openai", "base_url": "http://127.0.0.1:8000/v1"},
                {"name": "openai"},  # the official endpoint (or OPENAI_BASE_URL's): the key applies
                {"name": "official", "type": "openai", "base_url": "https://api.openai.com/v1/"},
                {"name": "proxied", "type": "openai", "base_url": "${OPENAI_BASE_URL}"},
                {"name": "az", "type": "azure", "base_url": "https://mine.openai.azure.com"},
            ]
        },
        env,
    )
    local, openai, official, proxied, azure = s.providers
    assert local.api_key is None and local.key_source == ""
    assert openai.api_key == official.api_key == proxied.api_key == "sk-real"
    assert azure.api_key == "az"  # azure has no public endpoint: its variable is for the user's own
    # ...unless the endpoint variable says which one it is: then only that one gets the key.
    pinned = {**env, "AZURE_OPENAI_ENDPOINT": "https://mine.openai.azure.com"}
    other = {"name": "az", "type": "azure", "base_url": "https://elsewhere.example.com"}
    assert parse_settings({"providers": [other]}, pinned).providers[0].api_key is None
    same = {**other, "base_url": "https://mine.openai.azure.com/"}
    assert parse_settings({"providers": [same]}, pinned).providers[0].api_key == "az"


def test_secrets_in_provider_settings_are_never_printed() -> None:
    """Header values and URL credentials stay out of reprs, the banner and config errors."""
    env = {"TOKEN": "HDR-SECRET-1", "BASE": "http://user:URL-SECRET-2@127.0.0.1:9/v1?key=Q-SECRET-3"}
    config = {
        "providers": [{"name": "p", "type": "openai", "base_url": "${BASE}", "headers": {"x-t": "${TOKEN}"}}]
    }
    s = parse_settings(config, env)
    shown = repr(s) + banner(s, "127.0.0.1", 8080)
    assert "127.0.0.1:9/v1" in shown and not any(f"SECRET-{i}" in shown for i in (1, 2, 3))
    assert "warning" not in shown and "do not authenticate" in banner(s, "0.0.0.0", 8080)
    with pytest.raises(ConfigError) as err:  # a value from the environment is named, not shown
        parse_settings({"providers": [{"name": "q", "type": "openai", "base_url": "${TOKEN}"}]}, env)
    assert "${TOKEN}" in str(err.value) and "HDR-SECRET-1" not in str(err.value)


def test_environment_only_mode() -> None:
    provs = providers_from_env({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k"})
    assert len(provs) == 1 and provs[0].passthrough and provs[0].base_url == "http://127.0.0.1:9/v1"
    assert providers_from_env({}) == ()
    assert parse_settings({}, {}).simulated
    # The official base URL is not a passthrough: only catalog models are served.
    assert not providers_from_env({"OPENAI_API_KEY": "k"})[0].passthrough


def test_route_reliability_inherits_and_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "reliability: {retries: 3}\nroutes:\n  r:\n    candidates: [a]\n    reliability: {timeout_s: 2}\n"
    )
    s = load_settings(str(p), {})
    assert s.routes[0].reliability.retries == 3 and s.routes[0].reliability.timeout_s == 2


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(str(tmp_path / "missing.yaml"), {})
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(str(bad), {})
    bad.write_text("routes:\n  a: b: c\n")  # one line that says where (PyYAML's spans four)
    with pytest.raises(ConfigError) as err:
        load_settings(str(bad), {})
    assert "\n" not in str(err.value) and "mapping values are not allowed here (line 2, column 7)" in str(
        err.value
    )


def test_a_choosing_route_may_leave_its_candidates_out_and_gets_every_servable_chat_model() -> None:
    from satisfice.wiring import build_catalog, effective_settings

    routes = {
        "auto": {"strategy": "auto", "knob": "quality=0.8", "cache": {"semantic": True, "ttl_s": 3600}},
        "careful": {"strategy": "cascade", "baseline": "gpt-4o-mini"},
        "listed": {"strategy": "auto", "candidates": ["gpt-4o-mini", "gpt-4o"]},
    }
    parsed = parse_settings({"providers": [{"name": "openai", "api_key": "k"}], "routes": routes}, {})
    s = effective_settings(parsed, build_catalog(parsed))
    by = {r.name: r for r in s.routes}
    assert set(by) == {"auto", "careful", "listed"}  # the config's own auto route, not a second one
    every = by["auto"].candidates
    assert "gpt-4o" in every and "gpt-4o-mini" in every and "claude-3-5-haiku" not in every  # OpenAI's only
    assert not any("embedding" in m for m in every)  # chat models only
    assert by["careful"].candidates == every
    # The implied route's baseline (the best quality prior) unless the route names one.
    implied = effective_settings(
        parse_settings({"providers": [{"name": "openai", "api_key": "k"}]}, {}), build_catalog(parsed)
    )
    assert by["auto"].baseline == implied.routes[0].baseline and by["careful"].baseline == "gpt-4o-mini"
    assert by["auto"].knob == "quality=0.8" and by["auto"].cache is not None and by["auto"].cache.semantic
    assert by["listed"].candidates == ("gpt-4o-mini", "gpt-4o")
    # Strategies that do not choose by quality need the list; an empty list is never "all".
    for route in ({"strategy": "first"}, {}, {"strategy": "auto", "candidates": []}):
        assert err({"routes": {"r": route}}).startswith("routes.r.candidates: required")
    # Nothing a route could choose among: an error naming the key, not a route with no candidates.
    only_unknown = parse_settings(
        {
            "providers": [{"name": "mine", "type": "vllm", "base_url": "http://127.0.0.1:9/v1"}],
            "routes": routes,
        },
        {},
    )
    with pytest.raises(ConfigError, match=r"^routes\.auto\.candidates: left out"):
        effective_settings(only_unknown, build_catalog(only_unknown))
