"""`trim()`: run a route's trimming level over a conversation and fit it into the limit.

The limit is min(budget_tokens, context_window - max_output_tokens) (either may be absent). Steps, in
order, each only when the level includes it:
  whitespace, dedupe, tool_outputs  always (they cost the model nothing it needs);
  drop_oldest                       only while the conversation is over the limit.
Fast path: when no step changes anything and a byte-count bound already fits the limit, the input
comes back as is without tokenizing; `exact` is then False and both counts are that bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from satisfice.trim.content import PER_REPLY, map_text, message_bytes_bound, message_tokens, with_content
from satisfice.trim.dedupe import dedupe_blocks, dedupe_messages
from satisfice.trim.drop import drop_oldest
from satisfice.trim.layout import layout
from satisfice.trim.settings import TrimSettings
from satisfice.trim.tool_outputs import cut_tool_outputs
from satisfice.trim.whitespace import collapse


@dataclass(frozen=True, slots=True)
class TrimResult:
    messages: list[dict[str, Any]]  # a new list; the input and its dicts are never modified
    tokens_before: int
    tokens_after: int
    actions: tuple[str, ...]  # human-readable, e.g. "cut 1 tool output"; empty: nothing changed
    fits: bool  # False: even what must stay exceeds the limit (answer context_length_exceeded)
    limit: int | None = None  # the prompt token limit applied (None: no limit)
    exact: bool = True  # False on the fast path: both counts are a cheap upper bound, not a count

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after


def prompt_limit(settings: TrimSettings, context_window: int | None, max_output_tokens: int) -> int | None:
    limits = []
    if settings.budget_tokens is not None:
        limits.append(settings.budget_tokens)
    if context_window is not None:
        limits.append(context_window - max(max_output_tokens, 0))
    return min(limits) if limits else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _compress(work: list[dict[str, Any]], settings: TrimSettings, model: str) -> list[str]:
    """Run the always-on steps of the level over `work` (replacing changed messages); the actions."""
    actions: list[str] = []
    plan = layout(work)
    if settings.runs("whitespace"):
        n = 0
        for i, msg in enumerate(work):
            content = msg.get("content")
            new = map_text(content, collapse)
            if new is not content:
                work[i] = with_content(msg, new)
                n += 1
        if n:
            actions.append(f"collapsed whitespace in {_plural(n, 'message')}")
    if settings.runs("dedupe"):
        n = dedupe_messages(work, plan.is_protected)
        if n:
            actions.append(f"replaced {_plural(n, 'repeated message')} with a marker")
        n = dedupe_blocks(work, plan.is_protected)
        if n:
            actions.append(f"replaced {_plural(n, 'repeated block')} with a marker")
    if settings.runs("tool_outputs"):
        n = cut_tool_outputs(work, settings.tool_output_max_tokens, model)
        if n:
            actions.append(f"cut {_plural(n, 'tool output')} to {settings.tool_output_max_tokens} tokens")
    return actions


def trim(
    messages: list[dict[str, Any]],
    settings: TrimSettings,
    *,
    context_window: int | None,
    max_output_tokens: int,
    model: str = "",
    extra_tokens: int = 0,
) -> TrimResult:
    """Trim `messages` for `model` under `settings`. `extra_tokens`: what the request spends outside
    its messages (tool definitions), counted against the limit and included in both counts."""
    limit = prompt_limit(settings, context_window, max_output_tokens)
    work = list(messages)
    actions = _compress(work, settings, model) if settings.enabled else []
    if not actions:
        bound = sum(message_bytes_bound(m) for m in messages) + PER_REPLY + extra_tokens
        if limit is None or bound <= limit:
            return TrimResult(work, bound, bound, (), True, limit, exact=False)
    before = [message_tokens(m, model) for m in messages]
    pairs = zip(before, work, messages, strict=True)
    counts = [b if new is old else message_tokens(new, model) for b, new, old in pairs]
    total_before = sum(before) + PER_REPLY + extra_tokens
    total = sum(counts) + PER_REPLY + extra_tokens
    if limit is not None and total > limit and settings.runs("drop_oldest"):
        dropped = drop_oldest(work, counts, total, limit, layout(work), model)
        if dropped.n_messages:
            work, total = dropped.messages, dropped.total
            actions.append(
                f"dropped {_plural(dropped.n_messages, 'earlier message')} "
                f"({_plural(dropped.n_turns, 'turn')})"
            )
    fits = limit is None or total <= limit
    return TrimResult(work, total_before, total, tuple(actions), fits, limit)
