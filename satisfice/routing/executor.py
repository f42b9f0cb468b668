"""Runs a plan: attempts in fallback order, retries with backoff and jitter that honour Retry-After,
per-attempt timeouts inside one overall deadline, and a circuit breaker per deployment."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from satisfice.config import Reliability
from satisfice.errors import (
    AllCandidatesFailed,
    ContextWindowExceeded,
    GatewayError,
    GatewaySaturated,
    InvalidRequest,
    RateLimited,
    UpstreamFailed,
    UpstreamTimeout,
)
from satisfice.ledger.cancelled import CancelCharge
from satisfice.providers.failures import (
    FAILOVER,
    NOT_SENT,
    RETRYABLE,
    UNHEALTHY,
    AttemptFailed,
    FailureKind,
)
from satisfice.providers.pool import ATTEMPT_WAIT, PoolWait
from satisfice.routing.breaker import BreakerBoard
from satisfice.routing.directory import Target
from satisfice.routing.planner import Plan
from satisfice.usage import Usage

T = TypeVar("T")
# Prices a cancelled call: (its target, seconds it ran, the text it had streamed, "" if none).
Charger = Callable[[Target, float, str], CancelCharge]


@dataclass(slots=True)
class InFlight:
    """The call a run has out now, so a race that cancels the run charges that call: None before
    the first call is sent and while waiting to retry (nothing is billed then); after an answer,
    the target that gave it (a stream it opened may still be running). A call still waiting for a
    connection of the gateway's pool (`pool.queued`) is not out either."""

    target: Target | None = None
    since: float = 0.0  # time.perf_counter() when that call was started (its pool wait included)
    pool: PoolWait | None = None  # the current attempt's waits for a connection


@dataclass(slots=True)
class Attempt:
    provider: str
    model: str
    outcome: str  # "ok" or a FailureKind value
    latency_ms: float
    status: int | None = None
    message: str = ""
    cost_usd: float | None = None  # cascades: what this answered attempt cost
    verdict: str = ""  # cascades: the verifiers' verdict on this attempt's answer
    tokens: int | None = None  # upstream tokens billed (prompt + output), for token rate limits

    def bill(self, cost_usd: float, usage: Usage) -> None:
        """Note what this call cost and the tokens it was billed for."""
        self.cost_usd = cost_usd
        self.tokens = usage.prompt_tokens + usage.completion_tokens

    @classmethod
    def cancelled(cls, target: Target, elapsed_ms: float, charge: CancelCharge) -> Attempt:
        """A call that lost a race (speculative, hedge): closed, and charged what it cost."""
        return cls(
            target.dep.provider,
            target.dep.model,
            "cancelled",
            elapsed_ms,
            message=f"charged {charge.how}",
            cost_usd=charge.cost_usd,
            tokens=charge.tokens,
        )

    @classmethod
    def withdrawn(cls, target: Target, why: str = "not sent yet, or waiting to retry") -> Attempt:
        """A racer cancelled with no call out: nothing billed."""
        return cls(
            target.dep.provider,
            target.dep.model,
            "cancelled",
            0.0,
            message=f"no call was out ({why}): not billed",
            cost_usd=0.0,
            tokens=0,
        )

    @classmethod
    def cancel(cls, flight: InFlight, fallback: Target, charge: Charger, seen: str = "") -> Attempt:
        """The attempt of a racer cancelled now: its call in flight, charged (`Charger`) for the
        time since that call was sent, or `withdrawn` (on `fallback`) when none was out."""
        if flight.target is None:
            return cls.withdrawn(fallback)
        wait = flight.pool
        if wait is not None and wait.queued:  # it never left the gateway: the provider saw nothing
            return cls.withdrawn(flight.target, "waiting for a connection of the gateway's pool")
        ran = time.perf_counter() - flight.since - (wait.waited_s if wait is not None else 0.0)
        return cls.cancelled(flight.target, ran * 1000, charge(flight.target, ran, seen))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "provider": self.provider,
            "model": self.model,
            "outcome": self.outcome,
            "latency_ms": round(self.latency_ms, 2),
        }
        if self.status is not None:
            out["status"] = self.status
        if self.message:
            out["message"] = self.message[:300]
        if self.cost_usd is not None:
            out["cost_usd"] = self.cost_usd
        if self.verdict:
            out["verdict"] = self.verdict
        if self.tokens is not None:
            out["tokens"] = self.tokens
        return out


