"""The quality predictor: the packaged artifact, catalog features for unseen models, fit(), baselines."""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from satisfice.catalog import ModelInfo, load_catalog
from satisfice.data.records import Outcome, Record
from satisfice.predict import QualityPredictor, add_train_parser, fit, load_predictor
from satisfice.predict.learned import ARTIFACT, ARTIFACT_DIR, LearnedPredictor
from satisfice.predict.model_features import as_info, neutral_info

HARD = [
    "Prove that there are infinitely many primes of the form 4k+3, then find the error in this proof attempt "
    "and explain it step by step.",
    "Implement a lock-free multi-producer multi-consumer queue in C++ with correct memory ordering, "
    "and explain why each atomic operation is needed.",
    "A tank holds 1200 litres. Pipe A fills it in 6 hours, pipe B in 4 hours, and a drain empties it in "
    "8 hours. If all three are opened at 9:15, at what time is the tank full? Show your work.",
]


def msgs(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def cat(*names: str) -> list[ModelInfo]:
    return [load_catalog().lookup(n)[0] for n in names]


@pytest.fixture(scope="module")
def learned() -> QualityPredictor:
    return load_predictor("learned")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def test_artifact_loads_offline_and_is_deterministic(no_network: None) -> None:
    from satisfice.predict.embed import Embedder

    Embedder()  # the embedding table and tokenizer come from the installed wheel, never a hub
    a = LearnedPredictor.load(ARTIFACT_DIR / ARTIFACT)
    b = LearnedPredictor.load(ARTIFACT_DIR / ARTIFACT)
    models = cat("gpt-4-1106-preview", "mixtral-8x7b-instruct", "gpt-4o")
    for text in [*HARD, "hi"]:
        assert np.array_equal(a.predict(msgs(text), models), b.predict(msgs(text), models))
    meta = json.loads((ARTIFACT_DIR / ARTIFACT).with_suffix(".json").read_text())
    assert meta["seed"] == 0 and meta["data"] and meta["settings"]
    assert (ARTIFACT_DIR / ARTIFACT).with_suffix(".npz").stat().st_size < 5_000_000


def test_request_path_predicts_what_the_batch_path_does() -> None:
    """The request path (one prompt in plain floats, embedding not pooled when unweighted, terms kept
    with the cached features) gives the batch path's numbers, on a repeat too."""
    from satisfice.predict.features import prompt_features

    p = LearnedPredictor.load(ARTIFACT_DIR / ARTIFACT)
    models = cat("gpt-4-1106-preview", "mixtral-8x7b-instruct", "gpt-4o")
    for text in [*HARD, "hi", "Prove that there are infinitely many primes, step by step."]:
        batch = p.predict_features(prompt_features(msgs(text))[None, :], models)[0]
        first, repeat = p.predict(msgs(text), models), p.predict(msgs(text), models)
        assert np.allclose(first, batch, rtol=0, atol=1e-12) and np.array_equal(first, repeat)


def test_embedding_is_wordllamas_and_cache_independent() -> None:
    import wordllama
    from wordllama import WordLlama

    from satisfice.predict.embed import Embedder

    text = "Write a Python function that merges two sorted lists.\nIt should run in O(n) time, please!"
    cold, warm = Embedder(), Embedder()
    warm.token_ids("Write a function that merges lists in time")  # pre-fill some pieces
    ids = cold.token_ids(text)
    assert np.array_equal(ids, warm.token_ids(text)) and np.array_equal(ids, cold.token_ids(text))
    assert np.array_equal(ids, cold._encode([text])[0])  # = tokenising the whole text at once
    wl = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    assert float(wl.embed([text], norm=True)[0] @ cold.pool(ids)) > 0.9999


def test_shapes_and_ranges(learned: QualityPredictor) -> None:
    models = cat("gpt-4-1106-preview", "gpt-3.5-turbo-1106", "claude-instant-1.2", "mixtral-8x7b-instruct")
    q = learned.predict(msgs("What is the boiling point of water?"), models)
    assert q.shape == (4,) and q.dtype == np.float64 and np.all((q >= 0) & (q <= 1))
    many = learned.predict_many([msgs(t) for t in HARD], models)
    assert many.shape == (3, 4) and np.all((many >= 0) & (many <= 1))
    assert np.allclose(many[0], learned.predict(msgs(HARD[0]), models))
    ref = learned.reference_quality(models)
    assert ref.shape[1] == 4 and 300 <= ref.shape[0] <= 700 and np.all((ref >= 0) & (ref <= 1))
    assert learned.predict_many([], models).shape == (0, 4)
    assert learned.predict(msgs("hi"), []).shape == (0,)


def test_odd_requests_do_not_crash(learned: QualityPredictor) -> None:
    models = cat("gpt-4o", "gpt-4o-mini")
    odd: list[list[dict[str, Any]]] = [
        [{"role": "system", "content": "You are terse."}],  # no user turn
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "data:,"}},
                ],
            }
        ],
        [{"role": "user", "content": ""}],
        [
            {"role": "user", "content": None},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "再见"},
        ],
        msgs("x " * 200_000),
    ]
    for m in odd:
        q = learned.predict(m, models, tools=[{"type": "function"}], response_format={"type": "json_object"})
        assert q.shape == (2,) and np.all(np.isfinite(q))


