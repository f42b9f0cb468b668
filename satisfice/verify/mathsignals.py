"""The signals the maths verifiers read from a word problem and its worked answer. Each is 0/1 (or a
small bounded number for the score); `None` when the pair is not a maths word problem with a numeric
answer, so the verifiers stay silent on everything else."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from satisfice.verify import mathtext as mt
from satisfice.verify.arithmetic import steps
from satisfice.verify.base import Check, passed
from satisfice.verify.text import content, last_user_text, strip_code


@dataclass(frozen=True, slots=True)
class Signals:
    final: float  # the final number: the stated answer, else the last number written
    stated: bool  # it was stated explicitly ("#### 42", "the answer is 42")
    cut: bool  # stops mid-computation
    conflict: bool  # two different stated answers
    last_differs: bool  # a stated answer, then a different number is the last one written
    fraction_count: bool  # a fractional answer to a "how many" question
    fractional: bool  # a fractional final answer at all (word problems mostly have whole answers)
    not_computed: bool  # the answer computes results, but the final number is none of them
    not_last_result: bool  # the final number differs from the last computed result
    copied: bool  # the final number is one the question gave and no step computed
    wrong_arithmetic: int  # worked equations that do not add up
    unused: tuple[mt.Quantity, ...]  # given quantities the answer never writes
    n_given: int  # quantities the question gives (digits only)
    n_quantities: int  # quantities the question gives (number words included)
    n_results: int
    question_chars: int
    answer_chars: int
    doubts: tuple[str, ...] = ()  # what the wording admits: assumes, rounds, hedges, algebra, chained
    cues: int = 0  # kinds of multi-step wording in the question (percent, multiples, rest, ...)
    unused_words: int = 0  # number words of the question ("twice", "half") the answer never uses
    max_given: float = 0.0  # the largest quantity the question gives
    invented: int = 0  # numbers the answer brings in that neither the question nor a step explains
    calculator: bool = False  # the answer writes GSM8K calculator tags "<<6*7=42>>"
    n_steps: int = 0  # worked equations the arithmetic check could judge
    wrong_steps: int = 0  # of those, how many do not add up (wrong_arithmetic counts the same)
    rounded_steps: int = 0  # right only once rounded (a quotient to a whole number, ...)
    fractional_steps: bool = (
        False  # a step yields a non-whole number though the question gives only whole ones
    )
    unit_missing: bool = False  # the question asks "how many <things>" and the answer's end never names them

    def features(self) -> dict[str, float]:
        """The inputs of the score (math_score), each bounded to about [0, 2]."""
        return {
            "no_marker": float(not self.stated),
            "cut": float(self.cut),
            "conflict": float(self.conflict),
            "last_differs": float(self.last_differs),
            "fraction_count": float(self.fraction_count),
            "fractional": float(self.fractional),
            "not_computed": float(self.not_computed),
            "not_last_result": float(self.not_last_result),
            "copied": float(self.copied),
            "wrong_arithmetic": float(self.wrong_arithmetic > 0),
            "unused_1": float(len(self.unused) >= 1),
            "unused_2": float(len(self.unused) >= 2),
            "unused_share": len(self.unused) / max(1, self.n_given),
            "n_quantities": min(self.n_quantities, 10) / 5,
            "n_results": min(self.n_results, 10) / 5,
            "question_len": math.log1p(self.question_chars) / 6,
            "answer_len": math.log1p(self.answer_chars) / 6,
            "huge": float(abs(self.final) >= 10_000),
            **{f"doubt_{k}": float(k in self.doubts) for k in DOUBTS},
            "cues": self.cues / 3,
            "unused_words": float(self.unused_words > 0),
            "steps_per_quantity": min(self.n_results / max(1, self.n_given), 3.0) / 1.5,
            "magnitude": max(-2.0, min(3.0, math.log10((abs(self.final) + 1) / (self.max_given + 1)))) / 1.5,
            "negative": float(self.final < 0),
            "invented_1": float(self.invented >= 1),
            "invented_2": float(self.invented >= 2),
            "no_calculator": float(not self.calculator),
            "no_steps": float(self.n_steps == 0),
            "one_step": float(self.n_steps == 1),
            "wrong_steps_2": float(self.wrong_steps >= 2),
            "rounded_step": float(self.rounded_steps > 0),
            "fractional_steps": float(self.fractional_steps),
            "unit_missing": float(self.unit_missing),
        }


DOUBTS = ("assumes", "rounds", "hedges", "algebra", "chained")


class MathsVerifier:
    """Base of the verifiers of maths word-problem answers: an answer to anything else passes, and
    `judge` sees the signals of the request's last user message and the answer (code stripped)."""

    name = "maths"

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        s = signals(last_user_text(request), strip_code(content(answer)))
        if s is None:
            return passed(self.name, "not a maths word problem with a numeric answer")
        return self.judge(s, settings)

    def judge(self, s: Signals, settings: Mapping[str, Any]) -> Check:
        raise NotImplementedError


@functools.lru_cache(maxsize=16)
def signals(question: str, answer: str) -> Signals | None:
    """Cached: several verifiers of one chain read the same pair."""
    if not mt.is_word_problem(question):
        return None
    final, stated = mt.final_number(answer)
    if final is None:
        return None
    given = mt.quantities(question)
    results = mt.results(answer)
    computed = any(mt.close(final, r) for r in results)
    tail = mt.quantities(answer[-2000:])
    whole = abs(final - round(final)) < 1e-9
    worked = steps(answer)
    whole_given = all(abs(q.value - round(q.value)) < 1e-9 and not q.percent for q in given)
    return Signals(
        final=final,
        stated=stated,
        cut=mt.cut_off(answer),
        conflict=len({round(v, 4) for v in mt.stated_answers(answer)}) > 1,
        last_differs=stated and bool(tail) and not mt.close(tail[-1].value, final),
        fraction_count=not whole and mt.asks_count(question),
        fractional=not whole,
        not_computed=bool(results) and not computed,
        not_last_result=bool(results) and not mt.close(results[-1], final),
        copied=not computed and any(mt.close(final, q.value) for q in given),
        wrong_arithmetic=sum(not st.ok for st in worked),
        unused=tuple(mt.unused(question, answer)),
        n_given=len({q.value for q in given}),
        n_quantities=len(mt.quantities(question, words=True)),
        n_results=len(results),
        question_chars=len(question),
        answer_chars=len(answer),
        doubts=tuple(k for k, v in mt.doubts(answer).items() if v),
        cues=mt.cues(question),
        unused_words=mt.unused_words(question, answer),
        max_given=max((abs(q.value) for q in given), default=0.0),
        invented=mt.invented(question, answer),
        calculator="<<" in answer,
        n_steps=len(worked),
        wrong_steps=sum(not st.ok for st in worked),
        rounded_steps=sum(st.rounded for st in worked),
        fractional_steps=whole_given
        and "$" not in question
        and any(abs(st.value - round(st.value)) > 1e-6 for st in worked if st.ok),
        unit_missing=mt.unit_missing(question, answer),
    )
