"""Fit `features.TOKEN_WEIGHTS`: the token count of a prompt, estimated from character counts.

    python scripts/fit_token_estimate.py

How it measures (printed too): the distinct last user turns of the shared datasets, each cut as the
embedding tokenises it (`features._cut`); the exact count is the wordllama tokenizer's
(`Embedder.token_ids`), the terms are `features.token_count_terms`. Least squares on a random half
(seed 0); the errors are on the other half: of the count, and of the feature the count feeds, the
share of the text in its last TAIL_TOKENS tokens. Paste the printed weights into features.py and
retrain the predictor (`satisfice train`), since the feature changes with them.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import numpy.typing as npt

from satisfice.data.jsonl import load_dataset
from satisfice.predict import features as F
from satisfice.predict.embed import get_embedder

DATASETS = ("arena-bench", "arena-battles", "mmlu", "gsm8k", "routerbench")


def share(tokens: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.minimum(F.TAIL_TOKENS / np.maximum(tokens, 1.0), 1.0)
    return out


def main() -> None:
    texts: list[str] = []
    for name in DATASETS:
        texts += [F.split_messages(r.messages)[0] for r in load_dataset(name).records]
    cut = [F._cut(t) for t in dict.fromkeys(texts)]
    emb = get_embedder()
    exact = np.array([emb.token_ids(t).size for t in cut], dtype=np.float64)
    terms = np.array([F.token_count_terms(t) for t in cut], dtype=np.float64)
    order = np.random.default_rng(0).permutation(len(cut))
    fit, held = order[: len(cut) // 2], order[len(cut) // 2 :]
    w, *_ = np.linalg.lstsq(terms[fit], exact[fit], rcond=None)
    w = np.round(w, 3)
    est = np.maximum(terms @ w, 1.0)
    rel = np.abs(est[held] - exact[held]) / np.maximum(exact[held], 1.0)
    err = np.abs(share(est[held]) - share(exact[held]))
    print(f"{len(cut)} distinct cut prompts of {', '.join(DATASETS)}")
    print(f"fitted on {len(fit)}, errors on the other {len(held)}")
    print("TOKEN_WEIGHTS = (" + ", ".join(f"{v:.3f}" for v in w) + ")")
    print("terms: 1, pieces, digits, other ASCII, non-ASCII, letters, newlines")
    p = np.percentile(rel, [50, 90, 99])
    print(f"count, relative error:  p50 {p[0]:.3f}  p90 {p[1]:.3f}  p99 {p[2]:.3f}")
    p = np.percentile(err, [50, 90, 99, 100])
    print(f"tail share, abs error:  p50 {p[0]:.4f}  p90 {p[1]:.4f}  p99 {p[2]:.4f}  max {p[3]:.4f}")
    corr = np.corrcoef(share(est[held]), share(exact[held]))[0, 1]
    print(f"tail share, correlation with the exact one: {corr:.4f}")
    if tuple(w.tolist()) != F.TOKEN_WEIGHTS:
        print(f"features.TOKEN_WEIGHTS differs: {F.TOKEN_WEIGHTS}")


if __name__ == "__main__":
    main()
