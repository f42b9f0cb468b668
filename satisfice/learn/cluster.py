"""The prompt cluster a request belongs to: the centroid nearest its embedding, among the prompt
clusters the learned predictor's artifact keeps for the learner (or its topic clusters, in older
artifacts).

The embedding is the mean of the last user message's wordllama token vectors, normalised; the cluster
is argmax_k c_k . e. Normalising does not change the argmax and the mean is linear, so the score of
every cluster is the sum over the prompt's tokens of a precomputed (vocab, K) table: a K-wide gather
instead of a 256-wide one, and the request path never builds the embedding itself."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger("satisfice.learn")

_lock = threading.Lock()
_centroids: dict[str, npt.NDArray[np.float64] | None] = {}
_tables: dict[str, npt.NDArray[np.float64] | None] = {}


def centroids(predictor: str = "learned") -> npt.NDArray[np.float64] | None:
    """(K, e) centroids of the predictor's artifact; None when it has none or cannot load (cached)."""
    if predictor in _centroids:  # lock-free fast path once loaded
        return _centroids[predictor]
    with _lock:
        if predictor not in _centroids:
            found: npt.NDArray[np.float64] | None = None
            try:
                from satisfice.predict import load_predictor
                from satisfice.predict.learned import LearnedPredictor

                pred = load_predictor(predictor)
                if isinstance(pred, LearnedPredictor):
                    params = pred.params
                    cent = params.learn_centroids if params.learn_centroids.shape[0] else params.centroids
                    found = np.ascontiguousarray(cent) if cent.shape[0] else None
            except Exception:  # no artifact, no embedder: everything is cluster 0
                log.warning("prompt clusters unavailable (predictor %r)", predictor, exc_info=True)
            _centroids[predictor] = found
        return _centroids[predictor]


def _token_scores(predictor: str) -> npt.NDArray[np.float64] | None:
    """(vocab, K): each token vector's dot product with every centroid (cached per predictor)."""
    if predictor in _tables:
        return _tables[predictor]
    c = centroids(predictor)
    table: npt.NDArray[np.float64] | None = None
    if c is not None:
        try:
            from satisfice.predict.embed import get_embedder

            table = np.ascontiguousarray(get_embedder().project_table(c.T))
        except Exception:
            log.warning("prompt clusters unavailable (no embedding)", exc_info=True)
    with _lock:
        _tables[predictor] = table
    return table


def cluster_of(
    messages: Sequence[Mapping[str, Any]],
    ids: npt.NDArray[np.integer[Any]] | None = None,
    *,
    predictor: str = "learned",
) -> int:
    """The prompt's cluster; 0 when clusters are unavailable or the prompt has no text. Pass the
    request's token ids (`features.request_features`) as `ids` to skip tokenising it again."""
    scores = _token_scores(predictor)
    if scores is None:
        return 0
    if ids is None:
        from satisfice.predict.features import token_ids

        ids = token_ids(messages)
    if ids.size == 0:
        return 0
    return int(np.argmax(scores[ids].sum(axis=0)))
