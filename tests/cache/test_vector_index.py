"""VectorIndex: add/replace/remove/search agree with brute force, on both backends."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from satisfice.cache.vector_index import VectorIndex

DIM = 32


def _unit(rng: np.random.Generator, n: int) -> npt.NDArray[np.float32]:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    out: npt.NDArray[np.float32] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _brute(live: dict[str, npt.NDArray[np.float32]], q: npt.NDArray[np.float32], k: int) -> list[str]:
    keys = list(live)
    scores = np.stack([live[key] for key in keys]) @ q
    return [keys[i] for i in np.argsort(-scores, kind="stable")[:k]]


@pytest.mark.parametrize("exact_max", [10_000, 50])  # exact backend only; HNSW past 50 entries
def test_search_matches_brute_force_through_adds_replaces_and_removes(exact_max: int) -> None:
    rng = np.random.default_rng(7)
    index = VectorIndex(DIM, exact_max=exact_max)
    live: dict[str, npt.NDArray[np.float32]] = {}
    vecs = _unit(rng, 600)
    for i, v in enumerate(vecs[:400]):
        index.add(f"k{i}", v)
        live[f"k{i}"] = v
    for i, v in enumerate(vecs[400:500]):  # replace 100 keys with new vectors
        index.add(f"k{i * 3}", v)
        live[f"k{i * 3}"] = v
    for i in range(1, 400, 5):  # remove 80 keys, and one that never existed
        index.remove(f"k{i}")
        live.pop(f"k{i}", None)
    index.remove("missing")
    assert len(index) == len(live)
    assert index.backend == ("exact" if exact_max > 400 else "hnsw")

    agree = 0
    for q in vecs[500:600]:
        got = index.search(q, 4)
        want = _brute(live, q, 4)
        assert all(key in live for key, _ in got)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
        for key, score in got:  # the scores are the true cosines
            assert score == pytest.approx(float(live[key] @ q), abs=1e-5)
        agree += got[0][0] == want[0]
    assert agree >= (100 if exact_max > 400 else 95)  # HNSW is approximate; tiny graphs are near-exact


def test_exact_hit_and_replacement() -> None:
    rng = np.random.default_rng(1)
    a, b = _unit(rng, 2)
    index = VectorIndex(DIM)
    index.add("x", a)
    [(key, score)] = index.search(a, 4)
    assert key == "x" and score == pytest.approx(1.0, abs=1e-6)
    index.add("x", b)  # replace: the old vector is gone
    assert len(index) == 1
    key, score = index.search(b, 1)[0]
    assert key == "x" and score == pytest.approx(1.0, abs=1e-6)
    assert index.search(a, 1)[0][1] == pytest.approx(float(a @ b), abs=1e-6)


def test_empty_and_small() -> None:
    index = VectorIndex(DIM)
    q = _unit(np.random.default_rng(2), 1)[0]
    assert index.search(q) == []
    index.add("only", q)
    assert [k for k, _ in index.search(q, 10)] == ["only"]
    index.remove("only")
    assert index.search(q) == [] and len(index) == 0


def test_hnsw_tombstones_are_skipped_and_compacted() -> None:
    rng = np.random.default_rng(3)
    vecs = _unit(rng, 3000)
    index = VectorIndex(DIM, exact_max=10)
    for i, v in enumerate(vecs):
        index.add(f"k{i}", v)
    for i in range(2500):  # more tombstones than live entries: the graph is rebuilt
        index.remove(f"k{i}")
    assert len(index) == 500
    for i in range(2500, 2600):
        got = index.search(vecs[i], 4)
        assert got[0][0] == f"k{i}"
        assert all(int(key[1:]) >= 2500 for key, _ in got)
    for i in range(2990, 3000):  # removing a key the rebuild kept
        index.remove(f"k{i}")
        assert all(key != f"k{i}" for key, _ in index.search(vecs[i], 4))
