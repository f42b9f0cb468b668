"""Strategy speculative: start the cheap and the strong model together. If the cheap answer arrives
within the deadline and passes verification, the strong request is cancelled (its connection
closed); otherwise the strong answer is used and the cheap request cancelled if still running.

Cancelled requests are charged in the ledger (`ledger/cancelled.py`): their prompt, plus the output
a stream had sent or, for a call that showed none, the output estimated from the time it ran and
the deployment's recent speed. For streams the cheap answer must end within the deadline and pass
before any byte is released (`speculate_stream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

from satisfice.cache.assemble import event_text
from satisfice.cascade import CascadeRunner, HeldStream
from satisfice.ledger.record import price
from satisfice.providers.results import Completion, EventStream
from satisfice.routing.directory import Target
from satisfice.routing.executor import Attempt, Charger
from satisfice.routing.planner import Plan
from satisfice.usage import Usage
from satisfice.verify import Verdict, verify

Result = tuple[Target, Completion]


def _cancel(step: list[Target], charge: Charger, log: list[Attempt], started: float, seen: str = "") -> None:
    """Record the loser of a race as a cancelled attempt carrying its charge."""
    ran = time.perf_counter() - started
    log.append(Attempt.cancelled(step[0], ran * 1000, charge(step[0], ran, seen)))


async def speculate(
    runner: CascadeRunner,
    plan: Plan,
    body: dict[str, Any],
    attempts: list[Attempt],
    estimate: Callable[[Target, Completion], Usage],
    charge: Charger,
) -> tuple[Target, Completion, Usage, float, str]:
    """(answering target, completion, its usage, cost of every answered call, trail); a cancelled
    call is charged through its `cancelled` attempt."""
    assert plan.steps is not None and plan.cascade is not None
    if len(plan.steps) < 2:  # the cheap candidate is the best one: nothing to race
        return await runner.complete(plan, body, attempts, estimate)
    cs = plan.cascade
    cheap_step, strong_step = plan.steps[0], plan.steps[-1]
    cheap_attempts: list[Attempt] = []
    strong_attempts: list[Attempt] = []
    started = time.perf_counter()

    def run(step: list[Target], log: list[Attempt]) -> asyncio.Task[Result]:
        sub = dataclasses.replace(plan, targets=step, steps=None)
        return asyncio.ensure_future(
            runner.executor.run(sub, lambda t: runner.complete_one(t.dep, body), log)
        )

    strong = run(strong_step, strong_attempts)
    cheap = run(cheap_step, cheap_attempts)

    def cost_of(target: Target, result: Completion) -> tuple[Usage, float]:
        usage = result.usage or estimate(target, result)
        return usage, (result.cost_usd if result.cost_usd is not None else price(target.info, usage))

    async def cancel(task: asyncio.Task[Result], step: list[Target], log: list[Attempt]) -> float:
        """Cancel a losing call (its upstream connection closes). Returns what it cost if it had
        already answered; a cancelled call's charge goes into its `cancelled` attempt, which the
        gateway adds to the row like every cancelled attempt."""
        if task.done():
            if task.exception() is None:
                target, result = task.result()
                return cost_of(target, result)[1]  # it finished: its real cost
            return 0.0
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        _cancel(step, charge, log, started)
        return 0.0

    try:
        done, _ = await asyncio.wait({cheap}, timeout=cs.speculative_deadline_ms / 1000)
        if cheap in done and cheap.exception() is None:
            target, result = cheap.result()
            usage, cost = cost_of(target, result)
            outcome = await verify(body, result.body, cs.verify)
            answered = next(a for a in reversed(cheap_attempts) if a.outcome == "ok")
            answered.cost_usd, answered.verdict, answered.message = (
                cost,
                outcome.verdict.value,
                outcome.reason(),
            )
            bad = outcome.verdict is Verdict.FAIL or (
                outcome.verdict is Verdict.UNSURE and cs.escalate_on_unsure
            )
            if not bad:
                lost = await cancel(strong, strong_step, strong_attempts)
                return target, result, usage, cost + lost, f"{target.dep.model} won within the deadline"
            trail = f"{target.dep.model} {outcome.reason()}"
            spent = cost
        else:
            failed = cheap.done()
            spent = await cancel(cheap, cheap_step, cheap_attempts)
            why = "failed" if failed else f"not done in {cs.speculative_deadline_ms:g} ms"
            trail = f"{cheap_step[0].dep.model} {why}"
        target, result = await strong
        usage, cost = cost_of(target, result)
        answered = next(a for a in reversed(strong_attempts) if a.outcome == "ok")
        answered.cost_usd = cost
        return target, result, usage, spent + cost, f"{trail}; {target.dep.model} answered"
    finally:
        for task in (cheap, strong):
            if not task.done():  # the client left, or the strong call failed: leave nothing running
                task.cancel()
        attempts.extend(cheap_attempts + strong_attempts)


async def speculate_stream(
    runner: CascadeRunner,
    plan: Plan,
    body: dict[str, Any],
    attempts: list[Attempt],
    open_one: Callable[[Target], Awaitable[tuple[EventStream, bytes]]],
    charge: Charger,
) -> tuple[Target, EventStream, bytes, float, str]:
    """The streaming race: the cheap stream must end within the deadline and pass verification
    before any byte goes out; then the strong stream is closed. Otherwise the strong stream is
    relayed and the cheap one closed.

    Returns (target, stream, first event, cost of a cheap answer that failed, trail)."""
    assert plan.steps is not None and plan.cascade is not None
    if len(plan.steps) < 2:
        return await runner.open_stream(plan, body, attempts, open_one)
    cs = plan.cascade
    cheap_step, strong_step = plan.steps[0], plan.steps[-1]
    cheap_log: list[Attempt] = []
    strong_log: list[Attempt] = []
    started = time.perf_counter()

    events: list[bytes] = []  # the cheap stream's events so far (charged if it is cancelled)

    async def read_cheap() -> tuple[Target, EventStream, list[bytes]]:
        sub = dataclasses.replace(plan, targets=cheap_step, steps=None)
        target, (stream, first) = await runner.executor.run(sub, open_one, cheap_log)
        events.append(first)
        try:
            async for event in aiter(stream):
                events.append(event)
        except BaseException:
            await stream.aclose()
            raise
        return target, stream, events

    strong = asyncio.ensure_future(
        runner.executor.run(dataclasses.replace(plan, targets=strong_step, steps=None), open_one, strong_log)
    )
    cheap = asyncio.ensure_future(read_cheap())

    try:
        done, _ = await asyncio.wait({cheap}, timeout=cs.speculative_deadline_ms / 1000)
        if cheap in done and cheap.exception() is None:
            target, stream, events = cheap.result()
            text = "".join(event_text(e) for e in events)
            verdict, reason = await CascadeRunner.held_verdict(body, events, text, True, cs)
            answered = next(a for a in reversed(cheap_log) if a.outcome == "ok")
            answered.verdict, answered.message = verdict.value, reason
            if not (verdict is Verdict.FAIL or (verdict is Verdict.UNSURE and cs.escalate_on_unsure)):
                strong.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    _, (late, _first) = await strong
                    await late.aclose()  # it opened in the meantime: close it
                _cancel(strong_step, charge, strong_log, started)  # charged through its attempt
                return (
                    target,
                    HeldStream(stream, events[1:]),
                    events[0],
                    0.0,
                    f"{target.dep.model} won within the deadline",
                )
            trail = f"{target.dep.model} {reason}"
            spent = (
                price(target.info, stream.usage or Usage()) if stream.cost_usd is None else stream.cost_usd
            )
        else:
            failed_early = cheap.done()
            if not failed_early:
                cheap.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await cheap
            if not failed_early:
                seen = "".join(event_text(e) for e in events)
                _cancel(cheap_step, charge, cheap_log, started, seen)  # charged through its attempt
            spent = 0.0
            why = "failed" if failed_early else f"not done in {cs.speculative_deadline_ms:g} ms"
            trail = f"{cheap_step[0].dep.model} {why}"
        target, (stream, first) = await strong
        return target, stream, first, spent, f"{trail}; {target.dep.model} answered"
    finally:
        for task in (cheap, strong):
            if not task.done():
                task.cancel()
        attempts.extend(cheap_log + strong_log)
