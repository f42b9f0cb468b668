"""Rate limits per caller key, per route or for everyone, counted in memory or in Redis."""

from __future__ import annotations

from satisfice.ratelimit.limiter import Admission, RateLimiter
from satisfice.ratelimit.settings import RateLimitSettings
from satisfice.ratelimit.store import LimitStore, MemoryLimitStore, RedisLimitStore


def build_limiter(settings: RateLimitSettings) -> RateLimiter | None:
    """None when no rule is configured: the request path then skips rate limiting entirely."""
    if not settings.rules:
        return None
    store: LimitStore
    if settings.store == "redis":
        store = RedisLimitStore(settings.redis_url, settings.store_timeout_ms / 1000)
    else:
        store = MemoryLimitStore()
    return RateLimiter(settings, store)


__all__ = ["Admission", "RateLimitSettings", "RateLimiter", "build_limiter"]
