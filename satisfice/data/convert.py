"""`satisfice data convert`: the shared benchmark datasets as canonical JSONL files.

The canonical JSONL format
--------------------------
One JSON object per line, one line per prompt (UTF-8, no header line):

    {"id": "arc-challenge.123", "family": "arc-challenge", "split": "train",
     "messages": [{"role": "user", "content": "..."}],
     "outcomes": {"gpt-4-1106-preview": {"quality": 1.0, "cost_usd": 0.00231, "response": "..."},
                  "mixtral-8x7b-instruct": {"quality": 0.0, "cost_usd": 0.00012}}}

  id        required, unique: a string, or a number read as its JSON text (so 1 and "1" are one id).
  messages  required, non-empty list of OpenAI chat messages: what the router sees. Roles are the
            API's (system, developer, user, assistant, tool, function; not "human"), and at least one
            message has role "user".
  outcomes  required, non-empty: model id -> outcome of that model on this prompt. A name the catalog
            knows, even loosely written ("GPT-4-1106-Preview", "mixtral_8x7b_instruct", an alias), is
            read as its catalog id (two names for one model on a line are an error):
              quality   required, number in [0, 1]; 1 = fully good (correct, preferred, top judge score).
                        0/1 correctness for benchmarks, judge score / 10 for arena-bench, for pairwise
                        votes 1 / 0 for winner / loser, 0.5 / 0.5 for a tie, 0 / 0 for "both bad".
              cost_usd  optional, what the call cost in US dollars (prompt + completion).
              response  optional, the model's answer text.
  family    optional task family ("mmlu", "gsm8k", "arc-challenge", "mbpp", "winogrande", "arena-chat", ...).
  split     optional, "train" or "test" when the source defines a split (evaluations then train on
            "train" and score "test"; lines with another split or none are left out, and counted).

A file is dense when every line has an outcome for every model of the file; it is pairwise when it
is not dense and every line is a human vote between two models (exactly two outcomes whose qualities
are 1 / 0, 0.5 / 0.5 or 0 / 0). Any other file is sparse: `satisfice eval` replays it on a set of
models (`--models`, else chosen to keep the most prompts) and drops, and counts, the lines lacking
one of them. Files are
read with `satisfice.data.jsonl.read_jsonl` / `load_dataset(path)`; lines are validated and errors
name the line and key. The dataset's name is the file name without `.jsonl`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from satisfice.data.jsonl import write_jsonl
from satisfice.data.records import Dataset
from satisfice.data.shared import ALIASES, SHARED, load_shared

DEFAULT_OUT = "canonical-data"


def load_named(names: Sequence[str]) -> list[Dataset]:
    """The named shared datasets (aliases allowed, each dataset once); KeyError for an unknown name."""
    canonical = list(dict.fromkeys(ALIASES.get(n, n) for n in names))
    unknown = [n for n in canonical if n not in SHARED]
    if unknown:
        raise KeyError(f"unknown dataset(s) {', '.join(unknown)} (known: {', '.join(SHARED)})")
    return [load_shared(name) for name in canonical]


def write_datasets(datasets: Sequence[Dataset], out: str | Path | IO[bytes]) -> dict[str, int]:
    """Write datasets as canonical JSONL: into `out`/<name>.jsonl when `out` is a folder path, or all to
    one binary stream, where each id is prefixed with its dataset's name when there are several (ids
    are unique within a dataset only: arena-bench and arena-battles share prompt ids). Returns the
    number of records written per dataset."""
    counts: dict[str, int] = {}
    for dataset in datasets:
        if isinstance(out, (str, Path)):
            folder = Path(out)
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"{dataset.name}.jsonl").open("wb") as f:
                counts[dataset.name] = write_jsonl(dataset.records, f)
        elif len(datasets) > 1:
            named = (dataclasses.replace(r, id=f"{dataset.name}:{r.id}") for r in dataset.records)
            counts[dataset.name] = write_jsonl(named, out)
        else:
            counts[dataset.name] = write_jsonl(dataset.records, out)
    return counts


def convert(names: Sequence[str], out: str | Path | IO[bytes]) -> dict[str, int]:
    """Write each named shared dataset as canonical JSONL (see `write_datasets`)."""
    return write_datasets(load_named(names), out)


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
        help=f"output folder (one NAME.jsonl each; default {DEFAULT_OUT}), a PATH.jsonl for one file holding "
        "every selected dataset, or - for stdout (one file or stdout with several datasets: each id is "
        "prefixed with its dataset's name, NAME:ID, to stay unique)",
    )
    c.add_argument("--force", action="store_true", help="overwrite output files that already exist")
    c.set_defaults(func=cmd_convert)
    return p


class OutError(Exception):
    """An --out that cannot be written as asked."""


def _check_out(out: Path, names: Sequence[str], force: bool) -> None:
    """Refuse an --out of the wrong kind and, without --force, one whose output files exist."""
    if out.suffix == ".jsonl":
        if out.is_dir():
            raise OutError(f"--out {out}: is a directory; a .jsonl path names one output file")
        files = [out]
    else:
        if out.exists() and not out.is_dir():
            raise OutError(f"--out {out}: a file exists there; --out names a folder, a PATH.jsonl file or -")
        files = [out / f"{ALIASES.get(n, n)}.jsonl" for n in names]
    existing = [str(f) for f in files if f.exists()]
    if existing and not force:
        raise OutError(f"--out: {', '.join(existing)} already exists; pass --force to overwrite")


def _write(datasets: Sequence[Dataset], out: Path | None) -> dict[str, int]:
    if out is None:
        counts = write_datasets(datasets, sys.stdout.buffer)
        sys.stdout.flush()
        return counts
    if out.suffix != ".jsonl":
        return write_datasets(datasets, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        return write_datasets(datasets, f)


def cmd_convert(args: argparse.Namespace) -> int:
    names = args.dataset or list(SHARED)
    out = None if args.out == "-" else Path(args.out)
    try:
        if out is not None:
            _check_out(out, names, args.force)
        datasets = load_named(names)
    except (KeyError, FileNotFoundError, OutError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"satisfice data convert: {message}", file=sys.stderr)
        return 2
    try:
        counts = _write(datasets, out)
    except BrokenPipeError:  # `... --out - | head`: satisfice.cli.main ends the run quietly
        raise
    except OSError as e:
        where = f" {e.filename}" if e.filename is not None else ""
        print(
            f"satisfice data convert: --out {args.out}: cannot write{where} ({e.strerror or e})",
            file=sys.stderr,
        )
        return 2
    for name, n in counts.items():
        print(f"{name}: {n} records -> {_where(args.out, name)}", file=sys.stderr)
    return 0


def _where(out: str, name: str) -> str:
    if out == "-":
        return "stdout"
    return out if out.endswith(".jsonl") else str(Path(out) / f"{name}.jsonl")
