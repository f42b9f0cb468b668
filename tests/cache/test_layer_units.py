"""The cache layer on its own: what may match by meaning, and what a failing store does (a miss, an
answer not kept, one warning; never an error, never a blocked event loop)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from satisfice.cache.entry import CacheEntry, StoreUnavailable
from satisfice.cache.layer import SEMANTIC_MAX_CHARS, CacheTicket, ResponseCache
from satisfice.cache.memory import MemoryStore
from satisfice.cache.settings import CachePolicy
from satisfice.cache.sqlite_store import SQLiteStore
from satisfice.config import ConfigError, parse_settings
from satisfice.wiring import build_cache

SEMANTIC = CachePolicy(when="always", semantic=True)
ANSWER: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes."}, "finish_reason": "stop"}],
}
# 64 words shared by every request of a support route.
SYSTEM = (
    "You are a helpful assistant for Acme Corporation customers. Always answer politely and concisely, "
    "cite the relevant policy section when you can, never reveal internal notes, and escalate to a human "
    "agent when the customer is angry or asks for a refund above the usual limit. Use plain language, "
    "avoid jargon, and keep every answer under one hundred words unless asked for more detail."
)


def body(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": list(messages)}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def image(data: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}


async def save(cache: ResponseCache, ticket: CacheTicket, rid: str = "req_1") -> bool:
    return await cache.save(
        ticket,
        ANSWER,
        model="gpt-4o-mini",
        provider="openai",
        cost_usd=0.001,
        baseline_cost_usd=0.01,
        baseline_model="gpt-4o",
        request_id=rid,
        proven=False,
    )


async def ask_twice(first: dict[str, Any], second: dict[str, Any]) -> CacheTicket:
    """Store an answer for `first`, then look `second` up; the second ticket."""
    cache = ResponseCache(MemoryStore(), SEMANTIC, {})
    await cache.start()
    await save(cache, cache.ticket("t", None, first, {}))
    ticket = cache.ticket("t", None, second, {})
    await cache.lookup(ticket)
    await cache.close()
    return ticket


# --- what may match by meaning ------------------------------------------------------------------


def test_a_message_too_long_for_a_semantic_lookup_is_still_an_exact_hit() -> None:
    """The embedding and the guard run on the event loop, ~2.5 ms per 1,000 characters: a last
    message over SEMANTIC_MAX_CHARS is looked up exactly only, and its answer is stored unembedded."""
    page = "Summarise this report. " + "The quarterly revenue rose by four percent. " * 100
    assert len(page) > SEMANTIC_MAX_CHARS
    reworded = page.replace("Summarise", "Summarize")
    ticket = asyncio.run(ask_twice(body(user(page)), body(user(reworded))))
    assert ticket.status == "miss" and ticket.vector is None
    assert f"over {SEMANTIC_MAX_CHARS} characters" in ticket.note
    assert asyncio.run(ask_twice(body(user(page)), body(user(page)))).status == "hit-exact"
    short = page[: SEMANTIC_MAX_CHARS - len("user: ")]  # the compared text at the limit: looked up
    paraphrase = short.replace("Summarise", "Summarize")
    assert asyncio.run(ask_twice(body(user(short)), body(user(paraphrase)))).status == "hit-semantic"


def test_the_same_words_about_another_image_are_never_a_semantic_hit() -> None:
    question = {"type": "text", "text": "What breed is the dog in this photo?"}
    cat, dog = body(user([question, image("Q0FU")])), body(user([question, image("RE9H")]))
    ticket = asyncio.run(ask_twice(cat, dog))
    assert ticket.status == "miss" and "not text only" in ticket.note
    # Nor does an answer about an image serve the same words without it.
    assert asyncio.run(ask_twice(cat, body(user(question["text"])))).status == "miss"
    # The very same request is still an exact hit.
    assert asyncio.run(ask_twice(cat, cat)).status == "hit-exact"
    # Text only: a paraphrase is still served, and images earlier in the conversation must match exactly.
    reset, para = user("How do I reset my password?"), user("How can I reset my password?")
    assert asyncio.run(ask_twice(body(reset), body(para))).status == "hit-semantic"
    seen = {"role": "assistant", "content": "A dog."}
    with_cat, with_dog = body(cat["messages"][0], seen, reset), body(dog["messages"][0], seen, para)
    assert asyncio.run(ask_twice(with_cat, body(cat["messages"][0], seen, para))).status == "hit-semantic"
    assert asyncio.run(ask_twice(with_cat, with_dog)).status == "miss"


def test_a_long_shared_system_prompt_does_not_make_other_questions_match() -> None:
    """Embedded whole, these two conversations are at cosine 0.975 and the guard has nothing to
    object to: the track-my-order question got the cancel-my-order answer."""
    system = {"role": "system", "content": SYSTEM}
    cancel = body(system, user("How do I cancel my order?"))
    track = body(system, user("How do I track my order?"))
    assert asyncio.run(ask_twice(cancel, track)).status == "miss"
    kindly = body(system, user("How can I cancel my order?"))
    assert asyncio.run(ask_twice(cancel, kindly)).status == "hit-semantic"
    other_system = body({"role": "system", "content": SYSTEM + " Answer in French."}, kindly["messages"][1])
    assert asyncio.run(ask_twice(cancel, other_system)).status == "miss"  # earlier turns match exactly


# --- a store that fails -------------------------------------------------------------------------


class BrokenStore:
    """A store whose every operation fails, as a full disk or a read-only file would."""

    max_entries = 100

    def __init__(self) -> None:
        self.calls = 0

    def _fail(self) -> StoreUnavailable:
        self.calls += 1
        return StoreUnavailable("database or disk is full")

    async def get(self, key: str) -> CacheEntry | None:
        raise self._fail()

    async def put(self, entry: CacheEntry) -> list[str]:
        raise self._fail()

    async def delete(self, key: str) -> None:
        raise self._fail()

    async def by_request(self, request_id: str) -> CacheEntry | None:
        raise self._fail()

    async def note_served(self, request_id: str, key: str, expires: float) -> None:
        raise self._fail()

    async def put_pending(self, entry: CacheEntry) -> None:
        raise self._fail()

    async def take_pending(self, request_id: str) -> CacheEntry | None:
        raise self._fail()

    async def semantic_entries(self, after: int = 0) -> tuple[list[CacheEntry], int]:
        return [], after

    async def close(self) -> None:
        return None


def test_a_failing_store_is_a_miss_and_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    store = BrokenStore()
    cache = ResponseCache(store, CachePolicy(when="always"), {})

    async def run() -> None:
        for i in range(3):
            ticket = cache.ticket("t", None, body(user(f"Question {i}")), {})
            assert await cache.lookup(ticket) is None
            assert ticket.status == "miss" and ticket.note == "cache store unavailable"
            assert await save(cache, ticket, f"req_{i}") is False
        assert await cache.feedback("req_1", 0.0) is False

    with caplog.at_level(logging.WARNING, logger="satisfice.cache"):
        asyncio.run(run())
    assert store.calls == 7  # 3 reads, 3 writes, 1 feedback look-up
    warnings = [r for r in caplog.records if r.name == "satisfice.cache"]
    assert len(warnings) == 1 and "database or disk is full" in warnings[0].getMessage()


def test_a_locked_sqlite_file_neither_fails_a_request_nor_blocks_the_loop(tmp_path: Path) -> None:
    """Another process holds the write lock: before, a write waited 10 s on the event loop's
    thread and then raised (a paid answer became a 500)."""
    path = tmp_path / "cache.db"
    cache = ResponseCache(SQLiteStore(path), CachePolicy(when="always"), {})
    stored = body(user("Stored before the lock"))
    lock = sqlite3.connect(path, isolation_level=None)

    async def run() -> None:
        assert await save(cache, cache.ticket("t", None, stored, {}), "req_0")
        lock.execute("BEGIN IMMEDIATE")
        longest, ticking = 0.0, True

        async def tick() -> None:  # how long the loop goes without running this
            nonlocal longest
            last = time.perf_counter()
            while ticking:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                longest, last = max(longest, now - last), now

        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        assert await save(cache, cache.ticket("t", None, body(user("A new answer")), {}), "req_1") is False
        assert time.perf_counter() - started < 2.0
        started = time.perf_counter()  # writes are paused now: the next one does not wait at all
        assert await save(cache, cache.ticket("t", None, body(user("Another")), {}), "req_2") is False
        assert time.perf_counter() - started < 0.2
        hit = await cache.lookup(cache.ticket("t", None, stored, {}))  # reads go on (WAL)
        assert hit is not None and hit.entry.request_id == "req_0"
        ticking = False
        await ticker
        assert longest < 0.2, f"the event loop stalled for {longest:.2f} s"
        lock.execute("ROLLBACK")
        await cache.close()

    asyncio.run(run())
    lock.close()


def count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (n,) = conn.execute("SELECT count(*) FROM cache_entries").fetchone()
    return int(n)


@pytest.mark.parametrize(("max_entries", "writes"), [(10, 200), (500, 600)])
def test_the_sqlite_store_keeps_to_max_entries_across_restarts(
    tmp_path: Path, max_entries: int, writes: int
) -> None:
    """Before: a sweep every 256 writes per process, so 200 writes a run held 200, 400, 600 rows."""
    path = tmp_path / "cache.db"
    clock = [1000.0]

    async def run(n: int) -> int:
        store = SQLiteStore(path, max_entries, lambda: clock[0])
        most = 0
        for i in range(writes):
            clock[0] += 0.01
            entry = CacheEntry(
                f"k{n}-{i}", b"{}", "m", "p", 0.0, 0.0, "b", clock[0], clock[0] + 3600, f"r{n}-{i}"
            )
            await store.put(entry)
            if i % 50 == 0:
                most = max(most, count(path))
        await store.close()
        return max(most, count(path))

    slack = max(1, max_entries // 100)
    for n in range(3):
        assert asyncio.run(run(n)) <= max_entries + slack


def test_a_bad_cache_path_is_a_config_error_naming_it(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database")
    for path, why in ((tmp_path, "unable to open"), (garbage, "file is not a database")):
        settings = parse_settings({"cache": {"backend": "sqlite", "path": str(path)}}, env={})
        with pytest.raises(ConfigError) as err:
            build_cache(settings)
        assert str(err.value).startswith("cache.path:") and why in str(err.value), str(err.value)


# --- workers sharing one SQLite store -------------------------------------------------------------


def test_a_worker_serves_paraphrases_of_what_another_worker_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker's semantic index held only what it stored itself and what the file held at its
    start, so with `serve --workers 2` a paraphrase found the answer in about half the cases. The
    index now reads the other workers' new entries (at most once per CATCH_UP_S), and forgets the
    oldest beyond the store's max_entries."""
    import satisfice.cache.layer as layer

    monkeypatch.setattr(layer, "CATCH_UP_S", 0.0)

    async def run() -> None:
        path = tmp_path / "shared.db"
        a = ResponseCache(SQLiteStore(path, 2), SEMANTIC, {})
        b = ResponseCache(SQLiteStore(path, 2), SEMANTIC, {})
        await a.start()
        await b.start()
        questions = ["How do I reset my password?", "Where is my parcel right now?", "Can I change my plan?"]
        for i, q in enumerate(questions):
            await save(a, a.ticket("t", None, body(user(q)), {}), rid=f"req_{i}")
        await a.store.close()  # the writes are in the file
        para = b.ticket("t", None, body(user("How can I reset my password?")), {})
        await b.lookup(para)  # the entry was swept: the store keeps 2 of 3
        assert para.status == "miss" and len(b._index) == 2  # trimmed to the store's max_entries
        parcel = b.ticket("t", None, body(user("Where is my parcel at the moment?")), {})
        assert (await b.lookup(parcel)) is not None and parcel.status == "hit-semantic"
        await b.close()

    asyncio.run(run())


def test_the_semantic_index_forgets_the_oldest_and_the_expired() -> None:
    from satisfice.cache.semantic import SemanticIndex

    index = SemanticIndex()
    vec = np.full(4, 0.5, dtype=np.float32)
    for i, expires in enumerate([10.0, 50.0, 20.0, 60.0, 70.0]):  # k0 .. k4, oldest first
        index.add("s", f"k{i}", vec, expires)
    index.trim(now=15.0, limit=4)  # one over the limit: the oldest goes
    assert [k for k in ("k0", "k1", "k2", "k3", "k4") if k in index] == ["k1", "k2", "k3", "k4"]
    index.trim(now=55.0, limit=10)  # the oldest while expired: k1 and k2, up to the live k3
    assert [k for k in ("k1", "k2", "k3", "k4") if k in index] == ["k3", "k4"]
