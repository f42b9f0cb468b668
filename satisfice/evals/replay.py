"""A dataset as dense (prompt x model) quality and cost matrices, ready to replay any routing decision.

Costs, per (prompt, model):
  * the record's `cost_usd` when the data has it (RouterBench: the real per-call cost);
  * otherwise the catalog price x tokens: prompt tokens counted offline with `satisfice.tokens`,
    completion tokens counted from the recorded response when there is one, else
    `DEFAULT_COMPLETION_TOKENS` (256). A model with several catalog entries (providers) is
    priced by its first entry in the catalog file.
The router never sees these per-call costs (they depend on the answer): it decides with one
typical cost per model, `decision_cost` = the model's mean cost over the data's train split when
it has one, else over the whole dataset (a price, not an outcome; the mean of answer lengths is
the only trace of the scored prompts it can carry). Prompts lacking an outcome for some model are
dropped (arena-bench: 29 of 300).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from satisfice.catalog import ModelInfo, load_catalog, parse_entries
from satisfice.data.records import Dataset, Record

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_COMPLETION_TOKENS = 256


class EvalError(Exception):
    """A dataset or request the evaluation cannot replay; the CLI prints it and exits with code 2."""


def model_info(model: str, *, need_price: bool) -> ModelInfo:
    """The catalog entry for a dataset model (its first entry), or a price-less stand-in when the data
    carries its own costs (a predictor still needs a ModelInfo to look at)."""
    found = load_catalog().lookup(model)
    if found:
        return found[0]
    if need_price:
        raise EvalError(
            f"model {model!r} has no cost_usd in the data and is not in the catalog: cannot price it"
        )
    entry = {
        "id": model,
        "provider": "unknown",
        "input_per_mtok": 0,
        "output_per_mtok": 0,
        "context_window": 1,
    }
    return parse_entries([entry])[0]


@dataclass(slots=True)
class Replay:
    name: str
    models: list[str]
    infos: list[ModelInfo]
    records: list[Record]  # the complete rows, in dataset order
    quality: Array  # (n, m) observed quality in [0, 1]
    cost: Array  # (n, m) US dollars per call
    decision_cost: Array  # (m,) what the router sees: one typical cost per model
    cost_source: str
    dropped: int  # prompts dropped for lacking an outcome

    @property
    def n(self) -> int:
        return int(self.quality.shape[0])

    def strong(self) -> int:
        """Two models: the dearer one (RouteLLM's strong model: the share of calls to it is the cost
        axis; ties -> the better). More models: the best single one (mean quality; ties -> the
        costlier), the bar the router's quality is measured against."""
        mean = self.quality.mean(axis=0)
        if len(self.models) == 2:
            return int(np.lexsort((-mean, -self.decision_cost))[0])
        return int(np.lexsort((-self.decision_cost, -mean))[0])

    def subset(self, rows: IntArray) -> Replay:
        return Replay(
            self.name,
            self.models,
            self.infos,
            [self.records[i] for i in rows],
            self.quality[rows],
            self.cost[rows],
            self.decision_cost,
            self.cost_source,
            self.dropped,
        )


def _estimated_cost(record: Record, model: str, info: ModelInfo, cache: dict[tuple[str, str], int]) -> float:
    from satisfice.tokens import count_prompt, count_text, encoding_name_for

    enc = encoding_name_for(model)
    key = (record.id, enc)
    if key not in cache:
        cache[key] = count_prompt({"messages": [dict(m) for m in record.messages]}, model)
    response = record.outcomes[model].response
    # An empty answer is 0 tokens, as the gateway bills it; only a missing one is guessed.
    completion = count_text(response, model) if response is not None else DEFAULT_COMPLETION_TOKENS
    return info.cost_usd(cache[key], completion)


def build_replay(dataset: Dataset, models: Sequence[str] | None = None) -> Replay:
    """The replay of `models` (default: every model of the data) on the records that have an outcome
    for each of them (the others are dropped and counted); other models' outcomes are left out."""
    models = list(dataset.models if models is None else models)
    if len(models) < 2:
        raise EvalError(f"{dataset.name}: needs outcomes for at least two models, found {len(models)}")
    records = [_only(r, models) for r in dataset.records if all(m in r.outcomes for m in models)]
    dropped = len(dataset.records) - len(records)
    if not records:
        raise EvalError(
            f"{dataset.name}: no prompt has an outcome for every model ({len(models)} models), so it "
            "cannot be replayed as a prompt x model matrix"
        )
    recorded = [[r.outcomes[m].cost_usd is not None for m in models] for r in records]
    has_cost = np.array(recorded, dtype=np.bool_)
    infos = [model_info(m, need_price=not bool(has_cost[:, j].all())) for j, m in enumerate(models)]
    quality = np.array([[r.outcomes[m].quality for m in models] for r in records], dtype=np.float64)
    cost = np.zeros(quality.shape, dtype=np.float64)
    cache: dict[tuple[str, str], int] = {}
    for i, r in enumerate(records):
        for j, m in enumerate(models):
            given = r.outcomes[m].cost_usd
            cost[i, j] = given if given is not None else _estimated_cost(r, m, infos[j], cache)
    if has_cost.all():
        source = "recorded cost_usd per call"
    else:
        source = (
            f"catalog price x tokens (prompt tokens counted; completion tokens from the recorded "
            f"response, else {DEFAULT_COMPLETION_TOKENS})"
        )
        if has_cost.any():
            source = "mixed: recorded cost_usd where present, else " + source
    train = np.array([r.split == "train" for r in records], dtype=np.bool_)
    typical = cost[train].mean(axis=0) if train.any() and not train.all() else cost.mean(axis=0)
    return Replay(dataset.name, models, infos, records, quality, cost, typical, source, dropped)


def _only(record: Record, models: Sequence[str]) -> Record:
    if len(record.outcomes) == len(models):
        return record
    return dataclasses.replace(record, outcomes={m: record.outcomes[m] for m in models})


def summarize_picks(replay: Replay, picks: IntArray) -> dict[str, Any]:
    """Quality, cost per 1,000 prompts and model shares of one routing decision per prompt."""
    rows = np.arange(replay.n)
    counts = np.bincount(picks, minlength=len(replay.models))
    return {
        "quality": float(replay.quality[rows, picks].mean()),
        "cost_per_1k": float(replay.cost[rows, picks].mean() * 1000),
        "strong_share": float(counts[replay.strong()] / replay.n),
        "model_shares": {m: float(c / replay.n) for m, c in zip(replay.models, counts, strict=True)},
    }


def oracle_picks(quality: Array, cost: Array) -> IntArray:
    """Per prompt the cheapest of the models with the best observed quality: for 0/1 data the cheapest
    correct model, or the cheapest model when none is correct."""
    top = quality == quality.max(axis=1, keepdims=True)
    c = np.where(top, cost, np.inf)
    return np.asarray(np.argmin(c, axis=1), dtype=np.int64)


def single_models(replay: Replay) -> dict[str, dict[str, float]]:
    return {
        m: {
            "quality": float(replay.quality[:, j].mean()),
            "cost_per_1k": float(replay.cost[:, j].mean() * 1000),
        }
        for j, m in enumerate(replay.models)
    }


def prompts_of(records: Sequence[Record]) -> list[Sequence[Mapping[str, Any]]]:
    return [r.messages for r in records]
