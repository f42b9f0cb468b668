"""Every choice of an answer is verified (`n` > 1), a streamed choice by its own text; and an answer
made of a legacy function call or of audio is judged by what it says."""

from __future__ import annotations

from typing import Any

import pytest

from satisfice.verify import (
    Verdict,
    VerifyContext,
    VerifySettings,
    verify,
    verify_stream_prefixes,
    verify_sync,
)
from satisfice.verify.text import content
from tests.verify.helpers import call, req, run

PASS, FAIL, UNSURE = Verdict.PASS, Verdict.FAIL, Verdict.UNSURE
SETTINGS = VerifySettings()
REFUSAL = "I'm sorry, but I can't help with that request."
HEDGE = "I'm not sure, but I think the capital of Australia is Canberra."
CLEAN = "The capital of Australia is Canberra."
QUESTION = req("What is the capital of Australia?")
FN = {"name": "lookup", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def choices(*messages: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    """An answer with one choice per message."""
    return {
        "object": "chat.completion",
        "choices": [
            {"index": i, "message": {"role": "assistant", **m}, "finish_reason": finish}
            for i, m in enumerate(messages)
        ],
    }


def said(text: str | None) -> dict[str, Any]:
    return {"content": text}


def spoken(transcript: str) -> dict[str, Any]:
    """A message of an audio answer: no content, the words in the transcript."""
    return {
        "content": None,
        "audio": {"id": "a1", "data": "UklGRg==", "expires_at": 1, "transcript": transcript},
    }


@pytest.mark.parametrize(
    ("request_", "good", "bad", "verifier"),
    [
        (QUESTION, said(CLEAN), said(REFUSAL), "refusal"),
        (QUESTION, said(CLEAN), said(""), "degenerate"),
        (QUESTION, said(CLEAN), {"content": None, "refusal": "No."}, "refusal"),
        (
            req("Name a city.", response_format=SCHEMA),
            said('{"city": "Paris"}'),
            said("{oops"),
            "response_format",
        ),
        (
            req("Look it up.", tools=[{"type": "function", "function": FN}], tool_choice="required"),
            {"content": None, "tool_calls": [call("lookup", '{"city": "Paris"}')]},
            {"content": None, "tool_calls": [call("lookup", "{not json")]},
            "tool_args",
        ),
    ],
)
def test_a_bad_second_choice_fails_the_answer(
    request_: dict[str, Any], good: dict[str, Any], bad: dict[str, Any], verifier: str
) -> None:
    """Only choice 0 used to be verified: the bad choice 1 went to the client unchecked."""
    assert verify_sync(request_, choices(good), SETTINGS).verdict is PASS
    outcome = verify_sync(request_, choices(good, bad), SETTINGS)
    assert outcome.verdict is FAIL
    assert outcome.reason().startswith("fail: choice 1: ") and f"choice 1: {verifier}: " in outcome.reason()
    assert {c.choice for c in outcome.checks if c.verdict is FAIL} == {1}
    assert run(verify(request_, choices(good, bad), SETTINGS)).verdict is FAIL


def test_an_answer_is_as_good_as_its_worst_choice() -> None:
    assert verify_sync(QUESTION, choices(said(CLEAN), said(CLEAN)), SETTINGS).reason() == "pass"
    doubt = verify_sync(QUESTION, choices(said(CLEAN), said(HEDGE)), SETTINGS)
    assert doubt.verdict is UNSURE and doubt.reason().startswith("unsure: choice 1: refusal: hedge")
    worst = verify_sync(QUESTION, choices(said(HEDGE), said(REFUSAL), said(CLEAN)), SETTINGS)
    assert worst.verdict is FAIL and worst.reason().startswith("fail: choice 1: refusal")
    cut = verify_sync(QUESTION, choices(said(CLEAN), said(CLEAN), finish="length"), SETTINGS)
    assert (
        cut.reason()
        == "fail: choice 0: truncation: finish_reason=length; choice 1: truncation: finish_reason=length"
    )


def test_one_choice_reads_as_before() -> None:
    assert verify_sync(QUESTION, choices(said(REFUSAL)), SETTINGS).reason().startswith("fail: refusal: ")
    assert verify_sync(QUESTION, {"choices": []}, SETTINGS).reason() == "fail: degenerate: empty answer"


class Counter:
    """A second sample or a judge that counts its calls."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.calls: list[Any] = []

    async def sample(self) -> dict[str, Any]:
        self.calls.append(None)
        return dict(self.reply)

    async def judge(self, messages: list[dict[str, Any]]) -> str:
        self.calls.append(messages)
        return str(self.reply)


def test_self_consistency_compares_choice_0_and_the_judge_settles_each_doubt() -> None:
    second, judge = Counter(choices(said("Canberra"))), Counter("Score: 9")
    settings = VerifySettings(self_consistency=True, judge=True)
    context = VerifyContext(sample=second.sample, judge=judge.judge)
    outcome = run(verify(QUESTION, choices(said("Canberra"), said(HEDGE)), settings, context))
    assert outcome.verdict is PASS and outcome.reason().startswith("pass: choice 1: judge: score 9/10")
    assert len(second.calls) == 1  # one sample, for choice 0
    assert len(judge.calls) == 1 and HEDGE in judge.calls[0][-1]["content"]  # choice 1's doubt
    assert [
        (c.choice, c.verifier) for c in outcome.checks if c.verifier in ("self_consistency", "judge")
    ] == [
        (0, "self_consistency"),
        (1, "judge"),
    ]


def test_the_reason_names_what_settled_a_doubt() -> None:
    settings = VerifySettings(judge=True)
    context = VerifyContext(judge=Counter("Score: 8").judge)
    outcome = run(verify(QUESTION, choices(said(HEDGE), said(CLEAN)), settings, context))
    assert outcome.verdict is PASS and outcome.reason().startswith("pass: choice 0: judge: score 8/10")
    doubt = run(verify(QUESTION, choices(said(HEDGE), said(HEDGE)), settings, VerifyContext()))
    assert doubt.verdict is UNSURE and doubt.reason().startswith("unsure: choice 0: refusal: hedge")


def test_no_paid_opinion_on_an_answer_a_choice_fails() -> None:
    second, judge = Counter(choices(said("Canberra"))), Counter("Score: 9")
    settings = VerifySettings(self_consistency=True, judge=True)
    context = VerifyContext(sample=second.sample, judge=judge.judge)
    outcome = run(verify(QUESTION, choices(said(HEDGE), said(REFUSAL)), settings, context))
    assert outcome.verdict is FAIL and second.calls == [] and judge.calls == []


def test_a_disagreement_on_choice_0_fails_before_the_other_choices_are_judged() -> None:
    second, judge = Counter(choices(said("Sydney"))), Counter("Score: 9")
    settings = VerifySettings(self_consistency=True, judge=True)
    context = VerifyContext(sample=second.sample, judge=judge.judge)
    outcome = run(verify(QUESTION, choices(said("Canberra"), said(HEDGE)), settings, context))
    assert outcome.verdict is FAIL and outcome.reason().startswith("fail: choice 0: self_consistency")
    assert judge.calls == []


def test_stream_prefixes_are_checked_choice_by_choice() -> None:
    found = verify_stream_prefixes(QUESTION, {0: "Canberra is the capital. It lies", 1: REFUSAL}, SETTINGS)
    assert found is not None and found.verdict is FAIL and found.choice == 1
    assert found.describe().startswith("choice 1: refusal: ")
    alone = verify_stream_prefixes(QUESTION, {0: REFUSAL}, SETTINGS)
    assert alone is not None and alone.choice is None and alone.describe().startswith("refusal: ")
    assert verify_stream_prefixes(QUESTION, {0: CLEAN, 1: CLEAN}, SETTINGS) is None


def test_an_audio_answer_is_judged_by_its_transcript() -> None:
    """It has no content: it used to be failed as empty, and every audio request escalated."""
    assert content(choices(spoken(CLEAN))) == CLEAN
    assert verify_sync(QUESTION, choices(spoken(CLEAN)), SETTINGS).verdict is PASS
    assert verify_sync(QUESTION, choices(spoken(REFUSAL)), SETTINGS).reason().startswith("fail: refusal")
    assert verify_sync(QUESTION, choices(spoken("")), SETTINGS).reason() == "fail: degenerate: empty answer"
    assert content(choices({**spoken(CLEAN), "content": "text wins"})) == "text wins"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [('{"city": "Paris"}', PASS), ("", PASS), ("{not json", FAIL), ('{"city": 3}', FAIL), ("[1]", FAIL)],
)
def test_a_legacy_function_call_is_checked_like_a_tool_call(arguments: str, expected: Verdict) -> None:
    request = req("Look up Paris.", functions=[FN], function_call={"name": "lookup"})
    message = {"content": None, "function_call": {"name": "lookup", "arguments": arguments}}
    outcome = verify_sync(request, choices(message, finish="function_call"), SETTINGS)
    assert outcome.verdict is expected, outcome.reason()
    if expected is FAIL:
        assert outcome.reason().startswith("fail: tool_args: lookup")
