"""Admit or refuse a request under the configured rate limits; report them as OpenAI does.

Requests count at arrival. Tokens count the prompt estimate at arrival; when the answer is known
the counter is corrected to the tokens the providers reported (a cache hit, or a request that
failed before any provider answered, gets its estimate back).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from satisfice.errors import RateLimited, ServiceUnavailable
from satisfice.ratelimit.settings import Limit, LimitRule, RateLimitSettings
from satisfice.ratelimit.store import Counter, LimitStore

log = logging.getLogger("satisfice.ratelimit")
_ABBREV = {"requests": "RPM", "tokens": "TPM"}


@dataclass(frozen=True, slots=True)
class _Bound:
    """One limit of one rule, ready to name its counter for a caller."""

    rule: LimitRule
    limit: Limit
    stub: str  # the counter key without its subject

    @property
    def describe(self) -> str:
        period = "minute" if self.limit.period_s == 60 else "day"
        abbrev = _ABBREV[self.limit.counts] if period == "minute" else self.limit.counts[0].upper() + "PD"
        return f"{self.limit.counts} per {period} ({abbrev})"

    def counter(self, tenant: str) -> Counter:
        subject = (tenant or "anonymous") if self.rule.per == "key" else "all"
        period = float(self.limit.period_s)
        return Counter(self.stub + subject, period / self.limit.limit, period)


@dataclass(slots=True)
class Admission:
    """What one admitted request was charged, and the limits to report on its response."""

    token_counters: list[Counter] = field(default_factory=list)
    tokens_charged: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""  # for the ledger's reason: the store was down and the limits were not enforced


def format_duration(seconds: float) -> str:
    """OpenAI's reset format: 20ms, 1.5s, 6m0s, 1h2m3s."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    whole = math.ceil(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m}m{s}s" if h else f"{m}m{s}s"


