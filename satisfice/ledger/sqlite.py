"""SQLite ledger (WAL): rows are queued on the request path and written in batches by a thread,
so a request never waits on the database."""

from __future__ import annotations

import logging
import math
import queue
import sqlite3
import threading
import time

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


LOG_EVERY_S = 10.0  # while writes fail, at most one log line this often
PRUNE_EVERY_S = 3600.0  # with a retention set, old rows are deleted this often


class SQLiteLedger:
    def __init__(self, path: str, *, batch: int = 1000, retention_days: float = 0.0) -> None:
        self.path = path
        self.retention_s = retention_days * 86400  # 0: rows are kept for good
        self._pruned_at = -math.inf
        self._conn = connect(path)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._batch = batch
        self._failing: str | None = None  # the last write's error while writes fail
        self._lost = 0  # rows lost since the last log line about it
        self._logged_at = -math.inf
        self._thread = threading.Thread(target=self._run, name="satisfice-ledger", daemon=True)
        self._thread.start()

    def submit(self, row: LedgerRow) -> None:
        self._queue.put(row.values())

    def problem(self) -> str | None:
        failing = self._failing
        return f"ledger writes are failing ({failing}): rows are being lost" if failing else None

    def _write_failed(self, e: sqlite3.Error, rows: int) -> None:
        """One log line per LOG_EVERY_S while writes fail (a full disk failed every 50 ms batch, each
        with a traceback), saying how many rows were lost since the last line."""
        self._failing, self._lost = str(e), self._lost + rows
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            log.error("ledger write failed (%s): %d rows lost since the last report", e, self._lost)
            self._logged_at, self._lost = now, 0

    def _write_ok(self) -> None:
        if self._failing is not None:
            log.warning("ledger writes work again (%d more rows were lost)", self._lost)
            self._failing, self._lost, self._logged_at = None, 0, -math.inf

    def _run(self) -> None:
        while True:
            items = next_batch(self._queue, self._batch, lambda item: item is _STOP)
            rows = [item for item in items if item is not _STOP]
            if rows:
                try:
                    with self._conn:
                        self._conn.executemany(INSERT, rows)  # type: ignore[arg-type]
                except sqlite3.Error as e:
                    self._write_failed(e, len(rows))
                else:
                    self._write_ok()
            self._prune()
            if len(rows) < len(items):  # _STOP: everything queued before it is written
                break
        self._conn.close()

    def _prune(self) -> None:
        """Delete rows older than the retention: with the first write, then at most once per PRUNE_EVERY_S."""
        now = time.monotonic()
        if not self.retention_s or now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        try:
            with self._conn:
                gone = self._conn.execute(
                    "DELETE FROM requests WHERE ts < ?", (time.time() - self.retention_s,)
                ).rowcount
        except sqlite3.Error as e:
            log.warning("ledger retention: deleting old rows failed (%s)", e)
            return
        if gone:
            log.info("ledger retention: deleted %d rows older than %g days", gone, self.retention_s / 86400)

    def close(self) -> None:
        """Flush what is queued and stop the writer."""
        self._queue.put(_STOP)
        self._thread.join(timeout=10)
