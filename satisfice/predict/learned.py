"""The learned quality predictor: an item-response (2PL) logistic model plus a low-rank specialisation.

    [t, b, h] = V x + V2 tanh(U x)                      x = [standardised prompt features; 1]
    kappa(x) = softplus(t)                              how much ability matters on this prompt (> 0)
    theta(m) = a . z(m) + r[m]                          model ability (z: catalog model features)
    g(m) = W clip(z(m)) + E[m]                          model specialisation (z clipped to the seen range)
    P(good | x, m) = sigmoid(kappa(x) * (theta(m) - b(x)) + h(x) . g(m))

r[m] and E[m] are per-model residuals for models seen in training, shrunk toward 0 by L2; an unseen
model uses z(m) alone, which is how any catalog model gets a sensible prediction. Because kappa > 0
and the specialisation term is small, a stronger model is predicted better on almost every prompt.
Inference is numpy only: one (k+2 x d) mat-vec per prompt and an (m x k) one for the candidates.
"""

from __future__ import annotations

import bisect
import io
import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from satisfice.catalog import ModelInfo
from satisfice.per_list import VECTOR_FROM, PerList
from satisfice.predict.base import Array, Messages, sigmoid
from satisfice.predict.cues import cue_difficulty, cue_difficulty_one, mid_quantile, quantile_value
from satisfice.predict.embed import DIM
from satisfice.predict.features import N_FEATURES, RequestFeatures, features_many, request_features
from satisfice.predict.model_features import N_MODEL_FEATURES, as_info, model_features, residual_key
from satisfice.predict.topics import expand, membership

ARTIFACT_DIR = Path(__file__).parent / "artifacts"
ARTIFACT = "quality-v1"
FORMAT = 1


@dataclass(slots=True)
class Params:
    cols: npt.NDArray[np.int64]  # prompt-feature columns used
    mu: Array  # (d,) standardisation of those columns
    sd: Array
    V: Array  # (k + 2, d + 1): rows discrimination, difficulty, specialisation; last column the bias
    W: Array  # (k, N_MODEL_FEATURES)
    a: Array  # (N_MODEL_FEATURES,): ability
    E: Array  # (n_seen, k)
    r: Array  # (n_seen,)
    seen: list[str]  # model ids with residuals
    ref_x: npt.NDArray[np.float32]  # (r, N_FEATURES) reference prompt features
    ref_family: list[str] = field(default_factory=list)
    U: Array = field(default_factory=lambda: np.zeros((0, 1)))  # (hidden, d + 1): non-linear branch
    V2: Array = field(default_factory=lambda: np.zeros((0, 0)))  # (k + 2, hidden)
    centroids: Array = field(default_factory=lambda: np.zeros((0, 0)))  # (K, e) topic clusters
    tau: float = 10.0  # softmax temperature of the cluster membership
    zlo: Array = field(default_factory=lambda: np.full(N_MODEL_FEATURES, -np.inf))  # training models' range
    zhi: Array = field(default_factory=lambda: np.full(N_MODEL_FEATURES, np.inf))  # of the model features
    cue_blend: float = 1.0  # weight of the learned difficulty's rank against the hand-set cue's (1 = off)
    # (K, e) k-means centroids of the embedding: the online learner's prompt clusters (not a feature)
    learn_centroids: Array = field(default_factory=lambda: np.zeros((0, 0)))

    def arrays(self) -> dict[str, Any]:
        return {
            "cols": self.cols,
            "mu": self.mu,
            "sd": self.sd,
            "V": self.V,
            "W": self.W,
            "a": self.a,
            "E": self.E,
            "r": self.r,
            "seen": np.array(self.seen, dtype=np.str_),
            "ref_x": self.ref_x.astype(np.float16),
            "ref_family": np.array(self.ref_family, dtype=np.str_),
            "U": self.U,
            "V2": self.V2,
            "centroids": self.centroids,
            "tau": np.array(self.tau),
            "zlo": self.zlo,
            "zhi": self.zhi,
            "cue_blend": np.array(self.cue_blend),
            "learn_centroids": self.learn_centroids,
        }

    @classmethod
    def from_arrays(cls, d: Mapping[str, Any]) -> Params:
        f = np.float64
        return cls(
            np.asarray(d["cols"], dtype=np.int64),
            np.asarray(d["mu"], f),
            np.asarray(d["sd"], f),
            np.asarray(d["V"], f),
            np.asarray(d["W"], f),
            np.asarray(d["a"], f),
            np.asarray(d["E"], f),
            np.asarray(d["r"], f),
            [str(s) for s in d["seen"]],
            np.asarray(d["ref_x"], np.float32),
            [str(s) for s in d["ref_family"]],
            np.asarray(d["U"], f),
            np.asarray(d["V2"], f),
            np.asarray(d["centroids"], f),
            float(d["tau"]),
            np.asarray(d["zlo"], f),
            np.asarray(d["zhi"], f),
            float(d["cue_blend"]) if "cue_blend" in d else 1.0,
            np.asarray(d["learn_centroids"], f) if "learn_centroids" in d else np.zeros((0, 0)),
        )


