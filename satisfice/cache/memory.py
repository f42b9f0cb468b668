"""The in-process cache store: a dict in least-recently-used order, with expiry by an injectable clock."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from satisfice.cache.entry import CacheEntry


class MemoryStore:
    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._by_request: dict[str, str] = {}

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
        key = self._by_request.get(request_id)
        return None if key is None else await self.get(key)

    async def semantic_entries(self) -> Iterable[CacheEntry]:
        now = self.clock()
        return [e for e in self._entries.values() if e.vector and now < e.expires]

    async def close(self) -> None:
        self._entries.clear()
        self._by_request.clear()
