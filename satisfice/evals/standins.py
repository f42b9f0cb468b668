"""The quality-predictor protocol the evaluation codes against, plus two trivial predictors.

The real predictors live in `satisfice.predict` (imported lazily). `PriorPredictor` and
`RandomPredictor` are used for the routers "prior" and "random" only when `satisfice.predict` is not
installed, and by the tests; the output then says "stand-in".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from satisfice.catalog import ModelInfo
from satisfice.data.records import Record

Array = npt.NDArray[np.float64]
Prompts = Sequence[Sequence[Mapping[str, Any]]]


class QualityPredictor(Protocol):
    name: str

    def predict_many(self, prompts: Prompts, models: Sequence[ModelInfo]) -> Array: ...

    def reference_quality(self, models: Sequence[ModelInfo]) -> Array: ...


class Fitter(Protocol):
    def __call__(self, records: Sequence[Record], *, seed: int = 0) -> QualityPredictor: ...


class PriorPredictor:
    """Every prompt gets each model's catalog `quality_prior`: one fixed ranking, no prompt signal."""

    name = "prior (stand-in)"

    def predict_many(self, prompts: Prompts, models: Sequence[ModelInfo]) -> Array:
        row = np.array([m.quality_prior for m in models], dtype=np.float64)
        return np.tile(row, (len(prompts), 1))

    def reference_quality(self, models: Sequence[ModelInfo]) -> Array:
        return self.predict_many([()], models)


class RandomPredictor:
    """Uniform random predictions (seeded): the random router."""

    name = "random (stand-in)"

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)

    def predict_many(self, prompts: Prompts, models: Sequence[ModelInfo]) -> Array:
        return self._rng.random((len(prompts), len(models)))

    def reference_quality(self, models: Sequence[ModelInfo]) -> Array:
        return self._rng.random((256, len(models)))
