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
from satisfice.verify.mathsignals import Signals, signals
from satisfice.verify.text import content, last_user_text, strip_code

# Fitted weights (scripts/eval_gsm8k_cascade.py --fit, even-hash half, L2 1.0, deterministic full-batch GD).
# Default threshold 0.28: on the even half the widest one keeping >= 96 % of GPT-4's accuracy (38.8 % GPT-4).
BIAS = -0.667
WEIGHTS: Mapping[str, float] = {
    "no_marker": 1.414,
    "cut": 1.332,
    "conflict": 0.233,
    "last_differs": 1.753,
    "fraction_count": 0.349,
    "fractional": 2.571,
    "not_computed": 0.652,
    "not_last_result": 0.901,
    "copied": -0.181,
    "wrong_arithmetic": 1.464,
    "unused_1": 0.287,
    "unused_2": 0.456,
    "unused_share": 0.460,
    "n_quantities": 0.292,
    "n_results": -0.465,
    "question_len": 0.033,
    "answer_len": -0.631,
    "huge": 0.600,
    "doubt_assumes": -0.689,
    "doubt_rounds": 0.525,
    "doubt_hedges": 1.453,
    "doubt_algebra": 0.329,
    "doubt_chained": 0.859,
    "cues": 1.013,
    "unused_words": 0.339,
    "steps_per_quantity": -0.484,
    "magnitude": 0.390,
    "negative": -0.478,
    "invented_1": -0.145,
    "invented_2": 0.245,
    "no_calculator": -0.108,
}


def p_wrong(s: Signals) -> tuple[float, list[str]]:
    """P(wrong) and the features that pushed it up most (for the reason)."""
    parts = {k: WEIGHTS.get(k, 0.0) * v for k, v in s.features().items()}
    z = BIAS + sum(parts.values())
    top = [k for k, v in sorted(parts.items(), key=lambda kv: -kv[1]) if v > 0.3][:3]
    return 1.0 / (1.0 + math.exp(-z)), top


class MathScore:
    name = "math_score"
    defaults: Mapping[str, float] = {"math_wrong_max_ratio": 0.28}  # chosen on the even half

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        s = signals(last_user_text(request), strip_code(content(answer)))
        if s is None:
            return passed(self.name, "not a maths word problem with a numeric answer")
        p, top = p_wrong(s)
        limit = threshold(settings, self.defaults, "math_wrong_max_ratio")
        why = f"P(wrong)={p:.2f} vs {limit:g}" + (f" ({', '.join(top)})" if top else "")
        return failed(self.name, why) if p > limit else passed(self.name, why)