def artifact_stem(path: str | Path) -> Path:
    """An artifact's path without its file kind: `.npz` or `.json` is dropped, any other dot is part
    of the name (`router-v1.0` is not `router-v1`)."""
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".npz", ".json") else path


def artifact_files(stem: str | Path) -> tuple[Path, Path]:
    """The weights (`.npz`) and the record (`.json`) of the artifact at `stem`."""
    stem = artifact_stem(stem)
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


class LearnedPredictor:
    """`QualityPredictor` over trained `Params`; deterministic and thread-safe."""

    def __init__(self, params: Params, meta: Mapping[str, Any] | None = None, name: str = "learned") -> None:
        self.name = name
        self.params = params
        self.meta: dict[str, Any] = dict(meta or {})
        p = params
        if p.ref_x.shape[1:] != (N_FEATURES,) or p.W.shape[1] != N_MODEL_FEATURES:
            raise ValueError("artifact does not match this version's feature layout (retrain it)")
        lin = p.V[:, :-1] / p.sd  # fold the standardisation into the projection
        self._A = np.ascontiguousarray(lin.T)  # (d, k)
        self._b = p.V[:, -1] - lin @ p.mu
        self._hidden = p.U.shape[0] > 0
        if self._hidden:
            ulin = p.U[:, :-1] / p.sd
            self._U = np.ascontiguousarray(ulin.T)  # (d, hidden)
            self._u = p.U[:, -1] - ulin @ p.mu
            self._V2 = np.ascontiguousarray(p.V2.T)  # (hidden, k + 2)
        # Fast path without the hidden branch: apply the cluster x statistics block without building it.
        nb, K, k2 = p.cols.size, p.centroids.shape[0], self._A.shape[1]
        self._A_base, self._A_w = self._A[:nb], self._A[nb : nb + K]
        self._A_int = (
            np.ascontiguousarray(self._A[nb + K :].reshape(K, -1, k2).transpose(1, 0, 2).reshape(-1, K * k2))
            if K
            else np.zeros((0, 0))
        )  # (stats, K * (k + 2))
        self._seen = {m: i for i, m in enumerate(p.seen)}
        # Does any weight read the embedding block? (The default artifact: no; the learner's clusters
        # read the token ids instead, so the request path can skip pooling.)
        self.uses_embedding = bool(self._hidden or K or (p.cols < 2 * DIM).any())
        # Rank blend of the difficulty b with the hand-set cue difficulty (`cues`), both as quantiles
        # against the artifact's reference prompts, so that it works one prompt at a time.
        self._blend = float(p.cue_blend)
        self._b_ref, self._cue_ref = np.zeros(0), np.zeros(0)
        if self._blend < 1.0:
            self._b_ref = np.sort(self._project_raw(p.ref_x)[:, 1])
            self._cue_ref = np.sort(cue_difficulty(p.ref_x))
        self._b_list: list[float] = self._b_ref.tolist()
        self._cue_list: list[float] = self._cue_ref.tolist()
        # Candidate terms by catalog entry: by identity first (cheap), by value (hashes every field).
        self._models: dict[int, tuple[ModelInfo, tuple[Array, float, tuple[float, ...]]]] = {}
        self._by_value: dict[ModelInfo, tuple[Array, float, tuple[float, ...]]] = {}
        self._blocks: PerList[tuple[Array, Array]] = PerList()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- pieces

    def project(self, x: npt.NDArray[np.float32]) -> Array:
        """[t, b, h] for prompt features x of shape (n, N_FEATURES) or (N_FEATURES,); with `cue_blend` < 1
        the difficulty b is the reference quantile of w * rank(b) + (1 - w) * rank(cue difficulty)."""
        if x.ndim == 1:
            return np.array(self._terms_one(x), dtype=np.float64)
        out = self._project_raw(x)
        if self._blend >= 1.0:
            return out
        w = self._blend
        out = np.array(out, dtype=np.float64)
        u_cue = mid_quantile(self._cue_ref, cue_difficulty(x))
        u = w * mid_quantile(self._b_ref, out[..., 1]) + (1 - w) * u_cue
        out[..., 1] = quantile_value(self._b_ref, u)
        return out

    def _terms_one(self, x: npt.NDArray[np.float32]) -> list[float]:
        """`project` of one feature vector, as floats: one request, where numpy calls on scalars
        (~1-2 us each) would be most of the work."""
        out: list[float] = self._project_raw(x).tolist()
        if self._blend < 1.0:
            w = self._blend
            out[1] = self._quantile_one(
                w * self._rank_one(self._b_list, out[1])
                + (1 - w) * (self._rank_one(self._cue_list, cue_difficulty_one(x)))
            )
        return out

    @staticmethod
    def _rank_one(ref: list[float], v: float) -> float:
        """`cues.mid_quantile` for one value."""
        return (bisect.bisect_left(ref, v) + bisect.bisect_right(ref, v)) / (2.0 * len(ref))

    def _quantile_one(self, u: float) -> float:
        """`cues.quantile_value` for one quantile."""
        ref, n = self._b_list, len(self._b_list)
        pos = u * n - 0.5
        if pos <= 0:
            return ref[0]
        if pos >= n - 1:
            return ref[-1]
        i = int(pos)
        return ref[i] + (pos - i) * (ref[i + 1] - ref[i])

    def _project_raw(self, x: npt.NDArray[np.float32]) -> Array:
        p = self.params
        if self._hidden:
            xs = expand(x, p.cols, p.centroids, p.tau)
            out: Array = xs @ self._A + self._b + np.tanh(xs @ self._U + self._u) @ self._V2
            return out
        out = x[..., p.cols] @ self._A_base + self._b
        K = p.centroids.shape[0]
        if K:
            w = membership(x, p.centroids, p.tau)
            per = (x[..., 2 * DIM :] @ self._A_int).reshape(*w.shape[:-1], K, -1)  # (..., K, k + 2)
            mixed = w @ per if w.ndim == 1 else np.einsum("nk,nkj->nj", w, per)
            out = out + w @ self._A_w + mixed
        return out

    def _model_entry(self, raw: ModelInfo | str) -> tuple[Array, float, tuple[float, ...]]:
        """(g, theta, g as floats) of one candidate, cached per catalog entry."""
        info = as_info(raw)
        found = self._models.get(id(info))
        if found is not None and found[0] is info:  # catalog entries live as long as the catalog
            return found[1]
        hit = self._by_value.get(info)
        if hit is None:
            z = model_features(info)
            zc = np.clip(z, self.params.zlo, self.params.zhi)  # no extrapolation of specialisation
            g, cj = self.params.W @ zc, float(self.params.a @ z)
            i = residual_key(info, self._seen)
            if i is not None:
                g, cj = g + self.params.E[i], cj + float(self.params.r[i])
            hit = (g, cj, tuple(g.tolist()))
        with self._lock:
            if len(self._models) > 10_000:
                self._models.clear()
                self._by_value.clear()
            self._by_value[info] = hit
            self._models[id(info)] = (info, hit)
        return hit

    def model_terms(self, models: Sequence[ModelInfo | str]) -> tuple[Array, Array]:
        """(G, theta): (m, k) specialisation and (m,) ability of the candidates (cached per entry)."""
        k = self._A.shape[1] - 2
        G, c = np.empty((len(models), k)), np.empty(len(models))
        for j, raw in enumerate(models):
            G[j], c[j], _ = self._model_entry(raw)
        return G, c

    def logits(self, t: Array, models: Sequence[ModelInfo | str]) -> Array:
        """Logits (n, m) (or (m,)) from projected prompt features `t` (see `project`)."""
        G, theta = self.model_terms(models)
        kappa = np.logaddexp(0.0, t[..., :1])  # softplus
        out: Array = kappa * (theta - t[..., 1:2]) + t[..., 2:] @ G.T
        return out

    # ---------------------------------------------------------------- QualityPredictor

    def predict(
        self,
        messages: Messages,
        models: Sequence[ModelInfo],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Array:
        embed = self.uses_embedding
        f = request_features(messages, tools=tools, response_format=response_format, embed=embed)
        return np.array(self.predict_request(f, models), dtype=np.float64)

    def predict_many(self, prompts: Sequence[Messages], models: Sequence[ModelInfo]) -> Array:
        if not prompts:
            return np.zeros((0, len(models)))
        return sigmoid(self.logits(self.project(features_many(prompts)), models))

    def predict_features(self, x: npt.NDArray[np.float32], models: Sequence[ModelInfo | str]) -> Array:
        if x.ndim == 1:
            return self._predict_one(x, models)
        return sigmoid(self.logits(self.project(x), models))

    def _predict_one(self, x: npt.NDArray[np.float32], models: Sequence[ModelInfo | str]) -> Array:
        """`predict_features` for one prompt, the candidate side in plain Python: with a handful of
        candidates numpy's per-call cost is most of the work (the request path)."""
        return np.array(self._predict_terms(self._terms_one(x), models), dtype=np.float64)

    def predict_request(self, f: RequestFeatures, models: Sequence[ModelInfo | str]) -> list[float]:
        """`predict_features` of the request path's cached features, as floats; the prompt's
        projected terms are kept with them, so a repeated prompt costs only the candidate side."""
        terms = f.memo.get(self)
        if terms is None:
            terms = f.memo[self] = self._terms_one(f.x)
        return self._predict_terms(terms, models)

    def _predict_terms(self, terms: list[float], models: Sequence[ModelInfo | str]) -> list[float]:
        t, b, *h = terms
        kappa = max(t, 0.0) + math.log1p(math.exp(-abs(t)))  # softplus, overflow-free
        if len(models) < VECTOR_FROM:
            out = []
            for raw in models:
                _, theta, g = self._model_entry(raw)
                s = kappa * (theta - b) + sum(hi * gi for hi, gi in zip(h, g, strict=True))
                out.append(0.5 * (1.0 + math.tanh(0.5 * s)))  # the same logistic as `sigmoid`
            return out
        # Dozens of candidates: numpy over their terms, kept per candidate list.
        G, theta_all = self._blocks.get(models, lambda: self.model_terms(models))
        s_all = kappa * (theta_all - b) + G @ np.array(h)
        q: list[float] = (0.5 * (1.0 + np.tanh(0.5 * s_all))).tolist()
        return q

    def reference_quality(self, models: Sequence[ModelInfo]) -> Array:
        return self.predict_features(self.params.ref_x, models)

    # ---------------------------------------------------------------- artifact

    def npz_bytes(self) -> bytes:
        """The `.npz` file `save` writes (compressed arrays), as bytes: equal weights give equal bytes."""
        buf = io.BytesIO()
        np.savez_compressed(buf, **self.params.arrays())
        return buf.getvalue()

    def save(self, stem: Path) -> tuple[Path, Path]:
        """Write `stem`.npz (compressed arrays) and `stem`.json (the record of data and settings)."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        npz, js = artifact_files(stem)
        npz.write_bytes(self.npz_bytes())
        meta = {"format": FORMAT, **self.meta}
        js.write_text(json.dumps(meta, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        return npz, js

    @classmethod
    def load(cls, stem: Path, name: str = "learned") -> LearnedPredictor:
        npz, js = artifact_files(stem)
        meta = json.loads(js.read_text(encoding="utf-8")) if js.is_file() else {}
        if meta.get("format", FORMAT) != FORMAT:
            raise ValueError(f"{js}: artifact format {meta.get('format')} is not {FORMAT}")
        with np.load(npz, allow_pickle=False) as d:
            params = Params.from_arrays(d)
        return cls(params, meta, name)
