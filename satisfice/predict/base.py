"""The predictor interface every router implementation shares (learned, heuristic, random, prior)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from satisfice.catalog import ModelInfo

Array = npt.NDArray[np.float64]
Messages = Sequence[Mapping[str, Any]]


@runtime_checkable
class QualityPredictor(Protocol):
    """P(model answers the request well), per candidate model; CPU only, no network."""

    name: str

    def predict(
        self,
        messages: Messages,
        models: Sequence[ModelInfo],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Array:
        """Shape (len(models),), each in [0, 1]."""
        ...

    def predict_many(self, prompts: Sequence[Messages], models: Sequence[ModelInfo]) -> Array:
        """Shape (len(prompts), len(models)): the batch path for evaluation."""
        ...

    def reference_quality(self, models: Sequence[ModelInfo]) -> Array:
        """(r, len(models)) predictions on the built-in reference prompt set (calibrates the share knob)."""
        ...


def sigmoid(s: Array) -> Array:
    out: Array = 0.5 * (1.0 + np.tanh(0.5 * s))  # overflow-free logistic
    return out


def prompt_text(messages: Messages) -> str:
    """The text of every message, in order (what the baselines hash and scan)."""
    parts: list[str] = []
    for m in messages:
        c = m.get("content")
        if isinstance(c, str):
            parts.append(c)
        elif isinstance(c, list):
            parts.extend(str(p.get("text", "")) for p in c if isinstance(p, Mapping))
    return "\n".join(parts)
