"""The in-process cache store: a dict in least-recently-used order, with expiry by an injectable clock."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from satisfice.cache.entry import RECENT, CacheEntry

T = TypeVar("T")


def _bounded_put(d: OrderedDict[str, T], key: str, value: T, limit: int) -> None:
    """Insert as the newest, dropping the oldest beyond `limit`."""
    d[key] = value
    d.move_to_end(key)
    while len(d) > limit:
        d.popitem(last=False)


class MemoryStore:
    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._by_request: dict[str, str] = {}
        self._keep = max(RECENT, max_entries)  # hits and pending answers remembered
        self._served: OrderedDict[str, str] = OrderedDict()  # hit request id -> entry key
        self._pending: OrderedDict[str, CacheEntry] = OrderedDict()  # request id -> answer awaiting proof

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() >= entry.expires:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    async def put(self, entry: CacheEntry) -> list[str]:
        old = self._entries.pop(entry.key, None)
        if old is not None:
            self._by_request.pop(old.request_id, None)
        self._entries[entry.key] = entry
        self._by_request[entry.request_id] = entry.key
        evicted = []
        while len(self._entries) > self.max_entries:
            key, gone = self._entries.popitem(last=False)
            self._by_request.pop(gone.request_id, None)
            evicted.append(key)
        return evicted

    async def delete(self, key: str) -> None:
        self._drop(key)

    def _drop(self, key: str) -> None:
        gone = self._entries.pop(key, None)
        if gone is not None:
            self._by_request.pop(gone.request_id, None)

    async def by_request(self, request_id: str) -> CacheEntry | None:
        key = self._by_request.get(request_id) or self._served.get(request_id)
        return None if key is None else await self.get(key)

    async def note_served(self, request_id: str, key: str, expires: float) -> None:
        _bounded_put(self._served, request_id, key, self._keep)  # get() checks the entry's expiry

    async def put_pending(self, entry: CacheEntry) -> None:
        _bounded_put(self._pending, entry.request_id, entry, self._keep)

    async def take_pending(self, request_id: str) -> CacheEntry | None:
        entry = self._pending.pop(request_id, None)
        return entry if entry is not None and self.clock() < entry.expires else None

    async def semantic_entries(self, after: int = 0) -> tuple[list[CacheEntry], int]:
        # One process's own store: nothing appears here that it did not put (and index) itself.
        if after:
            return [], after
        now = self.clock()
        return [e for e in self._entries.values() if e.vector and now < e.expires], 1

    async def close(self) -> None:
        self._entries.clear()
        self._by_request.clear()
        self._served.clear()
        self._pending.clear()
