"""TrimSettings: defaults, levels, and from_config errors that name the key."""

from __future__ import annotations

from typing import Any

import pytest

from satisfice.config import ConfigError
from satisfice.trim import LEVELS, TrimSettings


def test_defaults_are_off() -> None:
    s = TrimSettings()
    assert not s.enabled
    assert not any(s.runs(level) for level in LEVELS)
    assert TrimSettings.from_config(None) == s
    assert TrimSettings.from_config({}) == s


def test_levels_are_cumulative() -> None:
    s = TrimSettings(enabled=True, level="dedupe")
    assert s.runs("whitespace") and s.runs("dedupe")
    assert not s.runs("tool_outputs") and not s.runs("drop_oldest")
    assert TrimSettings(enabled=True, level="drop_oldest").runs("whitespace")


def test_from_config_full() -> None:
    s = TrimSettings.from_config(
        {"enabled": True, "level": "drop_oldest", "budget_tokens": 6000, "tool_output_max_tokens": 500},
        "routes.cheap.trim",
    )
    assert s == TrimSettings(
        enabled=True, level="drop_oldest", budget_tokens=6000, tool_output_max_tokens=500
    )


@pytest.mark.parametrize(
    ("doc", "key", "words"),
    [
        ([1], "routes.r.trim", "expected a mapping"),
        ({"enable": True}, "routes.r.trim.enable", "unknown key"),
        ({"enabled": "yes"}, "routes.r.trim.enabled", "true or false"),
        ({"level": "aggressive"}, "routes.r.trim.level", "unknown level"),
        ({"level": 3}, "routes.r.trim.level", "expected a level name"),
        ({"budget_tokens": 0}, "routes.r.trim.budget_tokens", ">= 1"),
        ({"budget_tokens": 1.5}, "routes.r.trim.budget_tokens", "whole number"),
        ({"budget_tokens": True}, "routes.r.trim.budget_tokens", "whole number"),
        ({"tool_output_max_tokens": 10}, "routes.r.trim.tool_output_max_tokens", ">= 64"),
    ],
)
def test_from_config_errors_name_the_key(doc: Any, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        TrimSettings.from_config(doc, "routes.r.trim")
    assert err.value.key == key
    assert words in str(err.value)
    assert isinstance(err.value, ValueError)


def test_direct_construction_validates() -> None:
    with pytest.raises(ValueError, match="level"):
        TrimSettings(level="everything")
    with pytest.raises(ValueError, match="budget_tokens"):
        TrimSettings(budget_tokens=-5)
