"""The persistent single-node cache store: one SQLite table (WAL).

Reads run on the caller's thread (the event loop): a primary-key read takes tens of microseconds,
less than a hop to another thread, and in WAL mode a reader never waits for a writer. They wait for
no lock at all (busy timeout 0): a read that meets one is a miss. Writes run on the store's own
thread, with a short busy timeout, so a locked file (another process, another worker) delays only
the request that writes, never the loop; after a failed write, writes are skipped for a while
rather than queued behind the lock. Any SQLite error raises StoreUnavailable.

The table holds at most `max_entries` plus a small slack (1 %, at most 256 rows, per writing
process): expired and surplus entries are swept every `slack` writes and when the store opens.
Beyond `max_entries` the oldest entries go first (SQLite keeps no recency order: that would cost
a write per read)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from satisfice.cache.entry import RECENT, CacheEntry, StoreUnavailable
from satisfice.shared_sqlite import add_missing_columns, open_shared

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
CREATE TABLE IF NOT EXISTS cache_served (
    request_id TEXT PRIMARY KEY, key TEXT NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cache_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cache_pending (
    key TEXT NOT NULL, body BLOB NOT NULL, model TEXT, provider TEXT, cost_usd REAL,
    baseline_cost_usd REAL, baseline_model TEXT, created REAL, expires REAL, request_id TEXT PRIMARY KEY,
    proven INTEGER, scope TEXT, text TEXT, vector BLOB
);
"""
# cache_served: which entry answered a hit, and cache_pending: answers awaiting proof, both by request
# id, so that feedback reaches them whichever worker it comes to; each is kept to its newest
# max(RECENT, max_entries) rows.
_SWEEP_EVERY = 256  # the most writes between sweeps of expired and surplus entries
_WRITE_WAIT_MS = 500  # a write waits this long for another connection's lock, then gives up
_PAUSE_S = 5.0  # after a failed write, later writes are skipped this long (not queued behind it)
_SELECT = f"SELECT {', '.join(_FIELDS)} FROM cache_entries"


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_PENDING = _insert("cache_pending", _FIELDS)
# Each stored entry takes the next number of a counter that never goes back, its position for other
# workers' semantic indexes (`semantic_entries`). Rowids would not do: SQLite gives a new row the
# rowid of a deleted newest one, and an index that had read up to it would never see the new row.
_INSERT_ENTRY = _insert("cache_entries", (*_FIELDS, "seq"))
_NEXT_SEQ = "UPDATE cache_meta SET value = value + 1 WHERE name = 'seq' RETURNING value"

