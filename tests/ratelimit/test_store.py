"""The GCRA counters, in memory (with a hand-driven clock) and in a real Redis (with its clock)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from satisfice.ratelimit.store import Counter, LimitStore, MemoryLimitStore, RedisLimitStore
from tests.redis_server import RedisServer

T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counter(limit: int, period_s: float) -> Counter:
    return Counter(f"test:{uuid.uuid4().hex}", period_s / limit, period_s)


def run(work: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(work())  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> Callable[[], LimitStore]:
    if request.param == "memory":
        store = MemoryLimitStore(Clock())
        return lambda: store
    server: RedisServer = request.getfixturevalue("redis_server")
    return lambda: RedisLimitStore(server.url, timeout_s=2.0, flush_s=0.01)


def test_a_fresh_counter_admits_its_whole_limit_then_refuses(make_store: Callable[[], LimitStore]) -> None:
    c = counter(3, 60)

    async def work() -> list[tuple[bool, float, tuple[float, ...]]]:
        store = make_store()
        try:
            out = []
            for _ in range(4):
                v = await store.admit([c], [1])
                out.append((v.allowed, v.retry_after_s, v.ahead_s))
            return out
        finally:
            await store.close()

    got = run(work)
    assert [allowed for allowed, _, _ in got] == [True, True, True, False]
    # each admitted request moves the counter 20 s ahead (60 s / 3)
    assert [round(ahead[0]) for _, _, ahead in got[:3]] == [20, 40, 60]
    # the refused one would pass once the counter is back within 60 s: in 20 s
    assert got[3][1] == pytest.approx(20, abs=0.5)
    assert round(got[3][2][0]) == 60  # a refusal charges nothing


def test_a_refusal_charges_no_counter(make_store: Callable[[], LimitStore]) -> None:
    """Limits of one request are all-or-nothing: a spent token counter leaves the request counter alone."""
    requests, tokens = counter(100, 60), counter(1000, 60)

    async def work() -> tuple[bool, bool, float]:
        store = make_store()
        try:
            first = await store.admit([requests, tokens], [1, 900])
            second = await store.admit([requests, tokens], [1, 200])  # 1,100 tokens > 1,000
            third = await store.admit([requests], [1])
            return first.allowed, second.allowed, third.ahead_s[0]
        finally:
            await store.close()

    first, second, requests_ahead = run(work)
    assert first and not second
    assert requests_ahead == pytest.approx(2 * 0.6, abs=0.05)  # two requests counted, not three


def test_memory_counter_refills_with_time() -> None:
    clock = Clock()
    store = MemoryLimitStore(clock)
    c = counter(2, 60)

    async def admit() -> bool:
        return (await store.admit([c], [1])).allowed

    assert run(admit) and run(admit) and not run(admit)
    clock.now += 29.9
    assert not run(admit)
    clock.now += 0.2  # 30 s after: one request's worth is back
    assert run(admit)
    assert not run(admit)


def test_redis_counter_refills_with_redis_time(redis_server: RedisServer) -> None:
    c = Counter(f"test:{uuid.uuid4().hex}", 0.5, 1.0)  # 2 per second

    async def work() -> tuple[list[bool], float, bool]:
        store = RedisLimitStore(redis_server.url, timeout_s=2.0)
        try:
            seen = [(await store.admit([c], [1])).allowed for _ in range(3)]
            refused = await store.admit([c], [1])
            await asyncio.sleep(refused.retry_after_s + 0.05)
            again = await store.admit([c], [1])
            return seen, refused.retry_after_s, again.allowed
        finally:
            await store.close()

    seen, wait, again = run(work)
    assert seen == [True, True, False]
    assert 0 < wait <= 0.5
    assert again


def test_charges_and_refunds_move_the_counter(make_store: Callable[[], LimitStore]) -> None:
    c = counter(1000, 60)  # 0.06 s per token

    async def work() -> tuple[float, float]:
        store = make_store()
        try:
            await store.admit([c], [100])
            store.charge(c, 400)  # the answer used 400 more tokens than estimated
            await asyncio.sleep(0.2)  # Redis sends charges in batches
            after_charge = (await store.admit([c], [0])).ahead_s[0]
            store.charge(c, -10_000)  # a refund never takes a counter below empty
            await asyncio.sleep(0.2)
            after_refund = (await store.admit([c], [0])).ahead_s[0]
            return after_charge, after_refund
        finally:
            await store.close()

    after_charge, after_refund = run(work)
    assert after_charge == pytest.approx(500 * 0.06, abs=0.5)
    assert after_refund == pytest.approx(0, abs=0.01)


def test_replicas_sharing_redis_admit_exactly_the_limit(redis_server: RedisServer) -> None:
    """Two stores (two gateway replicas) race 60 requests on a limit of 25: exactly 25 pass."""
    c = counter(25, 60)

    async def work() -> int:
        stores = [RedisLimitStore(redis_server.url, timeout_s=2.0) for _ in range(2)]
        try:
            verdicts = await asyncio.gather(*(stores[i % 2].admit([c], [1]) for i in range(60)))
            return sum(v.allowed for v in verdicts)
        finally:
            for s in stores:
                await s.close()

    assert run(work) == 25


def test_memory_store_forgets_counters_that_emptied() -> None:
    clock = Clock()
    store = MemoryLimitStore(clock)
    for i in range(store._PRUNE_EVERY - 1):
        run(lambda i=i: store.admit([Counter(f"k{i}", 1.0, 60.0)], [1]))  # type: ignore[misc]
    assert len(store._tat) == store._PRUNE_EVERY - 1
    clock.now += 2  # every counter is empty again
    run(lambda: store.admit([Counter("last", 1.0, 60.0)], [1]))
    assert list(store._tat) == ["last"]


def test_a_fresh_one_per_day_counter_admits_its_first_request() -> None:
    """At this clock value (now + 86400) - now comes out an ulp over 86400: the first request of a
    1-per-day limit was refused (a flaky end-to-end test found it)."""
    clock = Clock()
    clock.now = 84895.93995678604
    assert (clock.now + 86400.0) - clock.now > 86400.0  # the rounding this is about
    store = MemoryLimitStore(clock)
    c = counter(1, 86400)

    async def admit() -> bool:
        return (await store.admit([c], [1])).allowed

    assert run(admit) and not run(admit)
