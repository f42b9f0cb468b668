"""Nearest-neighbour search over the semantic cache's unit-norm embeddings (cosine = dot product).

Two backends behind one class, chosen by size:
- up to `exact_max` entries: numpy brute force (exact; one matrix-vector product, ~0.3 ms at 16k x 256);
- above it: a faiss HNSW graph (M=32, efSearch=64). Brute force costs ~6 ms at 100k entries on this
  2-core machine; HNSW answers in ~0.2-0.3 ms (scripts/bench_cache_index.py measures both, and recall).

faiss HNSW cannot delete, so a removed or replaced key leaves a tombstone that searches skip; when the
tombstones outnumber the live entries the graph is rebuilt from the live vectors (amortised, but one
rebuild is a pause of seconds at 100k entries). Not thread-safe: the gateway calls it from its one
asyncio thread, so there is no locking.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
EXACT_MAX = 16384  # brute force p99 stays under ~0.5 ms up to here (measured); HNSW above
HNSW_M = 32  # graph degree: recall ~97 % at efSearch 64 on 100k wordllama vectors (measured)
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 64


class VectorIndex:
    """key -> unit-norm vector; search returns (key, cosine) best first. Single-threaded use only."""

    def __init__(self, dim: int, exact_max: int = EXACT_MAX) -> None:
        self.dim = dim
        self._exact_max = exact_max
        self._ids: dict[str, int] = {}  # key -> backend id
        self._keys: dict[int, str] = {}  # backend id -> key
        self._next = 0
        self._backend: _Exact | _Hnsw = _Exact(dim)

    def add(self, key: str, vector: npt.NDArray[Any]) -> None:
        """Add or replace `key`."""
        vec = np.ascontiguousarray(vector, dtype=np.float32).reshape(self.dim)
        self.remove(key)
        ident, self._next = self._next, self._next + 1
        self._ids[key], self._keys[ident] = ident, key
        self._backend.add(ident, vec)
        if isinstance(self._backend, _Exact) and len(self._ids) > self._exact_max:
            self._backend = self._backend.to_hnsw()

    def remove(self, key: str) -> None:
        """Forget `key`; no error if it is not there."""
        ident = self._ids.pop(key, None)
        if ident is not None:
            del self._keys[ident]
            self._backend.remove(ident)

    def search(self, vector: npt.NDArray[Any], k: int = 4) -> list[tuple[str, float]]:
        """Up to k (key, cosine) pairs, best first."""
        if not self._ids or k <= 0:
            return []
        vec = np.ascontiguousarray(vector, dtype=np.float32).reshape(self.dim)
        return [(self._keys[i], s) for i, s in self._backend.search(vec, min(k, len(self._ids)))]

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def backend(self) -> str:
        return "exact" if isinstance(self._backend, _Exact) else "hnsw"


class _Exact:
    """Rows of a growable matrix; removal moves the last row into the hole."""

    def __init__(self, dim: int) -> None:
        self._mat: F32 = np.zeros((64, dim), dtype=np.float32)
        self._row_id: list[int] = []
        self._row_of: dict[int, int] = {}

    def add(self, ident: int, vec: F32) -> None:
        n = len(self._row_id)
        if n == self._mat.shape[0]:
            self._mat = np.concatenate([self._mat, np.zeros_like(self._mat)])
        self._mat[n] = vec
        self._row_id.append(ident)
        self._row_of[ident] = n

    def remove(self, ident: int) -> None:
        row = self._row_of.pop(ident)
        last = len(self._row_id) - 1
        moved = self._row_id.pop()
        if row != last:
            self._mat[row] = self._mat[last]
            self._row_id[row] = moved
            self._row_of[moved] = row

    def search(self, vec: F32, k: int) -> list[tuple[int, float]]:
        scores = self._mat[: len(self._row_id)] @ vec
        top = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._row_id[r], float(scores[r])) for r in top.tolist()]

    def to_hnsw(self) -> _Hnsw:
        n = len(self._row_id)
        return _Hnsw(self._mat.shape[1], list(self._row_id), self._mat[:n])


class _Hnsw:
    """faiss HNSW; faiss numbers vectors 0..ntotal-1 in insertion order, mapped here to our ids."""

    def __init__(self, dim: int, ids: list[int], vectors: F32) -> None:
        import faiss  # only stores past EXACT_MAX pay for loading it

        self._faiss: Any = faiss
        self._dim = dim
        self._index: Any = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        self._index.hnsw.efSearch = HNSW_EF_SEARCH
        self._pos_id: list[int] = []  # faiss position -> our id (-1: tombstone)
        self._pos_of: dict[int, int] = {}
        self._dead = 0
        if ids:
            self._append(ids, np.ascontiguousarray(vectors, dtype=np.float32))

    def _append(self, ids: list[int], vectors: F32) -> None:
        start = len(self._pos_id)
        self._index.add(vectors)
        self._pos_id.extend(ids)
        self._pos_of.update((ident, start + j) for j, ident in enumerate(ids))

    def add(self, ident: int, vec: F32) -> None:
        self._append([ident], vec.reshape(1, self._dim))

    def remove(self, ident: int) -> None:
        self._pos_id[self._pos_of.pop(ident)] = -1
        self._dead += 1
        if self._dead > max(len(self._pos_of), 1024):
            self._rebuild()

    def _rebuild(self) -> None:
        """Drop the tombstones: a new graph from the live vectors (faiss keeps them, so no copy here)."""
        live = [(p, i) for p, i in enumerate(self._pos_id) if i >= 0]
        vectors: F32 = np.zeros((len(live), self._dim), dtype=np.float32)
        for row, (p, _) in enumerate(live):
            vectors[row] = self._index.reconstruct(p)
        fresh = _Hnsw(self._dim, [i for _, i in live], vectors)
        self.__dict__.update(fresh.__dict__)

    def search(self, vec: F32, k: int) -> list[tuple[int, float]]:
        want = k + min(self._dead, 16)  # a few spare answers to cover tombstones
        while True:
            scores, pos = self._index.search(vec.reshape(1, self._dim), min(want, len(self._pos_id)))
            found = [
                (self._pos_id[p], float(s))
                for p, s in zip(pos[0].tolist(), scores[0].tolist(), strict=True)
                if p >= 0 and self._pos_id[p] >= 0
            ]
            if len(found) >= k or want >= len(self._pos_id):
                return found[:k]
            want *= 4  # many tombstones near this query: ask for more
