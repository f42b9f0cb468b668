"""Strategy cascade: answer with a cheap candidate, verify the answer, escalate when it falls short.

Every answered attempt is paid for and stays in the ledger row; the row's cost is the sum, so the
savings count failed cheap attempts. Streams hold back their first tokens (or the whole answer when
it is short) until they pass a check; once a byte has gone out there is no escalation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from satisfice import tokens
from satisfice.cache.assemble import CachedStream, choice_texts, completion_from_events, finished_choices
from satisfice.config import CascadeSettings
from satisfice.errors import GatewayError
from satisfice.ledger.record import price
from satisfice.providers.base import Deployment
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.providers.results import Completion, EventStream
from satisfice.providers.stream_start import HeldStream, read_ahead_failure, stop_read
from satisfice.routing.directory import ModelDirectory, Target
from satisfice.routing.executor import Attempt, Charger, Executor
from satisfice.routing.planner import Plan
from satisfice.usage import Usage
from satisfice.verify import Verdict, VerifyContext, verify, verify_stream_prefixes

CompleteOne = Callable[[Deployment, dict[str, Any]], Awaitable[Completion]]
OpenOne = Callable[[Target], Awaitable[tuple[EventStream, bytes]]]
_CHARS_PER_TOKEN = 4  # to turn hold_tokens into characters of held text
# A self-consistency sample is asked at this temperature at least: 0.7 is a usual sampling
# temperature, enough for a model unsure of its answer to give another one, not so high that
# the sample's own noise makes good answers disagree.
_SAMPLE_TEMPERATURE = 0.7
T = TypeVar("T")


class Deadline:
    """The route's `deadline_s` for a whole cascade: its rungs, second samples and judge share it
    (each rung used to get a fresh one, so three hanging rungs took three deadlines)."""

    def __init__(self, plan: Plan) -> None:
        self.timeout_s = plan.reliability.timeout_s
        self.end = time.monotonic() + plan.reliability.deadline_s

    def left(self) -> float:
        return self.end - time.monotonic()

    def rung(self, plan: Plan, targets: list[Target]) -> Plan:
        """The plan of one rung, with what is left of the deadline (the executor then gives up in time)."""
        rel = dataclasses.replace(plan.reliability, deadline_s=max(self.left(), 0.001))
        return dataclasses.replace(plan, targets=targets, steps=None, reliability=rel)

    async def call(self, work: Awaitable[T]) -> T:
        """A side call (second sample, judge) within one attempt's timeout and the deadline left."""
        async with asyncio.timeout(max(min(self.timeout_s, self.left()), 0.0)):
            return await work


class EscalationBudget:
    """Per route: failed attempts' spend may be at most a share of the route's spend (every
    request's whole cost: answers, the failed ones, second samples, partners and judges).
    In-process (a shared store comes with scale-out)."""

    def __init__(self) -> None:
        self._spend: dict[str, list[float]] = {}  # route -> [all spend, spend on failed answers]

    def allows(self, route: str, pct: float) -> bool:
        if pct <= 0:
            return False
        total, failed = self._spend.get(route, [0.0, 0.0])
        return total <= 0 or failed / total * 100.0 <= pct  # "may reach": 100 % never blocks

    def spent(self, route: str, cost: float) -> None:
        """A request's whole cost, once it is accounted."""
        self._spend.setdefault(route, [0.0, 0.0])[0] += cost

    def failed(self, route: str, cost: float) -> None:
        """An answer that failed verification and was escalated from (its cost is also in the
        request's whole cost, recorded when the request is accounted)."""
        self._spend.setdefault(route, [0.0, 0.0])[1] += cost


def _sample_body(body: dict[str, Any]) -> dict[str, Any]:
    """The request of a self-consistency sample: the client's, asked for one choice (only choice 0
    is compared), without its seed and at a temperature that samples. A repeat at temperature 0
    with the same seed agrees by construction, and the check would mean nothing."""
    sample = _partner_body(body)
    sample.pop("seed", None)
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and temperature < _SAMPLE_TEMPERATURE:
        sample["temperature"] = _SAMPLE_TEMPERATURE  # unset, the provider's default (1) samples
    return sample


def _partner_body(body: dict[str, Any]) -> dict[str, Any]:
    """The request of a streamed agreement cascade's partner: the client's, for one choice (only
    choice 0 is compared; a different model answers differently without being told to)."""
    return {**body, "n": 1}


def _answer_text(completion: dict[str, Any]) -> str:
    choices = completion.get("choices") or [{}]
    return str(((choices[0] or {}).get("message") or {}).get("content") or "")


