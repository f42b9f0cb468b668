"""Reading requests and answers: an answer's choices, a choice's text and tool calls, the last user
message, code stripping, word tokens and tolerant JSON parsing. Shared by the verifiers; nothing here
judges.

The verifiers read one choice: the chain (`chain.py`) hands each choice of an answer to them as an
answer of its own (`choices`), so the readers below look at choice 0 of what they are given."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import orjson

from satisfice.tokens import message_text

# Reasoning models served through some providers leave their scratchpad in the content.
_THINK = re.compile(r"^\s*<think>.*?(?:</think>|$)\s*", re.S)
_FENCE = re.compile(r"```[^\n]*\n.*?(?:```|$)|~~~[^\n]*\n.*?(?:~~~|$)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
# CJK characters carry no spaces, so each one is its own token; other word characters group as usual.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_LETTERS = re.compile(rf"[{_CJK}]|[^\W\d_{_CJK}]+")


def choices(answer: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    """(choice index, the answer with that choice alone) for every choice; an answer without choices
    is one choice (an empty one, which the verifiers fail)."""
    found = answer.get("choices")
    if not isinstance(found, list) or not found:
        return [(0, answer)]
    out: list[tuple[int, Mapping[str, Any]]] = []
    for i, choice in enumerate(found):
        index = choice.get("index") if isinstance(choice, Mapping) else None
        out.append((index if isinstance(index, int) else i, {**answer, "choices": [choice]}))
    return out


def message(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first choice's message (`choices` gives every choice its turn at being the first)."""
    choices = answer.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        msg = choices[0].get("message")
        if isinstance(msg, Mapping):
            return msg
    return {}


def finish_reason(answer: Mapping[str, Any]) -> str | None:
    choices = answer.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        reason = choices[0].get("finish_reason")
        return reason if isinstance(reason, str) else None
    return None


def content(answer: Mapping[str, Any]) -> str:
    """The answer's text, with a leading <think> block removed. A spoken answer (`modalities` with
    audio) has no content: its transcript is what it says."""
    msg = message(answer)
    text, _ = message_text(msg.get("content"))
    if not text.strip():
        audio = msg.get("audio")
        transcript = audio.get("transcript") if isinstance(audio, Mapping) else None
        text = transcript if isinstance(transcript, str) else text
    if text.lstrip().startswith("<think>"):
        text = _THINK.sub("", text, count=1)
    return text


def tool_calls(answer: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Tool calls of the first choice; a legacy `function_call` reads as one call."""
    msg = message(answer)
    calls = msg.get("tool_calls")
    out = [c for c in calls if isinstance(c, Mapping)] if isinstance(calls, list) else []
    legacy = msg.get("function_call")
    if isinstance(legacy, Mapping):
        out.append({"type": "function", "function": legacy})
    return out


def refusal(answer: Mapping[str, Any]) -> str:
    val = message(answer).get("refusal")
    return val if isinstance(val, str) else ""


def _user_text(msg: Any) -> str:
    return message_text(msg.get("content"))[0] if isinstance(msg, Mapping) else ""


def last_user_text(request: Mapping[str, Any]) -> str:
    messages = request.get("messages")
    if isinstance(messages, list):
        for msg in reversed(messages):
            if isinstance(msg, Mapping) and msg.get("role") == "user":
                return _user_text(msg)
    return ""


def system_text(request: Mapping[str, Any]) -> str:
    messages = request.get("messages")
    if not isinstance(messages, list):
        return ""
    return "\n".join(
        _user_text(m) for m in messages if isinstance(m, Mapping) and m.get("role") in ("system", "developer")
    )


def strip_code(text: str) -> str:
    """Prose only: fenced blocks and inline code removed (code says nothing about the language)."""
    if "`" not in text and "~~~" not in text:
        return text
    return _INLINE_CODE.sub(" ", _FENCE.sub("\n", text))


@functools.lru_cache(maxsize=16)
def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (digits included); every CJK character is one token. Cached: several
    verifiers read the same answer. The list is shared: do not mutate it."""
    tokens: list[str] = _TOKEN.findall(text.lower())
    return tokens


def letter_words(text: str) -> list[str]:
    """Lower-cased tokens made of letters only (no digits, no underscores)."""
    return _LETTERS.findall(text.lower())


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> tuple[bool, Any]:
    """(True, value) when `text` is valid JSON. orjson first (fast); the standard library only on failure,
    for what orjson rejects but JSON allows (integers beyond 64 bits)."""
    try:
        return True, orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return True, json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return False, None
