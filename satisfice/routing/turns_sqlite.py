"""Conversation affinity's turns in a SQLite file, shared by every `serve --workers` process and kept
across restarts: a tool loop continued on another worker, or after a restart, still goes to the
candidate that made the tool calls.

A turn is written at once, before its answer goes to the client, so the worker that takes the next
request finds it. That write waits at most QUICK_WAIT_S for another process's write lock (the
learner's writer holds it for a few milliseconds at a time); past that it is handed to a background
thread, which waits as long as any shared store does (`shared_sqlite.WAIT_S`). Recent turns are also
kept in this process, so a worker's own turns cost no read. The file keeps the latest `size` turns.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from satisfice.routing.affinity import REMEMBERED_TURNS, MemoryTurnStore
from satisfice.shared_sqlite import WAIT_S, open_shared

log = logging.getLogger("satisfice.routing")

SCHEMA = """
CREATE TABLE IF NOT EXISTS affinity_turns (key BLOB PRIMARY KEY, candidate TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS affinity_turns_ts ON affinity_turns (ts);
"""
QUICK_WAIT_S = 0.05  # the longest a write on the request path waits for another process's lock
PRUNE_EVERY = 1000  # writes between two trims of the file to its newest `size` turns
LOG_EVERY_S = 10.0  # while the file fails, at most one log line this often
_PUT = "INSERT OR REPLACE INTO affinity_turns (key, candidate, ts) VALUES (?, ?, ?)"
_PRUNE = (
    "DELETE FROM affinity_turns WHERE ts <= (SELECT ts FROM affinity_turns ORDER BY ts DESC LIMIT 1 OFFSET ?)"
)
_STOP = object()


class SQLiteTurnStore:
    """Turn digests -> candidate in `path` (a `TurnStore`), with this process's recent ones in memory."""

    def __init__(
        self, path: str | Path, size: int = REMEMBERED_TURNS, clock: Callable[[], float] = time.time
    ) -> None:
        self._size = size
        self._clock = clock
        self._local = MemoryTurnStore(size)
        self._conn = open_shared(path, SCHEMA, autocommit=True)
        self._conn.execute(f"PRAGMA busy_timeout = {int(QUICK_WAIT_S * 1000)}")
        self._lock = threading.Lock()  # one statement at a time on the request path's connection
        self._path = path
        self._late: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._writes = 0
        self._logged_at = -LOG_EVERY_S

    def get(self, key: bytes) -> str | None:
        found = self._local.get(key)
        if found is not None:
            return found
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT candidate FROM affinity_turns WHERE key = ?", (key,)
                ).fetchone()
        except sqlite3.Error as e:  # the turn is routed afresh: never a failed request
            self._failed("read", e)
            return None
        if row is None:
            return None
        self._local.put(key, row[0])
        return str(row[0])

    def put(self, key: bytes, candidate: str) -> None:
        self._local.put(key, candidate)
        row = (key, candidate, self._clock())
        try:
            with self._lock:
                self._conn.execute(_PUT, row)
                self._writes += 1
                prune = self._writes % PRUNE_EVERY == 0
        except sqlite3.OperationalError:  # another process holds the lock longer: write it later
            self._background(row)
            return
        except sqlite3.Error as e:
            self._failed("write", e)
            return
        if prune:
            self._background(None)

    def close(self) -> None:
        if self._thread is not None:
            self._late.put(_STOP)
            self._thread.join(timeout=WAIT_S + 1)
        with self._lock:
            self._conn.close()

    def _background(self, row: tuple[bytes, str, float] | None) -> None:
        """Hand a write (None: a trim) to the background thread, started on first use."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="affinity-turns", daemon=True)
            self._thread.start()
        self._late.put(row)

    def _run(self) -> None:
        conn = open_shared(self._path, SCHEMA, autocommit=True)  # waits WAIT_S for a lock
        try:
            while (item := self._late.get()) is not _STOP:
                try:
                    if isinstance(item, tuple):
                        conn.execute(_PUT, item)
                    else:
                        conn.execute(_PRUNE, (self._size,))
                except sqlite3.Error as e:
                    self._failed("write", e)
        finally:
            conn.close()

    def _failed(self, what: str, e: sqlite3.Error) -> None:
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.warning(
                "conversation affinity: %s of %s failed (%s); the turn is routed afresh", what, self._path, e
            )
