"""One cached answer and the store interface every backend (memory, SQLite, later Redis) offers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# A store keeps this many hits served and answers awaiting proof (or max_entries, if more) for feedback.
RECENT = 10_000


@dataclass(slots=True)
class CacheEntry:
    key: str  # request_key() of the request that produced the answer
    body: bytes  # the OpenAI chat.completion JSON as the client received it
    model: str
    provider: str
    cost_usd: float  # what producing the answer cost: a hit saves this much
    baseline_cost_usd: float  # what the route's baseline model would have cost
    baseline_model: str
    created: float  # epoch seconds
    expires: float  # epoch seconds; never served after this
    request_id: str  # the request that produced it (feedback on it can evict the entry)
    proven: bool = False  # a verifier passed it or feedback approved it
    scope: str = ""  # semantic lookups: scope_key() of the request (everything but the messages)
    text: str = ""  # semantic lookups: the conversation text the guard compares
    vector: bytes = b""  # semantic lookups: the conversation's float32 embedding

    def fresh(self, now: float, max_age_s: float | None = None) -> bool:
        if now >= self.expires:
            return False
        return max_age_s is None or now - self.created <= max_age_s


class StoreUnavailable(Exception):
    """The store could not do what was asked (locked, disk full, read-only, corrupt). The cache
    treats it as a miss or as not storing: a cache failure never fails a request."""


class CacheStore(Protocol):
    """Entries by key. Backends expire entries by their own clock and bound their size; `put`
    returns the keys it evicted so the semantic index can forget them too. Operations that meet a
    broken or busy backend raise StoreUnavailable."""

    async def get(self, key: str) -> CacheEntry | None: ...

    async def put(self, entry: CacheEntry) -> list[str]: ...

    async def delete(self, key: str) -> None: ...

    async def by_request(self, request_id: str) -> CacheEntry | None:
        """The live entry that `request_id` produced or was served (`note_served`)."""
        ...

    async def note_served(self, request_id: str, key: str, expires: float) -> None:
        """Remember that `request_id` was answered from entry `key` (until `expires`), so feedback
        on it reaches the entry from any process sharing the store."""
        ...

    async def put_pending(self, entry: CacheEntry) -> None:
        """Keep an answer that awaits proof (never served) under its request id, until it expires."""
        ...

    async def take_pending(self, request_id: str) -> CacheEntry | None:
        """The answer awaiting proof that `request_id` produced, no longer pending; None if none."""
        ...

    max_entries: int  # the most entries it keeps (a semantic index need hold no more)

    async def semantic_entries(self, after: int = 0) -> tuple[list[CacheEntry], int]:
        """The live entries with a vector written after position `after` (0: every one), and the
        position to ask from next. The semantic index is built from these at start-up and catches
        up with them later: with a shared store, other processes' entries appear there."""
        ...

    async def close(self) -> None: ...
