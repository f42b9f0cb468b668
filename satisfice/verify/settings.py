"""Verification settings: which verifiers run, whether the async ones may, and the thresholds.

Config shape (a route's or the top level's `verify:` mapping; every key optional):

    chain: [truncation, degenerate, response_format, tool_args, refusal, language]
    judge: false              # ask the judge when the chain is unsure (needs VerifyContext.judge)
    self_consistency: false   # compare with a second sample (needs VerifyContext.second_answer)
    thresholds: {judge_min_score: 7, min_answer_chars: 20, ...}
    judge_template: "...{question}...{answer}..."
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from satisfice.verify.registry import DEFAULT_CHAIN, VERIFIERS, default_thresholds, is_async

_KEYS = ("chain", "judge", "self_consistency", "thresholds", "judge_template")


def chain_problem(name: Any) -> str | None:
    if not isinstance(name, str):
        return f"expected a verifier name, got {type(name).__name__} {name!r}"
    if name not in VERIFIERS:
        return f"unknown verifier {name!r} (known: {', '.join(VERIFIERS)})"
    if is_async(VERIFIERS[name]):
        return f"{name!r} is async: enable it with `{name}: true`, not in the chain"
    return None


def threshold_problem(key: str, val: Any, known: Mapping[str, float]) -> str | None:
    if key not in known:
        return f"unknown threshold (known: {', '.join(sorted(known))})"
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        return f"expected a number, got {type(val).__name__} {val!r}"
    if val < 0:
        return f"must be >= 0, got {val}"
    if key.endswith("_ratio"):
        return f"a ratio: must be <= 1, got {val}" if val > 1 else None
    if key == "judge_min_score" and not 1 <= val <= 10:
        return f"a 1-10 score, got {val}"
    if (key.startswith("max_") or key in ("refusal_window_chars", "stream_prefix_chars")) and val < 1:
        return f"must be >= 1, got {val}"
    return None


@dataclass(frozen=True, slots=True)
class VerifySettings:
    chain: tuple[str, ...] = DEFAULT_CHAIN
    judge: bool = False
    self_consistency: bool = False
    # Overrides; after construction this holds every threshold, defaults included.
    thresholds: Mapping[str, float] = field(default_factory=dict)
    judge_template: str | None = None  # None: judge.DEFAULT_TEMPLATE
    # What the verifiers receive as `settings`: the thresholds plus judge_template.
    params: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in self.chain:
            problem = chain_problem(name)
            if problem:
                raise ValueError(f"chain: {problem}")
        known = default_thresholds()
        for key, val in self.thresholds.items():
            problem = threshold_problem(key, val, known)
            if problem:
                raise ValueError(f"thresholds.{key}: {problem}")
        merged = MappingProxyType({**known, **{k: float(v) for k, v in self.thresholds.items()}})
        object.__setattr__(self, "chain", tuple(self.chain))
        object.__setattr__(self, "thresholds", merged)
        params: dict[str, Any] = dict(merged)
        if self.judge_template is not None:
            params["judge_template"] = self.judge_template
        object.__setattr__(self, "params", MappingProxyType(params))

    @classmethod
    def from_config(cls, obj: Any, where: str = "verify") -> VerifySettings:
        """Validated settings from a config mapping; errors are config.ConfigError naming the key."""
        from satisfice.config import ConfigError, config_section  # config pulls in YAML: only here

        if obj is None:
            return cls()
        obj = config_section(obj, where, _KEYS)
        chain = obj.get("chain", DEFAULT_CHAIN)
        if not isinstance(chain, (list, tuple)):
            raise ConfigError(
                f"{where}.chain", f"expected a list of verifier names, got {type(chain).__name__}"
            )
        for i, name in enumerate(chain):
            problem = chain_problem(name)
            if problem:
                raise ConfigError(f"{where}.chain[{i}]", problem)
            if name in chain[:i]:
                raise ConfigError(f"{where}.chain[{i}]", f"{name!r} is listed twice")
        flags: dict[str, bool] = {}
        for key in ("judge", "self_consistency"):
            val = obj.get(key, False)
            if not isinstance(val, bool):
                raise ConfigError(f"{where}.{key}", f"expected true or false, got {val!r}")
            flags[key] = val
        thresholds = obj.get("thresholds") or {}
        if not isinstance(thresholds, Mapping):
            raise ConfigError(f"{where}.thresholds", f"expected a mapping, got {type(thresholds).__name__}")
        known = default_thresholds()
        for key, val in thresholds.items():
            problem = threshold_problem(str(key), val, known)
            if problem:
                raise ConfigError(f"{where}.thresholds.{key}", problem)
        template = obj.get("judge_template")
        if template is not None and (not isinstance(template, str) or "{answer}" not in template):
            raise ConfigError(
                f"{where}.judge_template", "expected a string containing {answer} (and {question})"
            )
        return cls(
            chain=tuple(chain),
            judge=flags["judge"],
            self_consistency=flags["self_consistency"],
            thresholds=dict(thresholds),
            judge_template=template,
        )
