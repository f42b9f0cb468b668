"""Message content helpers: read and rewrite the text of a message (a string or a list of parts) without
touching its images, and count its tokens the way `satisfice.tokens.count_prompt` does."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from satisfice import tokens

# Roles whose messages are the route's instructions: never dropped, never cut.
SYSTEM_ROLES = frozenset({"system", "developer"})
TOOL_ROLES = frozenset({"tool", "function"})
# count_prompt joins every text with "\n": one token per text covers the separator (BPE never needs
# more tokens for the joined string than for its pieces plus the separator).
_JOIN = 1
_PER_MESSAGE = 4  # OpenAI's chat framing per message (as in satisfice.tokens)
PER_REPLY = 3
IMAGE_TOKENS = 85  # satisfice.tokens' estimate per image part (low detail); images are never altered


class Codec(Protocol):
    def encode(self, text: str, *, disallowed_special: Any = ...) -> list[int]: ...

    def decode(self, tokens: list[int]) -> str: ...


def codec(model: str) -> Codec:
    return cast(Codec, tokens.encoding(tokens.encoding_name_for(model)))


def text_parts(content: Any) -> list[str]:
    """The texts of a content: the string itself, or each text part of a list."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return []


def map_text(content: Any, fn: Callable[[str], str]) -> Any:
    """`content` with `fn` applied to each text; other parts (images, audio) are kept as they are.
    Returns the same object when nothing changed, so callers can detect a change by identity."""
    if isinstance(content, str):
        new = fn(content)
        return content if new == content else new
    if not isinstance(content, list):
        return content
    out: list[Any] = []
    changed = False
    for part in content:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            new = fn(part["text"])
            if new != part["text"]:
                part = {**part, "text": new}
                changed = True
        out.append(part)
    return out if changed else content


def set_text_parts(content: Any, texts: list[str]) -> Any:
    """`content` with its text parts (as `text_parts` lists them) replaced by `texts`, in order."""
    it = iter(texts)
    return map_text(content, lambda _old: next(it))


def with_content(msg: Mapping[str, Any], content: Any) -> dict[str, Any]:
    return {**msg, "content": content}


def role(msg: Mapping[str, Any]) -> str:
    return str(msg.get("role", ""))


def has_images(msg: Mapping[str, Any]) -> bool:
    return tokens.message_text(msg.get("content"))[1] > 0


def _call_texts(msg: Mapping[str, Any]) -> list[str]:
    out = []
    for call in msg.get("tool_calls") or ():
        if isinstance(call, dict):
            fn = call.get("function") or {}
            out.append(str(fn.get("name", "")) + str(fn.get("arguments", "")))
    return out


def message_tokens(msg: Mapping[str, Any], model: str) -> int:
    """Tokens this message adds to `count_prompt`, rounded up (the join separators included)."""
    text, images = tokens.message_text(msg.get("content"))
    total = _PER_MESSAGE + images * IMAGE_TOKENS + tokens.count_text(text, model) + _JOIN
    for call in _call_texts(msg):
        total += tokens.count_text(call, model) + _JOIN
    return total


def message_bytes_bound(msg: Mapping[str, Any]) -> int:
    """Never below `message_tokens` (a byte-level BPE token covers at least one byte), no tokenizing;
    images are bounded as `tokens.prompt_upper_bound` bounds them."""
    text, images = tokens.message_text(msg.get("content"))
    calls = _call_texts(msg)
    calls_bound = sum(len(c.encode()) + _JOIN for c in calls)
    return _PER_MESSAGE + images * 1500 + len(text.encode()) + _JOIN + calls_bound
