"""`final_answer`: a maths answer must end with one clear final number.

Fails an answer that stops mid-computation, states two different answers, states an answer and then
writes a different last number (graders read the last one), or answers "how many" with a fraction.
No explicit statement ("#### 42", "the answer is 42") is only unsure: many good answers end in prose.
Silent (pass) on anything that is not a maths word problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from satisfice.verify.base import Check, failed, passed, unsure
from satisfice.verify.mathsignals import MathsVerifier, Signals


class FinalAnswer(MathsVerifier):
    name = "final_answer"

    def judge(self, s: Signals, settings: Mapping[str, Any]) -> Check:
        if s.cut:
            return failed(self.name, "the answer stops mid-computation")
        if s.conflict:
            return failed(self.name, "two different final answers are stated")
        if s.last_differs:
            return failed(self.name, f"states {s.final:g}, then ends on a different number")
        if s.fraction_count:
            return failed(self.name, f"a fractional count ({s.final:g}) for a 'how many' question")
        if not s.stated:
            return unsure(self.name, f"no explicitly stated final answer (last number {s.final:g})")
        return passed(self.name, f"final answer {s.final:g}")
