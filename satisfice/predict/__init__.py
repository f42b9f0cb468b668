"""The router's quality predictor: P(model answers well | request) for any catalog model, on the CPU.

load_predictor("learned" | "heuristic" | "random" | "prior" | PATH.npz) -> QualityPredictor
fit(records, seed=0, **settings) -> QualityPredictor      (train in-process)
train_command / add_train_parser                          (`satisfice train`)
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Any

from satisfice.data.records import Record
from satisfice.predict.base import QualityPredictor
from satisfice.predict.cli import add_train_parser, train_command

__all__ = ["PREDICTORS", "QualityPredictor", "add_train_parser", "fit", "load_predictor", "train_command"]

PREDICTORS = ("learned", "heuristic", "random", "prior")
_LOCK = threading.Lock()


@functools.cache
def _load(name: str) -> QualityPredictor:
    from satisfice.predict.baselines import HeuristicPredictor, PriorPredictor, RandomPredictor
    from satisfice.predict.embed import get_embedder
    from satisfice.predict.learned import (
        ARTIFACT,
        ARTIFACT_DIR,
        LearnedPredictor,
        artifact_files,
        artifact_stem,
    )

    if name == "heuristic":
        return HeuristicPredictor()
    if name == "random":
        return RandomPredictor()
    if name == "prior":
        return PriorPredictor()
    path = ARTIFACT_DIR / ARTIFACT if name == "learned" else artifact_stem(name)
    if name != "learned" and not artifact_files(path)[0].is_file():
        raise ValueError(
            f"unknown predictor {name!r}: use one of {', '.join(PREDICTORS)} or an artifact path"
        )
    pred = LearnedPredictor.load(path, name=name if name == "learned" else path.name)
    get_embedder()  # load the tokenizer now, not on the first request (the token table stays lazy)
    return pred


def load_predictor(name: str = "learned") -> QualityPredictor:
    """A predictor by name ("learned": the packaged artifact; "heuristic", "random", "prior": baselines)
    or by artifact path (`PATH.npz` written by `satisfice train`). Cached per name; thread-safe."""
    with _LOCK:
        return _load(name)


def fit(records: Sequence[Record], *, seed: int = 0, **settings: Any) -> QualityPredictor:
    """Train a learned predictor in-process (deterministic given the seed); see `predict.train.Settings`."""
    from satisfice.predict.train import fit as _fit

    return _fit(records, seed=seed, **settings)
