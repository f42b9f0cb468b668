from satisfice.verify.arithmetic import Arithmetic, steps, wrong_equations
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


def test_chained_steps_are_checked_link_by_link() -> None:
    # "a + b * c = a + d = e": every link is right, so nothing is wrong (the old reading took "= a").
    assert wrong_equations("So 10 + 2*10 = 10 + 20 = 30 eggs, and 8 + 3 * 8 = $8 + $24 = $32.") == []
    assert wrong_equations("<<8*12+4=96+4=100>>100 inches") == []
    assert wrong_equations("10 + 2*10 = 10 + 20 = 40 eggs") == ["10 + 20 = 40 (is 30)"]


def test_units_rates_percentages_and_rounding() -> None:
    assert wrong_equations("12 tomatoes/day x 7 days = 84 tomatoes; 3 hours * $15 per hour = $45") == []
    assert wrong_equations("12 tomatoes/day x 7 days = 74 tomatoes") == [
        "12 tomatoes/day x 7 days = 74 (is 84)"
    ]
    assert wrong_equations("25% * 80 = 20; 0.1 * 100 = 10% of it; (6 / 12) x 100 = 50%.") == []
    assert wrong_equations("(12 / 20) x 100 = 55%.") == ["(12 / 20) x 100 = 55% (is 60)"]
    # A quotient rounded to a whole number (boxes needed), or a value rounded to its shown decimals.
    assert wrong_equations("73 / 8 = 9 boxes; 50 / 13 = 3.85 cubes; 27 / 3/4 = 36 batches") == []
    assert wrong_equations("50 / 13 = 3.7 cubes") == ["50 / 13 = 3.7 (is 3.84615)"]
    steps_ = steps("73 / 8 = 9 boxes and 2 + 2 = 4")
    assert [(s.ok, s.rounded) for s in steps_] == [(True, True), (True, False)]


def test_scale_words_and_unit_conversions() -> None:
    """ "3 dozen" is 36, and "5 km = 5 x 1000 m" converts rather than adds up: neither is wrong."""
    assert wrong_equations("3 dozen = 3 \u00d7 12 = 36 eggs; 4 dozens + 2 = 4\\*12 + 2 = 50") == []
    assert wrong_equations("$1.5 million + $500 thousand = $2 million") == []
    text = "5 km = 5 \u00d7 1000 m = 5000 m, and 2 hours = 2 x 60 minutes = 120 minutes"
    assert wrong_equations(text) == []
    # The computing side of a conversion is still checked, and so is a sum in one unit.
    assert wrong_equations("2 hours = 2 x 60 minutes = 100 minutes") == ["2 x 60 minutes = 100 (is 120)"]
    assert wrong_equations("5 apples + 3 apples = 9 apples") == ["5 apples + 3 apples = 9 (is 8)"]


def test_clock_times_are_not_numbers() -> None:
    text = "The meeting starts at 9:30 + 45 min = 10:15, and 2 + 3 = 5 hours later it ends at 3:15 pm."
    assert wrong_equations(text) == []
    assert wrong_equations("From 9:30 it takes 2 + 3 = 6 hours.") == ["2 + 3 = 6 (is 5)"]


def test_ranges_are_not_subtractions() -> None:
    text = "Plan 2-3 hours/day x 5 days = 10-15 hours. The war lasted 1939-1945 = 6 years; pages 10-20 = 11"
    assert wrong_equations(text) == []
    # A tight subtraction is still checked: right either way, and wrong when it is no range.
    assert wrong_equations("72-18 = 54 and 3-5 = -2") == []
    assert wrong_equations("72-18 = 53; 30/2-12 = 6") == ["72-18 = 53 (is 54)", "30/2-12 = 6 (is 3)"]


def test_an_amount_raised_or_cut_by_a_percentage_reads_as_a_calculator_does() -> None:
    text = "The coat is $50 - 20% = $40 on sale, and with tax $100 + 8% = $108; 1,200 - 15% = 1,020."
    assert wrong_equations(text) == []
    # Still wrong when neither reading gives the result.
    assert wrong_equations("The coat is $50 - 20% = $35.") == ["$50 - 20% = $35 (is 49.8)"]


def test_markdown_and_signs() -> None:
    assert wrong_equations("80/100 \\* 2 \\* 20 = 64 pizzas; -6 + 3 = -3 degrees") == [
        "80/100 \\* 2 \\* 20 = 64 (is 32)"
    ]


def test_open_ended_sides_are_skipped() -> None:
    # A variable before or after, more terms spelled out in words: the side is incomplete.
    text = "x * 4 + 8 = 40; 10 = 100 - 9X; total 50,000 = 8,000 + 4,000 + the third week; 2/3 of 60 = 40"
    assert wrong_equations(text) == []
