"""`satisfice eval`: argparse registration and the command. The lead wires it into satisfice/cli.py:

    from satisfice.evals import add_data_parser, add_eval_parser
    add_eval_parser(sub); add_data_parser(sub)      # sub = parser.add_subparsers(...)

Each registered sub-command sets `func` (returns the exit code): 0 ok, 2 for data or requests the
evaluation cannot handle (the message goes to stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from satisfice.evals.progress import Progress
from satisfice.evals.protocols import ROUTERS


def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        help="replay a labelled dataset under a router: cost-quality curve, RouteLLM metrics",
        description=(
            "Replay a dataset of per-prompt, per-model quality and cost, sweep the cost/quality knob and "
            "write JSON plus a PNG plot. No prompt is scored by a predictor trained on it."
        ),
    )
    p.add_argument("--dataset", required=True, help="a shared dataset name or a canonical JSONL file")
    p.add_argument(
        "--router",
        default="learned",
        choices=ROUTERS,
        help="learned (default): refitted on the data's train split or other folds, never the packaged "
        "artifact; learned-artifact: the packaged artifact as is; heuristic, random, prior: no training",
    )
    p.add_argument(
        "--models",
        help="comma-separated models to evaluate; prompts lacking any of them are dropped and counted "
        "(default: every model, or the models that keep the most prompts when that drops most)",
    )
    p.add_argument("--limit", type=int, help="score only the first N prompts the protocol scores")
    p.add_argument(
        "--knobs",
        help="comma-separated knob settings to replay instead of the sweep, e.g. quality=0.8,wtp=0.1",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--out", help="output folder (default eval-results/<dataset>-<router>/)")
    p.add_argument("--folds", type=int, help="k-fold CV (default: the data's train/test split, else 5 folds)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-on", help="learned router: train on these datasets (NAME[,NAME]) and score all")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    live = p.add_argument_group("--live: the real gateway on 127.0.0.1, answers replayed from the data")
    live.add_argument("--live", action="store_true", help="send the prompts through the real gateway")
    live.add_argument(
        "--route",
        help=(
            "the route under test: a strategy, an inline YAML body "
            "('{strategy: cascade, cascade: {agreement: true}}') or a YAML file with one (default: auto)"
        ),
    )
    live.add_argument("--concurrency", type=int, help="requests in flight (default 8)")
    live.add_argument(
        "--learn",
        action="store_true",
        help="learning from feedback: half the prompts teach (feedback on every answer, one gate check), "
        "the other half is scored next to a gateway that did not learn",
    )
    p.set_defaults(func=cmd_eval)
    return p


def cmd_eval(args: argparse.Namespace) -> int:
    if getattr(args, "live", False):
        from satisfice.evals.live import cmd_live

        return cmd_live(args)
    live_only = [flag for flag, given in LIVE_ONLY.items() if getattr(args, given) not in (None, False)]
    if live_only:
        # Offline replay has no gateway: a route, concurrency or learning would be silently ignored.
        print(f"satisfice eval: {', '.join(live_only)} needs --live (the real gateway)", file=sys.stderr)
        return 2
    return run_and_write(args, "satisfice eval", _offline, "")


LIVE_ONLY = {"--route": "route", "--concurrency": "concurrency", "--learn": "learn"}


def split_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _offline(args: argparse.Namespace, progress: Progress) -> tuple[dict[str, Any], dict[str, bytes]]:
    from satisfice.evals.evaluate import evaluate
    from satisfice.evals.select import parse_models

    result = evaluate(
        args.dataset,
        args.router,
        folds=args.folds,
        seed=args.seed,
        train_on=split_list(args.train_on),
        progress=progress,
        models=parse_models(args.models),
        limit=args.limit,
        knobs=split_list(args.knobs),
    )
    return result, {}


Run = Callable[[argparse.Namespace, Progress], tuple[dict[str, Any], dict[str, bytes]]]


def run_and_write(args: argparse.Namespace, prog: str, run: Run, suffix: str) -> int:
    """Create the output folder, run the evaluation, write result.json + curve.png (and the run's extra
    files) and print the result; a bad input or an unwritable --out is one line on stderr, exit 2."""
    from satisfice.evals.replay import EvalError
    from satisfice.evals.report import (
        default_out_dir,
        make_out_dir,
        out_error,
        remove_new_dirs,
        write_outputs,
    )

    route = getattr(args, "route", None) if suffix else None
    out = Path(args.out) if args.out else Path(f"{default_out_dir(args.dataset, args.router)}{suffix}")
    if route and not args.out:  # runs of several routes do not overwrite each other
        out = Path(f"{default_out_dir(args.dataset, args.router, route)}{suffix}")
    try:
        created = make_out_dir(out)
    except OSError as e:
        print(f"{prog}: {out_error(out, e)}", file=sys.stderr)
        return 2
    progress = Progress(enabled=not args.no_progress)
    try:
        result, extra = run(args, progress)
    except EvalError as e:
        progress.close()
        remove_new_dirs(created)
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except BaseException:
        remove_new_dirs(created)  # an unexpected crash (or ^C) leaves no empty folder behind
        raise
    progress.close()
    for note in result.get("notes", []):
        print(f"{prog}: note: {note}", file=sys.stderr)  # also with --json, whose stdout is the JSON
    try:
        write_outputs(result, out)
        for name, data in extra.items():
            (out / name).write_bytes(data)
    except OSError as e:
        print(f"{prog}: {out_error(out, e)}", file=sys.stderr)
        return 2
    _print(args, result)
    return 0


def _print(args: argparse.Namespace, result: dict[str, Any]) -> None:
    from satisfice.evals.report import render_text

    if args.json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        return
    print(render_text(result))
    if result.get("live"):
        where = Path(result["files"]["json"]).parent / "requests.jsonl"
        print(f"per request: {where}; {result['latency_note']}")
