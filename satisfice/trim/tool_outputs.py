"""Level `tool_outputs`: a tool result longer than `tool_output_max_tokens` keeps its head and tail
around a visible marker, e.g. "[… 1,234 tokens cut by Satisfice …]".

The head gets two thirds of the allowance (where logs, search results and files usually say what
they are), the tail the rest (where errors and summaries end up); both ends snap to a line break when
one is near, so no line is cut in half when it can be avoided.
"""

from __future__ import annotations

from typing import Any

from satisfice.trim.content import TOOL_ROLES, codec, map_text, role, with_content

MARKER = "[… {n:,} tokens cut by Satisfice …]"
_MARKER_TOKENS = 20  # the marker, its line breaks and re-encoding slack at the cuts
_SNAP = 0.25  # snap to a line break within the last (head) / first (tail) quarter


def _snap_head(text: str) -> str:
    cut = text.rfind("\n", int(len(text) * (1 - _SNAP)))
    return text[:cut] if cut > 0 else text


def _snap_tail(text: str) -> str:
    cut = text.find("\n", 0, int(len(text) * _SNAP) + 1)
    return text[cut + 1 :] if cut >= 0 else text


def cut_text(text: str, max_tokens: int, model: str) -> str:
    """`text` itself when it has at most `max_tokens` tokens, else its head and tail around a marker,
    within `max_tokens` in all."""
    if len(text.encode()) <= max_tokens:  # a token covers at least one byte: surely short enough
        return text
    enc = codec(model)
    ids = enc.encode(text, disallowed_special=())
    if len(ids) <= max_tokens:
        return text
    keep = max_tokens - _MARKER_TOKENS
    n_head = keep * 2 // 3
    # Decoding a token slice may split a multi-byte character: drop the replacement characters.
    head = _snap_head(enc.decode(ids[:n_head]).rstrip("\ufffd"))
    tail = _snap_tail(enc.decode(ids[len(ids) - (keep - n_head) :]).lstrip("\ufffd"))
    kept = len(enc.encode(head, disallowed_special=())) + len(enc.encode(tail, disallowed_special=()))
    cut = len(ids) - kept
    return f"{head}\n{MARKER.format(n=max(cut, 0))}\n{tail}"


def cut_tool_outputs(messages: list[dict[str, Any]], max_tokens: int, model: str) -> int:
    """Cut long tool results in place (in the list, not in the dicts); returns how many were cut."""
    done = 0
    for i, msg in enumerate(messages):
        if role(msg) not in TOOL_ROLES:
            continue
        content = msg.get("content")
        new = _cut_content(content, max_tokens, model)
        if new is not content:
            messages[i] = with_content(msg, new)
            done += 1
    return done


def _cut_content(content: Any, max_tokens: int, model: str) -> Any:
    """`content` within `max_tokens`: a result of several text parts is cut as one text (cut part
    by part, each part kept its own allowance), which then takes the first part's place; other
    parts (images) stay where they are. The same object when nothing was cut."""
    texts = (
        [p for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        if isinstance(content, list)
        else []
    )
    if len(texts) < 2:
        return map_text(content, lambda text: cut_text(text, max_tokens, model))
    joined = "\n".join(p["text"] for p in texts)
    cut = cut_text(joined, max_tokens, model)
    if cut == joined:
        return content
    others = {id(p) for p in texts[1:]}
    return [{**p, "text": cut} if p is texts[0] else p for p in content if id(p) not in others]
