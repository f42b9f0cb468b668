# ruff: noqa: RUF001  (curly apostrophes and CJK punctuation are test data)
"""refusal: clear refusals fail, hedges are unsure, and ordinary phrasing never trips it."""

from __future__ import annotations

import pytest

from satisfice.verify import Verdict, VerifySettings, verify_stream_prefix
from tests.verify.helpers import ans, call, check, req, verdict

PASS, FAIL, UNSURE = Verdict.PASS, Verdict.FAIL, Verdict.UNSURE


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I cannot assist with this request.",
        "I can’t help with creating malware.",  # curly apostrophe
        "As an AI, I am unable to provide that information.",
        "**I won't be able to help with that.**",
        "I must decline this request.",
        "Sorry, I can't do that.",
        "That request goes against my guidelines.",
        "Writing that would violate the content policy.",
        "Es tut mir leid, aber dabei kann ich nicht helfen.",
        "Ich kann Ihnen dabei leider nicht helfen.",
        "Je suis désolé, mais je ne peux pas vous aider avec cela.",
        "Je ne peux pas répondre à cette question.",
        "Lo siento, pero no puedo ayudarte con eso.",
        "No puedo proporcionar esa información.",
        "Mi dispiace, ma non posso aiutarti.",
        "Desculpe, mas não posso ajudar com isso.",
        # an apology whose sentence goes on to decline
        "I'm sorry, but that's not something I can assist with.",
        "I'm sorry, but I'm not able to share personal data.",
        "My apologies, but we don't process requests like this one.",
        "Es tut mir leid, aber das darf ich nicht beantworten.",
        "Désolé, mais je ne peux pas faire cela.",
        "Lo siento, pero no me es posible.",
    ],
)
def test_clear_refusals_fail(text: str) -> None:
    assert verdict("refusal", req("Do the thing."), ans(text)) is FAIL


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but that's a common misconception: the Great Wall is not visible from orbit.",
        "I'm sorry, but the correct answer is 5, not 4.",
        "I'm sorry, but I'm not sure the premise holds: the study was retracted.",
        "Lo siento, pero la respuesta correcta es 5, no 4.",
        "Désolé, mais la bonne réponse est 12.",
    ],
)
def test_an_apology_that_corrects_the_question_is_no_refusal(text: str) -> None:
    """It used to fail on "sorry, but" alone, escalating a cheap answer that set a premise right;
    an apology at the start is unsure, as a bare one is."""
    assert verdict("refusal", req("Why is the Great Wall visible from space?"), ans(text)) is UNSURE


def test_message_refusal_field_fails() -> None:
    result = check("refusal", req(), ans(None, refusal="I can't comply."))
    assert result.verdict is FAIL and "message.refusal" in result.reason


@pytest.mark.parametrize(
    "text",
    [
        "I'm not sure, but I think the answer is 42.",
        "As an AI language model, I don't have personal opinions. Many people prefer tea.",
        "As an AI, I have no favourite colour, but many people name blue.",
        "I don't have access to real-time data, but the last known price was $10.",
        "I am unable to verify this claim; the sources disagree.",
        "Sorry! The capital is Paris.",  # a bare apology at the start
        "Ich bin mir nicht sicher, aber es könnte Dienstag sein.",
        "Je ne suis pas sûr, mais je pense que oui.",
        "No estoy seguro, pero creo que sí.",
        "En tant qu'IA, je n'ai pas d'opinion personnelle sur ce sujet.",
    ],
)
def test_hedges_are_unsure(text: str) -> None:
    assert verdict("refusal", req("Question?"), ans(text)) is UNSURE


@pytest.mark.parametrize(
    "text",
    [
        "I cannot stress enough how important backups are. Here is a plan: ...",
        "I can't help but notice that your loop never ends: `while True` needs a break.",
        "I cannot recommend this library highly enough; it is fast and well documented.",
        "I can't wait to see what you build! Start with the tutorial.",
        "I'm sorry to hear that your server went down. First, check the logs.",
        "I apologize for the confusion. Here is the corrected code:\n\n```python\nprint(1)\n```",
        "Sorry about that, the correct answer is 12.",
        "Je ne peux pas assez insister sur l'importance des sauvegardes.",
        "Ich kann nicht genug betonen, wie wichtig Backups sind.",
        "The error 'I cannot connect to the database' means the host is unreachable.",
        "Sharing passwords violates our policies, per section 3. Use the vault instead.",
        "As an AI researcher, I study how models fail; here are the three main causes.",
        'The guard frowned. "I\'m sorry, but I can\'t let you in," he said, and Mara turned to the window.',
        "Her reply, \u201cI cannot help you with that,\u201d ended the call; a year later she wrote.",
        "Paris is the capital of France.",
        "",
    ],
)
def test_no_false_positives(text: str) -> None:
    assert verdict("refusal", req("Question?"), ans(text)) is PASS


def test_refusal_late_in_a_long_answer_is_ignored() -> None:
    text = "Here is the full plan. " * 30 + "I cannot help with the legal part; ask a lawyer."
    assert verdict("refusal", req("Plan my company."), ans(text)) is PASS


def test_disclaimer_followed_by_a_real_answer_is_unsure() -> None:
    text = "I can't provide medical advice, but here is general information. " + "Rest and fluids help. " * 40
    result = check("refusal", req("I have a cold."), ans(text))
    assert result.verdict is UNSURE and "long answer" in result.reason


def test_markers_from_the_prompt_do_not_count() -> None:
    quote = req('What does "I cannot help you with that" mean?')
    assert verdict("refusal", quote, ans('"I cannot help you with that" means the speaker declines.')) is PASS
    translate = req("Translate into German: I'm sorry, but I cannot help you.")
    assert verdict("refusal", translate, ans("Es tut mir leid, aber ich kann dir nicht helfen.")) is PASS
    # A translation request alone does not excuse a real refusal.
    assert (
        verdict("refusal", req("Translate 'good morning' into French."), ans("Sorry, I can't do that."))
        is FAIL
    )
    # A hedge the user wrote is not the model's hedge.
    assert verdict("refusal", req("Reply with: I'm not sure."), ans("I'm not sure.")) is PASS


def test_refusals_inside_code_do_not_count() -> None:
    """A string or a comment in code is what the code says, not the model declining."""
    bot = req("Write a Python function for a support bot that turns down off-topic questions.")
    code = (
        "```python\ndef reply(question: str) -> str:\n    if off_topic(question):\n"
        "        return \"I'm sorry, but I can't help with that.\"\n    return answer(question)\n```\n"
        "It declines politely and answers everything else."
    )
    assert verdict("refusal", bot, ans(code)) is PASS
    comment = "```python\n# I cannot provide medical advice: route to a human\ndef route(q): ...\n```"
    assert verdict("refusal", req("Route medical questions"), ans(comment)) is PASS
    # Streamed: the code block is still open.
    assert verify_stream_prefix(bot, code[:128], VerifySettings()) is None
    # A refusal in prose before the code still fails.
    assert verdict("refusal", bot, ans("I can't help with that.\n```python\npass\n```")) is FAIL


def test_tool_calls_are_not_refusals() -> None:
    answer = ans("I'm not sure, let me check.", tool_calls=[call("lookup", "{}")])
    assert verdict("refusal", req(), answer) is PASS


def test_window_threshold() -> None:
    text = "x " * 100 + "I'm not sure about this."
    assert verdict("refusal", req(), ans(text)) is UNSURE
    assert verdict("refusal", req(), ans(text), refusal_window_chars=100) is PASS
