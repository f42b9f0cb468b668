"""Prompts any chat model answers: a greeting, thanks, "how are you", or sums of small numbers.

The router's data holds none of them (its shortest prompts are proofs and algorithm questions), so
the learned predictor reads such a prompt as a middling one and, under a relative knob, sends "hi"
to a frontier model (docs/router.md). This is a hand-set rule, not a measurement: it only claims
that these few kinds of prompt need no strong model. It fires only on the conversation's first
user turn: later, a short "thanks" or "ok" may be a go-ahead for the work discussed before it.
"""

from __future__ import annotations

import re
from typing import Any

_GREETINGS = frozenset(
    {"hi", "hello", "hey", "hiya", "heya", "howdy", "yo", "greetings", "good morning"}
    | {"good afternoon", "good evening", "morning", "evening", "how are you", "how are you doing"}
    | {"how is it going", "hows it going", "how are things", "whats up", "sup", "nice to meet you"}
    | {"hola", "bonjour", "salut", "hallo", "ciao", "ola", "namaste"}
)
_THANKS = frozenset(
    {"thanks", "thank you", "thanks a lot", "thank you so much", "many thanks", "thx", "ty", "cheers"}
    | {"merci", "danke", "gracias", "grazie", "obrigado"}
    | {"bye", "goodbye", "good bye", "see you", "see you later", "good night"}
)
# Whom a greeting may name: "hi there", "hello Claude"
_VOCATIVES = frozenset({"there", "all", "everyone", "friend", "bot", "assistant", "claude", "gpt", "chatgpt"})
_MAX_PHRASES = 3  # "hi there, how are you?" is two
# "What is 2+2?", "calculate 12 * 7", "3 - 1 =": two whole numbers of at most two digits. Written
# bare, only a sum or a product: "24/7", "7-11" or "9/11" alone are names, not questions; "0x10"
# and "1920x1080" are not sums at all.
_SUM = re.compile(
    r"^(?P<ask>what is|what's|whats|calculate|compute|how much is)?\s*\d{1,2}\s*"
    r"(?P<op>[-+*/\u00d7\u00f7])\s*\d{1,2}\s*(?P<eq>=)?\s*(?P<q>\?)?$"
)
_NOISE = re.compile(r"[!?.,;:~'\"()\[\]]+|[\U0001F300-\U0001FAFF\u2600-\u27BF]")  # punctuation, emoji
_MAX_CHARS = 60


def trivial_kind(messages: Any) -> str | None:
    """The kind ("a greeting", "thanks or a goodbye", "a sum of small numbers") when the request is one
    user turn of that kind (system or developer messages aside); None otherwise."""
    if not isinstance(messages, list):
        return None
    users = []
    for m in messages:
        if not isinstance(m, dict):
            return None
        role = m.get("role")
        if role == "user":
            users.append(m.get("content"))
        elif role not in ("system", "developer"):
            return None  # an assistant or tool turn: not the start of a conversation
    text = _text(users[0]) if len(users) == 1 else None
    if text is None or len(text) > _MAX_CHARS:
        return None
    text = text.strip().lower()
    if _is_small_sum(text):
        return "a sum of small numbers"
    words = _NOISE.sub(" ", text.replace("'", "")).split()
    if not words:  # empty, "???", an emoji: the task may be in the system message
        return None
    if _phrases(words, _THANKS):
        return "thanks or a goodbye"
    if _phrases(words, _GREETINGS | _THANKS):
        return "a greeting"
    return None


def _phrases(words: list[str], known: frozenset[str], left: int = _MAX_PHRASES) -> bool:
    """`words` is a few phrases of `known`, each perhaps followed by a vocative ("hi there")."""
    if not words:
        return True
    if left == 0:
        return False
    for n in range(min(len(words), 5), 0, -1):
        if " ".join(words[:n]) in known:
            rest = words[n:]
            if rest and rest[0] in _VOCATIVES:
                rest = rest[1:]
            if _phrases(rest, known, left - 1):
                return True
    return False


def _text(content: Any) -> str | None:
    """A user turn's text: a string, or text parts only (an image or a file is not trivial)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return " ".join(str(p.get("text") or "") for p in content)
    return None


def _is_small_sum(text: str) -> bool:
    m = _SUM.match(text)
    return m is not None and (m["op"] in "+*\u00d7" or bool(m["ask"] or m["eq"] or m["q"]))
