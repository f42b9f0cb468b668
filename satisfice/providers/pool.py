"""The gateway's own bound on upstream calls in flight (`server.upstream_connections`), and how a
call that waits for it is told apart from a slow upstream.

A call past the bound waits here, before anything is sent. That wait is the gateway's doing: if an
attempt's timeout or a cancel ends it there, the deployment is not to blame (no breaker failure, no
learner outcome) and nothing was billed. The executor hands each attempt a `PoolWait` through the
context variable `ATTEMPT_WAIT` (the attempt's call is an opaque callable); the pool marks it while
a call waits.

Our own queue rather than aiohttp's connector limit: the connector's wait cannot be told apart from
the upstream's without a trace hook, and trace hooks cost streams ~20 % more gateway CPU. A call
that finds a free place takes it without awaiting anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass

from satisfice.providers.failures import AttemptFailed, FailureKind


@dataclass(slots=True)
class PoolWait:
    """One attempt's waits for a place, as whoever times or cancels the attempt reads them."""

    queued: int = 0  # calls of the attempt waiting now: nothing of theirs has been sent
    waited_s: float = 0.0  # how long its calls waited before they were sent
    limit: int = 0  # the pool's size, for the message
    # The attempt's timer, pushed back by each wait by at most `slack` seconds in all (what is
    # left of the request's deadline past the timer): once sent, the upstream has its whole timeout.
    timer: asyncio.Timeout | None = None
    slack: float = 0.0

    def sent_after(self, waited: float) -> None:
        self.waited_s += waited
        timer, push = self.timer, min(waited, self.slack)
        if timer is not None and push > 0 and not timer.expired() and (when := timer.when()) is not None:
            self.slack -= push
            timer.reschedule(when + push)

    def saturated(self, waited: float) -> AttemptFailed:
        """The failure of an attempt whose time ran out while a call still waited here."""
        return AttemptFailed(
            FailureKind.LOCAL_SATURATED,
            f"the gateway's upstream connection pool was full ({self.limit} calls in flight, "
            f"server.upstream_connections): the call waited {waited:.1f}s and was never sent",
        )


# The current attempt's waits (set by the executor around each attempt; None outside one).
ATTEMPT_WAIT: ContextVar[PoolWait | None] = ContextVar("satisfice_attempt_wait", default=None)


class Permit:
    """One call's place in the pool; `release` is idempotent, so every way a call ends may call it."""

    __slots__ = ("_pool",)

    def __init__(self, pool: UpstreamPool) -> None:
        self._pool: UpstreamPool | None = pool

    def release(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool._give()


class UpstreamPool:
    """At most `size` places taken at once; the others wait, first come first served."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.in_use = 0  # places taken, including ones handed to a waiter not yet resumed
        self._waiters: deque[asyncio.Future[None]] = deque()

    def take(self) -> Permit | None:
        """A place at once, or None when there is none free (or others wait for one already)."""
        if self.in_use < self.size and not self._waiters:
            self.in_use += 1
            return Permit(self)
        return None

    async def wait(self) -> Permit:
        """Wait for a place, marking the current attempt's PoolWait meanwhile."""
        wait = ATTEMPT_WAIT.get() or PoolWait()
        wait.limit = self.size
        wait.queued += 1
        started = time.perf_counter()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut  # resolved by `_give`, which hands over a place still counted in `in_use`
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._give()  # handed a place as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # `_give` may have dropped it already
                    self._waiters.remove(fut)
            raise  # `queued` stays set: whoever reads the attempt sees nothing was sent
        wait.queued -= 1
        wait.sent_after(time.perf_counter() - started)
        return Permit(self)

    def _give(self) -> None:
        """A place is free: to the first caller still waiting, or back to the pool."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.in_use -= 1

    def snapshot(self) -> dict[str, int]:
        return {"limit": self.size, "in_use": self.in_use, "waiting": len(self._waiters)}
