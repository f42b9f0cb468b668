"""Off-policy value of routing with one set of statistics, on logged decisions and their outcomes.

Each logged decision is replayed: its raw predictions are adjusted with the statistics and the knob
picks a candidate (`knob.choose`, the auto rule; a cascade is judged by its first step and what
that led to). The value of that pick is
  - its logged score when the decision observed it (the chosen model, or a cascade's escalation);
    choosing the logged model again is worth what it led to: the answer a cascade escalated to
    (or a failover fell back to), at the cost of both,
    with the inverse-propensity correction r_hat + (r - r_hat) / p for the logged action when the
    logging policy chose at random (p < 1), i.e. the doubly robust estimator;
  - otherwise a direct-method estimate: the raw prediction updated (as `posterior` does) with the
    outcomes logged for that model in the segment on the OTHER half of the decisions (cross-fitting,
    halves by request id). Both sets of statistics are judged by this one estimate, and no decision
    is judged by its own outcomes. (Judging an unobserved pick by the raw prediction, as before,
    blocked exactly the corrections learning exists for: on RouterBench a change that lifted held-out
    accuracy from 0.647 to 0.737 at lower cost was estimated 0.08 worse.)
minus cost / W when the decision's knob is `wtp=W` (or a willingness to pay is configured).
The doubly robust value is clipped to [0, 1], and each decision is weighted by its age with the
statistics' half-life, so the replay follows drift as the statistics do.

A decision's routing depends only on the statistics of its (route, cluster) segment, so the estimate
is kept per segment and the gate can promote segment by segment: a change that hurts one cluster
does not ride along with one that helps another.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from satisfice.errors import InvalidRequest
from satisfice.learn.records import (
    BetaStat,
    Correction,
    Outcome,
    StatKey,
    corrected,
    correction,
    fold,
    outranked,
)
from satisfice.learn.store import Logged
from satisfice.routing.knob import Knob, choose, parse_knob

Segment = tuple[str, int]  # (route, cluster)


@dataclass(slots=True)
class Estimate:
    """Summed rewards of the two policies over `n` replayed decisions (of one segment, or all)."""

    old_sum: float = 0.0  # weighted by each decision's age, as the statistics decay
    new_sum: float = 0.0
    weight: float = 0.0  # the decisions' summed weights
    n: int = 0  # decisions replayed
    changed: int = 0  # of which the two policies pick differently
    exact: bool = True  # every pick had an observed outcome under deterministic logging: plain replay
    skipped: int = 0  # decisions that could not be replayed (no knob, malformed, no usable outcome)

    @property
    def old(self) -> float:
        return self.old_sum / self.weight if self.weight else 0.0

    @property
    def new(self) -> float:
        return self.new_sum / self.weight if self.weight else 0.0

    def add(self, other: Estimate) -> None:
        self.old_sum += other.old_sum
        self.new_sum += other.new_sum
        self.weight += other.weight
        self.n += other.n
        self.changed += other.changed
        self.exact = self.exact and other.exact
        self.skipped += other.skipped


def _observed(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Mean logged score per model (a request can carry several sources' outcomes for one model),
    leaving out a verdict that the user's feedback on the same answer outranks."""
    by_model: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_model.setdefault(o.model, []).append(o)
    out = {}
    for m, os in by_model.items():
        kept = [o.score for o in os if not outranked(o, os)]
        out[m] = sum(kept) / len(kept)
    return out


def half_of(request_id: str) -> int:
    return zlib.crc32(request_id.encode()) & 1


def _stats_by_half(
    outcomes: Iterable[Outcome], half_life: float
) -> tuple[dict[StatKey, BetaStat], dict[StatKey, BetaStat]]:
    """The logged outcomes folded into statistics separately for the two halves of the decisions."""
    halves: tuple[dict[StatKey, BetaStat], dict[StatKey, BetaStat]] = ({}, {})
    for o in outcomes:
        if not o.counted:  # as in the statistics themselves
            continue
        stats = halves[half_of(o.request_id)]
        key = (o.route, o.cluster, o.model)
        stats[key] = fold(stats.get(key), o.score, o.ts, half_life, predicted=o.predicted)
    return halves


