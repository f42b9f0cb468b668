"""The maths verifiers on crafted word problems and answers."""

from __future__ import annotations

from satisfice.verify import Verdict, Verifier, VerifySettings
from satisfice.verify import mathtext as mt
from satisfice.verify.consistency import AnswerConsistency
from satisfice.verify.final_answer import FinalAnswer
from satisfice.verify.math_score import MathScore, p_wrong
from satisfice.verify.mathsignals import signals
from satisfice.verify.quantities import QuantitiesUsed
from tests.verify.helpers import DEFAULTS, ans, req

Q = (
    "James runs 3 sprints 3 times a week. He runs 60 meters each sprint. "
    "How many total meters does he run a week?"
)
GOOD = "3 x 60 = <<3*60=180>>180 meters a session, so 180 x 3 = <<180*3=540>>540 meters.\n#### 540"


def verdict(verifier: Verifier, question: str, answer: str) -> Verdict:
    return verifier.check(req(question), ans(answer), DEFAULTS).verdict


def test_parsing_helpers() -> None:
    qs = mt.quantities("It costs $1,250.50, 20% off, for 3 people.")
    assert [(q.value, q.percent) for q in qs] == [(1250.5, False), (20.0, True), (3.0, False)]
    assert mt.final_number("So 4 + 5 = 9.\n#### 9") == (9.0, True)
    assert mt.final_number("She has 12 apples left.") == (12.0, False)
    assert mt.results("<<3*60=180>>180 and 2 + 2 = 4") == [180.0, 4.0]
    assert mt.cut_off("a total of 15 + 25 = <<15+2") and not mt.cut_off("15 + 25 = 40.")
    assert mt.is_word_problem(Q) and not mt.is_word_problem("Write a poem about 2 cats.")


def test_good_answer_passes_every_maths_verifier() -> None:
    for v in (FinalAnswer(), QuantitiesUsed(), AnswerConsistency()):
        assert verdict(v, Q, GOOD) is Verdict.PASS, v.name
    # math_score is a prior as much as a check: a terse answer to a "times" question sits near the
    # default threshold (P(wrong) about 0.30 vs 0.28), so it passes only on a laxer route.
    lax = VerifySettings(thresholds={"math_wrong_max_ratio": 0.35}).params
    assert MathScore().check(req(Q), ans(GOOD), lax).verdict is Verdict.PASS


def test_final_answer_catches_cut_conflicting_and_fractional_counts() -> None:
    assert verdict(FinalAnswer(), Q, "3 x 60 = <<3*60=180>>180 a session; 180 x 3 = <<180*3") is Verdict.FAIL
    assert verdict(FinalAnswer(), Q, "180 x 3 = 540. The answer is 540.\n#### 560") is Verdict.FAIL
    assert verdict(FinalAnswer(), Q, "540 / 7 = 77.14\n#### 77.14") is Verdict.FAIL
    check = FinalAnswer().check(req(Q), ans("#### 540 meters in 7 days"), DEFAULTS)
    assert check.verdict is Verdict.FAIL and "different number" in check.reason
    assert verdict(FinalAnswer(), Q, "180 x 3 = 540, so he runs 540 meters.") is Verdict.UNSURE


def test_quantities_used_counts_forms_and_fails_at_the_threshold() -> None:
    q = "A shirt costs $40 and is 25% off. Tom buys 3 and pays a $2 fee. How much does he pay?"
    used = "40 * 0.75 = 30; 30 * 3 = 90; 90 + 2 = 92.\n#### 92"
    assert verdict(QuantitiesUsed(), q, used) is Verdict.PASS  # 25% used as 0.75
    assert verdict(QuantitiesUsed(), q, "40 * 3 = 120; 120 + 2 = 122\n#### 122") is Verdict.UNSURE
    check = QuantitiesUsed().check(req(q), ans("40 * 3 = 120\n#### 120"), DEFAULTS)
    assert check.verdict is Verdict.FAIL and "25%" in check.reason and "$2" in check.reason
    strict = VerifySettings(thresholds={"max_unused_quantities": 1}).params
    assert QuantitiesUsed().check(req(q), ans("40 * 3 = 120; 120 + 2 = 122\n#### 122"), strict).verdict is (
        Verdict.FAIL
    )


def test_answer_consistency_final_number_must_be_computed() -> None:
    assert verdict(AnswerConsistency(), Q, "3 x 60 = 180; 180 x 3 = 540.\n#### 450") is Verdict.FAIL
    assert verdict(AnswerConsistency(), Q, "He runs the same 60 each time.\n#### 60") is Verdict.UNSURE
    assert verdict(AnswerConsistency(), Q, "180 x 3 = 540; 540 - 0 = 540; so 180 x 3\n#### 540") is (
        Verdict.PASS
    )


def test_math_score_fails_suspicious_answers_and_has_a_dial() -> None:
    bad = "3 x 60 = 180. So he runs 77.5 meters"
    check = MathScore().check(req(Q), ans(bad), DEFAULTS)
    assert check.verdict is Verdict.FAIL and "P(wrong)" in check.reason
    lax = VerifySettings(thresholds={"math_wrong_max_ratio": 1.0}).params
    assert MathScore().check(req(Q), ans(bad), lax).verdict is Verdict.PASS


def test_silent_outside_maths_word_problems() -> None:
    for v in (FinalAnswer(), QuantitiesUsed(), AnswerConsistency(), MathScore()):
        assert verdict(v, "What is the capital of France?", "Paris, since 1 + 1 = 3.") is Verdict.PASS
        assert verdict(v, Q, "I am not sure how to solve this.") is Verdict.PASS


