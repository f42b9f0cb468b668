"""Learning from outcomes: success statistics per (route, prompt cluster, model) shift the router's
predictions, but only once the promotion gate has shown on logged outcomes that they do not make
routing worse.

Two sets of statistics: the candidate ones (every outcome folds in at once, in the store) and the
promoted ones (a snapshot of the candidate ones taken when a gate check passed). `adjust`, on the
request path, reads only the promoted snapshot, held in memory and swapped whole.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from satisfice.learn.gate import Estimate, Segment, estimate
from satisfice.learn.records import (
    NO_ANSWER,
    SOURCES,
    BetaStat,
    Decision,
    GateResult,
    NotAnswered,
    Outcome,
    StatKey,
    posterior,
)
from satisfice.learn.store import LearnStore

log = logging.getLogger("satisfice.learn")
DAY = 86400.0
PROMOTE_ATTEMPTS = 3  # checks in a row that another worker's promotion overtook before giving up


def _by_segment(stats: Mapping[StatKey, BetaStat]) -> dict[Segment, dict[StatKey, BetaStat]]:
    out: dict[Segment, dict[StatKey, BetaStat]] = {}
    for k, v in stats.items():
        out.setdefault((k[0], k[1]), {})[k] = v
    return out


class Learner:
    def __init__(
        self,
        store: LearnStore,
        *,
        half_life_s: float = 7 * DAY,
        prior_strength: float = 10.0,
        min_evidence: float = 5.0,
        clock: Callable[[], float] = time.time,
        tolerance: float = 0.005,
        min_checked: int = 20,
        max_checked: int = 20_000,
        window_s: float | None = None,
        retention_s: float | None = None,
        feedback_window_s: float = 7 * DAY,
        wtp_usd: float | None = None,
    ) -> None:
        """`tolerance`: how much lower (in mean reward) the candidate may estimate and still be
        promoted. `min_checked`: a (route, cluster) segment with fewer replayable decisions keeps its
        promoted statistics.
        `window_s` (default 4 half-lives): how far back the gate looks, at most `max_checked`
        decisions. `retention_s` (default the window, at least 30 days): decisions older than this are
        pruned; `feedback_window_s`: so are those that no outcome reached by then. `wtp_usd`:
        dollars per quality point, to charge cost in the gate's reward for knobs other than wtp
        (None: reward is the score alone)."""
        if half_life_s <= 0 or prior_strength < 0 or min_evidence < 0:
            raise ValueError("half_life_s must be > 0; prior_strength and min_evidence >= 0")
        self.store = store
        self.half_life_s = half_life_s
        self.prior_strength = prior_strength
        self.min_evidence = min_evidence
        self.clock = clock
        self.tolerance = tolerance
        self.min_checked = min_checked
        self.max_checked = max_checked
        self.window_s = window_s if window_s is not None else 4 * half_life_s
        self.retention_s = retention_s if retention_s is not None else max(self.window_s, 30 * DAY)
        # A decision no outcome reached within this long is forgotten (feedback on it is a 404):
        # most never get one, and at 100 requests/s a month of them is ~130 GB.
        self.feedback_window_s = feedback_window_s
        self.wtp_usd = wtp_usd
        self._version, self._promoted = store.promoted()
        self._gate = threading.Lock()
        # The routes the promoted statistics are of, kept with the dict they were read from.
        self._routes: tuple[object, frozenset[str]] = (None, frozenset())

    # ---------------------------------------------------------------- the request path

    def record_decision(self, d: Decision) -> None:
        self.store.save_decision(d)

    def record_answer(self, request_id: str, model: str) -> None:
        """The model whose answer the client got, when a cascade escalated past the chosen one:
        feedback without a model is credited to it. NO_ANSWER: the request failed."""
        self.store.set_answer(request_id, model)

    def observe(
        self,
        request_id: str,
        score: float,
        source: str,
        model: str | None = None,
        decision: Decision | None = None,
        wait_for_answer: bool = False,
    ) -> bool:
        """Fold an outcome in (score in [0, 1]: 1 good, 0 bad). `model` defaults to the model that
        answered (feedback) or the chosen one. False when the request id is unknown, or with
        `wait_for_answer` when the request has not said yet whose answer the client got (another
        worker is still finishing it). `decision`: the request's own, when the caller has it (the
        gateway, while it answers: no store read, which could wait for the file's lock, on the
        request path)."""
        if source not in SOURCES:
            raise ValueError(f"unknown outcome source {source!r}; one of {', '.join(SOURCES)}")
        if isinstance(score, bool) or not math.isfinite(score) or not 0.0 <= score <= 1.0:
            raise ValueError(f"score must be a number in [0, 1], got {score!r}")
        d = decision if decision is not None else self.store.decision(request_id)
        if d is None:
            return False
        if source == "feedback" and d.answered is None and wait_for_answer:
            return False
        if source == "feedback" and d.answered == NO_ANSWER:
            # A harness that scores errors as 0 would otherwise teach outages as the model's quality.
            raise NotAnswered(f"request {request_id} got no answer (it failed): there is nothing to score")
        if model is None:
            model = d.answered if source == "feedback" and d.answered else d.model
        predicted = d.predictions[d.candidates.index(model)] if model in d.candidates else None
        o = Outcome(
            request_id,
            d.route,
            d.cluster,
            model,
            source,
            float(score),
            d.ts,
            self.clock(),
            model == d.model,
            predicted,
        )
        self.store.add_outcome(o, self.half_life_s)
        return True

    def adjust(
        self,
        route: str,
        cluster: int | Callable[[], int],
        models: Sequence[str],
        predicted: Sequence[float],
    ) -> list[float]:
        """The predictions shifted by the PROMOTED statistics, thin evidence shifting them in part
        (`evidence_weight`). The gate replays with this same `posterior`. `cluster` may be a
        function, called only when the route has promoted statistics (it tokenises a new prompt)."""
        promoted = self._promoted  # swapped whole by the gate: no lock needed
        if not promoted or route not in self._routes_of(promoted):
            return [float(v) for v in predicted]  # what `posterior` gives without statistics
        if callable(cluster):
            cluster = cluster()
        adjusted: list[float] = posterior(
            np.asarray(predicted, dtype=np.float64),
            [promoted.get((route, cluster, m)) for m in models],
            now=self.clock(),
            half_life=self.half_life_s,
            prior_strength=self.prior_strength,
            min_evidence=self.min_evidence,
        ).tolist()
        return adjusted

    def _routes_of(self, promoted: Mapping[StatKey, BetaStat]) -> frozenset[str]:
        """The routes `promoted` has statistics for (worked out once per promoted dict)."""
        held, routes = self._routes
        if held is not promoted:
            routes = frozenset(route for route, _, _ in promoted)
            self._routes = (promoted, routes)
        return routes

    # ---------------------------------------------------------------- the gate (off the request path)

    def refresh(self) -> None:
        """Route with what the store holds as promoted, when another process promoted since."""
        with self._gate:
            if self.store.promoted_version() != self._version:
                self._version, self._promoted = self.store.promoted()

    def tick(self, every_s: float) -> GateResult | None:
        """The server's periodic call (every worker, often): pick up other workers' promotions, and
        run the gate check when it is due and no other worker has claimed it. None: not run here."""
        self.refresh()
        if not self.store.claim_gate(self.clock(), every_s):
            return None
        return self.run_gate()

    def run_gate(self) -> GateResult:
        """Replay the logged decisions with the promoted and the candidate statistics, per (route,
        cluster) segment; promote a segment's candidate statistics when their estimated value is not
        worse (within `tolerance`) on at least `min_checked` decisions. Logs the check either way.
        The promoted statistics are the store's, shared by every worker: a check starts from them,
        and when another worker promoted while it ran, it runs again from theirs."""
        with self._gate:
            self.store.flush()  # outcomes still queued belong in both the statistics and the replay
            for _ in range(PROMOTE_ATTEMPTS):
                version, old = self.store.promoted()
                result, merged = self._check(old, self.store.stats())
                if merged is None:
                    self.store.log_check(result)
                    self._version, self._promoted = version, old
                    break
                # The check goes on record with the promotion, so routing changes only once the
                # check that allowed it is logged.
                if self.store.promote(merged, result, based_on=version):
                    self._version, self._promoted = version + 1, merged
                    break
            else:
                result = dataclasses.replace(
                    result,
                    promoted=False,
                    promoted_segments=0,
                    reason=f"other workers kept promoting meanwhile, checked again later; {result.reason}",
                )
                self.store.log_check(result)
                self._version, self._promoted = self.store.promoted()
            log.info(
                "learn gate %s (%s): %s",
                "promoted" if result.promoted else "kept",
                result.method,
                result.reason,
            )
            self.store.prune(result.ts - self.retention_s, result.ts - self.feedback_window_s)
            return result

    def _check(
        self, old: dict[StatKey, BetaStat], candidate: dict[StatKey, BetaStat]
    ) -> tuple[GateResult, dict[StatKey, BetaStat] | None]:
        """The gate's verdict, and the statistics to promote (None: none passed)."""
        now = self.clock()
        with self.store.logged(now - self.window_s, self.max_checked) as logged:
            per = estimate(
                logged,
                old,
                candidate,
                now=now,
                half_life=self.half_life_s,
                prior_strength=self.prior_strength,
                min_evidence=self.min_evidence,
                wtp_usd=self.wtp_usd,
            )
        old_seg, new_seg = _by_segment(old), _by_segment(candidate)
        total, passed, notes = Estimate(), set[Segment](), dict[str, list[str]]()
        for seg, e in sorted(per.items()):
            total.add(e)
            label = f"{seg[0]}/{seg[1]} {e.new - e.old:+.4f} on {e.n}"
            if old_seg.get(seg, {}) == new_seg.get(seg, {}):
                continue  # nothing new here: nothing to promote
            if e.n < self.min_checked:
                notes.setdefault("too few outcomes", []).append(label)
            elif e.new >= e.old - self.tolerance:
                passed.add(seg)
                notes.setdefault("promoted", []).append(label)
            else:
                notes.setdefault("blocked (worse)", []).append(label)
        merged = None
        if passed:
            merged = {k: v for k, v in old.items() if (k[0], k[1]) not in passed}
            for seg in passed:
                merged.update(new_seg.get(seg, {}))
        overall = (
            f"candidate {total.new:.4f} vs promoted {total.old:.4f} over {total.n} decisions "
            f"({total.changed} routed differently, {total.skipped} skipped)"
        )
        detail = "; ".join(
            f"{k}: {', '.join(v[:10])}{' ...' if len(v) > 10 else ''}" for k, v in notes.items()
        )
        result = GateResult(
            bool(passed),
            total.old,
            total.new,
            total.n,
            "replay" if total.exact else "dr",
            f"{overall}; {detail or 'no changed statistics to check'}",
            now,
            total.changed,
            len(passed),
            len(notes.get("blocked (worse)", [])),
        )
        return result, merged

    def promoted(self) -> dict[StatKey, tuple[float, float]]:
        """The promoted statistics decayed to now, (successes, failures) per key (for reports)."""
        now = self.clock()
        return {k: v.decayed(now, self.half_life_s) for k, v in self._promoted.items()}
