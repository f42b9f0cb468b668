"""Strategy cascade: answer with a cheap candidate, verify the answer, escalate when it falls short.

Every answered attempt is paid for and stays in the ledger row; the row's cost is the sum, so the
savings count failed cheap attempts. Streams hold back their first tokens (or the whole answer when
it is short) until they pass a check; once a byte has gone out there is no escalation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from satisfice import tokens
from satisfice.config import CascadeSettings
from satisfice.errors import GatewayError
from satisfice.ledger.record import price
from satisfice.providers.base import Deployment
from satisfice.providers.failures import AttemptFailed
from satisfice.providers.results import Completion, EventStream
from satisfice.routing.directory import ModelDirectory, Target
from satisfice.routing.executor import Attempt, Executor
from satisfice.routing.planner import Plan
from satisfice.usage import Usage
from satisfice.verify import Verdict, VerifyContext, verify, verify_stream_prefix

CompleteOne = Callable[[Deployment, dict[str, Any]], Awaitable[Completion]]
OpenOne = Callable[[Target], Awaitable[tuple[EventStream, bytes]]]
_CHARS_PER_TOKEN = 4  # to turn hold_tokens into characters of held text


class EscalationBudget:
    """Per route: failed attempts' spend may be at most a share of the route's spend. In-process
    (a shared store comes with scale-out)."""

    def __init__(self) -> None:
        self._spend: dict[str, list[float]] = {}  # route -> [all answered spend, spend on failed answers]

    def allows(self, route: str, pct: float) -> bool:
        total, failed = self._spend.get(route, [0.0, 0.0])
        return total <= 0 or failed / total * 100.0 < pct

    def record(self, route: str, cost: float, *, failed: bool) -> None:
        spend = self._spend.setdefault(route, [0.0, 0.0])
        spend[0] += cost
        if failed:
            spend[1] += cost


def _answer_text(completion: dict[str, Any]) -> str:
    choices = completion.get("choices") or [{}]
    return str(((choices[0] or {}).get("message") or {}).get("content") or "")


class CascadeRunner:
    def __init__(self, executor: Executor, directory: ModelDirectory, complete_one: CompleteOne) -> None:
        self.executor = executor
        self.directory = directory
        self.complete_one = complete_one
        self.budget = EscalationBudget()

    def _judge(self, cs: CascadeSettings, attempts: list[Attempt], spent: list[float]) -> VerifyContext:
        if not cs.judge_model or not cs.verify.judge:
            return VerifyContext()
        judge = self.directory.targets(cs.judge_model)[0]

        async def ask(messages: list[dict[str, Any]]) -> str:
            body = {"model": judge.dep.model, "messages": messages, "max_tokens": 64, "temperature": 0}
            result = await self.complete_one(judge.dep, body)
            usage = result.usage or Usage()
            cost = result.cost_usd if result.cost_usd is not None else price(judge.info, usage)
            spent[0] += cost
            attempts.append(Attempt(judge.dep.provider, judge.dep.model, "judge", 0.0, cost_usd=cost))
            return _answer_text(result.body)

        return VerifyContext(judge=ask)

    async def _second_sample(
        self, target: Target, body: dict[str, Any], attempts: list[Attempt], spent: list[float]
    ) -> dict[str, Any] | None:
        """Self-consistency: one more sample from the same cheap model (paid, and in the ledger)."""
        try:
            again = await self.complete_one(target.dep, body)
        except (GatewayError, AttemptFailed):
            return None
        cost = again.cost_usd if again.cost_usd is not None else price(target.info, again.usage or Usage())
        spent[0] += cost
        attempts.append(Attempt(target.dep.provider, target.dep.model, "second_sample", 0.0, cost_usd=cost))
        return again.body

    async def complete(
        self,
        plan: Plan,
        body: dict[str, Any],
        attempts: list[Attempt],
        estimate: Callable[[Target, Completion], Usage],
    ) -> tuple[Target, Completion, Usage, float, str]:
        """(answering target, its completion, its usage, total cost of every attempt, trail)."""
        assert plan.steps is not None and plan.cascade is not None
        cs, steps = plan.cascade, plan.steps
        spent = [0.0]
        trail: list[str] = []
        fetched: dict[int, tuple[Target, Completion] | None] = {}

        async def answer(i: int) -> tuple[Target, Completion] | None:
            """Step i's answer, asked once (an agreement check may already have asked for it)."""
            if i not in fetched:
                try:
                    fetched[i] = await self.executor.run(
                        dataclasses.replace(plan, targets=steps[i], steps=None),
                        lambda t: self.complete_one(t.dep, body),
                        attempts,
                    )
                except GatewayError:
                    if i == len(steps) - 1:
                        raise
                    fetched[i] = None
                    trail.append(f"{steps[i][0].dep.model} unavailable")
            return fetched[i]

        for i in range(len(steps)):
            last = i == len(steps) - 1
            got = await answer(i)
            if got is None:
                continue
            target, result = got
            answered = next(
                a for a in reversed(attempts) if a.model == target.dep.model and a.outcome == "ok"
            )
            usage = result.usage or estimate(target, result)
            cost = result.cost_usd if result.cost_usd is not None else price(target.info, usage)
            spent[0] += cost
            context = self._judge(cs, attempts, spent)
            if cs.agreement and not last:
                # The next rung answers too; the cheap answer stands only if the two agree, and
                # on escalation the next rung's answer is already in hand.
                nxt = await answer(i + 1)
                context.second_answer = nxt[1].body if nxt is not None else None
            elif cs.verify.self_consistency and not last:
                context.second_answer = await self._second_sample(target, body, attempts, spent)
            outcome = await verify(body, result.body, cs.verify, context)
            answered.cost_usd, answered.verdict = cost, outcome.verdict.value
            answered.message = outcome.reason()
            trail.append(f"{target.dep.model} {outcome.reason()}")
            bad = outcome.verdict is Verdict.FAIL or (
                outcome.verdict is Verdict.UNSURE and cs.escalate_on_unsure
            )
            if bad and not last and self.budget.allows(plan.route, cs.escalation_budget_pct):
                self.budget.record(plan.route, cost, failed=True)
                continue
            if bad and not last:
                trail.append("escalation budget spent")
            self.budget.record(plan.route, cost, failed=False)
            for j, other in fetched.items():  # an agreement partner that was asked but not used is paid too
                if j > i and other is not None:
                    extra = other[1].cost_usd
                    spent[0] += (
                        extra if extra is not None else price(other[0].info, other[1].usage or Usage())
                    )
            return target, result, usage, spent[0], "; ".join(trail)
        raise AssertionError("unreachable: the last step returns or raises")

    async def open_stream(
        self, plan: Plan, body: dict[str, Any], attempts: list[Attempt], open_one: OpenOne
    ) -> tuple[Target, EventStream, bytes, float, str]:
        """(target, a stream replaying the held events, its first event, abandoned attempts' cost, trail)."""
        assert plan.steps is not None and plan.cascade is not None
        cs = plan.cascade
        abandoned = 0.0
        trail: list[str] = []
        for i, step in enumerate(plan.steps):
            last = i == len(plan.steps) - 1
            try:
                target, (stream, first) = await self.executor.run(
                    dataclasses.replace(plan, targets=step, steps=None), open_one, attempts
                )
            except GatewayError:
                if last:
                    raise
                trail.append(f"{step[0].dep.model} unavailable")
                continue
            if last or cs.hold_tokens == 0:
                return target, stream, first, abandoned, "; ".join(trail)
            held, text, finished, failed = [first], delta_text(first), False, ""
            it = aiter(stream)
            try:
                while len(text) < cs.hold_tokens * _CHARS_PER_TOKEN:
                    try:
                        event = await anext(it)
                    except StopAsyncIteration:
                        finished = True
                        break
                    held.append(event)
                    text += delta_text(event)
            except AttemptFailed as e:
                failed = f"stream failed: {e.message}"
            if not failed:
                failed = await self.held_verdict(body, held, text, finished, cs)
            answered = next(a for a in reversed(attempts) if a.outcome == "ok")
            answered.verdict = "fail" if failed else "pass"
            if failed and self.budget.allows(plan.route, cs.escalation_budget_pct):
                await stream.aclose()  # the upstream sees the connection close
                # Billed up to the cancel: the prompt plus what was generated, priced from the catalog.
                cost = price(
                    target.info,
                    Usage(
                        tokens.count_prompt(body, target.dep.model),
                        tokens.count_text(text, target.dep.model),
                        estimated=True,
                    ),
                )
                answered.cost_usd, answered.message = cost, failed
                abandoned += cost
                self.budget.record(plan.route, cost, failed=True)
                trail.append(f"{target.dep.model} {failed}")
                continue
            trail.append(f"{target.dep.model} {'held ' + str(len(held)) + ' events, ' if held else ''}pass")
            return target, HeldStream(stream, held[1:]), held[0], abandoned, "; ".join(trail)
        raise AssertionError("unreachable: the last step returns or raises")

    @staticmethod
    async def held_verdict(
        body: dict[str, Any], held: list[bytes], text: str, finished: bool, cs: CascadeSettings
    ) -> str:
        if finished:  # a short answer came whole: verify all of it
            answer = {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": _finish_reason(held),
                    }
                ]
            }
            outcome = await verify(body, answer, cs.verify)
            bad = outcome.verdict is Verdict.FAIL or (
                outcome.verdict is Verdict.UNSURE and cs.escalate_on_unsure
            )
            return outcome.reason() if bad else ""
        check = verify_stream_prefix(body, text, cs.verify)
        return f"fail: {check.verifier}: {check.reason}" if check is not None else ""


