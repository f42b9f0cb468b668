"""Latency hedging: when the primary deployment is slower than a percentile of its recent history
(time to the whole answer, or to a stream's first token), start the next candidate too; the first
to answer wins and the loser is cancelled and charged. A budget caps hedge spend per route."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import numpy as np

from satisfice.errors import AllCandidatesFailed, GatewayError, UpstreamFailed
from satisfice.providers.failures import FailureKind
from satisfice.routing.directory import Target
from satisfice.routing.executor import Attempt, Charger, Executor, InFlight
from satisfice.routing.planner import Plan

T = TypeVar("T")
_CLIENT_ERROR = FailureKind.CLIENT_ERROR.value  # the one failure the executor never fails over


class LatencyHistory:
    """Recent successful latencies per (provider, model, streamed or not), in-process: a stream's
    first token comes long before a whole answer would, so the two are not one history."""

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

    def learn_cut_off(self, target: Target, seconds: float, streamed: bool) -> None:
        """A primary the hedge beat, cancelled after `seconds`: it would have taken at least that
        long. Kept as that lower bound; left out, the history would hold only the primary's fast
        answers, so once it slowed for good every request would be hedged, the history never
        learning the new normal."""
        self.add(self.key(target.dep.provider, target.dep.model, streamed), seconds)


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


@dataclasses.dataclass(slots=True)
class _Racer(Generic[T]):
    """One candidate in a hedged race: its call, its own attempts, when it started, and whether it
    is settled (it won, failed, or was cancelled and charged), so nothing is charged twice."""

    target: Target
    task: asyncio.Future[tuple[Target, T]]
    log: list[Attempt]
    flight: InFlight  # the call out now: what a cancel charges
    started: float  # time.monotonic() when it was started
    settled: bool = False


class Hedger:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.history = LatencyHistory()
        self.spend = SpendShare()

    def _threshold(self, plan: Plan, streamed: bool) -> float | None:
        """Seconds past which the primary counts as slow; None: no hedge for this request."""
        hs, targets = plan.hedge, plan.targets
        if hs is None or len(targets) < 2 or not self.spend.allows(plan.route, hs.budget_pct):
            return None
        key = self.history.key(targets[0].dep.provider, targets[0].dep.model, streamed)
        return self.history.percentile(key, hs.percentile, hs.min_samples)

    def _start(
        self, plan: Plan, target: Target, call: Callable[[Target], Awaitable[T]], charge: Charger
    ) -> _Racer[T]:
        """A racer: its run charges a call that times out; a cancelled one `_cancel` charges."""
        log: list[Attempt] = []
        alone, flight = dataclasses.replace(plan, targets=[target]), InFlight()
        task = asyncio.ensure_future(self.executor.run(alone, call, log, flight, charge, charge_cancel=False))
        return _Racer(target, task, log, flight, time.monotonic())

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
        `streamed`: the call opens a stream (its latency is to the first token)."""
        threshold = self._threshold(plan, streamed)
        if plan.hedge is None or threshold is None:
            target, result = await self.executor.run(plan, call, attempts, charge=charge)
            self.history.learn(attempts, streamed)
            return Hedged(target, result, False)
        targets = plan.targets
        started = time.monotonic()  # the request's deadline counts from here, failover included
        racers = [self._start(plan, targets[0], call, charge)]
        try:
            await asyncio.wait({racers[0].task}, timeout=threshold)
            if racers[0].task.done():  # answered or failed before the threshold: no hedge
                if await self._first_answer(racers) is None:
                    target, result = await self._fail_over(plan, racers, call, attempts, started, charge)
                    return Hedged(target, result, False)
                attempts.extend(racers[0].log)
                racers[0].log.clear()
                self.history.learn(attempts, streamed)
                target, result = racers[0].task.result()
                return Hedged(target, result, False)
            racers.append(self._start(plan, targets[1], call, charge))
            note = (
                f"hedged: {targets[0].dep.model} slower than {threshold * 1000:.0f} ms "
                f"(p{plan.hedge.percentile:g} of its history), {targets[1].dep.model} started"
            )
            winner = await self._first_answer(racers)
            if winner is None:  # both failed: on to the other candidates, as a plain run would go
                target, result = await self._fail_over(plan, racers, call, attempts, started, charge)
                return Hedged(target, result, True, f"{note}; both failed; {target.dep.model} answered")
            primary_open, waited = not racers[0].settled, time.monotonic() - racers[0].started
            for r in racers:
                await self._cancel(plan.route, r, charge, discard, extra=True)
            if primary_open:
                self.history.learn_cut_off(targets[0], waited, streamed)
            target, result = winner.task.result()
            self.history.learn([a for r in racers for a in r.log], streamed)
            return Hedged(target, result, True, f"{note}; {target.dep.model} won")
        finally:
            # The client left (or a bug): close and charge every racer still running. Only the
            # hedge's spend is extra; the primary's would have been spent without it.
            for r in racers:
                await self._cancel(plan.route, r, charge, discard, extra=r is not racers[0])
            for r in racers:
                attempts.extend(r.log)

    @staticmethod
    async def _first_answer(racers: list[_Racer[T]]) -> _Racer[T] | None:
        """The first racer to answer; None once every racer has failed. Each one that ended is
        settled: the winner is used, a failure stays in its log."""
        pending = {r.task for r in racers if not r.settled}
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for r in racers:
                if r.task in done:
                    r.settled = True
                    if r.task.exception() is None:
                        return r
        return None

    async def _cancel(
        self,
        route: str,
        racer: _Racer[T],
        charge: Charger,
        discard: Callable[[T], Awaitable[None]],
        *,
        extra: bool,
    ) -> None:
        """Close a racer that did not win (its upstream connection closes) and charge it through a
        cancelled attempt, logged before the wait so a client leaving meanwhile loses no charge."""
        if racer.settled:
            return
        racer.settled = True
        task = racer.task
        if task.done() and not task.cancelled() and task.exception() is not None:
            return  # it failed: its log says so, and a failed call is not billed
        cancelled = Attempt.cancel(racer.flight, racer.target, charge)
        racer.log.append(cancelled)
        self.spend.record(route, cancelled.cost_usd or 0.0, extra=extra)
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled() and task.exception() is None:
            await discard(task.result()[1])  # it answered in the meantime: release it
            racer.log[:] = [a for a in racer.log if a.outcome != "ok"]  # logged once, as cancelled

    async def _fail_over(
        self,
        plan: Plan,
        racers: list[_Racer[T]],
        call: Callable[[Target], Awaitable[T]],
        attempts: list[Attempt],
        started: float,
        charge: Charger,
    ) -> tuple[Target, T]:
        """After every racer failed: the remaining candidates in order, as one executor run would
        try them (an upstream 4xx the client must fix is not failed over), within what is left of
        the request's deadline. If they fail too, the error speaks for every attempt, the racers'
        included."""
        for r in racers:
            err = r.task.exception()
            assert err is not None  # a racer that did not answer failed
            if not isinstance(err, GatewayError) or any(a.outcome == _CLIENT_ERROR for a in r.log[-1:]):
                raise err
        for r in racers:
            attempts.extend(r.log)
            r.log.clear()
        rest = plan.targets[len(racers) :]
        if not rest:
            raise Executor.failure(plan, attempts)
        left = plan.reliability.deadline_s - (time.monotonic() - started)
        rel = dataclasses.replace(plan.reliability, deadline_s=max(left, 0.001))
        try:
            return await self.executor.run(
                dataclasses.replace(plan, targets=rest, reliability=rel), call, attempts, charge=charge
            )
        except (UpstreamFailed, AllCandidatesFailed):  # worded for the rest alone: reword for all
            raise Executor.failure(plan, attempts) from None
