"""Counters for rate limits, by the generic cell rate algorithm (GCRA), in memory or in Redis.

GCRA keeps one number per counter: its theoretical arrival time (TAT), the moment the counter
would be empty again. A request of cost c on a limit of L per period P moves the TAT by c·P/L; it
passes when the new TAT is at most P ahead of now. So a fresh counter admits L at once (a burst of
the whole period's allowance), then one more every P/L. One number per counter means one Redis
key, read and written by one script: the check is atomic across replicas, with no clock on the
gateway side (the script reads Redis's own clock).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("satisfice.ratelimit")


@dataclass(frozen=True, slots=True)
class Counter:
    key: str
    interval_s: float  # period / limit: what one unit moves the TAT
    tolerance_s: float  # the period: how far ahead of now the TAT may go


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: float  # denied: when the request would pass (0 when allowed)
    ahead_s: tuple[float, ...]  # per counter: how far its TAT is ahead of now, after the charge if allowed


class LimitStore(Protocol):
    """Connects on first use, so a gateway starts while its store is still coming up."""

    async def close(self) -> None: ...

    async def admit(self, counters: Sequence[Counter], costs: Sequence[float]) -> Verdict:
        """Charge every counter, or none of them when one would go over its limit. A store that
        waits on something (Redis) raises TimeoutError once its own timeout has passed."""
        ...

    def charge(self, counter: Counter, cost: float) -> None:
        """Add cost (negative: a refund) without a check, soon; the caller does not wait."""
        ...


_SLACK_S = 1e-6  # a microsecond, the Redis script's own resolution: less is rounding, not a wait


class MemoryLimitStore:
    """The counters of this process alone: exact for one worker, per worker for several."""

    _PRUNE_EVERY = 4096

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tat: dict[str, float] = {}
        self._until_prune = self._PRUNE_EVERY

    async def close(self) -> None:
        return None

    async def admit(self, counters: Sequence[Counter], costs: Sequence[float]) -> Verdict:
        now = self.clock()
        tats = [max(self._tat.get(c.key, now), now) for c in counters]
        news = [tat + cost * c.interval_s for tat, c, cost in zip(tats, counters, costs, strict=True)]
        # From (tat - now), not (new - now): a whole period added to the clock's value and taken off
        # again can come out an ulp over, which refused a fresh 1-per-day counter's first request.
        wait = max(
            (
                tat - now + cost * c.interval_s - c.tolerance_s
                for tat, c, cost in zip(tats, counters, costs, strict=True)
            ),
            default=0.0,
        )
        if wait > _SLACK_S:
            return Verdict(False, wait, tuple(tat - now for tat in tats))
        for c, new in zip(counters, news, strict=True):
            self._tat[c.key] = new
        self._until_prune -= 1
        if self._until_prune <= 0:
            self._prune(now)
        return Verdict(True, 0.0, tuple(new - now for new in news))

    def charge(self, counter: Counter, cost: float) -> None:
        now = self.clock()
        new = max(self._tat.get(counter.key, now), now) + cost * counter.interval_s
        if new > now:
            self._tat[counter.key] = new
        else:
            self._tat.pop(counter.key, None)

    def _prune(self, now: float) -> None:
        """Counters whose TAT has passed are empty: forget them, so memory follows active callers."""
        self._until_prune = self._PRUNE_EVERY
        for key in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[key]


# KEYS: the counters. ARGV[1]: "admit" or "charge"; then per counter: interval, tolerance, cost (µs,
# µs, units). Returns {allowed, retry_after_us, ahead_us per counter}. Times in whole microseconds
# from Redis's own clock, so replicas with skewed clocks agree.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local admit = ARGV[1] == 'admit'
local tats, news, wait = {}, {}, 0
for i = 1, #KEYS do
  local b = (i - 1) * 3
  local interval, tol, cost = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new = tat + cost * interval
  if new < now then new = now end
  tats[i], news[i] = tat, new
  if admit and new - now - tol > wait then wait = new - now - tol end
end
local out = {1, 0}
if wait > 0 then
  out[1], out[2] = 0, math.ceil(wait)
  for i = 1, #KEYS do out[2 + i] = math.floor(tats[i] - now) end
  return out
end
for i = 1, #KEYS do
  local ahead = news[i] - now
  if ahead <= 0 then
    redis.call('DEL', KEYS[i])
  else
    redis.call('SET', KEYS[i], string.format('%.0f', news[i]), 'PX', math.ceil(ahead / 1000) + 1)
  end
  out[2 + i] = math.floor(ahead)
end
return out
"""


class RedisLimitStore:
    """Counters in Redis, shared by every worker and replica that points at it.

    An admission is one script call (one round trip). Charges after the answer are summed per
    counter and sent together every `flush_s`, so a busy gateway pays one round trip per flush,
    not one per request; a caller may overshoot its token limit by what arrives within a flush."""

    def __init__(self, url: str, timeout_s: float, flush_s: float = 0.02) -> None:
        from satisfice.ratelimit.resp import RedisClient

        self.redis = RedisClient(url)
        self.timeout_s = timeout_s
        self.flush_s = flush_s
        self._pending: dict[str, tuple[Counter, float]] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        try:
            async with asyncio.timeout(self.timeout_s * 5):
                await self._flush()
                if self._flushes:
                    await asyncio.wait(self._flushes)
        except Exception:
            log.warning("rate limit charges not written at shutdown", exc_info=True)
        await self.redis.close()

    async def admit(self, counters: Sequence[Counter], costs: Sequence[float]) -> Verdict:
        args: list[Any] = ["admit"]
        for c, cost in zip(counters, costs, strict=True):
            args += [c.interval_s * 1e6, c.tolerance_s * 1e6, cost]
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        out = await self.redis.run_script(_GCRA_LUA, [c.key for c in counters], args, deadline)
        return Verdict(bool(out[0]), int(out[1]) / 1e6, tuple(int(a) / 1e6 for a in out[2:]))

    def charge(self, counter: Counter, cost: float) -> None:
        if cost == 0:
            return
        held = self._pending.get(counter.key)
        self._pending[counter.key] = (counter, cost + (held[1] if held is not None else 0.0))
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self.flush_s, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_handle = None
        task = asyncio.ensure_future(self._flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        batch, self._pending = self._pending, {}
        if not batch:
            return
        args: list[Any] = ["charge"]
        for counter, cost in batch.values():
            args += [counter.interval_s * 1e6, counter.tolerance_s * 1e6, cost]
        try:
            deadline = asyncio.get_running_loop().time() + self.timeout_s * 5
            await self.redis.run_script(_GCRA_LUA, list(batch), args, deadline)
        except Exception as e:  # the limits run a little loose; requests are not held for it
            log.warning("rate limit charges lost (%s: %s)", type(e).__name__, e)
