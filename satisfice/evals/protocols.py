"""Which predictor scores which prompt: no prompt is scored by a predictor trained on it.

learned (default)  the data's train/test split when it has one (train on split == "train", score
                   split == "test"); otherwise k-fold cross-validation (`fit()` once per fold; an
                   explicit `folds` also overrides a split); with `train_on`, train on those
                   datasets (prompts that also occur in the scored data are left out) and score all.
heuristic, random, prior
                   no training: every prompt is scored.
learned-artifact   the committed artifact as is; flagged: it may have been trained on this data.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import cast

import numpy as np
import numpy.typing as npt

from satisfice.catalog import ModelInfo
from satisfice.data.records import Dataset, Record
from satisfice.evals.progress import Progress
from satisfice.evals.replay import EvalError
from satisfice.evals.standins import Fitter, PriorPredictor, QualityPredictor, RandomPredictor
from satisfice.predict.evaluate import text_key

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ROUTERS = ("learned", "heuristic", "random", "prior", "learned-artifact")
BATCH = 256
DEFAULT_FOLDS = 5


@dataclass(slots=True)
class Scored:
    rows: IntArray  # indices of the scored records
    predicted: Array  # (len(rows), m) predicted quality in [0, 1]
    protocol: str
    predictor: str
    may_have_seen_data: bool = False
    notes: list[str] = field(default_factory=list)


def _predict_module() -> ModuleType | None:
    try:
        return importlib.import_module("satisfice.predict")
    except ModuleNotFoundError as e:
        if e.name and "satisfice.predict".startswith(e.name):
            return None
        raise


def load_router(name: str, seed: int = 0) -> QualityPredictor:
    """A ready predictor by name (no training): satisfice.predict's, or a stand-in for prior/random."""
    mod = _predict_module()
    if mod is not None and hasattr(mod, "load_predictor"):
        return cast(QualityPredictor, mod.load_predictor(name))
    if name == "prior":
        return PriorPredictor()
    if name == "random":
        return RandomPredictor(seed)
    raise EvalError(f"router {name!r} needs satisfice.predict.load_predictor, which is not available here")


def default_fit() -> Fitter:
    mod = _predict_module()
    if mod is None or not hasattr(mod, "fit"):
        raise EvalError("router 'learned' needs satisfice.predict.fit, which is not available here")
    return cast(Fitter, mod.fit)


def predict(
    predictor: QualityPredictor, records: Sequence[Record], infos: Sequence[ModelInfo], progress: Progress
) -> Array:
    out = np.empty((len(records), len(infos)), dtype=np.float64)
    for start in range(0, len(records), BATCH):
        chunk = records[start : start + BATCH]
        block = np.asarray(predictor.predict_many([r.messages for r in chunk], infos), dtype=np.float64)
        if block.shape != (len(chunk), len(infos)):
            raise EvalError(
                f"predictor {predictor.name!r} returned shape {block.shape}, "
                f"expected {(len(chunk), len(infos))}"
            )
        out[start : start + len(chunk)] = block
        progress.advance(len(chunk))
    if not np.isfinite(out).all():
        raise EvalError(f"predictor {predictor.name!r} returned non-finite quality")
    return np.clip(out, 0.0, 1.0)


def _name(predictor: QualityPredictor, fallback: str) -> str:
    return str(getattr(predictor, "name", fallback))


def score(
    records: Sequence[Record],
    infos: Sequence[ModelInfo],
    router: str | QualityPredictor,
    *,
    dataset: str,
    folds: int | None = None,
    seed: int = 0,
    train_on: Sequence[str] = (),
    fit: Fitter | None = None,
    progress: Progress | None = None,
) -> Scored:
    """Predicted quality for the scored records under the router's protocol."""
    bar = progress or Progress(enabled=False)
    n = len(records)
    everything = np.arange(n, dtype=np.int64)
    if not isinstance(router, str):
        bar.stage("predict", n)
        name = _name(router, "custom")
        return Scored(
            everything, predict(router, records, infos, bar), f"given predictor {name}: all scored", name
        )
    if router not in ROUTERS:
        raise EvalError(f"unknown router {router!r} (known: {', '.join(ROUTERS)})")
    if router != "learned":
        if train_on:
            raise EvalError("--train-on needs --router learned")
        predictor = load_router("learned" if router == "learned-artifact" else router, seed)
        bar.stage(f"predict ({router})", n)
        predicted = predict(predictor, records, infos, bar)
        if router == "learned-artifact":
            protocol = "learned artifact as is: MAY HAVE SEEN THIS DATA (not a held-out score)"
            return Scored(everything, predicted, protocol, _name(predictor, router), may_have_seen_data=True)
        return Scored(
            everything, predicted, f"no training ({router}): all prompts scored", _name(predictor, router)
        )
    fitter = fit or default_fit()
    if train_on:
        return _cross_family(records, infos, fitter, dataset, train_on, seed, bar)
    train_rows = [i for i, r in enumerate(records) if r.split == "train"]
    test_rows = np.array([i for i, r in enumerate(records) if r.split == "test"], dtype=np.int64)
    if folds is None and train_rows and test_rows.size:
        bar.stage("fit (train split)", 1)
        train = [r for r in unseen_training(records, test_rows.tolist()) if r.split == "train"]
        predictor = fitter(train, seed=seed)
        bar.advance()
        bar.stage("predict (test split)", int(test_rows.size))
        predicted = predict(predictor, [records[i] for i in test_rows], infos, bar)
        protocol = f"split: {dataset} train→test ({len(train)} train, {test_rows.size} scored)"
        return Scored(test_rows, predicted, protocol, _name(predictor, router))
    return _cross_validate(records, infos, fitter, folds, seed, bar)