def test_unseen_catalog_models_follow_their_priors(learned: QualityPredictor) -> None:
    strong, weak = cat("gpt-4o"), cat("mistral-7b-instruct")
    for text in HARD:
        assert learned.predict(msgs(text), strong)[0] > learned.predict(msgs(text), weak)[0]
    # An unseen mid-prior model lands between a weak and a strong one, on average over hard prompts.
    models = cat("llama-2-7b-chat", "llama-3.1-70b-instruct", "o1")
    mean = learned.predict_many([msgs(t) for t in HARD], models).mean(axis=0)
    assert mean[0] < mean[1] < mean[2]
    # A user-defined weak, ultra-cheap model (outside the training models' price range) is never lifted
    # above stronger ones: the prior acts monotonically, the specialisation does not extrapolate.
    from satisfice.catalog import parse_entries

    tiny = parse_entries(
        [
            {
                "id": "tiny-cheap",
                "provider": "openai",
                "input_per_mtok": 0.01,
                "output_per_mtok": 0.01,
                "context_window": 1000,
                "quality_prior": 0.3,
            }
        ]
    )[0]
    for text in [*HARD, "What is 2+2?", "hi", "Write a haiku about autumn.", "def f(x): return x"]:
        q = learned.predict(msgs(text), [tiny, *cat("gpt-4o-mini", "claude-3-5-haiku", "gpt-4o")])
        assert q[0] < q[1:].min(), text
    # A model the catalog does not know gets neutral features and a finite prediction.
    q = learned.predict(msgs(HARD[0]), [as_info("totally-unknown-model"), neutral_info("x y")])
    assert np.all((q > 0) & (q < 1))


def _toy(n: int) -> list[Record]:
    out = []
    for i in range(n):
        hard = i % 2 == 0
        text = (
            f"Solve the integral of x^{i} * sin(x) dx step by step and prove convergence {i}"
            if hard
            else f"Say hello to my friend number {i} in a cheerful way"
        )
        out.append(
            Record(
                str(i),
                tuple(msgs(text)),
                {"mistral-7b-instruct": Outcome(0.0 if hard else 1.0), "gpt-4-1106-preview": Outcome(1.0)},
                "toy",
            )
        )
    return out


def test_fit_learns_an_obvious_signal_deterministically() -> None:
    recs = _toy(60)
    a = fit(recs, seed=3, steps=150, reference_per_family=10)
    b = fit(recs, seed=3, steps=150, reference_per_family=10)
    models = cat("mistral-7b-instruct", "gpt-4-1106-preview")
    hard = a.predict(msgs("Solve the integral of x^2 * cos(x) dx step by step and prove it"), models)
    easy = a.predict(msgs("Say hello to my neighbour in a cheerful way"), models)
    assert hard[1] - hard[0] > easy[1] - easy[0] + 0.2
    assert hard[0] < easy[0]
    assert np.array_equal(
        hard, b.predict(msgs("Solve the integral of x^2 * cos(x) dx step by step and prove it"), models)
    )
    with pytest.raises(TypeError):
        fit(recs, no_such_setting=1)


def test_train_command_writes_a_loadable_artifact(tmp_path: Path) -> None:
    from satisfice.data.jsonl import record_json

    data = tmp_path / "toy.jsonl"
    data.write_text("".join(json.dumps(record_json(r)) + "\n" for r in _toy(40)))
    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "train",
            "--no-shared",
            "--data",
            str(data),
            "--seed",
            "1",
            "--out",
            str(tmp_path / "m"),
            "--set",
            "steps=60",
            "--set",
            "reference_per_family=5",
        ]
    )
    assert args.func(args) == 0
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["seed"] == 1 and meta["data"][0]["rows"] == 40 and meta["settings"]["steps"] == 60
    p = load_predictor(str(tmp_path / "m.npz"))
    assert p.predict(msgs("hello"), cat("gpt-4o")).shape == (1,)


