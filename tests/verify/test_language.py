# ruff: noqa: RUF001  (CJK punctuation and Greek or Cyrillic letters are the point here)
"""language: script and stopword detection, mismatches, and the cases that must never fail."""

from __future__ import annotations

import pytest

from satisfice.verify import Verdict
from satisfice.verify.lang import detect
from tests.verify.helpers import ans, check, req, verdict

PASS, FAIL, UNSURE = Verdict.PASS, Verdict.FAIL, Verdict.UNSURE

SAMPLES = {
    "en": "What is the best way to learn a new language, and how long does it usually take?",
    "de": "Was ist der beste Weg, eine neue Sprache zu lernen, und wie lange dauert das normalerweise?",
    "fr": "Quelle est la meilleure façon d'apprendre une langue et combien de temps faut-il pour cela ?",
    "es": "¿Cuál es la mejor manera de aprender un idioma nuevo y cuánto tiempo se tarda normalmente?",
    "it": "Qual è il modo migliore per imparare una nuova lingua e quanto tempo ci vuole di solito?",
    "pt": "Qual é a melhor maneira de aprender uma nova língua e quanto tempo isso leva normalmente?",
    "nl": "Wat is de beste manier om een nieuwe taal te leren en hoe lang duurt het meestal?",
    "zh": "学习一门新语言最好的方法是什么？通常需要多长时间才能学会？",
    "ja": "新しい言語を学ぶ一番良い方法は何ですか？普通はどのくらい時間がかかりますか？",
    "ko": "새로운 언어를 배우는 가장 좋은 방법은 무엇이며 보통 얼마나 걸립니까?",
    "cyrillic": "Какой лучший способ выучить новый язык и сколько времени это обычно занимает?",
    "arabic": "ما هي أفضل طريقة لتعلم لغة جديدة وكم من الوقت يستغرق ذلك عادة؟",
    "greek": "Ποιος είναι ο καλύτερος τρόπος να μάθεις μια νέα γλώσσα και πόσο χρόνο χρειάζεται;",
}
ANSWERS = {
    "en": "The best way is to practise every day with native speakers, and it usually takes about a year.",
    "de": "Der beste Weg ist, jeden Tag mit Muttersprachlern zu üben, und es dauert meistens etwa ein Jahr.",
    "fr": "La meilleure façon est de pratiquer tous les jours avec des natifs, et cela prend environ un an.",
    "es": "La mejor manera es practicar todos los días con nativos, y normalmente se tarda un año.",
    "zh": "最好的方法是每天和母语者练习，通常需要大约一年的时间。",
    "cyrillic": "Лучший способ — каждый день практиковаться с носителями, обычно это занимает около года.",
}


@pytest.mark.parametrize("lang", list(SAMPLES))
def test_detector(lang: str) -> None:
    found = detect(SAMPLES[lang])
    assert found.lang == lang and found.confident, found


def test_detector_undetermined() -> None:
    assert detect("").lang is None
    assert detect("12345 + 678 = ?").lang is None
    assert not detect("Wie spät?").confident  # too few words to be sure


@pytest.mark.parametrize("lang", ["en", "de", "fr", "es", "zh", "cyrillic"])
def test_same_language_passes(lang: str) -> None:
    assert verdict("language", req(SAMPLES[lang]), ans(ANSWERS[lang])) is PASS


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [("de", "en"), ("en", "de"), ("fr", "es"), ("es", "en"), ("zh", "en"), ("en", "zh"), ("cyrillic", "en")],
)
def test_confident_mismatch_fails(prompt: str, answer: str) -> None:
    result = check("language", req(SAMPLES[prompt]), ans(ANSWERS[answer]))
    assert result.verdict is FAIL
    assert result.reason == f"prompt {prompt}, answer {answer}"


def test_translation_and_named_language_pass() -> None:
    answer = ans(ANSWERS["de"])
    assert verdict("language", req("Translate into German: " + ANSWERS["en"]), answer) is PASS
    assert (
        verdict("language", req("Übersetze bitte ins Deutsche, was ich dir auf Englisch schreibe."), answer)
        is PASS
    )
    assert verdict("language", req(SAMPLES["en"] + " Please reply in German."), answer) is PASS
    system = "You are a tutor. Always answer in German, whatever the user writes."
    assert verdict("language", req(SAMPLES["en"], system=system), answer) is PASS
    assert verdict("language", req("翻译成英文：" + SAMPLES["zh"]), ans(ANSWERS["en"])) is PASS


def test_code_only_and_short_answers_pass() -> None:
    code = "```python\ndef lernen(sprache):\n    return 'the best way is to practise every day'\n```"
    assert verdict("language", req(SAMPLES["de"]), ans(code)) is PASS
    assert verdict("language", req(SAMPLES["de"]), ans("Ja, `pip install requests`.")) is PASS
    assert verdict("language", req(SAMPLES["de"]), ans("OK, thank you!")) is PASS  # too little prose
    json_mode = req(SAMPLES["de"], response_format={"type": "json_object"})
    assert (
        verdict("language", json_mode, ans('{"answer": "the best way is to practise with people"}')) is PASS
    )


def test_prose_around_code_counts() -> None:
    text = ANSWERS["en"] + "\n\n```python\nprint('hallo welt')\n```"
    assert verdict("language", req(SAMPLES["de"]), ans(text)) is FAIL


def test_weak_evidence_is_unsure_or_pass() -> None:
    # A short prompt cannot be confidently placed: never fail on it.
    assert verdict("language", req("Wie spät?"), ans(ANSWERS["en"])) in (PASS, UNSURE)
    assert verdict("language", req("Hi"), ans(ANSWERS["de"])) is PASS
    # A German question around a pasted English log: mixed prompt, the English answer is not a clear mismatch.
    mixed = (
        "Was bedeutet dieser Fehler und wie kann ich ihn beheben? Error: the connection to the server "
        "was refused because the port is not open and the host could not be reached"
    )
    assert verdict("language", req(mixed), ans(ANSWERS["en"])) is not FAIL


def test_cjk_japanese_vs_chinese_is_never_a_hard_fail() -> None:
    assert verdict("language", req(SAMPLES["ja"]), ans(ANSWERS["zh"])) is not FAIL