log = logging.getLogger("satisfice.cache")
T = TypeVar("T")


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on an autocommit connection."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


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
        """Opening errors (a directory, not a database) are raised as sqlite3 errors, for the caller
        to name the setting (see wiring.opened)."""
        self.max_entries = max_entries
        self.clock = clock
        self.slack = max(1, min(_SWEEP_EVERY, max_entries // 100))
        self._db = open_shared(path, _SCHEMA, autocommit=True)  # writes, on self._thread only
        self._number_entries()
        memory = str(path) == ":memory:"  # one connection is one in-memory database
        self._reader = self._db if memory else sqlite3.connect(path, timeout=0, check_same_thread=False)
        self._reader.isolation_level = None
        self._since_sweep = 0
        self._paused_until = 0.0  # monotonic time: writes are skipped until then
        self._initial_sweep()  # a restart (or a smaller max_entries) trims the table at once
        self._db.execute(f"PRAGMA busy_timeout = {_WRITE_WAIT_MS}")  # set-up waited longer
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="satisfice-cache")

    def _number_entries(self) -> None:
        """The entries' positions: a file from before they were numbered takes its rowids."""
        add_missing_columns(self._db, "cache_entries", (("seq", "INTEGER"),))
        self._db.execute("CREATE INDEX IF NOT EXISTS cache_entries_seq ON cache_entries(seq)")
        with _transaction(self._db):
            self._db.execute("UPDATE cache_entries SET seq = rowid WHERE seq IS NULL")
            self._db.execute(
                "INSERT OR IGNORE INTO cache_meta (name, value) "
                "VALUES ('seq', (SELECT coalesce(max(seq), 0) FROM cache_entries))"
            )

    def _initial_sweep(self) -> None:
        try:
            self.sweep()
        except sqlite3.OperationalError as e:  # busy: another worker; a later write sweeps
            log.warning("cache: no sweep at start (%s); the next writes will sweep", e)

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._reader.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StoreUnavailable(f"read failed: {e}") from e

    async def _write(self, work: Callable[[], T], *, pausable: bool = True) -> T:
        """Run `work` on the store's thread; SQLite errors become StoreUnavailable. While writes are
        paused, a pausable one is skipped at once."""

        def guarded() -> T:
            if pausable and time.monotonic() < self._paused_until:
                raise StoreUnavailable("writes paused after a failed write")
            try:
                return work()
            except sqlite3.Error as e:
                self._paused_until = time.monotonic() + _PAUSE_S
                raise StoreUnavailable(f"write failed: {e}") from e

        return await asyncio.get_running_loop().run_in_executor(self._thread, guarded)

    def _live(self, rows: list[tuple[Any, ...]]) -> CacheEntry | None:
        if not rows:
            return None
        entry = _entry(rows[0])
        return entry if self.clock() < entry.expires else None

    async def get(self, key: str) -> CacheEntry | None:
        return self._live(self._read(f"{_SELECT} WHERE key = ?", (key,)))

    async def put(self, entry: CacheEntry) -> list[str]:
        values = [getattr(entry, f) for f in _FIELDS]
        values[_FIELDS.index("proven")] = int(entry.proven)
        return await self._write(lambda: self._put(values))

    def _put(self, values: list[Any]) -> list[str]:
        with _transaction(self._db):  # the number and the row together: positions follow commits
            (seq,) = self._db.execute(_NEXT_SEQ).fetchone()
            self._db.execute(_INSERT_ENTRY, [*values, seq])
        return self._counted_write()

    def _counted_write(self) -> list[str]:
        """After a row is written: sweep when `slack` writes have passed; the swept entries' keys."""
        self._since_sweep += 1
        if self._since_sweep < self.slack:
            return []
        try:
            return self.sweep()
        except sqlite3.OperationalError as e:  # the row is stored; the next write sweeps again
            log.debug("cache sweep failed: %s", e)
            return []

    def sweep(self) -> list[str]:
        """Delete expired entries and the oldest beyond max_entries; return their keys. Runs on
        the store's thread (or before it starts)."""
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
        keep = max(RECENT, self.max_entries)
        for table in ("cache_served", "cache_pending"):
            self._db.execute(f"DELETE FROM {table} WHERE expires <= ?", (now,))
            # rowids grow with every insert: the newest `keep` rows stay
            self._db.execute(
                f"DELETE FROM {table} WHERE rowid <= (SELECT max(rowid) FROM {table}) - ?", (keep,)
            )
        self._since_sweep = 0
        return gone

    async def delete(self, key: str) -> None:
        """Not skipped while writes are paused: bad feedback evicts a wrong answer."""
        sql = "DELETE FROM cache_entries WHERE key = ?"
        await self._write(lambda: self._db.execute(sql, (key,)), pausable=False)

    async def by_request(self, request_id: str) -> CacheEntry | None:
        produced = self._live(self._read(f"{_SELECT} WHERE request_id = ?", (request_id,)))
        if produced is not None:
            return produced
        served = "(SELECT key FROM cache_served WHERE request_id = ?)"
        return self._live(self._read(f"{_SELECT} WHERE key = {served}", (request_id,)))

    async def note_served(self, request_id: str, key: str, expires: float) -> None:
        sql = "INSERT OR REPLACE INTO cache_served (request_id, key, expires) VALUES (?, ?, ?)"

        def note() -> None:
            self._db.execute(sql, (request_id, key, expires))
            self._counted_write()

        await self._write(note)

    async def put_pending(self, entry: CacheEntry) -> None:
        values = [getattr(entry, f) for f in _FIELDS]
        values[_FIELDS.index("proven")] = int(entry.proven)

        def put() -> None:
            self._db.execute(_INSERT_PENDING, values)
            self._counted_write()

        await self._write(put)

    async def take_pending(self, request_id: str) -> CacheEntry | None:
        # One statement: of two workers taking it at once, one gets it.
        sql = f"DELETE FROM cache_pending WHERE request_id = ? RETURNING {', '.join(_FIELDS)}"
        rows = await self._write(lambda: self._db.execute(sql, (request_id,)).fetchall(), pausable=False)
        return self._live(rows)

    async def semantic_entries(self, after: int = 0) -> tuple[list[CacheEntry], int]:
        # Positions are the entries' numbers (a replaced entry gets a new one), in commit order.
        newest = self._read("SELECT value FROM cache_meta WHERE name = 'seq'", ())[0][0]
        if newest <= after:
            return [], after
        where = "WHERE seq > ? AND seq <= ? AND expires > ? AND length(vector) > 0 ORDER BY seq"
        rows = self._read(f"{_SELECT} {where}", (after, newest, self.clock()))
        return [_entry(r) for r in rows], newest

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._db.close)  # after the writes already queued
        self._thread.shutdown(wait=False)
        self._reader.close()