def test_route_config_accepts_the_maths_chain() -> None:
    settings = VerifySettings.from_config(
        {"chain": ["arithmetic", "final_answer", "math_score"], "thresholds": {"math_wrong_max_ratio": 0.3}}
    )
    assert settings.params["math_wrong_max_ratio"] == 0.3


def test_programming_tasks_are_not_word_problems() -> None:
    task = "Write a python function to find the sum of 3 numbers that are 2 apart. What is the result?"
    assert verdict(MathScore(), task, "def f(a): return 3 * a + 6  # 7 + 2 = 10") is Verdict.PASS


def test_new_signals_doubts_cues_number_words_and_invented_numbers() -> None:
    assert mt.doubts("Assuming a month has 30 days, that is about 4 weeks = 28 = 4 x 7 = 28") == {
        "assumes": True,
        "rounds": True,
        "hedges": False,
        "algebra": False,
        "chained": True,
    }
    assert mt.doubts("But wait, let x be the cost; solve the equation.")["hedges"]
    assert mt.cues("He spends 20% and twice the rest. How many are left?") == 3
    assert mt.cues(Q) == 1  # "3 times a week"
    assert mt.cues("Tom has 3 cats and 2 dogs. How many pets does he have?") == 0
    q = "Ann has twice as many apples as Bob, who has 4. How many do they have?"
    assert mt.unused_words(q, "4 + 4 = 8\n#### 8") == 1
    assert mt.unused_words(q, "4 x 2 = 8; 8 + 4 = 12\n#### 12") == 0
    assert mt.invented(Q, GOOD) == 0
    assert mt.invented(Q, "3 x 75 = 225 meters.\n#### 225") == 1  # 75 is neither given nor computed


def test_math_score_reads_the_new_signals() -> None:
    s = signals(Q, GOOD)
    assert s is not None and s.features()["doubt_hedges"] == 0.0
    hedged = GOOD.replace("meters.\n", "meters, but wait, assuming it rounds.\n")
    worse = signals(Q, hedged)
    assert worse is not None and worse.features()["doubt_hedges"] == 1.0
    assert p_wrong(worse)[0] > p_wrong(s)[0]


def test_word_problem_guard_reads_more_questions_but_not_code_tasks() -> None:
    assert mt.is_word_problem("A new program had 60 downloads, then 3 times as many. What's the total?")
    assert mt.is_word_problem("A 10-foot shark has 2 remoras. What percentage of its length are they?")
    assert mt.is_word_problem("Tina is 5 feet and Al 2 feet taller. How tall is Al?")
    assert not mt.is_word_problem("Write a python function to find the sum of 2 and 3 numbers.")
    assert not mt.is_word_problem("Write a function that returns the 2 largest of 5 numbers. Find them.")
    assert [q.value for q in mt.quantities("Each dog takes .5 hours, 10 dogs.")] == [0.5, 10.0]


def test_step_signals_count_judged_equations() -> None:
    two = signals(Q, GOOD)
    assert two is not None and two.n_steps == 2 and two.wrong_steps == 0
    assert two.features()["no_steps"] == 0.0 and two.features()["one_step"] == 0.0
    terse = signals(Q, "He runs 540 meters.\n#### 540")
    assert terse is not None and terse.features()["no_steps"] == 1.0
    one = signals(Q, "3 x 3 x 60 = 540 meters.\n#### 540")
    assert one is not None and one.features()["one_step"] == 1.0
    bad = signals(Q, "3 x 60 = 190 meters, 190 x 3 = 560.\n#### 560")
    assert bad is not None and bad.wrong_steps == 2 and bad.features()["wrong_steps_2"] == 1.0


def test_rounded_and_fractional_steps() -> None:
    q = "A box holds 8 pencils. How many boxes are needed for 73 pencils?"
    rounded = signals(q, "73 / 8 = 9 boxes (rounding up).\n#### 9")
    assert rounded is not None and rounded.rounded_steps == 1 and rounded.wrong_steps == 0
    assert rounded.features()["rounded_step"] == 1.0
    # Whole numbers given, a step yields 9.125: a sign of a wrong operation (not for money questions).
    frac = signals(q, "73 / 8 = 9.125, so 9.125 boxes.\n#### 9.125")
    assert frac is not None and frac.fractional_steps
    money = "A pen costs $8. 5 friends share the cost of 3 pens. How much does each pay?"
    shared = signals(money, "3 * 8 = 24; 24 / 5 = 4.8 dollars.\n#### 4.8")
    assert shared is not None and not shared.fractional_steps


def test_unit_missing_when_the_counted_things_are_never_named() -> None:
    assert not mt.unit_missing(Q, GOOD)  # "meters" is named at the end
    assert mt.unit_missing(Q, "3 x 60 = 180 per session; 180 x 3 = 540 in all.\n#### 540")
    assert not mt.unit_missing("Tom has 3 bags of 4. How many does he have?", "3 x 4 = 12\n#### 12")
    s = signals(Q, "3 x 60 = 180 per session; 180 x 3 = 540 in all.\n#### 540")
    assert s is not None and s.features()["unit_missing"] == 1.0


def test_math_score_ignores_the_signals_the_fit_dropped() -> None:
    from satisfice.verify.math_score import WEIGHTS

    s = signals(Q, GOOD)
    assert s is not None and set(WEIGHTS) <= set(s.features())
    assert "invented_1" not in WEIGHTS and "no_calculator" not in WEIGHTS
