"""Level `dedupe`: repeated content is kept once, the other copies become a short marker.

Two kinds of repetition, both only when big enough to matter (short repeats like "yes" or "go on"
carry meaning and cost nothing):
  * a whole message identical to another of the same role (a re-sent question, a re-run tool);
  * a block (text between blank lines) pasted again, in the same or another message.
The copy kept is the last one in a protected message (system prompt, the current turn) if there is
one, else the last one: the most recent copy is the one that survives `drop_oldest`. Protected
messages are never rewritten; images are never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from satisfice.trim.content import has_images, role, set_text_parts, text_parts, with_content

MIN_MESSAGE_CHARS = 200
MIN_BLOCK_CHARS = 300
MESSAGE_MARKER = "[Satisfice removed this message: the same text appears {where} in the conversation]"
BLOCK_MARKER = "[… repeated block removed by Satisfice: the same text appears {where} …]"

Position = tuple[int, int, int]  # (message, text part, block)


def _keepers(keys: Sequence[tuple[Any, Position]], protected: Callable[[int], bool]) -> dict[Any, Position]:
    """The position of the copy to keep for each key (see the module docstring)."""
    keep: dict[Any, Position] = {}
    for key, pos in keys:  # in order: later positions overwrite earlier ones
        old = keep.get(key)
        if old is None or protected(pos[0]) or not protected(old[0]):
            keep[key] = pos
    return keep


def _where(pos: Position, keeper: Position) -> str:
    return "later" if keeper > pos else "earlier"


def dedupe_messages(messages: list[dict[str, Any]], protected: Callable[[int], bool]) -> int:
    """Replace repeated whole messages in place (in the list, not in the dicts); returns how many."""
    keys: list[tuple[Any, Position]] = []
    for i, msg in enumerate(messages):
        text = "\n".join(text_parts(msg.get("content")))
        if len(text) >= MIN_MESSAGE_CHARS and not has_images(msg):
            keys.append(((role(msg), text), (i, 0, 0)))
    keep = _keepers(keys, protected)
    done = 0
    for key, pos in keys:
        if keep[key] != pos and not protected(pos[0]):
            marker = MESSAGE_MARKER.format(where=_where(pos, keep[key]))
            messages[pos[0]] = with_content(messages[pos[0]], marker)
            done += 1
    return done


def _blocks(text: str) -> list[str]:
    return text.split("\n\n")


def dedupe_blocks(messages: list[dict[str, Any]], protected: Callable[[int], bool]) -> int:
    """Replace repeated blocks in place (in the list); returns how many."""
    keys: list[tuple[Any, Position]] = []
    for i, msg in enumerate(messages):
        for j, text in enumerate(text_parts(msg.get("content"))):
            if len(text) < MIN_BLOCK_CHARS:
                continue
            for k, block in enumerate(_blocks(text)):
                if len(block) >= MIN_BLOCK_CHARS:
                    keys.append((block, (i, j, k)))
    keep = _keepers(keys, protected)
    drop = {pos: keep[key] for key, pos in keys if keep[key] != pos and not protected(pos[0])}
    if not drop:
        return 0
    for i in sorted({pos[0] for pos in drop}):
        content = messages[i].get("content")
        texts = text_parts(content)
        for j, text in enumerate(texts):
            blocks = _blocks(text)
            for k in range(len(blocks)):
                keeper = drop.get((i, j, k))
                if keeper is not None:
                    blocks[k] = BLOCK_MARKER.format(where=_where((i, j, k), keeper))
            texts[j] = "\n\n".join(blocks)
        messages[i] = with_content(messages[i], set_text_parts(content, texts))
    return len(drop)
