"""`math_score`: the maths signals combined into one calibrated probability that the answer is wrong.

A tiny logistic model over `Signals.features()`. Its weights were fitted by
`scripts/eval_gsm8k_cascade.py --fit` on half of GSM8K (prompts whose id hashes even) against
Mixtral-8x7B's graded answers, and are reported on the other half. Fails when P(wrong) exceeds
`math_wrong_max_ratio`; that one threshold is the route's escalation dial. The weights reflect that
model's answering style (it usually ends with "#### N"): refit them for a cheap model that does not."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from satisfice.verify.base import Check, failed, passed, threshold
from satisfice.verify.mathsignals import MathsVerifier, Signals

# Fitted weights (scripts/eval_gsm8k_cascade.py --fit, even-hash half, L2 1.0, deterministic full-batch GD).
# Signals the fit leaves out (DROPPED there: invented_1, n_quantities, huge, unused_words, unused_1,
# no_calculator) weigh 0. Default threshold 0.28: on the even half the one with the widest equal margin
# to both limits of the GSM8K target (97.7 % of GPT-4's accuracy at 35.6 % GPT-4 calls; margin 2.7 points).
BIAS = -2.878
WEIGHTS: Mapping[str, float] = {
    "no_marker": 1.281,
    "cut": 1.329,
    "conflict": 0.490,
    "last_differs": 1.684,
    "fraction_count": 0.355,
    "fractional": 2.399,
    "not_computed": 0.403,
    "not_last_result": 0.869,
    "copied": -0.173,
    "wrong_arithmetic": 2.816,
    "unused_2": 0.484,
    "unused_share": 1.248,
    "n_results": -0.015,
    "question_len": 1.097,
    "answer_len": 0.516,
    "doubt_assumes": -0.447,
    "doubt_rounds": 0.274,
    "doubt_hedges": 1.217,
    "doubt_algebra": 0.054,
    "doubt_chained": 0.506,
    "cues": 1.043,
    "steps_per_quantity": -0.438,
    "magnitude": 0.451,
    "negative": -0.461,
    "invented_2": -0.673,
    "no_steps": 0.997,
    "one_step": 0.806,
    "wrong_steps_2": -0.186,
    "rounded_step": 0.214,
    "fractional_steps": 0.233,
    "unit_missing": 0.268,
}


def p_wrong(s: Signals) -> tuple[float, list[str]]:
    """P(wrong) and the features that pushed it up most (for the reason)."""
    parts = {k: WEIGHTS.get(k, 0.0) * v for k, v in s.features().items()}
    z = BIAS + sum(parts.values())
    top = [k for k, v in sorted(parts.items(), key=lambda kv: -kv[1]) if v > 0.3][:3]
    return 1.0 / (1.0 + math.exp(-z)), top


class MathScore(MathsVerifier):
    name = "math_score"
    defaults: Mapping[str, float] = {"math_wrong_max_ratio": 0.28}  # chosen on the even half

    def judge(self, s: Signals, settings: Mapping[str, Any]) -> Check:
        p, top = p_wrong(s)
        limit = threshold(settings, self.defaults, "math_wrong_max_ratio")
        why = f"P(wrong)={p:.2f} vs {limit:g}" + (f" ({', '.join(top)})" if top else "")
        return failed(self.name, why) if p > limit else passed(self.name, why)
