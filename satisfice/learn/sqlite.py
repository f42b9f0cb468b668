"""The learner's SQLite store (WAL). Writes are queued and applied in batches by one thread, so the
request path never waits on the database; recent decisions are also kept in memory so that outcomes
reported during a request (verification, escalation) find their decision without a read."""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from satisfice.batching import next_batch
from satisfice.learn.records import (
    BetaStat,
    Decision,
    GateResult,
    Outcome,
    StatKey,
    apply_outcome,
    claim_pending,
    settle,
)
from satisfice.learn.store import Event
from satisfice.shared_sqlite import add_missing_columns, open_shared

log = logging.getLogger("satisfice.learn")
LOG_EVERY_S = 10.0  # while writes fail, at most one log line this often

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
  request_id TEXT PRIMARY KEY, ts REAL NOT NULL, route TEXT NOT NULL, cluster INTEGER NOT NULL,
  model TEXT NOT NULL, predicted REAL, candidates TEXT NOT NULL, predictions TEXT NOT NULL,
  knob TEXT NOT NULL, propensity REAL NOT NULL, costs TEXT NOT NULL, share_target REAL, answered TEXT,
  share_strong INTEGER
);
CREATE INDEX IF NOT EXISTS decisions_ts ON decisions (ts);
CREATE TABLE IF NOT EXISTS outcomes (
  request_id TEXT NOT NULL, model TEXT NOT NULL, source TEXT NOT NULL, route TEXT NOT NULL,
  cluster INTEGER NOT NULL, score REAL NOT NULL, ts REAL NOT NULL, observed_at REAL NOT NULL,
  counted INTEGER NOT NULL DEFAULT 1, predicted REAL, PRIMARY KEY (request_id, model, source)
);
CREATE TABLE IF NOT EXISTS stats (
  route TEXT NOT NULL, cluster INTEGER NOT NULL, model TEXT NOT NULL, s REAL NOT NULL, f REAL NOT NULL,
  t REAL NOT NULL, e REAL, PRIMARY KEY (route, cluster, model)
);
CREATE TABLE IF NOT EXISTS promoted (
  route TEXT NOT NULL, cluster INTEGER NOT NULL, model TEXT NOT NULL, s REAL NOT NULL, f REAL NOT NULL,
  t REAL NOT NULL, e REAL, PRIMARY KEY (route, cluster, model)
);
CREATE TABLE IF NOT EXISTS checks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, promoted INTEGER NOT NULL,
  old_value REAL NOT NULL, new_value REAL NOT NULL, n INTEGER NOT NULL, method TEXT NOT NULL,
  reason TEXT NOT NULL, changed INTEGER NOT NULL, promoted_segments INTEGER NOT NULL,
  blocked_segments INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""
# meta keys: the promoted statistics' version, and when a worker last claimed the gate check.
_VERSION, _CLAIMED = "promoted_version", "gate_claimed_at"
_D_COLS = (
    "request_id, ts, route, cluster, model, predicted, candidates, predictions, knob, propensity, costs, "
    "share_target, answered, share_strong"
)
_O_COLS = "request_id, route, cluster, model, source, score, ts, observed_at, counted, predicted"
_PICK = (
    "SELECT request_id FROM decisions d WHERE ts >= ? AND EXISTS "
    "(SELECT 1 FROM outcomes o WHERE o.request_id = d.request_id) ORDER BY ts DESC LIMIT ?"
)
_CHECK_COLS = tuple(f.name for f in dataclasses.fields(GateResult))
_STOP = object()
Op = Callable[[sqlite3.Connection], None]


def _decision_row(d: Decision) -> tuple[Any, ...]:
    return (
        d.request_id, d.ts, d.route, d.cluster, d.model, d.predicted, orjson.dumps(d.candidates).decode(),
        orjson.dumps(d.predictions).decode(), d.knob, d.propensity, orjson.dumps(d.costs).decode(),
        d.share_target, d.answered, d.share_strong,
    )  # fmt: skip


def _decision(r: tuple[Any, ...]) -> Decision:
    return Decision(
        r[0], r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6]), orjson.loads(r[7]), r[8], r[9],
        orjson.loads(r[10]), r[11], r[12], r[13],
    )  # fmt: skip


def _stat(s: float, f: float, t: float, e: float | None) -> BetaStat:
    return BetaStat(s, f, t, e if e is not None else math.nan)  # SQLite keeps NaN as NULL


def _read_stats(conn: sqlite3.Connection, table: str) -> dict[StatKey, BetaStat]:
    rows = conn.execute(f"SELECT route, cluster, model, s, f, t, e FROM {table}")
    return {(r[0], r[1], r[2]): _stat(r[3], r[4], r[5], r[6]) for r in rows}


