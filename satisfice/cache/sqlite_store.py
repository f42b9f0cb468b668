"""The persistent single-node cache store: one SQLite table (WAL), read and written on the caller's
thread. A primary-key read or one-row write takes tens of microseconds, so there is no writer
thread; expired entries are swept every few hundred writes, and beyond `max_entries` the oldest
entries go first (SQLite keeps no recency order: that would cost a write per read)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from satisfice.cache.entry import CacheEntry
from satisfice.shared_sqlite import open_shared

_FIELDS = (
    "key",
    "body",
    "model",
    "provider",
    "cost_usd",
    "baseline_cost_usd",
    "baseline_model",
    "created",
    "expires",
    "request_id",
    "proven",
    "scope",
    "text",
    "vector",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache_entries (
    key TEXT PRIMARY KEY, body BLOB NOT NULL, model TEXT, provider TEXT, cost_usd REAL,
    baseline_cost_usd REAL, baseline_model TEXT, created REAL, expires REAL, request_id TEXT,
    proven INTEGER, scope TEXT, text TEXT, vector BLOB
);
CREATE INDEX IF NOT EXISTS cache_entries_request ON cache_entries(request_id);
CREATE INDEX IF NOT EXISTS cache_entries_created ON cache_entries(created);
"""
_SWEEP_EVERY = 256  # writes between sweeps of expired and surplus entries
_SELECT = f"SELECT {', '.join(_FIELDS)} FROM cache_entries"


def _entry(row: tuple[Any, ...]) -> CacheEntry:
    values = dict(zip(_FIELDS, row, strict=True))
    values["proven"] = bool(values["proven"])
    values["body"] = bytes(values["body"])
    values["vector"] = bytes(values["vector"] or b"")
    return CacheEntry(**values)


class SQLiteStore:
    def __init__(
        self, path: str | Path, max_entries: int = 100_000, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._db = open_shared(path, _SCHEMA, autocommit=True)
        self._writes = 0

    async def get(self, key: str) -> CacheEntry | None:
        row = self._db.execute(f"{_SELECT} WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        entry = _entry(row)
        return entry if self.clock() < entry.expires else None

    async def put(self, entry: CacheEntry) -> list[str]:
        values = [getattr(entry, f) for f in _FIELDS]
        values[_FIELDS.index("proven")] = int(entry.proven)
        self._db.execute(
            f"INSERT OR REPLACE INTO cache_entries ({', '.join(_FIELDS)}) "
            f"VALUES ({', '.join('?' * len(_FIELDS))})",
            values,
        )
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            return self.sweep()
        return []

    def sweep(self) -> list[str]:
        """Delete expired entries and the oldest beyond max_entries; return their keys."""
        now = self.clock()
        gone = [r[0] for r in self._db.execute("SELECT key FROM cache_entries WHERE expires <= ?", (now,))]
        (count,) = self._db.execute("SELECT count(*) FROM cache_entries WHERE expires > ?", (now,)).fetchone()
        surplus = count - self.max_entries
        if surplus > 0:
            gone += [
                r[0]
                for r in self._db.execute(
                    "SELECT key FROM cache_entries WHERE expires > ? ORDER BY created LIMIT ?", (now, surplus)
                )
            ]
        if gone:
            self._db.executemany("DELETE FROM cache_entries WHERE key = ?", [(k,) for k in gone])
        return gone

    async def delete(self, key: str) -> None:
        self._db.execute("DELETE FROM cache_entries WHERE key = ?", (key,))

    async def by_request(self, request_id: str) -> CacheEntry | None:
        row = self._db.execute(f"{_SELECT} WHERE request_id = ?", (request_id,)).fetchone()
        if row is None:
            return None
        entry = _entry(row)
        return entry if self.clock() < entry.expires else None

    async def semantic_entries(self) -> Iterable[CacheEntry]:
        rows = self._db.execute(
            f"{_SELECT} WHERE expires > ? AND length(vector) > 0 ORDER BY created", (self.clock(),)
        )
        return [_entry(r) for r in rows]

    async def close(self) -> None:
        self._db.close()
