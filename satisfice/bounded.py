"""Per-key state in process memory whose keys clients can multiply: a passthrough provider serves
any model name a client sends, and each name is a deployment with its own breaker and speed. Such
maps keep their most recently used keys only, so memory follows what is in use."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")
MAX_KEYS = 4096  # far above any configured set of deployments


def touch(d: dict[K, V], key: K, make: Callable[[], V], limit: int = MAX_KEYS) -> V:
    """`d[key]` (made by `make` when missing), now the most recently used; the least recently used
    keys beyond `limit` are dropped. Dicts keep insertion order, so re-inserting a key makes it
    the newest."""
    value = d.pop(key) if key in d else make()
    d[key] = value
    while len(d) > limit:
        del d[next(iter(d))]
    return value
