"""The knob's decision rule (`satisfice.routing.knob.choose`) for whole matrices at once.

`choose_many` loops in Python; a sweep over 100 knob settings x 30 bisection steps x 14,000 prompts
needs the same rule vectorised. `choose_matrix` picks exactly what `choose` picks for every row,
ties included (tests/evals/test_vector.py checks it on random inputs with many ties), and
`calibrate_share_matrix` is `calibrate_share` built on it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from satisfice.routing.knob import Knob, ShareTarget, bisect_share, strongest

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

_SLACK = 1e-12  # the same slack `knob._cheapest_meeting` allows below the target


def _lex_first(mask: Mask, first: Array, second: Array) -> IntArray:
    """Per column of (m, n) arrays (candidates x rows): among `mask`, the lowest `first`, then the lowest
    `second`, then the lowest candidate index (what `np.lexsort((second, first))[0]` gives on the masked
    entries). Candidates run down axis 0: reducing over it is ~50x faster than over a short axis 1."""
    a = np.where(mask, first, np.inf)
    sel = mask & (a == a.min(axis=0))
    b = np.where(sel, second, np.inf)
    sel &= b == b.min(axis=0)
    return np.asarray(sel.argmax(axis=0), dtype=np.int64)


def choose_matrix(quality: Array, cost: Array, knob: Knob, share: ShareTarget | None = None) -> IntArray:
    """`knob.choose` for every row of an (n, m) quality matrix; `cost` is (n, m) or one cost per column."""
    q = np.asarray(quality, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] == 0:
        raise ValueError("no candidates" if q.ndim == 2 else "quality must be an (n, m) matrix")
    qt = np.ascontiguousarray(q.T)
    ct = np.ascontiguousarray(np.broadcast_to(np.asarray(cost, dtype=np.float64), q.shape).T)
    everyone = np.ones(qt.shape, dtype=np.bool_)
    if knob.kind == "wtp":
        score = qt - ct / knob.value
        return _lex_first(everyone, -score, ct)
    if knob.kind == "loss":
        target: Array | float = qt.max(axis=0) - knob.value
    elif knob.kind == "share" and share is not None:
        target = share.target
    else:
        target = knob.value
    ok = qt >= np.asarray(target, dtype=np.float64) - _SLACK
    meeting = _lex_first(ok, ct, -qt)  # the cheapest meeting the target; ties -> the better one
    if knob.kind == "share" and share is not None and share.strong is not None:
        fallback: IntArray | int = share.strong  # nobody meets it: the strongest
    else:
        fallback = _lex_first(
            everyone, -qt, ct
        )  # nobody meets it: the best predicted; ties -> the cheaper one
    return np.where(ok.any(axis=0), meeting, fallback).astype(np.int64)


def calibrate_share_matrix(
    reference_quality: Array, cost: Array, share: float, strong: int | None = None
) -> ShareTarget:
    """`knob.calibrate_share` (same bisection, same result) with the vectorised rule. `strong`: the
    candidate whose share is calibrated (default: the strongest predicted, as `calibrate_share`;
    two-model evaluations pass the dearer model, RouteLLM's strong one)."""
    ref = np.asarray(reference_quality, dtype=np.float64)
    strong = strongest(ref) if strong is None else strong
    costs = np.asarray(np.broadcast_to(cost, ref.shape), dtype=np.float64)

    def strong_share(calibration: ShareTarget) -> float:
        return float(np.mean(choose_matrix(ref, costs, Knob("share", share), calibration) == strong))

    return bisect_share(strong_share, strong, share)
