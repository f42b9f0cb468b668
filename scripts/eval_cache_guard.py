"""Evaluate the semantic cache's match rule (cosine threshold, then the guard) on guard_pairs.jsonl.

Each pair is (cached prompt a, query b). A pair is "served" when cosine(embed(a), embed(b)) >= threshold
and guard(b, a).ok. The threshold is chosen on the dev half only: the lowest one whose dev false-hit rate
(near-misses served) is <= --max-false-hits; figures are then reported on test, dev and all. Embeddings
are the router's wordllama vectors of conversation_text([{"role": "user", "content": prompt}]): the last
turn, which is what the gateway embeds (earlier messages must match exactly: cache/key.scope_key).

--shared-system puts one 64-word system prompt before both prompts of every pair and embeds and guards
the whole conversation, as the cache did before it embedded only the last turn: it shows what a long
shared context does to the figures.

    python scripts/eval_cache_guard.py [--max-false-hits 0.01] [--threshold T] [--shared-system]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from satisfice.cache import guard as guard_mod
from satisfice.cache.guard import conversation_text, guard
from satisfice.predict.embed import get_embedder

PAIRS = Path(__file__).resolve().parents[1] / "satisfice" / "cache" / "guard_pairs.jsonl"
KINDS = ("negation", "number", "date", "unit", "entity", "constraint")


SHARED_SYSTEM = (
    "You are a helpful assistant for Acme Corporation customers. Always answer politely and concisely, "
    "cite the relevant policy section when you can, never reveal internal notes, and escalate to a human "
    "agent when the customer is angry or asks for a refund above the usual limit. Use plain language, "
    "avoid jargon, and keep every answer under one hundred words unless asked for more detail."
)


def _text(prompt: str, system: bool = False) -> str:
    before = [{"role": "system", "content": SHARED_SYSTEM}] if system else []
    return conversation_text([*before, {"role": "user", "content": prompt}])


def _rates(rows: list[dict[str, Any]], threshold: float, use_guard: bool) -> dict[str, Any]:
    def served(r: dict[str, Any]) -> bool:
        return bool(r["cos"] >= threshold and (not use_guard or r["guard_ok"]))

    para = [r for r in rows if r["label"] == "paraphrase"]
    near = [r for r in rows if r["label"] == "near_miss"]
    out: dict[str, Any] = {
        "paraphrase_hits": sum(map(served, para)) / max(1, len(para)),
        "false_hits": sum(map(served, near)) / max(1, len(near)),
        "n_para": len(para),
        "n_near": len(near),
        "near_served": sum(map(served, near)),
    }
    for k in KINDS:
        kind = [r for r in near if r["kind"] == k]
        out[k] = f"{sum(map(served, kind))}/{len(kind)}"
    return out


def _cross(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Different questions from one domain: cached a of one paraphrase pair, query b of another. No
    answer may be shared between them; they check that a low threshold does not lean on the guard alone."""
    para = [r for r in rows if r["label"] == "paraphrase"]
    return [
        {"cos": float(x["va"] @ y["vb"]), "ta": x["ta"], "tb": y["tb"], "split": x["split"]}
        for x in para
        for y in para
        if x is not y and x["domain"] == y["domain"] and x["split"] == y["split"]
    ]


def _cross_rate(cross: list[dict[str, Any]], threshold: float, use_guard: bool) -> float:
    served = 0
    for c in cross:
        if c["cos"] >= threshold and (not use_guard or guard(c["tb"], c["ta"]).ok):
            served += 1
    return served / max(1, len(cross))


Rows = list[dict[str, Any]]


def _pick(rows: Rows, cross: Rows, max_false: float, use_guard: bool) -> float:
    grid = [round(t, 3) for t in np.arange(0.5, 1.0001, 0.005)]
    for t in grid:  # lowest threshold (most paraphrase hits) within both false-hit budgets
        if (
            _rates(rows, t, use_guard)["false_hits"] <= max_false
            and _cross_rate(cross, t, use_guard) <= max_false
        ):
            return t
    return 1.0


def _line(name: str, r: dict[str, Any]) -> str:
    kinds = " ".join(f"{k}={r[k]}" for k in KINDS)
    return (
        f"  {name:<22} paraphrase hits {r['paraphrase_hits']:6.1%} (n={r['n_para']})  "
        f"false hits {r['false_hits']:5.1%} ({r['near_served']}/{r['n_near']})  served near-misses: {kinds}"
    )


