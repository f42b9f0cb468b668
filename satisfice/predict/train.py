"""Fit the learned predictor on labelled records (numpy, full-batch Adam, deterministic given a seed).

Losses, each observation weighted so that a task family's total weight grows as n_obs ** family_power
(so 14k MMLU rows do not drown 300 chat prompts):
  * dense outcomes (one quality per model, 0/1 or a soft judge score / 10): logistic loss on P(good);
  * pairwise votes (families in `pairwise_families`, e.g. arena battles): Bradley-Terry on the logit
    difference, P(a beats b) = sigmoid(s_a - s_b); a tie is a target of 0.5.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from satisfice.data.records import Record
from satisfice.predict.embed import DIM
from satisfice.predict.features import N_FEATURES, STAT_NAMES, features_many
from satisfice.predict.learned import LearnedPredictor, Params
from satisfice.predict.model_features import NAMES as MODEL_FEATURE_NAMES
from satisfice.predict.model_features import as_info, features_matrix
from satisfice.predict.topics import expand, kmeans

Array = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
TAU = 10.0


@dataclass(frozen=True, slots=True)
class Settings:
    rank: int = 4  # of the specialisation term
    steps: int = 400
    lr: float = 0.02
    l2_v: float = 3e-3  # prompt discrimination and difficulty
    l2_h: float = 3e-3  # prompt side of the specialisation term
    l2_w: float = 1e-2  # model-feature side of the specialisation term
    l2_a: float = 1e-4  # ability from model features
    l2_e: float = 3e-2  # per-model specialisation residual (seen models)
    l2_r: float = 3e-3  # per-model ability residual
    model_feats: tuple[str, ...] = ("bias", "prior", "log_price", "coder")  # of the ability
    # of the specialisation term, clipped to the training models' range: not the prior, so that the prior
    # acts only through the ability, monotonically (a weaker model is never lifted above a stronger one)
    spec_feats: tuple[str, ...] = ("bias", "log_price", "coder")
    clusters: int = 0  # K topic clusters of the embedding (k-means) gating the text statistics
    # K prompt clusters of the embedding kept for the online learner's per-cluster statistics only
    # (learn/cluster.py); they do not enter the prediction
    learn_clusters: int = 16
    cluster_dims: int = 64  # leading embedding dimensions the clusters look at
    hidden: int = 0  # tanh units of the prompt encoder's non-linear branch (0: linear only)
    l2_u: float = 1e-3  # its weights
    family_power: float = 0.25
    pair_weight: float = 1.0
    pair_abs_weight: float = 0.5  # also fit each side of a vote to its own quality (both-bad ties -> 0)
    # leading (Matryoshka) dimensions of each wordllama embedding that are used. 0 by default: with a
    # benchmark family left out of training, embedding and topic-cluster weights ranked its prompts worse
    # than random (docs/router.md), the text statistics carry over
    emb_dims: int = 0
    pairwise_families: tuple[str, ...] = ("arena-battle",)
    reference_per_family: int = 60
    reference_chat: int = 150  # reference rows for chat-like families (arena-*)
    # Per-family offsets of [t, b, h], fitted in training only and dropped at inference (0 = off): they
    # absorb between-family level differences ("GSM8K is hard"), so the prompt weights learn what ranks
    # prompts WITHIN a family, which is what carries over to an unseen benchmark. L2 strength of the
    # offsets (small: they should absorb the family means).
    family_offsets: bool = True
    l2_f: float = 1e-4
    # At inference, rank-blend the learned difficulty with the hand-set cue difficulty (`cues`): weight of
    # the learned rank (1 = learned only). Chosen by leave-one-family-out only (docs/router.md).
    cue_blend: float = 0.5

    @classmethod
    def make(cls, **kw: Any) -> Settings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kw) - known)
        if unknown:
            raise TypeError(
                f"unknown training settings: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        defaults = cls()
        for key, value in kw.items():
            _check_type(key, value, getattr(defaults, key))
            _check_range(key, value)
        for key in ("pairwise_families", "model_feats", "spec_feats"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)


def _check_type(key: str, value: Any, default: Any) -> None:
    """A setting's value must have its default's type (an int is a fine float)."""
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    else:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        want = "a list of strings"
    if not ok:
        raise TypeError(f"training setting {key}: expected {want}, got {value!r}")


# Bounds of the numeric settings (inclusive; None: none). Every other number is finite and >= 0.
_RANGES: dict[str, tuple[float, float | None]] = {
    "steps": (1, None),
    "learn_clusters": (1, None),
    "cluster_dims": (1, DIM),
    "emb_dims": (0, DIM),
    "cue_blend": (0, 1),
}


def _check_range(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    low, high = _RANGES.get(key, (0, None))
    if key == "lr" and value <= 0:  # a step size of 0 trains nothing
        raise TypeError(f"training setting lr: expected a number above 0, got {value!r}")
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        want = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise TypeError(f"training setting {key}: expected a number {want}, got {value!r}")


@dataclass(slots=True)
class Prepared:
    X: F32  # (n, N_FEATURES)
    family: list[str]
    models: list[str]  # catalog ids, one column each
    Z: Array  # (m, N_MODEL_FEATURES)
    Y: Array  # (n, m) dense targets
    Wt: Array  # (n, m) dense weights (0 = no observation)
    pairs: npt.NDArray[np.int64]  # (p, 3): row, model a, model b
    pair_y: Array  # P(a beats b) targets
    pair_w: Array
    counts: dict[str, int]


def prepare(records: Sequence[Record], s: Settings) -> Prepared:
    if not records:
        raise ValueError("no training records")
    empty = [r.id for r in records if not r.outcomes]
    if empty:
        raise ValueError(
            f"{len(empty)} training record(s) without any outcome (e.g. id {empty[0]!r}): nothing to learn"
        )
    X = features_many([r.messages for r in records])
    cols: dict[str, int] = {}
    for r in records:
        for name in r.outcomes:
            cols.setdefault(as_info(name).id, len(cols))
    col_of = {name: cols[as_info(name).id] for r in records for name in r.outcomes}
    models = list(cols)
    n, m = len(records), len(models)
    Y, Wt = np.zeros((n, m)), np.zeros((n, m))
    pairs: list[tuple[int, int, int]] = []
    pair_y: list[float] = []
    fam_obs: dict[str, int] = {}
    for i, r in enumerate(records):
        fam = r.family or "unlabelled"
        if fam in s.pairwise_families and len(r.outcomes) == 2:
            (ma, oa), (mb, ob) = r.outcomes.items()
            tot = oa.quality + ob.quality
            pairs.append((i, col_of[ma], col_of[mb]))
            pair_y.append(oa.quality / tot if tot > 0 else 0.5)
            fam_obs[fam] = fam_obs.get(fam, 0) + 1
            if s.pair_abs_weight > 0:
                for name, o in ((ma, oa), (mb, ob)):
                    Y[i, col_of[name]] = o.quality
                    Wt[i, col_of[name]] = s.pair_abs_weight / 2
            continue
        for name, o in r.outcomes.items():
            Y[i, col_of[name]] = o.quality
            Wt[i, col_of[name]] = 1.0
        fam_obs[fam] = fam_obs.get(fam, 0) + len(r.outcomes)
    fam_scale = {f: k**s.family_power / k for f, k in fam_obs.items()}
    row_scale = np.array([fam_scale.get(r.family or "unlabelled", 0.0) for r in records])
    Wt *= row_scale[:, None]
    pw = np.array([row_scale[i] * s.pair_weight for i, _, _ in pairs])
    total = Wt.sum() + pw.sum()
    Wt /= total
    pw /= total
    P = np.array(pairs, dtype=np.int64).reshape(-1, 3)
    Z = features_matrix([as_info(x) for x in models])
    return Prepared(
        X, [r.family or "unlabelled" for r in records], models, Z, Y, Wt, P, np.array(pair_y), pw, fam_obs
    )


def feature_columns(emb_dims: int) -> npt.NDArray[np.int64]:
    from satisfice.predict.embed import DIM

    d = max(0, min(emb_dims, DIM))
    return np.concatenate([np.arange(d), DIM + np.arange(d), 2 * DIM + np.arange(N_FEATURES - 2 * DIM)])


class _Adam:
    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.m = {k: np.zeros(v) for k, v in shapes.items()}
        self.v = {k: np.zeros(v) for k, v in shapes.items()}
        self.t = 0

    def step(self, params: dict[str, Array], grads: dict[str, Array], lr: float) -> None:
        self.t += 1
        b1, b2 = 0.9, 0.999
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            mh, vh = self.m[k] / (1 - b1**self.t), self.v[k] / (1 - b2**self.t)
            params[k] -= lr * mh / (np.sqrt(vh) + 1e-8)


def optimize(
    d: Prepared, s: Settings, seed: int
) -> tuple[dict[str, Array], npt.NDArray[np.int64], Array, Array, Array, Array, Array]:
    cols = feature_columns(s.emb_dims)
    k = min(s.clusters, len(d.X))
    cent = kmeans(d.X[:, : s.cluster_dims], k, seed) if k else np.zeros((0, 0))
    Xc = expand(d.X, cols, cent, TAU)
    mu, sd = Xc.mean(axis=0), Xc.std(axis=0) + 1e-3
    Xs = np.hstack([(Xc - mu) / sd, np.ones((Xc.shape[0], 1))]).astype(np.float32)
    dim = Xs.shape[1]
    use = np.array([name in s.model_feats for name in MODEL_FEATURE_NAMES], dtype=np.float64)
    use_w = np.array([name in s.spec_feats for name in MODEL_FEATURE_NAMES], dtype=np.float64)
    Z, Zw = d.Z * use, d.Z * use_w  # unused model features are zero, so their weights stay 0
    m, M = Z.shape
    rng = np.random.default_rng(seed)
    V0 = rng.normal(0, 0.01, (s.rank + 2, dim))
    V0[0, -1] = np.log(np.expm1(1.0))  # kappa starts at 1
    a0 = np.zeros(M)
    a0[MODEL_FEATURE_NAMES.index("prior")] = 0.5  # ability starts as the catalog prior
    p: dict[str, Array] = {
        "V": V0,
        "W": rng.normal(0, 0.1, (s.rank, M)) * use_w,
        "a": a0,
        "E": np.zeros((m, s.rank)),
        "r": np.zeros(m),
        "U": rng.normal(0, 1.0 / np.sqrt(dim), (s.hidden, dim)),
        "V2": np.zeros((s.rank + 2, s.hidden)),
    }
    fam_names = sorted(set(d.family))
    fam_idx = np.array([fam_names.index(f) for f in d.family], dtype=np.int64)
    onehot = np.zeros((len(d.family), len(fam_names)))
    onehot[np.arange(len(d.family)), fam_idx] = 1.0
    if s.family_offsets:
        p["F"] = np.zeros((len(fam_names), s.rank + 2))
    opt = _Adam({k: v.shape for k, v in p.items()})
    Y, Wt = d.Y, d.Wt
    dense = Wt > 0
    empty = np.zeros(0, np.int64)
    rows, ja, jb = (d.pairs[:, 0], d.pairs[:, 1], d.pairs[:, 2]) if len(d.pairs) else (empty, empty, empty)
    reg = np.full((s.rank + 2, 1), s.l2_v)
    reg[2:] = s.l2_h
    for step in range(s.steps):
        T = (Xs @ p["V"].T.astype(np.float32)).astype(np.float64)  # (n, k + 2)
        if s.hidden:
            Hh = np.tanh((Xs @ p["U"].T.astype(np.float32)).astype(np.float64))
            T += Hh @ p["V2"].T
        if s.family_offsets:
            T += p["F"][fam_idx]
        t, b, H = T[:, 0], T[:, 1], T[:, 2:]
        kappa = np.logaddexp(0.0, t)
        G = Zw @ p["W"].T + p["E"]
        theta = Z @ p["a"] + p["r"]
        S = kappa[:, None] * (theta[None, :] - b[:, None]) + H @ G.T
        dS = np.where(dense, Wt * (0.5 * (1 + np.tanh(0.5 * S)) - Y), 0.0)
        if rows.size:
            delta = S[rows, ja] - S[rows, jb]
            g = d.pair_w * (0.5 * (1 + np.tanh(0.5 * delta)) - d.pair_y)
            np.add.at(dS, (rows, ja), g)
            np.add.at(dS, (rows, jb), -g)
        row_sum = dS.sum(axis=1)
        dT = np.empty_like(T)
        dT[:, 0] = (dS @ theta - b * row_sum) * (0.5 * (1 + np.tanh(0.5 * t)))  # d softplus = sigmoid
        dT[:, 1] = -kappa * row_sum
        dT[:, 2:] = dS @ G
        dG, dtheta = dS.T @ H, dS.T @ kappa
        vreg = p["V"] * reg
        vreg[:, -1] = 0.0
        grads = {
            "V": (Xs.T @ dT.astype(np.float32)).T.astype(np.float64) + 2 * vreg,
            "W": (dG.T @ Zw + 2 * s.l2_w * p["W"]) * use_w,
            "E": dG + 2 * s.l2_e * p["E"],
            "a": (Z.T @ dtheta + 2 * s.l2_a * p["a"]) * use,
            "r": dtheta + 2 * s.l2_r * p["r"],
        }
        if s.family_offsets:
            grads["F"] = onehot.T @ dT + 2 * s.l2_f * p["F"]
        if s.hidden:
            dA = (dT @ p["V2"]) * (1 - Hh * Hh)
            grads["U"] = (Xs.T @ dA.astype(np.float32)).T.astype(np.float64) + 2 * s.l2_u * p["U"]
            grads["V2"] = dT.T @ Hh + 2 * s.l2_u * p["V2"]
        frac = step / max(s.steps - 1, 1)
        opt.step(p, grads, s.lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac))))  # cosine decay to 10 %
    return p, cols, mu, sd, cent, d.Z.min(axis=0), d.Z.max(axis=0)


def loss(d: Prepared, pred: LearnedPredictor) -> float:
    """Weighted training loss (logistic + Bradley-Terry), for reports."""
    S = pred.logits(pred.project(d.X), d.models)
    P = np.clip(0.5 * (1 + np.tanh(0.5 * S)), 1e-7, 1 - 1e-7)
    out = float(np.sum(d.Wt * -(d.Y * np.log(P) + (1 - d.Y) * np.log(1 - P))))
    if len(d.pairs):
        q = np.clip(
            0.5 * (1 + np.tanh(0.5 * (S[d.pairs[:, 0], d.pairs[:, 1]] - S[d.pairs[:, 0], d.pairs[:, 2]]))),
            1e-7,
            1 - 1e-7,
        )
        out += float(np.sum(d.pair_w * -(d.pair_y * np.log(q) + (1 - d.pair_y) * np.log(1 - q))))
    return out


def reference_rows(d: Prepared, s: Settings, seed: int) -> npt.NDArray[np.int64]:
    """A fixed, stratified sample of training prompts (more of the chat-like families)."""
    rng = np.random.default_rng(seed + 7919)
    fam = np.array(d.family)
    out = []
    for f in sorted(set(d.family)):
        idx = np.flatnonzero(fam == f)
        k = s.reference_chat if f.startswith("arena") else s.reference_per_family
        out.append(np.sort(rng.choice(idx, size=min(k, idx.size), replace=False)))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _learn_clusters(d: Prepared, s: Settings, seed: int) -> Array:
    k = min(s.learn_clusters, len(d.X))
    return kmeans(d.X[:, : s.cluster_dims], k, seed) if k else np.zeros((0, 0))


def fit(records: Sequence[Record], *, seed: int = 0, **settings: Any) -> LearnedPredictor:
    """Train in-process; deterministic given the seed (and the records' order)."""
    s = Settings.make(**settings)
    t0 = time.perf_counter()
    d = prepare(records, s)
    p, cols, mu, sd, cent, zlo, zhi = optimize(d, s, seed)
    ref = reference_rows(d, s, seed)
    params = Params(
        cols,
        mu,
        sd,
        p["V"],
        p["W"],
        p["a"],
        p["E"],
        p["r"],
        list(d.models),
        d.X[ref].astype(np.float16).astype(np.float32),  # as stored: in-process = loaded artifact
        [d.family[i] for i in ref],
        p["U"],
        p["V2"],
        cent,
        TAU,
        zlo,
        zhi,
        s.cue_blend,
        _learn_clusters(d, s, seed),
    )
    meta = {
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seed": seed,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()},
        "rows": len(records),
        "observations_by_family": dict(sorted(d.counts.items())),
        "models_seen": list(d.models),
        "reference_rows": int(ref.size),
        "prompt_features": {
            "embedding": "wordllama 0.4 l2_supercat 256-d: last user turn + its last 64 tokens",
            "stats": list(STAT_NAMES),
        },
        "model_features": list(MODEL_FEATURE_NAMES),
    }
    pred = LearnedPredictor(params, meta)
    pred.meta["train_loss"] = round(loss(d, pred), 6)
    pred.meta["train_seconds"] = round(time.perf_counter() - t0, 1)
    return pred
