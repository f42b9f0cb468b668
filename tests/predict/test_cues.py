"""The hand-set cue difficulty, the reference-quantile rank blend and the train-only family offsets."""

from __future__ import annotations

from typing import Any

import numpy as np

from satisfice.catalog import ModelInfo, load_catalog
from satisfice.data.records import Outcome, Record
from satisfice.predict import fit
from satisfice.predict.baselines import difficulty
from satisfice.predict.cues import cue_difficulty, mid_quantile, quantile_value
from satisfice.predict.features import prompt_features
from satisfice.predict.learned import LearnedPredictor


def msgs(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def cat(*names: str) -> list[ModelInfo]:
    return [load_catalog().lookup(n)[0] for n in names]


def test_mid_quantile_and_its_inverse_on_hand_computed_inputs() -> None:
    ref = np.array([1.0, 2.0, 3.0, 4.0])
    # below all, a tie (counts half), between two, above all
    assert np.allclose(mid_quantile(ref, np.array([0.0, 2.0, 2.5, 9.0])), [0.0, 0.375, 0.5, 1.0])
    assert np.allclose(mid_quantile(np.array([1.0, 1.0, 1.0, 5.0]), 1.0), 0.375)
    # mid-rank positions are 0.125, 0.375, 0.625, 0.875: interpolate between, clamp outside
    assert np.allclose(
        quantile_value(ref, np.array([0.125, 0.5, 0.875, 0.0, 1.0])), [1.0, 2.5, 4.0, 1.0, 4.0]
    )
    assert np.allclose(quantile_value(ref, mid_quantile(ref, ref)), ref)  # inverse on the references
    assert np.allclose(mid_quantile(np.zeros(0), np.array([1.0, 2.0])), 0.5)


def test_cue_difficulty_matches_the_heuristic_on_clear_cases() -> None:
    texts = [
        "hi",
        "Write a haiku about autumn.",
        "Solve the equation x^2 - 5x + 6 = 0.",
        "Write a Python function that reverses a list.",
        "Compare the two designs step by step and explain why one is better.",
        "Prove that sqrt(2) is irrational. " * 40,
    ]
    cue = np.array([float(cue_difficulty(prompt_features(msgs(t)))) for t in texts])
    heur = np.array([difficulty(t, 1)[0] for t in texts])
    assert np.allclose(cue, heur, atol=0.02)
    X = np.stack([prompt_features(msgs(t)) for t in texts])
    assert np.allclose(cue_difficulty(X), cue)  # batch = one at a time


def _toy(n: int) -> list[Record]:
    """Two families with different base rates; within each, the long prompts separate the models."""
    out = []
    for i in range(n):
        fam = "easy-fam" if i % 2 else "hard-fam"
        long = i % 4 < 2
        text = f"{fam} question {i}: " + (
            "please reason about the many details of this case " * 6 if long else "ok?"
        )
        weak = 0.0 if long else 1.0
        if fam == "hard-fam" and not long:
            weak = float(i % 3 == 0)
        out.append(
            Record(
                str(i),
                tuple(msgs(text)),
                {"mistral-7b-instruct": Outcome(weak), "gpt-4-1106-preview": Outcome(1.0)},
                fam,
            )
        )
    return out


def test_family_offsets_and_blend_train_deterministically_and_round_trip(tmp_path: Any) -> None:
    recs = _toy(80)
    kw: dict[str, Any] = dict(
        steps=120, reference_per_family=20, family_offsets=True, emb_dims=0, clusters=0, cue_blend=0.5
    )
    a, b = fit(recs, seed=2, **kw), fit(recs, seed=2, **kw)
    models = cat("mistral-7b-instruct", "gpt-4-1106-preview")
    texts = [
        "a short one?",
        "please reason about the many details of this case " * 6,
        "Prove it step by step.",
    ]
    pa = a.predict_many([msgs(t) for t in texts], models)
    assert np.array_equal(pa, b.predict_many([msgs(t) for t in texts], models))
    assert np.all((pa > 0) & (pa < 1)) and np.all(pa[:, 1] > pa[:, 0])
    assert isinstance(a, LearnedPredictor) and a.params.cue_blend == 0.5
    a.save(tmp_path / "m")
    c = LearnedPredictor.load(tmp_path / "m")
    assert c.params.cue_blend == 0.5
    for t, row in zip(texts, pa, strict=True):  # one at a time = batch, after a save and load
        assert np.allclose(c.predict(msgs(t), models), row, atol=1e-6)


def test_blend_weight_moves_difficulty_toward_the_cue_rank() -> None:
    recs = _toy(80)
    kw: dict[str, Any] = dict(steps=120, reference_per_family=20, emb_dims=0, clusters=0)
    learned, cue_only = fit(recs, seed=2, **kw), fit(recs, seed=2, cue_blend=0.0, **kw)
    assert isinstance(learned, LearnedPredictor) and isinstance(cue_only, LearnedPredictor)
    x = np.stack([prompt_features(msgs(t)) for t in ("hi", "Solve the equation and prove it step by step.")])
    raw, blended = learned.project(x), cue_only.project(x)
    assert np.array_equal(raw[:, [0, 2, 3]], blended[:, [0, 2, 3]])  # only the difficulty changes
    assert blended[1, 1] > blended[0, 1]  # the cue ranks the maths proof as harder than "hi"


def test_one_request_path_equals_the_batch_path() -> None:
    from satisfice.predict import load_predictor
    from satisfice.predict.cues import cue_difficulty_one

    p = load_predictor("learned")
    assert isinstance(p, LearnedPredictor)
    texts = ["hi", "Solve the equation step by step.", "Write Python code " * 50, "x" * 3000]
    X = np.stack([prompt_features(msgs(t)) for t in texts])
    assert np.allclose(np.stack([p.project(x) for x in X]), p.project(X), atol=1e-12)
    assert np.allclose([cue_difficulty_one(x) for x in X], cue_difficulty(X))


def test_the_heuristic_looks_for_cue_words_at_a_long_prompts_ends() -> None:
    """A megabyte prompt was scanned whole by three case-insensitive regexes (seconds of a route's
    decision); its head and tail are scanned now, its whole length still counts."""
    filler = "lorem ipsum dolor sit amet " * 40_000  # ~1 MB without a cue word
    assert difficulty("Write python code. " + filler, 1)[2]  # in the head
    assert difficulty(filler + " Now solve the equation.", 1)[1]  # in the tail
    hidden = difficulty(filler + " python " + filler, 1)
    assert not hidden[2]  # in the middle of a long prompt: not seen
    assert hidden[0] == difficulty(filler + filler, 1)[0]
    short = "x" * 6000 + " python " + "y" * 5000  # shorter than head + tail: scanned whole
    assert difficulty(short, 1)[2]
