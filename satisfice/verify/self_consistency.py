"""`self_consistency` (async): a second sample of the same request, supplied by the caller, agrees.

Compares, in order: the chosen letter (multiple-choice prompts), an explicit final answer ("answer is",
"####", \\boxed{}), yes/no, the numbers, then the normalised text. Long free-form answers are skipped
(unsure): agreement there says little and costs a real comparison."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from satisfice.verify.base import Check, VerifyContext, clip, failed, passed, threshold, unsure
from satisfice.verify.text import content, last_user_text

_OPTIONS = re.compile(r"(?m)^\s*\(?([A-Ha-h])[).:]\s+\S")
_LETTER = (
    re.compile(
        r"\b(?i:answer|option|choice|antwort|réponse|respuesta)\s*(?i:is|:|ist|est|es)?\s*\(?([A-H])\b"
    ),
    re.compile(
        r"^\W*\(?([A-H])(?:[).:]|\s*$|\s+[-\u2013\u2014])"
    ),  # "B", "(B) Paris", "B. because"; not "A cat"
)
_FINAL = (
    re.compile(r"\\boxed\{([^{}]*)\}"),
    re.compile(r"####\s*(.+)"),
    re.compile(r"(?i)\b(?:final answer|the answer is|answer:)\s*(.+)"),
)
_YES = {"yes", "ja", "oui", "sí", "sì", "si", "sim", "true", "correct"}
_NO = {"no", "nein", "non", "não", "nao", "false", "incorrect"}
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:/\d+)?")
_PUNCT = re.compile(r"[^\w\s]")
_LEAD = re.compile(r"^(?:the answer is|answer|final answer|it is|it's|that is|the)\s+")


def _letter(text: str) -> str | None:
    for rx in _LETTER:
        m = rx.search(text.strip()[:200])
        if m:
            return m.group(1).upper()
    return None


def final_answer(text: str) -> str | None:
    for rx in _FINAL:
        found = rx.findall(text)
        if found:
            return str(found[-1]).strip().splitlines()[0][:200]
    return None


def _value(num: str) -> float:
    num = num.replace(",", "")
    if "/" in num:
        top, bottom = num.split("/")
        return float(top) / float(bottom) if float(bottom) else float("nan")
    return float(num)


def numbers(text: str) -> list[float]:
    return [_value(m) for m in _NUMBER.findall(text)]


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = " ".join(_PUNCT.sub(" ", text).split())
    return _LEAD.sub("", text)


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _numbers_agree(a: list[float], b: list[float]) -> bool:
    if _same(a[-1], b[-1]):
        return True
    if len(a) == 1:
        return any(_same(a[0], x) for x in b)
    if len(b) == 1:
        return any(_same(b[0], x) for x in a)
    return False


def _multiple_choice(prompt: str) -> bool:
    return len(_OPTIONS.findall(prompt[-4000:])) >= 2


def comparable(prompt: str, answer: str, max_chars: float) -> bool:
    """Whether `compare` could judge this answer against another: a chosen letter, a stated final
    answer, or a short text. A long free-form answer is not worth paying for a second sample."""
    if _multiple_choice(prompt) and _letter(answer):
        return True
    return final_answer(answer) is not None or len(answer) <= max_chars


def compare(prompt: str, a: str, b: str, max_chars: float) -> tuple[str, str]:
    """("pass" | "fail" | "unsure", reason)."""
    if _multiple_choice(prompt):
        la, lb = _letter(a), _letter(b)
        if la and lb:
            return ("pass" if la == lb else "fail"), f"choices {la} / {lb}"
    fa, fb = final_answer(a), final_answer(b)
    if fa is not None and fb is not None:
        a, b = fa, fb
    elif len(a) > max_chars or len(b) > max_chars:
        return "unsure", "long answers: skipped"
    na, nb = normalise(a), normalise(b)
    if not na or not nb:
        return "unsure", "an empty answer"
    if na == nb:
        return "pass", f"same answer {clip(na, 40)!r}"
    wa, wb = na.split()[0], nb.split()[0]
    pa = "yes" if wa in _YES else "no" if wa in _NO else None
    pb = "yes" if wb in _YES else "no" if wb in _NO else None
    if pa and pb:
        return ("pass" if pa == pb else "fail"), f"{pa} / {pb}"
    xa, xb = numbers(a), numbers(b)
    if xa and xb:
        agree = _numbers_agree(xa, xb)
        return ("pass" if agree else "fail"), f"numbers {xa[-1]:g} / {xb[-1]:g}"
    if xa or xb:
        return "unsure", "only one answer has a number"
    ta, tb = set(na.split()), set(nb.split())
    if ta <= tb or tb <= ta:
        return "pass", f"{clip(na, 30)!r} within {clip(nb, 30)!r}"  # "Paris" / "The capital is Paris"
    overlap = len(ta & tb) / len(ta | tb)
    if overlap >= 0.8:
        return "pass", f"{overlap:.0%} word overlap"
    if max(len(ta), len(tb)) <= 5:
        return "fail", f"{clip(na, 30)!r} / {clip(nb, 30)!r}"
    return "unsure", f"{overlap:.0%} word overlap"


class SelfConsistency:
    name = "self_consistency"
    defaults: Mapping[str, float] = {"consistency_max_chars": 300}

    async def check(
        self,
        request: Mapping[str, Any],
        answer: Mapping[str, Any],
        settings: Mapping[str, Any],
        *,
        context: VerifyContext,
    ) -> Check:
        max_chars = threshold(settings, self.defaults, "consistency_max_chars")
        prompt, text = last_user_text(request), content(answer)
        second = context.second_answer
        if second is None and context.sample is not None:
            if not comparable(prompt, text, max_chars):
                return unsure(self.name, "long answer: no second sample taken")
            second = await context.sample()
        if second is None:
            return unsure(self.name, "no second sample")
        # `answer` is one choice (the chain hands over choice 0 only) and `second` is read at its
        # choice 0: a second sample is asked for one choice, an agreement partner's first stands in.
        verdict, why = compare(prompt, text, content(second), max_chars)
        if verdict == "pass":
            return passed(self.name, why)
        return failed(self.name, why) if verdict == "fail" else unsure(self.name, why)
