"""Cache settings: where entries live (top level only) and when a request may use them (top level
as the default, a route's `cache:` mapping as an override).

Config shape (every key optional):

    cache:                        # top level
      backend: memory             # memory | sqlite
      path: satisfice-cache.db    # sqlite only
      max_entries: 100000         # least recently used entries go first
      when: temperature-0         # temperature-0 | always | never: which requests use the cache
      ttl_s: 86400                # how long an entry may be served
      semantic: false             # also serve a stored answer to a paraphrase (guarded)
      semantic_threshold: 0.8     # cosine similarity a paraphrase must reach before the guard
      require_proven: false       # store only answers a verifier passed or feedback approved
    routes:
      auto: {strategy: auto, cache: {semantic: true, ttl_s: 3600}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

WHEN = ("temperature-0", "always", "never")
BACKENDS = ("memory", "sqlite")
_POLICY_KEYS = ("when", "ttl_s", "semantic", "semantic_threshold", "require_proven")
_STORE_KEYS = ("backend", "path", "max_entries")
# From scripts/eval_cache_guard.py on satisfice/cache/guard_pairs.jsonl: the lowest threshold with no
# false hits on the dev half is 0.685, and the most similar pair of *different* questions there has
# cosine 0.657. 0.8 keeps a margin above both (71 % of test paraphrases still hit, 0 false hits).
DEFAULT_SEMANTIC_THRESHOLD = 0.8


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """When one request may read or write the cache, and how long entries live."""

    when: str = "temperature-0"
    ttl_s: float = 86400.0
    semantic: bool = False
    semantic_threshold: float = DEFAULT_SEMANTIC_THRESHOLD
    require_proven: bool = False


@dataclass(frozen=True, slots=True)
class CacheStoreSettings:
    backend: str = "memory"
    path: str = "satisfice-cache.db"
    max_entries: int = 100_000


def _config_error(key: str, message: str) -> Exception:
    from satisfice.config import ConfigError  # config pulls in YAML: only when parsing config

    return ConfigError(key, message)


def _mapping(obj: Any, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    from satisfice.config import config_section  # config imports this module: import it lazily

    return config_section(obj, where, allowed)


def _number(obj: Mapping[str, Any], key: str, where: str, low: float, high: float | None) -> float | None:
    if key not in obj:
        return None
    val = obj[key]
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        raise _config_error(f"{where}.{key}", f"expected a number, got {type(val).__name__} {val!r}")
    if val < low or (high is not None and val > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise _config_error(f"{where}.{key}", f"must be {bound}, got {val}")
    return float(val)


def _flag(obj: Mapping[str, Any], key: str, where: str) -> bool | None:
    if key not in obj:
        return None
    val = obj[key]
    if not isinstance(val, bool):
        raise _config_error(f"{where}.{key}", f"expected true or false, got {val!r}")
    return val


def policy_from_config(obj: Any, where: str, base: CachePolicy) -> CachePolicy:
    """`base` with the keys a `cache:` mapping sets; errors are ConfigError naming the key."""
    keys = _POLICY_KEYS + (_STORE_KEYS if where == "cache" else ())
    raw = _mapping(obj, where, keys)
    changes: dict[str, Any] = {}
    if "when" in raw:
        if raw["when"] not in WHEN:
            raise _config_error(f"{where}.when", f"expected one of {', '.join(WHEN)}, got {raw['when']!r}")
        changes["when"] = raw["when"]
    ttl = _number(raw, "ttl_s", where, 0.001, None)
    if ttl is not None:
        changes["ttl_s"] = ttl
    threshold = _number(raw, "semantic_threshold", where, 0.0, 1.0)
    if threshold is not None:
        changes["semantic_threshold"] = threshold
    for key in ("semantic", "require_proven"):
        flag = _flag(raw, key, where)
        if flag is not None:
            changes[key] = flag
    return replace(base, **changes)


def store_from_config(obj: Any, default_path: str) -> CacheStoreSettings:
    raw = _mapping(obj, "cache", _POLICY_KEYS + _STORE_KEYS)
    backend = raw.get("backend", "memory")
    if backend not in BACKENDS:
        raise _config_error("cache.backend", f"expected one of {', '.join(BACKENDS)}, got {backend!r}")
    path = raw.get("path", default_path)
    if not isinstance(path, str) or not path:
        raise _config_error("cache.path", f"expected a file path, got {path!r}")
    max_entries = _number(raw, "max_entries", "cache", 1, None)
    return CacheStoreSettings(
        backend=backend, path=path, max_entries=int(max_entries) if max_entries is not None else 100_000
    )
