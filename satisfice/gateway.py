"""The request path without HTTP: plan a request, run the plan, account for it.

Handlers for each wire format (OpenAI, Anthropic) call this; it speaks the internal OpenAI shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from satisfice import tokens
from satisfice.cache.assemble import CachedStream, completion_from_events, event_text
from satisfice.cache.layer import CacheTicket, Hit, ResponseCache
from satisfice.cascade import CascadeRunner
from satisfice.config import RouteSettings
from satisfice.errors import ContextWindowExceeded, GatewayError
from satisfice.learn.records import NO_ANSWER
from satisfice.learn.records import Decision as LoggedDecision
from satisfice.ledger.cancelled import CancelCharge, OutputSpeeds, charge_cancelled
from satisfice.ledger.record import LedgerRow, LedgerSink, apply_costs, price
from satisfice.providers.base import Deployment
from satisfice.providers.failures import FailureKind
from satisfice.providers.registry import dialect
from satisfice.providers.results import Completion, EventStream, LocalUpstream
from satisfice.providers.runner import HTTPRunner
from satisfice.providers.stream_start import open_first
from satisfice.ratelimit import Admission, RateLimiter
from satisfice.routing.constraints import Needs, needs_of
from satisfice.routing.directory import Target
from satisfice.routing.executor import Attempt, Charger, Executor
from satisfice.routing.hedge import Hedger
from satisfice.routing.planner import Plan, Planner
from satisfice.speculative import speculate, speculate_stream
from satisfice.usage import Usage

# Calls the gateway closed that the provider had started: charged through their attempts, on top
# of the answer (a race's loser, a call that timed out).
CLOSED_CALLS = frozenset({"cancelled", FailureKind.TIMEOUT.value})
# Upstream failures that are about the model on this prompt (see Gateway._learn_failures).
_PROMPT_FAILURES = frozenset(
    {FailureKind.TIMEOUT.value, FailureKind.BAD_RESPONSE.value, FailureKind.CONTEXT_WINDOW.value}
)


@dataclass(slots=True)
class Call:
    """One client request's state as it moves through the gateway, ending as a ledger row."""

    row: LedgerRow
    started: float = field(default_factory=time.perf_counter)
    plan: Plan | None = None
    target: Target | None = None
    attempts: list[Attempt] = field(default_factory=list)
    needs: Needs | None = None
    submitted: bool = False  # the one ledger row is written; later submits are ignored
    knob: str | None = None  # the request's x-satisfice-knob header
    extra_cost_usd: float = 0.0  # cascades: streams abandoned before this one, billed up to the cancel
    # The request's x-satisfice-cache and Cache-Control headers (lower-case names).
    cache_headers: dict[str, str] = field(default_factory=dict)
    cache: CacheTicket | None = None
    hit: Hit | None = None  # answered from the cache: nothing was planned or called
    route: RouteSettings | None = None  # the route the model names (None: a direct model), resolved once
    sent: dict[str, Any] | None = None  # the body as sent upstream (trimmed), when it differs
    notes: list[str] = field(default_factory=list)  # for the ledger's reason: cache near-misses, trimming
    admission: Admission | None = None  # what the rate limits charged (None: no rule applies)
    logged: LoggedDecision | None = None  # the decision handed to the online learner, if any
    unlogged: Plan | None = None  # a plan whose decision is still to be handed over (Gateway._logged)
    assembled: dict[str, Any] | None = None  # a stream's answer, when it was assembled (stream_answered)

    def predicted_quality(self) -> float | None:
        """The predicted quality of the candidate that answers (after a failover or an escalation,
        not the planned one's); None before one answers, or when the route predicts nothing."""
        plan, target = self.plan, self.target
        if plan is None or target is None or plan.scores is None:
            return None
        found = plan.scores.get(plan.candidate(target.dep.provider, target.dep.model))
        return found[0] if found is not None else None

    def headers(self, estimate: bool = False) -> dict[str, str]:
        row = self.row
        # x-request-id: where the OpenAI SDK reads a response's request id (`_request_id`, errors).
        out = {"x-satisfice-request-id": row.id, "x-request-id": row.id, "x-satisfice-cache": row.cache}
        if self.target is not None:
            out["x-satisfice-model"] = self.target.dep.model
            out["x-satisfice-provider"] = self.target.dep.provider
        elif self.hit is not None:
            out["x-satisfice-model"] = row.model
            out["x-satisfice-provider"] = row.provider
            out["x-satisfice-cache-saved-usd"] = f"{row.cache_saved_usd:.8f}"
        if row.route:
            out["x-satisfice-route"] = row.route
        if row.reason:
            out["x-satisfice-reason"] = row.reason.encode("ascii", "replace").decode()[:300]
        if row.knob:
            out["x-satisfice-knob"] = row.knob
        predicted = self.predicted_quality()
        if predicted is not None:
            out["x-satisfice-predicted-quality"] = f"{predicted:.4f}"
        out["x-satisfice-cost-usd"] = f"{row.cost_usd:.8f}"
        out["x-satisfice-baseline-cost-usd"] = f"{row.baseline_cost_usd:.8f}"
        if estimate and self.hit is None:
            out["x-satisfice-cost-estimated"] = "prompt-only"
        if self.admission is not None:
            out.update(self.admission.headers)
        return {k: header_value(v) for k, v in out.items()}


