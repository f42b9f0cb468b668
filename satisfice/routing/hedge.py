"""Latency hedging: when the primary deployment is slower than a percentile of its recent history
(time to the whole answer, or to a stream's first event), start the next candidate too; the first
to answer wins and the loser is cancelled and charged. A budget caps hedge spend per route."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import numpy as np

from satisfice.config import HedgeSettings
from satisfice.routing.directory import Target
from satisfice.routing.executor import Attempt, Charger, Executor
from satisfice.routing.planner import Plan

T = TypeVar("T")


class LatencyHistory:
    """Recent successful latencies per (provider, model, streamed or not), in-process: a stream's
    first event comes long before a whole answer would, so the two are not one history."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._seen: dict[str, deque[float]] = {}

    def add(self, key: str, seconds: float) -> None:
        self._seen.setdefault(key, deque(maxlen=self.size)).append(seconds)

    def percentile(self, key: str, pct: float, min_samples: int) -> float | None:
        seen = self._seen.get(key)
        if seen is None or len(seen) < min_samples:
            return None  # too little history to call anything slow
        return float(np.percentile(np.fromiter(seen, dtype=np.float64), pct))

    @staticmethod
    def key(provider: str, model: str, streamed: bool) -> str:
        return f"{provider}/{model}{' stream' if streamed else ''}"

    def learn(self, attempts: list[Attempt], streamed: bool) -> None:
        for a in attempts:
            if a.outcome == "ok":
                self.add(self.key(a.provider, a.model, streamed), a.latency_ms / 1000)


class SpendShare:
    """Per route: extra spend (hedges) may be at most a share of the route's spend."""

    def __init__(self) -> None:
        self._spend: dict[str, list[float]] = {}  # route -> [all spend, extra spend]

    def allows(self, route: str, pct: float) -> bool:
        if pct <= 0:
            return False
        total, extra = self._spend.get(route, [0.0, 0.0])
        return total <= 0 or extra / total * 100.0 < pct

    def record(self, route: str, cost: float, *, extra: bool = False) -> None:
        spend = self._spend.setdefault(route, [0.0, 0.0])
        spend[0] += cost
        if extra:
            spend[1] += cost


@dataclasses.dataclass(slots=True)
class Hedged(Generic[T]):
    target: Target
    result: T
    hedged: bool  # a second candidate was started
    note: str = ""  # for the ledger's reason: when the hedge fired and who won


class Hedger:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.history = LatencyHistory()
        self.spend = SpendShare()

    async def run(
        self,
        plan: Plan,
        call: Callable[[Target], Awaitable[T]],
        attempts: list[Attempt],
        charge: Charger,
        discard: Callable[[T], Awaitable[None]],
        *,
        streamed: bool,
    ) -> Hedged[T]:
        """`charge` prices a cancelled call; `discard` releases a result that lost the race;
        `streamed`: the call opens a stream (its latency is to the first event)."""
        hs: HedgeSettings | None = plan.hedge
        targets = plan.targets
        threshold = None
        if hs is not None and len(targets) > 1 and self.spend.allows(plan.route, hs.budget_pct):
            key = self.history.key(targets[0].dep.provider, targets[0].dep.model, streamed)
            threshold = self.history.percentile(key, hs.percentile, hs.min_samples)
        if hs is None or threshold is None:
            target, result = await self.executor.run(plan, call, attempts)
            self.history.learn(attempts, streamed)
            return Hedged(target, result, False)
        first_log: list[Attempt] = []
        second_log: list[Attempt] = []
        started = time.perf_counter()
        primary: asyncio.Future[tuple[Target, T]] = asyncio.ensure_future(
            self.executor.run(dataclasses.replace(plan, targets=targets[:1]), call, first_log)
        )
        try:
            first_done, _ = await asyncio.wait({primary}, timeout=threshold)
            if primary in first_done:
                attempts.extend(first_log)
                first_log.clear()
                if primary.exception() is None:
                    self.history.learn(attempts, streamed)
                    target, result = primary.result()
                    return Hedged(target, result, False)
                # It failed before the threshold: plain failover over the others.
                target, result = await self.executor.run(
                    dataclasses.replace(plan, targets=targets[1:]), call, attempts
                )
                return Hedged(target, result, False)
            secondary: asyncio.Future[tuple[Target, T]] = asyncio.ensure_future(
                self.executor.run(dataclasses.replace(plan, targets=targets[1:2]), call, second_log)
            )
            racers: dict[asyncio.Future[tuple[Target, T]], tuple[Target, list[Attempt], float]] = {
                primary: (targets[0], first_log, started),
                secondary: (targets[1], second_log, time.perf_counter()),
            }
            pending: set[asyncio.Future[tuple[Target, T]]] = {primary, secondary}
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is not None:
                        continue
                    for other in pending:
                        loser, log, since = racers[other]
                        other.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            late = await other
                            await discard(late[1])  # it answered in the meantime: release it
                        ran = time.perf_counter() - since
                        cost = charge(loser, ran, "")
                        log.append(Attempt.cancelled(loser, ran * 1000, cost))
                        self.spend.record(plan.route, cost.cost_usd, extra=True)
                    target, result = task.result()
                    self.history.learn(first_log + second_log, streamed)
                    note = (
                        f"hedged: {targets[0].dep.model} slower than {threshold * 1000:.0f} ms "
                        f"(p{hs.percentile:g} of its history), {targets[1].dep.model} started; "
                        f"{target.dep.model} won"
                    )
                    return Hedged(target, result, True, note)
            exc = primary.exception()
            assert exc is not None
            raise exc
        finally:
            for task in (primary,):
                if not task.done():
                    task.cancel()
            attempts.extend(first_log + second_log)
