"""Decision-time and memory benchmark of the router's quality predictor.

    python scripts/bench_router.py [--router learned] [--calls 1000] [--json]

How it measures (printed too):
  * one fresh process; memory is the resident set size (VmRSS, and the peak VmHWM) from
    /proc/self/status, read after importing numpy + satisfice and again after loading the predictor
    and making every call: the difference is the memory the predictor adds;
  * load time: wall time of load_predictor(name) (artifact + tokenizer; the 32 MB token table is read
    only when something pools the embedding, which the default predictor does not);
  * decision time: wall time (perf_counter_ns) of predict(messages, candidates) followed by
    routing.knob.choose(), per call, single thread, garbage collector left on. Prompts are real ones
    from the shared datasets (chat, MMLU, GSM8K, RouterBench few-shot, arena battles; built-in ones
    when the data is absent), taken round-robin by source. Every timed prompt is new to the process
    (no feature cache; the runs of each candidate set use different prompts). The largest set is
    every current chat model of OpenAI, Anthropic and Google in the catalog: the default `auto`
    route's candidates when those three providers are configured.
    The default predictor does not tokenise the prompt (its text statistics estimate the token
    count from character counts); one that pools the embedding does, and its word-piece cache
    warms up with traffic.
    "cold": the first calls right after loading;
    "steady state": after warm-up calls on 2,000 OTHER prompts, as in a gateway that has served
    traffic (every timed prompt is still unseen).
  * the gateway's whole routing decision: Planner.plan() of the implied `auto` route with OpenAI,
    Anthropic and Gemini keys set (placeholder keys, nothing is sent), one user message per
    request: the request's needs, each candidate's constraints and estimated cost, the prediction
    and the knob. Timed on unseen prompts after the warm-up above, and again on the same prompt
    repeated (the feature cache answers; what is left is per candidate).
  * the learner's prompt cluster of each of those unseen prompts, timed apart (reading
    `decision.cluster` after the plan): it tokenises the prompt. The gateway works it out once the
    request has gone upstream, or within the plan when the learner has promoted statistics.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from satisfice.catalog import ModelInfo, load_catalog
from satisfice.routing.knob import Knob, choose

CANDIDATES_4 = ("gpt-4-1106-preview", "gpt-3.5-turbo-1106", "claude-instant-1.2", "mixtral-8x7b-instruct")
CANDIDATES_12 = (
    *CANDIDATES_4,
    "gpt-4o",
    "gpt-4o-mini",
    "claude-3-5-sonnet",
    "gemini-2.0-flash",
    "llama-3.1-8b-instruct",
    "llama-3.3-70b-instruct",
    "deepseek-chat",
    "o3-mini",
)
FALLBACK = [
    "hi",
    "What is the capital of France?",
    "Write a Python function to merge two sorted lists.",
    "Prove that sqrt(2) is irrational.",
    "Summarise the causes of World War I in 200 words.",
]


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size in MB."""
    cur = peak = 0.0
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def prompts(limit: int) -> dict[str, list[str]]:
    try:
        from satisfice.data.jsonl import load_dataset

        out: dict[str, list[str]] = {}
        for name in ("arena-bench", "arena-battles", "mmlu", "gsm8k", "routerbench"):
            recs = load_dataset(name).records
            step = max(1, len(recs) // limit)
            out[name] = [r.prompt_text() for r in recs[::step][:limit]]
        return out
    except Exception as e:
        print(f"(shared data unavailable: {e}; using built-in prompts)")
        return {"builtin": FALLBACK * (limit // len(FALLBACK) + 1)}


def infos(names: tuple[str, ...]) -> list[ModelInfo]:
    cat = load_catalog()
    return [cat.lookup(n)[0] for n in names]


def big_three() -> tuple[str, ...]:
    """Every chat model of OpenAI, Anthropic and Google the catalog does not mark deprecated."""
    cat = load_catalog()
    chosen = (m for m in cat if m.provider in ("openai", "anthropic", "gemini") and m.kind == "chat")
    return tuple(dict.fromkeys(f"{m.provider}/{m.id}" for m in chosen if not m.deprecated))


def pct(xs: Sequence[float]) -> dict[str, float]:
    a = np.array(xs) / 1e6  # ns -> ms
    return {
        "n": len(xs),
        "p50_ms": round(float(np.percentile(a, 50)), 4),
        "p90_ms": round(float(np.percentile(a, 90)), 4),
        "p99_ms": round(float(np.percentile(a, 99)), 4),
        "max_ms": round(float(a.max()), 3),
    }


def gateway_plan(report: dict[str, Any], batch: list[tuple[str, str]], warm: list[str]) -> None:
    """Times Planner.plan() of the implied auto route (see the module doc)."""
    from satisfice.config import load_settings
    from satisfice.routing.constraints import needs_of
    from satisfice.wiring import build

    keys = {"OPENAI_API_KEY": "sk-bench", "ANTHROPIC_API_KEY": "sk-ant-bench", "GEMINI_API_KEY": "bench"}
    planner = build(load_settings(None, keys), with_ledger=False).planner

    def plan(text: str) -> tuple[int, Any]:
        body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
        t = time.perf_counter_ns()
        made = planner.plan("auto", needs_of(body))
        return time.perf_counter_ns() - t, made

    def cluster(made: Any) -> int:
        t = time.perf_counter_ns()
        made.decision.cluster  # noqa: B018 - worked out on first read: that is what is timed
        return time.perf_counter_ns() - t

    n = len(planner.servable_candidates("auto"))
    for text in warm:  # the first plans load what the gateway loads at start-up (prompts seen before)
        cluster(plan(text)[1])
    new = [plan(text) for _, text in batch]
    clusters = [cluster(made) for _, made in new]
    again = [plan(batch[0][1])[0] for _ in range(len(batch))]
    report[f"gateway plan, implied auto route, {n} candidates"] = {
        "unseen": pct([ns for ns, _ in new]),
        "repeated": pct(again),
    }
    report["learner's prompt cluster, after the plan"] = {"unseen": pct(clusters)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--router", default="learned")
    ap.add_argument("--calls", type=int, default=1000, help="timed steady-state calls per candidate-set size")
    ap.add_argument("--cold", type=int, default=200, help="timed calls right after loading, per size")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import satisfice.predict as sp

    per_source = 3 * args.calls + 3 * args.cold + 2000  # small sources run out: the big ones give more
    pool = prompts(per_source)
    seen: set[str] = set()
    texts: list[tuple[str, str]] = []  # (source, prompt), round-robin by source, no text twice
    for i in range(per_source):
        for src, v in pool.items():
            if i < len(v) and v[i] not in seen:
                seen.add(v[i])
                texts.append((src, v[i]))
    rss0, _ = rss_mb()
    t0 = time.perf_counter()
    pred = sp.load_predictor(args.router)
    load_s = time.perf_counter() - t0
    rss_loaded, _ = rss_mb()
    knob = Knob("quality", 0.8)
    report: dict[str, Any] = {"router": args.router, "load_seconds": round(load_s, 3)}

    def run(label: str, names: tuple[str, ...], batch: list[tuple[str, str]]) -> None:
        if not batch:
            print(f"({label}: no unseen prompts left to time; lower --calls)")
            return
        cands = infos(names)
        cost = np.array([m.cost_usd(500, 256) for m in cands])
        by_source: dict[str, list[float]] = {}
        for src, text in batch:
            msgs = [{"role": "user", "content": text}]
            t = time.perf_counter_ns()
            q = pred.predict(msgs, cands)
            choose(q, cost, knob)
            by_source.setdefault(src, []).append(time.perf_counter_ns() - t)
        allx = [x for xs in by_source.values() for x in xs]
        report[label] = {"all": pct(allx), **{s: pct(xs) for s, xs in by_source.items()}}

    every = big_three()
    big = f"{len(every)} candidates"
    i = 0
    run("cold, 4 candidates", CANDIDATES_4, texts[i : i + args.cold])
    i += args.cold
    run("cold, 12 candidates", CANDIDATES_12, texts[i : i + args.cold])
    i += args.cold
    run(f"cold, {big}", every, texts[i : i + args.cold])
    i += args.cold
    for _, text in texts[i : i + 2000]:  # warm-up on other prompts
        pred.predict([{"role": "user", "content": text}], infos(CANDIDATES_4))
    i += 2000
    # Each set, and the gateway's plan, gets its own prompts: --calls, or a quarter of what is left.
    calls = min(args.calls, (len(texts) - i) // 4)
    run("steady state, 4 candidates", CANDIDATES_4, texts[i : i + calls])
    i += calls
    run("steady state, 12 candidates", CANDIDATES_12, texts[i : i + calls])
    i += calls
    run(f"steady state, {big}", every, texts[i : i + calls])
    rss_end, peak = rss_mb()  # before the gateway's parts are built: the predictor's own memory
    i += calls
    gateway_plan(report, texts[i : i + calls], [t for _, t in texts[: args.cold]])
    report["memory_mb"] = {
        "rss_before_load": round(rss0, 1),
        "rss_after_load": round(rss_loaded, 1),
        "rss_after_calls": round(rss_end, 1),
        "peak_rss": round(peak, 1),
        "added": round(rss_end - rss0, 1),
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print((__doc__ or "").split("How it measures (printed too):")[1].rstrip())
    print(f"\nrouter {args.router}: load {load_s * 1000:.0f} ms")
    for label in [k for k in report if "candidates" in k or "cluster" in k]:
        what = "Planner.plan" if label.startswith("gateway") else "predict + knob.choose"
        print(f"decision time, {label} ({what}):" if "cluster" not in label else f"{label}:")
        for src, r in report[label].items():
            print(
                f"  {src:14s} n={r['n']:<5} p50 {r['p50_ms']:.3f} ms  p90 {r['p90_ms']:.3f}  "
                f"p99 {r['p99_ms']:.3f}  max {r['max_ms']:.2f}"
            )
    m = report["memory_mb"]
    print(
        f"memory: RSS {m['rss_before_load']} MB before load -> {m['rss_after_load']} after load -> "
        f"{m['rss_after_calls']} after the calls (peak {m['peak_rss']}): added {m['added']} MB"
    )
    a4 = report["steady state, 4 candidates"]["all"]
    ok = a4["p50_ms"] <= 0.2 and a4["p99_ms"] <= 1.0 and m["added"] <= 100
    print(
        f"budget (p50 <= 0.2 ms, p99 <= 1 ms, <= 100 MB added): {'met' if ok else 'NOT met'} (4 candidates)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
