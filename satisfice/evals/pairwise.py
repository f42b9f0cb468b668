"""Pairwise data (arena-battles: one human vote between two models per prompt) cannot be replayed as a
prompt x model matrix: only two models answered each prompt, so what another choice would have scored
is unknown. What can be measured is whether the router ranks the pair as the human did:

  agreement = mean over decisive battles (a winner, no tie) of 1 when the router predicts the winner
              higher, 0.5 when it predicts both equal, 0 otherwise.

Ties ("tie" and "tie (bothbad)") are left out. Baselines: a coin flip (0.5), "the dearer model wins"
and "the model with the higher catalog quality prior wins".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from satisfice.catalog import ModelInfo
from satisfice.data.records import Dataset, Record
from satisfice.evals.progress import Progress
from satisfice.evals.protocols import score
from satisfice.evals.replay import EvalError, model_info
from satisfice.evals.standins import Fitter, QualityPredictor

Array = npt.NDArray[np.float64]


def agreement(winner_scores: Array, loser_scores: Array) -> float:
    """Share of battles where the winner's score is higher (equal scores count half)."""
    if winner_scores.size == 0:
        raise ValueError("no decisive battle")
    return float(
        np.mean(
            np.where(winner_scores > loser_scores, 1.0, np.where(winner_scores == loser_scores, 0.5, 0.0))
        )
    )


def decisive(records: Sequence[Record]) -> list[tuple[int, str, str]]:
    """(record index, winner, loser) of every battle with a winner."""
    out = []
    for i, r in enumerate(records):
        (a, oa), (b, ob) = r.outcomes.items()
        if oa.quality != ob.quality:
            out.append((i, a, b) if oa.quality > ob.quality else (i, b, a))
    return out


def _typical_price(info: ModelInfo) -> float:
    return info.cost_usd(1000, 256)


def evaluate_pairwise(
    dataset: Dataset,
    router: str | QualityPredictor,
    *,
    folds: int | None = None,
    seed: int = 0,
    train_on: Sequence[str] = (),
    fit: Fitter | None = None,
    progress: Progress | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    records = [r for r in dataset.records if len(r.outcomes) == 2]
    battles = decisive(records)
    if not battles:
        raise EvalError(f"{dataset.name}: pairwise data without a single decisive vote: nothing to measure")
    infos = [model_info(m, need_price=False) for m in dataset.models]
    col = {m: j for j, m in enumerate(dataset.models)}
    scored = score(
        records,
        infos,
        router,
        dataset=dataset.name,
        folds=folds,
        seed=seed,
        train_on=train_on,
        fit=fit,
        progress=progress,
        limit=limit,
    )
    where = {int(row): k for k, row in enumerate(scored.rows)}
    kept = [(where[i], w, lo) for i, w, lo in battles if i in where]
    if not kept:
        raise EvalError(f"{dataset.name}: no decisive battle among the scored prompts")
    rows = np.array([k for k, _, _ in kept], dtype=np.int64)
    win = np.array([col[w] for _, w, _ in kept], dtype=np.int64)
    lose = np.array([col[lo] for _, _, lo in kept], dtype=np.int64)
    price = np.array([_typical_price(i) for i in infos], dtype=np.float64)
    prior = np.array([i.quality_prior for i in infos], dtype=np.float64)
    n_scored = int(scored.rows.size)
    return {
        "kind": "pairwise",
        "router": router if isinstance(router, str) else "custom",
        "predictor": scored.predictor,
        "dataset": dataset.name,
        "description": dataset.description,
        "protocol": scored.protocol,
        "may_have_seen_data": scored.may_have_seen_data,
        "trained_on_data": scored.trained_on_data,
        "n_prompts": n_scored,
        "n_decisive": len(kept),
        "n_ties": n_scored - len([1 for i, _, _ in battles if i in where]),
        "models": list(dataset.models),
        "metric": "agreement of the router's predicted preference with the human vote on decisive battles",
        "agreement": agreement(scored.predicted[rows, win], scored.predicted[rows, lose]),
        "baselines": {
            "random": 0.5,
            "dearer_wins": agreement(price[win], price[lose]),
            "prior_wins": agreement(prior[win], prior[lose]),
        },
        "points": [],
        "seed": seed,
        "folds": folds,
    }