def _meta(conn: sqlite3.Connection, key: str) -> float | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return float(row[0]) if row else None


def _set_meta(conn: sqlite3.Connection, key: str, value: float) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _insert_check(conn: sqlite3.Connection, r: GateResult) -> None:
    row = tuple(getattr(r, name) for name in _CHECK_COLS)
    conn.execute(
        f"INSERT INTO checks ({', '.join(_CHECK_COLS)}) VALUES ({', '.join('?' * len(_CHECK_COLS))})", row
    )


def _outcome(r: tuple[Any, ...]) -> Outcome:
    return Outcome(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]), r[9])


def _add_outcome(conn: sqlite3.Connection, o: Outcome, half_life_s: float) -> None:
    # Read-modify-write: safe because this process's writer thread is its only writer, and its
    # transaction holds the file's write lock from the start (other workers wait: `_transaction`).
    same = conn.execute(
        f"SELECT {_O_COLS} FROM outcomes WHERE request_id = ? AND model = ?", (o.request_id, o.model)
    ).fetchall()
    row = conn.execute(
        "SELECT s, f, t, e FROM stats WHERE route = ? AND cluster = ? AND model = ?",
        (o.route, o.cluster, o.model),
    ).fetchone()
    st = _stat(*row) if row else None
    for previous, new in settle(o, [_outcome(r) for r in same]):
        st = apply_outcome(st, previous, new, half_life_s)
        conn.execute(
            f"INSERT OR REPLACE INTO outcomes ({_O_COLS}) VALUES ({','.join('?' * 10)})",
            dataclasses.astuple(new),
        )
    if st is not None:
        conn.execute(
            "INSERT OR REPLACE INTO stats (route, cluster, model, s, f, t, e) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (o.route, o.cluster, o.model, *_stat_row(st)),
        )


_INSERT_DECISION = f"INSERT OR REPLACE INTO decisions ({_D_COLS}) VALUES ({','.join('?' * 14)})"


def _runs(ops: list[Op | Decision]) -> list[list[Op | Decision]]:
    """Split queued writes into runs: consecutive decisions together, every other op alone."""
    runs: list[list[Op | Decision]] = []
    for op in ops:
        if isinstance(op, Decision) and runs and isinstance(runs[-1][0], Decision):
            runs[-1].append(op)
        else:
            runs.append([op])
    return runs


def _write(conn: sqlite3.Connection, group: list[Op | Decision]) -> None:
    if isinstance(group[0], Decision):
        conn.executemany(_INSERT_DECISION, [_decision_row(d) for d in group if isinstance(d, Decision)])
    else:
        for op in group:
            if not isinstance(op, Decision):
                op(conn)


def _stat_row(st: BetaStat) -> tuple[float, float, float, float | None]:
    return (st.s, st.f, st.t, st.e if math.isfinite(st.e) else None)


class _LoggedSnapshot:
    """The gate's decisions as one read transaction on the gate's connection while the context is
    open, read `CHUNK` rows at a time. (With `":memory:"` that connection is the writer's: its
    writes wait for the check.)"""

    CHUNK = 500  # decisions decoded at once; also the outcome read's parameter count

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock, since: float, limit: int) -> None:
        self._conn, self._lock, self._pick = conn, lock, (since, limit)

    def __enter__(self) -> _LoggedSnapshot:
        self._lock.acquire()
        try:
            self._conn.execute("BEGIN")  # one snapshot: the writers go on committing meanwhile
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._conn.execute("COMMIT")
        finally:
            self._lock.release()

    def outcomes(self) -> Iterator[Outcome]:
        cur = self._conn.execute(f"SELECT {_O_COLS} FROM outcomes WHERE request_id IN ({_PICK})", self._pick)
        while rows := cur.fetchmany(self.CHUNK):
            yield from map(_outcome, rows)

    def events(self) -> Iterator[Event]:
        cur = self._conn.execute(
            f"SELECT {_D_COLS} FROM decisions WHERE request_id IN ({_PICK}) ORDER BY ts", self._pick
        )
        while rows := cur.fetchmany(self.CHUNK):
            by_id: dict[str, list[Outcome]] = {}
            for r in self._conn.execute(
                f"SELECT {_O_COLS} FROM outcomes WHERE request_id IN ({','.join('?' * len(rows))})",
                [r[0] for r in rows],
            ):
                by_id.setdefault(r[0], []).append(_outcome(r))
            for d in map(_decision, rows):
                yield d, by_id.get(d.request_id, [])


