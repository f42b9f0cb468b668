"""Level `drop_oldest`: when the conversation is over the limit, drop whole turns, oldest first, and
leave a deterministic note in their place (no model call): how many messages went and the opening
words of the most recent user requests that went, so the model knows the conversation had a past."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from satisfice.trim.content import SYSTEM_ROLES, message_tokens, role, text_parts
from satisfice.trim.layout import Layout

NOTE = "[Satisfice dropped {n} earlier message{s} to fit the context window]"
NOTE_WITH_ASKS = (
    "[Satisfice dropped {n} earlier message{s} to fit the context window. "
    "Earlier user requests, oldest first: {asks}]"
)
_ASKS = 3  # quote the last few dropped user requests
_ASK_WORDS = 12


@dataclass(frozen=True, slots=True)
class Dropped:
    messages: list[dict[str, Any]]
    total: int  # tokens after dropping, the note included
    n_messages: int
    n_turns: int


def _opening(text: str) -> str:
    words = text.split()
    head = " ".join(words[:_ASK_WORDS])
    return f"“{head}{'…' if len(words) > _ASK_WORDS else ''}”"


def _notes(dropped: Sequence[dict[str, Any]]) -> list[str]:
    """Candidate notes, richest first."""
    n = len(dropped)
    s = "" if n == 1 else "s"
    asks = []
    for m in dropped:
        text = " ".join(text_parts(m.get("content"))).strip()
        if role(m) == "user" and text:
            asks.append(_opening(text))
    short = NOTE.format(n=n, s=s)
    if not asks:
        return [short]
    return [NOTE_WITH_ASKS.format(n=n, s=s, asks="; ".join(asks[-_ASKS:])), short]


def drop_oldest(
    messages: list[dict[str, Any]], counts: list[int], total: int, limit: int, plan: Layout, model: str
) -> Dropped:
    """Drop turns from `messages` (tokens per message in `counts`, `total` in all) until the rest and
    a note fit `limit`; stops when no droppable turn is left (the caller reports that it does not fit)."""
    gone: set[int] = set()
    turns = list(plan.turns)
    lead = 0  # the note goes after the leading system messages
    while lead < len(messages) and role(messages[lead]) in SYSTEM_ROLES:
        lead += 1
    note_role = role(messages[0]) if lead else "system"
    short = message_tokens({"role": note_role, "content": NOTE.format(n=10**6, s="s")}, model)
    while turns and total + short > limit:
        turn = turns.pop(0)
        gone.update(turn)
        total -= sum(counts[i] for i in turn)
    if not gone:
        return Dropped(messages, total, 0, 0)
    kept = [m for i, m in enumerate(messages) if i not in gone]
    for note in _notes([messages[i] for i in sorted(gone)]):
        msg = {"role": note_role, "content": note}
        cost = message_tokens(msg, model)
        if total + cost <= limit:
            kept.insert(lead, msg)
            total += cost
            break
    return Dropped(kept, total, len(gone), len(plan.turns) - len(turns))
