"""Where the learner keeps decisions, outcomes, statistics and gate checks: a small interface with an
in-memory implementation (tests, single-process trials) and SQLite (`satisfice.learn.sqlite`);
Redis can follow behind the same interface.

Calls from the request path (`save_decision`, `set_answer`, `add_outcome`, `decision`) must not wait
on a database; the rest serve the gate, which runs off the request path and may block.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Protocol

from satisfice.learn.records import (
    BetaStat,
    Decision,
    GateResult,
    Outcome,
    StatKey,
    apply_outcome,
    claim_pending,
    settle,
)

OutcomeKey = tuple[str, str, str]  # (request_id, model, source): a later outcome replaces an earlier one
Event = tuple[Decision, list[Outcome]]  # a logged decision with its outcomes


class Logged(Protocol):
    """The decisions a gate check replays, as one snapshot that can be read more than once (the
    check reads the outcomes, then the decisions), a chunk at a time: the working set of a check
    stays the same size however many decisions it replays."""

    def outcomes(self) -> Iterator[Outcome]:
        """Every outcome of the snapshot's decisions."""
        ...

    def events(self) -> Iterator[Event]:
        """The snapshot's decisions with their outcomes, oldest first."""
        ...


class LoggedList:
    """A snapshot held whole, for stores that hold everything in memory anyway."""

    def __init__(self, events: list[Event]) -> None:
        self._events = events

    def __enter__(self) -> LoggedList:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def outcomes(self) -> Iterator[Outcome]:
        return (o for _, os in self._events for o in os)

    def events(self) -> Iterator[Event]:
        return iter(self._events)


class LearnStore(Protocol):
    def save_decision(self, d: Decision) -> None: ...

    def decision(self, request_id: str) -> Decision | None: ...

    def set_answer(self, request_id: str, model: str) -> None:
        """Record which model's answer the client got (a cascade may escalate past the chosen one)."""
        ...

    def add_outcome(self, o: Outcome, half_life_s: float) -> None:
        """Log the outcome and, when it is `counted`, fold it into its (route, cluster, model)
        statistic, replacing an earlier outcome of the same request, model and source
        (`records.settle`: feedback also takes a verdict on the same answer out)."""
        ...

    def stats(self) -> dict[StatKey, BetaStat]: ...

    def promote(self, stats: Mapping[StatKey, BetaStat], check: GateResult, based_on: int) -> bool:
        """Log the gate check that allowed it and replace the promoted statistics (the ones routing
        uses) as a whole, in one step; unless they changed since version `based_on` was read
        (another process promoted meanwhile): then write nothing and return False."""
        ...

    def promoted(self) -> tuple[int, dict[StatKey, BetaStat]]:
        """The promoted statistics and their version, read together (the version grows by one with
        every save)."""
        ...

    def promoted_version(self) -> int:
        """The promoted statistics' version alone: a cheap check whether they changed."""
        ...

    def claim_gate(self, now: float, every_s: float) -> bool:
        """True when no gate check was claimed within `every_s` before `now`, and claim it: of all the
        processes sharing the store, one runs each check."""
        ...

    def log_check(self, r: GateResult) -> None: ...

    def checks(self, limit: int = 100) -> list[GateResult]:
        """The latest gate checks, oldest first."""
        ...

    def logged(self, since: float, limit: int) -> AbstractContextManager[Logged]:
        """The latest `limit` decisions made at or after `since` that have outcomes, as one snapshot
        while the context is open (writes go on meanwhile, unseen by it)."""
        ...

    def prune(self, before: float, unscored_before: float | None = None) -> None:
        """Forget decisions (and their outcomes) and gate checks made before `before`, and decisions
        without any outcome made before `unscored_before` (no feedback came in time); statistics
        stay."""
        ...

    def flush(self) -> None:
        """Return once every write made so far is readable."""
        ...

    def close(self) -> None: ...

    def problem(self) -> str | None:
        """What is wrong with the store now (writes failing), for /health; None when all is well."""
        ...


class MemoryLearnStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decisions: dict[str, Decision] = {}
        self._outcomes: dict[str, dict[OutcomeKey, Outcome]] = {}
        self._stats: dict[StatKey, BetaStat] = {}
        self._promoted: dict[StatKey, BetaStat] = {}
        self._version = 0
        self._claimed_at: float | None = None
        self._checks: list[GateResult] = []

    def problem(self) -> str | None:
        return None  # in memory: no write can fail

    def save_decision(self, d: Decision) -> None:
        with self._lock:
            self._decisions[d.request_id] = d

    def decision(self, request_id: str) -> Decision | None:
        with self._lock:
            return self._decisions.get(request_id)

    def set_answer(self, request_id: str, model: str) -> None:
        with self._lock:
            d = self._decisions.get(request_id)
            if d is not None:
                self._decisions[request_id] = dataclasses.replace(d, answered=model)

    def add_outcome(self, o: Outcome, half_life_s: float) -> None:
        stat_key: StatKey = (o.route, o.cluster, o.model)
        with self._lock:
            per = self._outcomes.setdefault(o.request_id, {})
            for previous, new in settle(o, [x for x in per.values() if x.model == o.model]):
                st = apply_outcome(self._stats.get(stat_key), previous, new, half_life_s)
                if st is not None:
                    self._stats[stat_key] = st
                per[(new.request_id, new.model, new.source)] = new

    def stats(self) -> dict[StatKey, BetaStat]:
        with self._lock:
            return dict(self._stats)

    def promote(self, stats: Mapping[StatKey, BetaStat], check: GateResult, based_on: int) -> bool:
        with self._lock:
            if based_on != self._version:
                return False
            self._checks.append(check)
            self._promoted, self._version = dict(stats), self._version + 1
            return True

    def promoted(self) -> tuple[int, dict[StatKey, BetaStat]]:
        with self._lock:
            return self._version, dict(self._promoted)

    def promoted_version(self) -> int:
        with self._lock:
            return self._version

    def claim_gate(self, now: float, every_s: float) -> bool:
        with self._lock:
            if claim_pending(self._claimed_at, now, every_s):
                return False
            self._claimed_at = now
            return True

    def log_check(self, r: GateResult) -> None:
        with self._lock:
            self._checks.append(r)

    def checks(self, limit: int = 100) -> list[GateResult]:
        with self._lock:
            return self._checks[-limit:] if limit > 0 else []

    def logged(self, since: float, limit: int) -> LoggedList:
        with self._lock:
            found = [
                (d, list(self._outcomes[rid].values()))
                for rid, d in self._decisions.items()
                if d.ts >= since and self._outcomes.get(rid)
            ]
        found.sort(key=lambda e: e[0].ts)
        return LoggedList(found[-limit:] if limit > 0 else [])

    def prune(self, before: float, unscored_before: float | None = None) -> None:
        unscored = before if unscored_before is None else max(before, unscored_before)
        with self._lock:
            for rid, d in list(self._decisions.items()):
                if d.ts < before or (d.ts < unscored and not self._outcomes.get(rid)):
                    del self._decisions[rid]
                    self._outcomes.pop(rid, None)
            self._checks = [c for c in self._checks if c.ts >= before]

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
