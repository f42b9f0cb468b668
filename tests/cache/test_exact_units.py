"""The exact cache's parts on their own: keys, per-request control, both stores, stream assembly."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from satisfice.cache.assemble import CachedStream, completion_from_events
from satisfice.cache.control import cache_use
from satisfice.cache.entry import CacheEntry, CacheStore
from satisfice.cache.key import request_key, scope_key
from satisfice.cache.memory import MemoryStore
from satisfice.cache.settings import CachePolicy, policy_from_config, store_from_config
from satisfice.cache.sqlite_store import SQLiteStore
from satisfice.config import ConfigError, parse_settings
from satisfice.errors import InvalidRequest

BODY: dict[str, Any] = {
    "model": "auto",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    "temperature": 0,
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entry(key: str, clock: Clock, ttl: float = 60.0, rid: str = "req_1", vector: bytes = b"") -> CacheEntry:
    return CacheEntry(
        key=key,
        body=b'{"choices": []}',
        model="m",
        provider="p",
        cost_usd=0.01,
        baseline_cost_usd=0.05,
        baseline_model="b",
        created=clock.now,
        expires=clock.now + ttl,
        request_id=rid,
        vector=vector,
        scope="s" if vector else "",
    )


# --- keys -------------------------------------------------------------------------------------


def test_delivery_fields_do_not_change_the_key_but_answer_fields_do() -> None:
    base = request_key("t", None, BODY)
    assert request_key("t", None, {**BODY, "stream": True, "stream_options": {"include_usage": True}}) == base
    assert request_key("t", None, {**BODY, "user": "u-42", "metadata": {"a": "b"}}) == base
    assert request_key("t", None, dict(reversed(list(BODY.items())))) == base  # key order is irrelevant
    changed = [
        {**BODY, "temperature": 0.5},
        {**BODY, "model": "auto:0.9"},
        {**BODY, "messages": [{"role": "system", "content": "Be long."}, BODY["messages"][1]]},
        {**BODY, "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        {**BODY, "response_format": {"type": "json_object"}},
        {**BODY, "max_tokens": 5},
        {**BODY, "seed": 1},
    ]
    for body in changed:
        assert request_key("t", None, body) != base, body
    assert request_key("other-tenant", None, BODY) != base
    assert request_key("t", "quality=0.9", BODY) != base  # the knob header changes the routing


def test_scope_ignores_only_the_text_of_the_last_message() -> None:
    system, user = BODY["messages"]
    other_question = {**BODY, "messages": [system, {"role": "user", "content": "Hello there"}]}
    assert scope_key("t", None, BODY) == scope_key("t", None, other_question)
    assert scope_key("t", None, BODY) != scope_key("t", None, {**BODY, "temperature": 0.2})
    assert scope_key("t", None, BODY) != scope_key("u", None, BODY)
    # The earlier turns, and the last message but its text, must match exactly.
    other_system = {**BODY, "messages": [{"role": "system", "content": "Be long."}, user]}
    named = {**BODY, "messages": [system, {**user, "name": "alice"}]}
    for body in (other_system, named, {**BODY, "messages": [user]}):
        assert scope_key("t", None, BODY) != scope_key("t", None, body), body


# --- per-request control ----------------------------------------------------------------------


def test_default_policy_caches_only_temperature_zero() -> None:
    policy = CachePolicy()
    assert cache_use(policy, BODY, {}).read and cache_use(policy, BODY, {}).write
    assert not cache_use(policy, {**BODY, "temperature": 0.7}, {}).active
    assert not cache_use(policy, {k: v for k, v in BODY.items() if k != "temperature"}, {}).active
    assert cache_use(CachePolicy(when="always"), {**BODY, "temperature": 1}, {}).active
    assert not cache_use(CachePolicy(when="never"), BODY, {"x-satisfice-cache": "on"}).active
    assert not cache_use(None, BODY, {}).active


def test_a_completion_to_store_is_not_served_from_the_cache() -> None:
    """`store: true`: the provider keeps the completion (evals, distillation), which only a call
    makes; a hit skipped it. The answer is still saved for others, and a header can still ask."""
    stored = cache_use(CachePolicy(), {**BODY, "store": True}, {})
    assert (stored.read, stored.write) == (False, True)
    assert cache_use(CachePolicy(), {**BODY, "store": True}, {"x-satisfice-cache": "on"}).read
    assert cache_use(CachePolicy(), {**BODY, "store": False}, {}).read


def test_headers_ask_and_narrow() -> None:
    policy, hot = CachePolicy(), {**BODY, "temperature": 1}
    assert cache_use(policy, hot, {"x-satisfice-cache": "read"}) == cache_use(
        policy, BODY, {"x-satisfice-cache": "read"}
    )
    use = cache_use(policy, hot, {"x-satisfice-cache": "read"})
    assert use.read and not use.write
    use = cache_use(policy, BODY, {"x-satisfice-cache": "write"})
    assert use.write and not use.read
    assert not cache_use(policy, BODY, {"x-satisfice-cache": "OFF"}).active
    use = cache_use(policy, BODY, {"cache-control": "no-cache"})
    assert use.write and not use.read
    assert not cache_use(policy, BODY, {"cache-control": "no-store"}).active
    use = cache_use(policy, BODY, {"cache-control": "max-age=30"})
    assert use.read and use.max_age_s == 30
    assert not cache_use(policy, BODY, {"cache-control": "max-age=0"}).read
    # Cache-Control narrows an explicit request; it never widens one.
    assert not cache_use(policy, hot, {"x-satisfice-cache": "on", "cache-control": "no-store"}).active


@pytest.mark.parametrize(
    "headers",
    [{"x-satisfice-cache": "maybe"}, {"cache-control": "max-age=soon"}, {"cache-control": "max-age=-1"}],
)
def test_malformed_headers_are_client_errors(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest) as err:
        cache_use(CachePolicy(), BODY, headers)
    assert err.value.status == 400


# --- settings ---------------------------------------------------------------------------------


def test_settings_parse_and_errors_name_the_key() -> None:
    s = parse_settings(
        {
            "cache": {"backend": "sqlite", "path": "c.db", "ttl_s": 60, "when": "always"},
            "routes": {"r": {"strategy": "first", "candidates": ["gpt-4o"], "cache": {"semantic": True}}},
        },
        env={},
    )
    assert s.cache_store.backend == "sqlite" and s.cache_store.path == "c.db"
    assert s.cache_policy.ttl_s == 60 and s.cache_policy.when == "always"
    route = s.routes[0].cache
    assert route is not None and route.semantic and route.ttl_s == 60  # inherits the top level
    bad = [
        ({"cache": {"backend": "redis"}}, "cache.backend"),
        ({"cache": {"ttl_s": 0}}, "cache.ttl_s"),
        ({"cache": {"when": "sometimes"}}, "cache.when"),
        ({"cache": {"semantic_threshold": 1.5}}, "cache.semantic_threshold"),
        ({"cache": {"colour": "red"}}, "cache.colour"),
        ({"routes": {"r": {"candidates": ["x"], "cache": {"backend": "sqlite"}}}}, "routes.r.cache.backend"),
    ]
    for doc, key in bad:
        with pytest.raises(ConfigError) as err:
            parse_settings(doc, env={})
        assert key in str(err.value), (doc, str(err.value))
    with pytest.raises(ConfigError):
        policy_from_config({"semantic": "yes"}, "cache", CachePolicy())
    assert store_from_config(None, "x.db").path == "x.db"


# --- stores -----------------------------------------------------------------------------------


def stores(tmp_path: Path, clock: Clock, max_entries: int = 100) -> list[CacheStore]:
    return [MemoryStore(max_entries, clock), SQLiteStore(tmp_path / "cache.db", max_entries, clock)]


def test_ttl_expiry_with_an_injected_clock(tmp_path: Path) -> None:
    clock = Clock()

    async def run(store: CacheStore) -> None:
        await store.put(entry("k", clock, ttl=60))
        assert (await store.get("k")) is not None
        assert (await store.by_request("req_1")) is not None
        clock.now += 59.9
        assert (await store.get("k")) is not None
        clock.now += 0.2
        assert (await store.get("k")) is None
        assert (await store.by_request("req_1")) is None
        clock.now -= 60.1
        await store.close()

    for store in stores(tmp_path, clock):
        asyncio.run(run(store))


def test_delete_and_replace(tmp_path: Path) -> None:
    clock = Clock()

    async def run(store: CacheStore) -> None:
        await store.put(entry("k", clock, rid="req_a"))
        await store.put(entry("k", clock, rid="req_b"))
        got = await store.get("k")
        assert got is not None and got.request_id == "req_b"
        assert (await store.by_request("req_a")) is None
        await store.delete("k")
        assert (await store.get("k")) is None
        await store.close()

    for store in stores(tmp_path, clock):
        asyncio.run(run(store))


def test_hits_served_and_answers_awaiting_proof_are_found_by_request_id(tmp_path: Path) -> None:
    clock = Clock()

    async def run(store: CacheStore) -> None:
        await store.put(entry("k", clock, rid="req_producer"))
        await store.note_served("req_hit", "k", clock.now + 60)
        found = await store.by_request("req_hit")
        assert found is not None and found.key == "k"
        await store.put_pending(entry("k2", clock, rid="req_pending", ttl=30))
        assert await store.get("k2") is None and await store.by_request("req_pending") is None  # never served
        taken = await store.take_pending("req_pending")
        assert taken is not None and taken.key == "k2"
        assert await store.take_pending("req_pending") is None  # taken once
        await store.put_pending(entry("k3", clock, rid="req_late", ttl=30))
        clock.now += 31
        assert await store.take_pending("req_late") is None  # expired while it waited
        await store.delete("k")
        assert await store.by_request("req_hit") is None  # the entry is gone, so is the hit's way to it
        clock.now -= 31
        await store.close()

    for store in stores(tmp_path, clock):
        asyncio.run(run(store))


def test_workers_sharing_a_sqlite_cache_find_each_others_hits_and_pending_answers(tmp_path: Path) -> None:
    """Two processes on one cache file: feedback that reaches the other worker still finds the entry
    a hit was served from, and the answer awaiting proof (each was in one process's memory)."""
    clock = Clock()

    async def run() -> None:
        a, b = (
            SQLiteStore(tmp_path / "shared.db", 100, clock),
            SQLiteStore(tmp_path / "shared.db", 100, clock),
        )
        await a.put(entry("k", clock, rid="req_producer"))
        await a.note_served("req_hit", "k", clock.now + 60)
        await a.put_pending(entry("k2", clock, rid="req_pending"))
        found = await b.by_request("req_hit")
        assert found is not None and found.key == "k"
        taken = await b.take_pending("req_pending")
        assert taken is not None and taken.key == "k2" and await a.take_pending("req_pending") is None
        await a.close()
        await b.close()

    asyncio.run(run())


def test_the_sqlite_stores_feedback_tables_stay_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import satisfice.cache.sqlite_store as sqlite_store

    monkeypatch.setattr(sqlite_store, "RECENT", 5)
    clock = Clock()

    async def run() -> None:
        store = SQLiteStore(tmp_path / "bounded.db", 3, clock)
        await store.put(entry("k", clock))
        for i in range(40):
            await store.note_served(f"req_hit{i}", "k", clock.now + 60)
            await store.put_pending(entry(f"p{i}", clock, rid=f"req_p{i}"))
        store.sweep()
        assert await store.by_request("req_hit39") is not None and await store.by_request("req_hit0") is None
        assert await store.take_pending("req_p0") is None and await store.take_pending("req_p39") is not None
        rows = store._db.execute(
            "SELECT (SELECT count(*) FROM cache_served), (SELECT count(*) FROM cache_pending)"
        )
        assert rows.fetchone() == (5, 4)  # the newest 5 each (one pending taken above)
        await store.close()

    asyncio.run(run())


def test_memory_store_evicts_least_recently_used() -> None:
    clock = Clock()
    store = MemoryStore(2, clock)

    async def run() -> list[str]:
        await store.put(entry("a", clock, rid="1"))
        await store.put(entry("b", clock, rid="2"))
        await store.get("a")  # a is now more recent than b
        return await store.put(entry("c", clock, rid="3"))

    assert asyncio.run(run()) == ["b"]
    assert len(store) == 2


def test_sqlite_store_persists_and_sweeps(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "cache.db"

    async def fill() -> None:
        store = SQLiteStore(path, 3, clock)
        await store.put(entry("old", clock, ttl=3, rid="r0", vector=b"\x00" * 8))
        gone = []
        for i in range(4):
            clock.now += 1
            gone.append(await store.put(entry(f"k{i}", clock, ttl=1000, rid=f"r{i + 1}")))
        # A store of 3 sweeps at every write: "old" as it expires, then the oldest beyond 3.
        assert gone == [[], [], ["old"], ["k0"]]
        await store.close()

    asyncio.run(fill())

    async def reopen() -> None:
        store = SQLiteStore(path, 3, clock)
        assert (await store.get("k3")) is not None  # survived the restart
        assert (await store.get("k0")) is None and (await store.get("k1")) is not None
        await store.put(entry("v", clock, ttl=5, rid="r9", vector=b"\x00" * 8))
        assert [e.key for e in (await store.semantic_entries())[0]] == ["v"]
        clock.now += 10
        assert [e.key for e in (await store.semantic_entries())[0]] == []  # expired, not yet swept
        assert set(store.sweep()) == {"v"}
        await store.close()

    asyncio.run(reopen())


def test_a_workers_semantic_reads_see_an_entry_stored_after_the_newest_was_deleted(tmp_path: Path) -> None:
    """Worker B's index has read up to the newest entry; worker A deletes it (bad feedback) and
    stores another. SQLite gives the new row the deleted one's rowid: B must still read it."""
    clock = Clock()
    path = tmp_path / "cache.db"

    async def run() -> None:
        a, b = SQLiteStore(path, 100, clock), SQLiteStore(path, 100, clock)
        await a.put(entry("first", clock, rid="r1", vector=b"\x00" * 8))
        await a.put(entry("bad", clock, rid="r2", vector=b"\x00" * 8))
        seen, position = await b.semantic_entries()
        assert [e.key for e in seen] == ["first", "bad"]
        await a.delete("bad")
        await a.put(entry("next", clock, rid="r3", vector=b"\x00" * 8))
        seen, _ = await b.semantic_entries(position)
        assert [e.key for e in seen] == ["next"]
        await a.close()
        await b.close()

    asyncio.run(run())


def test_an_older_cache_file_gets_its_entries_numbered(tmp_path: Path) -> None:
    """A cache file from before entries were numbered: its entries are read, and new ones follow."""
    clock = Clock()
    path = tmp_path / "cache.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE cache_entries (key TEXT PRIMARY KEY, body BLOB NOT NULL, model TEXT, provider TEXT, "
        "cost_usd REAL, baseline_cost_usd REAL, baseline_model TEXT, created REAL, expires REAL, "
        "request_id TEXT, proven INTEGER, scope TEXT, text TEXT, vector BLOB)"
    )
    e = entry("kept", clock, rid="r1", vector=b"\x00" * 8)
    old.execute(
        "INSERT INTO cache_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (e.key, e.body, e.model, e.provider, e.cost_usd, e.baseline_cost_usd, e.baseline_model, e.created,
         e.expires, e.request_id, int(e.proven), e.scope, e.text, e.vector),
    )  # fmt: skip
    old.commit()
    old.close()

    async def run() -> None:
        store = SQLiteStore(path, 100, clock)
        seen, position = await store.semantic_entries()
        assert [x.key for x in seen] == ["kept"]
        await store.put(entry("new", clock, rid="r2", vector=b"\x00" * 8))
        seen, _ = await store.semantic_entries(position)
        assert [x.key for x in seen] == ["new"]
        await store.close()

    asyncio.run(run())


# --- one answer, two shapes -------------------------------------------------------------------

ANSWER: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "A long answer " * 20,
                "refusal": None,  # as OpenAI sends it (the spec requires the key)
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
}


def test_a_stored_answer_replays_as_a_stream_and_assembles_back() -> None:
    async def run() -> list[bytes]:
        stream = CachedStream(ANSWER, "chatcmpl-new")
        return [e async for e in stream]

    events = asyncio.run(run())
    assert len(events) > 4  # role, several content pieces, a tool call, finish, usage
    chunks = [orjson.loads(e[6:]) for e in events]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-new" for c in chunks)
    back = completion_from_events(events)
    assert back is not None
    assert back["choices"][0]["message"] == ANSWER["choices"][0]["message"]
    assert back["choices"][0]["finish_reason"] == "tool_calls"
    assert back["usage"] == ANSWER["usage"]


def test_a_cut_stream_is_not_an_answer() -> None:
    async def run() -> list[bytes]:
        return [e async for e in CachedStream(ANSWER, "x")]

    events = asyncio.run(run())
    unfinished = [e for e in events if b'"finish_reason":"tool_calls"' not in e]
    assert completion_from_events(unfinished) is None
    assert completion_from_events([b"data: {not json"]) is None
