"""Benchmark the learner's promotion gate: time and memory of one check over N logged decisions.

A SQLite learn store in a temporary directory is filled with N decisions that got outcomes (the
gate's `max_checked` defaults to 20,000), shaped like a gateway's: request ids like the gateway's, 2
routes x 16 prompt clusters, 4 candidates with raw predictions and costs, knobs `loss=0.05` and
`wtp=0.01`, one outcome each from verification or feedback (a quarter also get a second, for the
model a cascade escalated to), plus as many decisions that got no outcome. Then, in this process:
  - the gate check is run `--repeats` times, each timed with time.perf_counter (the first also
    promotes; later ones find nothing new, but replay the same decisions);
  - resident memory (VmRSS and its high-water mark VmHWM, from /proc/self/status) is read before the
    first check and after the last, so "RSS added" is what the checks left resident and "peak added"
    how far the checks pushed the process's peak;
  - one more check runs under tracemalloc, whose peak is the Python memory the check held at once.

    python scripts/bench_gate.py [--decisions 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

from satisfice.learn import Decision, Learner, Outcome, SQLiteLearnStore

CANDIDATES = ["gpt-4.1-nano", "gpt-4o-mini", "claude-3-5-haiku", "gpt-4.1"]
COSTS = [0.00004, 0.00009, 0.0006, 0.0021]
ROUTES, CLUSTERS = ("auto", "support"), 16
HALF_LIFE = 7 * 86400.0


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def fill(store: SQLiteLearnStore, n: int, now: float, seed: int = 0) -> None:
    rng = random.Random(seed)
    for i in range(2 * n):
        ts = now - rng.uniform(0, 14 * 86400)
        rid = f"chatcmpl-{rng.getrandbits(96):024x}"
        route, cluster = ROUTES[i % 2], rng.randrange(CLUSTERS)
        preds = [round(min(0.99, 0.55 + 0.1 * j + rng.uniform(-0.1, 0.1)), 4) for j in range(4)]
        pick = rng.randrange(4)
        d = Decision(
            rid, ts, route, cluster, CANDIDATES[pick], preds[pick], list(CANDIDATES), preds,
            "loss=0.05" if i % 3 else "wtp=0.01", 1.0, list(COSTS),
        )  # fmt: skip
        store.save_decision(d)
        if i % 2:
            continue  # half the decisions never get an outcome
        good = rng.random() < preds[pick]
        store.add_outcome(
            Outcome(rid, route, cluster, CANDIDATES[pick], "verify" if i % 4 else "feedback",
                    float(good), ts, ts + 5, True, preds[pick]),
            HALF_LIFE,
        )  # fmt: skip
        if not good and pick < 3 and rng.random() < 0.5:  # a cascade escalated to the next model
            up = pick + 1
            store.add_outcome(
                Outcome(rid, route, cluster, CANDIDATES[up], "verify", float(rng.random() < preds[up]),
                        ts, ts + 9, False, preds[up]),
                HALF_LIFE,
            )  # fmt: skip
            store.set_answer(rid, CANDIDATES[up])
    store.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decisions", type=int, default=20_000, help="decisions with outcomes")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteLearnStore(str(Path(tmp) / "learn.db"))
        t0 = time.perf_counter()
        fill(store, args.decisions, now)
        print(f"filled {2 * args.decisions:,} decisions ({args.decisions:,} with outcomes) "
              f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
        learner = Learner(store, half_life_s=HALF_LIFE, max_checked=args.decisions, clock=lambda: now)
        gc.collect()
        rss0, hwm0 = _status_kb("VmRSS"), _status_kb("VmHWM")
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = learner.run_gate()
            times.append(time.perf_counter() - t0)
        gc.collect()
        rss1, hwm1 = _status_kb("VmRSS"), _status_kb("VmHWM")
        tracemalloc.start()
        learner.run_gate()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        store.close()
    print(f"last check: {result.n:,} decisions replayed, method {result.method}")
    print(f"check time: {', '.join(f'{t:.2f}' for t in times)} s ({args.repeats} checks, perf_counter)")
    print(f"RSS before the checks {rss0 / 1024:.1f} MB; added after them {(rss1 - rss0) / 1024:+.1f} MB; "
          f"peak added {(hwm1 - hwm0) / 1024:+.1f} MB (/proc/self/status VmRSS, VmHWM)")  # fmt: skip
    print(f"Python memory held at once during a check: {peak / 1024 / 1024:.1f} MB (tracemalloc peak)")


if __name__ == "__main__":
    main()
