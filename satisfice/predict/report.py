"""The measured figures: every target under in-family and cross-family protocols (see `evaluate`).

Two-model targets (MMLU, GSM8K, Arena-Bench; Mixtral-8x7B -> GPT-4-1106): the GPT-4 call share that
reaches 95 % of GPT-4's mean quality, ranking prompts by P(strong) - P(weak) (what the `loss` knob
does) and by -P(weak) (what the `quality` and `share` knobs do for two candidates).
RouterBench (11 models, test split): accuracy and $ per 1k prompts (the data's per-call cost) for a
sweep of knobs through `routing.knob.choose`, deciding with each model's mean train-split cost;
and with each of its tasks left out of training (`routerbench-tasks`), a benchmark never seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from satisfice.data.records import Dataset, Record
from satisfice.predict.base import QualityPredictor
from satisfice.predict.evaluate import (
    STRONG,
    WEAK,
    best_under,
    dense_rows,
    kfold_predictions,
    knob_points,
    pair_result,
    predict_records,
    strong_share,
    train_pool,
    vote_accuracy,
)
from satisfice.predict.model_features import as_info

Fitter = Callable[[Sequence[Record]], QualityPredictor]
Log = Callable[[str], None]
TWO_MODEL = ("mmlu", "gsm8k", "arena-bench")
TARGETS = {"mmlu": 0.40, "gsm8k": 0.50, "arena-bench": 0.55}


def two_model(data: dict[str, Dataset], name: str, fitter: Fitter, k: int, log: Log) -> dict[str, Any]:
    pair = [WEAK, STRONG]
    out: dict[str, Any] = {"target_share": TARGETS.get(name)}
    recs, pred = kfold_predictions(data, name, pair, fitter, k=k)
    keep = np.array([all(m in r.outcomes for m in pair) for r in recs])
    _, q, _ = dense_rows(recs, pair)
    out[f"in_family_{k}fold"] = pair_result(pred[keep], q).row()
    test = data[name].records
    p = fitter(train_pool(data, {name}, test))
    kept, q2, _ = dense_rows(test, pair)
    out["cross_family"] = pair_result(predict_records(p, kept, pair), q2).row()
    log(f"  {name:12s} in-family  {_fmt(out[f'in_family_{k}fold'])}")
    log(f"  {name:12s} cross-fam. {_fmt(out['cross_family'])}")
    return out


POOLED_PER_FAMILY = 600


def pooled(data: dict[str, Dataset], fitter: Fitter, log: Log) -> dict[str, Any]:
    """Mixed traffic from families never trained on: each two-model family is predicted by a model
    trained without it (600 prompts each, a fixed sample), and the predictions are ranked together.
    Per-family shares reward ranking prompts within a family; this one also needs the families'
    levels right (is an unseen maths family harder for Mixtral than an unseen quiz?). The
    family-gap oracle ranks every prompt by its family's true mean gain."""
    pair = [WEAK, STRONG]
    rng = np.random.default_rng(0)
    preds, quals, fams = [], [], []
    for name in TWO_MODEL:
        recs, q, _ = dense_rows(data[name].records, pair)
        take = np.sort(rng.choice(len(recs), size=min(len(recs), POOLED_PER_FAMILY), replace=False))
        test = [recs[i] for i in take]
        p = fitter(train_pool(data, {name}, test))
        preds.append(predict_records(p, test, pair))
        quals.append(q[take])
        fams += [name] * len(test)
    pred, q = np.vstack(preds), np.vstack(quals)
    fam = np.array(fams)
    gain = {f: float((q[fam == f, 1] - q[fam == f, 0]).mean()) for f in TWO_MODEL}
    order = np.array([gain[f] for f in fams]) + 1e-9 * rng.random(len(fams))  # ties in random order
    shares = pair_result(pred, q).row()
    out: dict[str, Any] = {
        **shares,
        "family_gap_oracle": round(strong_share(order, q[:, 0], q[:, 1]), 4),
        "mean_predicted_gain": {
            f: round(float((pred[fam == f, 1] - pred[fam == f, 0]).mean()), 4) for f in TWO_MODEL
        },
        "mean_observed_gain": {f: round(g, 4) for f, g in gain.items()},
    }
    log(f"  pooled cross-family {_fmt(shares)}; family-gap oracle {out['family_gap_oracle']:.1%}")
    return out


