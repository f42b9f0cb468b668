"""Train the router's quality predictor and (with --report) measure it under leakage-free protocols.

    python scripts/train_router.py           # = satisfice train (writes predict/artifacts/quality-v1.*)
    python scripts/train_router.py --report  # + every target figure (baselines too), saved in the JSON
    python scripts/train_router.py --report-only --parts mmlu,gsm8k --k 3 --baselines ""

Protocols (no prompt is ever scored by a model trained on it; a test prompt's text is also removed from
every training set, since all Arena-Bench prompts reappear in arena-battles):
  in-family    RouterBench: its train/test split; MMLU, GSM8K, Arena-Bench: k-fold by prompt text;
               training always includes the other datasets too
  cross-family the dataset left out of training entirely (leave-one-dataset-out)
  unseen models six Arena-Bench models removed from all training data
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from satisfice.data.records import Record
from satisfice.predict import load_predictor
from satisfice.predict.base import QualityPredictor
from satisfice.predict.cli import add_train_parser, parse_settings, train_command

BASELINES = ("random", "heuristic", "prior")


def fitter_for(router: str, seed: int, settings: dict[str, Any]) -> Any:
    from satisfice.predict import fit

    if router == "learned":
        return lambda recs: fit(recs, seed=seed, **settings)
    pred = load_predictor(router)

    def fixed(recs: Sequence[Record]) -> QualityPredictor:
        return pred

    return fixed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers()
    train = add_train_parser(sub)  # reuse the exact `satisfice train` options
    train.description, train.formatter_class = __doc__, argparse.RawDescriptionHelpFormatter
    for p in (ap, train):
        p.add_argument("--report", action="store_true", help="after training, measure every target")
        p.add_argument("--report-only", action="store_true", help="measure without writing an artifact")
        p.add_argument("--k", type=int, default=5, help="folds for MMLU / GSM8K / Arena-Bench (default 5)")
        p.add_argument(
            "--parts",
            default="",
            help="comma list: routerbench,routerbench-tasks,mmlu,gsm8k,arena-bench,pooled,arena-battles,"
            "unseen-models (default: all)",
        )
        p.add_argument(
            "--baselines", default=",".join(BASELINES), help="baselines to report too ('' for none)"
        )
        p.add_argument("--save", default="", metavar="PATH", help="also write the figures to this JSON file")
    argv = sys.argv[1:]
    if not argv or argv[0] != "train":
        argv = ["train", *argv]
    args = ap.parse_args(argv)
    settings = parse_settings(args.set)
    if not args.report_only:
        rc = train_command(args)
        if rc or not args.report:
            return rc
    from satisfice.predict import report
    from satisfice.predict.evaluate import load_all

    data = load_all()
    parts = tuple(p for p in args.parts.split(",") if p)
    results: dict[str, Any] = {"protocol": (report.__doc__ or "").strip(), "k": args.k, "seed": args.seed}
    routers = ["learned", *(b for b in args.baselines.split(",") if b)]
    for router in routers:
        print(f"\n== {router} ==", flush=True)
        rparts = parts or (("routerbench", *report.TWO_MODEL, "pooled") if router != "learned" else ())
        results[router] = report.run(
            data,
            fitter_for(router, args.seed, settings),
            k=args.k,
            parts=rparts,
            log=lambda s: print(s, flush=True),
        )
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.save}")
    out = Path(args.out).with_suffix(".json")
    if not args.report_only and out.is_file():
        meta = json.loads(out.read_text(encoding="utf-8"))
        meta["evaluation"] = results
        out.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        print(f"\nfigures saved in the artifact record {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