class JudgeUnavailable(Exception):
    """The judge gave no answer (it failed, timed out, or there was no time left to ask it)."""


class CascadeRunner:
    def __init__(self, executor: Executor, directory: ModelDirectory, complete_one: CompleteOne) -> None:
        self.executor = executor
        self.directory = directory
        self.complete_one = complete_one
        self.budget = EscalationBudget()

    def _judge(
        self,
        cs: CascadeSettings,
        attempts: list[Attempt],
        spent: list[float],
        deadline: Deadline,
        charge: Charger | None = None,
    ) -> VerifyContext:
        if not cs.judge_model or not cs.verify.judge:
            return VerifyContext()
        judge_model = cs.judge_model

        async def ask(messages: list[dict[str, Any]]) -> str:
            # Looked up here, when the chain is unsure, so a judge that is not served fails only the
            # check (the verifier reports it unsure), never a request that needs no judge.
            judge = self.directory.targets(judge_model)[0]
            body = {"model": judge.dep.model, "messages": messages, "max_tokens": 64, "temperature": 0}
            asked = len(attempts)
            got = await self._side_call(judge, body, attempts, spent, deadline, "judge", charge)
            if got is None:  # the verifier reads this as unsure, with why
                raise JudgeUnavailable(attempts[-1].message if len(attempts) > asked else "no time left")
            return _answer_text(got)

        return VerifyContext(judge=ask)

    async def _side_call(
        self,
        target: Target,
        body: dict[str, Any],
        attempts: list[Attempt],
        spent: list[float],
        deadline: Deadline,
        label: str,
        charge: Charger | None,
    ) -> dict[str, Any] | None:
        """The answer of a call beside the rungs: another sample of the same cheap model
        (self-consistency, `label` "second_sample"), a streamed agreement cascade's partner, the
        judge. Asked without streaming, in the ledger as `label` and paid when it answers. One that
        fails is an unbilled attempt; one that times out, or that the client's leaving cuts off, is
        charged (`charge`) like any call closed while out. None when it gave no answer."""
        started, sent = time.perf_counter(), deadline.left() > 0  # no time left: never sent
        try:
            again = await deadline.call(self.complete_one(target.dep, body))
        except (GatewayError, AttemptFailed) as e:  # no sample: in the ledger all the same, unbilled
            status = e.status
            if isinstance(e, AttemptFailed):
                kind = e.kind.value
            else:  # a translator's reading of the provider's error
                kind = (FailureKind.SERVER_ERROR if e.status >= 500 else FailureKind.CLIENT_ERROR).value
            ran_ms = (time.perf_counter() - started) * 1000
            why = f"{label}: {e}"
            attempts.append(Attempt(target.dep.provider, target.dep.model, kind, ran_ms, status, why, 0.0))
            return None
        except TimeoutError:
            ran = time.perf_counter() - started
            if charge is not None and sent:  # it worked until closed: charged like any call timed out
                billed = charge(target, ran, "")
                attempts.append(
                    Attempt(
                        target.dep.provider,
                        target.dep.model,
                        FailureKind.TIMEOUT.value,
                        ran * 1000,
                        message=f"{label} timed out; charged {billed.how}",
                        cost_usd=billed.cost_usd,
                        tokens=billed.tokens,
                    )
                )
            return None
        except asyncio.CancelledError:
            if charge is not None:  # the provider had the prompt and worked until the cancel
                ran = time.perf_counter() - started
                attempts.append(Attempt.cancelled(target, ran * 1000, charge(target, ran, "")))
            raise
        usage = again.usage or Usage()
        cost = again.cost_usd if again.cost_usd is not None else price(target.info, usage)
        spent[0] += cost
        attempts.append(Attempt(target.dep.provider, target.dep.model, label, 0.0))
        attempts[-1].bill(cost, usage)
        return again.body

    async def complete(
        self,
        plan: Plan,
        body: dict[str, Any],
        attempts: list[Attempt],
        estimate: Callable[[Target, Completion], Usage],
        trail: list[str] | None = None,
        charge: Charger | None = None,
    ) -> tuple[Target, Completion, Usage, float, str]:
        """(answering target, its completion, its usage, total cost of every attempt, trail).
        `trail`, when given, is filled as the cascade goes, so a caller still has it on an error.
        `charge` prices a rung's call that is out when the request is cut off (Executor.run).

        When the rungs above a failed answer cannot answer at all, that answer is returned (the
        trail says it failed verification) rather than an error: it was paid for, and it is what
        a plain route would have returned."""
        assert plan.steps is not None and plan.cascade is not None
        cs, steps = plan.cascade, plan.steps
        spent = [0.0]
        trail = [] if trail is None else trail
        fetched: dict[int, tuple[Target, Completion] | None] = {}
        fallback: tuple[Target, Completion, Usage] | None = None  # the last answer that failed
        deadline = Deadline(plan)

        failures: dict[int, GatewayError] = {}

        async def answer(i: int, partner: bool = False) -> tuple[Target, Completion] | None:
            """Step i's answer, asked once (an agreement check may already have asked for it). As
            a `partner`, a failure is only no answer to compare with: the error that ends the
            request is raised if the cascade itself reaches that step with nothing in hand."""
            if i not in fetched:
                try:
                    fetched[i] = await self.executor.run(
                        deadline.rung(plan, steps[i]),
                        lambda t: self.complete_one(t.dep, body),
                        attempts,
                        charge=charge,
                    )
                except GatewayError as e:
                    if i == len(steps) - 1 and fallback is None and not partner:
                        raise
                    fetched[i], failures[i] = None, e
                    trail.append(f"{steps[i][0].dep.model} unavailable")
            return fetched[i]

        for i in range(len(steps)):
            last = i == len(steps) - 1
            got = await answer(i)
            if got is None:
                if last and fallback is None:
                    raise failures[i]
                continue
            target, result = got
            answered = next(
                a for a in reversed(attempts) if a.model == target.dep.model and a.outcome == "ok"
            )
            usage = result.usage or estimate(target, result)
            cost = result.cost_usd if result.cost_usd is not None else price(target.info, usage)
            spent[0] += cost
            # Billed before verifying: a client that leaves during a second sample or the judge
            # still pays for this answer (the row sums the attempts of a request cut off).
            answered.bill(cost, usage)
            context = self._judge(cs, attempts, spent, deadline, charge)
            if not last and (cs.agreement or cs.verify.self_consistency):
                # Asked only when the chain passes and the answer is short enough to compare. An
                # agreement cascade asks the next rung with the client's own request, so its answer
                # (all n choices; choice 0 is compared) is in hand on escalation.
                context.sample = (
                    self._partner(i, functools.partial(answer, partner=True))
                    if cs.agreement
                    else functools.partial(
                        self._side_call,
                        target,
                        _sample_body(body),
                        attempts,
                        spent,
                        deadline,
                        "second_sample",
                        charge,
                    )
                )
            outcome = await verify(body, result.body, cs.verify, context)
            answered.verdict = outcome.verdict.value
            answered.message = outcome.reason()
            trail.append(f"{target.dep.model} {outcome.reason()}")
            bad = outcome.verdict is Verdict.FAIL or (
                outcome.verdict is Verdict.UNSURE and cs.escalate_on_unsure
            )
            if bad and not last and self.budget.allows(plan.route, cs.escalation_budget_pct):
                self.budget.failed(plan.route, cost)
                fallback = (target, result, usage)
                continue
            if bad and not last:
                trail.append("escalation budget spent")
            for j, other in fetched.items():  # an agreement partner that was asked but not used is paid too
                if j > i and other is not None:
                    used = other[1].usage or estimate(*other)
                    extra = other[1].cost_usd
                    if extra is None:
                        extra = price(other[0].info, used)
                    spent[0] += extra
                    partner = next(
                        a for a in reversed(attempts) if a.model == other[0].dep.model and a.outcome == "ok"
                    )
                    partner.bill(extra, used)
            return target, result, usage, spent[0], "; ".join(trail)
        assert fallback is not None  # the last step raises unless an answer is in hand
        target, result, usage = fallback
        trail.append(f"answered with {target.dep.model}'s answer, which failed verification")
        return target, result, usage, spent[0], "; ".join(trail)

    @staticmethod
    def _partner(
        i: int, answer: Callable[[int], Awaitable[tuple[Target, Completion] | None]]
    ) -> Callable[[], Awaitable[dict[str, Any] | None]]:
        async def partner() -> dict[str, Any] | None:
            got = await answer(i + 1)
            return got[1].body if got is not None else None

        return partner

    async def open_stream(
        self,
        plan: Plan,
        body: dict[str, Any],
        attempts: list[Attempt],
        open_one: OpenOne,
        trail: list[str] | None = None,
        charge: Charger | None = None,
    ) -> tuple[Target, EventStream, bytes, float, str]:
        """(target, a stream replaying the held events, its first event, abandoned attempts' cost,
        trail); `trail` and `charge` as in `complete`."""
        assert plan.steps is not None and plan.cascade is not None
        cs = plan.cascade
        abandoned = 0.0
        trail = [] if trail is None else trail
        deadline = Deadline(plan)
        fallback: tuple[Target, dict[str, Any]] | None = None  # the last whole answer that failed
        for i, step in enumerate(plan.steps):
            last = i == len(plan.steps) - 1
            try:
                target, (stream, first) = await self.executor.run(
                    deadline.rung(plan, step), open_one, attempts, charge=charge
                )
            except GatewayError:
                if last and fallback is None:
                    raise
                trail.append(f"{step[0].dep.model} unavailable")
                if last and fallback is not None:  # a whole answer that failed is better than none
                    return await self._replay(fallback, abandoned, trail)
                continue
            if last or cs.hold_tokens == 0:
                return target, stream, first, abandoned, "; ".join(trail)
            answered = next(a for a in reversed(attempts) if a.outcome == "ok")
            hold = Hold(first, _choices(body))
            try:
                await hold.read(aiter(stream), cs.hold_tokens * _CHARS_PER_TOKEN, deadline)
            except (AttemptFailed, GatewayError) as e:
                # Nothing to verify or release: the next rung, whatever the budget. (A translator
                # reads the provider's own error event as an UpstreamFailed, a GatewayError.)
                why = f"stream failed: {e.message}"
                abandoned += await self._abandon(stream, target, body, hold.text, answered, why)
                trail.append(f"{target.dep.model} {why}")
                continue
            except BaseException:  # the client left while the stream was held: close it and bill it
                await self._abandon(stream, target, body, hold.text, answered, "client left while held")
                raise
            held, text = hold.events, hold.text
            context, side = self._stream_context(plan, i, body, attempts, target, deadline, charge)
            try:
                verdict, reason = await self.held_verdict(body, held, hold.texts, hold.finished, cs, context)
            except BaseException:  # the client left during a second sample or the judge: as above
                await self._abandon(stream, target, body, text, answered, "client left while held")
                raise
            abandoned += side[0]  # second samples, partners and judges asked: paid with the row
            answered.verdict, answered.message = verdict.value, reason
            # An unsure prefix is no reason to escalate: only a whole answer can be judged unsure.
            unsure = verdict is Verdict.UNSURE and cs.escalate_on_unsure and hold.finished
            bad = verdict is Verdict.FAIL or unsure
            if bad and hold.pending is None and self.budget.allows(plan.route, cs.escalation_budget_pct):
                cost = await self._abandon(stream, target, body, text, answered, reason)
                abandoned += cost
                self.budget.failed(plan.route, cost)
                trail.append(f"{target.dep.model} {reason}")
                whole = completion_from_events(held) if hold.finished else None
                fallback = (target, whole) if whole is not None else fallback
                continue
            trail.append(f"{target.dep.model} held {len(held)} events, {reason}")
            if hold.pending is not None:  # no time left to escalate: released as far as it was checked
                trail.append("the deadline ended the hold")
            elif bad:
                trail.append("escalation budget spent")
            return target, HeldStream(stream, held[1:], hold.pending), held[0], abandoned, "; ".join(trail)
        raise AssertionError("unreachable: the last step returns or raises")

    def _stream_context(
        self,
        plan: Plan,
        i: int,
        body: dict[str, Any],
        attempts: list[Attempt],
        target: Target,
        deadline: Deadline,
        charge: Charger | None = None,
    ) -> tuple[VerifyContext, list[float]]:
        """The async verifiers' context for a held stream, as `complete` gives it: the judge, and
        a second sample or the next rung's answer (asked without streaming, only when the held
        answer came whole and can be compared). Returns it with the spend of what it asks."""
        assert plan.steps is not None and plan.cascade is not None
        cs, spent = plan.cascade, [0.0]
        context = self._judge(cs, attempts, spent, deadline, charge)
        if i == len(plan.steps) - 1 or not (cs.agreement or cs.verify.self_consistency):
            return context, spent
        body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}  # a whole answer
        if cs.agreement:
            partner = plan.steps[i + 1][0]
            context.sample = functools.partial(
                self._side_call,
                partner,
                _partner_body(body),
                attempts,
                spent,
                deadline,
                "partner",
                charge,
            )
        else:
            sample = _sample_body(body)
            context.sample = functools.partial(
                self._side_call, target, sample, attempts, spent, deadline, "second_sample", charge
            )
        return context, spent

    @staticmethod
    async def _replay(
        fallback: tuple[Target, dict[str, Any]], abandoned: float, trail: list[str]
    ) -> tuple[Target, EventStream, bytes, float, str]:
        """A whole answer that failed verification, replayed as a stream when no rung above it can
        answer, as `complete` returns it; it was billed when abandoned, so it costs nothing more."""
        target, answer = fallback
        trail.append(f"answered with {target.dep.model}'s answer, which failed verification")
        stream = CachedStream(answer, str(answer.get("id") or "chatcmpl-fallback"))
        return target, stream, await anext(aiter(stream)), abandoned, "; ".join(trail)

    @staticmethod
    async def _abandon(
        stream: EventStream, target: Target, body: dict[str, Any], text: str, answered: Attempt, why: str
    ) -> float:
        """Close a held stream (the upstream sees the connection close) and bill it: with the usage
        the provider reported when the hold read it to its end (hidden reasoning tokens included),
        else up to the cancel, the prompt plus what it generated, estimated; priced from the catalog
        unless the provider said what the call cost."""
        await stream.aclose()
        model = target.dep.model
        usage = stream.usage or Usage(
            tokens.count_prompt(body, model), tokens.count_text(text, model), estimated=True
        )
        cost = stream.cost_usd if stream.cost_usd is not None else price(target.info, usage)
        answered.bill(cost, usage)
        answered.message = why
        return cost

    @staticmethod
    async def held_verdict(
        body: dict[str, Any],
        held: list[bytes],
        texts: Mapping[int, str],
        finished: bool,
        cs: CascadeSettings,
        context: VerifyContext | None = None,
    ) -> tuple[Verdict, str]:
        """The verdict on a held stream and its reason; `texts` is each choice's held text. A short
        answer that came whole is verified like any answer, every choice (tool calls, a second
        sample or partner and the judge included, through `context`); a longer one gets the prefix
        checks on each choice, which can only fail it: when they find nothing the verdict is unsure
        (it vouches for no answer, so it is neither a learned pass nor proof for the cache)."""
        if finished:
            answer = completion_from_events(held) or {
                "choices": [
                    {"index": i, "message": {"role": "assistant", "content": text}}
                    for i, text in sorted(texts.items())
                ]
            }
            outcome = await verify(body, answer, cs.verify, context)
            return outcome.verdict, outcome.reason()
        # What each choice says so far: its tool calls' arguments are no text to read for a language
        # or a refusal (a German prompt's search query may well be English), as for a whole answer.
        check = verify_stream_prefixes(body, choice_texts(held, said=True), cs.verify)
        if check is not None:
            return Verdict.FAIL, f"fail: {check.describe()}"
        return Verdict.UNSURE, "unsure: only the held prefix was checked"


