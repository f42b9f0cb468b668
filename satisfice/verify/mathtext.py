"""Reading maths word problems and their worked answers: the quantities a question gives, the numbers an
answer uses, the results it computes and the final answer it states. Shared by the maths verifiers;
nothing here judges."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# A number as written in prose: 1,250 / 3.5 / $40 / 60% (the sign and the % are read separately).
# A leading-dot decimal (".5 hours") is read too: its whole part is then empty.
_NUMBER = re.compile(r"(?<![\w.])(-)?\$?(\d{1,3}(?:,\d{3})+|\d+|(?=\.\d))(\.\d+)?(?!\d)(\s*%|\s*percent\b)?")
_FRACTION = re.compile(r"(?<![\w./])(\d+)\s*/\s*(\d+)(?![\d/])")
_WORDS: dict[str, float] = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "hundred": 100, "thousand": 1000, "dozen": 12, "half": 0.5, "twice": 2,
    "double": 2, "triple": 3, "quarter": 0.25,
}  # fmt: skip
_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b", re.I)
# An explicit final answer: GSM8K's "#### 42", "the answer is 42", "\boxed{42}", "Final answer: 42".
_STATED = re.compile(
    r"(?:####|\banswer\s+is\b:?|\\boxed\{|\bfinal\s+answer\b\s*(?:is\b)?:?|^\s*answer:)\s*\$?\s*"
    r"(-?\d[\d,]*(?:\.\d+)?)",
    re.I | re.M,
)
# A computed result: the right side of "= 42" (also the calculator form "<<6*7=42>>42").
_RESULT = re.compile(r"=\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)(?!\s*[-+*/x\u00d7\u00f7]\s*\d)")
# An answer cut off mid-computation: an open calculator tag, a dangling operator or equals sign.
_CUT = re.compile(r"(?:<<[^>]*|[=+\-*/\u00d7\u00f7(]\s*\$?|[:,])\s*$")
# What a question asks for when its answer must be a whole number.
_COUNT = re.compile(r"\bhow\s+many\b", re.I)
_ASKS = re.compile(
    r"\b(?:how\s+(?:many|much|long|far|old|fast|tall|big|heavy|often)|what(?:'s|\u2019s|\s+(?:is|was|will|are|"
    r"would|percent|percentage|fraction|speed|number|amount|price|total|distance))|find|calculate)\b",
    re.I,
)
MAX_CHARS = 20_000  # bound the work on very long texts
# Answer-side doubt: the model assumes, rounds or corrects itself (GSM8K answers are exact and
# determined), or sets up algebra. Question-side difficulty cues: several steps of a kind models slip on.
_ASSUMES = re.compile(r"\bassum|\bnot\s+(?:enough|possible|clear)|\bcannot\b|\bunclear|\bambiguous", re.I)
_ROUNDS = re.compile(r"\bround|\bapproximately|\babout\b|\u2248|\bnearest\b", re.I)
_HEDGES = re.compile(r"\bhowever\b|\bbut\b|\bwait\b|\bactually\b|\bmistake|\binstead\b", re.I)
_ALGEBRA = re.compile(r"\blet\b.{0,20}\b(?:be|denote|represent)|\bdenote|\bequation\b|\bsolve\b", re.I)
# A chained expression "a = b = c" (a step restated or re-computed within one line).
_CHAIN = re.compile(r"=[^=\n<>]{1,40}=[^=\n<>]{1,40}=")
_CUES: dict[str, re.Pattern[str]] = {
    "percent": re.compile(r"%|\bpercent", re.I),
    "times": re.compile(r"\btwice|\btimes\b|\bhalf\b|\bdouble|\btriple|\bthird\b|\bquarter", re.I),
    "rest": re.compile(r"\bremain|\brest\b|\bleft\b|\bremainder", re.I),
    "compare": re.compile(r"\bmore\s+than\b|\bless\s+than\b|\bfewer\b|\bolder\b|\byounger\b", re.I),
    "rate": re.compile(r"\baverage\b|\bratio\b|\bprofit\b|\bdiscount\b|\binterest\b|\bspeed\b", re.I),
}
# Programming tasks also give numbers and ask "find ...": their answers are code, not worked maths.
_CODE_TASK = re.compile(
    r"```|\bdef\s|\b(?:python|javascript|java|c\+\+|sql|code)\b|\b(?:write|implement|complete)\s+(?:an?\s+|the\s+)?"
    r"(?:\w+\s+)?(?:function|program|script|method|class)\b|\b(?:function|program)\s+(?:that|to|which|named|called)\b",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float
    text: str  # as written, for reasons
    percent: bool = False


def _value(whole: str, frac: str | None) -> float:
    return float((whole.replace(",", "") or "0") + (frac or ""))


def quantities(text: str, *, words: bool = False) -> list[Quantity]:
    """The numbers written in `text` in order (with number words when `words`)."""
    text = text[:MAX_CHARS]
    out = [
        Quantity(
            -_value(m.group(2), m.group(3)) if m.group(1) else _value(m.group(2), m.group(3)),
            m.group(0).strip(),
            bool(m.group(4)),
        )
        for m in _NUMBER.finditer(text)
    ]
    if words:
        out += [Quantity(_WORDS[m.group(1).lower()], m.group(1)) for m in _WORD.finditer(text)]
    return out


def close(a: float, b: float) -> bool:
    """Equal up to prose rounding (two decimals, or half a percent of large values)."""
    return abs(a - b) <= max(0.01, 0.005 * abs(b))


@functools.lru_cache(maxsize=32)
def is_word_problem(question: str) -> bool:
    """A maths word problem: it gives at least two quantities and asks for a number."""
    if _CODE_TASK.search(question[:MAX_CHARS]):
        return False
    return len(quantities(question, words=True)) >= 2 and bool(_ASKS.search(question[-MAX_CHARS:]))


def asks_count(question: str) -> bool:
    """The question asks "how many" of something, so a fractional answer is wrong."""
    return bool(_COUNT.search(question[-600:]))


def stated_answers(answer: str) -> list[float]:
    """Every explicitly stated final answer, in order."""
    out = []
    for m in _STATED.finditer(answer[-MAX_CHARS:]):
        try:
            out.append(float(m.group(1).replace(",", "")))
        except ValueError:
            continue
    return out


def final_number(answer: str) -> tuple[float | None, bool]:
    """(the answer's final number, whether it was explicitly stated). Without a marker it is the last
    number written, which is what graders of maths answers read."""
    stated = stated_answers(answer)
    if stated:
        return stated[-1], True
    nums = quantities(answer[-2000:])
    return (nums[-1].value, False) if nums else (None, False)


def results(answer: str) -> list[float]:
    """The results the answer computes ("= 42"), in order."""
    out = []
    for m in _RESULT.finditer(answer[:MAX_CHARS]):
        try:
            out.append(float(m.group(1).replace(",", "")))
        except ValueError:
            continue
    return out


def cut_off(answer: str) -> bool:
    """The answer stops mid-computation (an output limit or a stop sequence hit)."""
    return bool(_CUT.search(answer[-200:].rstrip()))


def fractions(text: str) -> list[tuple[float, float]]:
    """(numerator, denominator) of every "a/b" written in `text`."""
    return [(float(a), float(b)) for a, b in _FRACTION.findall(text[:MAX_CHARS]) if float(b) != 0]


def forms(q: Quantity) -> list[float]:
    """The values a given quantity may take once used: a percentage p as p, p/100, 1 ± p/100, 100 - p."""
    if not q.percent:
        return [q.value]
    p = q.value
    return [p, p / 100, 1 + p / 100, 1 - p / 100, 100 - p, 100 + p]


def unused(question: str, answer: str) -> list[Quantity]:
    """The question's written quantities (digits, not number words: those are often implicit) that the
    answer never writes in any form. A fraction "a/b" counts as used when a/b or its denominator is."""
    given = quantities(question)
    seen = [q.value for q in quantities(answer, words=True)]
    seen += [a / b for a, b in fractions(answer)]
    in_fraction = {v for a, b in fractions(question) for v in (a, b)}
    dens = {b for _, b in fractions(question)}
    out: list[Quantity] = []
    values: set[float] = set()
    for q in given:
        if q.value in values:
            continue
        values.add(q.value)
        if q.value in in_fraction and q.value not in dens:
            continue  # a numerator: judged through its denominator
        if not any(close(s, f) for f in forms(q) for s in seen):
            out.append(q)
    return out


def doubts(answer: str) -> dict[str, bool]:
    """What the answer's wording admits: assumptions, rounding, self-correction, algebra, and chained
    "a = b = c" steps."""
    text = answer[:MAX_CHARS]
    return {
        "assumes": bool(_ASSUMES.search(text)),
        "rounds": bool(_ROUNDS.search(text)),
        "hedges": bool(_HEDGES.search(text)),
        "algebra": bool(_ALGEBRA.search(text)),
        "chained": bool(_CHAIN.search(text)),
    }


def cues(question: str) -> int:
    """How many kinds of multi-step wording the question uses (percentages, multiples, remainders,
    comparisons, rates): a rough difficulty."""
    text = question[-MAX_CHARS:]
    return sum(bool(p.search(text)) for p in _CUES.values())


def unused_words(question: str, answer: str) -> int:
    """Number words of the question ("twice", "half", "three") whose value the answer never writes,
    neither as a word nor as a number."""
    seen = [q.value for q in quantities(answer, words=True)] + [a / b for a, b in fractions(answer)]
    values = {_WORDS[m.group(1).lower()] for m in _WORD.finditer(question[-MAX_CHARS:])}
    return sum(not any(close(s, v) for s in seen) for v in values)


# Constants an answer may bring in without the question giving them (days, months, hours, percent...).
_CONSTANTS = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 10, 12, 24, 30, 31, 52, 60, 100, 365, 1000})


def invented(question: str, answer: str) -> int:
    """Distinct numbers the answer writes that the question does not give (in any form), no step
    computes and no common constant explains: often a misread or made-up quantity."""
    given = [v for q in quantities(question, words=True) for v in forms(q)]
    given += [q.value / 100 for q in quantities(question)]
    computed = results(answer)
    out = set()
    for q in quantities(answer):
        v = q.value
        if v in _CONSTANTS or v in out:
            continue
        if any(close(v, g) for g in given) or any(close(v, r) for r in computed):
            continue
        out.add(v)
    return len(out)


_ASKED_UNIT = re.compile(
    r"\bhow\s+many\s+(?:more\s+|fewer\s+|less\s+|total\s+|whole\s+|full\s+)?([a-z]{3,})", re.I
)
_NOT_UNITS = frozenset(
    {"more", "times", "of", "does", "did", "do", "will", "can", "are", "were", "is", "was", "have", "has"}
)


def unit_missing(question: str, answer: str) -> bool:
    """The question asks "how many <things>" and the end of the answer never names those things (nor
    a word sharing their first five letters): the answer may have counted something else."""
    asked = _ASKED_UNIT.findall(question[-600:])
    if not asked or asked[-1].lower() in _NOT_UNITS:
        return False
    stem = asked[-1].lower()[:5].rstrip("s")
    return stem not in answer[-400:].lower()