def unseen_training(records: Sequence[Record], held: Sequence[int]) -> list[Record]:
    """The records a model scoring `held` may train on: every other one whose prompt text is not
    the text of a held record (a dataset can hold one prompt under two ids: MMLU 105 texts,
    RouterBench's MBPP 2 across its split)."""
    banned = {text_key(records[i]) for i in held}
    chosen = set(held)
    return [r for i, r in enumerate(records) if i not in chosen and text_key(r) not in banned]


def cv_parts(records: Sequence[Record], k: int, seed: int) -> list[npt.NDArray[np.int64]]:
    """k folds of record indices, a seeded shuffle of the distinct prompt texts (duplicates share a
    fold, so no fold's twin is in its training set), each fold sorted."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(text_key(r), []).append(i)
    order = list(groups.values())
    shuffled = [order[int(j)] for j in np.random.default_rng(seed).permutation(len(order))]
    return [
        np.sort(np.array([i for g in part for i in g], dtype=np.int64))
        for part in (shuffled[j::k] for j in range(k))
    ]


def fold_count(n: int, folds: int | None) -> tuple[int, str]:
    """k for k-fold CV over n prompts, and a note when the default was lowered: an explicit --folds
    must fit the data; the default (5) is lowered to the number of prompts (at least 2)."""
    if folds is not None:
        if not 2 <= folds <= n:
            raise EvalError(f"--folds must be between 2 and the number of prompts ({n}), got {folds}")
        return folds, ""
    if n < 2:
        raise EvalError(f"cross-validation needs at least 2 prompts; the data has {n}")
    k = min(DEFAULT_FOLDS, n)
    return k, "" if k == DEFAULT_FOLDS else f" (the default {DEFAULT_FOLDS} folds lowered to the {n} prompts)"


def _cross_validate(
    records: Sequence[Record],
    infos: Sequence[ModelInfo],
    fitter: Fitter,
    folds: int | None,
    seed: int,
    bar: Progress,
) -> Scored:
    n = len(records)
    k, note = fold_count(n, folds)
    predicted = np.empty((n, len(infos)), dtype=np.float64)
    name = "learned"
    for i, held in enumerate(cv_parts(records, k, seed)):
        bar.stage(f"fold {i + 1}/{k}: fit+predict", int(held.size) + 1)
        predictor = fitter(unseen_training(records, held.tolist()), seed=seed)
        bar.advance()
        name = _name(predictor, name)
        predicted[held] = predict(predictor, [records[int(j)] for j in held], infos, bar)
    return Scored(
        np.arange(n, dtype=np.int64), predicted, f"{k}-fold CV by prompt text{note}, seed {seed}", name
    )


def _train_on(name: str) -> Dataset:
    """A --train-on dataset; EvalError names the flag and the value at fault."""
    from satisfice.data.jsonl import load_dataset

    try:
        return load_dataset(name)
    except KeyError as e:
        raise EvalError(f"--train-on {name}: {e.args[0] if e.args else e}") from None
    except (FileNotFoundError, ValueError) as e:
        raise EvalError(f"--train-on {name}: {e}") from None


def _cross_family(
    records: Sequence[Record],
    infos: Sequence[ModelInfo],
    fitter: Fitter,
    dataset: str,
    train_on: Sequence[str],
    seed: int,
    bar: Progress,
) -> Scored:
    ids = {r.id for r in records}
    texts = {r.prompt_text() for r in records}
    train: list[Record] = []
    overlap = 0
    for name in train_on:
        for r in _train_on(name).records:
            if r.id in ids or r.prompt_text() in texts:
                overlap += 1
            else:
                train.append(r)
    if not train:
        raise EvalError(f"--train-on {','.join(train_on)}: no training prompt left outside {dataset}")
    bar.stage("fit (train-on)", 1)
    predictor = fitter(train, seed=seed)
    bar.advance()
    bar.stage("predict", len(records))
    predicted = predict(predictor, records, infos, bar)
    protocol = f"trained on {','.join(train_on)} ({len(train)} prompts"
    protocol += f", {overlap} also in {dataset} left out)" if overlap else ")"
    return Scored(np.arange(len(records), dtype=np.int64), predicted, protocol, _name(predictor, "learned"))
