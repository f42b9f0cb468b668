"""`arithmetic`: the answer's own worked arithmetic must add up.

Answers that show their work ("16 - 3 - 4 = 9") are re-computed: a wrong equation is a cheap,
reliable sign of a wrong answer. Plain numbers joined by + - * / x, the multiplication and division
signs (also markdown's escaped "\\*" and LaTeX's \\times and \\div), parentheses and percentages
("25% * 80" is 0.25 * 80) are evaluated with the usual precedence. A chain "a + b = c + d = e" is
checked link by link, a number may carry a unit or a rate ("12 tomatoes/day x 7 days = 84") or a
scale ("3 dozen", "$2 million"), a quantity converted to another unit ("5 km = 5 x 1000 m") is not a
sum, and a stated result may be rounded (to its own decimals, or a quotient to a whole number). Powers,
variables ("x * 4 + 8 = 40"), a fraction "of" something and anything else are skipped, never
guessed.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from satisfice.verify.base import Check, failed, passed
from satisfice.verify.text import content, strip_code

# One number with an optional sign, dollar sign, thousands commas, decimals, percent sign, and a unit
# or rate written after it ("3 days", "12 miles/gallon", "$5 per hour"); "x" is never a unit.
_UNIT_WORDS = (
    r"\s*(?!(?:x|times|of|and|or|is|are|to|by|per|in|for|on)\b)[A-Za-z]{2,}(?:(?:/|\s+per\s+)[A-Za-z]+)?"
)
_UNIT = "(?:" + _UNIT_WORDS + ")?"
_TERM = r"(?:\(\s*)*-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*%)?" + _UNIT + r"(?:\s*\))*"
_OP = r"\s*(?:[-+*/\u00d7\u00f7]|\\\*|\\times|\\div|\bx\b|\btimes\b)\s*"
_EXPR = _TERM + "(?:" + _OP + _TERM + ")*"
# Not from inside a number, a power or a clock time ("9:30 + 45 min = 10:15" is no sum of 30 and 45).
_CHAIN = re.compile(r"(?<![\w.^%/$])(?<!\d:)" + _EXPR + r"(?:\s*=\s*" + _EXPR + r")+")
_SPLIT = re.compile(r"\s*=\s*")
_OPERATOR = re.compile(r"[-+*/\u00d7\u00f7]|\\\*|\\times|\\div|\bx\b|\btimes\b")
_STRIP_UNITS = re.compile(r"(?<=[\d%])" + _UNIT_WORDS)
_TRAILING_UNIT = re.compile(r"(?<=[\d%])" + _UNIT_WORDS + r"\s*$")
_TIMES = re.compile(r"\bx\b|\btimes\b|\u00d7")
_THOUSANDS = re.compile(r"(\d),(?=\d{3})")
_TIGHT_FRACTION = re.compile(r"(?<![\d.])(\d+)/(\d+)(?![\d.])")  # "27 / 3/4": a tight fraction is one number
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
# "$50 - 20% = $40", as a calculator reads it: an amount raised or cut by a percentage of itself.
_CALC_PERCENT = re.compile(r"\(?\s*(\d+(?:\.\d+)?)\s*([-+])\s*(\d+(?:\.\d+)?)\s*%\s*\)?")
# "low-high" as a term of its own ("30/2-12" is a subtraction inside a product).
_TIGHT_DASH = re.compile(r"(?<![\d.*/^\u00d7\u00f7-])(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)(?![\d.*/^\u00d7\u00f7])")
# Number words that multiply the number they follow ("3 dozen", "$2 million"): the only units with a value.
_SCALE = {"dozen": 12, "hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_SCALED = re.compile(r"(?<=[\d%])\s*(dozen|hundred|thousand|million|billion)s?\b", re.I)
_OPEN_START = re.compile(r"(?:\bof|\bx|\b[a-zA-Z]\s*[-+*/^(\u00d7\u00f7]|[-+*/^(\u00d7\u00f7])\s*$")
_OPEN_END = re.compile(r"[A-Za-z]|:\d|\s*(?:[-+*/^\u00d7\u00f7]|x\s)")
_OPS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
MAX_EQUATIONS = 64  # bound the work on very long answers


@dataclass(frozen=True, slots=True)
class Step:
    """One checked link "lhs = rhs" of a worked chain."""

    lhs: str
    rhs: str
    value: float  # what the left side computes to
    stated: float  # what the answer says it is
    ok: bool
    rounded: bool  # right only once rounded (a quotient to a whole number, or beyond its decimals)


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise ValueError("not plain arithmetic")


def _python(expr: str) -> str:
    """The expression as Python arithmetic: units dropped, operators and percentages spelled out."""
    expr = _SCALED.sub(lambda m: f" * {_SCALE[m.group(1).lower()]}", expr)
    expr = _STRIP_UNITS.sub("", expr)
    expr = expr.replace("\\times", "*").replace("\\div", "/").replace("\\*", "*")
    expr = _TIMES.sub("*", expr).replace("\u00f7", "/").replace("$", "")
    expr = _TIGHT_FRACTION.sub(r"(\1/\2)", _THOUSANDS.sub(r"\1", expr))
    return _PERCENT.sub(r"(\1/100)", expr)


def _value(expr: str) -> float:
    return _evaluate(ast.parse(_python(expr).strip(), mode="eval"))


def _close(value: float, stated: float) -> bool:
    return abs(value - stated) <= max(0.01, 0.005 * abs(stated))


def _decimals(text: str) -> int:
    m = re.search(r"\.(\d+)", text)
    return len(m.group(1)) if m else 0


def _compare(lhs: str, rhs: str) -> Step | None:
    """Check one link; None when it cannot be judged."""
    try:
        value, stated = _value(lhs), _value(rhs)
    except (ValueError, SyntaxError, ZeroDivisionError, RecursionError, OverflowError):
        return None
    if not (math.isfinite(value) and math.isfinite(stated)):
        return None
    if "%" in rhs and "%" not in lhs and _close(value, stated * 100):
        stated *= 100  # "0.1 * 100 = 10%": the left side already counts in percent
    if _close(value, stated):  # rounding in prose is fine
        return Step(lhs, rhs, value, stated, True, False)
    calc = _CALC_PERCENT.fullmatch(_THOUSANDS.sub(r"\1", _STRIP_UNITS.sub("", lhs)).replace("$", "").strip())
    if calc is not None:  # "$50 - 20% = $40": the percentage is of the amount, as calculators read it
        amount, sign, pct = float(calc.group(1)), calc.group(2), float(calc.group(3))
        if _close(amount * (1 + (pct if sign == "+" else -pct) / 100), stated):
            return Step(lhs, rhs, stated, stated, True, False)
    plain = not _OPERATOR.search(rhs.lstrip(" -"))
    shown = _decimals(rhs)
    rounded = plain and (
        (shown > 0 and abs(value - stated) <= 0.5 * 10**-shown + 1e-9)
        or ("/" in _python(lhs) and shown == 0 and stated in (math.floor(value), math.ceil(value)))
    )
    return Step(lhs, rhs, value, stated, rounded, rounded)


def _operators(expr: str) -> bool:
    return bool(_OPERATOR.search(_STRIP_UNITS.sub("", expr).lstrip(" (-")))


def _range(expr: str) -> bool:
    """A tight "low-high" ("2-3 hours", "1939-1945", "pages 10-20"): a range, not a subtraction."""
    return any(float(a) < float(b) for a, b in _TIGHT_DASH.findall(expr))


def _converts(lhs: str, rhs: str) -> bool:
    """The left side is one quantity in a unit and the right side computes it in another unit."""
    return not _operators(lhs) and _STRIP_UNITS.search(lhs) is not None and _operators(rhs)


def steps(text: str) -> list[Step]:
    """Every judged link of the worked equations in `text`, in order (at most MAX_EQUATIONS)."""
    out: list[Step] = []
    for m in _CHAIN.finditer(text):
        if _OPEN_START.search(text, max(0, m.start() - 12), m.start()):
            continue  # the left side starts mid-expression: a variable, a power or "a fraction of"
        open_end = bool(_OPEN_END.match(text, m.end(), m.end() + 3))
        chain = m.group(0).strip()
        end = _TRAILING_UNIT.search(chain)
        if end is not None and not _SCALED.match(chain, end.start()):  # "= $2 million" keeps its scale
            chain = chain[: end.start()]
        parts = _SPLIT.split(chain)
        for i in range(len(parts) - 1):
            lhs, rhs = parts[i], parts[i + 1]
            if not (_operators(lhs) or _operators(rhs)):
                continue  # "a = b" with plain numbers restates, it does not compute
            if i == len(parts) - 2 and open_end:
                continue  # the right side goes on: a power, a variable, more terms in words
            step = _compare(lhs, rhs)
            if step is not None and not step.ok and _converts(lhs, rhs):
                continue  # "5 km = 5 x 1000 m", "2 hours = 2 x 60 minutes": a conversion, not a sum
            if step is not None and not step.ok and (_range(lhs) or _range(rhs)):
                continue  # "2-3 hours/day x 5 days = 10-15 hours": ranges, not differences
            if step is not None:
                out.append(step)
            if len(out) >= MAX_EQUATIONS:
                return out
    return out


def wrong_equations(text: str) -> list[str]:
    """The worked equations in `text` whose left side does not equal the right side."""
    return [f"{s.lhs.strip()} = {s.rhs.strip()} (is {s.value:g})" for s in steps(text) if not s.ok]


class Arithmetic:
    name = "arithmetic"

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        wrong = wrong_equations(strip_code(content(answer)))
        if wrong:
            return failed(
                self.name,
                f"wrong arithmetic: {wrong[0]}" + (f" (+{len(wrong) - 1} more)" if len(wrong) > 1 else ""),
            )
        return passed(self.name, "no wrong equation")
