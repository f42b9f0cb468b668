"""Values derived from a list of objects, kept per list by the objects' identities.

A route offers the same catalog entries request after request, in a new list each time; what is
derived from the entries alone (the predictor's model terms, the price table) need not be derived
again. The key is the tuple of the entries' ids, so looking a list up costs no hashing of the
entries themselves (a catalog entry hashes every field); each kept value holds its entries, so
their ids cannot pass to other objects while it is kept."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

V = TypeVar("V")
# From this many candidates, per-candidate work is faster in numpy over a kept block; below it,
# numpy's per-call cost exceeds a plain-Python loop (measured: 4 candidates 7 vs 9 us, 12: 20 vs 10).
VECTOR_FROM = 8


class PerList(Generic[V]):
    def __init__(self, limit: int = 256) -> None:
        self._kept: dict[tuple[int, ...], tuple[tuple[Any, ...], V]] = {}
        self._limit = limit  # a catalog reload makes new entries: the old lists go when it is full
        self._lock = threading.Lock()

    def get(self, items: Sequence[Any], make: Callable[[], V]) -> V:
        """The value kept for this list of objects, else `make()` kept."""
        key = tuple(map(id, items))
        hit = self._kept.get(key)
        if hit is None:
            hit = (tuple(items), make())
            with self._lock:
                if len(self._kept) >= self._limit:
                    self._kept.clear()
                self._kept[key] = hit
        return hit[1]
