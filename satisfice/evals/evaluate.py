"""`evaluate()`: replay a dataset of per-prompt, per-model quality and cost under a router.

The router predicts each model's quality for each scored prompt (see `protocols` for who is trained
on what), the knob's decision rule picks a model at many knob settings (`sweep`), and each setting is
scored with the recorded quality and cost of the model it picked (`replay`). Everything is measured on
the scored prompts only: baselines included.

Two-model data adds RouteLLM's metrics (`metrics`): the strong model is the dearer one (as in
RouteLLM: routing saves calls to it), and a warning says when it scores worse (then APGR, CPT and PGR
are null: there is no gap to recover). The router curve is (strong-call share, quality) over the
share sweep, anchored at (0, weak) and (1, strong). Baselines: each single model, the random
router (a share s of prompts sent to the strong model at random: the straight line, APGR 0.5) and the
oracle (per prompt the cheapest model with the best observed quality; for 0/1 data the cheapest correct
one, or the cheapest model when none is correct). For two-model data the oracle's curve is RouteLLM's
"optimal" router: the best quality reachable with at most a share s of strong calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from satisfice.data.records import Dataset
from satisfice.evals.metrics import curve_metrics, oracle_curve
from satisfice.evals.pairwise import evaluate_pairwise
from satisfice.evals.progress import Progress
from satisfice.evals.protocols import score
from satisfice.evals.replay import (
    EvalError,
    Replay,
    build_replay,
    oracle_picks,
    single_models,
    summarize_picks,
)
from satisfice.evals.select import choose_models, pairwise_subset
from satisfice.evals.standins import Fitter, QualityPredictor
from satisfice.evals.sweep import SHARES, knob_points, sweep_n_model, sweep_two_model
from satisfice.routing.knob import Knob


def _load(dataset: Dataset | str) -> Dataset:
    if isinstance(dataset, Dataset):
        return dataset
    from satisfice.data.jsonl import DataFormatError, load_dataset

    try:
        return load_dataset(dataset)
    except (FileNotFoundError, KeyError, DataFormatError) as e:
        raise EvalError(str(e)) from None


def evaluate(
    dataset: Dataset | str,
    router: str | QualityPredictor = "learned",
    *,
    folds: int | None = None,
    seed: int = 0,
    train_on: Sequence[str] = (),
    fit: Fitter | None = None,
    progress: Progress | None = None,
    models: Sequence[str] = (),
    limit: int | None = None,
    knobs: Sequence[str] = (),
) -> dict[str, Any]:
    """Evaluate `router` (a name or a predictor object) on `dataset` (a Dataset, shared name or JSONL
    path). `folds` forces k-fold CV (default: the data's split, else 5 folds); `fit` replaces
    `satisfice.predict.fit` for the learned router; `models` picks the models replayed (default: see
    `select`); `limit` scores only the first N prompts the protocol scores; `knobs` replays those knob
    settings instead of the sweep. Returns the JSON-able result (`notes`: what was dropped and why);
    raises EvalError."""
    ds = _load(dataset)
    shared = _shared_name(dataset)
    if ds.pairwise:
        if knobs:
            raise EvalError(f"--knobs: {ds.name} holds pairwise votes, which have no knob sweep to replay")
        votes, notes = pairwise_subset(ds, models)
        measured = evaluate_pairwise(
            votes, router, folds=folds, seed=seed, train_on=train_on, fit=fit, progress=progress, limit=limit
        )
        return {**measured, "notes": notes}
    knob_list = _knobs(knobs)
    choice = choose_models(ds, models)
    full = build_replay(ds, choice.models)
    scored = score(
        full.records,
        full.infos,
        router,
        dataset=ds.name,
        folds=folds,
        seed=seed,
        train_on=train_on,
        fit=fit,
        progress=progress,
        limit=limit,
        shared=shared,
    )
    if scored.rows.size == 0:
        raise EvalError(f"{ds.name}: the protocol left no prompt to score")
    replay = full.subset(scored.rows)
    two = len(replay.models) == 2
    if knob_list:
        points = knob_points(replay, scored.predicted, knob_list, progress)
    else:
        points = (sweep_two_model if two else sweep_n_model)(replay, scored.predicted, progress)
    if progress is not None:
        progress.close()
    strong = replay.strong()
    result: dict[str, Any] = {
        "kind": "two-model" if two else "n-model",
        "router": router if isinstance(router, str) else "custom",
        "predictor": scored.predictor,
        "dataset": ds.name,
        "description": ds.description,
        "protocol": scored.protocol,
        "may_have_seen_data": scored.may_have_seen_data,
        "trained_on_data": scored.trained_on_data,
        "n_prompts": replay.n,
        "n_dropped_incomplete": replay.dropped,
        "models": replay.models,
        "models_chosen_by": choice.how,
        "strong_model": replay.models[strong],
        "cost_source": replay.cost_source,
        "decision_costs": {m: float(c) for m, c in zip(replay.models, replay.decision_cost, strict=True)},
        "seed": seed,
        "folds": scored.folds,  # as used: the default 5 (fewer for tiny data), None without CV
        "points": points,
        "baselines": _baselines(replay),
        "notes": list(choice.notes),
    }
    if knob_list:
        result["knobs"] = [str(k) for k in knob_list]  # --knobs: these settings, not the sweep
    strong_q = result["baselines"]["models"][replay.models[strong]]["quality"]
    good = [p for p in points if p["quality"] >= 0.95 * strong_q - 1e-12]
    cheapest = min(good, key=lambda p: p["cost_per_1k"]) if good else None
    result["cheapest_at_95"] = (
        None
        if cheapest is None
        else {k: cheapest[k] for k in ("knob", "quality", "cost_per_1k", "strong_share")}
    )
    if two:
        result.update(_two_model(replay, points, result["baselines"]))
        if "warning" in result:
            result["notes"].append(result["warning"])
        if knob_list:  # a curve through a few chosen points is not the router's curve
            result.update(dict.fromkeys(("apgr", "cpt50", "cpt80", "share_for_95")))
            result["notes"].append(
                "--knobs: APGR, CPT and the share for 95 % need the whole sweep; they are null here "
                "(each point still carries its quality, cost and strong share)"
            )
    return result


def _shared_name(dataset: Dataset | str) -> str | None:
    """The shared dataset's canonical name when `dataset` names one (not a file that shares its name)."""
    from satisfice.data.shared import ALIASES, SHARED

    if isinstance(dataset, str) and (dataset in SHARED or dataset in ALIASES):
        return ALIASES.get(dataset, dataset)
    return None


def _knobs(texts: Sequence[str]) -> list[Knob]:
    from satisfice.errors import GatewayError
    from satisfice.routing.knob import parse_knob

    try:
        return [parse_knob(t, param="--knobs") for t in texts]
    except GatewayError as e:
        raise EvalError(f"--knobs: {e.message}") from None


def _baselines(replay: Replay) -> dict[str, Any]:
    m = len(replay.models)
    oracle = summarize_picks(replay, oracle_picks(replay.quality, replay.cost))
    return {
        "models": single_models(replay),
        "random": {
            "quality": float(replay.quality.mean()),
            "cost_per_1k": float(replay.cost.mean() * 1000),
            "model_shares": {name: 1.0 / m for name in replay.models},
            "note": "each prompt to a model drawn uniformly at random (expected values)",
        },
        "oracle": {**oracle, "note": "per prompt the cheapest model with the best observed quality"},
    }


def _two_model(replay: Replay, points: list[dict[str, Any]], baselines: dict[str, Any]) -> dict[str, Any]:
    """RouteLLM's metrics for the router (returned) and for the random and oracle routers (added to
    `baselines`)."""
    strong = replay.strong()
    weak = 1 - strong
    weak_q = float(replay.quality[:, weak].mean())
    strong_q = float(replay.quality[:, strong].mean())
    shares = [0.0, *(p["strong_share"] for p in points), 1.0]
    qualities = [weak_q, *(p["quality"] for p in points), strong_q]
    ox, oy = oracle_curve(replay.quality[:, weak], replay.quality[:, strong])
    out: dict[str, Any] = {
        "weak_model": replay.models[weak],
        "cost_metric": "strong_share (RouteLLM: the share of calls sent to the strong model)",
        "share_calibration": "on the router's predictions for the scored prompts (no labels)",
        **curve_metrics(shares, qualities, weak_q, strong_q),
    }
    if strong_q <= weak_q:
        out["warning"] = (
            f"the dearer model {replay.models[strong]} does not score better than the cheaper "
            f"{replay.models[weak]} here ({strong_q:.3f} vs {weak_q:.3f}): no gap to recover, so APGR, "
            "CPT and PGR are null (and the share for 95 % is 0: the cheaper model alone reaches it)"
        )
    baselines["random"].update(curve_metrics([0.0, 1.0], [weak_q, strong_q], weak_q, strong_q))
    baselines["random"]["note"] += "; on the share axis: a share s sent to the strong model at random"
    baselines["oracle"].update(curve_metrics(ox, oy, weak_q, strong_q))
    baselines["oracle"]["curve"] = {
        "strong_share": SHARES,
        "quality": [float(v) for v in np.interp(SHARES, ox, oy)],
        "note": "RouteLLM's optimal router: the best quality with at most a share s of strong calls",
    }
    return out