class SQLiteLearnStore:
    def __init__(self, path: str, *, batch: int = 1000, recent: int = 4096) -> None:
        self.path = path
        # One connection behind a lock: the writer thread and the gate's reads share it.
        self._conn = open_shared(path, SCHEMA)
        # Stores written before outcomes carried `counted` folded every outcome: they read as counted.
        add_missing_columns(self._conn, "outcomes", (("counted", "INTEGER NOT NULL DEFAULT 1"),))
        # Stores written before the predictions were kept: their statistics read as "p̄ unknown".
        add_missing_columns(self._conn, "outcomes", (("predicted", "REAL"),))
        for table in ("stats", "promoted"):
            add_missing_columns(self._conn, table, (("e", "REAL"),))
        # Decisions logged before a share knob's strongest candidate was: replayed with the old rule.
        add_missing_columns(self._conn, "decisions", (("share_strong", "INTEGER"),))
        self._db = threading.Lock()
        # The gate's own connection: its reads (up to max_checked decisions, ~0.4 s) and writes must
        # not hold this worker's writer back, or feedback another worker routes here waits past its
        # lookup window and gets a 404. WAL lets it read while the writer commits.
        memory = path == ":memory:"  # one connection is one in-memory database: share it
        self._gate_conn = self._conn if memory else open_shared(path, SCHEMA)
        self._gate_lock = self._db if memory else threading.Lock()
        # The newest decisions, for feedback and verdicts that follow soon; older ones are a keyed
        # SQLite read. 4,096 (~2 s at full load) instead of 20,000: 10 MB less resident under load.
        self._recent: OrderedDict[str, Decision] = OrderedDict()
        self._recent_max = recent
        self._recent_lock = threading.Lock()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._batch = batch
        self._failing: str | None = None  # the last write's error while writes fail (/health)
        self._logged_at = -math.inf
        self._thread = threading.Thread(target=self._run, name="satisfice-learn", daemon=True)
        self._thread.start()

    def problem(self) -> str | None:
        failing = self._failing
        return (
            f"learning store writes are failing ({failing}): decisions and outcomes are lost"
            if failing
            else None
        )

    # ---------------------------------------------------------------- request path (queued)

    def _remember(self, d: Decision) -> None:
        with self._recent_lock:
            self._recent[d.request_id] = d
            self._recent.move_to_end(d.request_id)
            while len(self._recent) > self._recent_max:
                self._recent.popitem(last=False)

    def save_decision(self, d: Decision) -> None:
        self._remember(d)
        self._queue.put(d)  # the writer turns runs of decisions into one executemany

    def decision(self, request_id: str) -> Decision | None:
        with self._recent_lock:
            hit = self._recent.get(request_id)
        if hit is not None:
            return hit
        with self._db:  # older than the in-memory window: a keyed read
            r = self._conn.execute(
                f"SELECT {_D_COLS} FROM decisions WHERE request_id = ?", (request_id,)
            ).fetchone()
        return _decision(r) if r else None

    def set_answer(self, request_id: str, model: str) -> None:
        with self._recent_lock:
            d = self._recent.get(request_id)
            if d is not None:
                self._recent[request_id] = dataclasses.replace(d, answered=model)
        self._queue.put(
            lambda c: c.execute("UPDATE decisions SET answered = ? WHERE request_id = ?", (model, request_id))
        )

    def add_outcome(self, o: Outcome, half_life_s: float) -> None:
        self._queue.put(lambda c: _add_outcome(c, o, half_life_s))

    # ---------------------------------------------------------------- the gate (off the request path)

    def stats(self) -> dict[StatKey, BetaStat]:
        with self._gate_lock:
            return _read_stats(self._gate_conn, "stats")

    def promoted(self) -> tuple[int, dict[StatKey, BetaStat]]:
        with self._gate_lock:
            self._gate_conn.execute("BEGIN")  # one snapshot: another worker may promote in between
            try:
                return int(_meta(self._gate_conn, _VERSION) or 0), _read_stats(self._gate_conn, "promoted")
            finally:
                self._gate_conn.execute("COMMIT")

    def promoted_version(self) -> int:
        with self._gate_lock:
            return int(_meta(self._gate_conn, _VERSION) or 0)

    def promote(self, stats: Mapping[StatKey, BetaStat], check: GateResult, based_on: int) -> bool:
        # Written here, not through the writer's queue: the caller needs the answer, and the gate
        # runs off the request path.
        rows = [(*k, *_stat_row(v)) for k, v in stats.items()]
        with self._gate_lock, self._gate_conn:
            self._gate_conn.execute("BEGIN IMMEDIATE")  # the version check and the writes, atomically
            if int(_meta(self._gate_conn, _VERSION) or 0) != based_on:
                return False
            _insert_check(self._gate_conn, check)
            self._gate_conn.execute("DELETE FROM promoted")
            self._gate_conn.executemany(
                "INSERT INTO promoted (route, cluster, model, s, f, t, e) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )
            _set_meta(self._gate_conn, _VERSION, based_on + 1)
            return True

    def claim_gate(self, now: float, every_s: float) -> bool:
        with self._gate_lock:
            if claim_pending(_meta(self._gate_conn, _CLAIMED), now, every_s):  # usual: no write lock
                return False
            with self._gate_conn:
                self._gate_conn.execute("BEGIN IMMEDIATE")  # read again under the lock: one worker claims
                if claim_pending(_meta(self._gate_conn, _CLAIMED), now, every_s):
                    return False
                _set_meta(self._gate_conn, _CLAIMED, now)
                return True

    def log_check(self, r: GateResult) -> None:
        with self._gate_lock, self._gate_conn:
            _insert_check(self._gate_conn, r)

    def checks(self, limit: int = 100) -> list[GateResult]:
        with self._gate_lock:
            rows = self._gate_conn.execute(
                f"SELECT {', '.join(_CHECK_COLS)} FROM checks ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
        return [GateResult(**dict(zip(_CHECK_COLS, r, strict=True))) for r in reversed(rows)]

    def logged(self, since: float, limit: int) -> _LoggedSnapshot:
        return _LoggedSnapshot(self._gate_conn, self._gate_lock, since, limit)

    def prune(self, before: float, unscored_before: float | None = None) -> None:
        oldest = before if unscored_before is None else max(before, unscored_before)
        with self._recent_lock:  # a cache of the table: what it drops is read back if it stays
            for rid in [rid for rid, d in self._recent.items() if d.ts < oldest]:
                del self._recent[rid]

        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "DELETE FROM outcomes WHERE request_id IN (SELECT request_id FROM decisions WHERE ts < ?)",
                (before,),
            )
            c.execute("DELETE FROM decisions WHERE ts < ?", (before,))
            c.execute("DELETE FROM checks WHERE ts < ?", (before,))  # one per gate interval, for good
            if unscored_before is not None and unscored_before > before:
                # Most decisions never get an outcome: kept for the feedback window only.
                c.execute(
                    "DELETE FROM decisions WHERE ts < ? AND NOT EXISTS "
                    "(SELECT 1 FROM outcomes o WHERE o.request_id = decisions.request_id)",
                    (unscored_before,),
                )

        self._queue.put(op)

    def flush(self) -> None:
        """Wait until what was queued before is committed (at most 30 s). Returns at once when the
        writer has stopped, or stops meanwhile: a flush queued behind `close` gets no answer (a gate
        check running at shutdown held the process 30 s)."""
        done = threading.Event()
        self._queue.put(done)
        deadline = time.monotonic() + 30
        while not done.wait(timeout=0.05):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                return

    def close(self) -> None:
        """Write what is queued and stop the writer."""
        self._queue.put(_STOP)
        self._thread.join(timeout=10)
        if self._gate_conn is not self._conn:  # the writer closes its own
            with self._gate_lock:
                self._gate_conn.close()

    # ---------------------------------------------------------------- the writer thread

    def _transaction(self, ops: list[Op | Decision]) -> None:
        """One write transaction that takes the database's write lock before its first read: an
        outcome's read-modify-write of its statistics row must not interleave with another worker's
        (a deferred transaction reads first and overwrote their updates, ~30 % under load)."""
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            for group in _runs(ops):
                _write(self._conn, group)

    def _apply(self, ops: list[Op | Decision]) -> None:
        with self._db:
            try:
                self._transaction(ops)
                self._failing = None
                return
            except Exception:  # the writer thread must outlive any one bad write
                pass
            for op in ops:  # one bad write must not take its batch with it
                try:
                    self._transaction([op])
                except Exception as e:
                    self._write_failed(e)

    def _write_failed(self, e: Exception) -> None:
        """Shown by /health while writes fail; logged at most once per LOG_EVERY_S (a locked file
        fails every write of every batch)."""
        self._failing = f"{type(e).__name__}: {e}"
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            log.error("learn store write failed (%s)", self._failing)
            self._logged_at = now

    def _run(self) -> None:
        def urgent(item: object) -> bool:
            return item is _STOP or isinstance(item, threading.Event)

        stop = False
        while not stop:
            ops: list[Op | Decision] = []
            for item in next_batch(self._queue, self._batch, urgent):
                if item is _STOP:
                    stop = True
                    break
                if isinstance(item, threading.Event):  # a flush: answered once what came before is committed
                    self._apply(ops)
                    ops = []
                    item.set()
                else:
                    ops.append(item)  # type: ignore[arg-type]
            if ops:
                self._apply(ops)
        with self._db:
            self._conn.close()
