"""The promotion gate's logged checks, read back for `satisfice report --gate` (read-only: a
running gateway may be writing the same file)."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path
from typing import Any

from satisfice.learn.records import GateResult

_COLS = tuple(f.name for f in dataclasses.fields(GateResult))


class ChecksError(Exception):
    """The file is not a learning store this version can read."""


def read_checks(path: str, limit: int = 20) -> list[GateResult]:
    """The newest `limit` checks, oldest first. FileNotFoundError when there is no such file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no learning store at {path} (the config's learning.path)")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                f"SELECT {', '.join(_COLS)} FROM checks ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise ChecksError(f"{path}: not a Satisfice learning store ({e})") from None
    return [GateResult(**dict(zip(_COLS, r, strict=True))) for r in reversed(rows)]


def checks_json(checks: list[GateResult]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(c) for c in checks]


def render_checks(checks: list[GateResult]) -> str:
    if not checks:
        return "no gate checks logged yet (the gate runs at start-up and every learning.gate_interval_s)"
    # "in use": routing with the statistics promoted before the check; "all new": with every
    # segment's new statistics, blocked ones included (what was promoted is in the reason)
    head = f"{'checked (UTC)':<20} {'result':<9} {'in use':>6} {'all new':>7} {'n':>6} {'changed':>7}  reason"
    lines = [head]
    for c in checks:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(c.ts))
        result = "promoted" if c.promoted else "kept"
        values = f"{c.old_value:>6.3f} {c.new_value:>7.3f} {c.n:>6} {c.changed:>7}"
        lines.append(f"{when:<20} {result:<9} {values}  {c.reason}")
    return "\n".join(lines)
