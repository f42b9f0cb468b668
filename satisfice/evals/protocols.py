"""Which predictor scores which prompt: no prompt is scored by a predictor trained on it.

learned (default)  refitted here, never the packaged artifact: the data's train/test split when it
                   has one (train on split == "train", score split == "test"); otherwise k-fold
                   cross-validation (`fit()` once per fold; an explicit `folds` also overrides a
                   split); with `train_on`, train on those datasets (prompts that also occur in the
                   scored data are left out) and score all.
heuristic, random, prior
                   no training: every prompt is scored.
learned-artifact   the packaged artifact as is, every prompt scored. Its record names the datasets
                   it was trained on: a shared dataset among them is flagged as seen (not a held-out
                   score); any other data gets a caution, since a file may hold those prompts.

Prompts are told apart by their whole conversation (`Record.conversation_text`): two conversations
ending with the same user turn ("Continue") are two prompts; one text under two ids is one prompt,
so it is never both trained on and scored.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import cast

import numpy as np
import numpy.typing as npt
import orjson

from satisfice.catalog import ModelInfo
from satisfice.data.records import Dataset, Record
from satisfice.evals.progress import Progress
from satisfice.evals.replay import EvalError
from satisfice.evals.standins import Fitter, PriorPredictor, QualityPredictor, RandomPredictor

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
    may_have_seen_data: bool = False  # the packaged artifact: it may have (a caution)
    trained_on_data: bool = False  # ... and it is known to have: a shared dataset it names
    notes: list[str] = field(default_factory=list)
    folds: int | None = None  # the folds of a cross-validation (None: another protocol)


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
    limit: int | None = None,
    shared: str | None = None,
) -> Scored:
    """Predicted quality for the scored records under the router's protocol; `limit`: only the first
    N of the prompts the protocol scores; `shared`: the shared dataset's name when the data is one."""
    bar = progress or Progress(enabled=False)
    if limit is not None and limit < 1:
        raise EvalError(f"--limit must be at least 1, got {limit}")
    if not isinstance(router, str):
        rows = _first(np.arange(len(records), dtype=np.int64), limit)
        bar.stage("predict", int(rows.size))
        name = _name(router, "custom")
        protocol = f"given predictor {name}: all scored"
        return Scored(rows, predict(router, _at(records, rows), infos, bar), protocol, name)
    if router not in ROUTERS:
        raise EvalError(f"unknown router {router!r} (known: {', '.join(ROUTERS)})")
    if router != "learned":
        return _untrained(records, infos, router, seed, train_on, limit, shared, bar)
    fitter = fit or default_fit()
    if train_on:
        return _cross_family(records, infos, fitter, dataset, train_on, seed, bar, limit)
    train_rows = [i for i, r in enumerate(records) if r.split == "train"]
    test_rows = np.array([i for i, r in enumerate(records) if r.split == "test"], dtype=np.int64)
    if folds is None and train_rows and test_rows.size:
        bar.stage("fit (train split)", 1)
        train = [r for r in unseen_training(records, test_rows.tolist()) if r.split == "train"]
        predictor = fit_checked(fitter, train, seed, "the train split")
        bar.advance()
        rows = _first(test_rows, limit)
        bar.stage("predict (test split)", int(rows.size))
        predicted = predict(predictor, _at(records, rows), infos, bar)
        protocol = f"split: {dataset} train→test ({len(train)} train, {test_rows.size} scored)"
        others = len(records) - len(train_rows) - test_rows.size
        if others:  # "validation", a typo, or none: a split protocol uses train and test only
            protocol += f"; {others} records whose split is neither train nor test are left out"
        return Scored(rows, predicted, protocol + _limited(rows, limit), _name(predictor, router))
    scored = _cross_validate(records, infos, fitter, folds, seed, bar, limit)
    if folds is None and (train_rows or test_rows.size):  # a split without one of its halves
        half = "test" if train_rows else "train"
        scored.protocol += f"; the data's split has no {half} lines, so it is not used"
    return scored


