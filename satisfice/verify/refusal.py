"""`refusal`: the model declined (fail) or hedged (unsure). Looks only at the start of the answer, where
refusals sit; the marker lists are data in `markers.py`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from satisfice.verify.base import Check, clip, failed, passed, threshold, unsure
from satisfice.verify.lang import asks_translation, sample
from satisfice.verify.markers import APOLOGY, BENIGN, DECLINE, HEDGE, REFUSAL, SORRY_BUT
from satisfice.verify.text import content, last_user_text, refusal, strip_code, tool_calls


def _compile(table: Mapping[str, tuple[str, ...]], prefix: str) -> re.Pattern[str]:
    return re.compile(prefix + "(?:" + "|".join(p for pats in table.values() for p in pats) + ")")


_REFUSAL = _compile(REFUSAL, r"\b")
_SORRY_BUT = _compile(SORRY_BUT, r"\b")
_DECLINE = _compile(DECLINE, r"")
_HEDGE = _compile(HEDGE, r"\b")
_APOLOGY = _compile(APOLOGY, r"^[\W_]*")
_BENIGN = _compile(BENIGN, r"")
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile("[.!?\n\u3002\uff01\uff1f]")  # incl. CJK full stops
_CONTRAST = re.compile(
    r"\b(?:but|however|although|aber|jedoch|mais|cependant|pero|sin embargo|ma|però|mas)\b"
)
_STYLE = re.compile(r"[*_#>]+")
# Words in double quotes are someone else's: a story's character, a message being explained.
_QUOTED = re.compile(r'"[^"\n]{1,300}"|\u201c[^\u201d\n]{1,300}\u201d|\u00ab[^\u00bb\n]{1,300}\u00bb')


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, markdown emphasis dropped, single spaces."""
    text = _STYLE.sub("", text.lower().replace("\u2019", "'").replace("\u2018", "'"))
    return _SPACE.sub(" ", text)


def _declining_apology(head: str) -> re.Match[str] | None:
    """"I'm sorry, but ..." whose sentence goes on to decline (markers.SORRY_BUT, DECLINE)."""
    found = _SORRY_BUT.search(head)
    if found is None:
        return None
    end = _SENTENCE_END.search(head, found.end())
    stop = end.start() if end is not None else len(head)
    return found if _DECLINE.search(head, found.end(), stop) is not None else None


def refusal_check(
    name: str, request: Mapping[str, Any], text: str, window: int, followup: int, *, stream: bool = False
) -> Check | None:
    """The verdict on the start of `text`; None when nothing is wrong. With `stream`, `text` is a prefix:
    a refusal counts once its sentence is complete and has not turned ("..., but here is ...").
    Code is not read: a string or a comment in it ("return 'Sorry, I can't help with that.'") is what
    the code says, not the model declining."""
    head = normalise(strip_code(text)[:window]).strip()
    if not head:
        return None
    spoken = _QUOTED.sub('""', head)  # (normalise kept the quotes; the apostrophes are straight)
    found = _REFUSAL.search(spoken) or _declining_apology(spoken)
    if found is not None:
        marker = found.group(0)
        prompt = last_user_text(request)
        asked = normalise(sample(prompt, 4000))
        if marker in asked or (_REFUSAL.search(asked) and asks_translation(prompt)):
            # Quoting the prompt, or translating a text that itself says "I can't help you", is not refusing.
            return passed(name, f"refusal marker {clip(marker)!r} comes from the prompt")
        if stream:
            end = _SENTENCE_END.search(spoken, found.end())
            if end is None or _CONTRAST.search(spoken, found.end(), end.start()) is not None:
                return None
        elif len(text) - found.end() >= followup:
            return unsure(name, f"refusal marker {clip(marker)!r}, then a long answer (a disclaimer?)")
        return failed(name, f"refusal: {clip(marker)!r}")
    apology = _APOLOGY.match(head)
    if apology is not None and _BENIGN.search(head, apology.end(), apology.end() + 60) is None:
        return unsure(name, f"apology at the start: {clip(head[: apology.end() + 30])!r}")
    hedge = _HEDGE.search(head)
    if hedge is not None and hedge.group(0) not in normalise(sample(last_user_text(request), 4000)):
        return unsure(name, f"hedge: {clip(hedge.group(0))!r}")
    return None


class Refusal:
    name = "refusal"
    defaults: Mapping[str, float] = {"refusal_window_chars": 300, "refusal_followup_chars": 600}

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        declined = refusal(answer)
        if declined.strip():
            return failed(self.name, f"message.refusal: {clip(declined)!r}")
        text = content(answer)
        if tool_calls(answer) and len(text.strip()) < 200:
            return passed(self.name, "answered with tool calls")
        window = int(threshold(settings, self.defaults, "refusal_window_chars"))
        followup = int(threshold(settings, self.defaults, "refusal_followup_chars"))
        found = refusal_check(self.name, request, text, window, followup)
        return found if found is not None else passed(self.name, "no refusal markers")
