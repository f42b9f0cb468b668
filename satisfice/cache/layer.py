"""The response cache as the gateway sees it: decide what a request may do with the cache, look
it up (exact, then semantic), store answers, and forget answers that feedback says were wrong.

An entry is only ever served within its tenant and scope (see key.py); errors, cut streams and
filtered answers are never stored. A store that fails (locked, disk full, read-only) makes a miss
or an answer not stored, with a warning in the log at most once a minute: never a failed request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from satisfice.cache.control import OFF, CacheUse, cache_use
from satisfice.cache.entry import CacheEntry, CacheStore, StoreUnavailable
from satisfice.cache.key import request_key, scope_key
from satisfice.cache.settings import CachePolicy
from satisfice.json_bytes import dumps_kept

CATCH_UP_S = 1.0  # how often the semantic index reads what other workers stored
# A longer last message gets no semantic lookup, and its answer no embedding (the exact cache still
# serves it): paraphrases of a page of text are not what this cache is for, and the embedding and
# the guard run on the event loop at ~2.5 ms per 1,000 characters (a 550 KB prompt held it 1.6 s).
SEMANTIC_MAX_CHARS = 4096
_WARN_EVERY_S = 60.0  # store failures: one log line per this long, however many there are
log = logging.getLogger("satisfice.cache")


@dataclass(slots=True)
class CacheTicket:
    """One request's dealings with the cache, from the lookup to the store."""

    use: CacheUse
    policy: CachePolicy
    key: str = ""
    scope: str = ""  # semantic only: the request but its last message's text (see key.scope_key)
    messages: list[Any] | None = None  # semantic only: the last turn, embedded lazily after an exact miss
    text: str = ""  # semantic only: the last turn's text
    vector: Any = None  # semantic only: its embedding (numpy float32), once computed
    status: str = "off"  # off | miss | hit-exact | hit-semantic: the x-satisfice-cache header
    note: str = ""  # for the ledger's reason: what the lookup found


@dataclass(frozen=True, slots=True)
class Hit:
    entry: CacheEntry
    kind: str  # exact | semantic
    similarity: float | None = None


