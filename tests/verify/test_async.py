"""The async verifiers (judge, self_consistency) and how verify() aggregates everything."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from satisfice.verify import (
    VERIFIERS,
    Check,
    Outcome,
    Verdict,
    VerifyContext,
    VerifySettings,
    verify,
    verify_sync,
)
from satisfice.verify.judge import judge_messages, parse_grade
from satisfice.verify.self_consistency import compare
from tests.verify.helpers import ans, req, run

PASS, FAIL, UNSURE = Verdict.PASS, Verdict.FAIL, Verdict.UNSURE
HEDGED = ans("I'm not sure, but I think the capital of Australia is Canberra.")
CLEAN = ans("The capital of Australia is Canberra.")
QUESTION = req("What is the capital of Australia?")


class FakeJudge:
    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.calls: list[list[dict[str, Any]]] = []

    async def __call__(self, messages: list[dict[str, Any]]) -> str:
        self.calls.append(messages)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("8/10", ("score", 8.0)),
        ("Score: 3", ("score", 3.0)),
        ("The answer is fine.\nScore: **9**", ("score", 9.0)),
        ("I'd rate it 7 out of 10.", ("score", 7.0)),
        ("Rating: 6.5", ("score", 6.5)),
        ("5", ("score", 5.0)),
        ("PASS", ("pass", None)),
        ("Reasoning... it could FAIL on edge cases, but overall: PASS", ("pass", None)),
        ("verdict: fail", ("fail", None)),
        ("Score: 42", ("", None)),  # out of range
        ("It is a decent answer.", ("", None)),
    ],
)
def test_parse_grade(reply: str, expected: tuple[str, float | None]) -> None:
    assert parse_grade(reply) == expected


def test_judge_called_only_when_unsure() -> None:
    judge = FakeJudge("Score: 9")
    settings = VerifySettings(judge=True)
    clean = run(verify(QUESTION, CLEAN, settings, VerifyContext(judge=judge)))
    assert clean.verdict is PASS and judge.calls == []
    failing = run(verify(QUESTION, ans("x", "length"), settings, VerifyContext(judge=judge)))
    assert failing.verdict is FAIL and judge.calls == []
    settled = run(verify(QUESTION, HEDGED, settings, VerifyContext(judge=judge)))
    assert settled.verdict is PASS and len(judge.calls) == 1
    assert settled.reason().startswith("pass: judge: score 9/10")
    prompt = judge.calls[0][-1]["content"]
    assert "capital of Australia?" in prompt and "Canberra" in prompt


@pytest.mark.parametrize(
    ("reply", "expected"),
    [("8/10", PASS), ("Score: 3", FAIL), ("PASS", PASS), ("FAIL", FAIL), ("no idea", UNSURE)],
)
def test_judge_verdicts(reply: str, expected: Verdict) -> None:
    out = run(verify(QUESTION, HEDGED, VerifySettings(judge=True), VerifyContext(judge=FakeJudge(reply))))
    assert out.verdict is expected
    assert out.checks[-1].verifier == "judge"


def test_judge_threshold_template_and_errors() -> None:
    strict = VerifySettings(judge=True, thresholds={"judge_min_score": 9})
    assert run(verify(QUESTION, HEDGED, strict, VerifyContext(judge=FakeJudge("8/10")))).verdict is FAIL
    judge = FakeJudge("PASS")
    custom = VerifySettings(judge=True, judge_template="Q={question} A={answer} {braces}")
    run(verify(QUESTION, HEDGED, custom, VerifyContext(judge=judge)))
    assert (
        judge.calls[0][-1]["content"].startswith("Q=What is the capital")
        and "{braces}" in judge.calls[0][-1]["content"]
    )
    broken = run(
        verify(QUESTION, HEDGED, VerifySettings(judge=True), VerifyContext(judge=FakeJudge(TimeoutError())))
    )
    assert broken.verdict is UNSURE and "judge call failed" in broken.checks[-1].reason
    # Judge disabled, or no judge given: stays unsure.
    assert (
        run(verify(QUESTION, HEDGED, VerifySettings(), VerifyContext(judge=FakeJudge("PASS")))).verdict
        is UNSURE
    )
    assert run(verify(QUESTION, HEDGED, VerifySettings(judge=True))).verdict is UNSURE


MC = req("Which planet is largest?\nA) Mars\nB) Jupiter\nC) Venus\nD) Earth")


@pytest.mark.parametrize(
    ("prompt", "a", "b", "expected"),
    [
        (QUESTION, "42", "The answer is 42.", "pass"),
        (QUESTION, "It costs $1,200.", "1200", "pass"),
        (QUESTION, "0.5", "1/2", "pass"),
        (QUESTION, "42", "41", "fail"),
        (QUESTION, "She earns 24 dollars in 2 hours.", "24", "pass"),
        (MC, "B", "B) Jupiter", "pass"),
        (MC, "(B)", "The answer is B.", "pass"),
        (MC, "B", "C", "fail"),
        (MC, "A) Mars", "The answer is D", "fail"),
        (QUESTION, "Canberra", "canberra.", "pass"),
        (QUESTION, "Canberra", "Sydney", "fail"),
        (QUESTION, "Paris", "The capital is Paris.", "pass"),
        (MC, "The answer: Jupiter", "Jupiter", "pass"),
        (QUESTION, "Yes, it is.", "Yes.", "pass"),
        (QUESTION, "No.", "Yes, definitely.", "fail"),
        (QUESTION, "Let me think. " * 40 + "#### 17", "Step by step... " * 40 + "#### 17", "pass"),
        (QUESTION, "Long essay. " * 50, "Another essay. " * 50, "unsure"),
        (QUESTION, "twelve", "12", "unsure"),
    ],
)
def test_self_consistency_compare(prompt: dict[str, Any], a: str, b: str, expected: str) -> None:
    verdict, _ = compare(prompt["messages"][-1]["content"], a, b, 300)
    assert verdict == expected


def test_self_consistency_in_verify() -> None:
    on = VerifySettings(self_consistency=True)
    agree = run(verify(QUESTION, HEDGED, on, VerifyContext(second_answer=ans("Canberra is the capital."))))
    assert agree.verdict is PASS and agree.reason().startswith("pass: self_consistency")
    vague = ans("Australia has many cities, and Sydney is the best known of them all.")
    unsettled = run(verify(QUESTION, HEDGED, on, VerifyContext(second_answer=vague)))
    assert unsettled.verdict is UNSURE  # too little overlap to vouch either way
    same = run(verify(req("2+2?"), ans("4"), on, VerifyContext(second_answer=ans("The answer is 4."))))
    assert same.verdict is PASS
    differ = run(verify(req("2+2?"), ans("4"), on, VerifyContext(second_answer=ans("5"))))
    assert differ.verdict is FAIL and differ.reason().startswith("fail: self_consistency: numbers 4 / 5")
    # Agreement settles the chain's doubt before the judge is asked.
    judge = FakeJudge("FAIL")
    both = VerifySettings(self_consistency=True, judge=True)
    hedged = ans("I'm not sure, maybe 4.")
    settled = run(verify(req("2+2?"), hedged, both, VerifyContext(second_answer=ans("4"), judge=judge)))
    assert settled.verdict is PASS and judge.calls == []
    # Disabled: the second answer is ignored.
    assert (
        run(verify(req("2+2?"), ans("4"), VerifySettings(), VerifyContext(second_answer=ans("5")))).verdict
        is PASS
    )


def test_outcome_aggregation_and_reason() -> None:
    settings = VerifySettings()
    out = verify_sync(QUESTION, ans("x", "length"), settings)
    assert out.verdict is FAIL and out.reason() == "fail: truncation: finish_reason=length"
    assert [c.verifier for c in out.checks] == list(settings.chain)  # every check runs: the full diagnosis
    assert verify_sync(QUESTION, CLEAN, settings).reason() == "pass"
    hedged = verify_sync(QUESTION, HEDGED, settings)
    assert hedged.verdict is UNSURE and hedged.reason().startswith("unsure: refusal: hedge")
    assert Outcome(UNSURE, []).reason() == "unsure"
    only_truncation = VerifySettings(chain=("truncation",))
    assert verify_sync(QUESTION, ans(""), only_truncation).verdict is PASS


class Exploding:
    name = "exploding"

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        raise RuntimeError("bug")


class Shouting:
    name = "shouting"
    defaults: Mapping[str, float] = {"max_caps_ratio": 0.5}

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        text = answer["choices"][0]["message"]["content"]
        caps = sum(c.isupper() for c in text) / max(1, len(text))
        ok = caps <= settings["max_caps_ratio"]
        return Check(self.name, PASS if ok else FAIL, f"{caps:.0%} capitals")


def test_registry_is_pluggable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(VERIFIERS, "exploding", Exploding())
    monkeypatch.setitem(VERIFIERS, "shouting", Shouting())
    settings = VerifySettings(
        chain=("truncation", "exploding", "shouting"), thresholds={"max_caps_ratio": 0.9}
    )
    out = verify_sync(QUESTION, ans("CANBERRA!"), settings)
    assert out.verdict is UNSURE  # a crashing verifier cannot vouch, but does not break the request
    assert out.checks[1] == Check("exploding", UNSURE, "verifier error: RuntimeError")
    assert out.checks[2].verdict is PASS
    strict = VerifySettings(chain=("shouting",))
    assert verify_sync(QUESTION, ans("CANBERRA!"), strict).verdict is FAIL


def test_the_judge_sees_a_custom_tool_calls_input() -> None:
    """A custom tool's call carries `custom` (name and free-text input), not `function`: the judge
    was shown null for it."""
    call = {"id": "c1", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}}
    answer = {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [call]}}]}
    prompt = judge_messages(req("Count the rows"), answer, "Q: {question}\nA: {answer}")[-1]["content"]
    assert '[tool calls] [{"name":"sql","input":"SELECT 1"}]' in prompt