def _first(rows: IntArray, limit: int | None) -> IntArray:
    return rows if limit is None else rows[:limit]


def _at(records: Sequence[Record], rows: IntArray) -> list[Record]:
    return [records[int(i)] for i in rows]


def _limited(rows: IntArray, limit: int | None) -> str:
    return "" if limit is None else f"; first {rows.size} scored prompts (--limit)"


def _untrained(
    records: Sequence[Record],
    infos: Sequence[ModelInfo],
    router: str,
    seed: int,
    train_on: Sequence[str],
    limit: int | None,
    shared: str | None,
    bar: Progress,
) -> Scored:
    """A router used as it is (no fitting here): every prompt scored."""
    if train_on:
        raise EvalError("--train-on needs --router learned")
    predictor = load_router("learned" if router == "learned-artifact" else router, seed)
    rows = _first(np.arange(len(records), dtype=np.int64), limit)
    bar.stage(f"predict ({router})", int(rows.size))
    predicted = predict(predictor, _at(records, rows), infos, bar)
    name = _name(predictor, router)
    if router == "learned-artifact":
        protocol, trained = artifact_protocol(shared)
        protocol += _limited(rows, limit)
        return Scored(rows, predicted, protocol, name, may_have_seen_data=True, trained_on_data=trained)
    return Scored(
        rows, predicted, f"no training ({router}): all prompts scored" + _limited(rows, limit), name
    )