def _fmt(r: dict[str, float]) -> str:
    return (
        f"n={r['n']:<6} GPT-4 share for 95%: by P(s)-P(w) {r['share_by_diff']:.1%}, by P(w) "
        f"{r['share_by_weak']:.1%}  (random {r['random']:.1%}, oracle {r['oracle']:.1%})"
    )


def routerbench(data: dict[str, Dataset], fitter: Fitter, log: Log) -> dict[str, Any]:
    rb = data["routerbench"]
    models = rb.models
    train_recs, test_recs = rb.split("train"), rb.split("test")
    _, _, ctrain = dense_rows(train_recs, models)
    decision_cost = ctrain.mean(axis=0)
    test, q, cost = dense_rows(test_recs, models)
    out: dict[str, Any] = {
        "models": models,
        "single_models": {
            m: {
                "accuracy": round(float(q[:, j].mean()), 4),
                "cost_per_1k": round(float(cost[:, j].mean()) * 1000, 3),
            }
            for j, m in enumerate(models)
        },
        "oracle_accuracy": round(float(q.max(axis=1).mean()), 4),
    }
    for label, excl, extra in (
        ("in_family_split", {"routerbench"}, train_recs),
        ("cross_family", {"routerbench"}, ()),
    ):
        p = fitter(train_pool(data, excl, test, extra))
        pts = knob_points(predict_records(p, test, models), q, cost, decision_cost)
        out[label] = {"points": pts, "best_at_most_$1.00": best_under(pts, 1.0)}
        b = out[label]["best_at_most_$1.00"]
        log(f"  routerbench  {label:15s} best at <= $1.00/1k: {b}")
        log("      " + "  ".join(f"{p_['knob']}:{p_['accuracy']:.3f}/${p_['cost_per_1k']:.2f}" for p_ in pts))
    return out


def routerbench_tasks(data: dict[str, Dataset], fitter: Fitter, log: Log) -> dict[str, Any]:
    """Each RouterBench task left out of training (both splits), its test split scored: a benchmark
    the router never saw, with models it knows from the other tasks. Next to it, the best single
    model at <= $1.00 per 1k prompts."""
    rb = data["routerbench"]
    models = rb.models
    out: dict[str, Any] = {}
    for task in sorted({r.family for r in rb.records}):
        test, q, cost = dense_rows([r for r in rb.split("test") if r.family == task], models)
        _, _, ctrain = dense_rows([r for r in rb.split("train") if r.family != task], models)
        p = fitter(train_pool(data, {"routerbench"}, test, [r for r in rb.records if r.family != task]))
        pts = knob_points(predict_records(p, test, models), q, cost, ctrain.mean(axis=0))
        singles: list[dict[str, float | str]] = [
            {
                "knob": m,
                "accuracy": round(float(q[:, j].mean()), 4),
                "cost_per_1k": round(float(cost[:, j].mean()) * 1000, 3),
            }
            for j, m in enumerate(models)
        ]
        out[task] = {
            "n": len(test),
            "points": pts,
            "best_at_most_$1.00": best_under(pts, 1.0),
            "best_single_model_at_most_$1.00": best_under(singles, 1.0),
        }
        best = out[task]["best_at_most_$1.00"]
        log(f"  routerbench  {task} left out (n={len(test)}): best at <= $1.00/1k {best}")
        log(f"      best single model at <= $1.00/1k {out[task]['best_single_model_at_most_$1.00']}")
        log("      " + "  ".join(f"{p_['knob']}:{p_['accuracy']:.3f}/${p_['cost_per_1k']:.2f}" for p_ in pts))
    return out


