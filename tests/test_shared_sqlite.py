"""Opening a SQLite file other processes share: set-up waits for a lock instead of failing."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import sqlite3
import threading
import time
from pathlib import Path

from satisfice.shared_sqlite import add_missing_columns, open_shared

SCHEMA = "CREATE TABLE IF NOT EXISTS t (a INTEGER);"


def test_set_up_waits_for_another_connections_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    released = threading.Event()

    def release() -> None:
        time.sleep(0.3)
        holder.execute("COMMIT")
        released.set()

    threading.Thread(target=release).start()
    conn = open_shared(path, SCHEMA)
    assert released.is_set()  # it could only finish after the lock was let go
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    conn.close()
    holder.close()


def _open_many(path: str, start: multiprocessing.synchronize.Event, n: int) -> None:
    start.wait()
    for i in range(n):
        open_shared(f"{path}.{i}", SCHEMA).close()


def test_two_processes_opening_the_same_fresh_files_both_succeed(tmp_path: Path) -> None:
    # Before open_shared, ~5 % of such simultaneous openings failed with "database is locked".
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_open_many, args=(str(tmp_path / "f"), start, 60)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]


def test_an_older_file_gains_the_missing_columns(tmp_path: Path) -> None:
    conn = open_shared(tmp_path / "c.db", SCHEMA)
    add_missing_columns(conn, "t", (("a", "INTEGER"), ("b", "TEXT")))
    add_missing_columns(conn, "t", (("b", "TEXT"), ("c", "REAL")))  # run again, as the next start would
    assert [r[1] for r in conn.execute("PRAGMA table_info(t)")] == ["a", "b", "c"]
    conn.close()