def _guard_latency(rows: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Per-call guard time in microseconds: cold (feature cache cleared each call) p50/p99, and warm p50."""
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(5):
        for r in rows:
            guard_mod._features.cache_clear()
            t = time.perf_counter()
            guard(r["tb"], r["ta"])
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            guard(r["tb"], r["ta"])
            warm.append(time.perf_counter() - t)
    cold.sort()
    return (statistics.median(cold) * 1e6, cold[int(0.99 * len(cold))] * 1e6, statistics.median(warm) * 1e6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-false-hits", type=float, default=0.01)
    ap.add_argument("--threshold", type=float, help="report at this threshold instead of tuning on dev")
    ap.add_argument("--show-errors", action="store_true", help="list the misjudged pairs at the threshold")
    ap.add_argument(
        "--shared-system", action="store_true", help="whole conversations behind one system prompt"
    )
    args = ap.parse_args()

    emb = get_embedder()
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    for r in rows:
        r["ta"], r["tb"] = _text(r["a"], args.shared_system), _text(r["b"], args.shared_system)
        r["va"], r["vb"] = (emb.pool(emb.token_ids(t)) for t in (r["ta"], r["tb"]))
        r["cos"] = float(r["va"] @ r["vb"])
        r["guard_ok"] = guard(r["tb"], r["ta"]).ok
    dev = [r for r in rows if r["split"] == "dev"]
    test = [r for r in rows if r["split"] == "test"]
    cross = _cross(rows)
    cross_of = {s: [c for c in cross if c["split"] == s] for s in ("dev", "test")}
    cross_of["all"] = cross

    print(f"pairs: {len(rows)} ({len(dev)} dev, {len(test)} test) from {PAIRS.name}")
    what = "[64-word system prompt, user message]" if args.shared_system else "[user message]"
    print(f"embedding: wordllama (satisfice/predict/embed.py) of conversation_text({what})")
    print(f"cross pairs (different questions, same domain and split): {len(cross)}")
    t = args.threshold
    if t is None:
        t = _pick(dev, cross_of["dev"], args.max_false_hits, use_guard=True)
    how = (
        "given"
        if args.threshold is not None
        else (f"lowest with dev false hits <= {args.max_false_hits:.1%} on near-misses and on cross pairs")
    )
    print(f"\ncosine threshold {t:.3f} ({how}; grid 0.500..1.000 step 0.005)")
    for name, part in (("test", test), ("dev", dev), ("all", rows)):
        print(f"{name}:")
        print(_line("cosine + guard", _rates(part, t, use_guard=True)))
        print(_line("cosine only", _rates(part, t, use_guard=False)))
        print(
            f"  cross pairs served: cosine + guard {_cross_rate(cross_of[name], t, True):.1%}, "
            f"cosine only {_cross_rate(cross_of[name], t, False):.1%} (n={len(cross_of[name])})"
        )
    tc = _pick(dev, cross_of["dev"], args.max_false_hits, use_guard=False)
    print(f"\ncosine only, its own dev-tuned threshold {tc:.3f} (same false-hit budget):")
    for name, part in (("test", test), ("dev", dev), ("all", rows)):
        print(_line(f"{name} cosine only", _rates(part, tc, use_guard=False)))
    cos_para = sorted(r["cos"] for r in rows if r["label"] == "paraphrase")
    cos_near = sorted(r["cos"] for r in rows if r["label"] == "near_miss")
    print(
        f"\ncosine medians: paraphrases {statistics.median(cos_para):.3f}, "
        f"near-misses {statistics.median(cos_near):.3f}"
    )
    guard_alone = _rates(rows, -1.0, use_guard=True)
    print(_line("guard alone (all)", guard_alone))
    p50, p99, warm = _guard_latency(rows)
    print(
        f"\nguard latency over {len(rows)} pairs x5 (time.perf_counter per call): cold p50 {p50:.1f} us, "
        f"cold p99 {p99:.1f} us (feature cache cleared before each call), warm p50 {warm:.1f} us"
    )
    if args.show_errors:
        for r in rows:
            served = r["cos"] >= t and r["guard_ok"]
            if served != (r["label"] == "paraphrase"):
                verdict = guard(r["tb"], r["ta"])
                why = f"{verdict.reason}: {verdict.detail}" if verdict.detail else verdict.reason
                print(f"  [{r['split']} {r['kind']} cos={r['cos']:.3f}] {r['a']!r} | {r['b']!r} -> {why}")


if __name__ == "__main__":
    main()
