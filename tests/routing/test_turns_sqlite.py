"""Conversation affinity's turns in the shared SQLite file: what one process (worker) remembered,
another finds; a restart keeps them; a held lock delays the write, never the request; the file
keeps the newest turns."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from satisfice.routing import turns_sqlite
from satisfice.routing.affinity import Affinity
from satisfice.routing.turns_sqlite import QUICK_WAIT_S, SQLiteTurnStore

LOOP: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
]


def test_a_turn_one_worker_remembered_is_found_by_another_and_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "learn.db"
    one, two = Affinity(SQLiteTurnStore(path)), Affinity(SQLiteTurnStore(path))
    one.remember("agent", "tools", LOOP[:1], LOOP[1], "cheap")
    assert two.recall("agent", "tools", LOOP) == "cheap"  # the other worker
    assert two.recall("other-route", "tools", LOOP) is None  # turns are per route
    one.store.close()
    two.store.close()
    again = Affinity(SQLiteTurnStore(path))  # a restarted worker
    assert again.recall("agent", "tools", LOOP) == "cheap"
    again.store.close()


def test_a_held_lock_delays_the_write_not_the_request(tmp_path: Path) -> None:
    path = tmp_path / "learn.db"
    store, reader = SQLiteTurnStore(path), SQLiteTurnStore(path)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process writing for a long time
    start = time.monotonic()
    store.put(b"k" * 16, "cheap")
    waited = time.monotonic() - start
    assert waited < QUICK_WAIT_S + 1.0  # not the shared stores' 10 s
    assert store.get(b"k" * 16) == "cheap"  # this process knows it at once
    assert reader.get(b"k" * 16) is None  # not written yet
    blocker.execute("COMMIT")
    deadline = time.monotonic() + 10
    while reader.get(b"k" * 16) is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the background thread writes it once the lock is free
    assert reader.get(b"k" * 16) == "cheap"
    blocker.close()
    store.close()
    reader.close()


def test_the_file_keeps_the_newest_turns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns_sqlite, "PRUNE_EVERY", 4)
    now = [1000.0]
    store = SQLiteTurnStore(tmp_path / "learn.db", size=3, clock=lambda: now[0])
    for i in range(8):
        now[0] += 1
        store.put(bytes([i]) * 16, f"m{i}")
    store.close()  # waits for the background trims
    with sqlite3.connect(tmp_path / "learn.db") as db:
        kept = sorted(c for (c,) in db.execute("SELECT candidate FROM affinity_turns"))
    assert kept == ["m5", "m6", "m7"]  # the trim after the 8th write left the newest 3


def test_a_broken_file_routes_afresh_and_never_fails_the_request(tmp_path: Path) -> None:
    store = SQLiteTurnStore(tmp_path / "learn.db")
    with sqlite3.connect(tmp_path / "learn.db") as db:
        db.execute("DROP TABLE affinity_turns")
    store.put(b"x" * 16, "cheap")  # logged, not raised
    assert store.get(b"x" * 16) == "cheap"  # this process still has it
    assert store.get(b"y" * 16) is None
    store.close()
