"""Which messages must stay and which turns may go.

Protected (never dropped, never cut): every system/developer message, and the current turn, from the
last user message to the end (in an agent loop the assistant's tool calls and their results after it
belong to the question being answered). Without a user message, the last message (with the tool calls
its tool results answer) is the current turn.

Droppable: everything else, in whole turns, oldest first. A turn runs from a user message to the next
one, so an assistant message with tool calls and the tool results answering them always fall in the
same turn and go together (OpenAI rejects a tool result without its call and a call without results).
A user message of images alone right after tool results carries those results' images (the
/v1/messages translation puts a tool_result's images there): it belongs to the results, and starts
no turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from satisfice.trim.content import SYSTEM_ROLES, TOOL_ROLES, role


@dataclass(frozen=True, slots=True)
class Layout:
    current: int  # index where the current turn starts (== len(messages) when there are none)
    protected: frozenset[int]
    turns: tuple[tuple[int, ...], ...]  # droppable turns, oldest first

    def is_protected(self, i: int) -> bool:
        return i in self.protected


def _starts_turn(messages: Sequence[dict[str, Any]], i: int) -> bool:
    if role(messages[i]) != "user":
        return False
    return not (i > 0 and role(messages[i - 1]) in TOOL_ROLES and _images_only(messages[i]))


def _images_only(msg: dict[str, Any]) -> bool:
    content = msg.get("content")
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(p, dict) and p.get("type") == "image_url" for p in content)
    )


def _current_start(messages: Sequence[dict[str, Any]]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if _starts_turn(messages, i):
            return i
    i = len(messages) - 1
    while i > 0 and role(messages[i]) in TOOL_ROLES:  # results of the calls of an earlier message
        i -= 1
    return max(i, 0)


def layout(messages: Sequence[dict[str, Any]]) -> Layout:
    current = _current_start(messages)
    protected = {i for i, m in enumerate(messages) if role(m) in SYSTEM_ROLES}
    protected.update(range(current, len(messages)))
    turns: list[list[int]] = []
    for i in range(current):
        if i in protected:
            continue
        if _starts_turn(messages, i) or not turns:
            turns.append([])
        turns[-1].append(i)
    return Layout(current, frozenset(protected), tuple(tuple(t) for t in turns))
