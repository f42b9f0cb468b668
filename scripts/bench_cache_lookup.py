"""Exact-cache lookup overhead, in process: what a request pays to ask the cache (ticket: the
policy check and the normalized key; lookup: the store read), for a miss and for a hit.

Usage: python scripts/bench_cache_lookup.py [--entries 10000] [--n 20000] [--backend memory|sqlite]
       python scripts/bench_cache_lookup.py --semantic [--entries 100000] [--n 2000]

Method: a ResponseCache over the chosen store is filled with `--entries` answers to distinct
chat requests (a system prompt, three turns, about 1.2 kB of JSON each). Then `--n` lookups run
one after another on one thread, half repeats (hits) and half new requests (misses), each timed
with perf_counter_ns around ticket() + lookup(). Prints p50/p90/p99 per kind. The issue's target
is a lookup overhead of at most 0.05 ms.

--semantic times the whole semantic path instead, for the issue's "lookup p99 <= 1 ms at 100k
entries": the policy has semantic on, so ticket() embeds the conversation (wordllama) and lookup()
misses the exact key, searches the vector index and runs the guard on the candidates above the
threshold. The store holds `--entries` (default 100k) synthetic prompts of 8-30 words drawn from
the vocabulary of satisfice/cache/guard_pairs.jsonl; queries are, alternately, a stored prompt with
one word changed (a near neighbour the guard must judge) and a fresh prompt (a plain miss).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from satisfice.cache.entry import CacheStore  # noqa: E402
from satisfice.cache.layer import CacheTicket, ResponseCache  # noqa: E402
from satisfice.cache.memory import MemoryStore  # noqa: E402
from satisfice.cache.settings import CachePolicy  # noqa: E402
from satisfice.cache.sqlite_store import SQLiteStore  # noqa: E402

ANSWER = {
    "id": "chatcmpl-x",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "An answer. " * 30}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 300, "completion_tokens": 90, "total_tokens": 390},
}


def body(i: int) -> dict[str, Any]:
    return {
        "model": "auto",
        "temperature": 0,
        "max_tokens": 400,
        "messages": [
            {"role": "system", "content": "You are a careful assistant for an accounting team. " * 4},
            {
                "role": "user",
                "content": f"Ticket {i}: the March invoice total looks wrong, can you check it?",
            },
            {"role": "assistant", "content": "Of course. Which line items do you think are off? " * 3},
            {"role": "user", "content": f"Lines 4 and 7 of invoice {i * 7919 % 100003}, please."},
        ],
    }


def sentence(rng: random.Random, vocab: list[str]) -> str:
    return " ".join(rng.choice(vocab) for _ in range(rng.randint(8, 30))) + "?"


def chat(text: str) -> dict[str, Any]:
    return {"model": "auto", "temperature": 0, "messages": [{"role": "user", "content": text}]}


async def run_semantic(entries: int, n: int) -> None:
    words = re.findall(r"[a-z]+", (ROOT / "satisfice/cache/guard_pairs.jsonl").read_text().lower())
    vocab = sorted(set(words))
    rng = random.Random(0)
    cache = ResponseCache(MemoryStore(entries * 2), CachePolicy(semantic=True), {})
    await cache.start()
    stored = []
    t0 = time.perf_counter()
    for i in range(entries):
        text = sentence(rng, vocab)
        stored.append(text)
        await save_answer(cache, cache.ticket("key_tenant", None, chat(text), {}), i)
    fill_s = time.perf_counter() - t0
    times: dict[str, list[float]] = {"near": [], "fresh": []}
    outcomes: dict[str, int] = {}
    for j in range(n):
        if j % 2 == 0:
            words_j = rng.choice(stored).split()
            words_j[rng.randrange(len(words_j))] = rng.choice(vocab)
            text, kind = " ".join(words_j), "near"
        else:
            text, kind = sentence(rng, vocab), "fresh"
        t1 = time.perf_counter_ns()
        ticket = cache.ticket("key_tenant", None, chat(text), {})
        await cache.lookup(ticket)
        times[kind].append((time.perf_counter_ns() - t1) / 1e6)
        outcomes[ticket.status] = outcomes.get(ticket.status, 0) + 1
    print(
        f"semantic cache lookup (embed + exact miss + index search + guard), {entries} entries "
        f"(filled in {fill_s:.0f} s), {n} lookups, one thread, in process; outcomes {outcomes}"
    )
    for kind, vals in times.items():
        print(
            f"  {kind:<6} n={len(vals):<5} p50 {statistics.median(vals):.3f} ms  "
            f"p90 {pct(vals, 0.9):.3f} ms  p99 {pct(vals, 0.99):.3f} ms  max {max(vals):.3f} ms"
        )
    both = times["near"] + times["fresh"]
    print(f"  all    n={len(both):<5} p50 {statistics.median(both):.3f} ms  p99 {pct(both, 0.99):.3f} ms")


async def save_answer(cache: ResponseCache, ticket: CacheTicket, i: int) -> None:
    """Store the fixed answer under `ticket`, as request number i."""
    await cache.save(
        ticket,
        ANSWER,
        model="m",
        provider="p",
        cost_usd=1e-4,
        baseline_cost_usd=1e-3,
        baseline_model="b",
        request_id=f"req_{i}",
        proven=False,
    )


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def run(entries: int, n: int, backend: str) -> None:
    tmp = tempfile.mkdtemp()
    store: CacheStore = (
        MemoryStore(entries * 2) if backend == "memory" else SQLiteStore(Path(tmp) / "c.db", entries * 2)
    )
    cache = ResponseCache(store, CachePolicy(), {})
    for i in range(entries):
        await save_answer(cache, cache.ticket("key_tenant", None, body(i), {}), i)
    times: dict[str, list[float]] = {"hit": [], "miss": []}
    for j in range(n):
        i = (j * 7) % entries if j % 2 == 0 else entries + j
        b = body(i)
        t0 = time.perf_counter_ns()
        ticket = cache.ticket("key_tenant", None, b, {})
        hit = await cache.lookup(ticket)
        elapsed = (time.perf_counter_ns() - t0) / 1e6
        times["hit" if hit is not None else "miss"].append(elapsed)
    await cache.close()
    print(f"exact cache lookup, {backend} store, {entries} entries, {n} lookups (one thread, in process)")
    for kind, vals in times.items():
        print(
            f"  {kind:<5} n={len(vals):<6} p50 {statistics.median(vals):.4f} ms  "
            f"p90 {pct(vals, 0.9):.4f} ms  p99 {pct(vals, 0.99):.4f} ms"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--backend", choices=("memory", "sqlite"), default="memory")
    ap.add_argument("--semantic", action="store_true", help="time the semantic path (default 100k entries)")
    args = ap.parse_args()
    if args.semantic:
        entries = args.entries if "--entries" in sys.argv else 100_000
        asyncio.run(run_semantic(entries, args.n if "--n" in sys.argv else 2000))
    else:
        asyncio.run(run(args.entries, args.n, args.backend))


if __name__ == "__main__":
    main()
