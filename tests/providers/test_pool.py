"""The upstream pool and how the executor reads its waits, without sockets: the calls here are
coroutines that take a place in a real `UpstreamPool` (what the runner does before it sends)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import pytest

from satisfice.config import Reliability
from satisfice.errors import GatewaySaturated
from satisfice.ledger.cancelled import CancelCharge
from satisfice.providers.base import Deployment
from satisfice.providers.failures import FAILOVER, RETRYABLE, UNHEALTHY, AttemptFailed, FailureKind
from satisfice.providers.pool import ATTEMPT_WAIT, Permit, PoolWait, UpstreamPool
from satisfice.routing.breaker import CLOSED, BreakerBoard
from satisfice.routing.directory import Target
from satisfice.routing.executor import Attempt, Executor, InFlight
from satisfice.routing.planner import Plan

REL = Reliability(timeout_s=0.2, deadline_s=5.0, retries=2, breaker_failures=1, backoff_base_s=0.001)


def target(model: str) -> Target:
    return Target(Deployment("p", model, model, "http://127.0.0.1:9", "openai"), None)


def plan(*models: str, rel: Reliability = REL) -> Plan:
    return Plan("r", "first", [target(m) for m in models], "test", None, rel)


def caller(pool: UpstreamPool, upstream_s: float = 0.0) -> Callable[[Target], Awaitable[str]]:
    """A call that takes a place in the pool, then 'the upstream' answers after upstream_s."""

    async def call(t: Target) -> str:
        permit = pool.take() or await pool.wait()
        try:
            await asyncio.sleep(upstream_s)
            return t.dep.model
        finally:
            permit.release()

    return call


def test_local_saturation_is_neither_failed_over_nor_retried_nor_unhealthy() -> None:
    kind = FailureKind.LOCAL_SATURATED
    assert kind not in FAILOVER and kind not in RETRYABLE and kind not in UNHEALTHY


def take(pool: UpstreamPool) -> Permit:
    permit = pool.take()
    assert permit is not None
    return permit


def test_places_are_given_back_once_in_order_and_a_cancelled_wait_leaves_no_trace() -> None:
    async def main() -> None:
        pool = UpstreamPool(1)
        held = take(pool)
        assert pool.take() is None
        wait = PoolWait()
        token = ATTEMPT_WAIT.set(wait)
        first, second = asyncio.ensure_future(pool.wait()), asyncio.ensure_future(pool.wait())
        ATTEMPT_WAIT.reset(token)
        await asyncio.sleep(0.01)
        assert pool.snapshot() == {"limit": 1, "in_use": 1, "waiting": 2}
        assert wait.queued == 2 and wait.limit == 1
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert pool.snapshot() == {"limit": 1, "in_use": 1, "waiting": 1}
        assert wait.queued == 2  # still marked: whoever cancelled it reads that nothing was sent
        held.release()
        held.release()  # a second release (stream end, then aclose) gives nothing back twice
        got = await second  # the place went to the caller still waiting, not back to the pool
        assert pool.snapshot() == {"limit": 1, "in_use": 1, "waiting": 0} and pool.take() is None
        assert wait.queued == 1 and wait.waited_s > 0
        got.release()
        assert pool.snapshot() == {"limit": 1, "in_use": 0, "waiting": 0}

    asyncio.run(main())


def test_a_place_handed_over_as_its_waiter_is_cancelled_goes_to_the_next() -> None:
    async def main() -> None:
        pool = UpstreamPool(1)
        held = take(pool)
        first, second = asyncio.ensure_future(pool.wait()), asyncio.ensure_future(pool.wait())
        await asyncio.sleep(0)
        held.release()  # hands the place to `first`...
        first.cancel()  # ...which is cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await first
        (await second).release()
        assert pool.snapshot() == {"limit": 1, "in_use": 0, "waiting": 0}

    asyncio.run(main())


def test_a_timeout_while_waiting_for_the_pool_is_a_503_that_blames_no_deployment() -> None:
    """The first candidate's call waits its whole timeout for a place: `local_saturated`, not
    retried, its breaker (one failure opens it) untouched, and no failover: the next candidate
    would queue in the same pool. The client gets a 503 naming the pool."""

    async def main() -> None:
        pool = UpstreamPool(1)
        held = take(pool)
        breakers = BreakerBoard(failures=1)
        attempts: list[Attempt] = []
        asked: list[str] = []

        async def call(t: Target) -> str:
            asked.append(t.dep.model)
            return await caller(pool)(t)

        with pytest.raises(GatewaySaturated) as err:
            await Executor(breakers).run(plan("a", "b"), call, attempts)
        e = err.value
        assert e.status == 503 and e.code == "gateway_saturated" and e.headers == {"retry-after": "1"}
        assert "server.upstream_connections" in e.message
        assert [a.outcome for a in attempts] == ["local_saturated"] and asked == ["a"]
        assert "upstream connection pool was full (1 calls in flight" in attempts[0].message
        assert breakers.state("p/a") == CLOSED and breakers.allow("p/a")
        assert pool.snapshot() == {"limit": 1, "in_use": 1, "waiting": 0}
        held.release()

    asyncio.run(main())


def test_saturation_after_an_upstream_failure_is_still_a_503() -> None:
    """The first candidate failed upstream (a 500), the second found the pool full: the error
    speaks of the last call, which never left."""

    async def main() -> None:
        pool = UpstreamPool(1)
        held = take(pool)
        attempts: list[Attempt] = []

        async def call(t: Target) -> str:
            if t.dep.model == "a":
                raise AttemptFailed(FailureKind.SERVER_ERROR, "boom", status=500)
            return await caller(pool)(t)

        with pytest.raises(GatewaySaturated):
            await Executor(BreakerBoard()).run(plan("a", "b"), call, attempts)
        assert [a.outcome for a in attempts][-1] == "local_saturated"
        held.release()

    asyncio.run(main())


def test_a_call_sent_after_a_wait_gets_the_whole_timeout() -> None:
    """A place frees after 0.15 s of the 0.2 s timeout; the upstream then takes 0.15 s. The wait
    pushed the timer back, so that is an answer, not a timeout blamed on the upstream."""

    async def main() -> None:
        pool = UpstreamPool(1)
        held = take(pool)
        asyncio.get_running_loop().call_later(0.15, held.release)
        attempts: list[Attempt] = []
        _, answer = await Executor(BreakerBoard()).run(plan("a"), caller(pool, 0.15), attempts)
        assert answer == "a" and [a.outcome for a in attempts] == ["ok"]

    asyncio.run(main())


def test_a_call_that_never_left_is_not_billed_when_cancelled() -> None:
    """A race cancels a run whose call still waits for a place (as a hedge or a client leaving
    does): the provider saw nothing, so the attempt is withdrawn and the charge never asked."""

    def charge(t: Target, seconds: float, seen: str) -> CancelCharge:
        raise AssertionError("a call that was never sent was charged")

    async def main() -> None:
        pool = UpstreamPool(1)
        held = take(pool)
        flight, attempts = InFlight(), list[Attempt]()
        slow = dataclasses.replace(REL, timeout_s=5.0)
        run = asyncio.ensure_future(
            Executor(BreakerBoard()).run(plan("a", rel=slow), caller(pool), attempts, flight, charge)
        )
        await asyncio.sleep(0.05)
        outside = Attempt.cancel(flight, target("a"), charge)  # what a hedge logs before it cancels
        assert outside.cost_usd == 0.0 and "gateway's pool" in outside.message
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert [(a.outcome, a.cost_usd) for a in attempts] == [("cancelled", 0.0)]
        assert pool.snapshot() == {"limit": 1, "in_use": 1, "waiting": 0}
        held.release()

    asyncio.run(main())


def test_a_call_cancelled_after_its_wait_is_charged_for_the_time_it_was_out() -> None:
    charged: list[float] = []

    def charge(t: Target, seconds: float, seen: str) -> CancelCharge:
        charged.append(seconds)
        return CancelCharge(0.5, 0, "prompt only", 10)

    async def main() -> None:
        pool = UpstreamPool(1)
        held = take(pool)
        asyncio.get_running_loop().call_later(0.3, held.release)
        flight, attempts = InFlight(), list[Attempt]()
        slow = dataclasses.replace(REL, timeout_s=5.0)
        run = asyncio.ensure_future(
            Executor(BreakerBoard()).run(plan("a", rel=slow), caller(pool, 5.0), attempts, flight, charge)
        )
        await asyncio.sleep(0.4)  # 0.3 s waiting, then 0.1 s out
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert attempts[0].outcome == "cancelled" and attempts[0].cost_usd == 0.5
        assert 0.05 < charged[0] < 0.25  # the time out, not the wait before it

    asyncio.run(main())
