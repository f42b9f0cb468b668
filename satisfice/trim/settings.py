"""Per-route trimming settings: opt-in, one named level, an optional prompt token budget.

Config shape (a route's `trim:` mapping; every key optional):

    enabled: true
    level: tool_outputs          # whitespace < dedupe < tool_outputs < drop_oldest (each includes the lower)
    budget_tokens: 6000          # cap on prompt tokens for this route (None: the context window only)
    tool_output_max_tokens: 2000 # longer tool outputs keep their head and tail around a marker
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Cumulative: a level runs its own step and every step of the levels before it.
LEVELS = ("whitespace", "dedupe", "tool_outputs", "drop_oldest")
_KEYS = ("enabled", "level", "budget_tokens", "tool_output_max_tokens")
# A cut output keeps at least this much of its head and tail; below it cutting is not worth a marker.
MIN_TOOL_OUTPUT_TOKENS = 64
DEFAULT_TOOL_OUTPUT_MAX_TOKENS = 2000
DEFAULT_LEVEL = "tool_outputs"  # when enabled without a level: no message is ever dropped


def level_problem(level: Any) -> str | None:
    if not isinstance(level, str):
        return f"expected a level name, got {type(level).__name__} {level!r}"
    if level not in LEVELS:
        return f"unknown level {level!r} (known, mildest first: {', '.join(LEVELS)})"
    return None


def tokens_problem(val: Any, minimum: int) -> str | None:
    if isinstance(val, bool) or not isinstance(val, int):
        return f"expected a whole number of tokens, got {type(val).__name__} {val!r}"
    if val < minimum:
        return f"must be >= {minimum}, got {val}"
    return None


@dataclass(frozen=True, slots=True)
class TrimSettings:
    enabled: bool = False  # opt-in: trimming changes what the model sees
    level: str = DEFAULT_LEVEL
    budget_tokens: int | None = None
    tool_output_max_tokens: int = DEFAULT_TOOL_OUTPUT_MAX_TOKENS

    def __post_init__(self) -> None:
        problem = level_problem(self.level)
        if problem:
            raise ValueError(f"level: {problem}")
        if self.budget_tokens is not None:
            problem = tokens_problem(self.budget_tokens, 1)
            if problem:
                raise ValueError(f"budget_tokens: {problem}")
        problem = tokens_problem(self.tool_output_max_tokens, MIN_TOOL_OUTPUT_TOKENS)
        if problem:
            raise ValueError(f"tool_output_max_tokens: {problem}")

    def runs(self, step: str) -> bool:
        """Does this setting run `step` (a level name)? Levels are cumulative."""
        return self.enabled and LEVELS.index(step) <= LEVELS.index(self.level)

    @classmethod
    def from_config(cls, obj: Any, where: str = "trim") -> TrimSettings:
        """Validated settings from a config mapping; errors are config.ConfigError naming the key."""
        from satisfice.config import ConfigError, config_section  # config pulls in YAML: only here

        if obj is None:
            return cls()
        obj = config_section(obj, where, _KEYS)
        enabled = obj.get("enabled", False)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{where}.enabled", f"expected true or false, got {enabled!r}")
        level = obj.get("level", DEFAULT_LEVEL)
        problem = level_problem(level)
        if problem:
            raise ConfigError(f"{where}.level", problem)
        budget = obj.get("budget_tokens")
        if budget is not None:
            problem = tokens_problem(budget, 1)
            if problem:
                raise ConfigError(f"{where}.budget_tokens", problem)
        cut = obj.get("tool_output_max_tokens", DEFAULT_TOOL_OUTPUT_MAX_TOKENS)
        problem = tokens_problem(cut, MIN_TOOL_OUTPUT_TOKENS)
        if problem:
            raise ConfigError(f"{where}.tool_output_max_tokens", problem)
        return cls(enabled=enabled, level=level, budget_tokens=budget, tool_output_max_tokens=cut)
