"""The text statistics' token count is estimated from character counts, so that a new prompt's
prediction needs no tokenising; the token ids are made only when something reads them."""

from __future__ import annotations

import numpy as np
import pytest

from satisfice.catalog import load_catalog
from satisfice.predict import load_predictor
from satisfice.predict.embed import Embedder, get_embedder
from satisfice.predict.features import (
    HEAD_CHARS,
    STAT_NAMES,
    TAIL_CHARS,
    TAIL_TOKENS,
    TOKEN_WEIGHTS,
    _cut,
    estimated_tokens,
    request_features,
    text_stats,
    token_count_terms,
)
from satisfice.predict.learned import LearnedPredictor

TEXTS = [
    "What is the capital of France?",
    "Write a Python function that merges two sorted lists and explain its running time.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "def f(x):\n    return {k: v for k, v in x.items() if v is not None}  # keep the set ones\n" * 3,
    "Quelle est la différence entre « ça » et « cela » ? Réponds en deux phrases, s'il te plaît.",
    "请用三句话解释一下量子纠缠是什么，并举一个日常生活中的类比。",  # noqa: RUF001
    "Question: " + "The committee reviewed 1,204 applications over 3 days in 2019. " * 40 + "Answer:",
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_estimate_is_close_to_the_tokenizers_count(text: str) -> None:
    exact = get_embedder().token_ids(_cut(text)).size
    est = estimated_tokens(text)
    assert abs(est - exact) <= 0.35 * exact + 3, (est, exact)
    share = text_stats(text, 0, 1, False, False, 0, False)[STAT_NAMES.index("tail_share")]
    assert share == pytest.approx(min(TAIL_TOKENS / est, 1.0), rel=1e-6)
    assert abs(share - min(TAIL_TOKENS / exact, 1.0)) < 0.15


def test_a_long_text_is_estimated_on_what_is_tokenised_of_it() -> None:
    text = "alpha beta " * 50 + "1234567890 " * 400 + "gamma delta " * 50  # digits only in the middle
    assert len(text) > HEAD_CHARS + TAIL_CHARS
    cut = _cut(text)
    assert estimated_tokens(text) == estimated_tokens(cut)  # the cut, not the whole text
    whole = sum(w * v for w, v in zip(TOKEN_WEIGHTS, token_count_terms(text), strict=True))
    assert estimated_tokens(text) < 0.25 * whole  # 5,000 digits are not counted
    assert estimated_tokens("") == pytest.approx(1.626)  # bias and one empty piece; never below 1


def test_a_prediction_of_a_new_prompt_does_not_tokenise_it(monkeypatch: pytest.MonkeyPatch) -> None:
    pred = load_predictor("learned")
    assert (
        isinstance(pred, LearnedPredictor) and not pred.uses_embedding
    )  # the shipped predictor gives the embedding no weight
    models = [load_catalog().lookup(m)[0] for m in ("gpt-4-1106-preview", "mixtral-8x7b-instruct")]
    text = "A prompt this test alone sends: how do zebrafish regrow their hearts? 7 facts."
    msgs = [{"role": "user", "content": text}]
    calls: list[str] = []
    real = Embedder.token_ids

    def counted(self: Embedder, t: str) -> np.typing.NDArray[np.uint16]:
        calls.append(t)
        return real(self, t)

    monkeypatch.setattr(Embedder, "token_ids", counted)
    q = pred.predict(msgs, models)
    assert calls == [] and q.shape == (2,) and 0.0 < q.min() <= q.max() < 1.0
    f = request_features(msgs, embed=False)  # the same cached features the prediction made
    ids = f.ids  # tokenised when read, once
    assert calls == [text] and f.ids is ids
    assert np.array_equal(ids, real(get_embedder(), text))
