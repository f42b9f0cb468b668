"""`satisfice route` (a dry run of one prompt through a route) and `satisfice predict` (batch
quality predictions: the stable interface the router is judged through)."""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path
from typing import IO, Any

import orjson

from satisfice.catalog import ModelInfo, load_catalog
from satisfice.errors import GatewayError

PREDICT_BATCH = 256
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark some editors put at the start of a file


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
    p = sub.add_parser(
        "predict",
        help="predicted quality per model for JSONL prompts on stdin",
        description='Read lines {"id": ..., "messages": [...]} on stdin and write {"id": ..., "quality": '
        '{"MODEL": p}} per line on stdout, in input order. A bad line is reported on stderr as '
        "`line N: ...` and skipped (the others are still predicted); the exit code is then 2.",
    )
    p.add_argument(
        "--models",
        required=True,
        help="comma-separated catalog ids, e.g. gpt-4-1106-preview,mixtral-8x7b-instruct",
    )
    p.add_argument(
        "--router",
        default="learned",
        help="learned | heuristic | random | prior | PATH.npz (from satisfice train)",
    )
    p.set_defaults(func=cmd_predict)


class BadLine(ValueError):
    """One input line `satisfice predict` cannot predict for (it is skipped and reported)."""


def resolve_models(names: list[str]) -> list[ModelInfo]:
    """Catalog entries for --models, read loosely (case, '_' for '-', a snapshot's version tag the
    catalog does not list), as chat models. Two spellings of one model are fine (each gets its own
    column); one name given twice is not. ValueError names the flag and the model at fault."""
    catalog = load_catalog()
    if not names:
        raise ValueError("--models: no model given (a comma-separated list of catalog ids)")
    out: list[ModelInfo] = []
    seen: set[str] = set()
    for name in names:
        found, matched = catalog.lookup_versionless(name)
        if not found:
            raise ValueError(f"--models: unknown model {name!r} (not in the catalog; see `satisfice models`)")
        info = found[0]
        if info.kind != "chat":
            raise ValueError(
                f"--models: {name!r} is an {info.kind} model, not a chat model: it has no answer quality"
            )
        if name in seen:
            raise ValueError(f"--models: {name!r} is given twice")
        seen.add(name)
        if matched != name:
            print(f"note: --models: {name!r} is not in the catalog; predicted as {info.id}", file=sys.stderr)
        out.append(info)
    return out


def parse_line(raw: bytes) -> tuple[str | int | float, list[dict[str, Any]]]:
    """The id and messages of one input line; BadLine says what is wrong with it."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BadLine(f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise BadLine(f"expected a JSON object with 'id' and 'messages', got {type(obj).__name__}")
    rid = obj.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (str, int, float)):
        got = "missing" if "id" not in obj else f"got {orjson.dumps(rid).decode()[:40]}"
        raise BadLine(f"'id' must be a string or a number ({got})")
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise BadLine("'messages' must be a non-empty list of chat messages")
    return rid, messages


def _load_router(name: str) -> Any:
    from satisfice.predict import load_predictor

    if name.endswith(".npz") and not Path(name).is_file():
        raise ValueError(f"--router {name}: no such artifact file")
    try:
        return load_predictor(name)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as e:
        if Path(name).with_suffix(".npz").is_file():
            raise ValueError(f"--router {name}: not an artifact written by `satisfice train`") from None
        raise ValueError(f"--router {name}: {e}") from None


def cmd_predict(
    args: argparse.Namespace, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None
) -> int:
    """Predictions for every good input line, in input order; each bad line is reported on stderr and
    skipped, and the exit code is 2 when there was one."""
    src = stdin or sys.stdin.buffer
    dst = stdout or sys.stdout.buffer
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    try:
        models = resolve_models(names)
        predictor = _load_router(args.router)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    batch: list[tuple[str | int | float, list[dict[str, Any]]]] = []

    def flush() -> None:
        quality = predictor.predict_many([m for _, m in batch], models)
        for (rid, _), row in zip(batch, quality, strict=True):
            line = {"id": rid, "quality": {n: round(float(q), 6) for n, q in zip(names, row, strict=True)}}
            dst.write(orjson.dumps(line) + b"\n")
        batch.clear()

    bad = good = 0
    for i, raw in enumerate(src, 1):
        if i == 1:
            raw = raw.removeprefix(BOM)
        if not raw.strip():
            continue
        try:
            batch.append(parse_line(raw))
            good += 1
        except BadLine as e:
            print(f"error: line {i}: {e}", file=sys.stderr)
            bad += 1
            continue
        if len(batch) >= PREDICT_BATCH:
            flush()
    if batch:
        flush()
    dst.flush()
    if bad:
        print(f"error: {bad} bad line(s) skipped; predictions written for the other {good}", file=sys.stderr)
        return 2
    return 0
