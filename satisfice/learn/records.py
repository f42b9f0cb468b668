"""What the learner logs and keeps: routing decisions, their outcomes, decayed Beta statistics, gate checks.

Statistics are per (route, prompt cluster, model): a success mass `s` and a failure mass `f`, both
decayed exponentially (half-life) to their reference time `t`. An outcome with score x in [0, 1] adds
x to `s` and 1 - x to `f`, weighted by how old the routed request is, so late feedback counts as
evidence about the model at the time it answered, and folding is order-independent.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from satisfice.routing.knob import ShareTarget

Array = npt.NDArray[np.float64]
StatKey = tuple[str, int, str]  # (route, cluster, model)
SOURCES = ("verify", "upstream_error", "feedback")  # an escalation is a "verify" failure
NO_ANSWER = ""  # `Decision.answered` of a request that failed: the client got no answer to score


class NotAnswered(ValueError):
    """Feedback on a request that got no answer (it failed): there is nothing to score."""


@dataclass(slots=True)
class Decision:
    """One auto/cascade routing decision. `predictions` are the predictor's RAW qualities (before
    `Learner.adjust`): the gate re-applies both sets of statistics to them when it replays."""

    request_id: str
    ts: float
    route: str
    cluster: int
    model: str  # the chosen candidate (the logged action)
    predicted: float  # its quality as routing saw it (adjusted)
    candidates: list[str]
    predictions: list[float]
    knob: str  # str(Knob), e.g. "quality=0.8"; the gate replays it
    propensity: float = 1.0  # P(choosing `model`) under the logging policy; 1.0 when deterministic
    costs: list[float] = field(default_factory=list)  # estimated $ per candidate (empty: unknown)
    share_target: float | None = None  # the calibrated target of a share knob
    answered: str | None = None  # the model whose answer the client got (cascades), when known;
    # NO_ANSWER when the request failed
    share_strong: int | None = None  # a share knob's strongest candidate (ShareTarget.strong)

    def share(self) -> ShareTarget | None:
        """The share knob's calibration as routing used it (None for other knobs)."""
        if self.share_target is None:
            return None
        # (share_strong is None for decisions logged before it was: the best-predicted fallback)
        return ShareTarget(self.share_target, self.share_strong)

    def stat_key(self, model: str) -> StatKey:
        return (self.route, self.cluster, model)


@dataclass(frozen=True, slots=True)
class Outcome:
    request_id: str
    route: str
    cluster: int
    model: str
    source: str
    score: float  # in [0, 1]
    ts: float  # the decision's time: what the decay ages
    observed_at: float
    # Folded into the statistics. Only outcomes of the decision's chosen model are: a model a cascade
    # escalated to is seen only on prompts a cheaper one failed, a sample that makes it look worse
    # than it is. The gate still replays every outcome of the request.
    counted: bool = True
    predicted: float | None = None  # the predictor's raw quality of `model` for this request