class Hold:
    """The events of a stream held back for verification: read until each of its `choices` has
    `limit` characters of output or has finished (all finished: to the end of the stream), the end
    of the stream, or the deadline. (Choices
    interleave: a limit on all their text together would check each of n choices on 1/n of it.) At
    the deadline the read of the next event is left running (`pending`): cancelling it would close
    the stream, and its answer is still wanted."""

    def __init__(self, first: bytes, choices: int = 1) -> None:
        self.events = [first]
        self.texts = choice_texts([first])  # each choice's text: a stream of several interleaves them
        self.done = set(finished_choices(first))
        self.choices = choices
        self.finished = False
        self.pending: asyncio.Future[bytes] | None = None

    @property
    def text(self) -> str:
        """All the held output, every choice's (what is billed)."""
        return "".join(self.texts.values())

    def _short(self, limit: int) -> bool:
        """Some choice has neither `limit` characters held nor finished; or every choice finished,
        and the rest of the stream (its usage) is read so that the answer is verified whole."""
        texts, done = self.texts, self.done
        if all(i in done for i in range(self.choices)):
            return True
        return any(i not in done and len(texts.get(i, "")) < limit for i in range(self.choices))

    async def read(self, it: AsyncIterator[bytes], limit: int, deadline: Deadline) -> None:
        while self._short(limit):
            nxt: asyncio.Future[bytes] = asyncio.ensure_future(anext(it))
            try:
                done, _ = await asyncio.wait({nxt}, timeout=max(deadline.left(), 0.0))
            except BaseException:
                await stop_read(nxt)  # before the stream is closed: a generator mid-read cannot be
                raise
            if not done:
                self.pending = nxt
                return
            try:
                event = nxt.result()
            except StopAsyncIteration:
                self.finished = True
                return
            failed = read_ahead_failure(event)
            if failed is not None:  # not held as text: the stream broke before anything went out
                raise failed
            self.done.update(finished_choices(event))
            self.events.append(event)
            choice_texts([event], self.texts)


def _choices(body: dict[str, Any]) -> int:
    """How many choices the request asks for (`n`, 1 when absent or not a small whole number)."""
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 128 else 1
