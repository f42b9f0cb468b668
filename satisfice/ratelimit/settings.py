"""Rate limit settings: where the counters live and which limits apply.

Config shape (every key optional except `rules`):

    rate_limits:
      store: memory                # memory (this process only) | redis (shared by every worker/replica)
      redis_url: ${REDIS_URL}      # redis only; default redis://127.0.0.1:6379/0
      key_prefix: "satisfice:rl:"  # redis only: the counters' key names start with it
      on_store_error: allow        # allow (serve unlimited while the store is down) | deny (503)
      store_timeout_ms: 100        # a store slower than this counts as down for that request
      rules:
        - per: key                 # key: each caller's API key on its own | all: every caller together
          route: auto              # optional: only requests to this route or model
          requests_per_minute: 600
          requests_per_day: 100000
          tokens_per_minute: 200000
          tokens_per_day: 5000000

A request must pass every rule that applies to it. Requests count at arrival (a refused one is
not counted); tokens count the prompt estimate at arrival and are corrected to what the providers
reported once the answer is known (a cache hit uses none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STORES = ("memory", "redis")
PER = ("key", "all")
ON_STORE_ERROR = ("allow", "deny")
# (config key, what is counted, the period in seconds)
LIMIT_KEYS = (
    ("requests_per_minute", "requests", 60),
    ("requests_per_day", "requests", 86400),
    ("tokens_per_minute", "tokens", 60),
    ("tokens_per_day", "tokens", 86400),
)
_RULE_KEYS = ("per", "route", *(k for k, _, _ in LIMIT_KEYS))
_TOP_KEYS = ("store", "redis_url", "key_prefix", "on_store_error", "store_timeout_ms", "rules")


@dataclass(frozen=True, slots=True)
class Limit:
    """One counted quantity over one period: e.g. 600 requests per 60 s."""

    counts: str  # requests | tokens
    period_s: int
    limit: int


@dataclass(frozen=True, slots=True)
class LimitRule:
    per: str  # key | all
    route: str | None  # None: every route and model
    limits: tuple[Limit, ...]


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    store: str = "memory"
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)  # may carry a password
    key_prefix: str = "satisfice:rl:"
    on_store_error: str = "allow"
    store_timeout_ms: float = 100.0
    rules: tuple[LimitRule, ...] = ()


def _config_error(key: str, message: str) -> Exception:
    from satisfice.config import ConfigError

    return ConfigError(key, message)


def _choice(raw: Mapping[str, Any], key: str, where: str, options: tuple[str, ...], default: str) -> str:
    val = raw.get(key, default)
    if val not in options:
        raise _config_error(f"{where}.{key}", f"expected one of {', '.join(options)}, got {val!r}")
    return str(val)


def _rule(obj: Any, where: str) -> LimitRule:
    from satisfice.config import config_section

    raw = config_section(obj, where, _RULE_KEYS)
    per = _choice(raw, "per", where, PER, "key")
    route = raw.get("route")
    if route is not None and (not isinstance(route, str) or not route):
        raise _config_error(f"{where}.route", f"expected a route or model name, got {route!r}")
    limits = []
    for key, counts, period in LIMIT_KEYS:
        if key not in raw:
            continue
        val = raw[key]
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise _config_error(f"{where}.{key}", f"expected a whole number >= 1, got {val!r}")
        limits.append(Limit(counts, period, val))
    if not limits:
        names = ", ".join(k for k, _, _ in LIMIT_KEYS)
        raise _config_error(where, f"a rule needs at least one limit ({names})")
    return LimitRule(per, route, tuple(limits))


def rate_limits_from_config(obj: Any, env: Mapping[str, str]) -> RateLimitSettings:
    """The `rate_limits:` section; errors are ConfigError naming the key."""
    from satisfice.config import config_section, resolve_env

    raw = config_section(obj, "rate_limits", _TOP_KEYS)
    if not raw:
        return RateLimitSettings()
    base = RateLimitSettings()
    store = _choice(raw, "store", "rate_limits", STORES, base.store)
    url = base.redis_url
    if "redis_url" in raw:
        if not isinstance(raw["redis_url"], str):
            raise _config_error("rate_limits.redis_url", "expected a redis:// URL")
        resolved, source = resolve_env(raw["redis_url"], "rate_limits.redis_url", env)
        if resolved is None:
            raise _config_error("rate_limits.redis_url", f"the environment variable {source} is not set")
        if not resolved.startswith(("redis://", "rediss://", "unix://")):
            raise _config_error("rate_limits.redis_url", "expected a redis://, rediss:// or unix:// URL")
        url = resolved
    prefix = raw.get("key_prefix", base.key_prefix)
    if not isinstance(prefix, str):
        raise _config_error("rate_limits.key_prefix", f"expected a string, got {prefix!r}")
    timeout = raw.get("store_timeout_ms", base.store_timeout_ms)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise _config_error("rate_limits.store_timeout_ms", f"expected a number > 0, got {timeout!r}")
    rules_raw = raw.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise _config_error("rate_limits.rules", "expected a non-empty list of rules")
    return RateLimitSettings(
        store=store,
        redis_url=url,
        key_prefix=prefix,
        on_store_error=_choice(raw, "on_store_error", "rate_limits", ON_STORE_ERROR, base.on_store_error),
        store_timeout_ms=float(timeout),
        rules=tuple(_rule(r, f"rate_limits.rules[{i}]") for i, r in enumerate(rules_raw)),
    )
