"""SQLite ledger (WAL): rows are queued on the request path and written in batches by a thread,
so a request never waits on the database."""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading

from satisfice.batching import next_batch
from satisfice.ledger.record import COLUMNS, LedgerRow
from satisfice.shared_sqlite import add_missing_columns, open_shared

log = logging.getLogger("satisfice.ledger")

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, ts REAL NOT NULL,
  tenant TEXT, endpoint TEXT, route TEXT, strategy TEXT,
  model TEXT, provider TEXT, attempts TEXT, n_attempts INTEGER,
  prompt_tokens INTEGER, completion_tokens INTEGER, cached_tokens INTEGER, reasoning_tokens INTEGER,
  usage_estimated INTEGER, cost_usd REAL, baseline_model TEXT, baseline_cost_usd REAL, savings_usd REAL,
  latency_ms REAL, ttft_ms REAL, stream INTEGER, status INTEGER, outcome TEXT, reason TEXT, error TEXT,
  knob TEXT, predicted_quality REAL, cache TEXT, cache_saved_usd REAL,
  trim_tokens_before INTEGER, trim_tokens_after INTEGER, trim_saved_usd REAL
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE INDEX IF NOT EXISTS requests_id ON requests (id);
"""
# Plain INSERT, no upsert: a request accounted twice would show as two rows, not hide.
INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_STOP = object()


def connect(path: str) -> sqlite3.Connection:
    conn = open_shared(path, SCHEMA)
    # Ledgers written by an older version lack later columns.
    add_missing_columns(
        conn,
        "requests",
        (
            ("knob", "TEXT"),
            ("predicted_quality", "REAL"),
            ("cache", "TEXT"),
            ("cache_saved_usd", "REAL"),
            ("trim_tokens_before", "INTEGER"),
            ("trim_tokens_after", "INTEGER"),
            ("trim_saved_usd", "REAL"),
        ),
    )
    return conn


class SQLiteLedger:
    def __init__(self, path: str, *, batch: int = 1000) -> None:
        self.path = path
        self._conn = connect(path)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._batch = batch
        self._thread = threading.Thread(target=self._run, name="satisfice-ledger", daemon=True)
        self._thread.start()

    def submit(self, row: LedgerRow) -> None:
        self._queue.put(row.values())

    def _run(self) -> None:
        while True:
            items = next_batch(self._queue, self._batch, lambda item: item is _STOP)
            rows = [item for item in items if item is not _STOP]
            if rows:
                try:
                    with self._conn:
                        self._conn.executemany(INSERT, rows)  # type: ignore[arg-type]
                except sqlite3.Error:
                    log.exception("ledger write failed; %d rows lost", len(rows))
            if len(rows) < len(items):  # _STOP: everything queued before it is written
                break
        self._conn.close()

    def close(self) -> None:
        """Flush what is queued and stop the writer."""
        self._queue.put(_STOP)
        self._thread.join(timeout=10)
