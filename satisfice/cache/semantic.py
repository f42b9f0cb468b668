"""The semantic side of the cache: an index per scope of conversation embeddings, searched for a
close paraphrase, then the correctness guard that rejects near-misses (a different number, a
negation, another entity...). Cosine similarity alone serves wrong answers; the guard is the point."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from satisfice.cache.entry import CacheEntry
from satisfice.cache.guard import guard
from satisfice.cache.vector_index import VectorIndex

Vector = npt.NDArray[np.float32]
_CANDIDATES = 2  # entries above the threshold to try the guard on, best first (each costs a guard parse)


def embed_text(text: str) -> Vector:
    """The router's own embedding (wordllama, in-package), so the cache adds no second model."""
    from satisfice.predict.embed import get_embedder

    emb = get_embedder()
    return np.ascontiguousarray(emb.pool(emb.token_ids(text)), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Match:
    key: str
    similarity: float


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the best near entry was not served (for the ledger's reason)."""

    similarity: float
    reason: str


class SemanticIndex:
    """Keys of cached entries by scope. One asyncio thread uses it; no locking."""

    def __init__(self) -> None:
        self._indexes: dict[str, VectorIndex] = {}
        self._keys: dict[str, tuple[str, float]] = {}  # key -> (scope, expires), oldest added first

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, scope: str, key: str, vector: Vector, expires: float = math.inf) -> None:
        self.remove(key)
        index = self._indexes.get(scope)
        if index is None:
            index = self._indexes[scope] = VectorIndex(int(vector.shape[0]))
        index.add(key, vector)
        self._keys[key] = (scope, expires)

    def remove(self, key: str) -> None:
        known = self._keys.pop(key, None)
        if known is None:
            return
        index = self._indexes[known[0]]
        index.remove(key)
        if len(index) == 0:
            del self._indexes[known[0]]

    def load(self, entries: Iterable[CacheEntry]) -> None:
        """Index the entries not indexed yet (at start-up, every one; later, other processes')."""
        for e in entries:
            if e.key not in self._keys:
                self.add(e.scope, e.key, np.frombuffer(e.vector, dtype=np.float32), e.expires)

    def trim(self, now: float, limit: int) -> None:
        """Forget the oldest keys beyond `limit`, and the oldest while they have expired. With a
        shared store, other processes evict entries without telling this index; a key whose entry is
        gone is also dropped when a search finds it."""
        while self._keys:
            key, (_, expires) = next(iter(self._keys.items()))
            if len(self._keys) <= limit and expires > now:
                return
            self.remove(key)

    def near(self, scope: str, vector: Vector, threshold: float) -> list[Match]:
        index = self._indexes.get(scope)
        if index is None:
            return []
        found = index.search(vector, _CANDIDATES)
        return [Match(k, s) for k, s in found if s >= threshold]


async def semantic_lookup(
    index: SemanticIndex,
    get: Callable[[str], Awaitable[CacheEntry | None]],
    scope: str,
    text: str,
    vector: Vector,
    threshold: float,
    fresh: Callable[[CacheEntry], bool],
) -> tuple[CacheEntry, float] | Refusal | None:
    """The best entry above the threshold that passes the guard; else why the best one failed."""
    refusal: Refusal | None = None
    for match in index.near(scope, vector, threshold):
        entry = await get(match.key)
        if entry is None:
            index.remove(match.key)  # evicted or expired in the store
            continue
        if not fresh(entry):  # too old for this request's max-age
            continue
        verdict = guard(text, entry.text)
        if verdict.ok:
            return entry, match.similarity
        refusal = refusal or Refusal(match.similarity, verdict.reason)
    return refusal
