"""Topic clusters of the prompt embedding and the model input built from them (train and inference).

The learned model sees [used feature columns | soft cluster membership (K) | membership x text
statistics (K x S)]: the statistics can then matter differently per topic (the number of quantities in
a maths word problem, the length of a code task, ...), while the model stays linear in its input.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from satisfice.predict.embed import DIM

Array = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]


def membership(x: npt.NDArray[np.float32], centroids: Array, tau: float) -> Array:
    """Soft assignment of the (leading dims of the) embedding to the topic clusters."""
    e = x[..., : centroids.shape[1]].astype(np.float64)
    e = e / np.maximum(np.sqrt(np.sum(e * e, axis=-1, keepdims=True)), 1e-9)
    sims = tau * (e @ centroids.T)
    w: Array = np.exp(sims - sims.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    return w


def expand(x: npt.NDArray[np.float32], cols: npt.NDArray[np.int64], centroids: Array, tau: float) -> Array:
    """The model's input: the used feature columns, then (with K topic clusters) the soft cluster
    membership of the embedding and membership x text statistics (topic-specific stat effects)."""
    base = x[..., cols]
    k = centroids.shape[0]
    if k == 0:
        out: Array = base.astype(np.float64)
        return out
    w = membership(x, centroids, tau)
    stats = x[..., 2 * DIM :].astype(np.float64)
    inter = (w[..., :, None] * stats[..., None, :]).reshape(*w.shape[:-1], k * stats.shape[-1])
    return np.concatenate([base, w, inter], axis=-1)


def kmeans(E: F32, k: int, seed: int, iters: int = 20) -> Array:
    """Spherical k-means (k-means++ start, deterministic given the seed) on L2-normalised rows."""
    X = E.astype(np.float64)
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-9)
    rng = np.random.default_rng(seed + 101)
    C = [X[rng.integers(len(X))]]
    for _ in range(1, k):
        d2 = np.clip(1.0 - np.max(X @ np.array(C).T, axis=1), 0, None)
        C.append(X[rng.choice(len(X), p=d2 / d2.sum())] if d2.sum() > 0 else X[rng.integers(len(X))])
    cent = np.array(C)
    for _ in range(iters):
        lab = np.argmax(X @ cent.T, axis=1)
        for j in range(k):
            member = X[lab == j]
            if len(member):
                v = member.sum(axis=0)
                cent[j] = v / max(np.linalg.norm(v), 1e-9)
    return cent
