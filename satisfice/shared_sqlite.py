"""Opening a SQLite file that several processes share (`serve --workers N`): WAL, and a set-up that
waits out the other workers instead of failing.

Two workers opening a fresh file at the same moment race on the switch to WAL and on the schema;
SQLite answers one of them "database is locked" at once for some of those steps (its busy handler
is not consulted when waiting could deadlock), which killed a worker at start-up.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path

WAIT_S = 10.0  # how long set-up and later writes wait for another process's lock


def open_shared(path: str | Path, schema: str, *, autocommit: bool = False) -> sqlite3.Connection:
    """A connection to `path` in WAL mode with `schema` (idempotent DDL) applied. Set-up steps
    that meet another process's lock are retried until WAIT_S has passed."""
    path = str(path)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=WAIT_S, check_same_thread=False, isolation_level=None if autocommit else "DEFERRED"
    )
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(schema)
            return conn
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(random.uniform(0.005, 0.05))  # jitter: two workers do not retry in step


def file_problem(path: str) -> str | None:
    """Why `path` cannot serve as a SQLite store, checked without creating or changing anything
    (`satisfice check`); None when it looks usable."""
    p = Path(path)
    if p.is_dir():
        return "it is a directory"
    if p.exists():
        if not os.access(p, os.R_OK | os.W_OK):
            return "it is not readable and writable by this user"
        try:
            probe = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
            try:
                probe.execute("PRAGMA schema_version").fetchone()
            finally:
                probe.close()
        except sqlite3.Error as e:
            return str(e)
        return None
    parent = p.parent
    while not parent.exists():  # open_shared creates missing folders: the nearest existing one counts
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create it: {parent} is not a writable folder"
    return None


def add_missing_columns(conn: sqlite3.Connection, table: str, columns: tuple[tuple[str, str], ...]) -> None:
    """Add the columns an older version's file lacks (as NULL). Another worker may add one first."""
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns:
        if name in have:
            continue
        try:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):
                raise
