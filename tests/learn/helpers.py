"""Shared pieces of the learner tests: a settable clock, decisions, and both store kinds."""

from __future__ import annotations

from pathlib import Path

from satisfice.learn import Decision, Learner, MemoryLearnStore, Outcome, SQLiteLearnStore
from satisfice.learn.store import LearnStore

CANDS = ["cheap", "strong"]
COSTS = [0.001, 0.01]


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def decision(
    rid: str,
    preds: tuple[float, float] = (0.75, 0.9),
    *,
    ts: float = 1000.0,
    model: str = "cheap",
    route: str = "r",
    cluster: int = 0,
    knob: str = "quality=0.7",
    propensity: float = 1.0,
) -> Decision:
    return Decision(
        rid, ts, route, cluster, model, preds[CANDS.index(model)], list(CANDS), list(preds), knob,
        propensity, list(COSTS),
    )  # fmt: skip


def make_store(kind: str, tmp_path: Path) -> LearnStore:
    if kind == "sqlite":
        return SQLiteLearnStore(str(tmp_path / "learn.db"))
    return MemoryLearnStore()


def learner(store: LearnStore, clock: Clock, *, min_checked: int = 5, tolerance: float = 0.005) -> Learner:
    return Learner(store, half_life_s=1000.0, min_checked=min_checked, tolerance=tolerance, clock=clock)


def logged_events(store: LearnStore, since: float, limit: int) -> list[tuple[Decision, list[Outcome]]]:
    """What a gate check would replay, read whole."""
    with store.logged(since, limit) as logged:
        return list(logged.events())
