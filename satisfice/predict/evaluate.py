"""Routing metrics and the leakage-free protocols behind `scripts/train_router.py --report`.

No prompt is scored by a model trained on it: a test prompt's text is also removed from every training
set (all 300 Arena-Bench prompts reappear in arena-battles, so this matters). Protocols:
  * in-family: RouterBench by its train/test split, MMLU / GSM8K / Arena-Bench by k-fold (folds by
    prompt text), always training on the other datasets as well;
  * cross-family: the whole dataset left out of training (leave-one-dataset-out).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from satisfice.catalog import ModelInfo
from satisfice.data.jsonl import load_dataset
from satisfice.data.records import Dataset, Record
from satisfice.predict.base import Array, QualityPredictor
from satisfice.predict.model_features import as_info
from satisfice.routing.knob import Knob, choose_many

DATASETS = ("routerbench", "mmlu", "gsm8k", "arena-bench", "arena-battles")
WEAK, STRONG = "mixtral-8x7b-instruct", "gpt-4-1106-preview"
Fitter = Callable[[Sequence[Record]], QualityPredictor]


def text_key(r: Record) -> str:
    return r.prompt_text().strip()


def strong_share(score: Array, q_weak: Array, q_strong: Array, frac: float = 0.95) -> float:
    """Smallest share of prompts sent to the strong model (highest `score` first) from which the mean
    quality stays at or above `frac` x the strong model's mean quality. (The first crossing would
    count a lucky blip: a router's cumulative gain wanders around the target before it settles.)"""
    n = score.size
    target = frac * float(q_strong.mean()) * n - float(q_weak.sum())
    order = np.argsort(-score, kind="stable")
    s, g = score[order], (q_strong - q_weak)[order]
    # Tied scores are routed in random order: use the expected gain (the tie group's mean per prompt).
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    sums = np.add.reduceat(g, starts)
    sizes = np.diff(np.r_[starts, n])
    gain = np.cumsum(np.repeat(sums / sizes, sizes))
    if target <= 1e-12:
        return 0.0
    below = np.flatnonzero(gain < target - 1e-9)
    return float(below[-1] + 2) / n if below.size else 1.0 / n


def random_share(q_weak: Array, q_strong: Array, frac: float = 0.95) -> float:
    mw, ms = float(q_weak.mean()), float(q_strong.mean())
    return float(np.clip((frac * ms - mw) / (ms - mw), 0, 1)) if ms > mw else 0.0


@dataclass(slots=True)
class PairResult:
    n: int
    by_diff: float  # share when ranking by P(strong) - P(weak)  (the `loss` knob)
    by_weak: float  # share when ranking by -P(weak)             (the `quality` / `share` knobs)
    random: float
    oracle: float

    def row(self) -> dict[str, float]:
        return {
            "n": self.n,
            "share_by_diff": round(self.by_diff, 4),
            "share_by_weak": round(self.by_weak, 4),
            "random": round(self.random, 4),
            "oracle": round(self.oracle, 4),
        }


def pair_result(pred: Array, q: Array) -> PairResult:
    """pred, q: (n, 2) predictions and observed quality for (weak, strong)."""
    qw, qs = q[:, 0], q[:, 1]
    return PairResult(
        len(q),
        strong_share(pred[:, 1] - pred[:, 0], qw, qs),
        strong_share(-pred[:, 0], qw, qs),
        random_share(qw, qs),
        strong_share(qs - qw, qw, qs),
    )


def dense_rows(records: Sequence[Record], models: Sequence[str]) -> tuple[list[Record], Array, Array]:
    """Records that have every model's outcome, with their (n, m) quality and cost (NaN = unknown)."""
    keep = [r for r in records if all(m in r.outcomes for m in models)]
    q = np.array([[r.outcomes[m].quality for m in models] for r in keep]).reshape(len(keep), len(models))
    c = np.array(
        [[np.nan if r.outcomes[m].cost_usd is None else r.outcomes[m].cost_usd for m in models] for r in keep]
    ).reshape(len(keep), len(models))
    return keep, q, c


def knob_points(pred: Array, q: Array, cost: Array, decision_cost: Array) -> list[dict[str, float | str]]:
    """Accuracy and $ per 1k prompts for a sweep of quality, loss and wtp knobs (`routing.knob.choose`)."""
    out: list[dict[str, float | str]] = []
    knobs = [Knob("quality", t) for t in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)]
    knobs += [Knob("loss", v) for v in (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)]
    knobs += [Knob("wtp", w) for w in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)]
    dc = np.broadcast_to(decision_cost, pred.shape).astype(np.float64)
    idx = np.arange(len(q))
    for k in knobs:
        pick = choose_many(pred, dc, k)
        out.append(
            {
                "knob": str(k),
                "accuracy": round(float(q[idx, pick].mean()), 4),
                "cost_per_1k": round(float(cost[idx, pick].mean()) * 1000, 3),
            }
        )
    return out


def best_under(points: Sequence[dict[str, float | str]], budget: float) -> dict[str, float | str] | None:
    ok = [p for p in points if float(p["cost_per_1k"]) <= budget]
    return max(ok, key=lambda p: (float(p["accuracy"]), -float(p["cost_per_1k"]))) if ok else None


# ---------------------------------------------------------------- protocols


def load_all(names: Sequence[str] = DATASETS) -> dict[str, Dataset]:
    return {n: load_dataset(n) for n in names}


def train_pool(
    data: dict[str, Dataset], exclude: set[str], test: Sequence[Record], extra: Sequence[Record] = ()
) -> list[Record]:
    """Records of the datasets not in `exclude`, plus `extra`, minus any whose text is a test prompt."""
    banned = {text_key(r) for r in test}
    pool = [r for n, d in data.items() if n not in exclude for r in d.records] + list(extra)
    return [r for r in pool if text_key(r) not in banned]


def folds(records: Sequence[Record], k: int) -> npt.NDArray[np.int64]:
    """Fold of each record by a hash of its prompt text (duplicates share a fold)."""
    return np.array([zlib.crc32(text_key(r).encode()) % k for r in records], dtype=np.int64)


def predict_records(p: QualityPredictor, records: Sequence[Record], models: Sequence[str]) -> Array:
    infos: list[ModelInfo] = [as_info(m) for m in models]
    return p.predict_many([r.messages for r in records], infos)


def kfold_predictions(
    data: dict[str, Dataset], name: str, models: Sequence[str], fitter: Fitter, k: int = 5, other: bool = True
) -> tuple[list[Record], Array]:
    """Out-of-fold predictions for every record of `name` (trained also on the other datasets when
    `other`)."""
    recs = data[name].records
    f = folds(recs, k)
    out = np.zeros((len(recs), len(models)))
    for i in range(k):
        test = [r for r, fi in zip(recs, f, strict=True) if fi == i]
        own = [r for r, fi in zip(recs, f, strict=True) if fi != i]
        excl = set(data) if not other else {name}
        pred = fitter(train_pool(data, excl, test, own))
        out[f == i] = predict_records(pred, test, models)
    return recs, out


def vote_accuracy(p: QualityPredictor, records: Sequence[Record]) -> dict[str, float]:
    """Pairwise votes (ties excluded): how often the predicted better model won."""
    right = total = 0
    for r in records:
        (ma, oa), (mb, ob) = r.outcomes.items()
        if oa.quality == ob.quality:
            continue
        q = p.predict(r.messages, [as_info(ma), as_info(mb)])
        total += 1
        right += (q[0] > q[1]) == (oa.quality > ob.quality)
    return {"n": total, "accuracy": round(right / max(total, 1), 4)}