def artifact_datasets() -> list[str]:
    """The datasets the packaged artifact was trained on, from its record (empty when unknown)."""
    try:
        from satisfice.predict.learned import ARTIFACT, ARTIFACT_DIR

        meta = orjson.loads((ARTIFACT_DIR / f"{ARTIFACT}.json").read_bytes())
        return [str(d["name"]) for d in meta["data"]]
    except (ImportError, OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return []


def artifact_protocol(shared: str | None) -> tuple[str, bool]:
    """The protocol line for the packaged artifact used as is, and whether it is known to have been
    trained on the data: a shared dataset its record names (or any, when it names none). Another file
    gets a caution only: it may hold those datasets' prompts, which is not cheap to tell."""
    names = artifact_datasets()
    if shared is not None and (shared in names or not names):
        return f"learned artifact as is: TRAINED ON {shared} (not a held-out score)", True
    trained = ", ".join(names) if names else "unknown datasets"
    return (
        f"learned artifact as is, trained on {trained}: held out only if these prompts are not from "
        "those datasets",
        False,
    )


def fit_checked(fitter: Fitter, train: Sequence[Record], seed: int, what: str) -> QualityPredictor:
    """`fitter(train)`, with a training set it cannot use as one line (EvalError), not a traceback."""
    if not train:
        raise EvalError(f"no prompt left to train on for {what}")
    try:
        return fitter(train, seed=seed)
    except ValueError as e:
        raise EvalError(f"fitting the learned router on {what}: {e}") from None


def unseen_training(records: Sequence[Record], held: Sequence[int]) -> list[Record]:
    """The records a model scoring `held` may train on: every other one whose prompt text is not
    the text of a held record (a dataset can hold one prompt under two ids: MMLU 105 texts,
    RouterBench's MBPP 2 across its split)."""
    banned = {prompt_key(records[i]) for i in held}
    chosen = set(held)
    return [r for i, r in enumerate(records) if i not in chosen and prompt_key(r) not in banned]


def prompt_key(r: Record) -> str:
    """What makes two records one prompt: the same whole conversation (see the module doc)."""
    return r.conversation_text().strip()


def prompt_groups(records: Sequence[Record]) -> list[list[int]]:
    """Record indices grouped by prompt, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(prompt_key(r), []).append(i)
    return list(groups.values())


def cv_parts(records: Sequence[Record], k: int, seed: int) -> list[npt.NDArray[np.int64]]:
    """k folds of record indices, a seeded shuffle of the distinct prompts (duplicates share a fold,
    so no fold's twin is in its training set), each fold sorted."""
    order = prompt_groups(records)
    shuffled = [order[int(j)] for j in np.random.default_rng(seed).permutation(len(order))]
    return [
        np.sort(np.array([i for g in part for i in g], dtype=np.int64))
        for part in (shuffled[j::k] for j in range(k))
    ]


def cv_folds(records: Sequence[Record], folds: int | None, seed: int) -> tuple[list[IntArray], int, str]:
    """The folds of k-fold CV over `records` (k from `fold_count` on the distinct prompts), k, and
    the note on a lowered default."""
    distinct = len(prompt_groups(records))
    k, note = fold_count(distinct, folds, len(records))
    return cv_parts(records, k, seed), k, note


def fold_count(n: int, folds: int | None, records: int | None = None) -> tuple[int, str]:
    """k for k-fold CV over n distinct prompts (held in `records` records), and a note when the
    default was lowered: an explicit --folds must fit the data; the default (5) is lowered to the
    number of prompts (at least 2)."""
    twins = "" if records is None or records == n else f"; its {records} records hold {n} distinct prompts"
    if folds is not None:
        if not 2 <= folds <= n:
            raise EvalError(f"--folds must be between 2 and the number of prompts ({n}{twins}), got {folds}")
        return folds, ""
    if n < 2:
        raise EvalError(f"cross-validation needs at least 2 prompts; the data has {n}{twins}")
    k = min(DEFAULT_FOLDS, n)
    return k, "" if k == DEFAULT_FOLDS else f" (the default {DEFAULT_FOLDS} folds lowered to the {n} prompts)"


def _cross_validate(
    records: Sequence[Record],
    infos: Sequence[ModelInfo],
    fitter: Fitter,
    folds: int | None,
    seed: int,
    bar: Progress,
    limit: int | None = None,
) -> Scored:
    n = len(records)
    parts, k, note = cv_folds(records, folds, seed)
    predicted = np.empty((n, len(infos)), dtype=np.float64)
    name = "learned"
    for i, held in enumerate(parts):
        rows = held if limit is None else held[held < limit]
        if rows.size == 0:
            continue  # --limit: nothing of this fold is scored, so no fit for it
        bar.stage(f"fold {i + 1}/{k}: fit+predict", int(rows.size) + 1)
        predictor = fit_checked(fitter, unseen_training(records, held.tolist()), seed, f"fold {i + 1}/{k}")
        bar.advance()
        name = _name(predictor, name)
        predicted[rows] = predict(predictor, _at(records, rows), infos, bar)
    rows = _first(np.arange(n, dtype=np.int64), limit)
    protocol = f"{k}-fold CV by prompt text{note}, seed {seed}" + _limited(rows, limit)
    return Scored(rows, predicted[rows], protocol, name, folds=k)


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
    limit: int | None = None,
) -> Scored:
    ids = {r.id for r in records}
    texts = {prompt_key(r) for r in records}
    train: list[Record] = []
    overlap = 0
    for name in train_on:
        for r in _train_on(name).records:
            if r.id in ids or prompt_key(r) in texts:
                overlap += 1
            else:
                train.append(r)
    if not train:
        raise EvalError(f"--train-on {','.join(train_on)}: no training prompt left outside {dataset}")
    bar.stage("fit (train-on)", 1)
    predictor = fit_checked(fitter, train, seed, f"--train-on {','.join(train_on)}")
    bar.advance()
    rows = _first(np.arange(len(records), dtype=np.int64), limit)
    bar.stage("predict", int(rows.size))
    predicted = predict(predictor, _at(records, rows), infos, bar)
    protocol = f"trained on {','.join(train_on)} ({len(train)} prompts"
    protocol += f", {overlap} also in {dataset} left out)" if overlap else ")"
    return Scored(rows, predicted, protocol + _limited(rows, limit), _name(predictor, "learned"))
