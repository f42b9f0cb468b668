"""`arithmetic`: the answer's own worked arithmetic must add up.

Answers that show their work ("16 - 3 - 4 = 9") are re-computed: a wrong equation is a cheap,
reliable sign of a wrong answer (on GSM8K it flags 16 % of Mixtral-8x7B's wrong answers and 3 %
of its right ones, measured on the shared data). Only plain numbers joined by + - * / x and the
multiplication and division signs are evaluated, with the usual precedence; percentages, powers,
units and anything else are skipped, never guessed.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from satisfice.verify.base import Check, failed, passed
from satisfice.verify.text import content, strip_code

_NUM = r"\$?\d[\d,]*(?:\.\d+)?(?![\d%])"
_EQUATION = re.compile(
    r"(?<![\w.^%])("
    + _NUM
    + "(?:\\s*[-+*/x\u00d7\u00f7]\\s*"
    + _NUM
    + r")+)\s*=\s*(-?"
    + _NUM
    + r")(?![\w^/])"
)
_OPS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
MAX_EQUATIONS = 64  # bound the work on very long answers


def _number(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise ValueError("not plain arithmetic")


def wrong_equations(text: str) -> list[str]:
    """The worked equations in `text` whose left side does not equal the right side."""
    wrong = []
    for i, m in enumerate(_EQUATION.finditer(text)):
        if i >= MAX_EQUATIONS:
            break
        lhs, rhs = m.group(1), m.group(2).rstrip(",")
        expr = re.sub("[x\u00d7]", "*", lhs).replace("\u00f7", "/").replace("$", "").replace(",", "")
        try:
            value = _evaluate(ast.parse(expr, mode="eval"))
            stated = _number(rhs)
        except (ValueError, SyntaxError, ZeroDivisionError, RecursionError):
            continue
        if abs(value - stated) > max(0.01, 0.005 * abs(stated)):  # rounding in prose is fine
            wrong.append(f"{lhs.strip()} = {rhs.strip()} (is {value:g})")
    return wrong


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