class Executor:
    def __init__(
        self,
        breakers: BreakerBoard,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.breakers = breakers
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()

    def backoff(self, retry: int, rel: Reliability, retry_after: float | None) -> float:
        # Exponential with "equal jitter": half fixed, half random, so retries spread out.
        delay = min(rel.backoff_max_s, rel.backoff_base_s * (2.0**retry))
        delay = delay / 2 + self.rng.uniform(0, delay / 2)
        return max(delay, retry_after) if retry_after is not None else delay

    async def run(
        self,
        plan: Plan,
        call: Callable[[Target], Awaitable[T]],
        attempts: list[Attempt],
        flight: InFlight | None = None,
        charge: Charger | None = None,
        *,
        charge_cancel: bool = True,
    ) -> tuple[Target, T]:
        """Try the plan's targets in order until one answers; raise the right GatewayError if none does.
        `flight`, when given, follows the call out at each moment (see InFlight). `charge`, when
        given, prices a call the gateway closes that the provider had started: one that timed out,
        and (unless `charge_cancel` is False: a hedge charges its racers itself, through `flight`)
        the call out if the run is cancelled (the client left, the server stops). The provider
        bills them, so they go in `attempts` with their cost."""
        flight = flight if flight is not None else InFlight()
        rel = plan.reliability
        deadline = self.clock() + rel.deadline_s
        last: AttemptFailed | None = None
        for target in plan.targets:
            key = target.dep.key
            if not self.breakers.allow(key):
                attempts.append(
                    Attempt(target.dep.provider, target.dep.model, FailureKind.CIRCUIT_OPEN.value, 0.0)
                )
                last = last or AttemptFailed(FailureKind.CIRCUIT_OPEN, f"circuit open for {key}")
                continue
            retry = 0
            while True:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    self.breakers.release_probe(key)
                    raise self._final(
                        plan,
                        attempts,
                        AttemptFailed(FailureKind.TIMEOUT, "deadline exceeded"),
                        deadline_hit=True,
                    )
                started = self.clock()
                limit = min(rel.timeout_s, remaining)
                # A wait for the gateway's connection pool pushes the timer back (never past the
                # deadline): the upstream gets the whole timeout once the call is sent.
                wait = PoolWait(slack=remaining - limit)
                flight.target, flight.since, flight.pool = target, time.perf_counter(), wait
                try:
                    async with asyncio.timeout(limit) as wait.timer:
                        # Set inside the timer: its handle copies the context, which must not hold
                        # `wait` while `wait` holds the timer (that kept each attempt's task alive
                        # until the cancelled handle was purged, ~2 µs an attempt).
                        watched = ATTEMPT_WAIT.set(wait)
                        try:
                            result = await call(target)
                        finally:
                            ATTEMPT_WAIT.reset(watched)
                            wait.timer = None
                except AttemptFailed as e:
                    failure, billed = e, None
                except TimeoutError:
                    billed = None
                    if wait.queued:  # still waiting for the gateway's own pool: not the upstream's doing
                        failure = wait.saturated(self.clock() - started)
                    else:
                        failure = _timed_out(limit, wait.waited_s)
                        if charge is not None:  # the provider got the prompt and worked until closed
                            billed = charge(target, time.perf_counter() - flight.since - wait.waited_s, "")
                except asyncio.CancelledError:
                    self.breakers.release_probe(key)
                    if charge is not None and charge_cancel:
                        attempts.append(Attempt.cancel(flight, target, charge))
                    raise
                else:
                    self.breakers.record_success(key)
                    attempts.append(
                        Attempt(target.dep.provider, target.dep.model, "ok", (self.clock() - started) * 1000)
                    )
                    return target, result
                flight.target = None  # a failed call is over: nothing is out while waiting to retry
                failed = Attempt(
                    target.dep.provider,
                    target.dep.model,
                    failure.kind.value,
                    (self.clock() - started) * 1000,
                    failure.status,
                    failure.message,
                )
                if billed is not None:
                    failed.message += f"; charged {billed.how}"
                    failed.cost_usd, failed.tokens = billed.cost_usd, billed.tokens
                attempts.append(failed)
                if failure.kind in UNHEALTHY:
                    self.breakers.record_failure(key)
                else:
                    self.breakers.release_probe(key)
                last = failure
                if failure.kind is FailureKind.LOCAL_SATURATED:
                    # The pool is the gateway's, shared by every candidate: the next one would wait
                    # in the same queue, behind newer calls. The client is told to retry shortly.
                    raise self._final(plan, attempts, failure, deadline_hit=False)
                if failure.kind not in FAILOVER:
                    raise _client_error(failure)
                if failure.kind not in RETRYABLE or retry >= rel.retries:
                    break
                delay = self.backoff(retry, rel, failure.retry_after)
                if delay > rel.max_retry_wait_s or self.clock() + delay >= deadline:
                    break  # waiting that long is worse than asking the next candidate
                await self.sleep(delay)
                retry += 1
                if not self.breakers.allow(key):
                    break
        assert last is not None
        raise self._final(plan, attempts, last, deadline_hit=False)

    @classmethod
    def failure(cls, plan: Plan, attempts: list[Attempt]) -> GatewayError:
        """The error of a plan run in pieces (a hedge races two candidates, then fails over to the
        rest) once every piece failed: it speaks for all the plan's candidates, as one run would."""
        skipped = FailureKind.CIRCUIT_OPEN.value  # as in `run`, the last error is of a call made if any
        a = next((a for a in reversed(attempts) if a.outcome != skipped), attempts[-1])
        last = AttemptFailed(FailureKind(a.outcome), a.message, status=a.status)
        return cls._final(plan, attempts, last, deadline_hit=False)

    @classmethod
    def _final(
        cls, plan: Plan, attempts: list[Attempt], last: AttemptFailed, *, deadline_hit: bool
    ) -> GatewayError:
        err = cls._final_error(plan, attempts, last, deadline_hit=deadline_hit)
        if err.status >= 500 and not isinstance(err, GatewaySaturated) and len(attempts) > 1:
            # The gateway already retried or failed over; the OpenAI SDK's own retries (two by
            # default, on any 5xx) would multiply the calls to a failing upstream. It honours this.
            err.headers["x-should-retry"] = "false"
        return err

    @staticmethod
    def _final_error(
        plan: Plan, attempts: list[Attempt], last: AttemptFailed, *, deadline_hit: bool
    ) -> GatewayError:
        tried = (
            "; ".join(
                f"{a.provider}/{a.model}: {a.outcome}{f' {a.status}' if a.status else ''}" for a in attempts
            )
            or "no attempt was made"
        )
        # What the calls made say: a candidate skipped without a call (circuit open, untranslatable)
        # must not turn a rate limit into a 502, nor hide a context-window error.
        all_kinds = {a.outcome for a in attempts}
        kinds = (all_kinds - NOT_SENT) or all_kinds
        if last.kind is FailureKind.LOCAL_SATURATED:
            # The last call was never sent: the gateway is overloaded, whatever came before it.
            return GatewaySaturated(
                f"The gateway is overloaded: {last.message} ({tried}). Retry shortly, or raise "
                "server.upstream_connections.",
                headers={"retry-after": "1"},
            )
        if deadline_hit:
            return UpstreamTimeout(
                f"The request deadline of {plan.reliability.deadline_s:g}s passed ({tried})."
            )
        if kinds == {FailureKind.CONTEXT_WINDOW.value}:
            return ContextWindowExceeded(
                f"The prompt does not fit any candidate's context window: {last.message}", param="messages"
            )
        if kinds == {FailureKind.UNTRANSLATABLE.value}:
            # No candidate's API can carry the request as written: the client's to change.
            return InvalidRequest(last.message, status=last.status, param=last.param, code=last.code)
        if kinds == {FailureKind.RATE_LIMITED.value}:
            headers = {"retry-after": str(int(last.retry_after + 0.999))} if last.retry_after else {}
            return RateLimited(f"Every candidate is rate limited ({tried}).", headers=headers)
        if kinds == {FailureKind.TIMEOUT.value}:
            return UpstreamTimeout(f"No candidate answered in time ({tried}).")
        if kinds == {FailureKind.REFUSED.value} and last.status is not None:
            # Every provider refused (bad key, model unknown there): pass the provider's status on.
            err = UpstreamFailed(
                f"The upstream provider refused the request: {last.message}",
                status=last.status,
                code="model_not_found" if last.status == 404 else "upstream_refused",
            )
            err.type = "invalid_request_error" if last.status == 404 else "authentication_error"
            return err
        if len(plan.targets) == 1:
            return UpstreamFailed(f"The upstream provider failed: {last.message} ({tried}).")
        return AllCandidatesFailed(f"All candidates failed ({tried}). Last error: {last.message}")


def _timed_out(limit: float, waited_s: float) -> AttemptFailed:
    """A call sent that did not answer in time (after `waited_s` waiting for the gateway's pool)."""
    queued = f" (sent after {waited_s:.1f}s waiting for a connection of the gateway's pool)"
    return AttemptFailed(FailureKind.TIMEOUT, f"no answer within {limit:.1f}s{queued if waited_s else ''}")


def _client_error(failure: AttemptFailed) -> GatewayError:
    """An upstream 4xx that the client must fix: pass the provider's words, status, and the field
    and code it named on."""
    return InvalidRequest(
        f"The upstream provider rejected the request: {failure.message}",
        status=failure.status or 400,
        param=failure.param,
        code=failure.code or "upstream_rejected",
    )