class RateLimiter:
    SKIP_AFTER_FAILURE_S = 1.0

    def __init__(
        self, settings: RateLimitSettings, store: LimitStore, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock  # for when to ask a failed store again
        self.timeout_s = settings.store_timeout_ms / 1000
        self._bounds = [
            _Bound(rule, limit, f"{settings.key_prefix}{i}:{limit.counts[0]}{limit.period_s}:")
            for i, rule in enumerate(settings.rules)
            for limit in rule.limits
        ]
        self._by_route: dict[str, list[_Bound]] = {}
        self._warned_at = -math.inf
        self._skip_until = -math.inf

    def _applicable(self, route: str) -> list[_Bound]:
        found = self._by_route.get(route)
        if found is None:
            found = [b for b in self._bounds if b.rule.route is None or b.rule.route == route]
            if len(self._by_route) < 10_000:  # route names come from clients: keep the table bounded
                self._by_route[route] = found
        return found

    def counts_tokens(self, route: str) -> bool:
        return any(b.limit.counts == "tokens" for b in self._applicable(route))

    def token_limit(self, route: str) -> float | None:
        """The smallest token limit that applies to `route` (None: none counts tokens)."""
        limits = [b.limit.limit for b in self._applicable(route) if b.limit.counts == "tokens"]
        return min(limits) if limits else None

    async def admit(self, tenant: str, route: str, tokens: int) -> Admission | None:
        """Charge the request to every limit that applies; RateLimited when one is spent."""
        bounds = self._applicable(route)
        if not bounds:
            return None
        costs = [1.0 if b.limit.counts == "requests" else float(tokens) for b in bounds]
        for b, cost in zip(bounds, costs, strict=True):
            if cost > b.limit.limit:  # could never pass: waiting would not help
                raise RateLimited(
                    f"Request too large for {b.describe}{self._whose(b, tenant)}: limit {b.limit.limit}, "
                    f"requested about {int(cost)}. Please shorten the prompt.",
                    code="rate_limit_exceeded",
                    error_type=b.limit.counts,  # as OpenAI says it: "requests" or "tokens"
                )
        counters = [b.counter(tenant) for b in bounds]
        if self.clock() < self._skip_until:  # the store just failed: do not make every request wait
            return self._store_failed(None)
        try:  # the store keeps to store_timeout_ms (resp._reply_by: why not asyncio.timeout)
            verdict = await self.store.admit(counters, costs)
        except Exception as e:
            return self._store_failed(e)
        headers = self._headers(bounds, verdict.ahead_s)
        if not verdict.allowed:
            wait = verdict.retry_after_s
            over = [
                ahead + cost * c.interval_s - c.tolerance_s
                for ahead, cost, c in zip(verdict.ahead_s, costs, counters, strict=True)
            ]
            b = bounds[over.index(max(over))]
            headers["retry-after"] = str(max(1, math.ceil(wait)))
            headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
            raise RateLimited(
                f"Rate limit reached for {b.describe}{self._whose(b, tenant)}: limit {b.limit.limit}. "
                f"Please try again in {format_duration(wait)}.",
                headers=headers,
                error_type=b.limit.counts,
            )
        token_counters = [c for b, c in zip(bounds, counters, strict=True) if b.limit.counts == "tokens"]
        return Admission(token_counters, float(tokens) if token_counters else 0.0, headers)

    def settle(self, admission: Admission, tokens_used: int) -> None:
        """Correct the token counters from the estimate charged at arrival to what was used."""
        delta = tokens_used - admission.tokens_charged
        if delta == 0:
            return
        for counter in admission.token_counters:
            self.store.charge(counter, delta)

    @staticmethod
    def _whose(b: _Bound, tenant: str) -> str:
        who = f" on key {tenant or 'anonymous'}" if b.rule.per == "key" else " on all callers together"
        return who + (f", route {b.rule.route}" if b.rule.route else "")

    @staticmethod
    def _headers(bounds: list[_Bound], ahead: tuple[float, ...]) -> dict[str, str]:
        """x-ratelimit-{limit,remaining,reset}-{requests,tokens} of the tightest limit of each kind."""
        tightest: dict[str, tuple[int, _Bound, float]] = {}
        for b, ahead_s in zip(bounds, ahead, strict=True):
            interval = b.limit.period_s / b.limit.limit
            remaining = max(0, math.floor((b.limit.period_s - ahead_s) / interval + 1e-9))
            held = tightest.get(b.limit.counts)
            if held is None or remaining < held[0]:
                tightest[b.limit.counts] = (remaining, b, ahead_s)
        out = {}
        for counts, (remaining, b, ahead_s) in tightest.items():
            out[f"x-ratelimit-limit-{counts}"] = str(b.limit.limit)
            out[f"x-ratelimit-remaining-{counts}"] = str(remaining)
            out[f"x-ratelimit-reset-{counts}"] = format_duration(ahead_s)
        return out

    def _store_failed(self, e: BaseException | None) -> Admission:
        """Fail open (or closed, by config). After a failure the store is left alone for
        SKIP_AFTER_FAILURE_S, so a hung Redis costs one timeout, not one per request."""
        now = self.clock()
        if e is None:
            reason = f"failed within the last {self.SKIP_AFTER_FAILURE_S:g} s"
        else:
            reason = "timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            self._skip_until = now + self.SKIP_AFTER_FAILURE_S
        if now - self._warned_at > 10:
            self._warned_at = now
            log.warning("rate limit store unavailable (%s); %s", reason, self.settings.on_store_error)
        if self.settings.on_store_error == "deny":
            raise ServiceUnavailable(
                "The gateway cannot check its rate limits right now (its counter store is unavailable); "
                "please retry shortly.",
                headers={"retry-after": "1"},
            )
        # The client's reason header says what happened, not where the store lives (that is logged).
        return Admission(note="rate limits not enforced: store unavailable")

    async def close(self) -> None:
        await self.store.close()
