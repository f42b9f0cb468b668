"""A tiny language detector: the script first (CJK, Cyrillic, Arabic, ...), then, for Latin script,
stopword votes for en/de/fr/es/it/pt/nl. Confident only when the evidence is clear; made for "does the
answer speak the prompt's language", not for labelling corpora."""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass

from satisfice.verify.base import Verdict
from satisfice.verify.langdata import NAMES, SCRIPTS, STOPWORDS, TRANSLATE
from satisfice.verify.text import tokens


def _distinctive() -> dict[str, str]:
    seen = Counter(w for words in STOPWORDS.values() for w in set(words.split()))
    return {w: lang for lang, words in STOPWORDS.items() for w in words.split() if seen[w] == 1}


_VOTE = _distinctive()
_SCRIPT_RE = {name: re.compile(f"[{ranges}]") for name, ranges in SCRIPTS.items()}
_ANY_SCRIPT = re.compile("[" + "".join(SCRIPTS.values()) + "]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
# One CJK character or Hangul syllable carries about as much as a short Latin word.
_WEIGHT = {"han": 3.0, "kana": 3.0, "hangul": 3.0}
_FAMILY = {"han": "cjk", "kana": "cjk", "hangul": "ko"}
SAMPLE_CHARS = 600  # head and tail: plenty of stopwords, bounded cost


@dataclass(frozen=True, slots=True)
class Detected:
    lang: str | None  # en/de/fr/es/it/pt/nl, zh/ja/ko, or a script (cyrillic, arabic, ...); None: no idea
    family: str  # latin, cjk, ko, cyrillic, arabic, ... or "" when there are no letters
    confident: bool
    votes: dict[str, int]  # stopword hits per Latin-script language
    words: int  # tokens in the sample (a CJK character counts as one)


_NONE = Detected(None, "", False, {}, 0)


def sample(text: str, chars: int = SAMPLE_CHARS) -> str:
    """Head and tail of a long text: instructions often sit at the end of a pasted document."""
    return text if len(text) <= 2 * chars else text[:chars] + "\n" + text[-chars:]


def detect(text: str, *, min_votes: int = 3) -> Detected:
    text = sample(text)
    if text.isascii() or _ANY_SCRIPT.search(text) is None:
        return _latin(text, 1.0, min_votes)  # the common case: no script to count
    weights: dict[str, float] = {"latin": float(len(_LATIN.findall(text)))}
    for name, rx in _SCRIPT_RE.items():
        n = len(rx.findall(text))
        if n:
            weights[name] = n * _WEIGHT.get(name, 1.0)
    total = sum(weights.values())
    if total == 0:
        return _NONE
    cjk = weights.get("han", 0.0) + weights.get("kana", 0.0)
    if cjk:
        weights["cjk"] = cjk
    top = max((k for k in weights if k not in ("han", "kana")), key=lambda k: weights[k])
    share = weights[top] / total
    if top == "latin":
        return _latin(text, share, min_votes)
    family = _FAMILY.get(top, top)
    if family == "cjk":
        # Kana never appears in Chinese; Japanese uses it in nearly every sentence.
        lang = "ja" if weights.get("kana", 0.0) >= 0.1 * cjk else "zh"
        return Detected(lang, "cjk", share >= 0.6 and cjk >= 15, {}, len(tokens(text)))
    confident = share >= 0.6 and weights[top] >= 10 * _WEIGHT.get(top, 1.0)
    return Detected(family, family, confident, {}, len(tokens(text)))


def _latin(text: str, share: float, min_votes: int) -> Detected:
    words = tokens(text)  # digits never vote; sharing the cached tokens keeps this cheap
    votes: dict[str, int] = {}
    for w in words:
        lang = _VOTE.get(w)
        if lang is not None:
            votes[lang] = votes.get(lang, 0) + 1
    if not votes:
        return Detected(None, "latin" if words else "", False, votes, len(words))
    ranked = sorted(votes.items(), key=lambda kv: -kv[1])
    best, hits = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    confident = share >= 0.6 and hits >= min_votes and hits >= 2 * second + 1 and hits >= 0.08 * len(words)
    return Detected(best, "latin", confident, votes, len(words))


@functools.cache
def _translate() -> re.Pattern[str]:
    return re.compile(TRANSLATE)  # a long alternation, needed only on a mismatch: compiled on first use


def asks_translation(prompt: str) -> bool:
    """The prompt asks to translate, or to write in a named language."""
    return _translate().search(sample(prompt, 4000).lower()) is not None


def names_language(text: str, lang: str) -> bool:
    """`text` names `lang` (in a few languages): the user asked for it."""
    low = sample(text, 4000).lower()
    return any(name in low for name in NAMES.get(lang, ()))


def mismatch(prompt: Detected, answer: Detected) -> tuple[Verdict, str] | None:
    """(FAIL or UNSURE, "prompt de, answer en"), or None when the languages agree or are unknown."""
    if prompt.lang is None or answer.lang is None or prompt.lang == answer.lang:
        return None
    label = f"prompt {prompt.lang}, answer {answer.lang}"
    both = prompt.confident and answer.confident
    if prompt.family != answer.family:
        return (Verdict.FAIL if both else Verdict.UNSURE), label
    if prompt.family == "cjk":
        return Verdict.UNSURE, label  # kana counts are too thin a signal to fail on
    if both:
        # A prompt that itself mixes in the answer's language (quoted text, a pasted log) is not a mismatch.
        mixed = prompt.votes.get(answer.lang, 0) >= max(2, 0.3 * prompt.votes.get(prompt.lang, 0))
        return (Verdict.UNSURE if mixed else Verdict.FAIL), label
    if prompt.confident or answer.confident:
        return Verdict.UNSURE, label
    return None
