from satisfice.verify.arithmetic import Arithmetic, wrong_equations
from satisfice.verify.base import Verdict


def answer(text: str) -> dict[str, object]:
    return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def test_wrong_worked_arithmetic_fails() -> None:
    check = Arithmetic().check({}, answer("She has 16 - 3 - 4 = 8 eggs left, so 8 * 2 = 16 dollars."), {})
    assert check.verdict is Verdict.FAIL and "16 - 3 - 4 = 8 (is 9)" in check.reason


def test_right_arithmetic_and_prose_pass() -> None:
    text = "16 - 3 - 4 = 9 eggs; 9 * $2 = $18. Total $1,200 + $300 = $1,500, and 10 / 4 = 2.5."
    assert Arithmetic().check({}, answer(text), {}).verdict is Verdict.PASS
    assert Arithmetic().check({}, answer("No numbers here at all."), {}).verdict is Verdict.PASS


def test_ambiguous_notation_is_skipped_not_guessed() -> None:
    # Percentages, powers, version numbers, variables, dates and rounding are not judged.
    assert wrong_equations("20% of 50 = 10; 2^3 = 8; x = 5 - 2 = 3; version 2.0 = 2; 1/3 = 0.333") == []
    assert wrong_equations("7 \u00d7 6 = 41, and 8 \u00f7 2 = 4") == ["7 \u00d7 6 = 41 (is 42)"]


def test_code_blocks_are_not_checked() -> None:
    text = "Here:\n```python\nx = 2 + 2 = 5\n```\nDone."
    assert Arithmetic().check({}, answer(text), {}).verdict is Verdict.PASS


def test_long_answers_are_bounded() -> None:
    text = "1 + 1 = 3. " * 5000
    assert len(wrong_equations(text)) == 64
