"""`satisfice train`: fit the learned predictor on the shared datasets and/or canonical JSONL files and
write the artifact (`.npz`) with its JSON record of data and settings."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from satisfice.data.records import Dataset, Record

DEFAULT_DATA = ("routerbench", "mmlu", "gsm8k", "arena-bench", "arena-battles")


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `train` on an argparse sub-parser set (satisfice/cli.py wires it in)."""
    from satisfice.predict.learned import ARTIFACT, ARTIFACT_DIR

    p: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="fit the learned quality predictor and write its artifact",
        description="Fit the router's quality predictor (numpy, CPU, deterministic given --seed) on shared "
        "datasets by name and/or canonical JSONL files, and write PATH.npz + PATH.json (data and settings).",
    )
    p.add_argument(
        "--data",
        action="append",
        metavar="NAME_OR_PATH",
        help=f"dataset name or JSONL path; repeatable (default: {', '.join(DEFAULT_DATA)})",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        default=str(ARTIFACT_DIR / ARTIFACT),
        help="artifact path without suffix (default: the packaged artifact)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="a training setting, e.g. --set rank=8 --set l2_v=0.01 (see predict/train.py Settings)",
    )
    p.set_defaults(func=train_command)
    return p


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_record(name: str, ds: Dataset) -> dict[str, Any]:
    """What a dataset was: name, source files with content hashes, row and family counts."""
    from satisfice.data.shared import ALIASES, SHARED, data_root

    out: dict[str, Any] = {
        "name": ds.name,
        "rows": len(ds.records),
        "models": len(ds.models),
        "pairwise": ds.pairwise,
        "families": {},
    }
    for r in ds.records:
        out["families"][r.family] = out["families"].get(r.family, 0) + 1
    canon = ALIASES.get(name, name)
    if canon in SHARED:
        folder = data_root() / SHARED[canon][0]
        out["source"] = {f"{SHARED[canon][0]}/{f.name}": _sha256(f) for f in sorted(folder.glob("*.gz"))}
    else:
        out["source"] = {str(Path(name).name): _sha256(Path(name))}
    return out


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def train_command(args: argparse.Namespace) -> int:
    from satisfice.data.jsonl import load_dataset
    from satisfice.predict.train import Settings, fit

    names = list(args.data or DEFAULT_DATA)
    try:
        settings = parse_settings(getattr(args, "set", None) or [])
        Settings.make(**settings)
        datasets = [(n, load_dataset(n)) for n in names]
    except (ValueError, TypeError, FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    records: list[Record] = []
    pairwise = set(settings.get("pairwise_families", ()))
    for name, ds in datasets:
        records.extend(ds.records)
        if ds.pairwise:
            pairwise |= {r.family or "unlabelled" for r in ds.records}
        print(
            f"data  {name}: {len(ds.records)} records, {len(ds.models)} models"
            f"{' (pairwise votes)' if ds.pairwise else ''}"
        )
    if pairwise:
        settings["pairwise_families"] = sorted(pairwise | {"arena-battle"})
    pred = fit(records, seed=args.seed, **settings)
    pred.meta["data"] = [data_record(n, ds) for n, ds in datasets]
    pred.meta["command"] = "satisfice train " + " ".join(
        [*(f"--data {n}" for n in names), f"--seed {args.seed}", *(f"--set {s}" for s in args.set or [])]
    )
    npz, js = pred.save(Path(args.out))
    print(
        f"fit   {len(records)} records, {len(pred.params.seen)} models seen, seed {args.seed}: "
        f"train loss {pred.meta['train_loss']:.4f} in {pred.meta['train_seconds']} s"
    )
    print(f"wrote {npz} ({npz.stat().st_size / 1e6:.2f} MB) and {js}")
    return 0
