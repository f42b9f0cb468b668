"""`answer_consistency`: a worked maths answer's final number should be what its steps computed.

Fails when the answer computes results ("= 42") but its final number is none of them; unsure when the
final number was merely copied from the question, or is not the last computed result (a final step
can legitimately restate an earlier one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from satisfice.verify.base import Check, failed, passed, unsure
from satisfice.verify.mathsignals import MathsVerifier, Signals


class AnswerConsistency(MathsVerifier):
    name = "answer_consistency"

    def judge(self, s: Signals, settings: Mapping[str, Any]) -> Check:
        if s.not_computed:
            return failed(self.name, f"final answer {s.final:g} is not the result of any step")
        if s.copied:
            return unsure(self.name, f"final answer {s.final:g} is a number copied from the question")
        if s.not_last_result:
            return unsure(self.name, f"final answer {s.final:g} is not the last computed result")
        return passed(self.name, f"final answer {s.final:g} was computed")
