"""The prompt cluster a request belongs to: the centroid nearest its embedding, among the prompt
clusters the learned predictor's artifact keeps for the learner (or its topic clusters, in older
artifacts)."""

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


def cluster_of(
    messages: Sequence[Mapping[str, Any]],
    features: npt.NDArray[np.float32] | None = None,
    *,
    predictor: str = "learned",
) -> int:
    """argmax of the predictor's cluster `membership`; 0 when clusters are unavailable. Pass the
    request's `prompt_features` as `features` to skip recomputing the embedding (then ~10 us)."""
    c = centroids(predictor)
    if c is None:
        return 0
    if features is None:
        from satisfice.predict.features import prompt_features

        try:
            features = prompt_features(messages)
        except Exception:
            log.warning("prompt features failed; cluster 0", exc_info=True)
            return 0
    # the nearest centroid by dot product (the centroids and the embedding are unit-scale).
    return int(np.argmax(c @ features[: c.shape[1]].astype(np.float64)))