def test_baselines() -> None:
    models = cat("gpt-4o", "mistral-7b-instruct", "gpt-4o-mini")
    rnd = load_predictor("random")
    a, b = rnd.predict(msgs("one prompt"), models), rnd.predict(msgs("another prompt"), models)
    assert np.array_equal(a, rnd.predict(msgs("one prompt"), models)) and not np.array_equal(a, b)
    assert np.all((a >= 0) & (a < 1))
    assert rnd.predict(msgs("one prompt"), models[::-1])[0] == a[-1]  # per (prompt, model), not per slot
    prior = load_predictor("prior")
    assert list(prior.predict(msgs("x"), models)) == [m.quality_prior for m in models]
    heur = load_predictor("heuristic")
    easy, hard = heur.predict(msgs("hi there"), models), heur.predict(msgs(HARD[0]), models)
    assert np.all(hard <= easy) and hard[0] > hard[1]
    tools = heur.predict(
        msgs("call the tool"), cat("gpt-4o", "mistral-7b-instruct"), tools=[{"type": "function"}]
    )
    assert tools[1] < 0.2 * models[1].quality_prior + 1e-9
    for p in (rnd, prior, heur):
        assert p.reference_quality(models).shape[1] == 3
        assert p.predict_many([msgs("a"), msgs("b")], models).shape == (2, 3)
    with pytest.raises(ValueError):
        load_predictor("no-such-router")


def test_many_candidates_predict_what_the_batch_path_does() -> None:
    """With many candidates the request path runs in numpy over a block kept per candidate list;
    it gives the batch path's numbers, and an entry replaced by another one is predicted anew."""
    import dataclasses

    from satisfice.predict.features import prompt_features

    p = LearnedPredictor.load(ARTIFACT_DIR / ARTIFACT)
    models = [m for m in load_catalog() if m.kind == "chat"][:30]
    for text in [*HARD, "hi"]:
        batch = p.predict_features(prompt_features(msgs(text))[None, :], models)[0]
        first, repeat = p.predict(msgs(text), models), p.predict(msgs(text), models)
        assert np.allclose(first, batch, rtol=0, atol=1e-12) and np.array_equal(first, repeat)
    before = p.predict(msgs(HARD[0]), models)
    weaker = [dataclasses.replace(m, quality_prior=0.3) if i == 5 else m for i, m in enumerate(models)]
    after = p.predict(msgs(HARD[0]), weaker)
    assert after[5] < before[5] - 0.05  # the new entry's own prior, not the kept block's
    assert np.array_equal(np.delete(after, 5), np.delete(before, 5))


def test_text_stats_count_numbers_and_maths_marks_exactly() -> None:
    """Hand-counted: the fast paths (ASCII byte passes, skipping the number regex without digits) must
    count what the plain definitions count, Unicode digits and non-ASCII maths marks included."""
    from math import log1p

    from satisfice.predict.features import STAT_NAMES, text_stats

    col = {n: i for i, n in enumerate(STAT_NAMES)}

    def stats(text: str) -> dict[str, float]:
        v = text_stats(text, 0, 1, False, False, 0, False)
        return {n: float(v[i]) for n, i in col.items()}

    s = stats("x = 3 * 4 ^ 2 / 7 % 5 < 9 > 1 + 2")  # 8 ASCII marks, 8 numbers
    assert s["math_symbols"] == pytest.approx(log1p(8) / 3)
    assert s["log_numbers"] == pytest.approx(log1p(8) / 3)
    s = stats("√2 and π, then ∫ f")  # 3 non-ASCII marks, 1 number
    assert s["math_symbols"] == pytest.approx(log1p(3) / 3)
    assert s["log_numbers"] == pytest.approx(log1p(1) / 3)
    s = stats("٣ apples and ١٢ pears")  # Arabic-Indic digits: numbers, though no ASCII digit
    assert s["log_numbers"] == pytest.approx(log1p(2) / 3) and s["digits_frac"] == 0.0
    s = stats("no numbers here, only words")
    assert s["log_numbers"] == 0.0 and s["math_symbols"] == 0.0
    s = stats("ABc de1\tF\n")  # 6 letters, 3 upper; 1 digit in 10 characters; 3 spaces, 3 words
    assert s["upper_frac"] == pytest.approx(0.5) and s["digits_frac"] == pytest.approx(0.5)
    assert s["word_len"] == pytest.approx((10 - 3) / 3 / 10)
