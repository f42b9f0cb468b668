"""`satisfice data convert`: the shared benchmark datasets as canonical JSONL files.

The canonical JSONL format
--------------------------
One JSON object per line, one line per prompt (UTF-8, no header line):

    {"id": "arc-challenge.123", "family": "arc-challenge", "split": "train",
     "messages": [{"role": "user", "content": "..."}],
     "outcomes": {"gpt-4-1106-preview": {"quality": 1.0, "cost_usd": 0.00231, "response": "..."},
                  "mixtral-8x7b-instruct": {"quality": 0.0, "cost_usd": 0.00012}}}

  id        required, unique string.
  messages  required, non-empty list of OpenAI chat messages: what the router sees.
  outcomes  model id (a catalog id or alias) -> outcome of that model on this prompt:
              quality   required, number in [0, 1]; 1 = fully good (correct, preferred, top judge score).
                        0/1 correctness for benchmarks, judge score / 10 for arena-bench, for pairwise
                        votes 1 / 0 for winner / loser, 0.5 / 0.5 for a tie, 0 / 0 for "both bad".
              cost_usd  optional, what the call cost in US dollars (prompt + completion).
              response  optional, the model's answer text.
  family    optional task family ("mmlu", "gsm8k", "arc-challenge", "mbpp", "winogrande", "arena-chat", ...).
  split     optional, "train" or "test" when the source defines a split (evaluations then train on
            "train" and score "test").

A file is dense when every line has an outcome for every model of the file; it is pairwise when it
is not dense and every line has exactly two outcomes (a human vote between two models). Files are
read with `satisfice.data.jsonl.read_jsonl` / `load_dataset(path)`; lines are validated and errors
name the line and key. The dataset's name is the file name without `.jsonl`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from satisfice.data.jsonl import write_jsonl
from satisfice.data.shared import ALIASES, SHARED, load_shared

DEFAULT_OUT = "canonical-data"


def convert(names: Sequence[str], out: str | Path | IO[bytes]) -> dict[str, int]:
    """Write each named shared dataset as canonical JSONL: into `out`/<name>.jsonl when `out` is a
    folder path, or all to one binary stream. Returns the number of records written per dataset."""
    canonical = [ALIASES.get(n, n) for n in names]
    unknown = [n for n in canonical if n not in SHARED]
    if unknown:
        raise KeyError(f"unknown dataset(s) {', '.join(unknown)} (known: {', '.join(SHARED)})")
    counts: dict[str, int] = {}
    for name in canonical:
        dataset = load_shared(name)
        if isinstance(out, (str, Path)):
            folder = Path(out)
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"{name}.jsonl").open("wb") as f:
                counts[name] = write_jsonl(dataset.records, f)
        else:
            counts[name] = write_jsonl(dataset.records, out)
    return counts


def add_data_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `data convert` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser("data", help="labelled routing data")
    sub = p.add_subparsers(dest="data_command", required=True)
    c = sub.add_parser(
        "convert",
        help="write the shared datasets as canonical JSONL",
        description="Write the shared datasets as canonical JSONL (format: see satisfice/data/convert.py).",
    )
    c.add_argument(
        "--dataset",
        action="append",
        choices=sorted([*SHARED, *ALIASES]),
        help=f"a shared dataset (repeatable; default: all of {', '.join(SHARED)})",
    )
    c.add_argument(
        "--out",
        default=DEFAULT_OUT,
        help=f"output folder (one NAME.jsonl each) or - for stdout (default {DEFAULT_OUT})",
    )
    c.set_defaults(func=cmd_convert)
    return p


def cmd_convert(args: argparse.Namespace) -> int:
    names = args.dataset or list(SHARED)
    try:
        if args.out == "-":
            counts = convert(names, sys.stdout.buffer)
            sys.stdout.flush()
        else:
            counts = convert(names, args.out)
    except (KeyError, FileNotFoundError) as e:
        print(f"satisfice data convert: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... --out - | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    for name, n in counts.items():
        where = "stdout" if args.out == "-" else str(Path(args.out) / f"{name}.jsonl")
        print(f"{name}: {n} records -> {where}", file=sys.stderr)
    return 0