class _Corrections:
    """The corrections of one set of statistics at one time, each worked out on first use."""

    def __init__(
        self, fix: Callable[[BetaStat | None], Correction | None], stats: Mapping[StatKey, BetaStat]
    ):
        self._fix, self._stats = fix, stats
        self._done: dict[StatKey, Correction | None] = {}

    def of(self, keys: Sequence[StatKey]) -> list[Correction | None]:
        out = []
        for k in keys:
            if k not in self._done:
                self._done[k] = self._fix(self._stats.get(k))
            out.append(self._done[k])
        return out


def estimate(
    logged: Logged,
    old_stats: Mapping[StatKey, BetaStat],
    new_stats: Mapping[StatKey, BetaStat],
    *,
    now: float,
    half_life: float,
    prior_strength: float,
    min_evidence: float,
    wtp_usd: float | None = None,
) -> dict[Segment, Estimate]:
    """Per (route, cluster) segment: the two policies' summed rewards on its logged decisions. Two
    passes over `logged` (the outcomes for the cross-fitted statistics, then the decisions), each a
    stream: the check's memory does not grow with the decisions it replays."""
    out: dict[Segment, Estimate] = {}
    halves = _stats_by_half(logged.outcomes(), half_life)
    fix = functools.partial(
        correction, now=now, half_life=half_life, prior_strength=prior_strength, min_evidence=min_evidence
    )
    # A statistic's correction depends on it and `now` alone: worked out once per check, not for
    # every decision that replays it (that was most of a check's time).
    by_half = (_Corrections(fix, halves[0]), _Corrections(fix, halves[1]))
    policies = (_Corrections(fix, old_stats), _Corrections(fix, new_stats))
    for d, outcomes in logged.events():
        seg = out.setdefault((d.route, d.cluster), Estimate())
        m = len(d.candidates)
        obs = _observed(outcomes)
        try:
            knob: Knob = parse_knob(d.knob)
        except InvalidRequest:
            knob = Knob("", 0.0)
        if not knob.kind or m == 0 or len(d.predictions) != m or not any(c in obs for c in d.candidates):
            seg.skipped += 1
            continue
        keys = [d.stat_key(c) for c in d.candidates]
        r_hats = corrected(d.predictions, by_half[1 - half_of(d.request_id)].of(keys))
        cost = [float(x) for x in d.costs] if len(d.costs) == m else [0.0] * m
        per_usd = 1.0 / knob.value if knob.kind == "wtp" else (1.0 / wtp_usd if wtp_usd else 0.0)
        picks = [choose(corrected(d.predictions, p.of(keys)), cost, knob, d.share()) for p in policies]
        # What the logged choice led to: a cascade that escalated (or a failover) answered with a
        # later model, so choosing d.model again is worth that answer, at both models' cost.
        led_to = d.candidates.index(d.answered) if d.answered in d.candidates else None
        values = []
        for j in picks:
            paid = cost[j]
            if d.candidates[j] == d.model and led_to is not None and led_to != j:
                paid += cost[led_to]
                j = led_to
            name, r_hat = d.candidates[j], r_hats[j]
            if name not in obs:
                value, seg.exact = r_hat, False
            elif name == d.model and d.propensity < 1.0:
                # Clipped to the reward's range: a few explored outcomes, each weighted 1/p, must
                # not make a policy look better than any policy can be.
                dr = r_hat + (obs[name] - r_hat) / max(d.propensity, 1e-3)
                value, seg.exact = min(max(dr, 0.0), 1.0), False
            else:
                value = obs[name]
            values.append(value - per_usd * paid)
        # Older decisions count less, as their outcomes do in the statistics (same half-life): a
        # month of equal weight would outvote the recent drift the decay exists to follow.
        w = 0.5 ** (max(now - d.ts, 0.0) / half_life) if half_life > 0 else 1.0
        seg.old_sum += w * values[0]
        seg.new_sum += w * values[1]
        seg.weight += w
        seg.n += 1
        seg.changed += picks[0] != picks[1]
    return out
