"""SQLite ledger (WAL): rows are queued on the request path and written in batches by a thread,
so a request never waits on the database. Rows whose write failed (another process held the lock
past the wait, a full disk) are kept and written again later, up to MAX_HELD_ROWS."""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import queue
import sqlite3
import threading
import time

from satisfice.batching import next_batch
from satisfice.ledger.record import COLUMNS, LedgerRow
from satisfice.shared_sqlite import WAIT_S, add_missing_columns, open_shared

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
RETRY_EVERY_S = 1.0  # rows whose write failed are written again this often (a write waits WAIT_S)
# Rows kept for a retry at most (~2 KB each); beyond it the oldest are dropped, and counted.
MAX_HELD_ROWS = 20_000


class SQLiteLedger:
    def __init__(self, path: str, *, batch: int = 1000, retention_days: float = 0.0) -> None:
        self.path = path
        self.retention_s = retention_days * 86400  # 0: rows are kept for good
        self._pruned_at = -math.inf
        self._conn = connect(path)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._batch = batch
        # Rows not written yet: the batch at hand, then (after a failed write) everything until a
        # write works. Only the writer thread changes it.
        self._held: collections.deque[tuple[object, ...]] = collections.deque()
        self._retry_at = -math.inf  # no write before this while writes fail
        self._failing: str | None = None  # the last write's error while writes fail
        self._dropped = 0  # rows dropped (over MAX_HELD_ROWS) since writes started failing
        self._logged_at = -math.inf
        self._thread = threading.Thread(target=self._run, name="satisfice-ledger", daemon=True)
        self._thread.start()

    def submit(self, row: LedgerRow) -> None:
        self._queue.put(row.values())

    def problem(self) -> str | None:
        failing, dropped = self._failing, self._dropped
        if failing is None:
            return None
        lost = f", {dropped} were dropped (over {MAX_HELD_ROWS} waiting)" if dropped else ""
        return f"ledger writes are failing ({failing}): {len(self._held)} rows wait for a retry{lost}"

    def _hold(self, rows: list[tuple[object, ...]]) -> None:
        self._held.extend(rows)
        over = len(self._held) - MAX_HELD_ROWS
        if over > 0:  # bounded memory: the oldest go
            for _ in range(over):
                self._held.popleft()
            self._dropped += over

    def _write_failed(self, e: sqlite3.Error) -> None:
        """One log line per LOG_EVERY_S while writes fail (a full disk failed every 50 ms batch, each
        with a traceback)."""
        self._failing = str(e)
        self._retry_at = time.monotonic() + RETRY_EVERY_S
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            log.error(
                "ledger write failed (%s): %d rows wait for a retry, %d dropped so far",
                e,
                len(self._held),
                self._dropped,
            )
            self._logged_at = now

    def _write_ok(self, written: int) -> None:
        if self._failing is not None:
            log.warning(
                "ledger writes work again: %d waiting rows written, %d were dropped", written, self._dropped
            )
            self._failing, self._dropped, self._logged_at = None, 0, -math.inf

    def _take(self) -> list[object]:
        """The next queued items; while rows wait for a retry, by the retry's time even if none came."""
        if not self._held:
            return next_batch(self._queue, self._batch, lambda item: item is _STOP)
        try:
            items = [self._queue.get(timeout=max(self._retry_at - time.monotonic(), 0.0))]
        except queue.Empty:
            return []
        while len(items) < self._batch:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _write(self) -> None:
        written = len(self._held)
        try:
            with self._conn:
                self._conn.executemany(INSERT, self._held)
        except sqlite3.Error as e:
            # A failed commit can leave its transaction open: the retry must not add to it.
            with contextlib.suppress(sqlite3.Error):
                self._conn.rollback()
            self._write_failed(e)
        except Exception as e:  # a row SQLite cannot take: the writer thread must live on
            with contextlib.suppress(sqlite3.Error):
                self._conn.rollback()
            self._write_rows_alone(e)
        else:
            self._held.clear()
            self._write_ok(written)

    def _write_rows_alone(self, e: Exception) -> None:
        """A batch with a row SQLite refuses whatever the store's state (say an integer past 2**63):
        write its rows one by one, so one bad row costs only itself; it is dropped, logged and
        counted (shown by /health until writes work again)."""
        log.error("ledger batch refused (%s: %s): writing its rows one by one", type(e).__name__, e)
        rows, self._held = list(self._held), collections.deque()
        for row in rows:
            try:
                with self._conn:
                    self._conn.execute(INSERT, row)
            except sqlite3.Error:
                self._held.append(row)  # the store's trouble, not the row's: retried as usual
            except Exception as bad:
                self._dropped += 1
                self._failing = f"a row could not be stored ({type(bad).__name__}: {bad})"
                log.error("ledger row %r dropped: %s", row[0], self._failing)
        if self._held:
            self._retry_at = time.monotonic() + RETRY_EVERY_S

    def _run(self) -> None:
        while True:
            items = self._take()
            stop = any(item is _STOP for item in items)  # everything queued before it is written
            self._hold([item for item in items if item is not _STOP])  # type: ignore[misc]
            if self._held and (stop or time.monotonic() >= self._retry_at):
                self._write()
            if not self._held:  # not while writes fail: a delete would wait on the same lock
                self._prune()
            if stop:
                break
        if self._held:
            log.error("ledger closed with %d rows unwritten (%s)", len(self._held), self._failing)
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
        """Flush what is queued (one last try for rows that wait) and stop the writer."""
        self._queue.put(_STOP)
        self._thread.join(timeout=WAIT_S + 5)  # a last write may wait WAIT_S for a lock
