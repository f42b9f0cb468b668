"""`language`: the answer speaks the language of the last user message.

Fails only when both sides are confidently detected and differ; code, translations and answers in a
language the prompt names ("reply in French", a system prompt's "always answer in English") never fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from satisfice.verify import lang
from satisfice.verify.base import Check, passed, threshold
from satisfice.verify.text import content, last_user_text, strip_code, system_text


def language_check(name: str, request: Mapping[str, Any], answer_text: str, min_words: float) -> Check | None:
    """The verdict on `answer_text` (also used on a stream's prefix); None when the languages agree."""
    said = lang.detect(strip_code(answer_text))
    if said.words < min_words:
        return passed(name, "too little prose to tell (code or a short answer)")
    prompt = strip_code(last_user_text(request))
    found = lang.mismatch(lang.detect(prompt), said)
    if found is None or said.lang is None:
        return None
    verdict, label = found
    # Checked only on a mismatch: most answers never pay for these scans.
    if lang.asks_translation(prompt):
        return passed(name, f"{label}: translation or a named language requested")
    if lang.names_language(prompt, said.lang) or lang.names_language(system_text(request), said.lang):
        return passed(name, f"{label}: the prompt names {said.lang}")
    return Check(name, verdict, label)


class Language:
    name = "language"
    defaults: Mapping[str, float] = {"language_min_words": 4}

    @staticmethod
    def structured(request: Mapping[str, Any]) -> bool:
        """JSON output: keys and values follow the schema, not the conversation's language."""
        fmt = request.get("response_format")
        return isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema")

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        if self.structured(request):
            return passed(self.name, "structured output")
        min_words = threshold(settings, self.defaults, "language_min_words")
        found = language_check(self.name, request, content(answer), min_words)
        return found if found is not None else passed(self.name, "same language")