def battles(data: dict[str, Dataset], fitter: Fitter, log: Log) -> dict[str, Any]:
    test = data["arena-battles"].records
    p = fitter(train_pool(data, {"arena-battles"}, test))
    out = {"cross_family_vote_accuracy": vote_accuracy(p, test)}
    log(f"  arena-battles cross-family vote accuracy (ties excluded): {out['cross_family_vote_accuracy']}")
    return out


HELD_OUT = ("gpt-4-0314", "gpt-3.5-turbo", "claude-2.1", "starling-lm-7b-alpha", "vicuna-33b", "llama-13b")


def unseen_models(data: dict[str, Dataset], fitter: Fitter, log: Log) -> dict[str, Any]:
    """Arena-Bench models removed from ALL training data (and Arena-Bench prompts too): does the
    catalog-feature path rank them right, and pick the better of a pair per prompt?"""
    held = {as_info(m).id for m in HELD_OUT}
    test = data["arena-bench"].records
    pool = []
    for r in train_pool(data, {"arena-bench"}, test):
        kept = {m: o for m, o in r.outcomes.items() if as_info(m).id not in held}
        if len(kept) == len(r.outcomes) or (len(kept) >= 2 and r.family != "arena-battle"):
            pool.append(Record(r.id, r.messages, kept, r.family, r.split))
    p = fitter(pool)
    models = [m for m in data["arena-bench"].models]
    kept_recs, q, _ = dense_rows(test, models)
    pred = predict_records(p, kept_recs, models)
    mean_q, mean_p = q.mean(axis=0), pred.mean(axis=0)
    rank = float(np.corrcoef(np.argsort(np.argsort(mean_q)), np.argsort(np.argsort(mean_p)))[0, 1])
    held_idx = [j for j, m in enumerate(models) if as_info(m).id in held]
    pairs = right = 0
    for a in held_idx:
        for b in range(len(models)):
            if b == a:
                continue
            diff_q, diff_p = q[:, a] - q[:, b], pred[:, a] - pred[:, b]
            mask = diff_q != 0
            pairs += int(mask.sum())
            right += int(((diff_q > 0) == (diff_p > 0))[mask].sum())
    out = {
        "held_out_models": sorted(held),
        "spearman_model_means": round(rank, 3),
        "per_prompt_pair_accuracy_involving_held_out": round(right / max(pairs, 1), 4),
        "per_model": {
            m: {"observed": round(float(mean_q[j]), 3), "predicted": round(float(mean_p[j]), 3)}
            for j, m in enumerate(models)
        },
    }
    log(
        f"  unseen models on arena-bench: Spearman of model means {rank:.3f}, per-prompt pair accuracy "
        f"{out['per_prompt_pair_accuracy_involving_held_out']:.3f}"
    )
    return out


def run(
    data: dict[str, Dataset], fitter: Fitter, *, k: int = 5, parts: Sequence[str] = (), log: Log = print
) -> dict[str, Any]:
    parts = parts or (
        "routerbench",
        "routerbench-tasks",
        *TWO_MODEL,
        "pooled",
        "arena-battles",
        "unseen-models",
    )
    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    for part in parts:
        if part == "routerbench":
            out[part] = routerbench(data, fitter, log)
        elif part == "routerbench-tasks":
            out[part] = routerbench_tasks(data, fitter, log)
        elif part in TWO_MODEL:
            out[part] = two_model(data, part, fitter, k, log)
        elif part == "pooled":
            out[part] = pooled(data, fitter, log)
        elif part == "arena-battles":
            out[part] = battles(data, fitter, log)
        elif part == "unseen-models":
            out[part] = unseen_models(data, fitter, log)
        else:
            raise ValueError(f"unknown report part {part!r}")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out
