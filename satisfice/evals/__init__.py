"""Evaluation harness: replay labelled routing data under a router, sweep the knob, report metrics.

For the CLI: `add_eval_parser(subparsers)` (`satisfice eval`) and `add_data_parser(subparsers)`
(`satisfice data convert`). Pure functions: `evaluate(dataset, router=...) -> dict`, and RouteLLM's
metrics `apgr`, `cpt`, `share_for` on a (strong-call share, quality) curve.
"""

from satisfice.data.convert import add_data_parser, convert
from satisfice.evals.cli import add_eval_parser, cmd_eval
from satisfice.evals.evaluate import evaluate
from satisfice.evals.metrics import apgr, cpt, curve_metrics, oracle_curve, pgr, share_for
from satisfice.evals.replay import EvalError
from satisfice.evals.report import render_text, write_outputs
from satisfice.evals.vector import calibrate_share_matrix, choose_matrix

__all__ = [
    "EvalError",
    "add_data_parser",
    "add_eval_parser",
    "apgr",
    "calibrate_share_matrix",
    "choose_matrix",
    "cmd_eval",
    "convert",
    "cpt",
    "curve_metrics",
    "evaluate",
    "oracle_curve",
    "pgr",
    "render_text",
    "share_for",
    "write_outputs",
]
