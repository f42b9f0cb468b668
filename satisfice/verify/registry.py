"""The registry: verifier name → instance. A new verifier is one module plus one entry here (and, if it
has thresholds, a `defaults` mapping on the class, which config validation then accepts)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from satisfice.verify.arithmetic import Arithmetic
from satisfice.verify.base import AsyncVerifier, Verifier
from satisfice.verify.consistency import AnswerConsistency
from satisfice.verify.degenerate import Degenerate
from satisfice.verify.final_answer import FinalAnswer
from satisfice.verify.judge import Judge
from satisfice.verify.language import Language
from satisfice.verify.math_score import MathScore
from satisfice.verify.quantities import QuantitiesUsed
from satisfice.verify.refusal import Refusal
from satisfice.verify.response_format import ResponseFormat
from satisfice.verify.self_consistency import SelfConsistency
from satisfice.verify.tool_args import ToolArgs
from satisfice.verify.truncation import Truncation

VERIFIERS: dict[str, Verifier | AsyncVerifier] = {
    "truncation": Truncation(),
    "degenerate": Degenerate(),
    "response_format": ResponseFormat(),
    "tool_args": ToolArgs(),
    "refusal": Refusal(),
    "language": Language(),
    "arithmetic": Arithmetic(),
    # Maths word problems (silent elsewhere); not in the default chain: opt in per route.
    "final_answer": FinalAnswer(),
    "quantities_used": QuantitiesUsed(),
    "answer_consistency": AnswerConsistency(),
    "math_score": MathScore(),
    "self_consistency": SelfConsistency(),
    "judge": Judge(),
}

# Cheapest and most decisive first; all of them run (the list of checks is the diagnosis).
DEFAULT_CHAIN: tuple[str, ...] = (
    "truncation",
    "degenerate",
    "response_format",
    "tool_args",
    "refusal",
    "language",
    "arithmetic",
)

# Thresholds that belong to no single verifier.
GENERAL_DEFAULTS: Mapping[str, float] = {"stream_prefix_chars": 400}


def is_async(verifier: Verifier | AsyncVerifier) -> bool:
    return inspect.iscoroutinefunction(verifier.check)


def default_thresholds() -> dict[str, float]:
    """Every registered verifier's thresholds with their defaults (read per call: the registry may grow)."""
    out = dict(GENERAL_DEFAULTS)
    for verifier in VERIFIERS.values():
        defaults = getattr(verifier, "defaults", None)
        if isinstance(defaults, Mapping):
            out.update({str(k): float(v) for k, v in defaults.items()})
    return out
