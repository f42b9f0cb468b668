"""The heuristic's hand-set difficulty, computed from the prompt features (no regex at request time).

`baselines.difficulty` scans the text with case-insensitive regexes (0.1-1 ms per prompt: too slow for
the router's 0.2 ms budget). The same cues - length, maths, code, reasoning words, turns - are already
among the text statistics (`features.STAT_NAMES`), so the hand-set score is re-computed from them:

    d = 0.1 + 0.15 * length + 0.25 * maths + 0.25 * code + 0.15 * reasoning + 0.05 * extra turns

Nothing here is fitted. It ranks prompts within a benchmark family about as well as the heuristic
predictor does, and it carries over to families never seen in training (docs/router.md).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from satisfice.predict.embed import DIM
from satisfice.predict.features import STAT_NAMES

Array = npt.NDArray[np.float64]
_S = {name: 2 * DIM + i for i, name in enumerate(STAT_NAMES)}


def cue_difficulty(x: npt.NDArray[np.float32]) -> Array:
    """Hand-set difficulty in [0, 1] of prompt features x, shape (n, N_FEATURES) or (N_FEATURES,)."""
    x = np.asarray(x, dtype=np.float32)

    def col(name: str) -> Array:
        return np.asarray(x[..., _S[name]], dtype=np.float64)

    chars = np.expm1(8.0 * col("log_chars"))
    length = np.minimum(np.log1p(chars / 200.0) / np.log1p(20.0), 1.0)
    maths = col("math_words") > 0
    code = (col("code") > 0) | (col("code_fence") > 0) | (col("code_words") > 0)
    reason = col("reason_words") > 0
    turns = np.clip(np.expm1(col("log_user_turns")) - 1.0, 0.0, 3.0) / 3.0
    d = 0.1 + 0.15 * length + 0.25 * maths + 0.25 * code + 0.15 * reason + 0.05 * turns
    out: Array = np.minimum(d, 1.0)
    return out


def cue_difficulty_one(x: npt.NDArray[np.float32]) -> float:
    """`cue_difficulty` of one feature vector in plain Python floats (~10x faster per request)."""
    v: list[float] = x[_COLS].tolist()
    chars = math.expm1(8.0 * v[0])
    length = min(math.log1p(chars / 200.0) / math.log1p(20.0), 1.0)
    code = v[2] > 0 or v[3] > 0 or v[4] > 0
    turns = min(max(math.expm1(v[6]) - 1.0, 0.0), 3.0) / 3.0
    d = 0.1 + 0.15 * length + 0.25 * (v[1] > 0) + 0.25 * code + 0.15 * (v[5] > 0) + 0.05 * turns
    return min(d, 1.0)


_COLS = [_S[n] for n in ("log_chars", "math_words", "code", "code_fence", "code_words", "reason_words")]
_COLS.append(_S["log_user_turns"])


def mid_quantile(sorted_ref: Array, v: Array | float) -> Array:
    """Mid-rank quantile in [0, 1] of v among the sorted reference values (ties count half)."""
    n = sorted_ref.size
    if n == 0:
        return np.full(np.shape(v), 0.5)
    lo = np.searchsorted(sorted_ref, v, side="left")
    hi = np.searchsorted(sorted_ref, v, side="right")
    out: Array = (lo + hi) / (2.0 * n)
    return out


def quantile_value(sorted_ref: Array, u: Array | float) -> Array:
    """The reference value at quantile u (linear between mid-rank positions; the inverse of
    `mid_quantile` for distinct references)."""
    n = sorted_ref.size
    pos = (np.arange(n) + 0.5) / n
    out: Array = np.asarray(np.interp(u, pos, sorted_ref), dtype=np.float64)
    return out
