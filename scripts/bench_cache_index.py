"""Benchmark satisfice.cache.vector_index.VectorIndex: lookup latency and recall at N entries.

Vectors are realistic, not random: wordllama embeddings (the router's, 256-d, unit norm) of synthetic
prompts, each a bag of 8-60 word tokens drawn 60 % from one of 3,000 topic vocabularies and 40 % from a
Zipf distribution over the whole word vocabulary. A query is a stored prompt with 15 % of its tokens
replaced (a near paraphrase, cosine ~0.88 to its source). Entries are added one at a time, as the cache
does. Each search is timed alone with time.perf_counter (k=4, single query, after 200 warm-up queries);
recall@1 is the share of queries whose top key equals numpy brute force's top key.

    python scripts/bench_cache_index.py [--n 100000] [--queries 2000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from satisfice.cache.vector_index import VectorIndex
from satisfice.predict.embed import get_embedder


def _vectors(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    emb = get_embedder()
    rng = np.random.default_rng(seed)
    words = np.flatnonzero(emb._word_start)
    topics = [rng.choice(words, 40) for _ in range(3000)]
    zipf = words[(rng.zipf(1.3, size=60 * n) % words.size)]
    store = np.empty((n, emb.table.shape[1]), np.float32)
    seqs = []
    z = 0
    for i in range(n):
        length = int(rng.integers(8, 60))
        on_topic = int(0.6 * length)
        ids = np.concatenate(
            [rng.choice(topics[int(rng.integers(0, 3000))], on_topic), zipf[z : z + length - on_topic]]
        )
        z += length - on_topic
        seqs.append(ids)
        store[i] = emb.pool(ids)
    qs = np.empty((queries, store.shape[1]), np.float32)
    for j, src in enumerate(rng.integers(0, n, queries)):
        ids = seqs[int(src)].copy()
        swap = rng.random(ids.size) < 0.15
        ids[swap] = words[rng.integers(0, words.size, int(swap.sum()))]
        qs[j] = emb.pool(ids)
    return store, qs


def _pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=2000)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores (shared); n={args.n}, queries={args.queries}, dim=256, k=4")
    t = time.perf_counter()
    store, qs = _vectors(args.n, args.queries)
    print(f"vectors made in {time.perf_counter() - t:.1f} s")

    index = VectorIndex(store.shape[1])
    t = time.perf_counter()
    for i, v in enumerate(store):
        index.add(f"k{i}", v)
    build = time.perf_counter() - t
    print(
        f"VectorIndex backend={index.backend}: {len(index)} adds in {build:.1f} s "
        f"({build / len(index) * 1e3:.2f} ms each)"
    )

    for q in qs[:200]:
        index.search(q, 4)
    lat: list[float] = []
    tops: list[str] = []
    for q in qs:
        t = time.perf_counter()
        res = index.search(q, 4)
        lat.append(time.perf_counter() - t)
        tops.append(res[0][0])
    exact = np.argmax(qs @ store.T, axis=1)
    recall = float(np.mean([top == f"k{e}" for top, e in zip(tops, exact.tolist(), strict=True)]))
    print(
        f"VectorIndex search: p50 {_pct(lat, 0.5):.3f} ms, p99 {_pct(lat, 0.99):.3f} ms, "
        f"max {_pct(lat, 1.0):.3f} ms; recall@1 {recall:.3f}"
    )

    brute: list[float] = []
    for q in qs[:500]:
        t = time.perf_counter()
        s = store @ q
        np.argpartition(-s, 3)[:4]
        brute.append(time.perf_counter() - t)
    print(f"numpy brute force at n={args.n}: p50 {_pct(brute, 0.5):.3f} ms, p99 {_pct(brute, 0.99):.3f} ms")


if __name__ == "__main__":
    main()
