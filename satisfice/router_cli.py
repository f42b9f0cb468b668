"""`satisfice route` (a dry run of one prompt through a route) and `satisfice predict` (batch
quality predictions: the stable interface the router is judged through)."""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any

import orjson

from satisfice.catalog import ModelInfo, load_catalog
from satisfice.errors import GatewayError

PREDICT_BATCH = 256


def add_route_parser(sub: Any) -> None:
    p = sub.add_parser("route", help="dry run: which model a route would pick for a prompt, and why")
    p.add_argument("prompt", help="the user message")
    p.add_argument("--route", default="auto")
    p.add_argument(
        "--knob", help="override the route's knob, e.g. quality=0.9, loss=0.05, share=0.3, wtp=0.01"
    )
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--config")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_route)


def cmd_route(args: argparse.Namespace) -> int:
    from satisfice.config import load_settings
    from satisfice.routing.constraints import needs_of
    from satisfice.wiring import build

    parts = build(load_settings(args.config), with_ledger=False)
    body: dict[str, Any] = {"model": args.route, "messages": [{"role": "user", "content": args.prompt}]}
    if args.max_tokens:
        body["max_tokens"] = args.max_tokens
    try:
        plan = parts.planner.plan(args.route, needs_of(body), args.knob)
    except GatewayError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    order = list(dict.fromkeys(t.dep.model for t in plan.targets))
    out = {
        "route": plan.route,
        "strategy": plan.strategy,
        "knob": plan.knob,
        "choice": order[0],
        "provider": plan.targets[0].dep.provider,
        "reason": plan.reason,
        "fallback_order": order,
        "candidates": [
            {"model": m, "predicted_quality": round(q, 4), "estimated_cost_usd": c}
            for m, (q, c) in (plan.scores or {}).items()
        ],
    }
    if args.json:
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(f"route {plan.route} ({plan.strategy}{', ' + plan.knob if plan.knob else ''})")
    if plan.scores:
        print(f"  {'candidate':<34} {'predicted':>9} {'est. cost $':>12}")
        for m, (q, c) in sorted(plan.scores.items(), key=lambda kv: kv[1][1]):
            mark = "->" if m == order[0] else "  "
            print(f"{mark}{m[:34]:<34} {q:>9.3f} {c:>12.7f}")
    else:
        print("  fallback order: " + ", ".join(order))
    print(f"choice: {order[0]} via {out['provider']}")
    print(f"reason: {plan.reason}")
    return 0


def add_predict_parser(sub: Any) -> None:
    p = sub.add_parser("predict", help="predicted quality per model for JSONL prompts on stdin")
    p.add_argument(
        "--models",
        required=True,
        help="comma-separated catalog ids, e.g. gpt-4-1106-preview,mixtral-8x7b-instruct",
    )
    p.add_argument("--router", default="learned", help="learned | heuristic | random | prior")
    p.set_defaults(func=cmd_predict)


def resolve_models(names: list[str]) -> list[ModelInfo]:
    catalog = load_catalog()
    out = []
    for name in names:
        found = catalog.lookup_loose(name)
        if not found:
            raise KeyError(name)
        out.append(found[0])
    return out


def cmd_predict(
    args: argparse.Namespace, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None
) -> int:
    from satisfice.predict import load_predictor

    src = stdin or sys.stdin.buffer
    dst = stdout or sys.stdout.buffer
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    try:
        models = resolve_models(names)
    except KeyError as e:
        print(
            f"error: unknown model {e.args[0]!r} (not in the catalog; see `satisfice models`)",
            file=sys.stderr,
        )
        return 2
    predictor = load_predictor(args.router)
    batch: list[tuple[str, list[dict[str, Any]]]] = []

    def flush() -> None:
        quality = predictor.predict_many([m for _, m in batch], models)
        for (rid, _), row in zip(batch, quality, strict=True):
            line = {"id": rid, "quality": {n: round(float(q), 6) for n, q in zip(names, row, strict=True)}}
            dst.write(orjson.dumps(line) + b"\n")
        batch.clear()

    for i, raw in enumerate(src, 1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            print(f"error: line {i}: not valid JSON ({e})", file=sys.stderr)
            return 2
        messages = obj.get("messages") if isinstance(obj, dict) else None
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            print(f"error: line {i}: 'messages' must be a non-empty list of chat messages", file=sys.stderr)
            return 2
        batch.append((obj.get("id", str(i)), messages))
        if len(batch) >= PREDICT_BATCH:
            flush()
    if batch:
        flush()
    dst.flush()
    return 0
