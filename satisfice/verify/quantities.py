"""`quantities_used`: a worked maths answer should use every quantity the question gives.

Wrong solutions often ignore a number. A given quantity counts as used when the answer writes it in
any form (a percentage p as p, p/100, 1 ± p/100 or 100 - p; a fraction through its denominator).
`max_unused_quantities` or more unused ones fail; fewer, but some, are unsure (one number can be used
implicitly: "the other two" for "a family of 5, three of them")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from satisfice.verify.base import Check, failed, passed, threshold, unsure
from satisfice.verify.mathsignals import MathsVerifier, Signals


class QuantitiesUsed(MathsVerifier):
    name = "quantities_used"
    defaults: Mapping[str, float] = {"max_unused_quantities": 2}

    def judge(self, s: Signals, settings: Mapping[str, Any]) -> Check:
        if not s.unused:
            return passed(self.name, f"all {s.n_given} given quantities used")
        names = ", ".join(q.text for q in s.unused[:4])
        why = f"{len(s.unused)} of {s.n_given} given quantities never used: {names}"
        if len(s.unused) >= threshold(settings, self.defaults, "max_unused_quantities"):
            return failed(self.name, why)
        return unsure(self.name, why)
