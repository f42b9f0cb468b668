"""`satisfice train`: fit the learned predictor on the shared datasets and/or canonical JSONL files and
write the artifact (`.npz`) with its JSON record of data and settings. Weights equal to those of the
artifact already at the output path (byte for byte, or within the rounding another CPU gives: see
`_same_weights`) leave it, and its record (measured figures included), untouched."""

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

    packaged = ARTIFACT_DIR / ARTIFACT
    p: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="fit the learned quality predictor and write its artifact",
        description=(
            "Fit the router's quality predictor (numpy, CPU, deterministic given --seed) on the shared "
            f"datasets ({', '.join(DEFAULT_DATA)}) plus any --data, and write PATH.npz + PATH.json (data "
            f"and settings). Without --out it rebuilds the packaged artifact {packaged}.npz in place, and "
            "only from its recipe (the shared datasets alone, default settings, seed 0): any --data file, "
            "--no-shared, --set or other --seed needs --out, so no experiment overwrites the shipped model. "
            "When the trained weights equal those of the artifact already at PATH (byte for byte on the "
            "CPU kind that trained it, else within floating-point rounding), nothing is rewritten: its "
            "record (with any figures measured on it) is kept."
        ),
    )
    p.add_argument(
        "--data",
        action="append",
        metavar="NAME_OR_PATH",
        help="a canonical JSONL file (or a shared dataset name) trained on IN ADDITION to the shared "
        "datasets; repeatable",
    )
    p.add_argument(
        "--no-shared",
        action="store_true",
        help="train on the --data given only, without the shared datasets",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        default=str(packaged),
        help=f"artifact path without suffix: writes OUT.npz and OUT.json (default: the packaged artifact "
        f"{packaged}, for its own recipe only; required with a --data file, --no-shared, --set or --seed)",
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


class TrainError(Exception):
    """A `satisfice train` request it cannot carry out; printed as one line, exit code 2."""


def _is_shared(name: str) -> bool:
    from satisfice.data.shared import ALIASES, SHARED

    return name in SHARED or name in ALIASES


def _key(name: str) -> str:
    """What a --data value names: a shared dataset's canonical name, else the file's resolved path."""
    from satisfice.data.shared import ALIASES

    return ALIASES.get(name, name) if _is_shared(name) else str(Path(name).resolve())


def data_names(extra: Sequence[str], no_shared: bool) -> list[str]:
    """The datasets to train on: the shared ones (unless `no_shared`), then each --data once."""
    if no_shared and not extra:
        raise TrainError("--no-shared needs at least one --data NAME_OR_PATH to train on")
    names: list[str] = [] if no_shared else list(DEFAULT_DATA)
    seen = {_key(n) for n in names}
    for name in extra:
        if _key(name) not in seen:
            seen.add(_key(name))
            names.append(name)
    return names


def _off_recipe(args: argparse.Namespace) -> str | None:
    """The first option that departs from the packaged artifact's recipe (the shared datasets alone,
    default settings, seed 0), or None when the run rebuilds it."""
    if getattr(args, "no_shared", False):
        return "--no-shared"
    own = [n for n in args.data or [] if not _is_shared(n)]
    if own:
        return f"--data {own[0]}"
    if args.set:
        return f"--set {args.set[0]}"
    return f"--seed {args.seed}" if args.seed != 0 else None


def out_stem(args: argparse.Namespace) -> tuple[Path, bool]:
    """Where the artifact goes, and whether that is the packaged one. --out defaults to it (as a path:
    scripts/train_router.py reads args.out), but only its own recipe may rebuild it."""
    from satisfice.predict.learned import ARTIFACT, ARTIFACT_DIR, artifact_stem

    stem = artifact_stem(args.out)
    packaged = stem.resolve() == (ARTIFACT_DIR / ARTIFACT).resolve()
    off = _off_recipe(args)
    if packaged and off:
        raise TrainError(
            f"{off}: pass --out PATH; the packaged artifact {ARTIFACT_DIR / ARTIFACT} (the default --out) is "
            "rebuilt only by its own recipe: the shared datasets alone, default settings, seed 0"
        )
    return stem, packaged


def load_training_data(names: Sequence[str]) -> list[tuple[str, Dataset]]:
    from satisfice.data.jsonl import load_dataset

    out = []
    for name in names:
        try:
            ds = load_dataset(name)
        except KeyError as e:
            raise TrainError(f"--data {name}: {e.args[0] if e.args else e}") from None
        except (FileNotFoundError, ValueError) as e:
            raise TrainError(f"--data {name}: {e}") from None
        if not ds.records:
            raise TrainError(f"--data {name}: no records in it (an empty file?)")
        out.append((name, ds))
    return out


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
    else:  # hashed as it was read (a pipe, `--data <(...)`, gives its bytes once)
        out["source"] = {str(Path(name).name): ds.meta.get("sha256") or _sha256(Path(name))}
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


def _prepare(args: argparse.Namespace) -> tuple[dict[str, Any], list[tuple[str, Dataset]], Path, bool]:
    from satisfice.predict.train import Settings

    extra = list(args.data or [])
    no_shared = bool(getattr(args, "no_shared", False))
    try:
        settings = parse_settings(getattr(args, "set", None) or [])
        Settings.make(**settings)
    except ValueError as e:
        raise TrainError(str(e)) from None
    except TypeError as e:
        raise TrainError(f"--set: {e}") from None
    names = data_names(extra, no_shared)
    stem, packaged = out_stem(args)
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TrainError(f"--out {stem}: cannot create its folder ({e.strerror or e})") from None
    return settings, load_training_data(names), stem, packaged


def _command(args: argparse.Namespace, names: Sequence[str], packaged: bool) -> str:
    """The `satisfice train` command line that reproduces this artifact."""
    no_shared = bool(getattr(args, "no_shared", False))
    extra = names if no_shared else names[len(DEFAULT_DATA) :]
    parts = ["satisfice train", *(["--no-shared"] if no_shared else []), *(f"--data {n}" for n in extra)]
    parts += [f"--seed {args.seed}", *(f"--set {s}" for s in args.set or [])]
    return " ".join(parts + ([] if packaged else [f"--out {args.out}"]))


def train_command(args: argparse.Namespace) -> int:
    from satisfice.predict.learned import artifact_files
    from satisfice.predict.train import fit

    try:
        settings, datasets, stem, packaged = _prepare(args)
    except TrainError as e:
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
    try:
        pred = fit(records, seed=args.seed, **settings)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    pred.meta["data"] = [data_record(n, ds) for n, ds in datasets]
    pred.meta["command"] = _command(args, [n for n, _ in datasets], packaged)
    print(
        f"fit   {len(records)} records, {len(pred.params.seen)} models seen, seed {args.seed}: "
        f"train loss {pred.meta['train_loss']:.4f} in {pred.meta['train_seconds']} s"
    )
    what = " (the packaged artifact: the `learned` router loads it)" if packaged else ""
    npz, js = artifact_files(stem)
    if _reproduced(npz, js, pred.npz_bytes()):
        print(
            f"reproduced {npz} unchanged{what}: the trained weights equal its own, so its "
            f"record {js} (with any measured figures) is kept as it is"
        )
        return 0
    dropped = _evaluated(js)
    try:
        npz, js = pred.save(stem)
    except OSError as e:
        print(f"error: --out {stem}: cannot write the artifact ({e.strerror or e})", file=sys.stderr)
        return 2
    print(f"wrote {npz} ({npz.stat().st_size / 1e6:.2f} MB) and {js}{what}")
    if dropped:
        print(
            f"      the new weights differ from the ones the old record's measured figures were for: "
            f"{js} no longer has them (`python scripts/train_router.py --report` measures these)"
        )
    return 0


def _reproduced(npz: Path, js: Path, weights: bytes) -> bool:
    """Whether the artifact at `npz` (with its record `js`) already holds these weights: then
    rewriting it would only lose its record's measured figures (written by `--report`)."""
    try:
        return js.is_file() and npz.is_file() and _same_weights(npz.read_bytes(), weights)
    except (OSError, ValueError):
        return False


# Training is deterministic on one kind of CPU; another kind's vector kernels round the last bits
# differently (seen: the shipped artifact retrained on an AMD EPYC gave float64 weights within 2e-5
# of its own, relative, and float16 reference features one unit in the last place apart). Those are
# the same model. Tolerances by the arrays' item size: a few float16 ulps, well under 1e-3 for float64.
_TOLERANCE = {2: (2.0**-9, 2.0**-14), 4: (1e-4, 1e-6), 8: (1e-4, 1e-6)}  # (rtol, atol)


def _same_weights(old: bytes, new: bytes) -> bool:
    """Two .npz files hold the same arrays: the same names, shapes and dtypes, equal integers, and
    floats within `_TOLERANCE`."""
    if old == new:
        return True
    import io

    import numpy as np

    with np.load(io.BytesIO(old)) as before, np.load(io.BytesIO(new)) as after:
        if sorted(before.files) != sorted(after.files):
            return False
        for name in before.files:
            x, y = before[name], after[name]
            if x.shape != y.shape or x.dtype != y.dtype:
                return False
            if x.dtype.kind != "f":
                if not np.array_equal(x, y):
                    return False
                continue
            rtol, atol = _TOLERANCE.get(x.dtype.itemsize, (0.0, 0.0))
            if not np.allclose(y, x, rtol=rtol, atol=atol):
                return False
    return True


def _evaluated(js: Path) -> bool:
    """Whether the record at `js` carries measured figures (its "evaluation", from `--report`)."""
    try:
        return "evaluation" in json.loads(js.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False