class ResponseCache:
    def __init__(
        self,
        store: CacheStore,
        default: CachePolicy,
        routes: Mapping[str, CachePolicy | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.default = default
        self.routes = dict(routes)
        self.clock = clock
        self.semantic_on = default.semantic or any(p is not None and p.semantic for p in routes.values())
        self._index: Any = None  # semantic.SemanticIndex, loaded only when a policy uses it
        self._position = 0  # how far the index has read the store's entries (semantic_entries)
        self._caught_up = time.monotonic()
        self._failures = 0  # store failures not yet logged
        self._warned = -_WARN_EVERY_S  # monotonic time of the last warning

    def _store_failed(self, what: str, e: StoreUnavailable) -> None:
        """Log a store failure, at most once per _WARN_EVERY_S (a broken store fails every request)."""
        self._failures += 1
        now = time.monotonic()
        if now - self._warned >= _WARN_EVERY_S:
            log.warning(
                "cache store failed (%s: %s); serving without it (failures since the last warning: %d)",
                what,
                e,
                self._failures,
            )
            self._warned, self._failures = now, 0

    async def start(self) -> None:
        """Rebuild the semantic index from the store (a persistent store survives restarts)."""
        if self.semantic_on:
            import asyncio

            from satisfice.cache.semantic import SemanticIndex, embed_text

            self._index = SemanticIndex()
            entries, self._position = await self.store.semantic_entries()
            self._index.load(entries)
            # Load the embedding table now (off the loop), not on the first request.
            await asyncio.get_running_loop().run_in_executor(None, embed_text, "warm up")

    async def close(self) -> None:
        await self.store.close()

    def ticket(
        self,
        tenant: str,
        knob: str | None,
        body: dict[str, Any],
        headers: Mapping[str, str],
        route: str | None = None,
    ) -> CacheTicket:
        """What this request may do, under `route`'s policy (the route the request's model names,
        as the planner resolved it; None: a direct model, the top-level policy). Raises
        InvalidRequest for a malformed cache header."""
        policy = self.routes.get(route) if route is not None else None
        policy = policy if policy is not None else self.default
        use = cache_use(policy, body, headers)
        if not use.active:
            return CacheTicket(OFF, policy)
        ticket = CacheTicket(use, policy, request_key(tenant, knob, body), status="miss")
        if policy.semantic and self._index is not None:
            from satisfice.cache.guard import conversation_text, text_turn

            turn = text_turn(body.get("messages") or [])
            if turn is None:  # an image, audio or a file: same words, maybe another question
                ticket.note = "no semantic lookup: the last message is not text only"
            elif len(conversation_text([turn])) > SEMANTIC_MAX_CHARS:
                ticket.note = f"no semantic lookup: the last message is over {SEMANTIC_MAX_CHARS} characters"
            else:
                ticket.scope = scope_key(tenant, knob, body)
                ticket.messages = [turn]
        return ticket

    @staticmethod
    def _embed(ticket: CacheTicket) -> None:
        """The last turn's text and embedding (the rest of the conversation is in the scope), computed
        once and only when needed (an exact hit never pays for them)."""
        if ticket.vector is None and ticket.messages is not None:
            from satisfice.cache.guard import conversation_text
            from satisfice.cache.semantic import embed_text

            ticket.text = conversation_text(ticket.messages)
            ticket.vector = embed_text(ticket.text)

    async def lookup(self, ticket: CacheTicket) -> Hit | None:
        """The entry to serve, if any; a store that fails is a miss."""
        if not ticket.use.read:
            return None
        try:
            return await self._lookup(ticket)
        except StoreUnavailable as e:
            self._store_failed("lookup", e)
            ticket.note = "cache store unavailable"
            return None

    async def _lookup(self, ticket: CacheTicket) -> Hit | None:
        entry = await self.store.get(ticket.key)
        if entry is not None and entry.fresh(self.clock(), ticket.use.max_age_s):
            ticket.status = "hit-exact"
            return Hit(entry, "exact")
        if ticket.messages is None:
            return None
        self._embed(ticket)
        await self._catch_up()
        from satisfice.cache.semantic import Refusal, semantic_lookup

        found = await semantic_lookup(
            self._index,
            self.store.get,
            ticket.scope,
            ticket.text,
            ticket.vector,
            ticket.policy.semantic_threshold,
            lambda e: e.fresh(self.clock(), ticket.use.max_age_s),
        )
        if isinstance(found, Refusal):
            # The kind of difference only: the stored prompt is another caller's (see GuardVerdict).
            ticket.note = f"semantic near-miss rejected (cosine {found.similarity:.3f}): {found.reason}"
            return None
        if found is None:
            return None
        ticket.status = "hit-semantic"
        return Hit(found[0], "semantic", found[1])

    async def _catch_up(self) -> None:
        """At most once per CATCH_UP_S: index the entries other processes sharing the store wrote
        since, and forget what the store no longer holds."""
        now = time.monotonic()
        if now - self._caught_up < CATCH_UP_S:
            return
        self._caught_up = now
        entries, self._position = await self.store.semantic_entries(self._position)
        self._index.load(entries)
        self._index.trim(self.clock(), self.store.max_entries)

    async def served(self, request_id: str, hit: Hit) -> None:
        """Remember which entry answered a request, so feedback on that request can evict it."""
        try:
            await self.store.note_served(request_id, hit.entry.key, hit.entry.expires)
        except StoreUnavailable as e:
            self._store_failed("note a hit", e)

    async def save(
        self,
        ticket: CacheTicket,
        body: dict[str, Any],
        *,
        model: str,
        provider: str,
        cost_usd: float,
        baseline_cost_usd: float,
        baseline_model: str,
        request_id: str,
        proven: bool,
    ) -> bool:
        """Store a successful answer; returns whether it is servable now (not awaiting proof)."""
        if not ticket.use.write or not _storable(body):
            return False
        self._embed(ticket)
        now = self.clock()
        entry = CacheEntry(
            key=ticket.key,
            body=dumps_kept(body),  # kept for hours: exactly sized
            model=model,
            provider=provider,
            cost_usd=cost_usd,
            baseline_cost_usd=baseline_cost_usd,
            baseline_model=baseline_model,
            created=now,
            expires=now + ticket.policy.ttl_s,
            request_id=request_id,
            proven=proven,
            scope=ticket.scope,
            text=ticket.text,
            vector=ticket.vector.tobytes() if ticket.vector is not None else b"",
        )
        if ticket.policy.require_proven and not proven:
            try:
                await self.store.put_pending(entry)
            except StoreUnavailable as e:
                self._store_failed("keep an answer awaiting proof", e)
            return False
        return await self._put(entry)

    async def _put(self, entry: CacheEntry) -> bool:
        """Store an entry (and index it); False when the store failed."""
        try:
            evicted = await self.store.put(entry)
        except StoreUnavailable as e:
            self._store_failed("store", e)
            return False
        if self._index is not None:
            for key in evicted:
                self._index.remove(key)
            if entry.vector:
                import numpy as np

                vector = np.frombuffer(entry.vector, dtype=np.float32)
                self._index.add(entry.scope, entry.key, vector, entry.expires)
        return True

    async def feedback(self, request_id: str, score: float) -> bool:
        """Good feedback (score >= 0.5) proves an answer awaiting proof; bad feedback evicts the
        entry the request produced or was served from (or drops its answer awaiting proof). Returns
        whether the cache knew the request (as far as a failing store lets it tell)."""
        try:
            pending = await self.store.take_pending(request_id)
            entry = await self.store.by_request(request_id)
        except StoreUnavailable as e:
            self._store_failed("feedback", e)
            return False
        if score >= 0.5:
            if pending is not None:
                pending.proven = True
                await self._put(pending)
            elif entry is not None and not entry.proven:
                entry.proven = True
                await self._put(entry)
        elif entry is not None:
            await self._evict(entry.key)
        return pending is not None or entry is not None

    async def _evict(self, key: str) -> None:
        if self._index is not None:
            self._index.remove(key)
        try:
            await self.store.delete(key)
        except StoreUnavailable as e:
            self._store_failed("evict", e)


def _storable(body: dict[str, Any]) -> bool:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    # A filtered or unfinished answer is not one to repeat.
    return all(
        isinstance(c, dict) and c.get("finish_reason") not in (None, "content_filter") for c in choices
    )
