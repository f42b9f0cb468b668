"""Does prompt trimming cost accuracy? Replay the development data through the router at every level.

    python scripts/eval_trimming.py [--datasets routerbench,mmlu,gsm8k,arena-bench] [--limit N]
                                    [--router learned] [--tolerance 0.5] [--json PATH]

How it measures (printed too):
  * data: the shared datasets, read in place through satisfice.data.shared (never copied); RouterBench
    is its test split (945 prompts, 11 models). Plus a synthetic multi-turn set built here from the
    RouterBench test prompts (see `synthetic`): the shared data is single-turn, so `drop_oldest` and
    tool-output cutting have nothing to act on there.
  * per level (none, whitespace, dedupe, tool_outputs, drop_oldest): every prompt is trimmed with
    `satisfice.trim.trim` under SETTINGS below, the router's predictor scores the trimmed prompt for
    every model of the dataset, models whose context window cannot hold it (prompt + 256 output
    tokens) are ruled out as the gateway's constraints do, and the knob picks one model: quality=0.8
    on n-model data, share=0.5 on two-model data (its threshold calibrated once, on the untrimmed
    predictions, and kept for every level, as a deployed router's is).
  * accuracy: the recorded quality of the picked model's answer. Those answers were produced from the
    UNTRIMMED prompts, so this measures what trimming does to the routing decision and to the input
    cost, not what it does to the models' answers. A request that still does not fit after trimming
    is refused (counted as quality 0, cost 0; column `refused`).
  * cost: the picked model's recorded (RouterBench) or catalog-priced cost for the original prompt,
    plus (tokens sent - tokens of the original prompt) x the model's input price. Tokens are counted
    with satisfice.tokens.count_prompt (o200k) on the messages actually sent.
  * tolerance: a level passes when its accuracy is at most `--tolerance` points (default 0.5, on a
    0-100 scale) below the untrimmed accuracy on the same prompts and router.
  * latency: trim() wall time (perf_counter, median and p99 of 200 calls after 20 warm-up calls) on a
    20-turn conversation of ~8k tokens built from RouterBench prompts and answers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import numpy.typing as npt

from satisfice.data.records import Record
from satisfice.data.shared import load_shared
from satisfice.evals.replay import Replay, build_replay
from satisfice.evals.vector import calibrate_share_matrix, choose_matrix
from satisfice.routing.knob import Knob, ShareTarget
from satisfice.tokens import count_prompt
from satisfice.trim import LEVELS, TrimSettings, trim

Array = npt.NDArray[np.float64]
Messages = list[dict[str, Any]]

OUTPUT_TOKENS = 256  # reserved for the answer when checking a model's context window
BUDGET = 3000  # drop_oldest's route budget: keeps 4k-window models eligible
TOOL_OUTPUT_MAX = 1000
SETTINGS = {
    level: TrimSettings(
        enabled=True,
        level=level,
        budget_tokens=BUDGET if level == "drop_oldest" else None,
        tool_output_max_tokens=TOOL_OUTPUT_MAX,
    )
    for level in LEVELS
}


# ---------------------------------------------------------------- synthetic multi-turn conversations


def _seed(text: str) -> int:
    return zlib.crc32(text.encode())


def _noisy(text: str, k: int) -> str:
    """Whitespace as pasted text carries it: trailing spaces, runs of blank lines, double spaces."""
    if k % 3:
        return text
    return text.replace("\n", "   \n\n\n", 3).replace(". ", ".  ") + "  \n"


def _answer(record: Record, k: int) -> str:
    models = sorted(record.outcomes)
    return record.outcomes[models[k % len(models)]].response or "Done."


def _tool_output(records: Sequence[Record], k: int) -> str:
    """A long search-tool result: log lines and pasted documents (other prompts and answers)."""
    lines = [
        f"{k:04d}-{i:03d} INFO fetched shard {i} status=200 bytes={(k * 977 + i * 131) % 9000}"
        for i in range(60)
    ]
    docs = [records[(k + 13 * j) % len(records)] for j in range(6)]
    body = "\n\n".join(f"## Result {j + 1}\n{d.prompt_text()}\n{_answer(d, j)}" for j, d in enumerate(docs))
    return "\n".join(lines) + "\n\n" + body


def synthetic(records: Sequence[Record]) -> list[Messages]:
    """Per record, deterministically: a system prompt, 2-6 earlier unrelated turns (other prompts with
    a recorded answer, some with whitespace noise), a tool call whose result is a long document dump
    on every second conversation, a re-sent earlier message on every third, then the record's own
    prompt as the last user turn."""
    out: list[Messages] = []
    n = len(records)
    for i, rec in enumerate(records):
        s = _seed(rec.id)
        msgs: Messages = [
            {"role": "system", "content": "You are a helpful assistant. Answer the last question."}
        ]
        for t in range(2 + s % 5):
            other = records[(i + 7 * t + 1) % n]
            msgs.append({"role": "user", "content": _noisy(other.prompt_text(), s + t)})
            msgs.append({"role": "assistant", "content": _noisy(_answer(other, s + t), s + t + 1)})
        if s % 2 == 0:
            call = f"call_{i}"
            msgs.append({"role": "user", "content": "Search the knowledge base for related material."})
            msgs.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call,
                            "type": "function",
                            "function": {"name": "search", "arguments": '{"q": "related"}'},
                        }
                    ],
                }
            )
            msgs.append({"role": "tool", "tool_call_id": call, "content": _tool_output(records, i)})
            msgs.append({"role": "assistant", "content": "I found several related documents."})
        if s % 3 == 0:
            msgs.append(dict(msgs[1]))  # the user re-sends an earlier message
            msgs.append({"role": "assistant", "content": _noisy(_answer(records[(i + 1) % n], s), 1)})
        msgs.append({"role": "user", "content": rec.prompt_text()})
        out.append(msgs)
    return out


# ---------------------------------------------------------------- one level over one set


def _tokens(prompts: Sequence[Messages]) -> Array:
    return np.array([count_prompt({"messages": p}) for p in prompts], dtype=np.float64)


def _trim_all(prompts: Sequence[Messages], level: str) -> tuple[list[Messages], npt.NDArray[np.bool_], float]:
    if level == "none":
        return list(prompts), np.ones(len(prompts), dtype=np.bool_), 0.0
    sent: list[Messages] = []
    fits = np.ones(len(prompts), dtype=np.bool_)
    start = time.perf_counter()
    for i, p in enumerate(prompts):
        result = trim(p, SETTINGS[level], context_window=None, max_output_tokens=OUTPUT_TOKENS)
        sent.append(result.messages)
        fits[i] = result.fits
    return sent, fits, (time.perf_counter() - start) / max(len(prompts), 1) * 1000


def _picks(
    predictor: Any,
    replay: Replay,
    prompts: Sequence[Messages],
    tokens: Array,
    knob: Knob,
    target: ShareTarget | None,
) -> npt.NDArray[np.int64]:
    predicted = np.asarray(predictor.predict_many(prompts, replay.infos), dtype=np.float64)
    windows = np.array([info.context_window for info in replay.infos], dtype=np.float64)
    too_long = tokens[:, None] + OUTPUT_TOKENS > windows[None, :]
    predicted = np.where(too_long, -1.0, predicted)  # never meets a target, never the best
    return choose_matrix(predicted, replay.decision_cost, knob, target)


def evaluate_set(
    name: str, replay: Replay, prompts: list[Messages], predictor: Any, tolerance: float
) -> list[dict[str, Any]]:
    original = _tokens([[dict(m) for m in r.messages] for r in replay.records])
    price = np.array([info.input_per_mtok for info in replay.infos], dtype=np.float64) / 1e6
    two = len(replay.models) == 2
    knob = Knob("share", 0.5) if two else Knob("quality", 0.8)
    rows = np.arange(replay.n)
    target: ShareTarget | None = None
    if two:
        base = np.asarray(predictor.predict_many(prompts, replay.infos), dtype=np.float64)
        target = calibrate_share_matrix(base, replay.decision_cost, 0.5)
    out: list[dict[str, Any]] = []
    base_picks: npt.NDArray[np.int64] | None = None
    for level in ("none", *LEVELS):
        sent, fits, ms_per_prompt = _trim_all(prompts, level)
        tokens = _tokens(sent)
        picks = _picks(predictor, replay, sent, tokens, knob, target)
        quality = np.where(fits, replay.quality[rows, picks], 0.0)
        cost = np.maximum(replay.cost[rows, picks] + (tokens - original) * price[picks], 0.0)
        cost = np.where(fits, cost, 0.0)
        if base_picks is None:
            base_picks = picks
        out.append(
            {
                "set": name,
                "level": level,
                "n": replay.n,
                "knob": str(knob),
                "accuracy": float(quality.mean() * 100),
                "cost_per_1k": float(cost.mean() * 1000),
                "tokens_per_prompt": float(tokens.mean()),
                "refused": int((~fits).sum()),
                "rerouted_share": float(np.mean(picks != base_picks) * 100),
                "trim_ms_per_prompt": ms_per_prompt,
            }
        )
    none = out[0]
    for row in out:
        row["tokens_saved_pct"] = (1 - row["tokens_per_prompt"] / none["tokens_per_prompt"]) * 100
        row["accuracy_change"] = row["accuracy"] - none["accuracy"]
        row["cost_change_pct"] = (row["cost_per_1k"] / none["cost_per_1k"] - 1) * 100
        row["within_tolerance"] = row["accuracy_change"] >= -tolerance - 1e-9
    return out


# ---------------------------------------------------------------- latency


def _chat(records: Sequence[Record], turns: int, max_chars: int) -> Messages:
    """A `turns`-turn conversation from dataset prompts (at most `max_chars` each) and recorded answers."""
    msgs: Messages = [{"role": "system", "content": "You are a helpful assistant."}]
    short = [r for r in records if len(r.prompt_text()) <= max_chars]
    for k, rec in enumerate(short[: turns - 1]):
        msgs.append({"role": "user", "content": rec.prompt_text()})
        longest = max((o.response or "" for o in rec.outcomes.values()), key=len)  # chatty answers
        msgs.append({"role": "assistant", "content": longest or _answer(rec, k)})
    msgs.append({"role": "user", "content": short[turns - 1].prompt_text()})
    return msgs


def _time(msgs: Messages, settings: TrimSettings) -> dict[str, Any]:
    for _ in range(20):
        trim(msgs, settings, context_window=128_000, max_output_tokens=4096)
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        result = trim(msgs, settings, context_window=128_000, max_output_tokens=4096)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "level": settings.level,
        "budget": settings.budget_tokens,
        "median_ms": statistics.median(times),
        "p99_ms": times[int(len(times) * 0.99) - 1],
        "actions": list(result.actions),
        "exact": result.exact,
    }


def latency(records: Sequence[Record]) -> dict[str, Any]:
    """trim() time on a 20-turn ~8k-token conversation: per level on the raw conversation (whitespace and
    repeated few-shot blocks to act on), with a budget that forces drops, and on the same conversation
    already trimmed once (nothing left to do: the fast path)."""
    raw = _chat(records, 20, 1100)
    cases = [_time(raw, TrimSettings(enabled=True, level=level)) for level in LEVELS]
    cases.append(_time(raw, TrimSettings(enabled=True, level="drop_oldest", budget_tokens=4000)))
    done = trim(
        raw, TrimSettings(enabled=True, level="drop_oldest"), context_window=None, max_output_tokens=0
    )
    fast = _time(done.messages, TrimSettings(enabled=True, level="drop_oldest"))
    fast["level"] = "drop_oldest, already trimmed"
    cases.append(fast)
    return {
        "user_turns": sum(1 for m in raw if m["role"] == "user"),
        "messages": len(raw),
        "tokens": count_prompt({"messages": raw}),
        "tokens_trimmed": count_prompt({"messages": done.messages}),
        "cases": cases,
    }


# ---------------------------------------------------------------- main


def _table(rows: list[dict[str, Any]], tolerance: float) -> str:
    head = (
        "| set | level | accuracy | Δ points | $ per 1k | Δ $ | tokens/prompt | saved | rerouted | refused | "
        f"within {tolerance:g} pt |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['level']} | {r['accuracy']:.2f} | {r['accuracy_change']:+.2f} | "
            f"{r['cost_per_1k']:.3f} | {r['cost_change_pct']:+.1f} % | {r['tokens_per_prompt']:.0f} | "
            f"{r['tokens_saved_pct']:.1f} % | {r['rerouted_share']:.1f} % | {r['refused']} | "
            f"{'yes' if r['within_tolerance'] else 'NO'} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="routerbench,mmlu,gsm8k,arena-bench")
    ap.add_argument("--limit", type=int, help="only the first N prompts of each set")
    ap.add_argument(
        "--router", default="learned", help="a satisfice.predict predictor name (default learned)"
    )
    ap.add_argument("--tolerance", type=float, default=0.5, help="allowed accuracy drop, points of 100")
    ap.add_argument("--json", help="also write every figure to this JSON file")
    args = ap.parse_args()
    from satisfice.predict import load_predictor

    print(__doc__.split("How it measures (printed too):\n", 1)[1])
    predictor = load_predictor(args.router)
    print(
        f"router: {args.router} ({predictor.name}); the packaged artifact was trained on these datasets, "
        "so absolute accuracy is in-sample; the differences between levels are what this measures."
    )
    print(f"settings: {', '.join(f'{k}={v}' for k, v in SETTINGS.items())}\n")
    rows: list[dict[str, Any]] = []
    bench_test: Replay | None = None
    lat: dict[str, Any] = {}
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        replay = build_replay(load_shared(name))
        if name == "routerbench":
            replay = replay.subset(
                np.array([i for i, r in enumerate(replay.records) if r.split == "test"], dtype=np.int64)
            )
            lat = latency(replay.records)  # the whole test split, whatever --limit says
        if args.limit:
            replay = replay.subset(np.arange(min(args.limit, replay.n), dtype=np.int64))
        if name == "routerbench":
            bench_test = replay
        prompts = [[dict(m) for m in r.messages] for r in replay.records]
        rows += evaluate_set(name, replay, prompts, predictor, args.tolerance)
        print(f"{name}: {replay.n} prompts done", file=sys.stderr)
    if bench_test is not None:
        rows += evaluate_set(
            "multi-turn (synthetic)", bench_test, synthetic(bench_test.records), predictor, args.tolerance
        )

    print(_table(rows, args.tolerance))
    print("\nper-prompt trim time in the replay (ms, mean):")
    for r in rows:
        if r["level"] != "none":
            print(f"  {r['set']:24s} {r['level']:13s} {r['trim_ms_per_prompt']:.3f}")
    if lat:
        print(
            f"\ntrim() latency: {lat['user_turns']} user turns, {lat['messages']} messages, {lat['tokens']} "
            f"tokens ({lat['tokens_trimmed']} once trimmed), context window 128k; median / p99 of 200 calls:"
        )
        for row in lat["cases"]:
            budget = f"budget {row['budget']}" if row["budget"] else "no budget"
            print(
                f"  {row['level']:28s} {budget:12s} {row['median_ms']:.3f} / {row['p99_ms']:.3f} ms"
                f"  exact={row['exact']} {row['actions']}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "latency": lat}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
