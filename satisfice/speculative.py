"""Strategy speculative: start the cheap and the strong model together. If the cheap answer arrives
within the deadline and passes verification, the strong request is cancelled (its connection
closed); otherwise the strong answer is used and the cheap request cancelled if still running. A
strong answer that comes first is used at once: it is paid for, so the cheap one can save nothing.
When the strong call fails, a whole cheap answer that failed verification is returned (it is paid
for); a stream then ends in the error, its cheap attempt still billed.

Cancelled requests are charged in the ledger (`ledger/cancelled.py`): their prompt, plus the output
a stream had sent or, for a call that showed none, the output estimated from the time it ran and
the deployment's recent speed. For streams the cheap answer must end within the deadline and pass
before any byte is released (`speculate_stream`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from satisfice import tokens
from satisfice.cache.assemble import choice_texts, event_text
from satisfice.cascade import CascadeRunner
from satisfice.errors import GatewayError
from satisfice.ledger.record import price
from satisfice.providers.failures import AttemptFailed
from satisfice.providers.results import Completion, EventStream
from satisfice.providers.stream_start import HeldStream, read_ahead_failure
from satisfice.routing.directory import Target
from satisfice.routing.executor import Attempt, Charger, InFlight
from satisfice.routing.planner import Plan
from satisfice.usage import Usage
from satisfice.verify import Verdict, verify

R = TypeVar("R")
Result = tuple[Target, Completion]
Held = tuple[Target, EventStream, list[bytes]]


@dataclasses.dataclass(slots=True)
class _Leg(Generic[R]):
    """One side of the race: its call, its own attempts, and whether it is settled (its answer is
    priced or used, it failed, or it was cancelled and charged), so nothing is charged twice."""

    step: list[Target]
    task: asyncio.Future[R]
    log: list[Attempt]
    flight: InFlight  # the call out now: what a cancel charges
    settled: bool = False

    def failed(self) -> bool:
        return self.task.done() and not self.task.cancelled() and self.task.exception() is not None

    def answered(self) -> bool:
        return self.task.done() and not self.task.cancelled() and self.task.exception() is None

    def ok_attempt(self) -> Attempt:
        return next(a for a in reversed(self.log) if a.outcome == "ok")


def _cancel(leg: _Leg[Any], charge: Charger, seen: str = "") -> None:
    """Record the loser of a race as a cancelled attempt carrying its charge."""
    leg.log.append(Attempt.cancel(leg.flight, leg.step[0], charge, seen))


async def _stop(leg: _Leg[R], charge: Charger, seen: str = "") -> R | None:
    """Cancel a leg still running (its upstream connection closes) and charge it through a cancelled
    attempt, logged before the wait so a client leaving meanwhile loses no charge. Returns a result
    it produced anyway (the caller releases it); a leg that already ended is left to the caller."""
    if leg.settled or leg.task.done():
        return None
    leg.settled = True
    _cancel(leg, charge, seen)
    leg.task.cancel()
    await asyncio.wait({leg.task})
    if not leg.answered():
        return None
    leg.log[:] = [a for a in leg.log if a.outcome != "ok"]  # logged once, as cancelled
    return leg.task.result()


async def _await_cheap(cheap: _Leg[Any], strong: _Leg[Any], until: float, *, strong_ends: bool) -> None:
    """Wait until the cheap call ends or the deadline (`until`) passes; sooner when `strong_ends` and
    the strong call answers (the cheap one can then save nothing); past the deadline when the
    strong call failed (the cheap answer is then the only one)."""
    while not cheap.task.done():
        if strong_ends and strong.answered():
            return
        left = None if strong.failed() else until - time.perf_counter()
        if left is not None and left <= 0:
            return
        watch = {cheap.task} if strong.task.done() else {cheap.task, strong.task}
        await asyncio.wait(watch, timeout=left, return_when=asyncio.FIRST_COMPLETED)


def _escalates(verdict: Verdict, escalate_on_unsure: bool) -> bool:
    return verdict is Verdict.FAIL or (verdict is Verdict.UNSURE and escalate_on_unsure)


async def speculate(
    runner: CascadeRunner,
    plan: Plan,
    body: dict[str, Any],
    attempts: list[Attempt],
    estimate: Callable[[Target, Completion], Usage],
    charge: Charger,
) -> tuple[Target, Completion, Usage, float, str]:
    """(answering target, completion, its usage, cost of every answered call, trail); a cancelled
    call is charged through its `cancelled` attempt, an answered one carries its cost."""
    assert plan.steps is not None and plan.cascade is not None
    if len(plan.steps) < 2:  # the cheap candidate is the best one: nothing to race
        return await runner.complete(plan, body, attempts, estimate, charge=charge)
    cs = plan.cascade
    started = time.perf_counter()

    def run(step: list[Target]) -> _Leg[Result]:
        log: list[Attempt] = []
        sub, flight = dataclasses.replace(plan, targets=step, steps=None), InFlight()
        call = runner.executor.run(  # a leg's call that times out is charged; a cancelled one by _stop
            sub, lambda t: runner.complete_one(t.dep, body), log, flight, charge, charge_cancel=False
        )
        return _Leg(step, asyncio.ensure_future(call), log, flight)

    def paid(leg: _Leg[Result]) -> tuple[Target, Completion, Usage, float]:
        """A leg's answer and its cost, noted on its attempt (summed if the request ends unanswered)."""
        leg.settled = True
        target, result = leg.task.result()
        usage = result.usage or estimate(target, result)
        cost = result.cost_usd if result.cost_usd is not None else price(target.info, usage)
        leg.ok_attempt().bill(cost, usage)
        return target, result, usage, cost

    cheap = run(plan.steps[0])  # sent first: a strong answer that comes at once cancels a sent call
    strong = run(plan.steps[-1])
    deadline_ms = cs.speculative_deadline_ms
    fallback: tuple[Target, Completion, Usage] | None = None  # a paid cheap answer that failed
    spent = 0.0
    try:
        await _await_cheap(cheap, strong, started + deadline_ms / 1000, strong_ends=True)
        if cheap.answered():
            target, result, usage, spent = paid(cheap)
            outcome = await verify(body, result.body, cs.verify)
            answered = cheap.ok_attempt()
            answered.verdict, answered.message = outcome.verdict.value, outcome.reason()
            if not _escalates(outcome.verdict, cs.escalate_on_unsure):
                await _stop(strong, charge)
                lost = paid(strong)[3] if strong.answered() and not strong.settled else 0.0
                return target, result, usage, spent + lost, f"{target.dep.model} won within the deadline"
            fallback = (target, result, usage)
            trail = f"{target.dep.model} {outcome.reason()}"
        else:
            cheap_model = cheap.step[0].dep.model
            if cheap.failed():
                trail = f"{cheap_model} failed"
            elif strong.answered():  # it came first: the cheap answer could save nothing now
                ms = (time.perf_counter() - started) * 1000
                trail = f"{cheap_model} cancelled at {ms:.0f} ms: {strong.step[0].dep.model} answered first"
            else:
                trail = f"{cheap_model} not done in {deadline_ms:g} ms"
            await _stop(cheap, charge)
        await asyncio.wait({strong.task})  # not `await strong.task`, which a client leaving cancels
        try:
            target, result, usage, cost = paid(strong)
        except GatewayError:
            if fallback is None:
                raise
            target, result, usage = fallback
            trail += f"; {strong.step[0].dep.model} unavailable; "
            trail += f"answered with {target.dep.model}'s answer, which failed verification"
            return target, result, usage, spent, trail
        return target, result, usage, spent + cost, f"{trail}; {target.dep.model} answered"
    finally:
        # The client left (or the strong call failed): close and charge what still runs, and note
        # the cost of an answer that came but was not used.
        for leg in (cheap, strong):
            await _stop(leg, charge)
            if leg.answered() and not leg.settled:  # (a failure is retrieved by the check)
                paid(leg)
        attempts.extend(cheap.log + strong.log)


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
    relayed and the cheap one closed. An opened strong stream is no answer yet (the cheap one can
    still save its output), so unlike `speculate` it does not end the wait. When the strong call
    fails, a cheap answer that failed verification is relayed, as `speculate` returns it.

    Returns (target, stream, first event, cost of a cheap answer that failed and is not relayed,
    trail)."""
    assert plan.steps is not None and plan.cascade is not None
    if len(plan.steps) < 2:
        return await runner.open_stream(plan, body, attempts, open_one, charge=charge)
    cs = plan.cascade
    cheap_step, strong_step = plan.steps[0], plan.steps[-1]
    started = time.perf_counter()
    events: list[bytes] = []  # the cheap stream's events so far (charged if it is cancelled)

    async def read_cheap(log: list[Attempt], flight: InFlight) -> Held:
        sub = dataclasses.replace(plan, targets=cheap_step, steps=None)
        target, (stream, first) = await runner.executor.run(
            sub, open_one, log, flight, charge, charge_cancel=False
        )
        events.append(first)
        try:
            async for event in aiter(stream):
                failed = read_ahead_failure(event)
                if failed is not None:  # the cheap stream broke: no answer (the strong one is used)
                    raise failed
                events.append(event)
        except (AttemptFailed, GatewayError) as e:
            await stream.aclose()
            # The provider bills the call up to the break: its prompt and what it sent.
            broken = next(a for a in reversed(log) if a.outcome == "ok")
            usage = stream.usage or Usage(
                tokens.count_prompt(body, target.dep.model),
                tokens.count_text(seen(), target.dep.model),
                estimated=True,
            )
            broken.bill(stream.cost_usd if stream.cost_usd is not None else price(target.info, usage), usage)
            broken.message = f"stream failed: {e.message}"
            raise
        except BaseException:
            await stream.aclose()
            raise
        return target, stream, events

    def seen() -> str:
        return "".join(event_text(e) for e in events)

    def paid(leg: _Leg[Held]) -> float:
        """The ended cheap stream's cost, noted on its attempt (summed if the request ends unanswered)."""
        leg.settled = True
        target, stream, _ = leg.task.result()
        model = target.dep.model
        usage = stream.usage or Usage(
            tokens.count_prompt(body, model), tokens.count_text(seen(), model), estimated=True
        )
        cost = stream.cost_usd if stream.cost_usd is not None else price(target.info, usage)
        leg.ok_attempt().bill(cost, usage)
        return cost

    async def close_cheap() -> None:
        """Close the cheap stream unless it is the answer: charged what it sent, if still running."""
        late = await _stop(cheap, charge, seen())
        if late is not None:
            await late[1].aclose()
        elif cheap.answered() and not cheap.settled:  # it ended, but is not used
            paid(cheap)

    async def close_strong() -> None:
        """Close the strong stream, opening or opened: one cancelled attempt, charged."""
        late = await _stop(strong, charge)
        if late is None and strong.answered() and not strong.settled:
            strong.settled = True
            late = strong.task.result()
            strong.log[:] = [a for a in strong.log if a.outcome != "ok"]  # logged once, as cancelled
            _cancel(strong, charge, event_text(late[1][1]))
        if late is not None:
            await late[1][0].aclose()

    strong_log, strong_flight = list[Attempt](), InFlight()
    opening = runner.executor.run(
        dataclasses.replace(plan, targets=strong_step, steps=None),
        open_one,
        strong_log,
        strong_flight,
        charge,
        charge_cancel=False,
    )
    strong = _Leg(strong_step, asyncio.ensure_future(opening), strong_log, strong_flight)
    cheap_log, cheap_flight = list[Attempt](), InFlight()
    cheap = _Leg(
        cheap_step, asyncio.ensure_future(read_cheap(cheap_log, cheap_flight)), cheap_log, cheap_flight
    )
    spent, verified = 0.0, False  # verified: the cheap stream ended, was paid and failed verification
    try:
        await _await_cheap(cheap, strong, started + cs.speculative_deadline_ms / 1000, strong_ends=False)
        if cheap.answered():
            spent = paid(cheap)
            target, stream, held = cheap.task.result()
            verdict, reason = await CascadeRunner.held_verdict(body, held, choice_texts(held), True, cs)
            answered = cheap.ok_attempt()
            answered.verdict, answered.message = verdict.value, reason
            if not _escalates(verdict, cs.escalate_on_unsure):
                await close_strong()
                trail = f"{target.dep.model} won within the deadline"
                return target, HeldStream(stream, held[1:]), held[0], 0.0, trail
            trail, verified = f"{target.dep.model} {reason}", True
        else:
            why = "failed" if cheap.failed() else f"not done in {cs.speculative_deadline_ms:g} ms"
            # A cheap stream that broke after opening was billed up to the break (read_cheap).
            spent = sum(a.cost_usd or 0.0 for a in cheap.log if a.outcome == "ok")
            trail = f"{cheap_step[0].dep.model} {why}"
            await close_cheap()
        await asyncio.wait({strong.task})  # not `await strong.task`, which a client leaving cancels
        strong.settled = True
        try:
            target, (stream, first) = strong.task.result()
        except GatewayError:
            if not verified:
                raise
            # As unstreamed: the paid cheap answer that failed verification beats an error.
            target, stream, held = cheap.task.result()
            trail += f"; {strong_step[0].dep.model} unavailable; "
            trail += f"answered with {target.dep.model}'s answer, which failed verification"
            return target, HeldStream(stream, held[1:]), held[0], 0.0, trail
        return target, stream, first, spent, f"{trail}; {target.dep.model} answered"
    finally:
        # The client left (or the strong call failed): close and charge what still runs.
        await close_cheap()
        await close_strong()
        attempts.extend(cheap.log + strong.log)
