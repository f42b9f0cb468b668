"""The cost/quality knob and the one decision rule every router shares (gateway, eval, dry run).

Forms (per route, per key, per request as `x-satisfice-knob` or a model suffix `auto:0.9`):
  quality=T   cheapest candidate whose predicted quality is >= T (bare number: the same)
  loss=L      cheapest candidate within L of the best predicted quality
  share=S     the quality target that sends a share S of a reference prompt set to the strongest
              candidate (RouteLLM-style threshold calibration)
  wtp=W       willingness to pay: W dollars per request for one whole quality point (0 -> 1);
              picks the candidate maximising quality - cost / W
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from satisfice.errors import InvalidRequest

KINDS = ("quality", "loss", "share", "wtp")
Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Knob:
    kind: str
    value: float

    def __str__(self) -> str:
        return f"{self.kind}={self.value:g}"


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
        v = float(value)
    except ValueError:
        raise InvalidRequest(
            f"The knob value in {text!r} is not a number.", param=param, code="invalid_knob"
        ) from None
    if (
        not math.isfinite(v)
        or (kind in ("quality", "loss", "share") and not 0.0 <= v <= 1.0)
        or (kind == "wtp" and v <= 0)
    ):
        limits = "> 0" if kind == "wtp" else "between 0 and 1"
        raise InvalidRequest(
            f"The knob {kind} must be {limits}, got {value}.", param=param, code="invalid_knob"
        )
    return Knob(kind, v)


def _cheapest_meeting(quality: Array, cost: Array, target: float) -> int | None:
    ok = np.flatnonzero(quality >= target - 1e-12)
    if ok.size == 0:
        return None
    return int(ok[np.lexsort((-quality[ok], cost[ok]))[0]])  # cheapest; ties -> the better one


def best(quality: Array, cost: Array) -> int:
    return int(np.lexsort((cost, -quality))[0])  # best predicted; ties -> the cheaper one


def choose(quality: Array, cost: Array, knob: Knob, share_target: float | None = None) -> int:
    """Index of the candidate to use. `share_target` is the calibrated quality target for a
    `share` knob (see `calibrate_share`); without it a share knob falls back to its raw value."""
    if quality.size == 0:
        raise ValueError("no candidates")
    if knob.kind == "wtp":
        return int(np.lexsort((cost, -(quality - cost / knob.value)))[0])
    if knob.kind == "loss":
        target = float(quality.max()) - knob.value
    elif knob.kind == "share":
        target = share_target if share_target is not None else knob.value
    else:
        target = knob.value
    found = _cheapest_meeting(quality, cost, target)
    return best(quality, cost) if found is None else found


def choose_many(
    quality: npt.NDArray[np.float64],
    cost: npt.NDArray[np.float64],
    knob: Knob,
    share_target: float | None = None,
) -> npt.NDArray[np.int64]:
    """`choose` for every row of (n, m) quality and cost matrices."""
    return np.array(
        [choose(quality[i], cost[i], knob, share_target) for i in range(quality.shape[0])], dtype=np.int64
    )


def strongest(reference_quality: Array) -> int:
    """The candidate with the highest mean predicted quality on the reference prompts."""
    return int(np.argmax(reference_quality.mean(axis=0)))


def calibrate_share(reference_quality: npt.NDArray[np.float64], cost: Array, share: float) -> float:
    """The quality target that sends `share` of the reference prompts to the strongest candidate.

    `reference_quality` is (n, m) predictions for the candidates on a reference prompt set; `cost`
    is one typical cost per candidate. The share is monotone in the target, so bisection finds it."""
    strong = strongest(reference_quality)
    costs = np.broadcast_to(cost, reference_quality.shape)

    def strong_share(target: float) -> float:
        picks = choose_many(reference_quality, np.asarray(costs, dtype=np.float64), Knob("quality", target))
        return float(np.mean(picks == strong))

    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        if strong_share(mid) < share:
            lo = mid
        else:
            hi = mid
    return hi
