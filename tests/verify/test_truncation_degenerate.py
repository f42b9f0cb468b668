"""truncation and degenerate: cut-off, empty, looping and suspiciously short answers."""

from __future__ import annotations

from satisfice.verify import Verdict
from tests.verify.helpers import ans, call, check, req, verdict

PASS, FAIL, UNSURE = Verdict.PASS, Verdict.FAIL, Verdict.UNSURE
PROSE = (
    "Cascades send a request to a cheap model first. A verifier then checks the answer, and only "
    "answers that fall short are escalated to a stronger, more expensive model. "
)
LONG_PROMPT = "Here is our architecture document. " * 12 + "Explain in detail how the cache layer works."


def test_truncation() -> None:
    assert verdict("truncation", req(), ans("cut", "length")) is FAIL
    assert verdict("truncation", req(), ans("filtered", "content_filter")) is FAIL
    assert verdict("truncation", req(), ans("done", "stop")) is PASS
    assert verdict("truncation", req(), ans(None, "tool_calls", tool_calls=[call("f", "{}")])) is PASS
    assert verdict("truncation", req(), ans("no reason", None)) is PASS
    assert verdict("truncation", req(), {"choices": []}) is PASS


def test_a_cut_the_client_asked_for_is_not_a_failure() -> None:
    """Every rung is cut at the client's own limit: escalating would only pay more for the same cut."""
    assert verdict("truncation", req(max_tokens=3), ans("The answer", "length")) is UNSURE
    assert verdict("truncation", req(max_completion_tokens=3), ans("The answer", "length")) is UNSURE
    assert verdict("truncation", req(max_tokens=3), ans("filtered", "content_filter")) is FAIL
    assert verdict("degenerate", req(stop=["choice"]), ans("")) is UNSURE  # stopped before it began


def test_empty_answers_fail() -> None:
    assert verdict("degenerate", req(), ans("")) is FAIL
    assert verdict("degenerate", req(), ans("  \n\t ")) is FAIL
    assert verdict("degenerate", req(), ans(None)) is FAIL
    assert verdict("degenerate", req(), ans("<think>hmm</think>\n")) is FAIL
    assert verdict("degenerate", req(), ans(None, tool_calls=[call("f", "{}")])) is PASS


def test_normal_answers_pass() -> None:
    assert verdict("degenerate", req("Explain cascades."), ans(PROSE * 2)) is PASS
    assert verdict("degenerate", req("2+2?"), ans("4")) is PASS  # short prompt, short answer
    matrix = "[" + ",\n".join("[0, 0, 0, 0, 0, 0, 0, 0]" for _ in range(20)) + "]"
    assert verdict("degenerate", req("A zero matrix please"), ans(matrix)) is PASS
    code = "\n".join(f"    assert add({i}, {i}) == {2 * i}" for i in range(30))
    assert verdict("degenerate", req("Write tests"), ans(f"```python\ndef test():\n{code}\n```")) is PASS
    table = "| a | b |\n|---|---|\n" + "".join(f"| {i} | {i * i} |\n" for i in range(40))
    assert verdict("degenerate", req("Squares table"), ans(table)) is PASS


def test_code_that_repeats_lines_passes() -> None:
    """Code repeats lines by nature: a stub class's `pass`, a Go stub's `return nil`."""
    names = ["NotFound", "Forbidden", "Invalid", "Conflict", "RateLimited", "Timeout", "Upstream", "Config"]
    classes = "".join(f"class {n}Error(AppError):\n    pass\n\n" for n in names)
    hierarchy = f"Here you go:\n\n```python\nclass AppError(Exception):\n    pass\n\n{classes}```\n"
    assert verdict("degenerate", req("Define exception classes for my app"), ans(hierarchy)) is PASS
    stubs = "".join(f"func (s *Server) {n}() error {{\n\treturn nil\n}}\n\n" for n in names)
    assert verdict("degenerate", req("Stub the Server methods"), ans(f"```go\n{stubs}```")) is PASS
    looping = "Here is the script:\n\n```python\n" + "print('retrying the request now')\n" * 30
    assert verdict("degenerate", req("Write a script"), ans(looping)) is FAIL  # a loop in code still fails


def test_repetition_fails() -> None:
    looping = PROSE + "and then " * 40
    result = check("degenerate", req(), ans(looping))
    assert result.verdict is FAIL and "loop" in result.reason
    assert (
        verdict("degenerate", req(), ans(PROSE + "the the the the the the the the the the the the the"))
        is FAIL
    )
    lines = PROSE + "\n" + "\n".join(["Thank you for your question!"] * 12)
    assert "line repeated" in check("degenerate", req(), ans(lines)).reason
    # A paragraph repeated many times, ending mid-sentence (cut off by max_tokens).
    paragraph = "We choose the cheapest model whose predicted quality clears the bar for this request. "
    assert verdict("degenerate", req(), ans(paragraph * 8 + "We choose the che")) is FAIL
    few_words = " ".join(["alpha beta gamma delta"] * 80)  # a tiny vocabulary, not exactly periodic
    assert verdict("degenerate", req(), ans(few_words.replace("gamma", "x", 30))) is FAIL


def test_requested_repetition_passes() -> None:
    request = req("Write 'I will not talk in class' 10 times.")
    assert verdict("degenerate", request, ans("I will not talk in class.\n" * 10)) is PASS
    # A song's chorus or a poem's refrain comes back every other line.
    chorus = "Oh the sea, the sea, it calls me home"
    song = "\n".join(f"Verse line {i} about the harbour lights\n{chorus}" for i in range(8))
    assert verdict("degenerate", req("Write a song about the sea with a chorus"), ans(song)) is PASS
    assert verdict("degenerate", req("Write a poem with the refrain 'oh the sea'"), ans(song)) is PASS
    assert verdict("degenerate", req("Describe the sea"), ans(song)) is FAIL  # nobody asked for it
    # A product in a maths prompt asks for no repetition: a loop in its answer still fails.
    loop = PROSE + "and then " * 40
    assert verdict("degenerate", req("What is 3 x 12, and 7 times 8?"), ans(loop)) is FAIL


def test_short_answer_to_demanding_prompt_is_unsure() -> None:
    result = check("degenerate", req(LONG_PROMPT), ans("It caches."))
    assert result.verdict is UNSURE and "demanding" in result.reason
    assert verdict("degenerate", req(LONG_PROMPT), ans(PROSE)) is PASS
    brief = req(LONG_PROMPT + " Answer with just one word.")
    assert verdict("degenerate", brief, ans("Redis.")) is PASS
    lookup = req("Here is our architecture document. " * 12 + "Which port does the cache use?")
    assert verdict("degenerate", lookup, ans("6379")) is PASS  # long but not demanding
    json_mode = req(LONG_PROMPT, response_format={"type": "json_object"})
    assert verdict("degenerate", json_mode, ans('{"a": 1}')) is PASS
    assert verdict("degenerate", req(LONG_PROMPT), ans("It caches."), min_answer_chars=5) is PASS
