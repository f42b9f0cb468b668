"""`degenerate`: empty answers, repetition loops, and suspiciously short answers to demanding prompts."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from satisfice.verify.base import Check, clip, failed, passed, threshold, unsure
from satisfice.verify.lang import sample
from satisfice.verify.text import content, last_user_text, strip_code, tokens, tool_calls

_DEMAND = re.compile(
    r"\b(?:write|explain|describe|implement|compare|analy[sz]e|summari[sz]e|essay|in detail|step by step|"
    r"outline|draft|elaborate|schreib|erkläre?|beschreib|vergleich|analysier|zusammenfass|écri[rsv]|expliqu|"
    r"décri[rsv]|analys|résum|escrib|explica|describ|analiz|resum)",
    re.I,
)
_BRIEF = re.compile(
    r"\b(?:one word|single word|yes or no|(?:only|just) (?:the|a|one) (?:number|answer|letter|name|word)|"
    r"briefly|short answer|in one (?:word|sentence)|(?:respond|answer|reply) with (?:only|just)|"
    r"nur mit|in einem wort|en un mot|en una palabra)",
    re.I,
)
# "Write it 10 times", "repeat after me": repetition was asked for; "3 x 12", "7 times 8" are products.
# A song's chorus or a poem's refrain comes back by design.
_REPEAT = re.compile(
    r"\b(?:repeat|repetition|wiederhol|répét|repit|ripet|refrain|chorus|lyrics|songs?\b|villanelle|"
    r"estribillo|ritornell|lied\b|chanson|canción|canzone|"
    r"\d+\s*(?:times|x|mal|fois|veces|volte|vezes|keer)\b(?!\s*[\d(]))",
    re.I,
)
# A "word" of 60+ characters is either a loop inside one token ("hahaha...") or something exotic.
_LONG_WORD = 60
_CHAR_LOOP = re.compile(r"(.{1,12}?)\1{9,}")
_LINE_SHARE = 0.35  # a repeated line must also dominate: refrains and table borders repeat legitimately
_MAX_PERIOD = 40  # longest repeating unit (tokens) the tail-loop check looks for
_TAIL_TOKENS = 2000


def line_loop(text: str, limit: float) -> str | None:
    """A line with words that repeats at least `limit` times and makes up a large share of the lines
    (lines of numbers or punctuation are data and table borders, not loops). Fenced code is left out:
    code repeats lines by nature (`pass` in every stub class, `return nil`, `COMMIT;`); a loop in
    code is still caught at the tail or by the n-gram ratio."""
    lines = [
        s
        for s in (ln.strip() for ln in strip_code(text).splitlines())
        if len(s) >= 4 and any(c.isalpha() for c in s)
    ]
    if len(lines) < limit:
        return None
    line, count = Counter(lines).most_common(1)[0]
    if count >= limit and count >= _LINE_SHARE * len(lines):
        return f"line repeated {count}x: {clip(line, 40)!r}"
    return None


def tail_loop(toks: list[str], limit: float) -> str | None:
    """The answer ends in a loop: one unit of 1-40 tokens repeated back to back (short units need more
    repeats). A last unit cut off mid-way (max_tokens) is tolerated."""
    toks = toks[-_TAIL_TOKENS:]
    k = max(2, int(limit))
    for cut in (0, 1, 2):
        seq = toks[: len(toks) - cut] if cut else toks
        for p in range(1, min(_MAX_PERIOD, len(seq) // k) + 1):
            reps = max(k, math.ceil(2 * k / p))
            span = p * reps
            if span > len(seq):
                break
            if seq[-1] != seq[-1 - p]:
                continue  # the common case, decided without slicing
            tail = seq[-span:]
            unit = tail[-p:]
            if tail[:-p] == tail[p:] and any(not t.isdigit() for t in unit):  # rows of zeros are data
                return f"ends in a loop of {clip(' '.join(unit), 40)!r} ({reps}+ times)"
    return None


def ngram_ratio(toks: list[str], n: int = 4) -> float:
    """Distinct n-grams / n-grams: near 1 for prose, 1/r for a text that is one unit repeated r times."""
    grams = len(toks) - n + 1
    if grams <= 0:
        return 1.0
    return len(set(zip(*(toks[i:] for i in range(n)), strict=False))) / grams


def asked_repetition(request: Mapping[str, Any]) -> bool:
    return _REPEAT.search(sample(last_user_text(request), 2000)) is not None


def repetition(text: str, settings: Mapping[str, Any], defaults: Mapping[str, float]) -> str | None:
    """Why `text` is degenerate by repetition, or None. Also used on a stream's text so far."""
    found = line_loop(text, threshold(settings, defaults, "max_line_repeats"))
    if found:
        return found
    toks = tokens(text)
    if max(map(len, toks), default=0) >= _LONG_WORD:
        for word in (t for t in toks if len(t) >= _LONG_WORD and not t.isdigit()):
            loop = _CHAR_LOOP.search(word)
            if loop is not None:
                return f"a word repeating {clip(loop.group(1), 20)!r}"
    found = tail_loop(toks, threshold(settings, defaults, "max_tail_repeats"))
    if found:
        return found
    if len(toks) >= threshold(settings, defaults, "repetition_min_tokens"):
        if sum(t.isdigit() for t in toks) > 0.5 * len(toks):
            return None  # mostly numbers: data (a zero matrix) repeats without being a loop
        ratio = ngram_ratio(toks)
        if ratio < threshold(settings, defaults, "min_distinct_ngram_ratio"):
            return f"repetitive: {ratio:.2f} distinct 4-grams"
        window = toks[-500:]
        if len(window) >= 200:
            ratio = len(set(window)) / len(window)
            if ratio < threshold(settings, defaults, "min_distinct_token_ratio"):
                return f"repetitive: {ratio:.2f} distinct tokens"
    return None


class Degenerate:
    name = "degenerate"
    defaults: Mapping[str, float] = {
        "max_line_repeats": 6,
        "max_tail_repeats": 6,
        "repetition_min_tokens": 60,
        "min_distinct_ngram_ratio": 0.3,
        "min_distinct_token_ratio": 0.1,
        "min_answer_chars": 20,
        "demanding_prompt_chars": 300,
    }

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        text = content(answer)
        stripped = text.strip()
        calls = tool_calls(answer)
        if not stripped and not calls:
            if request.get("stop"):  # the client's stop sequence can end an answer before it starts
                return unsure(self.name, "empty answer (the request's stop sequences may have cut it)")
            return failed(self.name, "empty answer")
        found = repetition(text, settings, self.defaults) if stripped else None
        if found:
            if asked_repetition(request):
                return passed(self.name, f"{found}, but the prompt asks for repetition")
            return failed(self.name, found)
        if calls:
            return passed(self.name, "tool calls")
        if len(stripped) < threshold(settings, self.defaults, "min_answer_chars"):
            prompt = last_user_text(request)
            long = len(prompt) >= threshold(settings, self.defaults, "demanding_prompt_chars")
            fmt = request.get("response_format")
            structured = isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema")
            if long and not structured and _DEMAND.search(prompt) and not _BRIEF.search(prompt):
                return unsure(
                    self.name, f"{len(stripped)}-char answer to a {len(prompt)}-char demanding prompt"
                )
        return passed(self.name, "not degenerate")
