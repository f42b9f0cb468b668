"""Batches for the background writer threads (ledger, learning store).

A writer that blocks on `queue.get(timeout=...)` per item is woken by every request: on a busy
gateway that is two thread switches and GIL hand-offs per request, and the gateway's CPU per request
grew with load (measured: 0.38 ms at 16 connections, 0.64 ms at 64). Instead a writer blocks for
the first item, lets more gather for a short linger without being woken, then takes what is queued
in one go: one wake-up per batch.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

LINGER_S = 0.05  # rows reach the database within ~50 ms; a request never waits on it


def next_batch(
    q: queue.SimpleQueue[object], limit: int, urgent: Callable[[object], bool], linger_s: float = LINGER_S
) -> list[object]:
    """Block for one item; unless it is urgent (stop, flush), sleep `linger_s`; then return it with
    what else is queued, at most `limit` items, in queue order."""
    items = [q.get()]
    if not urgent(items[0]):
        time.sleep(linger_s)
    while len(items) < limit:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            break
    return items
