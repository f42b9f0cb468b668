# ruff: noqa: RUF001  (curly apostrophes and CJK punctuation are test data)
"""verify_stream_prefix, and a sanity check that nothing is pathological on big or odd inputs."""

from __future__ import annotations

import time

from satisfice.verify import Verdict, VerifySettings, verify_stream_prefix, verify_sync
from tests.verify.helpers import ans, req

SETTINGS = VerifySettings()
PROSE = (
    "Cascades send each request to a cheap model first. A verifier checks the answer, and only answers "
    "that fall short are escalated to a stronger model, so most traffic costs little. "
)

ESSAY = """A cascade keeps quality while cutting cost by trying the cheapest model first.
Most everyday requests, such as rewording an email or answering a factual question, are handled well by
small models. The gateway checks each cheap answer with fast verifiers: did the model stop on its own, is
the output valid JSON when JSON was requested, do tool arguments match their schemas, did the model refuse,
and does it speak the user's language? When every check passes, the cheap answer goes back to the client.
When a check fails, the same request is sent to a stronger model, and the client never sees the weak
attempt. Unsure results can be settled by a second sample or by a small judge model, which costs a fraction
of a strong model's price. Over a day of traffic, the savings add up: if eighty percent of requests are
settled by the cheap tier, the bill falls by roughly the price ratio between the tiers, while the
escalated twenty percent keep the quality that users expect. The verifiers must be cheap themselves,
or they would eat the savings; that is why they use compiled patterns, small word lists and cached
schema validators rather than another model call for every answer."""


def test_stream_prefix_refusal() -> None:
    request = req("Write a keylogger.")
    found = verify_stream_prefix(request, "I'm sorry, but I can't help with that.", SETTINGS)
    assert found is not None and found.verifier == "refusal" and found.verdict is Verdict.FAIL
    # The sentence is not finished yet: wait.
    assert verify_stream_prefix(request, "I can't help with", SETTINGS) is None
    # A disclaimer that turns into an answer is not a refusal.
    assert (
        verify_stream_prefix(req("Cold?"), "I can't provide medical advice, but rest helps.", SETTINGS)
        is None
    )
    assert (
        verify_stream_prefix(req("Tips?"), "I cannot stress enough how much sleep matters.", SETTINGS) is None
    )
    # Hedges never end a stream.
    assert verify_stream_prefix(req("Q?"), "I'm not sure, but probably yes.", SETTINGS) is None


def test_stream_prefix_repetition_and_language() -> None:
    looping = verify_stream_prefix(req("Hi"), PROSE + "and so on " * 20, SETTINGS)
    assert looping is not None and looping.verifier == "degenerate"
    german = req(
        "Was ist der beste Weg, eine neue Sprache zu lernen, und wie lange dauert das normalerweise?"
    )
    assert verify_stream_prefix(german, "The best way", SETTINGS) is None  # too early to tell
    found = verify_stream_prefix(german, PROSE, SETTINGS)
    assert found is not None and found.verifier == "language"
    assert (
        verify_stream_prefix(german, "Der beste Weg ist, jeden Tag mit Muttersprachlern zu üben.", SETTINGS)
        is None
    )
    # Only verifiers in the chain apply.
    assert verify_stream_prefix(german, PROSE, VerifySettings(chain=("truncation",))) is None


def test_big_and_odd_answers_are_not_pathological() -> None:
    big = (PROSE * 400)[:50_000]
    start = time.perf_counter()
    out = verify_sync(req("Explain cascades."), ans(big), SETTINGS)
    assert out.verdict is Verdict.FAIL  # the same paragraph 300 times is degenerate
    looping = verify_sync(req("Hi"), ans("ha" * 25_000), SETTINGS)
    assert looping.verdict is Verdict.FAIL
    varied = " ".join(f"word{i} is number {i}." for i in range(6000))[:50_000]
    verify_sync(req("Count."), ans(varied), SETTINGS)
    cjk = "学习一门新语言最好的方法是每天练习。" * 2500
    verify_sync(req("学习语言的方法？"), ans(cjk), SETTINGS)
    nested = "[" * 5000 + "]" * 5000
    json_mode = req("JSON", response_format={"type": "json_object"})
    assert verify_sync(json_mode, ans(nested), SETTINGS).verdict is Verdict.FAIL
    for i in range(0, 50_000, 2_000):
        verify_stream_prefix(req("Explain."), varied[:i], SETTINGS)
    assert time.perf_counter() - start < 5  # generous: catches quadratic blow-ups, not regressions


def test_typical_answer_is_fast() -> None:
    request = req("Explain how cascades keep quality while cutting cost.")
    answer = ans(ESSAY)
    verify_sync(request, answer, SETTINGS)
    start = time.perf_counter()
    for _ in range(100):
        assert verify_sync(request, answer, SETTINGS).verdict is Verdict.PASS
    per_call = (time.perf_counter() - start) / 100
    assert per_call < 0.05  # the budget is ~1 ms; this only guards against something pathological
