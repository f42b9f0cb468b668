"""Fake predictors and tiny canonical JSONL fixtures for the evaluation tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from satisfice.catalog import ModelInfo
from satisfice.data.records import Record

Array = npt.NDArray[np.float64]
Prompts = Sequence[Sequence[Mapping[str, Any]]]

WEAK, STRONG = "mixtral-8x7b-instruct", "gpt-4-1106-preview"


def text(messages: Sequence[Mapping[str, Any]]) -> str:
    return str(messages[-1]["content"])


class TablePredictor:
    """Predicts from a table: prompt text -> {model: quality}; `default` for anything else."""

    name = "table"

    def __init__(self, table: Mapping[str, Mapping[str, float]], default: float = 0.5) -> None:
        self.table = table
        self.default = default
        self.seen: list[str] = []  # prompt texts it was asked about

    def predict_many(self, prompts: Prompts, models: Sequence[ModelInfo]) -> Array:
        self.seen += [text(p) for p in prompts]
        rows = [[self.table.get(text(p), {}).get(m.id, self.default) for m in models] for p in prompts]
        return np.array(rows, dtype=np.float64)

    def reference_quality(self, models: Sequence[ModelInfo]) -> Array:
        return np.full((1, len(models)), self.default)


class ModelPredictor(TablePredictor):
    """The same prediction for every prompt: model id -> quality."""

    name = "per-model"

    def __init__(self, by_model: Mapping[str, float]) -> None:
        super().__init__({}, 0.0)
        self.by_model = by_model

    def predict_many(self, prompts: Prompts, models: Sequence[ModelInfo]) -> Array:
        self.seen += [text(p) for p in prompts]
        return np.tile([self.by_model[m.id] for m in models], (len(prompts), 1)).astype(np.float64)


class RecordingFit:
    """A `fit` that remembers what each call trained on and returns a predictor it can audit."""

    def __init__(self) -> None:
        self.trained: list[set[str]] = []  # prompt texts per fit() call
        self.predictors: list[TablePredictor] = []

    def __call__(self, records: Sequence[Record], *, seed: int = 0) -> TablePredictor:
        self.trained.append({text(r.messages) for r in records})
        pred = TablePredictor({}, 0.5)
        self.predictors.append(pred)
        return pred


def write_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def row(
    rid: str, outcomes: Mapping[str, tuple[float, float | None]], split: str | None = None
) -> dict[str, Any]:
    """One canonical line; the prompt text is the id."""
    out: dict[str, Any] = {
        "id": rid,
        "messages": [{"role": "user", "content": rid}],
        "outcomes": {
            m: {"quality": q} if c is None else {"quality": q, "cost_usd": c}
            for m, (q, c) in outcomes.items()
        },
    }
    if split is not None:
        out["split"] = split
    return out


# The two-model example worked by hand in test_metrics.py / test_evaluate.py.
TWO_WEAK_Q = [1, 0, 1, 0, 0]
TWO_STRONG_Q = [1, 1, 1, 1, 0]
TWO_WEAK_PRED = [0.9, 0.2, 0.7, 0.4, 0.1]


def two_model_rows() -> list[dict[str, Any]]:
    return [
        row(f"p{i + 1}", {WEAK: (float(w), 0.001), STRONG: (float(s), 0.01)})
        for i, (w, s) in enumerate(zip(TWO_WEAK_Q, TWO_STRONG_Q, strict=True))
    ]


def two_model_predictor() -> TablePredictor:
    return TablePredictor({f"p{i + 1}": {WEAK: p, STRONG: 0.95} for i, p in enumerate(TWO_WEAK_PRED)})