class HeldStream:
    """Replays the events held back for verification, then the rest of the upstream stream."""

    def __init__(self, inner: EventStream, held: list[bytes]) -> None:
        self.inner = inner
        self.held = held
        self._replaying = True
        self._held_more = False
        self._it = self._events()

    @property
    def more(self) -> bool:
        return self._held_more if self._replaying else self.inner.more

    @property
    def usage(self) -> Usage | None:
        return self.inner.usage

    @property
    def cost_usd(self) -> float | None:
        return self.inner.cost_usd

    @property
    def events(self) -> list[bytes]:
        return self.inner.events

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._it

    async def _events(self) -> AsyncIterator[bytes]:
        for i, event in enumerate(self.held):
            self._held_more = i < len(self.held) - 1  # held events are at hand; the next live one is not
            yield event
        self._replaying = False
        async for event in aiter(self.inner):
            yield event

    async def aclose(self) -> None:
        await self.inner.aclose()


def _chunk(event: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(event[6:])  # strip "data: "
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def delta_text(event: bytes) -> str:
    if b'"content"' not in event:
        return ""
    choices = _chunk(event).get("choices") or []
    return "".join(str((c.get("delta") or {}).get("content") or "") for c in choices[:1])


def _finish_reason(events: list[bytes]) -> str | None:
    for event in reversed(events):
        for c in _chunk(event).get("choices") or []:
            if c.get("finish_reason"):
                return str(c["finish_reason"])
    return None
