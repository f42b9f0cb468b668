"""Knob sweeps: replay the one decision rule at many knob settings and summarise each.

Two-model data: `share=S` for S = 0, 0.01, ..., 1 (101 points). The share is calibrated, as
`knob.calibrate_share` does, on the router's predictions for the scored prompts themselves (no
labels; RouteLLM likewise sets its thresholds at quantiles of the router's scores on the eval set),
so the realised strong-call share follows S closely and the curve is smooth. The share calibrated is
the dearer model's (RouteLLM's strong model), whichever model the router predicts better.
N-model data: `quality=T` for T = 0, 0.025, ..., 1 (41 points) and `wtp=W` for "round" W (1 or 3 x a
power of ten) from 0.3x to 300x the dearest model's typical per-call cost.
Points marked `reported` are the ones the human-readable table shows. `knob_points` replays given
knob settings instead (`eval --knobs`), each reported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from satisfice.evals.metrics import pgr
from satisfice.evals.progress import Progress
from satisfice.evals.replay import Replay, summarize_picks
from satisfice.evals.vector import calibrate_share_matrix, choose_matrix
from satisfice.routing.knob import Knob

Array = npt.NDArray[np.float64]

SHARES = [round(float(s), 2) for s in np.linspace(0.0, 1.0, 101)]
REPORTED_SHARES = (0.1, 0.2, 0.3, 0.5, 0.8)
QUALITY_TARGETS = [round(float(t), 3) for t in np.linspace(0.0, 1.0, 41)]
REPORTED_TARGETS = (0.5, 0.7, 0.8, 0.9, 0.95)


def wtp_grid(decision_cost: Array) -> list[float]:
    """Round willingness-to-pay values spanning the interesting range for these prices: at W the router
    pays for a model that is dearer by d dollars only if it is better by d / W quality points."""
    top = float(np.max(decision_cost))
    if top <= 0:
        return [1.0]
    lo, hi = 0.3 * top, 300 * top
    grid = []
    for exp in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for mant in (1, 3):
            v = float(f"{mant * 10.0**exp:.3g}")
            if lo <= v <= hi:
                grid.append(v)
    return grid


def sweep_two_model(
    replay: Replay, predicted: Array, progress: Progress | None = None
) -> list[dict[str, Any]]:
    bar = progress or Progress(enabled=False)
    strong = replay.strong()
    weak_q = float(replay.quality[:, 1 - strong].mean())
    strong_q = float(replay.quality[:, strong].mean())
    bar.stage("sweep share=0..1", len(SHARES))
    points = []
    for s in SHARES:
        point = _point(replay, predicted, Knob("share", s), s in REPORTED_SHARES)
        point["pgr"] = pgr(point["quality"], weak_q, strong_q)
        points.append(point)
        bar.advance()
    return points


def _point(replay: Replay, predicted: Array, knob: Knob, reported: bool) -> dict[str, Any]:
    """One knob setting replayed; a share knob is calibrated first (on the dearer of two models)."""
    if knob.kind != "share":
        picks = choose_matrix(predicted, replay.decision_cost, knob)
        return {"knob": str(knob), **summarize_picks(replay, picks), "reported": reported}
    cost = replay.decision_cost
    strong = None
    if len(replay.models) == 2:
        # The weak model is the cheaper one to the rule, also when the recorded costs are equal (two
        # self-hosted models at $0): else the better predicted would win every tie, and the share
        # asked for could not be reached. Only the order of two costs matters to the rule.
        strong = replay.strong()
        cost = np.where(np.arange(2) == strong, 1.0, 0.0)
    target = calibrate_share_matrix(predicted, cost, knob.value, strong)
    picks = choose_matrix(predicted, cost, knob, target)
    point = {"knob": str(knob), **summarize_picks(replay, picks), "share_target": target.target}
    return {**point, "reported": reported}


def knob_points(
    replay: Replay, predicted: Array, knobs: list[Knob], progress: Progress | None = None
) -> list[dict[str, Any]]:
    """`eval --knobs`: the given settings only (two-model points carry their PGR)."""
    bar = progress or Progress(enabled=False)
    bar.stage("knobs", len(knobs))
    points = []
    for knob in knobs:
        point = _point(replay, predicted, knob, True)
        if len(replay.models) == 2:
            strong = replay.strong()
            weak_q = float(replay.quality[:, 1 - strong].mean())
            point["pgr"] = pgr(point["quality"], weak_q, float(replay.quality[:, strong].mean()))
        points.append(point)
        bar.advance()
    return points


def sweep_n_model(replay: Replay, predicted: Array, progress: Progress | None = None) -> list[dict[str, Any]]:
    bar = progress or Progress(enabled=False)
    knobs = [(Knob("quality", t), t in REPORTED_TARGETS) for t in QUALITY_TARGETS]
    knobs += [(Knob("wtp", w), True) for w in wtp_grid(replay.decision_cost)]
    bar.stage("sweep quality= / wtp=", len(knobs))
    points = []
    for knob, reported in knobs:
        points.append(_point(replay, predicted, knob, reported))
        bar.advance()
    return points