def header_value(text: str) -> str:
    """`text` as an HTTP header value: non-ASCII and control characters percent-encoded (a model
    name may carry either: a control character breaks the response, and raw UTF-8 bytes are read
    as Latin-1 by clients)."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if c.isascii() and c.isprintable() else urllib.parse.quote(c) for c in text)


# Above this prompt size (bytes, an upper bound of its text) exact token counts go to a thread.
_HUGE_PROMPT_BYTES = 512 * 1024


def _trims(route: RouteSettings) -> bool:
    """The route trims prompts (opt-in, `trim.enabled`)."""
    return route.trim is not None and route.trim.enabled


def _max_output(body: dict[str, Any]) -> int:
    """The output cap the client set (0: none)."""
    return int(body.get("max_completion_tokens") or body.get("max_tokens") or 0)


cache_log = logging.getLogger("satisfice.cache")


class Gateway:
    def __init__(
        self,
        planner: Planner,
        executor: Executor,
        runner: HTTPRunner,
        ledger: LedgerSink,
        local: dict[str, LocalUpstream] | None = None,
        cache: ResponseCache | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.planner = planner
        self.limiter = limiter
        self.executor = executor
        self.runner = runner
        self.local = local or {}  # provider name -> in-process upstream (simulated, replay)
        self.ledger = ledger
        self.cache = cache
        self.cascade = CascadeRunner(executor, planner.directory, self._complete_one)
        self.hedger = Hedger(executor)
        self.speeds = OutputSpeeds()  # recent output speed per deployment: prices cancelled calls
        self._cache_writes: set[asyncio.Task[None]] = set()  # answers being stored (_cache_save)

    @staticmethod
    async def _needs(body: dict[str, Any]) -> Needs:
        """What the request needs of a model; a huge prompt's exact token counts, which the
        constraints may need, are made in a worker thread so other requests go on meanwhile."""
        needs = needs_of(body)
        if needs.prompt_bound > _HUGE_PROMPT_BYTES:
            await asyncio.to_thread(needs.count_every_encoding)
        return needs

    def _plan(self, call: Call, body: dict[str, Any], needs: Needs) -> Plan:
        call.needs = needs
        call.row.stream = bool(body.get("stream"))
        plan = self.planner.plan(body["model"], call.needs, call.knob)
        call.plan = plan
        call.row.route = plan.route
        call.row.strategy = plan.strategy
        call.row.reason = plan.reason
        call.row.knob = plan.knob or ""
        call.row.predicted_quality = plan.predicted_quality
        if self.planner.learner is not None and plan.decision is not None:
            # Handed to the learner once the request is on its way: the decision's prompt cluster
            # tokenises a new prompt (~0.1 ms), which need not delay the upstream call.
            call.unlogged = plan
            asyncio.get_running_loop().call_soon(self._logged, call)
        return plan

    async def _complete_one(self, dep: Deployment, body: dict[str, Any]) -> Completion:
        local = self.local.get(dep.provider)
        if local is not None:
            return await local.complete(dep, body)
        return await self.runner.complete(dialect(dep.dialect), dep, body)

    async def admit(self, call: Call, route: str, prompt_tokens: Callable[[], int]) -> None:
        """Charge the request to the rate limits that apply (RateLimited when one is spent). Every
        request counts, before the cache: a cache hit is a request too, though it uses no tokens."""
        limiter = self.limiter
        if limiter is None:
            return
        estimate = prompt_tokens() if limiter.counts_tokens(route) else 0
        call.admission = await limiter.admit(call.row.tenant, route, estimate)
        if call.admission is not None and call.admission.note:
            call.notes.append(call.admission.note)

    async def _route_and_admit(self, call: Call, body: dict[str, Any]) -> None:
        call.route, _ = self.planner.route_for(str(body.get("model", "")))
        name = call.route.name if call.route is not None else str(body.get("model", ""))
        call.row.route = name  # known before anything can refuse the request (a rate limit, trimming)
        if self.limiter is not None:
            limited = name if call.route is not None else self.model_id(name)
            estimate = 0  # read by token limits only
            if self.limiter.counts_tokens(limited):
                bound = tokens.prompt_upper_bound(body)
                if bound > _HUGE_PROMPT_BYTES:
                    # It may be counted exactly (~1 s for 5 MB): in a worker thread, as in _needs.
                    estimate = await asyncio.to_thread(self._prompt_estimate, call, body, limited, bound)
                else:
                    estimate = self._prompt_estimate(call, body, limited, bound)
            await self.admit(call, limited, lambda: estimate)

    def _prompt_estimate(self, call: Call, body: dict[str, Any], limited: str, bound: int) -> int:
        """The prompt tokens a rate limit charges: ~4 bytes a token, an upper bound for English;
        counted when that guess alone would refuse the request for good (over a token limit). A
        route that trims sends at most its trimming limit (the answer's usage corrects the charge)."""
        route, cap = call.route, None
        if route is not None and _trims(route):
            from satisfice.trim import prompt_limit

            cap = prompt_limit(route.trim, self.planner.largest_context(route.name), _max_output(body))
        guess = max(1, bound // 4)  # `bound`: tokens.prompt_upper_bound(body)
        limit = self.limiter.token_limit(limited) if self.limiter is not None else None
        if limit is not None and min(guess, cap if cap is not None else guess) > limit:
            guess = max(1, tokens.count_prompt(body))
        return max(1, min(guess, cap)) if cap is not None else guess

    def model_id(self, name: str) -> str:
        """The catalog id a model name means ("openai/gpt-4o", "gpt-4o-2024-08-06": "gpt-4o"), so a
        rate limit written for a model is not escaped by another of its names."""
        ids = {info.id for info in self.planner.directory.catalog.lookup(name)}
        return ids.pop() if len(ids) == 1 else name

    async def _cache_lookup(self, call: Call, body: dict[str, Any]) -> Hit | None:
        """Decide what the request may do with the cache and look it up; a hit is accounted here."""
        if self.cache is None:
            return None
        name = call.route.name if call.route is not None else None
        ticket = call.cache = self.cache.ticket(call.row.tenant, call.knob, body, call.cache_headers, name)
        hit = await self.cache.lookup(ticket)
        call.row.cache = ticket.status
        if hit is None:
            return None
        call.hit = hit
        entry, row = hit.entry, call.row
        row.route = name or str(body.get("model", ""))
        row.strategy = "cache"
        row.stream = bool(body.get("stream"))
        row.model, row.provider = entry.model, entry.provider
        row.cost_usd = 0.0
        row.baseline_model, row.baseline_cost_usd = entry.baseline_model, entry.baseline_cost_usd
        row.savings_usd = entry.baseline_cost_usd
        row.cache_saved_usd = entry.cost_usd
        similar = f", cosine {hit.similarity:.3f}" if hit.similarity is not None else ""
        age = self.cache.clock() - entry.created
        # Not the producing request's id: the reason is a response header, and another caller could
        # send that id to /v1/feedback. The ledger (operator-only) gets it: see _ledger_row.
        row.reason = f"{hit.kind} cache hit{similar}, {age:.0f} s old"
        self._cache_write(self.cache.served(row.id, hit), f"noting the hit {row.id}")
        return hit

    @staticmethod
    def _ledger_row(call: Call) -> LedgerRow:
        """The row as the ledger keeps it: a hit also names the request whose answer it served."""
        if call.hit is None:
            return call.row
        return replace(call.row, reason=f"{call.row.reason}; the answer of {call.hit.entry.request_id}")

    def _annotate(self, call: Call) -> None:
        if call.cache is not None and call.cache.note:
            call.notes.append(call.cache.note)
        if call.notes:
            call.row.reason = "; ".join([call.row.reason, *call.notes])

    async def _trimmed(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        """`_trim`, in a worker thread for a huge prompt (its token counts would hold the loop:
        ~1 s for 5 MB), so other requests go on meanwhile."""
        route = call.route
        if route is None or not _trims(route):
            return body
        if tokens.prompt_upper_bound(body) > _HUGE_PROMPT_BYTES:
            return await asyncio.to_thread(self._trim, route, call, body)
        return self._trim(route, call, body)

    def _trim(self, route: RouteSettings, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        """Fit the conversation into the trimming route's token budget and its largest context
        window (candidates with smaller windows are then left out by the planner)."""
        from satisfice.trim import trim

        tools = body.get("tools")
        window = self.planner.largest_context(route.name)
        max_output = _max_output(body)
        if window is not None and max_output >= window:
            raise ContextWindowExceeded(
                f"max_tokens ({max_output}) leaves no room for a prompt in route '{route.name}': its "
                f"largest context window is {window} tokens. Please lower max_tokens.",
                param="max_completion_tokens" if body.get("max_completion_tokens") else "max_tokens",
            )
        result = trim(
            body["messages"],
            route.trim,
            context_window=window,
            max_output_tokens=max_output,
            extra_tokens=tokens.count_text(orjson.dumps(tools).decode()) if tools else 0,
        )
        if not result.fits:
            if route.trim.runs("drop_oldest"):
                why = "the system prompt and the last user turn alone need"
            else:  # its level drops no turns
                why = f"at its trimming level ({route.trim.level}), which drops no turns, it needs"
            raise ContextWindowExceeded(
                f"The conversation does not fit route '{route.name}' even after trimming: {why} "
                f"{result.tokens_after} tokens, and the limit is {result.limit}. Please shorten it or "
                "lower max_tokens.",
                param="messages",
            )
        if not result.actions:
            return body
        call.row.trim_tokens_before, call.row.trim_tokens_after = result.tokens_before, result.tokens_after
        call.notes.append("trimmed: " + ", ".join(result.actions))
        call.sent = {**body, "messages": result.messages}
        return call.sent

    def _cache_save(self, call: Call, body: dict[str, Any]) -> None:
        """Keep a successful answer for repeats (when the request may write the cache), in the
        background: an answer never waits on the store (a locked SQLite cache held each one ~0.5 s).
        Shutdown waits for these writes (cache_writes_done)."""
        ticket = call.cache
        if self.cache is None or ticket is None or not ticket.use.write or call.target is None:
            return
        decision = call.plan.decision if call.plan is not None else None
        if decision is not None and decision.explored_from is not None:
            return  # an explored answer is an experiment: repeats get the knob's own pick
        row, model = call.row, call.target.dep.model
        verdicts = [a.verdict for a in call.attempts if a.model == model and a.verdict]
        if verdicts and verdicts[-1] == "fail":
            return  # returned only because nothing better answered (or the budget was spent): not for repeats
        if not isinstance(body.get("usage"), dict):
            # The upstream said nothing: the gateway's count, which a streamed miss gave the client (the
            # relay's `counted`), goes with the answer, or a hit would have no usage to give.
            body = {**body, "usage": Usage(row.prompt_tokens, row.completion_tokens).to_openai()}
        saving = self.cache.save(  # its arguments as they are now, not as the row may change later
            ticket,
            body,
            model=model,
            provider=call.target.dep.provider,
            cost_usd=row.cost_usd,
            baseline_cost_usd=row.baseline_cost_usd,
            baseline_model=row.baseline_model,
            request_id=row.id,
            proven=any(a.verdict == "pass" and a.model == model for a in call.attempts),
        )

        self._cache_write(saving, f"storing the answer of {row.id}")

    def _cache_write(self, work: Awaitable[Any], what: str) -> None:
        """Run a cache write in the background: an answer never waits on the store."""

        async def write() -> None:
            try:
                await work
            except Exception:  # a paid answer goes back whatever keeping it for repeats does
                cache_log.exception("cache: %s failed", what)

        task = asyncio.create_task(write())
        self._cache_writes.add(task)  # held: the loop keeps only a weak reference to a task
        task.add_done_callback(self._cache_writes.discard)

    async def cache_writes_done(self, timeout_s: float = 5.0) -> None:
        """Wait (at most `timeout_s`) for answers still being stored: at shutdown, before the cache closes."""
        if self._cache_writes:
            await asyncio.wait(set(self._cache_writes), timeout=timeout_s)

    def _hit_body(self, call: Call, hit: Hit) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(hit.entry.body)
        body["id"] = "chatcmpl-" + call.row.id[4:]
        body["created"] = int(time.time())
        return body

    async def complete(self, call: Call, body: dict[str, Any]) -> Completion:
        await self._route_and_admit(call, body)
        hit = await self._cache_lookup(call, body)
        if hit is not None:
            answer = self._hit_body(call, hit)
            return Completion(orjson.dumps(answer), answer, None, 0.0)
        result = await self._complete_planned(call, await self._trimmed(call, body))
        self._annotate(call)
        self._cache_save(call, result.body)
        self._remember_turn(call, body, result.body)
        return result

    async def _complete_planned(self, call: Call, body: dict[str, Any]) -> Completion:
        plan = self._plan(call, body, await self._needs(body))

        if plan.steps is not None:

            def estimate(t: Target, r: Completion) -> Usage:
                return self._estimate_completion_usage(t, body, r)

            steps: list[str] = []  # a cascade's trail so far: the ledger keeps it if the request fails
            if plan.strategy == "speculative":
                ran = speculate(self.cascade, plan, body, call.attempts, estimate, self._cancel_charge(body))
            else:
                ran = self.cascade.complete(
                    plan, body, call.attempts, estimate, steps, self._cancel_charge(body)
                )
            with self._trail_on_error(call, steps):
                target, result, usage, total, trail = await ran
            call.target = target
            call.row.reason = f"{call.row.reason}; {trail}"
            self._account(call, usage, total)  # every attempt's cost, failed cheap ones included
            return result

        async def attempt(target: Target) -> Completion:
            return await self._complete_one(target.dep, body)

        async def keep(_: Completion) -> None:
            return None

        if plan.hedge is not None:
            hedged = await self.hedger.run(
                plan, attempt, call.attempts, self._cancel_charge(body), keep, streamed=False
            )
            target, result = hedged.target, hedged.result
            if hedged.note:
                call.notes.append(hedged.note)
        else:
            target, result = await self.executor.run(
                plan, attempt, call.attempts, charge=self._cancel_charge(body)
            )
        call.target = target
        usage = result.usage or self._estimate_completion_usage(target, body, result)
        self._account(call, usage, result.cost_usd)
        return result

    async def open_stream(self, call: Call, body: dict[str, Any]) -> tuple[EventStream, bytes]:
        """Open a stream and read up to its first token: failover happens only up to here, before any
        byte has gone to the client. A cache hit is replayed as a stream."""
        await self._route_and_admit(call, body)
        hit = await self._cache_lookup(call, body)
        if hit is not None:
            cached = CachedStream(self._hit_body(call, hit), "chatcmpl-" + call.row.id[4:])
            return cached, await anext(aiter(cached))
        opened = await self._open_planned(call, await self._trimmed(call, body))
        self._annotate(call)
        return opened

    async def _open_planned(self, call: Call, body: dict[str, Any]) -> tuple[EventStream, bytes]:
        plan = self._plan(call, body, await self._needs(body))

        async def attempt(target: Target) -> tuple[EventStream, bytes]:
            dep = target.dep
            local = self.local.get(dep.provider)
            if local is not None:
                stream: EventStream = await local.stream(dep, body)
            else:
                stream = await self.runner.stream(
                    dialect(dep.dialect), dep, body, plan.reliability.stream_idle_timeout_s
                )
            return await open_first(stream)

        if plan.steps is not None:
            steps: list[str] = []  # as in _complete_planned
            if plan.strategy == "speculative":
                ladder = speculate_stream(
                    self.cascade, plan, body, call.attempts, attempt, self._cancel_charge(body)
                )
            else:
                ladder = self.cascade.open_stream(
                    plan, body, call.attempts, attempt, steps, self._cancel_charge(body)
                )
            with self._trail_on_error(call, steps):
                target, stream, first, abandoned, trail = await ladder
            call.extra_cost_usd = abandoned
            call.row.reason = f"{call.row.reason}; {trail}" if trail else call.row.reason
        elif plan.hedge is not None:

            async def release(opened: tuple[EventStream, bytes]) -> None:
                await opened[0].aclose()

            hedged = await self.hedger.run(
                plan, attempt, call.attempts, self._cancel_charge(body), release, streamed=True
            )
            target, (stream, first) = hedged.target, hedged.result
            if hedged.note:
                call.notes.append(hedged.note)
        else:
            target, (stream, first) = await self.executor.run(
                plan, attempt, call.attempts, charge=self._cancel_charge(body)
            )
        call.target = target
        # Headers go out before the answer exists: price an estimate of the prompt now (labelled as
        # such), with what is already paid: the streams a cascade abandoned, and the racers and
        # calls cut off (a race's or hedge's loser); the ledger gets the final cost from the
        # stream's usage.
        assert call.needs is not None
        prompt_guess = Usage(prompt_tokens=call.needs.prompt_estimate)
        cut_off = sum(a.cost_usd or 0.0 for a in call.attempts if a.outcome in CLOSED_CALLS)
        call.row.cost_usd = price(target.info, prompt_guess) + call.extra_cost_usd + cut_off
        if plan.baseline is not None:
            call.row.baseline_cost_usd = plan.baseline.cost_usd(prompt_guess.prompt_tokens, 0)
        return stream, first

    def finish_stream(self, call: Call, stream: EventStream, body: dict[str, Any]) -> None:
        if call.hit is not None:  # accounted at the lookup
            return
        assert call.target is not None
        body = call.sent or body
        usage = stream.usage
        if usage is None:
            text = "".join(map(event_text, stream.events))
            usage = Usage(
                prompt_tokens=tokens.count_prompt(body, call.target.dep.model),
                completion_tokens=tokens.count_text(text, call.target.dep.model),
                estimated=True,
            )
        cost = stream.cost_usd
        answer_cost = cost if cost is not None else price(call.target.info, usage)
        answered = next((a for a in reversed(call.attempts) if a.outcome == "ok"), None)
        if answered is not None and answered.cost_usd is None:  # so the attempts add up to the row
            answered.bill(answer_cost, usage)
        if call.extra_cost_usd:  # a cascade abandoned earlier streams: they were billed too
            cost = (cost if cost is not None else price(call.target.info, usage)) + call.extra_cost_usd
        self._account(call, usage, cost)

    def stream_answered(self, call: Call, stream: EventStream, body: dict[str, Any]) -> None:
        """A stream whose upstream ended well, before its last bytes go out: the conversation's turn
        is remembered now, so that the client's next request finds it on whichever worker takes it
        (`affinity.py`). Assembled only when it keeps this turn: with "tools", a tool call."""
        if call.hit is not None:
            return
        mode = self._affinity(call)
        if mode == "conversation" or (mode == "tools" and any(b'"tool_calls"' in e for e in stream.events)):
            call.assembled = completion_from_events(stream.events)
            if call.assembled is not None:
                self._remember_turn(call, body, call.assembled)

    async def stream_done(self, call: Call, stream: EventStream, body: dict[str, Any]) -> None:
        """A stream that ended well (and is recorded so): keep the answer it amounts to for repeats.
        Never raises for a cache failure (_cache_save)."""
        if call.hit is not None or call.cache is None or not call.cache.use.write:
            return
        answer = call.assembled if call.assembled is not None else completion_from_events(stream.events)
        if answer is not None:
            self._cache_save(call, answer)

    @staticmethod
    def _affinity(call: Call) -> str:
        """The affinity mode that keeps this call's turn ("none" unless an auto route answered)."""
        plan, route = call.plan, call.route
        return (
            route.affinity if plan is not None and plan.strategy == "auto" and route is not None else "none"
        )

    def _remember_turn(self, call: Call, body: dict[str, Any], answer: dict[str, Any]) -> None:
        """Which candidate answered this turn, for the request that continues it (`affinity.py`):
        the client's own messages (before any trimming), as it will send them back."""
        mode = self._affinity(call)
        if mode == "none" or call.target is None or call.plan is None or call.route is None:
            return
        choices = answer.get("choices")
        message = choices[0].get("message") if isinstance(choices, list) and choices else None
        messages = body.get("messages")
        if isinstance(message, dict) and isinstance(messages, list):
            dep = call.target.dep
            candidate = call.plan.candidate(dep.provider, dep.model)
            self.planner.affinity.remember(call.route.name, mode, messages, message, candidate)

    def _logged(self, call: Call) -> LoggedDecision | None:
        """The decision handed to the learner, handing it over first if that is still to be done
        (what reads it may come before the loop runs the scheduled hand-over)."""
        plan, call.unlogged = call.unlogged, None
        if plan is not None:
            self._log_decision(call, plan)
        return call.logged

    def _log_decision(self, call: Call, plan: Plan) -> None:
        """Hand an auto/cascade decision to the online learner (it queues; nothing waits)."""
        learner, d = self.planner.learner, plan.decision
        if learner is None or d is None or plan.names is None or d.raw_quality is None:
            return
        if d.trivial is not None or d.kept is not None:  # a rule, not the knob, chose: nothing to learn
            return
        first = plan.targets[0].dep if plan.targets else None
        call.logged = LoggedDecision(
            request_id=call.row.id,
            ts=call.row.ts,
            route=plan.route,
            cluster=d.cluster,
            model=plan.candidate(first.provider, first.model) if first else plan.names[d.index],
            predicted=d.quality[d.index],
            candidates=list(plan.names),
            predictions=list(d.raw_quality),
            knob=str(d.knob),
            propensity=d.propensity,
            costs=list(d.cost),
            share_target=d.target if d.knob.kind == "share" else None,
            share_strong=d.strong,
        )
        learner.record_decision(call.logged)

    def _record_answer(self, call: Call, outcome: str) -> None:
        """Note on the logged decision which candidate's answer the client got (a cascade may have
        escalated past the chosen one), or that it got none: feedback is credited, or refused, by
        it. Always written, so that another worker seeing none yet knows to wait for it."""
        learner, plan, logged = self.planner.learner, call.plan, self._logged(call)
        if learner is None or plan is None or logged is None:
            return
        answered = NO_ANSWER
        if outcome == "ok" and call.target is not None:
            answered = plan.candidate(call.target.dep.provider, call.target.dep.model)
        learner.record_answer(call.row.id, answered)

    def _learn_outcomes(self, call: Call) -> None:
        """Verdicts of cascade attempts become outcomes. A verdict on the top rung is left out: it
        could not move the request anywhere, and the verifiers are tuned to catch cheaper models'
        failures (GSM8K's `math_score`, fitted on Mixtral's answers, fails many right GPT-4
        answers), so counting it would rate the top model down on evidence that does not fit it."""
        learner, plan, logged = self.planner.learner, call.plan, self._logged(call)
        if learner is None or plan is None or logged is None:
            return
        steps = plan.steps
        top = plan.candidate(steps[-1][0].dep.provider, steps[-1][0].dep.model) if steps else None
        for a in call.attempts:
            name = plan.candidate(a.provider, a.model)
            if a.verdict in ("pass", "fail") and name != top:
                score = 1.0 if a.verdict == "pass" else 0.0
                learner.observe(call.row.id, score, "verify", model=name, decision=logged)

    @staticmethod
    @contextlib.contextmanager
    def _trail_on_error(call: Call, trail: list[str]) -> Iterator[None]:
        """A cascade that ends in an error leaves what it tried in the ledger's reason."""
        try:
            yield
        except GatewayError:
            if trail:
                call.row.reason = f"{call.row.reason}; {'; '.join(trail)}"
            raise

    def _learn_failures(self, call: Call) -> None:
        """Upstream failures that say something about a model on this prompt become outcomes (score
        0, once per model): it timed out, sent an answer that could not be read, or refused the
        prompt's length. Rate limits, refused keys, lost connections and 5xx are the provider's state,
        not the model's quality: retries, failover and the circuit breakers deal with those."""
        learner, plan, logged = self.planner.learner, call.plan, self._logged(call)
        if learner is None or plan is None or logged is None:
            return
        failed = {plan.candidate(a.provider, a.model) for a in call.attempts if a.outcome in _PROMPT_FAILURES}
        failed -= {
            plan.candidate(a.provider, a.model) for a in call.attempts if a.outcome == "ok"
        }  # a retry answered
        for model in sorted(failed):
            learner.observe(call.row.id, 0.0, "upstream_error", model=model, decision=logged)

    def _account(self, call: Call, usage: Usage, cost_usd: float | None = None) -> None:
        assert call.target is not None and call.plan is not None
        row = call.row
        row.model = call.target.dep.model
        row.provider = call.target.dep.provider
        row.predicted_quality = call.predicted_quality()
        apply_costs(row, call.target.info, call.plan.baseline, usage)
        if cost_usd is not None:  # the provider said what the call cost (replay of recorded calls)
            row.cost_usd = cost_usd
            row.savings_usd = row.baseline_cost_usd - cost_usd
        if row.trim_tokens_before > row.trim_tokens_after and call.target.info is not None:
            trimmed = row.trim_tokens_before - row.trim_tokens_after
            row.trim_saved_usd = trimmed * call.target.info.input_per_mtok / 1e6
        unpriced = [a for a in call.attempts if a.outcome == "ok" and a.cost_usd is None]
        if len(unpriced) == 1:  # the answer (a cascade prices its own attempts): so the attempts add up
            known = sum(a.cost_usd or 0.0 for a in call.attempts if a.outcome not in CLOSED_CALLS)
            unpriced[0].bill(max(row.cost_usd - known, 0.0), usage)
        cancelled = sum(a.cost_usd or 0.0 for a in call.attempts if a.outcome in CLOSED_CALLS)
        if cancelled:  # losers of a race and calls that timed out are charged through their attempts
            row.cost_usd += cancelled
            row.savings_usd = row.baseline_cost_usd - row.cost_usd
        if call.plan.hedge is not None:
            self.hedger.spend.record(call.plan.route, row.cost_usd - cancelled)
        if call.plan.steps is not None:  # the escalation budget's share is of all spend
            self.cascade.budget.spent(call.plan.route, row.cost_usd)
        self._learn_outcomes(call)

    def _charge_unanswered(self, call: Call) -> None:
        """A request that ended without an accounted answer still paid for what its attempts got:
        cheap answers a cascade escalated from, abandoned streams, judges, cancelled racers."""
        row = call.row
        if row.model:
            return  # accounted: its cost already holds every attempt's
        paid = sum(a.cost_usd or 0.0 for a in call.attempts)
        if paid:
            row.cost_usd += paid
            row.savings_usd = row.baseline_cost_usd - row.cost_usd
            if call.plan is not None and call.plan.steps is not None:
                self.cascade.budget.spent(call.plan.route, paid)

    @staticmethod
    def _tokens_used(call: Call) -> int:
        """What a request counts against token rate limits: every upstream call it was billed for
        (a cascade's escalated answers, judges, second samples, cancelled racers), not only the
        answering one; none for a cache hit."""
        if call.hit is not None:
            return 0
        billed = [a.tokens for a in call.attempts if a.tokens is not None]
        return sum(billed) if billed else call.row.prompt_tokens + call.row.completion_tokens

    def _observe_speed(self, call: Call, outcome: str) -> None:
        """Teach the output speed that prices cancelled calls: the answering call's completion
        tokens over its own duration. A non-streamed answer's attempt timed the whole call, so a
        cascade's or a race's answer counts too (speculative strong models were never learned);
        a stream's attempt timed only its first token, so a stream counts when it was the one call."""
        row = call.row
        if outcome != "ok" or call.hit is not None or not row.model:
            return
        answered = [a for a in call.attempts if a.outcome == "ok" and a.model == row.model]
        if len(answered) != 1:
            return
        if not row.stream:
            seconds = answered[0].latency_ms / 1000
        elif len(call.attempts) == 1:
            seconds = row.latency_ms / 1000
        else:
            return
        self.speeds.observe(f"{row.provider}/{row.model}", row.completion_tokens, seconds)

    def _observe_length(self, call: Call, outcome: str) -> None:
        """Teach the planner how long the answering model's answers run (`routing/lengths.py`):
        its completion tokens, hidden reasoning included, for one answer (not n of them)."""
        row, needs, target = call.row, call.needs, call.target
        if outcome != "ok" or call.hit is not None or needs is None or target is None or target.info is None:
            return
        n = needs.body.get("n")
        if isinstance(n, int) and not isinstance(n, bool) and n > 1:
            return
        if needs.max_output is not None and row.completion_tokens >= needs.max_output:
            return  # cut off by the client's cap: not how long the model's answers run
        self.planner.lengths.observe(target.info.id, needs.asks_short_answer, row.completion_tokens)

    def _cancel_charge(self, body: dict[str, Any]) -> Charger:
        """A cancelled call's charge (`ledger/cancelled.py`): its prompt, plus the output it had
        streamed, or else the output estimated from how long it ran at its recent speed."""
        limit = body.get("max_completion_tokens") or body.get("max_tokens")

        def charge(target: Target, seconds: float, seen: str) -> CancelCharge:
            model, info = target.dep.model, target.info
            caps = [c for c in (limit, info.max_output if info is not None else None) if isinstance(c, int)]
            return charge_cancelled(
                info,
                tokens.count_prompt_soon(body, model),
                received_tokens=tokens.count_text_soon(seen, model) if seen else None,
                estimated_tokens=self.speeds.tokens_in(f"{target.dep.provider}/{model}", seconds),
                cap=min(caps) if caps else None,
            )

        return charge

    @staticmethod
    def _estimate_completion_usage(target: Target, body: dict[str, Any], result: Completion) -> Usage:
        texts = []
        for choice in result.body.get("choices") or []:
            msg = choice.get("message") or {} if isinstance(choice, dict) else {}
            texts.append(str(msg.get("content") or ""))
            for tc in msg.get("tool_calls") or []:
                texts.append(str((tc.get("function") or {}).get("arguments", "")))
        model = target.dep.model
        return Usage(
            tokens.count_prompt(body, model), tokens.count_text("\n".join(texts), model), estimated=True
        )

    def submit(
        self,
        call: Call,
        *,
        status: int,
        outcome: str,
        error: GatewayError | str | None = None,
        ttft_s: float | None = None,
    ) -> None:
        """Write the call's one ledger row (off the request path). Only the first submit counts."""
        if call.submitted:
            return
        call.submitted = True
        row = call.row
        row.status = status
        row.outcome = outcome
        row.latency_ms = (time.perf_counter() - call.started) * 1000
        row.ttft_ms = ttft_s * 1000 if ttft_s is not None else None
        row.attempts = orjson.dumps([a.to_json() for a in call.attempts]).decode()
        row.n_attempts = sum(1 for a in call.attempts if a.outcome != FailureKind.CIRCUIT_OPEN.value)
        if error is not None:
            row.error = error.message if isinstance(error, GatewayError) else error
        self._charge_unanswered(call)
        self._learn_failures(call)
        self._record_answer(call, outcome)
        if call.target is not None and not row.model:
            row.model, row.provider = call.target.dep.model, call.target.dep.provider
        self._observe_speed(call, outcome)
        self._observe_length(call, outcome)
        if call.admission is not None and self.limiter is not None:
            self.limiter.settle(call.admission, self._tokens_used(call))
        self.ledger.submit(self._ledger_row(call))
