"""The cost/quality knob and the one decision rule every router shares (gateway, eval, dry run).

Forms (per route, per key, per request as `x-satisfice-knob` or a model suffix `auto:0.9`):
  quality=T   cheapest candidate whose predicted quality is >= T (bare number: the same)
  loss=L      cheapest candidate within L of the best predicted quality
  share=S     the quality target that sends a share S of a reference prompt set to the strongest
              candidate (RouteLLM-style threshold calibration); a prompt on which no candidate
              reaches it goes to the strongest, so share=1 sends everything there
  wtp=W       willingness to pay: W dollars per request for one whole quality point (0 -> 1);
              picks the candidate maximising quality - cost / W
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from satisfice.errors import InvalidRequest

KINDS = ("quality", "loss", "share", "wtp")
KNOB_HEADER = "x-satisfice-knob"  # the request header that sets the knob
Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Knob:
    kind: str
    value: float

    def __str__(self) -> str:
        """The form `parse_knob` reads back as this very knob (headers, ledger, the gate's replay):
        short where that is exact, else every digit (`:g` alone keeps six)."""
        text = f"{self.value:g}"
        return f"{self.kind}={text if float(text) == self.value else repr(self.value)}"


@dataclass(frozen=True, slots=True)
class ShareTarget:
    """A calibrated `share` knob: the quality target, and the strongest candidate (by mean predicted
    quality on the reference prompts), which takes the prompts no candidate is predicted to meet
    (None: the best predicted takes them, as for the other knobs)."""

    target: float
    strong: int | None


def parse_knob(text: str, *, param: str = "knob") -> Knob:
    """The knob a text names; InvalidRequest (naming `param`) when it names none. Parsed once per
    distinct text: a route's knob is read on every request."""
    return _parse_knob(text, param)


@functools.lru_cache(maxsize=1024)
def _parse_knob(text: str, param: str) -> Knob:
    raw = text.strip()
    kind, sep, value = raw.partition("=")
    if not sep:
        kind, value = "quality", raw
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise InvalidRequest(
            f"Unknown knob form {kind!r} in {text!r}; use one of {', '.join(KINDS)}, e.g. quality=0.9.",
            param=param,
            code="invalid_knob",
        )
    try:
        v = float(value) + 0.0  # -0 is 0 (shown as such)
    except ValueError:
        raise InvalidRequest(
            f"The knob value in {text!r} is not a number.", param=param, code="invalid_knob"
        ) from None
    if (
        not math.isfinite(v)
        or (kind in ("quality", "loss", "share") and not 0.0 <= v <= 1.0)
        or (kind == "wtp" and v <= 0)
    ):
        limits = "a finite number > 0" if kind == "wtp" else "between 0 and 1"
        raise InvalidRequest(
            f"The knob {kind} must be {limits}, got {value}.", param=param, code="invalid_knob"
        )
    return Knob(kind, v)


def _cheapest_meeting(q: list[float], c: list[float], target: float) -> int | None:
    ok = [i for i, v in enumerate(q) if v >= target - 1e-12]
    if not ok:
        return None
    return min(ok, key=lambda i: (c[i], -q[i]))  # cheapest; ties -> the better one, then the first


def best(q: list[float], c: list[float]) -> int:
    return min(range(len(q)), key=lambda i: (-q[i], c[i]))  # best predicted; ties -> the cheaper one


def choose(
    quality: Array | Sequence[float],
    cost: Array | Sequence[float],
    knob: Knob,
    share: ShareTarget | None = None,
) -> int:
    """Index of the candidate to use. `share` is the calibration of a `share` knob (see
    `calibrate_share`); without it a share knob reads its raw value as a quality target.
    Plain Python over a handful of candidates: numpy's per-call cost would dominate here."""
    q = quality.tolist() if isinstance(quality, np.ndarray) else list(quality)
    c = cost.tolist() if isinstance(cost, np.ndarray) else list(cost)
    if not q:
        raise ValueError("no candidates")
    if knob.kind == "wtp":
        w = knob.value
        return min(range(len(q)), key=lambda i: (c[i] / w - q[i], c[i]))  # utility; ties -> cheaper
    if knob.kind == "loss":
        target = max(q) - knob.value
    elif knob.kind == "share" and share is not None:
        found = _cheapest_meeting(q, c, share.target)
        if found is None:
            return best(q, c) if share.strong is None else share.strong
        return found
    else:
        target = knob.value
    found = _cheapest_meeting(q, c, target)
    return best(q, c) if found is None else found


def preference(
    quality: Sequence[float],
    cost: Sequence[float],
    knob: Knob,
    target: float | None,
    strong: int | None = None,
) -> list[int]:
    """Every candidate, in the order the knob prefers them: each is what `choose` would pick were
    the ones before it unavailable (the fallback order when a provider fails). With a quality
    `target` (quality, loss, share), those meeting it cheapest first, then the rest best predicted
    first (a share knob's `strong` candidate leading them); with wtp (`target` None), by utility."""
    q, c, n = quality, cost, len(quality)
    if target is None:
        w = knob.value
        return sorted(range(n), key=lambda i: (c[i] / w - q[i], c[i]))
    low = target - 1e-12
    # One sort: those meeting the target (cheapest, then better, first), then the rest (better,
    # then cheaper, first); a share knob's strong candidate leads the rest.
    lead = strong if strong is not None and q[strong] < low else None
    return sorted(
        range(n),
        key=lambda i: (0, c[i], -q[i]) if q[i] >= low else (1, i != lead, -q[i], c[i]),
    )


def choose_many(
    quality: npt.NDArray[np.float64],
    cost: npt.NDArray[np.float64],
    knob: Knob,
    share: ShareTarget | None = None,
) -> npt.NDArray[np.int64]:
    """`choose` for every row of (n, m) quality and cost matrices."""
    q, c = np.asarray(quality).tolist(), np.broadcast_to(cost, np.shape(quality)).tolist()
    return np.array([choose(qi, ci, knob, share) for qi, ci in zip(q, c, strict=True)], dtype=np.int64)


def strongest(reference_quality: Array) -> int:
    """The candidate with the highest mean predicted quality on the reference prompts."""
    return int(np.argmax(reference_quality.mean(axis=0)))


def calibrate_share(
    reference_quality: npt.NDArray[np.float64], cost: Array, share: float, strong: int | None = None
) -> ShareTarget:
    """The quality target that sends `share` of the reference prompts to the strongest candidate.

    `reference_quality` is (n, m) predictions for the candidates on a reference prompt set; `cost`
    is one typical cost per candidate; `strong` the strongest candidate when the predictions cannot
    say it (a predictor that knows nothing of the models), else the best on average."""
    strong = strongest(reference_quality) if strong is None else strong
    q = np.asarray(reference_quality, dtype=np.float64)
    c = np.broadcast_to(np.asarray(cost, dtype=np.float64), q.shape)

    def strong_share(calibration: ShareTarget) -> float:
        return float(np.mean(share_picks(q, c, calibration) == strong))

    return bisect_share(strong_share, strong, share)


def share_picks(quality: Array, cost: Array, calibration: ShareTarget) -> npt.NDArray[np.int64]:
    """`choose_many` of a calibrated share knob, in numpy: calibrating bisects over the reference
    prompts some 30 times, which in plain Python held the event loop for 0.15-0.4 s per new share
    value. The same picks, ties included: among those meeting the target the cheapest, then the
    better, then the first; else the calibration's strong candidate, or the best predicted, then
    the cheaper, then the first."""
    q, c = quality, cost
    meets = q >= calibration.target - 1e-12
    tie = meets & (c == np.where(meets, c, np.inf).min(axis=1, keepdims=True))
    tie &= q == np.where(tie, q, -np.inf).max(axis=1, keepdims=True)
    picks = np.argmax(tie, axis=1)  # the first True
    none = ~meets.any(axis=1)
    if none.any():
        if calibration.strong is not None:
            picks[none] = calibration.strong
        else:
            qn, cn = q[none], c[none]
            top = qn == qn.max(axis=1, keepdims=True)
            top &= cn == np.where(top, cn, np.inf).min(axis=1, keepdims=True)
            picks[none] = np.argmax(top, axis=1)
    out: npt.NDArray[np.int64] = picks.astype(np.int64)
    return out


def bisect_share(strong_share: Callable[[ShareTarget], float], strong: int, share: float) -> ShareTarget:
    """The calibration whose strong share is `share`; the share grows with the target, so bisection
    finds it. A prompt no candidate is predicted to meet goes to its best-predicted candidate, which
    keeps off the strongest the prompts where it is not predicted better (on MMLU that is worth 3.5
    points of APGR). Only a share beyond that rule's reach sends such prompts to the strongest.
    Share 1 is every prompt, not only every reference prompt: a target no candidate meets (the
    lowest target that takes the whole reference set would leave a new, easy prompt to a cheaper
    candidate predicted above it)."""
    if share >= 1.0:
        return ShareTarget(1.0 + 1e-9, strong)
    fallback = None if strong_share(ShareTarget(1.0, None)) >= share else strong
    lo, hi = 0.0, 1.0 if fallback is None else 1.0 + 1e-9  # above 1 nobody meets the target
    for _ in range(30):
        mid = (lo + hi) / 2
        if strong_share(ShareTarget(mid, fallback)) < share:
            lo = mid
        else:
            hi = mid
    return ShareTarget(hi, fallback)