@dataclass(frozen=True, slots=True)
class BetaStat:
    s: float
    f: float
    t: float
    # The raw predictions of the same outcomes, summed and decayed alike (NaN: unknown, as for
    # statistics older than this field or an outcome logged without its prediction).
    e: float = math.nan

    def decayed(self, now: float, half_life: float) -> tuple[float, float]:
        w = 0.5 ** (max(now - self.t, 0.0) / half_life)
        return self.s * w, self.f * w

    def mean_prediction(self) -> float:
        """What the predictor expected of these outcomes on average (decay cancels out)."""
        n = self.s + self.f
        return self.e / n if n > 0 else math.nan


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate check. The values are the estimated mean reward of routing with the previously
    promoted statistics and with all candidate statistics, over the `n` replayed decisions."""

    promoted: bool  # some segment's statistics were promoted
    old_value: float
    new_value: float
    n: int  # logged decisions the estimate used
    method: str  # "replay" (every action's outcome observed) | "dr" (direct method + IPS correction)
    reason: str
    ts: float = 0.0
    changed: int = 0  # decisions the candidate statistics route differently
    promoted_segments: int = 0  # (route, cluster) segments whose new statistics were promoted
    blocked_segments: int = 0  # segments whose new statistics replay showed worse


def fold(
    stat: BetaStat | None,
    score: float,
    ts: float,
    half_life: float,
    sign: float = 1.0,
    predicted: float | None = None,
) -> BetaStat:
    """Add (sign=1) or remove (sign=-1, a replaced outcome) one outcome of the request made at `ts`."""
    if stat is None:
        stat = BetaStat(0.0, 0.0, ts, 0.0)
    t = max(stat.t, ts)
    old = 0.5 ** ((t - stat.t) / half_life)
    new = sign * 0.5 ** ((t - ts) / half_life)
    e = stat.e * old + (predicted if predicted is not None else math.nan) * new
    # Removal can leave rounding dust below zero.
    return BetaStat(
        max(stat.s * old + score * new, 0.0), max(stat.f * old + (1.0 - score) * new, 0.0), t, max(e, 0.0)
    )


def apply_outcome(
    stat: BetaStat | None, previous: Outcome | None, outcome: Outcome, half_life: float
) -> BetaStat | None:
    """The statistic after `outcome`, which replaces `previous` (same request, model and source);
    outcomes that are not `counted` leave it as it is (None: there is none yet)."""
    if previous is not None and previous.counted:
        stat = fold(stat, previous.score, previous.ts, half_life, -1.0, previous.predicted)
    if outcome.counted:
        return fold(stat, outcome.score, outcome.ts, half_life, predicted=outcome.predicted)
    return stat


def outranked(o: Outcome, same_answer: Sequence[Outcome]) -> bool:
    """Whether `o` gives way to another outcome of the same request and model: the user's feedback
    outranks the verifier's verdict on the same answer (a verifier passes wrong answers too, and
    two cheap models that agree can both be wrong)."""
    return o.source == "verify" and any(x.source == "feedback" for x in same_answer)


def claim_pending(claimed: float | None, now: float, every_s: float) -> bool:
    """Whether a gate check claimed at `claimed` still holds at `now`: claimed within the last
    `every_s`. A claim further ahead than an interval was made before the clock stepped back, and
    would otherwise stop every check until the clock caught up: it is stale."""
    return claimed is not None and now - every_s < claimed <= now + every_s


def settle(o: Outcome, same_answer: Sequence[Outcome]) -> list[tuple[Outcome | None, Outcome]]:
    """What storing `o` writes, given the outcomes already logged for its request and model: pairs
    (previous, new) for `apply_outcome`, the first for `o` itself (replacing the earlier outcome of
    its source; none when a later one of its source is stored). Feedback arriving after a verdict
    takes the verdict out of the statistics."""
    prev = {x.source: x for x in same_answer}
    earlier = prev.get(o.source)
    if earlier is not None and earlier.observed_at > o.observed_at:
        return []  # a later outcome of this source is in already (another worker wrote it first)
    others = [x for x in same_answer if x.source != o.source]
    if o.counted and outranked(o, others):
        o = replace(o, counted=False)
    writes: list[tuple[Outcome | None, Outcome]] = [(prev.get(o.source), o)]
    verdict = prev.get("verify")
    if o.source == "feedback" and verdict is not None and verdict.counted:
        writes.append((verdict, replace(verdict, counted=False)))
    return writes


def evidence_weight(n: float, min_evidence: float) -> float:
    """The share of its posterior correction a statistic with decayed evidence `n` (s + f) gets:
    n / min_evidence, up to 1 at `min_evidence` and above. A correction thus fades in as outcomes
    accumulate and out as they decay, where a threshold switched it on and off in one step; a
    handful of outcomes still moves little (the correction itself shrinks as n / (n + k) too)."""
    if n <= 0.0:
        return 0.0
    return 1.0 if n >= min_evidence else n / min_evidence


@dataclass(frozen=True, slots=True)
class Correction:
    """What one statistic does to a prediction of its model (see `posterior`): a shift in logit
    space when the statistic knows what the predictor expected of its outcomes, else the pull of a
    Beta prior centred on the prediction towards the outcomes."""

    weight: float  # evidence_weight of the decayed evidence
    shift: float  # logit(rate) - logit(expected); NaN: p̄ unknown, use the Beta prior below
    s: float  # decayed successes and failures (for the Beta prior)
    f: float
    prior_strength: float

    def apply(self, p: float) -> float:
        p = min(max(p, 0.0), 1.0) if math.isfinite(p) else 0.5
        if math.isfinite(self.shift):
            return _sigmoid(_logit(p) + self.weight * self.shift)
        mean = (self.prior_strength * p + self.s) / (self.prior_strength + self.s + self.f)
        return p + self.weight * (mean - p)


def correction(
    st: BetaStat | None, *, now: float, half_life: float, prior_strength: float, min_evidence: float
) -> Correction | None:
    """The statistic's correction at `now`; None when it has no evidence left (it changes nothing)."""
    if st is None:
        return None
    s, f = st.decayed(now, half_life)
    weight = evidence_weight(s + f, min_evidence)
    if weight <= 0.0:
        return None
    expected = st.mean_prediction()
    if not math.isfinite(expected):
        return Correction(weight, math.nan, s, f, prior_strength)
    expected = min(max(expected, _EDGE), 1.0 - _EDGE)
    rate = (prior_strength * expected + s) / (prior_strength + s + f)
    return Correction(weight, _logit(rate) - _logit(expected), s, f, prior_strength)


def corrected(predicted: Sequence[float], corrections: Sequence[Correction | None]) -> list[float]:
    """Each prediction with its model's correction applied (None: unchanged)."""
    return [float(p) if c is None else c.apply(float(p)) for p, c in zip(predicted, corrections, strict=True)]


def posterior(
    predicted: Array,
    stats: Sequence[BetaStat | None],
    *,
    now: float,
    half_life: float,
    prior_strength: float,
    min_evidence: float,
) -> Array:
    """Predictions corrected by the decayed successes and failures, the correction weighted by
    `evidence_weight` (in full from `min_evidence` on; predictions without statistics pass unchanged).

    When the statistics know what the predictor expected of their outcomes (mean p̄), the
    correction is a shift in logit space: the outcomes' success rate, shrunk toward p̄ with a
    Beta(k p̄, k (1 - p̄)) prior, against p̄. Every prompt of the segment moves by the same shift,
    so the predictor's ranking of prompts within it is kept. Without p̄ (older statistics), the
    posterior mean of a Beta(k p, k (1 - p)) prior centred on the prediction p itself."""
    fix = functools.partial(
        correction, now=now, half_life=half_life, prior_strength=prior_strength, min_evidence=min_evidence
    )
    return np.array(corrected(np.asarray(predicted, dtype=np.float64).tolist(), [fix(st) for st in stats]))


_EDGE = 1e-3  # keeps logits finite for predictions and rates of exactly 0 or 1


def _logit(p: float) -> float:
    p = min(max(p, _EDGE), 1.0 - _EDGE)
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
