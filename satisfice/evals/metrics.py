"""RouteLLM's two-model metrics on a cost-quality curve (Ong et al., "RouteLLM", arXiv 2406.18665).

A curve is a list of points (strong-call share, quality) in any order; the functions sort it by share.
  PGR(q)     = (q - weak) / (strong - weak): the share of the weak-to-strong performance gap recovered.
  APGR       = the area under PGR over the curve's share range divided by that range (RouteLLM's
               `(AUC - weak_auc) / (strong_auc - weak_auc)` with the trapezoidal rule). `evaluate`
               anchors every router curve at (0, weak) and (1, strong), the all-weak and all-strong
               routers, so the range is [0, 1] and a random router scores 0.5.
  CPT(x)     = the smallest strong-call share at which the piecewise-linear curve reaches PGR = x
               (RouteLLM reports CPT(50%) and CPT(80%)); None when the curve never gets there.
  share_for  = the same for an absolute quality target, e.g. 0.95 x the strong model's quality.
PGR, APGR and CPT are None when the strong model is not better than the weak one: there is no gap to
recover, and dividing by a negative one would turn a bad router into a "good" one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
_EPS = 1e-12  # a target computed as weak + 0.5 x gap may miss an exactly equal point by one ulp


def _sorted(shares: Sequence[float] | Array, qualities: Sequence[float] | Array) -> tuple[Array, Array]:
    x = np.asarray(shares, dtype=np.float64)
    y = np.asarray(qualities, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError("a curve needs as many shares as qualities (at least one point)")
    order = np.lexsort((y, x))
    return x[order], y[order]


def pgr(quality: float, weak: float, strong: float) -> float | None:
    if strong <= weak:
        return None
    return (quality - weak) / (strong - weak)


def apgr(
    shares: Sequence[float] | Array, qualities: Sequence[float] | Array, weak: float, strong: float
) -> float | None:
    """Average performance gap recovered: area under the PGR curve over its share range / that range."""
    x, y = _sorted(shares, qualities)
    span = float(x[-1] - x[0])
    if strong <= weak or span <= 0:
        return None
    area = float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))
    return (area - weak * span) / ((strong - weak) * span)


def share_for(
    shares: Sequence[float] | Array, qualities: Sequence[float] | Array, target: float
) -> float | None:
    """The smallest share from which the piecewise-linear curve stays at or above quality `target`
    (None when its end is below). A measured curve can rise above the target and dip back; its first
    crossing would report that blip, not a share one can rely on."""
    x, y = _sorted(shares, qualities)
    below = np.flatnonzero(y < target - _EPS)
    if below.size == 0:
        return float(x[0])
    i = int(below[-1])
    if i == x.size - 1:
        return None
    frac = min(1.0, max(0.0, (target - y[i]) / (y[i + 1] - y[i])))
    return float(x[i] + frac * (x[i + 1] - x[i]))


def cpt(
    shares: Sequence[float] | Array,
    qualities: Sequence[float] | Array,
    weak: float,
    strong: float,
    recover: float,
) -> float | None:
    """Call-performance threshold: the strong-call share needed to recover `recover` (e.g. 0.5) of the gap."""
    if strong <= weak:
        return None
    return share_for(shares, qualities, weak + recover * (strong - weak))


def oracle_curve(weak_q: Array, strong_q: Array) -> tuple[Array, Array]:
    """The best quality reachable with at most a share s of strong calls (RouteLLM's "optimal"): send
    the prompts where the strong model gains most first. Exact (one point per prompt count)."""
    n = weak_q.size
    gains = np.sort(np.maximum(strong_q - weak_q, 0.0))[::-1]
    cum = np.concatenate(([0.0], np.cumsum(gains)))
    return np.arange(n + 1) / n, float(weak_q.mean()) + cum / n


def curve_metrics(
    shares: Sequence[float] | Array, qualities: Sequence[float] | Array, weak: float, strong: float
) -> dict[str, float | None]:
    return {
        "apgr": apgr(shares, qualities, weak, strong),
        "cpt50": cpt(shares, qualities, weak, strong, 0.5),
        "cpt80": cpt(shares, qualities, weak, strong, 0.8),
        # No gap (the dearer model is no better): the weak model alone, share 0, reaches 95 % of the
        # strong one's quality; the curve's later dips below it would report a share near 1.
        "share_for_95": 0.0 if strong <= weak else share_for(shares, qualities, 0.95 * strong),
    }
